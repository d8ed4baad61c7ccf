//! One grader's ICROP3 grade of one eye at one exam, and what follows from
//! it — derived and shown, never typed:
//!
//! - **ETROP Type 1** (treat): zone I ROP of any stage (≥ 1) with plus;
//!   zone I stage 3 without plus; zone II stage 2 or 3 with plus.
//! - **ETROP Type 2** (watch closely): zone I stage 1–2 without plus; zone
//!   II stage 3 without plus.
//! - **Referral-warranted ROP** (the e-ROP definition): zone I ROP, stage 3
//!   or worse, or plus.
//!
//! Posterior zone II counts as zone II; "plus" is plus, never pre-plus;
//! stages 4–5 (retinal detachment) are neither Type 1 nor Type 2 and are
//! referral-warranted. An ungradable eye has no flags (`None`: unknown,
//! not "no"); nor has ROP whose zone is not recorded, where the zone
//! decides.

use super::exam::named;

named!(
    /// ICROP3 zone (a notch is recorded beside it).
    Zone, "a zone" {
        I => "I",
        PosteriorII => "posterior-II",
        II => "II",
        III => "III",
    }
);

named!(
    /// ICROP3 stage: none, 1–3, and the detachments 4A–5C.
    Stage, "a stage" {
        None => "none",
        S1 => "1",
        S2 => "2",
        S3 => "3",
        S4A => "4A",
        S4B => "4B",
        S5A => "5A",
        S5B => "5B",
        S5C => "5C",
    }
);

named!(
    /// Plus disease.
    Plus, "a plus value" { None => "none", PrePlus => "pre-plus", Plus => "plus" }
);

named!(
    /// The course after treatment.
    AfterTreatment, "an after-treatment course" {
        Regression => "regression",
        Reactivation => "reactivation",
        PersistentAvascularRetina => "persistent-avascular-retina",
    }
);

impl Stage {
    /// Stage 4A or worse: a detachment.
    pub fn detached(self) -> bool {
        self >= Stage::S4A
    }

    /// The stage as one of six levels, none and 1–5 (the A/B/C of a
    /// detachment dropped): what an image model of stages predicts.
    pub fn level(self) -> usize {
        match self {
            Stage::None => 0,
            Stage::S1 => 1,
            Stage::S2 => 2,
            Stage::S3 => 3,
            Stage::S4A | Stage::S4B => 4,
            Stage::S5A | Stage::S5B | Stage::S5C => 5,
        }
    }
}

/// The clock hours a stage extends over, 1–12, as a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClockHours(u16);

impl ClockHours {
    pub fn contains(self, hour: u8) -> bool {
        (1..=12).contains(&hour) && self.0 & (1 << hour) != 0
    }

