//! Screening exams in the store: infant → exam (a date) → eye (OD / OS) →
//! the photographs of that eye, each with its retinal field and quality;
//! and each grader's append-only grades of an eye at an exam. An image
//! belongs to at most one eye of one exam (the table's key says so);
//! images in no exam work as before.
//!
//! `loupe import DIR --exams EXAMS.csv` reads [`ExamsCsv`]: every row is
//! checked first (line and column in every error), the files hashed, and
//! everything written in one transaction — all or nothing. `loupe export
//! --format exams` writes the same columns back ([`to_exams_csv`]), and
//! `--format eye-grades` one row per exam, eye and grader
//! ([`to_eye_grades_csv`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::db::{Sql, args};

use super::{ADJUDICATOR, AddOutcome, Pool, Project, StoreError, annotator_name, csv};
use crate::rop::dates::Date;
use crate::rop::exam::{Eye, GestationalAge, PMA_WEEKS, Quality, RetinalField, weeks_and_days};
use crate::rop::grade::{EyeGrade, GRADE_FIELDS, Plus, Stage, Zone, flag_text};

/// The exams CSV's columns: the first five required, in any order.
pub const EXAM_COLUMNS: [&str; 11] = [
    "infant",
    "exam_date",
    "eye",
    "field",
    "path",
    "quality",
    "ga_weeks",
    "birth_weight_g",
    "birth_date",
    "sex",
    "device",
];

const REQUIRED: usize = 5;

/// Birth weights accepted, in grams.
pub const BIRTH_WEIGHT_G: std::ops::RangeInclusive<u32> = 200..=6000;

/// Longest infant id, device or examiner name, in characters.
const NAME_MAX_CHARS: usize = 64;

/// Sex as DICOM's PatientSex writes it.
const SEXES: [&str; 3] = ["F", "M", "O"];

/// What is known of an infant (every field optional but the id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Infant {
    pub name: String,
    pub sex: Option<String>,
    pub ga: Option<GestationalAge>,
    pub birth_weight_g: Option<u32>,
    pub birth_date: Option<Date>,
}

/// One photograph of an eye at an exam, as a CSV row gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExamImageRow {
    pub line: usize,
    pub infant: Infant,
    pub exam_date: Date,
    pub device: Option<String>,
    pub eye: Eye,
    pub field: RetinalField,
    pub quality: Option<Quality>,
    /// Resolved against the CSV's folder.
    pub path: PathBuf,
}

/// A parsed, checked exams CSV.
#[derive(Clone, Debug, Default)]
pub struct ExamsCsv {
    pub rows: Vec<ExamImageRow>,
}

fn name_cell(column: &str, text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err(format!("{column} is empty"));
    }
    if name.chars().any(char::is_control) || name.chars().count() > NAME_MAX_CHARS {
        return Err(format!(
            "{column} {name:?}: at most {NAME_MAX_CHARS} characters, no control characters"
        ));
    }
    Ok(name.to_string())
}

fn optional<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

fn birth_weight(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|g| BIRTH_WEIGHT_G.contains(g))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a birth weight in whole grams {}–{}",
                BIRTH_WEIGHT_G.start(),
                BIRTH_WEIGHT_G.end()
            )
        })
}

fn sex(text: &str) -> Result<String, String> {
    SEXES
        .iter()
        .find(|s| **s == text)
        .map(|s| s.to_string())
        .ok_or_else(|| format!("{text:?} is not a sex as DICOM writes it (F, M or O)"))
}

