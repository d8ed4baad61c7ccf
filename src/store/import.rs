//! Importing files into a project: folders walked recursively, exact
//! duplicates reported, existing labels from a CSV applied, and a test pool
//! drawn (stratified by label, fixed seed).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{AddOutcome, Pool, Project, StoreError, csv};
use crate::synth::Rng;

/// Extensions Loupe imports (`.img` is reached through its `.hdr`).
const IMPORTABLE: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nii", ".nii.gz", ".hdr", ".hdr.gz",
];

/// Labels read from a CSV: for each path as written there, annotator → field → value.
#[derive(Clone, Debug, Default)]
pub struct LabelTable {
    pub rows: Vec<LabelRow>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelRow {
    /// Line of the CSV the row came from (1-based), for error messages.
    pub line: usize,
    pub path: String,
    pub annotator: Option<String>,
    pub pool: Option<Pool>,
    pub values: BTreeMap<String, String>,
}

impl LabelTable {
    /// Reads either `path,field=value,…` lines (no header) or a table with a
    /// `path` column and one column per field (as `loupe export --format csv` writes).
    pub fn parse(text: &str, fields: &[String]) -> Result<Self, String> {
        let rows = csv::parse(text)?;
        let Some(first) = rows.first() else {
            return Ok(Self::default());
        };
        let has_header = first.iter().any(|c| c.trim() == "path");
        let mut out = Vec::new();
        if has_header {
            let column = |name: &str| first.iter().position(|c| c.trim() == name);
            let path_col = column("path").ok_or("no path column")?;
            let annotator_col = column("annotator");
            let pool_col = column("pool");
            let field_cols: Vec<(String, usize)> = fields
                .iter()
                .filter_map(|f| column(f).map(|c| (f.clone(), c)))
                .collect();
            for (n, row) in rows.iter().enumerate().skip(1) {
                let cell = |c: usize| row.get(c).map(|s| s.trim().to_string()).unwrap_or_default();
                let path = cell(path_col);
                if path.is_empty() {
                    return Err(format!("row {}: empty path", n + 1));
                }
                let values = field_cols
                    .iter()
                    .map(|(f, c)| (f.clone(), cell(*c)))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                out.push(LabelRow {
                    line: n + 1,
                    path,
                    annotator: annotator_col.map(cell).filter(|a| !a.is_empty()),
                    pool: pool_col.and_then(|c| Pool::parse(&cell(c))),
                    values,
                });
            }
        } else {
            for (n, row) in rows.iter().enumerate() {
                let mut values = BTreeMap::new();
                for pair in &row[1..] {
                    let (field, value) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("line {}: {pair:?} is not field=value", n + 1))?;
                    values.insert(field.trim().to_string(), value.trim().to_string());
                }
                out.push(LabelRow {
                    line: n + 1,
                    path: row[0].trim().to_string(),
                    annotator: None,
                    pool: None,
                    values,
                });
            }
        }
        Ok(Self { rows: out })
    }
}

impl LabelTable {
    /// Reads and parses a labels CSV for `project`'s schema.
    pub fn read(path: &Path, project: &Project) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &project.schema().field_names())
            .map_err(|e| StoreError::Invalid(format!("{e}: {}", path.display())))
    }

    /// Checks every field and value against the project's schema before
    /// anything is imported, naming the CSV line of the first problem.
    pub fn check(&self, project: &Project) -> Result<(), StoreError> {
        for row in &self.rows {
            for (field, value) in &row.values {
                project
                    .check_value(field, value)
                    .map_err(|e| StoreError::Invalid(format!("labels line {}: {e}", row.line)))?;
            }
        }
        Ok(())
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    /// Files whose bytes were already in the project: (file, existing item id).
    pub duplicates: Vec<(PathBuf, i64)>,
    pub labels_applied: usize,
    pub test: usize,
    /// CSV rows that matched no imported file.
    pub unmatched_labels: Vec<String>,
}

/// Options for [`import`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub test_fraction: f64,
    pub seed: u64,
    /// Who the CSV's labels are recorded for when it names no annotator.
    pub annotator: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            test_fraction: 0.0,
            seed: 0,
            annotator: "import".into(),
        }
    }
}

/// All importable files under `paths` (files as given, folders recursively), sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, StoreError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
        let entries = std::fs::read_dir(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| StoreError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?
                .path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_importable(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out)?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(StoreError::Invalid(format!(
                "no such file or folder: {}",
                path.display()
            )));
        }
    }
    out.sort();
    Ok(out)
}

