//! The exam view's state: a screening project's exams in order (infant,
//! then date), each with its two eyes — their photographs (field and
//! quality) and every grader's newest grade — and which exam is open.
//! It owns [`ExamCommand`]: grading an eye appends to the store's history
//! and re-reads the exam list, so every panel shows what is on disk.

use std::collections::BTreeMap;

use crate::rop::dates::Date;
use crate::rop::exam::{Eye, Quality, RetinalField};
use crate::rop::grade::{EyeGrade, Stage};
use crate::store::exams::EyeRef;
use crate::store::{Project, StoreError};

/// One photograph of an eye.
#[derive(Clone, Debug, PartialEq)]
pub struct ExamImage {
    pub item_id: i64,
    pub field: RetinalField,
    pub quality: Option<Quality>,
}

/// One eye at one exam.
#[derive(Clone, Debug, PartialEq)]
pub struct EyeEntry {
    pub eye: Eye,
    pub images: Vec<ExamImage>,
    /// Each grader's newest grade.
    pub grades: BTreeMap<String, EyeGrade>,
}

/// One exam of one infant.
#[derive(Clone, Debug, PartialEq)]
pub struct ExamEntry {
    pub infant: String,
    pub date: Date,
    /// Postmenstrual age in days, when the gestational age and birth date are known.
    pub pma_days: Option<i64>,
    /// Right eye, then left.
    pub eyes: [EyeEntry; 2],
}

impl ExamEntry {
    pub fn eye_ref(&self, eye: Eye) -> EyeRef {
        EyeRef {
            infant: self.infant.clone(),
            exam_date: self.date,
            eye,
        }
    }

    pub fn eye(&self, eye: Eye) -> &EyeEntry {
        &self.eyes[usize::from(eye == Eye::Left)]
    }
}

/// What the exam view shows and which exam is open.
#[derive(Clone, Debug, Default)]
pub struct ExamsView {
    pub exams: Vec<ExamEntry>,
    pub selected: Option<usize>,
    /// The window is open.
    pub shown: bool,
    /// The eye the form's hotkeys grade.
    pub active_eye: Eye,
    /// Where the last infant report was saved (shown until the next).
    pub saved_report: Option<std::path::PathBuf>,
}

/// What the exam view's panels ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum ExamCommand {
    Show(bool),
    Select(usize),
    /// The previous (−1) or next (+1) exam.
    Step(i64),
    /// The next eye (after the open exam) the current grader has not graded.
    NextUngradedByMe,
    /// The eye the current grader has not graded whose photographs the
    /// model is least sure of (applied by the project session, which holds
    /// the predictions).
    MostUncertainEye,
    /// Write the open exam's infant's report to this file (the save
    /// dialog has asked before replacing one; applied by the project
    /// session, since the report reads the exams).
    SaveReport(std::path::PathBuf),
    /// Record the current grader's grade of an eye of the open exam.
    Grade {
        eye: Eye,
        grade: EyeGrade,
    },
    /// Record the adjudicated grade of an eye of the open exam (a
    /// grader's grade adopted by the reviewer).
    Adjudicate {
        eye: Eye,
        grade: EyeGrade,
    },
    /// The eye the hotkeys grade.
    ActiveEye(Eye),
    /// Show this eye: its exam in the exam view, the eye active (the
    /// review queue's eyes open this way).
    OpenEye(crate::store::exams::EyeRef),
    /// Set one field (by its CLI name and text) of the active eye's grade,
    /// the rest as the current grader last recorded it (a hotkey).
    SetField {
        field: &'static str,
        value: &'static str,
    },
}

/// The exam view's hotkeys: key → (field, value). Digits set the stage
/// (0: none, 1–3; the detachments 4A–5C are picked on the form), `Q W E R`
/// the zone, `A S D` plus; `O` and `L` pick the right and left eye.
pub const EXAM_HOTKEYS: [(char, &str, &str); 11] = [
    ('0', "stage", "none"),
    ('1', "stage", "1"),
    ('2', "stage", "2"),
    ('3', "stage", "3"),
    ('q', "zone", "I"),
    ('w', "zone", "posterior-II"),
    ('e', "zone", "II"),
    ('r', "zone", "III"),
    ('a', "plus", "none"),
    ('s', "plus", "pre-plus"),
    ('d', "plus", "plus"),
];

/// The worst stage any grader gave an eye (`None` when ungraded).
pub fn worst_stage(entry: &EyeEntry) -> Option<Stage> {
    entry.grades.values().map(|g| g.stage).max()
}

/// Every grader's Type 1 flag of an eye says yes.
pub fn any_type1(entry: &EyeEntry) -> bool {
    entry.grades.values().any(|g| g.type1() == Some(true))
}