impl ExamsCsv {
    /// Reads the CSV at `path` (bounded, UTF-8), checking every row.
    pub fn read(path: &Path) -> Result<Self, StoreError> {
        let text = csv::read_text(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
            .map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses and checks CSV text whose relative paths start at `base`;
    /// the first error names its line and column.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let rows = csv::parse_rows(text)?;
        let Some((header, body)) = rows.split_first() else {
            return Err("the exams CSV is empty (no header line)".into());
        };
        let mut at = [usize::MAX; EXAM_COLUMNS.len()];
        for (index, name) in header.cells.iter().enumerate() {
            let name = name.trim();
            let Some(k) = EXAM_COLUMNS.iter().position(|c| *c == name) else {
                return Err(format!(
                    "line {}: column {name:?} is not an exams column ({})",
                    header.line,
                    EXAM_COLUMNS.join(", ")
                ));
            };
            if at[k] != usize::MAX {
                return Err(format!(
                    "line {}: column {name:?} appears twice",
                    header.line
                ));
            }
            at[k] = index;
        }
        if let Some(k) = (0..REQUIRED).find(|&k| at[k] == usize::MAX) {
            return Err(format!(
                "line {}: no column {:?} (required: {})",
                header.line,
                EXAM_COLUMNS[k],
                EXAM_COLUMNS[..REQUIRED].join(", ")
            ));
        }
        let mut parsed = Vec::with_capacity(body.len());
        for row in body {
            let cell = |k: usize| row.cells.get(at[k]).map_or("", |c| c.as_str());
            parsed.push(parse_row(row.line, &cell, base)?);
        }
        let csv = Self { rows: parsed };
        csv.check_consistency()?;
        Ok(csv)
    }

    /// Rows that must agree do; dates and ages are possible.
    fn check_consistency(&self) -> Result<(), String> {
        let mut infants: HashMap<&str, (&Infant, usize)> = HashMap::new();
        let mut devices: HashMap<(&str, Date), (&Option<String>, usize)> = HashMap::new();
        let mut paths: HashMap<PathBuf, usize> = HashMap::new();
        for row in &self.rows {
            let line = row.line;
            match infants.get(row.infant.name.as_str()) {
                Some((first, at)) if **first != row.infant => {
                    return Err(format!(
                        "line {line}: infant {:?} has other birth details (sex, ga_weeks, \
                         birth_weight_g, birth_date) than on line {at}",
                        row.infant.name
                    ));
                }
                Some(_) => {}
                None => {
                    infants.insert(&row.infant.name, (&row.infant, line));
                }
            }
            let exam = (row.infant.name.as_str(), row.exam_date);
            match devices.get(&exam) {
                Some((device, at)) if **device != row.device => {
                    return Err(format!(
                        "line {line}, column device: the exam of {} on {} has device {:?} on line {at}",
                        row.infant.name,
                        row.exam_date,
                        device.as_deref().unwrap_or("")
                    ));
                }
                Some(_) => {}
                None => {
                    devices.insert(exam, (&row.device, line));
                }
            }
            let key = std::fs::canonicalize(&row.path).unwrap_or_else(|_| row.path.clone());
            if let Some(at) = paths.insert(key, line) {
                return Err(format!(
                    "line {line}, column path: {} is already on line {at} (an image belongs to \
                     one eye of one exam)",
                    row.path.display()
                ));
            }
            check_ages(row)?;
        }
        Ok(())
    }
}

/// One body row, parsed; `cell(k)` is column [`EXAM_COLUMNS`]`[k]`'s text.
fn parse_row<'a>(
    line: usize,
    cell: &dyn Fn(usize) -> &'a str,
    base: &Path,
) -> Result<ExamImageRow, String> {
    let at = |k: usize| move |e: String| format!("line {line}, column {}: {e}", EXAM_COLUMNS[k]);
    let infant = Infant {
        name: name_cell("infant", cell(0)).map_err(at(0))?,
        ga: optional(cell(6), GestationalAge::parse).map_err(at(6))?,
        birth_weight_g: optional(cell(7), birth_weight).map_err(at(7))?,
        birth_date: optional(cell(8), Date::parse).map_err(at(8))?,
        sex: optional(cell(9), sex).map_err(at(9))?,
    };
    let path_text = cell(4).trim();
    if path_text.is_empty() {
        return Err(at(4)("path is empty".into()));
    }
    let path = base.join(path_text);
    if !path.is_file() {
        return Err(at(4)(format!("no file {}", path.display())));
    }
    Ok(ExamImageRow {
        line,
        infant,
        exam_date: Date::parse(cell(1).trim()).map_err(at(1))?,
        device: optional(cell(10), |t| name_cell("device", t)).map_err(at(10))?,
        eye: Eye::parse(cell(2).trim()).map_err(at(2))?,
        field: RetinalField::parse(cell(3).trim()).map_err(at(3))?,
        quality: optional(cell(5), Quality::parse).map_err(at(5))?,
        path,
    })
}

/// An exam is not before birth, and its postmenstrual age (when the
/// gestational age and the birth date are known) is one a screening exam
/// can have.
fn check_ages(row: &ExamImageRow) -> Result<(), String> {
    let Some(birth) = row.infant.birth_date else {
        return Ok(());
    };
    if row.exam_date < birth {
        return Err(format!(
            "line {}, column exam_date: {} is before the birth date {birth}",
            row.line, row.exam_date
        ));
    }
    if let Some(ga) = row.infant.ga {
        let days = ga.postmenstrual_days(birth, row.exam_date);
        if !PMA_WEEKS.contains(&days.div_euclid(7)) {
            return Err(format!(
                "line {}, column exam_date: postmenstrual age {} weeks (gestational age {} + {} \
                 days) is outside {}–{} weeks",
                row.line,
                weeks_and_days(days),
                ga.text(),
                row.exam_date.days_after(birth),
                PMA_WEEKS.start(),
                PMA_WEEKS.end()
            ));
        }
    }
    Ok(())
}

