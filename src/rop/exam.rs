//! What a screening exam is made of: two eyes, each photographed in
//! several retinal fields (RetCam / e-ROP protocol) of some quality, and
//! the infant's ages — gestational at birth and postmenstrual at the exam.
//! Every value has one name, used by the CSV, the CLI and the window alike.

use super::dates::Date;

/// Names a value parses from and prints as; `parse` says which names exist.
macro_rules! named {
    ($(#[$doc:meta])* $ty:ident, $what:literal { $($variant:ident => $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $ty {
            $($variant),+
        }

        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant),+];

            /// The one name of this value.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value named exactly `text`, or an error listing the names.
            pub fn parse(text: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == text)
                    .ok_or_else(|| {
                        let names: Vec<String> =
                            Self::ALL.iter().map(|v| format!("{:?}", v.name())).collect();
                        format!(concat!("{:?} is not ", $what, " (one of {})"), text, names.join(", "))
                    })
            }
        }
    };
}
pub(crate) use named;

named!(
    /// Which eye: right (oculus dexter) or left (oculus sinister).
    Eye, "an eye" { Right => "OD", Left => "OS" }
);

/// The right eye comes first, as on every ROP form.
impl Default for Eye {
    fn default() -> Self {
        Eye::Right
    }
}

named!(
    /// The retinal field a photograph shows.
    RetinalField, "a retinal field" {
        PosteriorPole => "posterior pole",
        Temporal => "temporal",
        Nasal => "nasal",
        Superior => "superior",
        Inferior => "inferior",
        Other => "other",
    }
);

named!(
    /// How well a photograph shows its field.
    Quality, "an image quality" {
        Good => "good",
        Adequate => "adequate",
        Poor => "poor",
        Ungradable => "ungradable",
    }
);

/// Postmenstrual ages a screening exam can have, in whole weeks: below 22
/// the infant is not born viable, above 60 screening has long ended — a
/// value outside is a typing error in a date or an age.
pub const PMA_WEEKS: std::ops::RangeInclusive<i64> = 22..=60;

/// Gestational ages at birth accepted, in whole weeks.
pub const GA_WEEKS: std::ops::RangeInclusive<u32> = 20..=44;

/// Gestational age at birth, in days (`26+3` is 26 weeks and 3 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GestationalAge {
    pub days: u32,
}

impl GestationalAge {
    /// Parses `26` or `26+3` (weeks 20–44, days 0–6).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("{text:?} is not a gestational age as WEEKS or WEEKS+DAYS (e.g. 26+3)");
        let (weeks, days) = match text.split_once('+') {
            Some((w, d)) => (w, d),
            None => (text, "0"),
        };
        let number = |part: &str| -> Result<u32, String> {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (weeks, days) = (number(weeks)?, number(days)?);
        if !GA_WEEKS.contains(&weeks) {
            return Err(format!(
                "gestational age {text}: {weeks} weeks is outside {}–{}",
                GA_WEEKS.start(),
                GA_WEEKS.end()
            ));
        }
        if days > 6 {
            return Err(format!(
                "gestational age {text}: a week has days 0–6, not {days}"
            ));
        }
        Ok(Self {
            days: weeks * 7 + days,
        })
    }

    /// `26` or `26+3`, as parsed.
    pub fn text(self) -> String {
        match self.days % 7 {
            0 => format!("{}", self.days / 7),
            d => format!("{}+{d}", self.days / 7),
        }
    }

    /// Postmenstrual age in days at `exam` for an infant born on `birth`
    /// (gestational age plus chronological age).
    pub fn postmenstrual_days(self, birth: Date, exam: Date) -> i64 {
        i64::from(self.days) + exam.days_after(birth)
    }
}

/// A postmenstrual age in days as clinicians write it: `34+2` (weeks+days).
pub fn weeks_and_days(days: i64) -> String {
    format!("{}+{}", days.div_euclid(7), days.rem_euclid(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_exactly_and_errors_list_them() {
        assert_eq!(Eye::parse("OD"), Ok(Eye::Right));
        assert_eq!(Eye::parse("OS"), Ok(Eye::Left));
        assert!(Eye::parse("od").unwrap_err().contains("\"OD\", \"OS\""));
        assert_eq!(
            RetinalField::parse("posterior pole"),
            Ok(RetinalField::PosteriorPole)
        );
        assert!(RetinalField::parse("posterior").is_err());
        assert_eq!(Quality::parse("ungradable"), Ok(Quality::Ungradable));
        for v in RetinalField::ALL {
            assert_eq!(RetinalField::parse(v.name()), Ok(*v));
        }
    }

    #[test]
    fn gestational_and_postmenstrual_ages_by_hand() {
        let ga = GestationalAge::parse("26+3").unwrap();
        assert_eq!(ga.days, 185);
        assert_eq!(ga.text(), "26+3");
        assert_eq!(GestationalAge::parse("26").unwrap().days, 182);
        assert_eq!(GestationalAge::parse("26").unwrap().text(), "26");
        for bad in ["26+7", "19", "45", "26+", "+3", "26.5", "a", "", "026+3"] {
            assert!(GestationalAge::parse(bad).is_err(), "{bad:?}");
        }
        // Born at 26+3 on 1 October; examined 63 days later: 26+3 + 9+0.
        let birth = Date::parse("2026-10-01").unwrap();
        let exam = Date::parse("2026-12-03").unwrap();
        let pma = ga.postmenstrual_days(birth, exam);
        assert_eq!(pma, 248);
        assert_eq!(weeks_and_days(pma), "35+3");
    }
}