fn is_importable(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // `<name>_labels.nii(.gz)` is a label map drawn over `<name>`, not an item of its own.
    let label_map = name.ends_with("_labels.nii") || name.ends_with("_labels.nii.gz");
    IMPORTABLE.iter().any(|ext| name.ends_with(ext)) && !name.starts_with('.') && !label_map
}

/// Finds the CSV row for a file: by full path, by path relative to an import root, or by unique file name.
fn match_rows<'a>(
    files: &[PathBuf],
    roots: &[PathBuf],
    table: &'a LabelTable,
) -> (HashMap<usize, Vec<&'a LabelRow>>, Vec<String>) {
    let mut by_file: HashMap<usize, Vec<&LabelRow>> = HashMap::new();
    let mut unmatched = Vec::new();
    let keys: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let mut keys = vec![f.to_string_lossy().replace('\\', "/")];
            for root in roots {
                if let Ok(rel) = f.strip_prefix(root) {
                    keys.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            keys
        })
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    for row in &table.rows {
        let wanted = row.path.replace('\\', "/");
        let exact = keys.iter().position(|k| {
            k.iter()
                .any(|key| *key == wanted || key.ends_with(&format!("/{wanted}")))
        });
        let by_name = || {
            let name = wanted.rsplit('/').next().unwrap_or(&wanted);
            let mut hits = names.iter().enumerate().filter(|(_, n)| *n == name);
            match (hits.next(), hits.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        };
        match exact.or_else(by_name) {
            Some(i) => by_file.entry(i).or_default().push(row),
            None => unmatched.push(row.path.clone()),
        }
    }
    (by_file, unmatched)
}

/// Imports `paths` into the project; `progress(done, total)` after each file.
pub fn import(
    project: &mut Project,
    paths: &[PathBuf],
    labels: Option<&LabelTable>,
    options: &ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, StoreError> {
    if !(0.0..1.0).contains(&options.test_fraction) {
        return Err(StoreError::Invalid(format!(
            "test fraction {} must be in [0, 1)",
            options.test_fraction
        )));
    }
    if let Some(table) = labels {
        table.check(project)?;
    }
    let files = collect_files(paths)?;
    let roots: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
    let empty = LabelTable::default();
    let (rows_by_file, unmatched) = match_rows(&files, &roots, labels.unwrap_or(&empty));
    let target = project.schema().target.clone();

    // Draw the test pool first, stratified by the target label where the CSV gives one.
    let mut strata: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    let mut explicit_pool: HashMap<usize, Pool> = HashMap::new();
    for i in 0..files.len() {
        let rows = rows_by_file.get(&i);
        if let Some(pool) = rows.and_then(|r| r.iter().find_map(|row| row.pool)) {
            explicit_pool.insert(i, pool);
            continue;
        }
        let label = rows.and_then(|r| r.iter().find_map(|row| row.values.get(&target).cloned()));
        strata.entry(label).or_default().push(i);
    }
    let mut rng = Rng::new(options.seed);
    let mut in_test = vec![false; files.len()];
    for members in strata.values_mut() {
        // The project's seeded generator: same seed, same split.
        rng.shuffle(members);
        let count = (options.test_fraction * members.len() as f64).round() as usize;
        for &i in members.iter().take(count) {
            in_test[i] = true;
        }
    }
    for (&i, &pool) in &explicit_pool {
        in_test[i] = pool == Pool::Test;
    }

    let mut report = ImportReport {
        unmatched_labels: unmatched,
        ..Default::default()
    };
    for (i, file) in files.iter().enumerate() {
        let pool = if in_test[i] {
            Pool::Test
        } else {
            Pool::Unlabeled
        };
        let id = match project.add_item(file, pool)? {
            AddOutcome::Added(id) => {
                report.added += 1;
                if pool == Pool::Test {
                    report.test += 1;
                }
                id
            }
            AddOutcome::Duplicate(existing) => {
                report.duplicates.push((file.clone(), existing));
                // The same image under another name: its labels belong to the item already there.
                existing
            }
        };
        for row in rows_by_file.get(&i).into_iter().flatten() {
            let annotator = row.annotator.as_deref().unwrap_or(&options.annotator);
            let assignments: Vec<(&str, Option<&str>)> = row
                .values
                .iter()
                .map(|(f, v)| (f.as_str(), Some(v.as_str())))
                .collect();
            if !assignments.is_empty() {
                project.set_labels(id, annotator, &assignments)?;
                report.labels_applied += assignments.len();
            }
        }
        progress(i + 1, files.len());
    }
    Ok(report)
}
