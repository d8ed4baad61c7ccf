//! Cases: a project item made of several files by modality role (`ct`,
//! `t1`, `flair`, …, any of which may be missing) and a tabular record
//! (questionnaire, demographics, lab values) whose columns the schema
//! declares. A case is an item like any other — pools, labels,
//! predictions — whose identity is its name (`case:<name>` as its content
//! hash) and whose stored path is its first present modality, so the
//! viewer opens it as it opens a file. Its files are in `case_files`, its
//! record in `records`: every edit appended with its annotator and time,
//! the newest value per column current, like labels.
//!
//! `import_cases` reads a cases CSV (`case`, one column per role with a
//! path, one per tabular column, label columns, optional `pool`), checks
//! every row before anything is written, and names the row and column of
//! the first problem; `to_cases_csv` writes the same shape back.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::db::{Sql, Tx, args};

use super::csv;
use super::import::{ImportOptions, ImportReport};
use super::{AddOutcome, Pool, Project, StoreError, annotator_name, check_stored_annotator};

/// The cases CSV's own columns besides roles, tabular columns and fields.
pub const CASE_COLUMN: &str = "case";
pub const POOL_COLUMN: &str = "pool";

/// The content hash a case is identified by: its name, so a re-import of
/// the same case finds it.
fn case_identity(name: &str) -> String {
    format!("case:{name}")
}

/// One edit of a record's column.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordEdit {
    pub column: String,
    /// `None`: cleared (unknown).
    pub value: Option<String>,
    pub annotator: String,
    pub created_at: String,
}

/// A case's files by role (resolved paths) and current record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseData {
    pub name: String,
    pub files: BTreeMap<String, PathBuf>,
    pub record: BTreeMap<String, String>,
}

impl Project {
    /// Adds a case named `name` with `files` by role (each hashed and stored
    /// like an item's file) and puts it in `pool`. A case of that name
    /// already in the project is a duplicate: nothing changes.
    pub fn add_case(
        &mut self,
        name: &str,
        files: &[(String, PathBuf)],
        pool: Pool,
    ) -> Result<AddOutcome, StoreError> {
        let prepared = self.prepare_case(name, files)?;
        self.write(|tx| insert_case(tx, &prepared, pool))
    }

    /// A case's name and files checked against the schema and hashed,
    /// ready for [`insert_case`] (outside the transaction: hashing is slow).
    fn prepare_case(
        &self,
        name: &str,
        files: &[(String, PathBuf)],
    ) -> Result<PreparedCase, StoreError> {
        check_case_name(name)?;
        for (role, _) in files {
            if !self.schema.modalities.contains(role) {
                return Err(StoreError::Invalid(format!(
                    "case {name}: {role:?} is not one of the schema's modalities ({})",
                    self.schema.modalities.join(", ")
                )));
            }
        }
        let mut stored = Vec::with_capacity(files.len());
        for (role, file) in files {
            stored.push((
                role.clone(),
                self.stored_path(file),
                super::source_identity(file)?,
            ));
        }
        Ok(PreparedCase {
            name: name.to_string(),
            files: stored,
        })
    }