impl ExamsView {
    /// Reads the project's exams (empty for a project without any).
    pub fn load(project: &Project) -> Result<Self, StoreError> {
        let infants = project.infants()?;
        let mut by_exam: BTreeMap<(String, Date), [EyeEntry; 2]> = BTreeMap::new();
        let empty = || {
            [Eye::Right, Eye::Left].map(|eye| EyeEntry {
                eye,
                images: Vec::new(),
                grades: BTreeMap::new(),
            })
        };
        for (item_id, (eye, field, quality)) in project.exam_images()? {
            let eyes = by_exam
                .entry((eye.infant.clone(), eye.exam_date))
                .or_insert_with(empty);
            eyes[usize::from(eye.eye == Eye::Left)]
                .images
                .push(ExamImage {
                    item_id,
                    field,
                    quality,
                });
        }
        for stored in project.eye_grades()? {
            let eyes = by_exam
                .entry((stored.eye.infant.clone(), stored.eye.exam_date))
                .or_insert_with(empty);
            eyes[usize::from(stored.eye.eye == Eye::Left)]
                .grades
                .insert(stored.annotator, stored.grade);
        }
        let exams = by_exam
            .into_iter()
            .map(|((infant, date), mut eyes)| {
                for eye in &mut eyes {
                    eye.images.sort_by_key(|i| (i.field, i.item_id));
                }
                let pma_days = infants
                    .get(&infant)
                    .and_then(|i| Some(i.ga?.postmenstrual_days(i.birth_date?, date)));
                ExamEntry {
                    infant,
                    date,
                    pma_days,
                    eyes,
                }
            })
            .collect();
        Ok(Self {
            exams,
            ..Self::default()
        })
    }

    /// Reads the exams again, keeping what the view shows: the window,
    /// the open exam (while it exists) and the active eye.
    pub fn reload(&mut self, project: &Project) -> Result<(), StoreError> {
        let exams = Self::load(project)?.exams;
        self.selected = self.selected.filter(|&k| k < exams.len());
        self.exams = exams;
        Ok(())
    }

    /// The retinal field of an exam photograph (`None`: not in an exam).
    pub fn field_of(&self, item_id: i64) -> Option<RetinalField> {
        self.exams
            .iter()
            .flat_map(|exam| &exam.eyes)
            .flat_map(|eye| &eye.images)
            .find(|image| image.item_id == item_id)
            .map(|image| image.field)
    }

    pub fn open_exam(&self) -> Option<&ExamEntry> {
        self.exams.get(self.selected?)
    }

    /// Eyes with photographs that `annotator` has not graded, most
    /// uncertain first, as (exam index, eye, uncertainty): an eye is as
    /// uncertain as its most uncertain gradable photograph (photographs
    /// without a prediction say nothing; an eye with none is left out).
    pub fn eyes_by_uncertainty(
        &self,
        annotator: &str,
        uncertainty: impl Fn(i64) -> Option<f64>,
    ) -> Vec<(usize, Eye, f64)> {
        let mut ranked: Vec<(usize, Eye, f64)> = self
            .exams
            .iter()
            .enumerate()
            .flat_map(|(k, exam)| exam.eyes.iter().map(move |entry| (k, entry)))
            .filter(|(_, entry)| !entry.grades.contains_key(annotator))
            .filter_map(|(k, entry)| {
                let most = entry
                    .images
                    .iter()
                    .filter(|i| i.quality != Some(Quality::Ungradable))
                    .filter_map(|i| uncertainty(i.item_id))
                    .fold(None, |top: Option<f64>, u| {
                        Some(top.map_or(u, |t| t.max(u)))
                    })?;
                Some((k, entry.eye, most))
            })
            .collect();
        ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
        ranked
    }

    /// The same infant's exam before the open one, for progression.
    pub fn previous_exam(&self) -> Option<&ExamEntry> {
        let k = self.selected?;
        let open = self.exams.get(k)?;
        let previous = self.exams.get(k.checked_sub(1)?)?;
        (previous.infant == open.infant).then_some(previous)
    }

    /// Writes a grade of an eye of the open exam with `write`, then reads
    /// the exams again so every panel shows what is on disk.
    fn record(
        &mut self,
        eye: Eye,
        project: &mut Project,
        write: impl FnOnce(&mut Project, &EyeRef) -> Result<(), StoreError>,
    ) -> Result<(), String> {
        let exam = self.open_exam().ok_or("open an exam first")?;
        let eye_ref = exam.eye_ref(eye);
        write(project, &eye_ref).map_err(|e| e.to_string())?;
        self.reload(project).map_err(|e| e.to_string())
    }

