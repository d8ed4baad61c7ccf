//! `loupe project push`: a project folder, with its whole history, into a
//! PostgreSQL project. Rows keep their ids (so the history's order is the
//! folder's), image paths become relative to the share's images root, and
//! painted maps and runs are copied under the files root.
//!
//! Pushing again copies only rows added since: the server's rows of each
//! table must be exactly the folder's rows up to the server's newest id. A
//! server project with work of its own (labels made there since) is refused
//! rather than merged id by id, which could pair rows wrongly.

use std::path::{Path, PathBuf};

use super::db::{Db, Sql, Value};
use super::postgres::{Locator, TABLES, connect};
use super::{Project, StoreError};

/// What one push copied.
#[derive(Debug, Default)]
pub struct PushReport {
    /// (table, rows copied now, rows already on the server).
    pub tables: Vec<(String, usize, usize)>,
    pub files_copied: usize,
    pub server: String,
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let copied: usize = self.tables.iter().map(|t| t.1).sum();
        let already: usize = self.tables.iter().map(|t| t.2).sum();
        write!(
            f,
            "pushed to {}: {copied} rows copied, {already} already there, {} files copied",
            self.server, self.files_copied
        )?;
        for (table, new, old) in self.tables.iter().filter(|t| t.1 + t.2 > 0) {
            write!(f, "\n  {table}: {new} new, {old} already there")?;
        }
        Ok(())
    }
}

/// The key column of a table (rows are copied and compared in its order).
fn key_column(table: &str) -> &'static str {
    match table {
        "cases" | "exam_images" => "item_id",
        _ => "id",
    }
}

/// Copies `dir` into the project at `url` (created there with the folder's
/// schema when the database is empty); `images_root`/`files_root` as for
/// `project init --postgres`.
pub fn push(
    dir: &Path,
    url: &str,
    images_root: &Path,
    files_root: &Path,
) -> Result<PushReport, StoreError> {
    if Locator::from_path(dir).is_some() {
        return Err(StoreError::Invalid(
            "push copies a project folder; this is a URL".into(),
        ));
    }
    let source = Project::open(dir)?;
    let locator = Locator::parse(url)?;
    let is_project = {
        let client = connect(&locator)?;
        let probe = Db::Postgres {
            client: std::cell::RefCell::new(client),
            server: locator.display(),
            statements: Default::default(),
        };
        probe.has_table("meta")?
    };
    let mut target = if is_project {
        Project::open(Path::new(url))?
    } else {
        super::postgres::init(url, source.schema(), images_root, files_root)?
    };
    let same_schema =
        serde_json::to_value(source.schema()).ok() == serde_json::to_value(target.schema()).ok();
    if !same_schema {
        return Err(StoreError::Invalid(format!(
            "{} holds a {:?} project; {} is {:?}: push into a new database",
            locator.display(),
            target.schema().name,
            dir.display(),
            source.schema().name
        )));
    }
    let Db::Sqlite { conn, .. } = &source.db else {
        return Err(StoreError::Invalid("push copies a project folder".into()));
    };
    let mut tables = Vec::new();
    for table in TABLES.iter().filter(|t| **t != "meta") {
        if !source.has_table(table)? {
            continue;
        }
        let (columns, rows) = read_table(conn, table, &source.root)?;
        tables.push((table.to_string(), columns, rows));
    }
    let mut report = PushReport {
        server: locator.display(),
        ..PushReport::default()
    };
    let source_root = source.root.clone();
    let images_root = target.images_root.clone();
    report.tables = target.db.write(|tx| {
        let mut counts = Vec::new();
        for (table, columns, rows) in &tables {
            counts.push(copy_table(
                tx,
                table,
                columns,
                rows,
                &source_root,
                &images_root,
            )?);
        }
        Ok(counts)
    })?;
    report.files_copied = copy_missing(&source.root.join("runs"), &target.files_root.join("runs"))?
        + copy_missing(
            &source.root.join(super::label_maps::LABEL_MAPS_FOLDER),
            &target.files_root.join(super::label_maps::LABEL_MAPS_FOLDER),
        )?;
    Ok(report)
}

/// A table's column names and rows, in key order.
fn read_table(
    conn: &rusqlite::Connection,
    table: &str,
    root: &Path,
) -> Result<(Vec<String>, Vec<Vec<Value>>), StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: root.join(super::DATABASE_FILE),
        source,
    };
    let mut statement = conn
        .prepare(&format!(
            "SELECT * FROM {table} ORDER BY {}",
            key_column(table)
        ))
        .map_err(wrap)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let count = columns.len();
    let rows = statement.query([]).map_err(wrap)?;
    let rows = super::db::sqlite_rows(rows, count).map_err(wrap)?;
    Ok((columns, rows.into_iter().map(|r| r.0).collect()))
}