    /// The item id of the case named `name`, if the project has it.
    pub fn case_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        if !self.has_table("cases")? {
            return Ok(None);
        }
        Ok(self
            .db
            .query_opt("SELECT item_id FROM cases WHERE name = ?1", args![name])?
            .map(|r| r.get(0))
            .transpose()?)
    }

    /// Every case's name, by item id (empty in a project without cases).
    pub fn case_names(&self) -> Result<BTreeMap<i64, String>, StoreError> {
        if !self.has_table("cases")? {
            return Ok(BTreeMap::new());
        }
        let rows = self
            .db
            .map_rows("SELECT item_id, name FROM cases", args![], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        rows.collect::<Result<_, _>>()
    }

    /// Every case's files by role, resolved, by item id: the newest file per role.
    pub fn all_case_files(&self) -> Result<BTreeMap<i64, BTreeMap<String, PathBuf>>, StoreError> {
        Ok(self
            .hashed_case_files()?
            .into_iter()
            .map(|(id, roles)| (id, roles.into_iter().map(|(r, (p, _))| (r, p)).collect()))
            .collect())
    }

    /// [`Project::all_case_files`] with each file's content hash.
    pub(crate) fn hashed_case_files(&self) -> Result<BTreeMap<i64, CaseFiles>, StoreError> {
        if !self.has_table("case_files")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT item_id, role, path, content_hash FROM case_files ORDER BY id",
            args![],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get::<String>(3)?,
                ))
            },
        )?;
        let mut out: BTreeMap<i64, CaseFiles> = BTreeMap::new();
        for row in rows {
            let (id, role, path, hash) = row?;
            out.entry(id)
                .or_default()
                .insert(role, (self.resolve_stored(&path), hash));
        }
        Ok(out)
    }

    /// One case: its name, files by role and current record (`None`: the
    /// item is not a case).
    pub fn case(&self, item_id: i64) -> Result<Option<CaseData>, StoreError> {
        if !self.has_table("cases")? {
            return Ok(None);
        }
        let name: Option<String> = self.db.row_opt(
            "SELECT name FROM cases WHERE item_id = ?1",
            args![item_id],
            |r| r.get(0),
        )?;
        let Some(name) = name else {
            return Ok(None);
        };
        let files = self
            .db
            .map_rows(
                "SELECT role, path FROM case_files WHERE item_id = ?1 ORDER BY id",
                args![item_id],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?
            .map(|row| row.map(|(role, path)| (role, self.resolve_stored(&path))))
            .collect::<Result<_, _>>()?;
        Ok(Some(CaseData {
            name,
            files,
            record: self.record(item_id)?,
        }))
    }

    /// Sets columns of a case's record as `annotator` (`None` clears one);
    /// values are checked and spelled by the schema's columns first, and
    /// only changed values are written. Returns how many were.
    pub fn set_record(
        &mut self,
        item_id: i64,
        annotator: &str,
        values: &BTreeMap<String, Option<String>>,
    ) -> Result<usize, StoreError> {
        let checked = self.checked_record(annotator, values)?;
        self.write(|tx| write_record(tx, item_id, annotator, &checked))
    }

    /// Record values checked and spelled by the schema's columns.
    fn checked_record(
        &self,
        annotator: &str,
        values: &BTreeMap<String, Option<String>>,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        check_stored_annotator(annotator)?;
        let mut checked = Vec::with_capacity(values.len());
        for (column, raw) in values {
            let spec = self.schema.tabular_column(column).ok_or_else(|| {
                StoreError::Invalid(format!("{column:?} is not a tabular column of the schema"))
            })?;
            let value = match raw {
                Some(raw) => spec.canonical(raw).map_err(StoreError::Invalid)?,
                None if spec.missing_allowed => None,
                None => {
                    return Err(StoreError::Invalid(format!(
                        "{column} is required (the schema allows no missing value)"
                    )));
                }
            };
            checked.push((column.clone(), value));
        }
        Ok(checked)
    }

    /// A case's current record: the newest value of each column (columns
    /// never set or cleared last are absent).
    pub fn record(&self, item_id: i64) -> Result<BTreeMap<String, String>, StoreError> {
        if !self.has_table("records")? {
            return Ok(BTreeMap::new());
        }
        current_record(&self.db, item_id)
    }

    /// Every case's current record, by item id: one scan.
    pub fn all_records(&self) -> Result<BTreeMap<i64, BTreeMap<String, String>>, StoreError> {
        if !self.has_table("records")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT item_id, column_name, value FROM records ORDER BY id",
            args![],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<String>>(2)?,
                ))
            },
        )?;
        let mut out: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            let (id, column, value) = row?;
            let record = out.entry(id).or_default();
            match value {
                Some(v) => record.insert(column, v),
                None => record.remove(&column),
            };
        }
        Ok(out)
    }

    /// Overrides which slices of a case's `role` series a model reads
    /// (METHODS.md §4: a clinician corrects the slice policy), as
    /// `annotator`; `None` withdraws the override (the policy's pick holds
    /// again). Slices are 0-based axial indices, kept ascending and
    /// distinct; every edit stays in the history.
    pub fn set_slice_pick(
        &mut self,
        item_id: i64,
        role: &str,
        annotator: &str,
        slices: Option<&[usize]>,
    ) -> Result<(), StoreError> {
        check_stored_annotator(annotator)?;
        let files = self
            .case(item_id)?
            .ok_or_else(|| StoreError::Invalid(format!("item {item_id} is not a case")))?;
        if !files.files.contains_key(role) {
            return Err(StoreError::Invalid(format!("the case has no {role}")));
        }
        let text = match slices {
            Some([]) => {
                return Err(StoreError::Invalid(
                    "a slice pick needs at least one slice".into(),
                ));
            }
            Some(slices) => {
                let mut sorted = slices.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                Some(
                    sorted
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            }
            None => None,
        };
        self.write(|tx| {
            tx.execute(
                "INSERT INTO slice_picks (item_id, role, annotator, slices) VALUES (?1, ?2, ?3, ?4)",
                args![item_id, role, annotator, text],
            )?;
            Ok(())
        })
    }

    /// The slice overrides in force for `role`, by item (latest edit wins).
    pub fn slice_picks(&self, role: &str) -> Result<BTreeMap<i64, Vec<usize>>, StoreError> {
        if !self.has_table("slice_picks")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT item_id, slices FROM slice_picks WHERE role = ?1 ORDER BY id",
            args![role],
            |r| Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?)),
        )?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, slices) = row?;
            match slices.and_then(|s| parse_slices(&s)) {
                Some(slices) => out.insert(id, slices),
                None => out.remove(&id),
            };
        }
        Ok(out)
    }

    /// Every edit of a case's record, oldest first.
    pub fn record_history(&self, item_id: i64) -> Result<Vec<RecordEdit>, StoreError> {
        if !self.has_table("records")? {
            return Ok(Vec::new());
        }
        let rows = self.db.map_rows(
            "SELECT column_name, value, annotator, created_at FROM records
                 WHERE item_id = ?1 ORDER BY id",
            args![item_id],
            |r| {
                Ok(RecordEdit {
                    column: r.get(0)?,
                    value: r.get(1)?,
                    annotator: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )?;
        rows.collect::<Result<_, _>>()
    }

    /// A stored path (relative to the project or absolute) on disk now.
    fn resolve_stored(&self, stored: &str) -> PathBuf {
        let path = Path::new(stored);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.images_root.join(path)
        }
    }
}

/// A case's stored files by role: (resolved path, content hash).
pub type CaseFiles = BTreeMap<String, (PathBuf, String)>;

/// A case ready to insert: its name and (role, stored path, content hash).
struct PreparedCase {
    name: String,
    files: Vec<(String, String, String)>,
}

/// Inserts a prepared case in `pool` inside a write transaction; a case of
/// that name already there is a duplicate and nothing changes.
fn insert_case(tx: &Tx, case: &PreparedCase, pool: Pool) -> Result<AddOutcome, StoreError> {
    let primary = case
        .files
        .first()
        .map(|(_, p, _)| p.clone())
        .unwrap_or_default();
    let id = match super::insert_item(tx, &primary, &case_identity(&case.name), pool)? {
        AddOutcome::Duplicate(id) => return Ok(AddOutcome::Duplicate(id)),
        AddOutcome::Added(id) => id,
    };
    tx.execute(
        "INSERT INTO cases (item_id, name) VALUES (?1, ?2)",
        args![id, case.name],
    )?;
    for (role, path, hash) in &case.files {
        tx.execute(
            "INSERT INTO case_files (item_id, role, path, content_hash) VALUES (?1, ?2, ?3, ?4)",
            args![id, role, path, hash],
        )?;
    }
    Ok(AddOutcome::Added(id))
}

/// A case's current record read through `db` (the project or an open
/// transaction): the newest value per column, cleared columns absent.
fn current_record(db: &impl Sql, item_id: i64) -> Result<BTreeMap<String, String>, StoreError> {
    let mut current = BTreeMap::new();
    for row in db.map_rows(
        "SELECT column_name, value FROM records WHERE item_id = ?1 ORDER BY id",
        args![item_id],
        |r| Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?)),
    )? {
        match row? {
            (column, Some(v)) => current.insert(column, v),
            (column, None) => current.remove(&column),
        };
    }
    Ok(current)
}

