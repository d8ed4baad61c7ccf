//! What an offline copy carries besides items, labels, remarks and painted
//! maps, so that work goes on away from the server as on it:
//! - a screening project's infants, exams and exam photographs of the
//!   copied items (every photograph of each exam touched, so an eye is never
//!   half there), the graders' current eye grades of those exams and their
//!   zone marks;
//! - a cases project's cases, their files by role (the newest per role) and
//!   the whole history of their records and slice picks (so the current
//!   values, the newest rows, are the server's).
//!
//! At sync, the eye grades, zone marks, record edits and slice picks
//! written in the copy go back, once each like its labels (`synced` uids).

use std::collections::{BTreeMap, BTreeSet};

use super::cases::CaseFiles;
use super::db::{Row, Sql, Tx, Value};
use super::{Project, StoreError};

/// The tables carried, each with the columns copied (ids kept, so rows
/// written in the copy name the server's exams and items).
const TABLES: [(&str, &str); 8] = [
    (
        "infants",
        "id, name, sex, ga_days, birth_weight_g, birth_date",
    ),
    ("exams", "id, infant_id, exam_date, device, examiner, note"),
    ("exam_images", "item_id, exam_id, eye, field, quality"),
    (
        "eye_grades",
        "exam_id, eye, annotator, zone, notch, stage, extent, plus, arop, after_treatment, \
         ungradable, created_at",
    ),
    (
        "zone_marks",
        "item_id, annotator, disc_x, disc_y, fovea_x, fovea_y, disc_diameter_px, created_at",
    ),
    ("cases", "item_id, name"),
    (
        "records",
        "item_id, annotator, column_name, value, created_at",
    ),
    (
        "slice_picks",
        "item_id, role, annotator, slices, created_at",
    ),
];

/// Tables carried whole, oldest row first: their newest row is current.
const HISTORIES: [&str; 2] = ["records", "slice_picks"];

/// The tables of a cases project (its case files are read apart).
const CASE_TABLES: [&str; 3] = ["cases", "records", "slice_picks"];

/// The tables whose rows written in a copy go back to the server: the
/// grader's own work, append-only.
pub const SYNCED_TABLES: [&str; 4] = ["eye_grades", "zone_marks", "records", "slice_picks"];

/// Whether a synced table holds work on cases (record edits, slice picks)
/// rather than eyes.
pub fn is_case_table(table: &str) -> bool {
    HISTORIES.contains(&table)
}

/// The columns of a carried table.
fn columns(table: &str) -> &'static str {
    TABLES
        .iter()
        .find(|(name, _)| *name == table)
        .map_or("", |(_, columns)| columns)
}

/// The exam and case rows of a project as an offline copy needs them, read
/// while the server answers (a window keeps one to fall back on).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CarriedTables {
    /// Per table of [`TABLES`], its rows (columns as listed there).
    tables: Vec<(&'static str, Vec<Row>)>,
    /// Each case's newest file per role, by item id.
    case_files: BTreeMap<i64, CaseFiles>,
}

impl CarriedTables {
    /// Every exam and case row of `project` (none where it has neither);
    /// eye grades and zone marks as each grader's current ones. A project
    /// without modalities has no cases: their tables are not read (a team
    /// window reads this at every reload).
    pub fn read(project: &Project) -> Result<Self, StoreError> {
        let has_cases = !project.schema().modalities.is_empty();
        let mut tables = Vec::new();
        for (table, columns) in TABLES {
            if !has_cases && CASE_TABLES.contains(&table) {
                continue;
            }
            let current = match table {
                "eye_grades" => {
                    " g WHERE id = (SELECT max(id) FROM eye_grades n WHERE n.exam_id = g.exam_id \
                     AND n.eye = g.eye AND n.annotator = g.annotator)"
                }
                "zone_marks" => {
                    " z WHERE id = (SELECT max(id) FROM zone_marks n WHERE n.item_id = z.item_id \
                     AND n.annotator = z.annotator)"
                }
                _ if HISTORIES.contains(&table) => " ORDER BY id",
                _ => "",
            };
            if !project.has_table(table)? {
                continue;
            }
            let rows = project
                .db
                .query(&format!("SELECT {columns} FROM {table}{current}"), &[])?;
            tables.push((table, rows));
        }
        let case_files = if has_cases {
            project.hashed_case_files()?
        } else {
            BTreeMap::new()
        };
        Ok(Self { tables, case_files })
    }

    /// A case's files (`None`: the item is not a case).
    pub fn case_files(&self, item: i64) -> Option<&CaseFiles> {
        self.case_files.get(&item)
    }

    fn rows(&self, table: &str) -> &[Row] {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(&[], |(_, rows)| rows.as_slice())
    }