/// What an exams import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExamsImport {
    pub images_added: usize,
    /// Images already in the project, placed in their exam now.
    pub images_placed: usize,
    /// Rows the project already held exactly so.
    pub unchanged: usize,
    pub infants_added: usize,
    pub exams_added: usize,
}

/// The infants (`share(fraction, n)` of them, drawn by `rng`) whose
/// photographs form the test pool, sorted: a whole infant is held out, so
/// no infant is both trained and tested on (the demo's and the import's
/// test split).
pub fn draw_test_infants(
    mut names: Vec<String>,
    fraction: f64,
    rng: &mut crate::rng::Rng,
) -> Vec<String> {
    names.sort();
    names.dedup();
    rng.shuffle(&mut names);
    names.truncate(super::split::share(fraction, names.len()));
    names.sort();
    names
}

/// The tables (made by the store's later-tables SQL) exams need.
pub(crate) const EXAMS_SQL: &str = "
CREATE TABLE IF NOT EXISTS infants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    sex TEXT,
    ga_days INTEGER,
    birth_weight_g INTEGER,
    birth_date TEXT
);
CREATE TABLE IF NOT EXISTS exams (
    id INTEGER PRIMARY KEY,
    infant_id INTEGER NOT NULL REFERENCES infants(id),
    exam_date TEXT NOT NULL,
    device TEXT,
    examiner TEXT,
    note TEXT,
    UNIQUE (infant_id, exam_date)
);
CREATE TABLE IF NOT EXISTS exam_images (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    exam_id INTEGER NOT NULL REFERENCES exams(id),
    eye TEXT NOT NULL CHECK (eye IN ('OD', 'OS')),
    field TEXT NOT NULL,
    quality TEXT
);
CREATE INDEX IF NOT EXISTS exam_images_by_exam ON exam_images (exam_id, eye);
CREATE TABLE IF NOT EXISTS eye_grades (
    id INTEGER PRIMARY KEY,
    exam_id INTEGER NOT NULL REFERENCES exams(id),
    eye TEXT NOT NULL CHECK (eye IN ('OD', 'OS')),
    annotator TEXT NOT NULL,
    zone TEXT,
    notch INTEGER NOT NULL,
    stage TEXT NOT NULL,
    extent TEXT NOT NULL,
    plus TEXT NOT NULL,
    arop INTEGER NOT NULL,
    after_treatment TEXT,
    ungradable TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS eye_grades_by_eye ON eye_grades (exam_id, eye, annotator, id);
";

/// Appends one grade row (the one place an eye grade is written).
pub(crate) fn insert_eye_grade(
    tx: &super::db::Tx,
    exam: i64,
    eye: &EyeRef,
    annotator: &str,
    grade: &EyeGrade,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO eye_grades (exam_id, eye, annotator, zone, notch, stage, extent, \
         plus, arop, after_treatment, ungradable) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        args![
            exam,
            eye.eye.name(),
            annotator,
            grade.zone.map(|z| z.name()),
            grade.notch,
            grade.stage.name(),
            grade.extent.text(),
            grade.plus.name(),
            grade.arop,
            grade.after_treatment.map(|a| a.name()),
            grade.ungradable,
        ],
    )?;
    Ok(())
}

/// An eye at an exam, as the CLI names it: `INFANT/EXAM_DATE/OD|OS`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EyeRef {
    pub infant: String,
    pub exam_date: Date,
    pub eye: Eye,
}

impl EyeRef {
    /// Parses `INFANT/YYYY-MM-DD/OD` (the infant id may hold `/`: the last
    /// two parts are the date and the eye).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.rsplitn(3, '/');
        let (eye, date, infant) = (parts.next(), parts.next(), parts.next());
        let (Some(eye), Some(date), Some(infant)) = (eye, date, infant) else {
            return Err(format!("{text:?} is not an eye as INFANT/EXAM_DATE/OD|OS"));
        };
        Ok(Self {
            infant: infant.to_string(),
            exam_date: Date::parse(date)?,
            eye: Eye::parse(eye)?,
        })
    }
}

impl std::fmt::Display for EyeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.infant, self.exam_date, self.eye.name())
    }
}

/// One grader's grade of one eye, as stored (the newest per grader counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEyeGrade {
    pub eye: EyeRef,
    pub annotator: String,
    pub grade: EyeGrade,
    pub graded_at: String,
}

/// Where an exam photograph is: its eye at its exam, field and quality.
pub type ExamPlace = (EyeRef, RetinalField, Option<Quality>);

/// An infant's stored row: id, sex, gestational age in days, birth weight, birth date.
type InfantRow = (
    i64,
    Option<String>,
    Option<u32>,
    Option<u32>,
    Option<String>,
);