/// Appends the checked record values that differ from the case's current
/// record, inside a write transaction; returns how many were written.
fn write_record(
    tx: &Tx,
    item_id: i64,
    annotator: &str,
    checked: &[(String, Option<String>)],
) -> Result<usize, StoreError> {
    let exists: bool = tx.row(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE item_id = ?1)",
        args![item_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::Invalid(format!("item {item_id} is not a case")));
    }
    let current = current_record(tx, item_id)?;
    let mut written = 0;
    for (column, value) in checked {
        if current.get(column) == value.as_ref() {
            continue;
        }
        tx.execute(
            "INSERT INTO records (item_id, annotator, column_name, value) VALUES (?1, ?2, ?3, ?4)",
            args![item_id, annotator, column, value],
        )?;
        written += 1;
    }
    Ok(written)
}

/// The one rule for a case name: what a CSV cell and a file name can carry.
pub fn check_case_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name != name.trim() || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "case name {} is empty, has a control character or spaces at its ends",
            crate::user_file::shown(name)
        )));
    }
    Ok(())
}

/// One checked row of a cases CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseRow {
    pub line: usize,
    pub case: String,
    /// Files by role (present ones only).
    pub files: Vec<(String, PathBuf)>,
    /// Tabular values as the schema spells them (`None`: missing).
    pub record: BTreeMap<String, Option<String>>,
    /// Label values as the schema spells them.
    pub labels: BTreeMap<String, String>,
    pub pool: Option<Pool>,
}