    /// Adds or removes `hour` (1–12; others are ignored).
    pub fn toggle(&mut self, hour: u8) {
        if (1..=12).contains(&hour) {
            self.0 ^= 1 << hour;
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    pub fn hours(self) -> impl Iterator<Item = u8> {
        (1..=12).filter(move |&h| self.contains(h))
    }

    /// Parses `1,2,3` (hours 1–12, each once; empty: none).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut hours = Self::default();
        if text.trim().is_empty() {
            return Ok(hours);
        }
        for part in text.split(',') {
            let hour: u8 = part
                .trim()
                .parse()
                .ok()
                .filter(|h| (1..=12).contains(h))
                .ok_or_else(|| format!("extent {text:?}: {part:?} is not a clock hour 1–12"))?;
            if hours.contains(hour) {
                return Err(format!("extent {text:?}: clock hour {hour} is named twice"));
            }
            hours.toggle(hour);
        }
        Ok(hours)
    }

    /// `1,2,3`; empty when none.
    pub fn text(self) -> String {
        self.hours()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One grader's grade of one eye at one exam.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EyeGrade {
    pub zone: Option<Zone>,
    /// The zone is recorded "secondary to notch" (a notch of 1–2 clock hours).
    pub notch: bool,
    pub stage: Stage,
    pub extent: ClockHours,
    pub plus: Plus,
    /// Aggressive ROP.
    pub arop: bool,
    pub after_treatment: Option<AfterTreatment>,
    /// Why the eye could not be graded; `None` when it was.
    pub ungradable: Option<String>,
}

// The enums come from `named!`, which takes no variant attribute: the
// defaults are written out.
#[allow(clippy::derivable_impls)]
impl Default for Stage {
    fn default() -> Self {
        Stage::None
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Plus {
    fn default() -> Self {
        Plus::None
    }
}

/// The fields of an eye grade by their CLI and CSV names, in export order.
pub const GRADE_FIELDS: [&str; 8] = [
    "zone",
    "notch",
    "stage",
    "extent",
    "plus",
    "arop",
    "ungradable",
    "after_treatment",
];

fn yes_no(field: &str, text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("{field} {text:?} is neither \"yes\" nor \"no\"")),
    }
}

fn yes_no_text(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

impl EyeGrade {
    /// The grade in a line: `zone II, stage 2 (2,3), pre-plus` (`no plus`
    /// where plus is none), or `ungradable (reason)`.
    pub fn summary(&self) -> String {
        if let Some(reason) = &self.ungradable {
            return format!("ungradable ({reason})");
        }
        let zone = self
            .zone
            .map_or("zone —".to_string(), |z| format!("zone {}", z.name()));
        let extent = if self.extent.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.extent.text())
        };
        let plus = match self.plus {
            Plus::None => "no plus",
            other => other.name(),
        };
        format!("{zone}, stage {}{extent}, {plus}", self.stage.name())
    }

    /// Sets `field` (one of [`GRADE_FIELDS`]) from its text; an empty
    /// text clears an optional field (`zone`, `ungradable`,
    /// `after_treatment`).
    pub fn set(&mut self, field: &str, text: &str) -> Result<(), String> {
        match field {
            "zone" if text.is_empty() => self.zone = None,
            "zone" => self.zone = Some(Zone::parse(text)?),
            "notch" => self.notch = yes_no(field, text)?,
            "stage" => self.stage = Stage::parse(text)?,
            "extent" => self.extent = ClockHours::parse(text)?,
            "plus" => self.plus = Plus::parse(text)?,
            "arop" => self.arop = yes_no(field, text)?,
            "ungradable" => {
                let reason = text.trim();
                if reason.chars().any(char::is_control) || reason.chars().count() > 200 {
                    return Err("ungradable: a reason of at most 200 characters on one line".into());
                }
                self.ungradable = (!reason.is_empty()).then(|| reason.to_string());
            }
            "after_treatment" | "after-treatment" if text.is_empty() => self.after_treatment = None,
            "after_treatment" | "after-treatment" => {
                self.after_treatment = Some(AfterTreatment::parse(text)?)
            }
            _ => {
                return Err(format!(
                    "{field:?} is not an eye-grade field (one of {})",
                    GRADE_FIELDS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// `field`'s value as text (what [`EyeGrade::set`] reads back).
    pub fn get(&self, field: &str) -> Option<String> {
        Some(match field {
            "zone" => self.zone.map_or(String::new(), |z| z.name().into()),
            "notch" => yes_no_text(self.notch).into(),
            "stage" => self.stage.name().into(),
            "extent" => self.extent.text(),
            "plus" => self.plus.name().into(),
            "arop" => yes_no_text(self.arop).into(),
            "ungradable" => self.ungradable.clone().unwrap_or_default(),
            "after_treatment" => self
                .after_treatment
                .map_or(String::new(), |a| a.name().into()),
            _ => return None,
        })
    }

    /// Whether the values fit together: an extent needs a stage, a stage
    /// of ROP needs its extent, an ungradable eye carries no findings.
    pub fn check(&self) -> Result<(), String> {
        if self.stage == Stage::None && !self.extent.is_empty() {
            return Err("an extent in clock hours needs a stage (the stage is none)".into());
        }
        if self.ungradable.is_some()
            && (self.stage != Stage::None || self.plus != Plus::None || self.zone.is_some())
        {
            return Err("an ungradable eye has no zone, stage or plus".into());
        }
        if self.notch && self.zone.is_none() {
            return Err("a notch is recorded beside a zone (no zone given)".into());
        }
        Ok(())
    }

    /// ETROP Type 1 (treat); `None` when it cannot be told.
    pub fn type1(&self) -> Option<bool> {
        if self.ungradable.is_some() {
            return None;
        }
        let plus = self.plus == Plus::Plus;
        match self.stage {
            Stage::None => Some(false),
            s if s.detached() => Some(false),
            s => match self.zone? {
                Zone::I => Some(plus || s == Stage::S3),
                Zone::PosteriorII | Zone::II => Some(plus && matches!(s, Stage::S2 | Stage::S3)),
                Zone::III => Some(false),
            },
        }
    }

    /// ETROP Type 2; `None` when it cannot be told.
    pub fn type2(&self) -> Option<bool> {
        if self.ungradable.is_some() {
            return None;
        }
        let plus = self.plus == Plus::Plus;
        match self.stage {
            Stage::None => Some(false),
            s if s.detached() => Some(false),
            s => match self.zone? {
                Zone::I => Some(!plus && matches!(s, Stage::S1 | Stage::S2)),
                Zone::PosteriorII | Zone::II => Some(!plus && s == Stage::S3),
                Zone::III => Some(false),
            },
        }
    }

    /// Referral-warranted ROP (zone I ROP, stage 3 or worse, or plus);
    /// `None` when it cannot be told.
    pub fn referral_warranted(&self) -> Option<bool> {
        if self.ungradable.is_some() {
            return None;
        }
        if self.plus == Plus::Plus || self.stage >= Stage::S3 {
            return Some(true);
        }
        if self.stage == Stage::None {
            return Some(false);
        }
        // Stage 1–2 without plus: only zone I makes it referral-warranted.
        self.zone.map(|zone| zone == Zone::I)
    }
}

/// A derived flag as exported: `yes`, `no`, or empty when unknown.
pub fn flag_text(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

/// A derived flag as shown to a person: `yes`, `no` or `unknown`.
pub fn flag_word(flag: Option<bool>) -> &'static str {
    match flag {
        None => "unknown",
        known => flag_text(known),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(zone: &str, stage: &str, plus: &str) -> EyeGrade {
        let mut g = EyeGrade::default();
        g.set("zone", zone).unwrap();
        g.set("stage", stage).unwrap();
        g.set("plus", plus).unwrap();
        g
    }

    /// Every ETROP rule, both sides of each boundary, checked by hand
    /// against the definitions in the module's documentation:
    /// (zone, stage, plus) → (Type 1, Type 2, referral-warranted).
    #[test]
    fn etrop_types_and_referral_by_hand() {
        let y = Some(true);
        let n = Some(false);
        type Row = (&'static str, &'static str, &'static str);
        type Flags = (Option<bool>, Option<bool>, Option<bool>);
        let table: &[(Row, Flags)] = &[
            // Zone I: any stage with plus is Type 1; stage 3 without plus too.
            (("I", "1", "plus"), (y, n, y)),
            (("I", "2", "plus"), (y, n, y)),
            (("I", "3", "plus"), (y, n, y)),
            (("I", "3", "none"), (y, n, y)),
            (("I", "3", "pre-plus"), (y, n, y)),
            // Zone I stage 1–2 without plus: Type 2, and zone I ROP refers.
            (("I", "1", "none"), (n, y, y)),
            (("I", "2", "none"), (n, y, y)),
            // Pre-plus is not plus.
            (("I", "2", "pre-plus"), (n, y, y)),
            // Zone I without ROP: nothing (plus alone refers).
            (("I", "none", "none"), (n, n, n)),
            (("I", "none", "plus"), (n, n, y)),
            // Zone II: stage 2–3 with plus is Type 1; stage 1 with plus is not.
            (("II", "2", "plus"), (y, n, y)),
            (("II", "3", "plus"), (y, n, y)),
            (("II", "1", "plus"), (n, n, y)),
            (("II", "2", "pre-plus"), (n, n, n)),
            // Zone II stage 3 without plus: Type 2 and referral (stage 3).
            (("II", "3", "none"), (n, y, y)),
            (("II", "3", "pre-plus"), (n, y, y)),
            (("II", "2", "none"), (n, n, n)),
            (("II", "1", "none"), (n, n, n)),
            // Posterior zone II counts as zone II.
            (("posterior-II", "2", "plus"), (y, n, y)),
            (("posterior-II", "3", "none"), (n, y, y)),
            (("posterior-II", "2", "none"), (n, n, n)),
            // Zone III: never Type 1 or 2; stage 3 or plus still refers.
            (("III", "3", "plus"), (n, n, y)),
            (("III", "3", "none"), (n, n, y)),
            (("III", "2", "none"), (n, n, n)),
            // Stages 4–5: neither type, always referral-warranted.
            (("I", "4A", "plus"), (n, n, y)),
            (("II", "4B", "none"), (n, n, y)),
            (("III", "5A", "none"), (n, n, y)),
            (("II", "5B", "pre-plus"), (n, n, y)),
            (("I", "5C", "none"), (n, n, y)),
        ];
        for &((zone, stage, plus), (t1, t2, referral)) in table {
            let g = grade(zone, stage, plus);
            let case = format!("zone {zone}, stage {stage}, plus {plus}");
            assert_eq!(g.type1(), t1, "Type 1 of {case}");
            assert_eq!(g.type2(), t2, "Type 2 of {case}");
            assert_eq!(g.referral_warranted(), referral, "referral of {case}");
        }
    }

    #[test]
    fn unknown_zone_or_ungradable_eye_leaves_what_it_decides_unknown() {
        let mut g = EyeGrade::default();
        g.set("stage", "2").unwrap();
        assert_eq!(
            (g.type1(), g.type2(), g.referral_warranted()),
            (None, None, None)
        );
        g.set("stage", "3").unwrap();
        assert_eq!(
            (g.type1(), g.type2(), g.referral_warranted()),
            (None, None, Some(true))
        );
        let mut g = EyeGrade::default();
        g.set("ungradable", "media opacity").unwrap();
        assert_eq!(
            (g.type1(), g.type2(), g.referral_warranted()),
            (None, None, None)
        );
        assert_eq!(flag_text(None), "");
        g.check().unwrap();
        g.set("stage", "1").unwrap();
        assert!(g.check().unwrap_err().contains("ungradable"));
    }

    #[test]
    fn fields_read_back_what_they_were_set_to() {
        let mut g = EyeGrade::default();
        for (field, text) in [
            ("zone", "posterior-II"),
            ("notch", "yes"),
            ("stage", "3"),
            ("extent", "12,1,2"),
            ("plus", "pre-plus"),
            ("arop", "no"),
            ("after_treatment", "reactivation"),
        ] {
            g.set(field, text).unwrap();
        }
        g.check().unwrap();
        assert_eq!(g.get("extent").unwrap(), "1,2,12");
        assert_eq!(g.extent.count(), 3);
        for field in GRADE_FIELDS {
            let text = g.get(field).unwrap();
            let mut again = g.clone();
            again.set(field, &text).unwrap();
            assert_eq!(again, g, "{field}");
        }
        assert!(g.set("stage", "6").unwrap_err().contains("\"5C\""));
        assert!(g.set("extent", "0").is_err());
        assert!(g.set("extent", "3,3").unwrap_err().contains("twice"));
        assert!(
            g.set("colour", "red")
                .unwrap_err()
                .contains("not an eye-grade field")
        );
        let mut g = EyeGrade::default();
        g.set("extent", "3").unwrap();
        assert!(g.check().unwrap_err().contains("needs a stage"));
    }
}