impl Project {
    fn exams_ready(&self) -> Result<(), StoreError> {
        if self.has_table("exam_images")? {
            Ok(())
        } else {
            Err(StoreError::Invalid(
                "this project predates exams and cannot be written here (read-only?)".into(),
            ))
        }
    }

    /// Imports a checked exams CSV: new files become items (unlabeled
    /// pool), infants and exams are made as named, each image placed in
    /// its eye. All or nothing: an image already in another eye, field or
    /// exam, or an infant already stored with other birth details, refuses
    /// the whole file, naming the line.
    pub fn import_exams(&mut self, csv: &ExamsCsv) -> Result<ExamsImport, StoreError> {
        self.exams_ready()?;
        let mut hashed = Vec::with_capacity(csv.rows.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for row in &csv.rows {
            let hash = super::content_hash(&row.path)?;
            if let Some(at) = seen.insert(hash.clone(), row.line) {
                return Err(StoreError::Invalid(format!(
                    "line {}, column path: {} holds the same image as line {at} (an image \
                     belongs to one eye of one exam)",
                    row.line,
                    row.path.display()
                )));
            }
            hashed.push((row, hash, self.stored_path(&row.path)));
        }
        self.write(|tx| {
            let mut report = ExamsImport::default();
            for (row, hash, stored) in &hashed {
                import_row(tx, row, hash, stored, &mut report)?;
            }
            Ok(report)
        })
    }

    /// Puts every photograph of the named infants into the test pool, in one
    /// transaction: an infant is tested whole (its eyes and exams are
    /// alike, so a split inside one infant would test on what it trained
    /// on). An unknown infant refuses the whole call. Returns the
    /// photographs moved.
    pub fn hold_out_infants(&mut self, infants: &[String]) -> Result<usize, StoreError> {
        self.exams_ready()?;
        self.write(|tx| {
            let mut moved = 0;
            for name in infants {
                let known: i64 = tx.row(
                    "SELECT COUNT(*) FROM infants WHERE name = ?1",
                    args![name],
                    |r| r.get(0),
                )?;
                if known == 0 {
                    return Err(StoreError::Invalid(format!(
                        "no infant {name:?} in this project"
                    )));
                }
                moved += tx.execute(
                    "UPDATE items SET pool = 'test' WHERE id IN (SELECT m.item_id \
                         FROM exam_images m JOIN exams e ON e.id = m.exam_id \
                         JOIN infants i ON i.id = e.infant_id WHERE i.name = ?1)",
                    args![name],
                )? as usize;
            }
            Ok(moved)
        })
    }

    /// Every exam image: item id → (eye, field, quality).
    pub fn exam_images(&self) -> Result<BTreeMap<i64, ExamPlace>, StoreError> {
        if !self.has_table("exam_images")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT m.item_id, i.name, e.exam_date, m.eye, m.field, m.quality \
                 FROM exam_images m JOIN exams e ON e.id = m.exam_id \
                 JOIN infants i ON i.id = e.infant_id",
            args![],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get::<String>(3)?,
                    r.get::<String>(4)?,
                    r.get::<Option<String>>(5)?,
                ))
            },
        )?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (item, infant, date, eye, field, quality) = row?;
            let bad = |e: String| StoreError::Invalid(format!("exam image of item {item}: {e}"));
            let eye = EyeRef {
                infant,
                exam_date: Date::parse(&date).map_err(bad)?,
                eye: Eye::parse(&eye).map_err(bad)?,
            };
            let field = RetinalField::parse(&field).map_err(bad)?;
            let quality = quality
                .map(|q| Quality::parse(&q))
                .transpose()
                .map_err(bad)?;
            out.insert(item, (eye, field, quality));
        }
        Ok(out)
    }

    /// Every infant by id name.
    pub fn infants(&self) -> Result<BTreeMap<String, Infant>, StoreError> {
        if !self.has_table("infants")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT name, sex, ga_days, birth_weight_g, birth_date FROM infants",
            args![],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Option<u32>>(2)?,
                    r.get::<Option<u32>>(3)?,
                    r.get::<Option<String>>(4)?,
                ))
            },
        )?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, sex, ga_days, birth_weight_g, birth_date) = row?;
            let birth_date = birth_date
                .map(|d| Date::parse(&d))
                .transpose()
                .map_err(StoreError::Invalid)?;
            let infant = Infant {
                name: name.clone(),
                sex,
                ga: ga_days.map(|days| GestationalAge { days }),
                birth_weight_g,
                birth_date,
            };
            out.insert(name, infant);
        }
        Ok(out)
    }

    /// The exam id of an eye's exam, or an error naming what is missing.
    pub(crate) fn exam_id(&self, eye: &EyeRef) -> Result<i64, StoreError> {
        self.exams_ready()?;
        self.db
            .row_opt(
                "SELECT e.id FROM exams e JOIN infants i ON i.id = e.infant_id \
                 WHERE i.name = ?1 AND e.exam_date = ?2",
                args![eye.infant, eye.exam_date.to_string()],
                |r| r.get(0),
            )?
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "no exam of infant {:?} on {} (import it with --exams)",
                    eye.infant, eye.exam_date
                ))
            })
    }

    /// Appends `annotator`'s grade of `eye` (checked first); the history
    /// keeps every grade.
    pub fn grade_eye(
        &mut self,
        eye: &EyeRef,
        annotator: &str,
        grade: &EyeGrade,
    ) -> Result<(), StoreError> {
        let annotator = annotator_name(annotator)?;
        self.append_eye_grade(eye, &annotator, grade)
    }

    /// Appends the adjudicated grade of `eye` (the reserved
    /// [`ADJUDICATOR`]): it is the eye's consensus from then on, whatever
    /// the graders said ([`eye_consensus`]).
    pub fn adjudicate_eye(&mut self, eye: &EyeRef, grade: &EyeGrade) -> Result<(), StoreError> {
        self.append_eye_grade(eye, ADJUDICATOR, grade)
    }

    fn append_eye_grade(
        &mut self,
        eye: &EyeRef,
        annotator: &str,
        grade: &EyeGrade,
    ) -> Result<(), StoreError> {
        grade
            .check()
            .map_err(|e| StoreError::Invalid(format!("{eye}: {e}")))?;
        let exam = self.exam_id(eye)?;
        self.write(|tx| insert_eye_grade(tx, exam, eye, annotator, grade))
    }

    /// Every grader's newest grade of every eye, ordered by eye then grader.
    pub fn eye_grades(&self) -> Result<Vec<StoredEyeGrade>, StoreError> {
        self.eye_grade_rows(true)
    }

    /// Every grade ever given, oldest first per eye and grader.
    pub fn eye_grade_history(&self) -> Result<Vec<StoredEyeGrade>, StoreError> {
        self.eye_grade_rows(false)
    }

    fn eye_grade_rows(&self, newest_only: bool) -> Result<Vec<StoredEyeGrade>, StoreError> {
        if !self.has_table("eye_grades")? {
            return Ok(Vec::new());
        }
        let newest = if newest_only {
            "WHERE g.id = (SELECT MAX(id) FROM eye_grades n WHERE n.exam_id = g.exam_id \
             AND n.eye = g.eye AND n.annotator = g.annotator)"
        } else {
            ""
        };
        let rows = self.db.map_rows(
            &format!(
                "SELECT i.name, e.exam_date, g.eye, g.annotator, g.zone, g.notch, g.stage, \
                 g.extent, g.plus, g.arop, g.after_treatment, g.ungradable, g.created_at \
                 FROM eye_grades g JOIN exams e ON e.id = g.exam_id \
                 JOIN infants i ON i.id = e.infant_id {newest} \
                 ORDER BY i.name COLLATE BINARY, e.exam_date COLLATE BINARY, g.eye COLLATE BINARY, \
                 g.annotator COLLATE BINARY, g.id"
            ),
            args![],
            |r| {
                let text = |k: usize| r.get::<Option<String>>(k);
                Ok((
                    [text(0)?, text(1)?, text(2)?, text(3)?, text(4)?],
                    r.get::<bool>(5)?,
                    [text(6)?, text(7)?, text(8)?],
                    r.get::<bool>(9)?,
                    [text(10)?, text(11)?, text(12)?],
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (names, notch, stage_extent_plus, arop, rest) = row?;
            let [infant, date, eye, annotator, zone] = names.map(Option::unwrap_or_default);
            let [stage, extent, plus] = stage_extent_plus.map(Option::unwrap_or_default);
            let [after_treatment, ungradable, graded_at] = rest;
            let bad = |e: String| StoreError::Invalid(format!("eye grade of {infant}: {e}"));
            let mut grade = EyeGrade {
                notch,
                arop,
                ungradable,
                ..EyeGrade::default()
            };
            for (field, value) in [
                ("zone", zone),
                ("stage", stage),
                ("extent", extent),
                ("plus", plus),
                ("after_treatment", after_treatment.unwrap_or_default()),
            ] {
                grade.set(field, &value).map_err(bad)?;
            }
            out.push(StoredEyeGrade {
                eye: EyeRef {
                    exam_date: Date::parse(&date).map_err(bad)?,
                    eye: Eye::parse(&eye).map_err(bad)?,
                    infant,
                },
                annotator,
                grade,
                graded_at: graded_at.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

/// One row of an exams import inside its transaction.
fn import_row(
    tx: &super::db::Tx,
    row: &ExamImageRow,
    hash: &str,
    stored: &str,
    report: &mut ExamsImport,
) -> Result<(), StoreError> {
    let refuse = |why: String| StoreError::Invalid(format!("line {}: {why}", row.line));
    let infant = infant_id(tx, &row.infant, report).map_err(|e| match e {
        StoreError::Invalid(why) => refuse(why),
        other => other,
    })?;
    let date = row.exam_date.to_string();
    let exam: Option<(i64, Option<String>)> = tx.row_opt(
        "SELECT id, device FROM exams WHERE infant_id = ?1 AND exam_date = ?2",
        args![infant, date],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let exam = match exam {
        Some((_, device)) if row.device.is_some() && device != row.device => {
            return Err(refuse(format!(
                "the exam of {} on {date} is stored with device {:?}, not {:?}",
                row.infant.name,
                device.unwrap_or_default(),
                row.device.as_deref().unwrap_or("")
            )));
        }
        Some((id, _)) => id,
        None => {
            let id = tx.insert(
                "INSERT INTO exams (infant_id, exam_date, device) VALUES (?1, ?2, ?3)",
                args![infant, date, row.device],
            )?;
            report.exams_added += 1;
            id
        }
    };
    let (item, new) = match super::insert_item(tx, stored, hash, Pool::Unlabeled)? {
        AddOutcome::Added(id) => {
            report.images_added += 1;
            (id, true)
        }
        AddOutcome::Duplicate(id) => (id, false),
    };
    let placed: Option<(i64, String, String, Option<String>)> = tx.row_opt(
        "SELECT exam_id, eye, field, quality FROM exam_images WHERE item_id = ?1",
        args![item],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let wanted = (
        exam,
        row.eye.name().to_string(),
        row.field.name().to_string(),
        row.quality.map(|q| q.name().to_string()),
    );
    match placed {
        Some(now) if now == wanted => report.unchanged += 1,
        Some(_) => {
            return Err(refuse(format!(
                "{} is already placed in another exam, eye, field or quality (an image \
                 belongs to one eye of one exam; nothing is overwritten)",
                row.path.display()
            )));
        }
        None => {
            tx.execute(
                "INSERT INTO exam_images (item_id, exam_id, eye, field, quality) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![item, wanted.0, wanted.1, wanted.2, wanted.3],
            )?;
            report.images_placed += usize::from(!new);
        }
    }
    Ok(())
}

/// The stored infant `infant` names (made when new); refused when stored
/// with other birth details.
fn infant_id(
    tx: &super::db::Tx,
    infant: &Infant,
    report: &mut ExamsImport,
) -> Result<i64, StoreError> {
    let columns = (
        infant.sex.clone(),
        infant.ga.map(|g| g.days),
        infant.birth_weight_g,
        infant.birth_date.map(|d| d.to_string()),
    );
    let stored: Option<InfantRow> = tx.row_opt(
        "SELECT id, sex, ga_days, birth_weight_g, birth_date FROM infants WHERE name = ?1",
        args![infant.name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    match stored {
        Some((id, sex, ga, weight, birth)) => {
            if (sex, ga, weight, birth) == columns {
                Ok(id)
            } else {
                Err(StoreError::Invalid(format!(
                    "infant {:?} is stored with other birth details (sex, ga_weeks, \
                     birth_weight_g, birth_date); nothing is overwritten",
                    infant.name
                )))
            }
        }
        None => {
            let id = tx.insert(
                "INSERT INTO infants (name, sex, ga_days, birth_weight_g, birth_date) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![infant.name, columns.0, columns.1, columns.2, columns.3],
            )?;
            report.infants_added += 1;
            Ok(id)
        }
    }
}

/// Every exam image as the exams CSV's row (absolute paths), ordered by
/// infant, exam date, eye, field and path: what [`ExamsCsv`] reads back.
pub fn to_exams_csv(project: &Project) -> Result<String, StoreError> {
    let infants = project.infants()?;
    let items: HashMap<i64, super::Item> =
        project.items()?.into_iter().map(|i| (i.id, i)).collect();
    let devices = project.exam_devices()?;
    let mut rows = Vec::new();
    for (item, (eye, field, quality)) in project.exam_images()? {
        let Some(stored) = items.get(&item) else {
            continue;
        };
        let path = project.resolve(stored);
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let infant = infants.get(&eye.infant).cloned().unwrap_or_default();
        let device = devices
            .get(&(eye.infant.clone(), eye.exam_date))
            .cloned()
            .flatten();
        rows.push((
            eye,
            field,
            path.to_string_lossy().into_owned(),
            quality,
            infant,
            device,
        ));
    }
    rows.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    let mut out = csv::line(&EXAM_COLUMNS);
    for (eye, field, path, quality, infant, device) in rows {
        out.push_str(&csv::line(&[
            eye.infant.clone(),
            eye.exam_date.to_string(),
            eye.eye.name().into(),
            field.name().into(),
            path,
            quality.map_or(String::new(), |q| q.name().into()),
            infant.ga.map_or(String::new(), GestationalAge::text),
            infant
                .birth_weight_g
                .map_or(String::new(), |g| g.to_string()),
            infant.birth_date.map_or(String::new(), |d| d.to_string()),
            infant.sex.unwrap_or_default(),
            device.unwrap_or_default(),
        ]));
    }
    Ok(out)
}

/// The eye-grades export's columns (scripts rely on these names).
pub const EYE_GRADE_COLUMNS: [&str; 16] = [
    "infant",
    "exam_date",
    "eye",
    "annotator",
    "zone",
    "notch",
    "stage",
    "extent",
    "plus",
    "arop",
    "ungradable",
    "type1",
    "type2",
    "referral_warranted",
    "graded_at",
    "after_treatment",
];

/// One row per exam, eye and grader (the grader's newest grade), with the
/// derived ETROP flags (`yes`, `no`, empty when unknown).
pub fn to_eye_grades_csv(project: &Project) -> Result<String, StoreError> {
    let mut out = csv::line(&EYE_GRADE_COLUMNS);
    for stored in project.eye_grades()? {
        let g = &stored.grade;
        let text = |field: &str| g.get(field).unwrap_or_default();
        out.push_str(&csv::line(&[
            stored.eye.infant.clone(),
            stored.eye.exam_date.to_string(),
            stored.eye.eye.name().into(),
            stored.annotator.clone(),
            text("zone"),
            text("notch"),
            text("stage"),
            text("extent"),
            text("plus"),
            text("arop"),
            text("ungradable"),
            flag_text(g.type1()).into(),
            flag_text(g.type2()).into(),
            flag_text(g.referral_warranted()).into(),
            stored.graded_at.clone(),
            text("after_treatment"),
        ]));
    }
    Ok(out)
}

impl Project {
    /// Each exam's device: (infant, date) → device.
    fn exam_devices(&self) -> Result<HashMap<(String, Date), Option<String>>, StoreError> {
        if !self.has_table("exams")? {
            return Ok(HashMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT i.name, e.exam_date, e.device FROM exams e \
                 JOIN infants i ON i.id = e.infant_id",
            args![],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<String>>(2)?,
                ))
            },
        )?;
        let mut out = HashMap::new();
        for row in rows {
            let (infant, date, device) = row?;
            let date = Date::parse(&date).map_err(StoreError::Invalid)?;
            out.insert((infant, date), device);
        }
        Ok(out)
    }
}

/// Agreement between graders on one eye-level field (or derived flag),
/// over the eyes both graded (an unknown value is not a rating).
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct EyeFieldAgreement {
    pub field: String,
    pub ordinal: bool,
    pub pairs: Vec<super::agreement::PairKappa>,
    pub fleiss: Option<f64>,
    /// The eyes (`INFANT/EXAM_DATE/EYE`) whose graders' values differ.
    pub disagreements: Vec<String>,
}

/// An eye-level field as a category: its name, whether ordered, how many
/// categories, and a grade's category (`None`: not rated).
type EyeField = (&'static str, bool, usize, fn(&EyeGrade) -> Option<usize>);

fn flag_category(flag: Option<bool>) -> Option<usize> {
    flag.map(usize::from)
}

/// The fields agreement is computed on: the form's and the derived flags.
const EYE_FIELDS: [EyeField; 7] = [
    ("zone", true, Zone::ALL.len(), |g| {
        Zone::ALL.iter().position(|z| Some(*z) == g.zone)
    }),
    ("notch", false, 2, |g| Some(usize::from(g.notch))),
    ("stage", true, Stage::ALL.len(), |g| {
        Stage::ALL.iter().position(|s| *s == g.stage)
    }),
    ("plus", true, Plus::ALL.len(), |g| {
        Plus::ALL.iter().position(|p| *p == g.plus)
    }),
    ("arop", false, 2, |g| Some(usize::from(g.arop))),
    ("type1", false, 2, |g| flag_category(g.type1())),
    ("referral_warranted", false, 2, |g| {
        flag_category(g.referral_warranted())
    }),
];

/// Cohen's (quadratic-weighted for zone, stage and plus) and Fleiss' kappa
/// per eye-level field between every pair of graders; empty when no eye
/// is graded.
pub fn eye_agreement(project: &Project) -> Result<Vec<EyeFieldAgreement>, StoreError> {
    let grades = project.eye_grades()?;
    if grades.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_eye: BTreeMap<EyeRef, BTreeMap<String, EyeGrade>> = BTreeMap::new();
    // Agreement is between graders: the adjudicator's grade settles an
    // eye, it is not one more rating of it.
    for stored in grades.into_iter().filter(|g| g.annotator != ADJUDICATOR) {
        by_eye
            .entry(stored.eye)
            .or_default()
            .insert(stored.annotator, stored.grade);
    }
    let mut annotators: Vec<String> = by_eye.values().flat_map(|g| g.keys().cloned()).collect();
    annotators.sort();
    annotators.dedup();
    let eyes: Vec<&EyeRef> = by_eye.keys().collect();
    Ok(EYE_FIELDS
        .iter()
        .map(|&(field, ordinal, categories, category)| {
            let units: Vec<BTreeMap<String, usize>> = by_eye
                .values()
                .map(|graders| {
                    graders
                        .iter()
                        .filter_map(|(a, g)| Some((a.clone(), category(g)?)))
                        .collect()
                })
                .collect();
            let found = super::agreement::unit_agreement(&units, &annotators, categories, ordinal);
            EyeFieldAgreement {
                field: field.into(),
                ordinal,
                pairs: found.pairs,
                fleiss: found.fleiss,
                disagreements: found
                    .disagreeing
                    .into_iter()
                    .map(|k| eyes[k].to_string())
                    .collect(),
            }
        })
        .collect())
}

/// What an eye's grades add up to — the one consensus rule for eyes, as
/// [`super::consensus`] is for image labels.
#[derive(Clone, Debug, PartialEq)]
pub enum EyeConsensus<'a> {
    /// No grader graded the eye.
    Ungraded,
    /// An adjudicator settled it.
    Adjudicated(&'a EyeGrade),
    /// Every grader gave the same whole grade.
    Agreed(&'a EyeGrade),
    /// Graders differ on these fields (names as in [`GRADE_FIELDS`]).
    Disputed(Vec<&'static str>),
}

impl<'a> EyeConsensus<'a> {
    /// The grade that stands for the eye, when there is one.
    pub fn grade(&self) -> Option<&'a EyeGrade> {
        match self {
            Self::Adjudicated(g) | Self::Agreed(g) => Some(g),
            Self::Ungraded | Self::Disputed(_) => None,
        }
    }
}

/// The eye's consensus from grader → newest grade: the adjudicated grade
/// when there is one, else the graders' grade when all agree on every
/// field, else the fields they differ on.
pub fn eye_consensus(grades: &BTreeMap<String, EyeGrade>) -> EyeConsensus<'_> {
    if let Some(grade) = grades.get(ADJUDICATOR) {
        return EyeConsensus::Adjudicated(grade);
    }
    let graders: Vec<&EyeGrade> = grades
        .iter()
        .filter(|(a, _)| a.as_str() != ADJUDICATOR)
        .map(|(_, g)| g)
        .collect();
    let Some((first, others)) = graders.split_first() else {
        return EyeConsensus::Ungraded;
    };
    let differing: Vec<&'static str> = GRADE_FIELDS
        .into_iter()
        .filter(|field| others.iter().any(|g| g.get(field) != first.get(field)))
        .collect();
    if differing.is_empty() {
        EyeConsensus::Agreed(first)
    } else {
        EyeConsensus::Disputed(differing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(pairs: &[(&str, &str)]) -> EyeGrade {
        let mut g = EyeGrade::default();
        for (field, value) in pairs {
            g.set(field, value).unwrap();
        }
        g
    }

    #[test]
    fn an_eye_stands_adjudicated_else_agreed_else_disputed_on_named_fields() {
        let stage3 = grade(&[
            ("zone", "II"),
            ("stage", "3"),
            ("extent", "1,2"),
            ("plus", "plus"),
        ]);
        let stage2 = grade(&[
            ("zone", "II"),
            ("stage", "2"),
            ("extent", "1,2"),
            ("plus", "pre-plus"),
        ]);
        let mut grades = BTreeMap::new();
        assert_eq!(eye_consensus(&grades), EyeConsensus::Ungraded);
        grades.insert("ana".to_string(), stage3.clone());
        assert_eq!(eye_consensus(&grades), EyeConsensus::Agreed(&stage3));
        grades.insert("ben".to_string(), stage3.clone());
        assert_eq!(eye_consensus(&grades).grade(), Some(&stage3));
        grades.insert("cy".to_string(), stage2.clone());
        assert_eq!(
            eye_consensus(&grades),
            EyeConsensus::Disputed(vec!["stage", "plus"])
        );
        assert_eq!(eye_consensus(&grades).grade(), None);
        grades.insert(ADJUDICATOR.to_string(), stage2.clone());
        assert_eq!(eye_consensus(&grades), EyeConsensus::Adjudicated(&stage2));
        // An adjudicator alone is still the eye's grade.
        let only: BTreeMap<_, _> = [(ADJUDICATOR.to_string(), stage3.clone())].into();
        assert_eq!(eye_consensus(&only).grade(), Some(&stage3));
    }
}