/// Reads and checks a cases CSV for `project`: every row, before anything
/// is written. Paths are relative to the CSV's folder unless absolute.
pub fn read_cases(path: &Path, project: &Project) -> Result<Vec<CaseRow>, StoreError> {
    let text = csv::read_text(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_cases(&text, project, base)
        .map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))
}

/// A case's modality file must be a volume Loupe reads (a 3-D image: the
/// case models read volumes), checked from its header: not a text file, an
/// empty file, a header that claims more than its file holds, or a photo.
fn check_modality_file(path: &Path, role: &str) -> Result<(), String> {
    let shape = crate::volume::probe(path).map_err(|e| e.to_string())?;
    if shape[2] < 2 {
        return Err(format!(
            "{} is a 2-D image ({}×{}); a case's {role} is a volume",
            path.display(),
            shape[0],
            shape[1]
        ));
    }
    Ok(())
}

/// What a header column of a cases CSV is.
enum Column {
    Case,
    Pool,
    Role(String),
    Tabular(String),
    Field(String),
}

/// [`read_cases`] on text, with paths relative to `base`.
pub fn parse_cases(text: &str, project: &Project, base: &Path) -> Result<Vec<CaseRow>, String> {
    let schema = project.schema();
    if !schema.has_cases() {
        return Err(format!(
            "the project's schema {:?} declares no modalities or tabular columns, so it holds no cases",
            schema.name
        ));
    }
    let rows = csv::parse_rows(text)?;
    let Some((header, rows)) = rows.split_first() else {
        return Err("the file is empty (a header row starting with `case` is needed)".into());
    };
    let columns = header_columns(header, schema)?;
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let at = |column: &str, e: String| format!("line {}, column {column}: {e}", row.line);
        if row.cells.len() > columns.len() {
            return Err(format!(
                "line {}: {} cells for {} columns",
                row.line,
                row.cells.len(),
                columns.len()
            ));
        }
        let mut case = CaseRow {
            line: row.line,
            case: String::new(),
            files: Vec::new(),
            record: BTreeMap::new(),
            labels: BTreeMap::new(),
            pool: None,
        };
        for (index, (name, column)) in columns.iter().enumerate() {
            let cell = row.cells.get(index).map(String::as_str).unwrap_or("");
            let value = cell.trim();
            match column {
                Column::Case => {
                    check_case_name(value).map_err(|e| at(name, e.to_string()))?;
                    if !names.insert(value.to_string()) {
                        return Err(at(name, format!("case {value:?} appears twice")));
                    }
                    case.case = value.into();
                }
                Column::Pool => {
                    case.pool = match value {
                        "" => None,
                        v => Some(Pool::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                            at(name, format!("{v:?} is not labeled, unlabeled or test"))
                        })?),
                    };
                }
                // An empty cell: the case has no file of this modality.
                Column::Role(_) if value.is_empty() => {}
                Column::Role(role) => {
                    let path = base.join(value);
                    // A DICOM series may be named by its folder (or `FOLDER#UID`).
                    let (target, selector) = crate::volume::dicom::split_selector(&path);
                    let meta = std::fs::metadata(&target)
                        .map_err(|e| at(name, format!("{}: {e}", path.display())))?;
                    let series = meta.is_dir() || selector.is_some();
                    if !meta.is_file() && !series {
                        return Err(at(name, format!("{} is not a file", path.display())));
                    }
                    check_modality_file(&path, role).map_err(|e| at(name, e))?;
                    case.files.push((role.clone(), path));
                }
                Column::Tabular(column) => {
                    let spec = schema
                        .tabular_column(column)
                        .ok_or_else(|| at(name, "not a tabular column".into()))?;
                    case.record.insert(
                        column.clone(),
                        spec.canonical(cell).map_err(|e| at(name, e))?,
                    );
                }
                Column::Field(_) if value.is_empty() => {}
                Column::Field(field) => {
                    project
                        .check_value(field, value)
                        .map_err(|e| at(name, e.to_string()))?;
                    let spelled = schema
                        .field(field)
                        .and_then(|f| f.value_index(value).map(|i| f.values[i].clone()))
                        .unwrap_or_else(|| value.to_string());
                    case.labels.insert(field.clone(), spelled);
                }
            }
        }
        out.push(case);
    }
    Ok(out)
}