/// Copies the rows the server lacks; refuses when the server's rows are not
/// the folder's first rows. Returns (table, copied, already there).
fn copy_table(
    tx: &super::db::Tx,
    table: &str,
    columns: &[String],
    rows: &[Vec<Value>],
    source_root: &Path,
    images_root: &Path,
) -> Result<(String, usize, usize), StoreError> {
    let key = key_column(table);
    let key_index = columns.iter().position(|c| c == key).ok_or_else(|| {
        StoreError::Invalid(format!("table {table} of the folder has no {key} column"))
    })?;
    let server_count: i64 = tx.value(&format!("SELECT count(*) FROM {table}"), &[])?;
    let server_max: i64 = tx.value(&format!("SELECT coalesce(max({key}), 0) FROM {table}"), &[])?;
    let key_of = |row: &Vec<Value>| match row[key_index] {
        Value::Int(v) => v,
        _ => 0,
    };
    let already = rows.iter().filter(|r| key_of(r) <= server_max).count();
    if already as i64 != server_count {
        return Err(StoreError::Invalid(format!(
            "the server's {table} has {server_count} rows up to id {server_max}, the folder {already}: \
             the server project has work of its own; push copies only into a new project or one \
             holding this folder's work"
        )));
    }
    // The ids agree; so must the rows (a label made on the server under an
    // id the folder also used is work of its own, not this folder's).
    let path_index = matches!(table, "items" | "case_files")
        .then(|| columns.iter().position(|c| c == "path"))
        .flatten();
    let as_shared = |row: &Vec<Value>| -> Vec<Value> {
        let mut row = row.clone();
        if let Some(i) = path_index
            && let Value::Text(stored) = &row[i]
        {
            row[i] = Value::Text(share_path(stored, source_root, images_root));
        }
        row
    };
    let on_server = tx.query(
        &format!("SELECT {} FROM {table} ORDER BY {key}", columns.join(", ")),
        &[],
    )?;
    let folder_rows = rows
        .iter()
        .filter(|r| key_of(r) <= server_max)
        .map(as_shared);
    for (server_row, folder_row) in on_server.iter().zip(folder_rows) {
        if !same_row(&server_row.0, &folder_row) {
            return Err(StoreError::Invalid(format!(
                "the server's {table} row {} differs from the folder's: the server project has \
                 work of its own; push copies only into a new project or one holding this \
                 folder's work",
                key_of(&server_row.0)
            )));
        }
    }
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    let mut copied = 0;
    for row in rows.iter().filter(|r| key_of(r) > server_max) {
        tx.execute(&insert, &as_shared(row))?;
        copied += 1;
    }
    if key == "id" && copied > 0 {
        tx.query(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            ),
            &[],
        )?;
    }
    Ok((table.to_string(), copied, already))
}

/// Whether two rows hold the same values (a whole number stored in a REAL
/// column reads back as a number on the server).
fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Value::Int(x), Value::Real(y)) | (Value::Real(y), Value::Int(x)) => {
                (*x as f64 - y).abs() < 1e-9
            }
            (x, y) => x == y,
        })
}

/// A folder project's stored path (relative to the folder, or absolute; a
/// DICOM series keeps its `#UID`) as the share's: relative to the images
/// root when the file is under it, else absolute.
fn share_path(stored: &str, source_root: &Path, images_root: &Path) -> String {
    let (file, selector) = match stored.split_once('#') {
        Some((f, s)) => (f, Some(s)),
        None => (stored, None),
    };
    let absolute = if Path::new(file).is_absolute() {
        PathBuf::from(file)
    } else {
        source_root.join(file)
    };
    let absolute = std::fs::canonicalize(&absolute).unwrap_or(absolute);
    let root = std::fs::canonicalize(images_root).unwrap_or_else(|_| images_root.to_path_buf());
    let path = match absolute.strip_prefix(&root) {
        Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
        Err(_) => absolute.to_string_lossy().into_owned(),
    };
    match selector {
        Some(s) => format!("{path}#{s}"),
        None => path,
    }
}

/// Copies files under `from` missing under `to` (same relative paths); no
/// file already there is replaced. Returns how many were copied.
fn copy_missing(from: &Path, to: &Path) -> Result<usize, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    if !from.is_dir() {
        return Ok(0);
    }
    let mut copied = 0;
    let mut pending = vec![from.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io(&folder))? {
            let entry = entry.map_err(io(&folder))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(from).unwrap_or(&path);
                let dest = to.join(relative);
                if dest.exists() {
                    continue;
                }
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::copy(&path, &dest).map_err(io(&dest))?;
                copied += 1;
            }
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_become_share_paths() {
        let share = tempfile::tempdir().unwrap();
        let project = share.path().join("proj");
        std::fs::create_dir_all(project.join("img")).unwrap();
        std::fs::write(project.join("img/a.png"), b"x").unwrap();
        assert_eq!(
            share_path("img/a.png", &project, share.path()),
            "proj/img/a.png"
        );
        assert_eq!(
            share_path("img#1.2.3", &project, share.path()),
            "proj/img#1.2.3"
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = share_path("img/a.png", &project, elsewhere.path());
        assert!(Path::new(&outside).is_absolute(), "{outside}");
    }
}