    /// Applies `command` as `annotator`; an error is for the user.
    pub fn apply(
        &mut self,
        command: ExamCommand,
        project: &mut Project,
        annotator: &str,
    ) -> Result<(), String> {
        match command {
            ExamCommand::Show(shown) => {
                self.shown = shown;
                // Opened with nothing chosen: the first exam, not an empty page.
                if shown && self.selected.is_none() && !self.exams.is_empty() {
                    self.selected = Some(0);
                }
            }
            ExamCommand::OpenEye(eye) => {
                let k = self
                    .exams
                    .iter()
                    .position(|x| x.infant == eye.infant && x.date == eye.exam_date)
                    .ok_or_else(|| format!("{eye} is not among the exams"))?;
                self.selected = Some(k);
                self.active_eye = eye.eye;
                self.shown = true;
            }
            ExamCommand::Select(k) if k < self.exams.len() => self.selected = Some(k),
            ExamCommand::Select(_) => {}
            ExamCommand::Step(delta) => {
                if !self.exams.is_empty() {
                    let last = self.exams.len() as i64 - 1;
                    let now = self.selected.map_or(-1, |k| k as i64);
                    self.selected = Some((now + delta).clamp(0, last) as usize);
                }
            }
            ExamCommand::NextUngradedByMe => {
                let start = self.selected.map_or(0, |k| k + 1);
                let next = (0..self.exams.len())
                    .map(|i| (start + i) % self.exams.len().max(1))
                    .find(|&k| {
                        self.exams[k]
                            .eyes
                            .iter()
                            .any(|e| !e.images.is_empty() && !e.grades.contains_key(annotator))
                    });
                match next {
                    Some(k) => self.selected = Some(k),
                    None => return Err("every eye with photographs has your grade".into()),
                }
            }
            // Applied by the project session (see their documentation).
            ExamCommand::MostUncertainEye | ExamCommand::SaveReport(_) => {}
            ExamCommand::Grade { eye, grade } => {
                self.record(eye, project, |p, e| p.grade_eye(e, annotator, &grade))?;
            }
            ExamCommand::Adjudicate { eye, grade } => {
                self.record(eye, project, |p, e| p.adjudicate_eye(e, &grade))?;
            }
            ExamCommand::ActiveEye(eye) => self.active_eye = eye,
            ExamCommand::SetField { field, value } => {
                let exam = self.open_exam().ok_or("open an exam first")?;
                let eye = self.active_eye;
                let mut grade = exam
                    .eye(eye)
                    .grades
                    .get(annotator)
                    .cloned()
                    .unwrap_or_default();
                grade.set(field, value)?;
                if field == "stage" && value == "none" {
                    grade.extent = Default::default();
                }
                return self.apply(ExamCommand::Grade { eye, grade }, project, annotator);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(item_id: i64, quality: Quality) -> ExamImage {
        ExamImage {
            item_id,
            field: RetinalField::Temporal,
            quality: Some(quality),
        }
    }

    #[test]
    fn eyes_rank_by_their_most_uncertain_gradable_photograph() {
        let eye = |eye, images, graded_by: &[&str]| EyeEntry {
            eye,
            images,
            grades: graded_by
                .iter()
                .map(|a| (a.to_string(), EyeGrade::default()))
                .collect(),
        };
        let exam = |infant: &str, eyes| ExamEntry {
            infant: infant.into(),
            date: Date::parse("2026-03-01").unwrap(),
            pma_days: None,
            eyes,
        };
        let view = ExamsView {
            exams: vec![
                exam(
                    "A",
                    [
                        // 0.2 and 0.5: the eye is 0.5 (the ungradable 0.9 says nothing).
                        eye(
                            Eye::Right,
                            vec![
                                image(1, Quality::Good),
                                image(2, Quality::Poor),
                                image(3, Quality::Ungradable),
                            ],
                            &[],
                        ),
                        // Graded by me already: not offered.
                        eye(Eye::Left, vec![image(4, Quality::Good)], &["me"]),
                    ],
                ),
                exam(
                    "B",
                    [
                        eye(Eye::Right, vec![image(5, Quality::Good)], &["someone else"]),
                        // No prediction: left out.
                        eye(Eye::Left, vec![image(6, Quality::Good)], &[]),
                    ],
                ),
            ],
            ..ExamsView::default()
        };
        let uncertainty = |id: i64| match id {
            1 => Some(0.2),
            2 => Some(0.5),
            3 => Some(0.9),
            4 => Some(1.0),
            5 => Some(0.7),
            _ => None,
        };
        assert_eq!(
            view.eyes_by_uncertainty("me", uncertainty),
            vec![(1, Eye::Right, 0.7), (0, Eye::Right, 0.5)]
        );
    }
}