/// The cases CSV's header as columns: `case`, `pool`, a modality, a
/// tabular column or a schema field each, none twice, `case` and every
/// required tabular column present.
fn header_columns(
    header: &csv::Row,
    schema: &super::Schema,
) -> Result<Vec<(String, Column)>, String> {
    let mut columns = Vec::with_capacity(header.cells.len());
    for name in &header.cells {
        let name = name.trim();
        let column = if name.eq_ignore_ascii_case(CASE_COLUMN) {
            Column::Case
        } else if name.eq_ignore_ascii_case(POOL_COLUMN) {
            Column::Pool
        } else if schema.modalities.iter().any(|m| m == name) {
            Column::Role(name.into())
        } else if schema.tabular_column(name).is_some() {
            Column::Tabular(name.into())
        } else if schema.field(name).is_some() {
            Column::Field(name.into())
        } else {
            return Err(format!(
                "line {}: column {name:?} is not `case`, `pool`, a modality ({}), a tabular column or a field of the schema",
                header.line,
                schema.modalities.join(", ")
            ));
        };
        columns.push((name.to_string(), column));
    }
    let mut seen_columns = HashSet::new();
    for (name, _) in &columns {
        if !seen_columns.insert(name.to_ascii_lowercase()) {
            return Err(format!(
                "line {}: column {name:?} appears twice",
                header.line
            ));
        }
    }
    if !columns.iter().any(|(_, c)| matches!(c, Column::Case)) {
        return Err(format!("line {}: there is no `case` column", header.line));
    }
    for column in schema.tabular.iter().filter(|c| !c.missing_allowed) {
        if !seen_columns.contains(&column.name.to_ascii_lowercase()) {
            return Err(format!(
                "line {}: the required tabular column {:?} is missing",
                header.line, column.name
            ));
        }
    }
    Ok(columns)
}