    /// The items to copy: `items` and every other photograph of the exams
    /// they belong to.
    pub fn whole_exams(&self, items: &BTreeSet<i64>) -> BTreeSet<i64> {
        let exams = self.exams_of(items);
        let mut all = items.clone();
        for row in self.rows("exam_images") {
            if let (Ok(item), Ok(exam)) = (row.get::<i64>(0), row.get::<i64>(1))
                && exams.contains(&exam)
            {
                all.insert(item);
            }
        }
        all
    }

    fn exams_of(&self, items: &BTreeSet<i64>) -> BTreeSet<i64> {
        self.rows("exam_images")
            .iter()
            .filter(|r| r.get::<i64>(0).is_ok_and(|item| items.contains(&item)))
            .filter_map(|r| r.get::<i64>(1).ok())
            .collect()
    }

    /// Writes the rows that belong to `items` into a new copy; each case's
    /// files as `stored_files` names them there (role, stored path), with
    /// the hashes read from the server.
    pub fn write(
        &self,
        tx: &Tx,
        items: &BTreeSet<i64>,
        stored_files: &BTreeMap<i64, BTreeMap<String, String>>,
    ) -> Result<(), StoreError> {
        let exams = self.exams_of(items);
        let infants: BTreeSet<i64> = self
            .rows("exams")
            .iter()
            .filter(|r| r.get::<i64>(0).is_ok_and(|id| exams.contains(&id)))
            .filter_map(|r| r.get::<i64>(1).ok())
            .collect();
        for (table, rows) in &self.tables {
            // The column that ties a row to what is copied.
            let (column, keep): (usize, &BTreeSet<i64>) = match *table {
                "infants" => (0, &infants),
                "exams" => (0, &exams),
                "exam_images" | "zone_marks" | "cases" | "records" | "slice_picks" => (0, items),
                _ => (0, &exams),
            };
            let columns = columns(table);
            let count = columns.split(',').count();
            let placeholders: Vec<String> = (1..=count).map(|i| format!("?{i}")).collect();
            let insert = format!(
                "INSERT INTO {table} ({columns}) VALUES ({})",
                placeholders.join(", ")
            );
            for row in rows {
                if row.get::<i64>(column).is_ok_and(|id| keep.contains(&id)) {
                    tx.execute(&insert, &row.0)?;
                }
            }
        }
        for (item, roles) in stored_files {
            for (role, stored) in roles {
                let hash = self
                    .case_files(*item)
                    .and_then(|files| files.get(role))
                    .map(|(_, hash)| hash.clone())
                    .ok_or_else(|| {
                        StoreError::Invalid(format!("case {item} has no {role} on the server"))
                    })?;
                tx.execute(
                    "INSERT INTO case_files (item_id, role, path, content_hash) \
                     VALUES (?1, ?2, ?3, ?4)",
                    &[
                        Value::Int(*item),
                        Value::Text(role.clone()),
                        Value::Text(stored.clone()),
                        Value::Text(hash),
                    ],
                )?;
            }
        }
        Ok(())
    }
}

/// The copy's last row of `table` the server has, as stored in its meta.
pub fn mark_key(table: &str) -> String {
    format!("offline_{table}_synced_to")
}

/// The highest id of each synced table in a new copy: nothing there waits.
pub fn initial_marks(tx: &Tx) -> Result<Vec<(String, i64)>, StoreError> {
    let mut marks = Vec::new();
    for table in SYNCED_TABLES {
        if tx.has_table(table)? {
            let to: i64 = tx.value(&format!("SELECT coalesce(max(id), 0) FROM {table}"), &[])?;
            marks.push((mark_key(table), to));
        }
    }
    Ok(marks)
}

/// Rows of `table` written in the copy after `after`: (local id, annotator,
/// the values of the table's columns).
pub fn waiting_rows(
    local: &Project,
    table: &str,
    after: i64,
) -> Result<Vec<(i64, String, Vec<Value>)>, StoreError> {
    if !local.has_table(table)? {
        return Ok(Vec::new());
    }
    let rows = local.db.query(
        &format!(
            "SELECT id, annotator, {} FROM {table} WHERE id > ?1 ORDER BY id",
            columns(table)
        ),
        &[Value::Int(after)],
    )?;
    rows.into_iter()
        .map(|row| {
            let id = row.get::<i64>(0)?;
            let annotator = row.get::<String>(1)?;
            Ok((id, annotator, row.0[2..].to_vec()))
        })
        .collect()
}

/// Appends one row written in the copy to the server's `table`.
pub fn push_row(tx: &Tx, table: &str, values: &[Value]) -> Result<(), StoreError> {
    let columns = columns(table);
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    tx.execute(
        &format!(
            "INSERT INTO {table} ({columns}) VALUES ({})",
            placeholders.join(", ")
        ),
        values,
    )?;
    Ok(())
}