/// Imports checked case rows, one transaction per case (a case is whole
/// or absent after a kill): each case added, its record written as
/// `options.annotator` (changed values only), its labels merged and its
/// pool set where the row gives one. A case the project already has keeps
/// its files, pool and labels: a row that differs there is reported as
/// kept (what stays, what the row offered) and only fills labels the case
/// lacks — so re-importing the project's own export changes nothing.
/// Rows are checked by [`read_cases`] first, so an error here is the
/// store's own (disk, database).
pub fn import_cases(
    project: &mut Project,
    rows: &[CaseRow],
    options: &ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, StoreError> {
    let annotator = annotator_name(&options.annotator)?;
    let target = project.schema().target.clone();
    let mut report = ImportReport::default();
    let stored = project.hashed_case_files()?;
    let names = project.case_names()?;
    // One scan in two cases may put it in two pools (test and training).
    let mut case_of_file: BTreeMap<String, String> = BTreeMap::new();
    for (id, roles) in &stored {
        for (_, hash) in roles.values() {
            if let Some(name) = names.get(id) {
                case_of_file
                    .entry(hash.clone())
                    .or_insert_with(|| name.clone());
            }
        }
    }
    for (index, row) in rows.iter().enumerate() {
        let pool = match row.pool {
            Some(Pool::Test) => Pool::Test,
            _ => Pool::Unlabeled,
        };
        let prepared = project.prepare_case(&row.case, &row.files)?;
        let labels = match project.case_id(&row.case)? {
            Some(id) => {
                let empty = CaseFiles::new();
                let files = stored.get(&id).unwrap_or(&empty);
                let (labels, kept, unchanged) =
                    keep_existing_case(project, id, row, &prepared, files)?;
                report.labels_unchanged += unchanged;
                report.cases_kept.extend(
                    kept.into_iter()
                        .map(|what| format!("line {}: case {}: {what}", row.line, row.case)),
                );
                labels
            }
            None => row.labels.clone(),
        };
        for (role, _, hash) in &prepared.files {
            match case_of_file.get(hash) {
                Some(owner) if *owner != row.case => report.shared_files.push(format!(
                    "line {}: case {}'s {role} is the same file as case {owner}'s (one scan in two cases can sit in two pools)",
                    row.line, row.case
                )),
                Some(_) => {}
                None => {
                    case_of_file.insert(hash.clone(), row.case.clone());
                }
            }
        }
        let record = project.checked_record(&annotator, &row.record)?;
        let offered = project.offered_labels(&annotator, &labels)?;
        let (outcome, merge) = project.write(|tx| {
            let outcome = insert_case(tx, &prepared, pool)?;
            let id = match outcome {
                AddOutcome::Added(id) | AddOutcome::Duplicate(id) => id,
            };
            write_record(tx, id, &annotator, &record)?;
            let merge = super::merge_offered(tx, id, &annotator, offered, None, &target)?;
            Ok((outcome, merge))
        })?;
        match outcome {
            AddOutcome::Added(_) => {
                report.added += 1;
                report.test += usize::from(pool == Pool::Test);
            }
            AddOutcome::Duplicate(id) => report
                .duplicates
                .push((PathBuf::from(format!("case {}", row.case)), id)),
        }
        report.labels_applied += merge.applied;
        report.labels_unchanged += merge.unchanged;
        progress(index + 1, rows.len());
    }
    Ok(report)
}

/// A row for a case the project has: the labels it may still add (fields
/// the case has no label for) and what the project keeps over the row
/// (files by role, test pool, labels that differ from the consensus), and
/// how many of its labels the case has already.
fn keep_existing_case(
    project: &Project,
    item_id: i64,
    row: &CaseRow,
    prepared: &PreparedCase,
    files: &CaseFiles,
) -> Result<(BTreeMap<String, String>, Vec<String>, usize), StoreError> {
    let mut kept = Vec::new();
    for role in &project.schema().modalities {
        let ours = files.get(role);
        let theirs = row.files.iter().find(|(r, _)| r == role).map(|(_, p)| p);
        // Same content is the same file, wherever the row names it.
        let offered_hash = prepared
            .files
            .iter()
            .find(|(r, _, _)| r == role)
            .map(|(_, _, h)| h);
        if ours.map(|(_, h)| h) != offered_hash {
            let ours = ours.map(|(p, _)| p);
            let show = |p: Option<&PathBuf>| p.map_or("none".into(), |p| p.display().to_string());
            kept.push(format!(
                "kept {role} {} (the row's {})",
                show(ours),
                show(theirs)
            ));
        }
    }
    let item = project.item(item_id)?;
    if let Some(pool) = row.pool
        && (pool == Pool::Test) != (item.pool == Pool::Test)
    {
        kept.push(format!(
            "kept pool {} (the row's {})",
            item.pool.as_str(),
            pool.as_str()
        ));
    }
    let (mut labels, mut unchanged) = (BTreeMap::new(), 0);
    for (field, value) in &row.labels {
        match project.consensus(item_id, field)? {
            Some(current) if current == *value => unchanged += 1,
            Some(current) => kept.push(format!("kept {field} {current:?} (the row's {value:?})")),
            None => {
                labels.insert(field.clone(), value.clone());
            }
        }
    }
    Ok((labels, kept, unchanged))
}

/// Every case as one row: `case`, one column per role (absolute paths,
/// empty where missing), the tabular columns, the fields (consensus) and
/// `pool` — what [`read_cases`] reads back.
pub fn to_cases_csv(project: &Project) -> Result<String, StoreError> {
    let schema = project.schema();
    if !schema.has_cases() {
        return Err(StoreError::Invalid(format!(
            "the project's schema {:?} holds no cases (no modalities or tabular columns): export it as csv",
            schema.name
        )));
    }
    let mut header = vec![CASE_COLUMN.to_string()];
    header.extend(schema.modalities.iter().cloned());
    header.extend(schema.tabular.iter().map(|c| c.name.clone()));
    header.extend(schema.field_names());
    header.push(POOL_COLUMN.into());
    let mut out = csv::line(&header);
    let names = project.case_names()?;
    let files = project.all_case_files()?;
    let records = project.all_records()?;
    for item in project.items()? {
        let Some(name) = names.get(&item.id) else {
            continue;
        };
        let mut row = vec![name.clone()];
        let case_files = files.get(&item.id);
        for role in &schema.modalities {
            row.push(
                case_files
                    .and_then(|f| f.get(role))
                    .map(|p| {
                        std::fs::canonicalize(p)
                            .unwrap_or_else(|_| p.clone())
                            .to_string_lossy()
                            .into_owned()
                    })
                    .unwrap_or_default(),
            );
        }
        let record = records.get(&item.id);
        for column in &schema.tabular {
            row.push(
                record
                    .and_then(|r| r.get(&column.name))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        for field in &schema.fields {
            row.push(project.consensus(item.id, &field.name)?.unwrap_or_default());
        }
        row.push(item.pool.as_str().into());
        out.push_str(&csv::line(&row));
    }
    Ok(out)
}

/// Slices as stored and written (`"3 4 5"`, 0-based): `None` when any
/// entry is not a slice number.
pub fn parse_slices(text: &str) -> Option<Vec<usize>> {
    let slices: Option<Vec<usize>> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect();
    slices.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{Schema, TabularColumn};

    fn schema() -> Schema {
        let mut schema = Schema::from_json(
            r#"{"name":"lung","fields":[{"name":"cancer","values":["no","yes"]}],"target":"cancer"}"#,
        )
        .unwrap();
        schema.modalities = vec!["ct".into()];
        let mut quit = TabularColumn::number("years_quit", "years", 0.0, 60.0);
        quit.missing_allowed = true;
        schema.tabular = vec![
            TabularColumn::number("age", "years", 18.0, 100.0),
            TabularColumn::category("smoking", &["never", "former", "current"]),
            TabularColumn::yes_no("cough"),
            quit,
        ];
        schema.validate_new().unwrap();
        schema
    }

    fn project_with_ct() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::create(&dir.path().join("p"), &schema()).unwrap();
        for (name, seed) in [("a.nii", 1), ("b.nii", 2)] {
            let ct = crate::synth::phantom::ct_phantom(4, seed);
            crate::volume::nifti::write_nifti1(&ct, &dir.path().join(name)).unwrap();
        }
        (dir, project)
    }

    const GOOD: &str = "case,ct,age,smoking,cough,years_quit,cancer,pool
A,a.nii,61,Former,yes,4.5,yes,
B,,70,never,0,,,test
";

    #[test]
    fn a_cases_csv_imports_and_exports_the_same_shape() {
        let (dir, mut project) = project_with_ct();
        let rows = parse_cases(GOOD, &project, dir.path()).unwrap();
        assert_eq!(rows.len(), 2);
        let report =
            import_cases(&mut project, &rows, &ImportOptions::default(), |_, _| {}).unwrap();
        assert_eq!(
            (report.added, report.test, report.labels_applied),
            (2, 1, 1)
        );
        let names = project.case_names().unwrap();
        let a = *names.iter().find(|(_, n)| *n == "A").unwrap().0;
        let b = *names.iter().find(|(_, n)| *n == "B").unwrap().0;
        let case_a = project.case(a).unwrap().unwrap();
        assert_eq!(case_a.files.keys().collect::<Vec<_>>(), ["ct"]);
        assert_eq!(
            case_a.record,
            BTreeMap::from([
                ("age".into(), "61".into()),
                ("smoking".into(), "former".into()),
                ("cough".into(), "yes".into()),
                ("years_quit".into(), "4.5".into()),
            ])
        );
        // A case without CT is a case, its missing value absent.
        let case_b = project.case(b).unwrap().unwrap();
        assert!(case_b.files.is_empty());
        assert_eq!(case_b.record.get("cough").map(String::as_str), Some("no"));
        assert!(!case_b.record.contains_key("years_quit"));
        assert_eq!(project.item(a).unwrap().pool, Pool::Labeled);
        assert_eq!(project.item(b).unwrap().pool, Pool::Test);

        let exported = to_cases_csv(&project).unwrap();
        let lines: Vec<&str> = exported.lines().collect();
        assert_eq!(lines[0], "case,ct,age,smoking,cough,years_quit,cancer,pool");
        let ct = std::fs::canonicalize(dir.path().join("a.nii")).unwrap();
        assert_eq!(
            lines[1],
            format!("A,{},61,former,yes,4.5,yes,labeled", ct.display())
        );
        assert_eq!(lines[2], "B,,70,never,no,,,test");
        // Exported and read back: the same rows; imported again: nothing new.
        let again = parse_cases(&exported, &project, dir.path()).unwrap();
        assert_eq!(again[0].record, rows[0].record);
        let report =
            import_cases(&mut project, &again, &ImportOptions::default(), |_, _| {}).unwrap();
        assert_eq!(
            (report.added, report.duplicates.len(), report.labels_applied),
            (0, 2, 0)
        );
        assert_eq!(project.record_history(a).unwrap().len(), 4);
    }

    #[test]
    fn bad_rows_are_refused_naming_line_and_column() {
        let (dir, project) = project_with_ct();
        let bad = |text: &str| parse_cases(text, &project, dir.path()).unwrap_err();
        let header = "case,ct,age,smoking,cough,cancer\n";
        let e = bad(&format!("{header}A,a.nii,17,never,no,no\n"));
        assert!(
            e.contains("line 2, column age") && e.contains("below the minimum 18"),
            "{e}"
        );
        let e = bad(&format!("{header}A,a.nii,40,sometimes,no,no\n"));
        assert!(
            e.contains("line 2, column smoking") && e.contains("never, former, current"),
            "{e}"
        );
        let e = bad(&format!(
            "{header}A,a.nii,40,never,no,no\nB,missing.nii,40,never,no,no\n"
        ));
        assert!(
            e.contains("line 3, column ct") && e.contains("missing.nii"),
            "{e}"
        );
        let e = bad(&format!("{header}A,a.nii,40,never,perhaps,no\n"));
        assert!(e.contains("column cough") && e.contains("yes or no"), "{e}");
        let e = bad(&format!("{header}A,a.nii,,never,no,no\n"));
        assert!(e.contains("column age") && e.contains("required"), "{e}");
        let e = bad(&format!("{header}A,a.nii,40,never,no,maybe\n"));
        assert!(e.contains("line 2, column cancer"), "{e}");
        let e = bad(&format!(
            "{header}A,a.nii,40,never,no,no\nA,b.nii,41,never,no,no\n"
        ));
        assert!(e.contains("line 3") && e.contains("appears twice"), "{e}");
        let e = bad("case,ct,age,smoking,cough,weight\n");
        assert!(e.contains("\"weight\""), "{e}");
        let e = bad("case,ct,smoking,cough\n");
        assert!(e.contains("required tabular column \"age\""), "{e}");
        // Nothing was written by any of them.
        assert!(project.items().unwrap().is_empty());
    }

    #[test]
    fn record_edits_are_checked_kept_in_history_and_clearable() {
        let (dir, mut project) = project_with_ct();
        let rows = parse_cases(GOOD, &project, dir.path()).unwrap();
        import_cases(&mut project, &rows, &ImportOptions::default(), |_, _| {}).unwrap();
        let a = *project.case_names().unwrap().keys().next().unwrap();
        let edit = |column: &str, value: Option<&str>| {
            BTreeMap::from([(column.to_string(), value.map(str::to_string))])
        };
        assert_eq!(
            project
                .set_record(a, "ana", &edit("age", Some("62")))
                .unwrap(),
            1
        );
        assert_eq!(
            project
                .set_record(a, "ana", &edit("age", Some("62.0")))
                .unwrap(),
            0
        );
        assert!(
            project
                .set_record(a, "ana", &edit("age", Some("200")))
                .is_err()
        );
        assert!(project.set_record(a, "ana", &edit("age", None)).is_err());
        assert_eq!(
            project
                .set_record(a, "ana", &edit("years_quit", None))
                .unwrap(),
            1
        );
        let record = project.record(a).unwrap();
        assert_eq!(record.get("age").map(String::as_str), Some("62"));
        assert!(!record.contains_key("years_quit"));
        assert_eq!(project.all_records().unwrap()[&a], record);
        let history = project.record_history(a).unwrap();
        assert_eq!(history.len(), 6);
        assert_eq!(history[4].annotator, "ana");
        // Reopened from disk: the same record.
        let root = project.root().to_path_buf();
        drop(project);
        assert_eq!(Project::open(&root).unwrap().record(a).unwrap(), record);
    }

    #[test]
    fn a_slice_override_wins_until_withdrawn_and_is_checked() {
        let (dir, mut project) = project_with_ct();
        let AddOutcome::Added(a) = project
            .add_case("A", &[("ct".into(), dir.path().join("a.nii"))], Pool::Test)
            .unwrap()
        else {
            panic!("not added")
        };
        assert!(project.slice_picks("ct").unwrap().is_empty());
        project
            .set_slice_pick(a, "ct", "ana", Some(&[9, 4, 4, 7]))
            .unwrap();
        assert_eq!(project.slice_picks("ct").unwrap()[&a], vec![4, 7, 9]);
        project.set_slice_pick(a, "ct", "ana", Some(&[2])).unwrap();
        assert_eq!(project.slice_picks("ct").unwrap()[&a], vec![2]);
        project.set_slice_pick(a, "ct", "ana", None).unwrap();
        assert!(project.slice_picks("ct").unwrap().is_empty());
        let refused = project.set_slice_pick(a, "mri", "ana", Some(&[1]));
        assert!(refused.unwrap_err().to_string().contains("no mri"));
        assert!(project.set_slice_pick(a, "ct", "ana", Some(&[])).is_err());
        assert_eq!(parse_slices("3, 4 5"), Some(vec![3, 4, 5]));
        assert_eq!(parse_slices("3 x"), None);
        assert_eq!(parse_slices(""), None);
    }
}
