//! Importing files into a project: folders walked recursively, exact
//! duplicates reported, existing labels from a CSV applied, and a test pool
//! drawn (stratified by label, fixed seed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::names::EXPORT_COLUMNS;
use super::{
    ADJUDICATOR, AddOutcome, IMPORT_ANNOTATOR, Pool, Project, StoreError, annotator_name, csv,
};
use crate::rng::Rng;

/// Extensions Loupe imports (`.img` is reached through its `.hdr`).
const IMPORTABLE: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nii", ".nii.gz", ".hdr", ".hdr.gz",
];

/// Folders of a project that hold Loupe's own files, never items.
const OWN_FOLDERS: [&str; 3] = ["cache", "runs", super::label_maps::LABEL_MAPS_FOLDER];

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
    /// As written, surrounding spaces dropped; checked by [`LabelTable::check`].
    pub annotator: Option<String>,
    pub pool: Option<Pool>,
    /// When the row's labels were made (UTC, the store's timestamp format),
    /// from an export's `labeled_at` column: what decides whether it may
    /// replace a label already in the project.
    pub labeled_at: Option<String>,
    pub values: BTreeMap<String, String>,
}

impl LabelTable {
    /// Reads either `path,field=value,…` lines (no header) or a table with a
    /// `path` column and one column per field (as `loupe export --format csv`
    /// writes). A column that is neither a field of the schema nor one of
    /// the export's own columns is refused by name: a misspelled field must
    /// not be dropped silently.
    pub fn parse(text: &str, fields: &[String]) -> Result<Self, String> {
        let rows = csv::parse_rows(text)?;
        let Some(first) = rows.first() else {
            return Ok(Self::default());
        };
        let has_header = first.cells.iter().any(|c| c.trim() == "path");
        let mut out = Vec::new();
        if has_header {
            let header: Vec<&str> = first.cells.iter().map(|c| c.trim()).collect();
            for (index, name) in header.iter().enumerate() {
                if header[..index].contains(name) && !name.is_empty() {
                    return Err(format!("column {name:?} appears twice in the header"));
                }
                let known = EXPORT_COLUMNS.contains(name) || fields.iter().any(|f| f == name);
                let blank_column = name.is_empty()
                    && rows[1..]
                        .iter()
                        .all(|r| r.cells.get(index).is_none_or(|c| c.trim().is_empty()));
                if !known && !blank_column {
                    return Err(format!(
                        "column {name:?} is not a field of this project ({}) nor one of Loupe's own columns ({})",
                        fields.join(", "),
                        EXPORT_COLUMNS.join(", ")
                    ));
                }
            }
            let column = |name: &str| header.iter().position(|c| *c == name);
            let path_col = column("path").ok_or("no path column")?;
            let annotator_col = column("annotator");
            let pool_col = column("pool");
            let labeled_at_col = column("labeled_at");
            let field_cols: Vec<(String, usize)> = fields
                .iter()
                .filter_map(|f| column(f).map(|c| (f.clone(), c)))
                .collect();
            for row in &rows[1..] {
                let cell = |c: usize| {
                    row.cells
                        .get(c)
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                };
                let path = cell(path_col);
                if path.is_empty() {
                    return Err(format!("line {}: empty path", row.line));
                }
                let values = field_cols
                    .iter()
                    .map(|(f, c)| (f.clone(), cell(*c)))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                let pool = match pool_col.map(cell).filter(|p| !p.is_empty()) {
                    None => None,
                    Some(text) => Some(Pool::parse(&text).ok_or_else(|| {
                        format!(
                            "line {}: pool {text:?} is not one of labeled, unlabeled, test",
                            row.line
                        )
                    })?),
                };
                let labeled_at = match labeled_at_col.map(cell).filter(|t| !t.is_empty()) {
                    None => None,
                    Some(text) => Some(utc_timestamp(&text).ok_or_else(|| {
                        format!(
                            "line {}: labeled_at {text:?} is not a UTC time like 2026-01-31T14:05:09.123Z",
                            row.line
                        )
                    })?),
                };
                out.push(LabelRow {
                    line: row.line,
                    path,
                    annotator: annotator_col.map(cell).filter(|a| !a.is_empty()),
                    pool,
                    labeled_at,
                    values,
                });
            }
        } else {
            for row in &rows {
                let mut values = BTreeMap::new();
                for pair in &row.cells[1..] {
                    if pair.trim().is_empty() {
                        continue;
                    }
                    let (field, value) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("line {}: {pair:?} is not field=value", row.line))?;
                    values.insert(field.trim().to_string(), value.trim().to_string());
                }
                out.push(LabelRow {
                    line: row.line,
                    path: row.cells[0].trim().to_string(),
                    annotator: None,
                    pool: None,
                    labeled_at: None,
                    values,
                });
            }
        }
        Ok(Self { rows: out })
    }
}

/// A timestamp in the store's format (`YYYY-MM-DDTHH:MM:SS.fffZ`, UTC) so
/// that string order is time order; a space for the `T`, no fraction, or a
/// longer fraction are accepted. `None` when `text` is not such a time.
pub fn utc_timestamp(text: &str) -> Option<String> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', ' '])?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let date_parts: Vec<&str> = date.split('-').collect();
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let clock_parts: Vec<&str> = clock.split(':').collect();
    let valid = date_parts.len() == 3
        && digits(date_parts[0], 4)
        && digits(date_parts[1], 2)
        && digits(date_parts[2], 2)
        && clock_parts.len() == 3
        && clock_parts.iter().all(|p| digits(p, 2))
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let millis: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(3)
        .collect();
    Some(format!("{date}T{clock}.{millis}Z"))
}

impl LabelTable {
    /// Reads and parses a labels CSV for `project`'s schema.
    pub fn read(path: &Path, project: &Project) -> Result<Self, StoreError> {
        let text = super::csv::read_text(path)?;
        Self::parse(&text, &project.schema().field_names())
            .map_err(|e| StoreError::Invalid(format!("{e}: {}", path.display())))
    }

    /// Checks every field, value and annotator before anything is imported,
    /// naming the CSV line of the first problem.
    pub fn check(&self, project: &Project, options: &ImportOptions) -> Result<(), StoreError> {
        for row in &self.rows {
            let at_line =
                |e: StoreError| StoreError::Invalid(format!("labels line {}: {e}", row.line));
            for (field, value) in &row.values {
                project.check_value(field, value).map_err(at_line)?;
            }
            if let Some(annotator) = &row.annotator {
                if annotator == ADJUDICATOR {
                    if !options.adjudications {
                        return Err(at_line(StoreError::Invalid(format!(
                            "annotator {ADJUDICATOR:?} is reserved: to restore an export's adjudicated labels, allow them (--adjudications, or \"Restore adjudicated labels\" in the window)"
                        ))));
                    }
                } else {
                    annotator_name(annotator).map_err(at_line)?;
                }
            }
        }
        Ok(())
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    /// Files whose content was already in the project: (file, existing item id).
    pub duplicates: Vec<(PathBuf, i64)>,
    /// Labels written from the CSV.
    pub labels_applied: usize,
    /// CSV labels the project already had (same annotator, same value).
    pub labels_unchanged: usize,
    /// CSV labels not applied because the project holds a newer label by
    /// the same annotator for the same field.
    pub labels_kept: Vec<KeptLabel>,
    /// Cases CSV: what a case the project already had kept over its row
    /// (`line N: case X: kept ct … (the row's …)`).
    pub cases_kept: Vec<String>,
    /// Cases CSV: a case file that is also another case's (same content).
    pub shared_files: Vec<String>,
    pub test: usize,
    /// CSV rows that matched no imported file.
    pub unmatched_labels: Vec<String>,
    /// Files and folders passed over, and why (unreadable, a link to a
    /// folder, not a regular file); the rest was imported.
    pub skipped: Vec<(PathBuf, String)>,
    /// Screening projects: DICOM photographs placed in their exam.
    pub placed_in_exams: usize,
    /// Screening projects: DICOM photographs imported but in no exam, and why.
    pub not_in_exams: Vec<(PathBuf, String)>,
}

/// A CSV label the import did not apply, and the label kept instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptLabel {
    pub line: usize,
    pub item_id: i64,
    pub annotator: String,
    pub field: String,
    /// The project's label (`None`: the annotator cleared the field).
    pub kept: Option<String>,
    pub offered: String,
}

/// Options for [`import`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub test_fraction: f64,
    pub seed: u64,
    /// Who the CSV's labels are recorded for when it names no annotator.
    pub annotator: String,
    /// Accept rows whose annotator is the reserved adjudicator (restoring
    /// an export); refused otherwise, so a CSV cannot adjudicate by accident.
    pub adjudications: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            test_fraction: 0.0,
            seed: 0,
            annotator: IMPORT_ANNOTATOR.into(),
            adjudications: false,
        }
    }
}

/// Importable files found under some paths, and what was passed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Sorted.
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// All importable files under `paths` (files as given, folders
/// recursively), sorted. Links to folders inside the walk are not followed
/// (two links to `.` would make it endless), and FIFOs, sockets and devices
/// are passed over (reading one blocks forever); so are unreadable folders
/// and broken links, each with a note, without stopping the rest. A path
/// given that does not exist is an error.
pub fn collect_files(paths: &[PathBuf]) -> Result<Collected, StoreError> {
    fn walk(dir: &Path, out: &mut Collected) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                out.skipped
                    .push((dir.to_path_buf(), format!("folder cannot be read: {e}")));
                return;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    out.skipped
                        .push((dir.to_path_buf(), format!("folder cannot be listed: {e}")));
                    continue;
                }
            };
            let path = entry.path();
            // `file_type` does not follow links.
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) => {
                    out.skipped.push((path, format!("cannot be read: {e}")));
                    continue;
                }
            };
            if kind.is_dir() {
                walk(&path, out);
            } else if is_importable(&path) || is_dicom(&path) {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_file() => out.files.push(path),
                    Ok(target) if target.is_dir() => out
                        .skipped
                        .push((path, "a link to a folder (not followed)".into())),
                    Ok(_) => out
                        .skipped
                        .push((path, "not a regular file (a pipe, socket or device)".into())),
                    Err(e) => out
                        .skipped
                        .push((path, format!("cannot be read ({e}): a broken link?"))),
                }
            } else if kind.is_symlink() && path.is_dir() {
                out.skipped
                    .push((path, "a link to a folder (not followed)".into()));
            }
        }
    }
    let mut out = Collected::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut out),
            Ok(meta) if meta.is_file() => out.files.push(path.clone()),
            Ok(_) => {
                return Err(StoreError::Invalid(format!(
                    "not a regular file or folder (a pipe, socket or device): {}",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Invalid(format!(
                    "no such file or folder: {}",
                    path.display()
                )));
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    out.skipped.sort();
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

/// DICOM is found by content (files are often named without `.dcm`).
fn is_dicom(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    !name.starts_with('.') && crate::volume::dicom::is_dicom_file(path)
}

/// DICOM files as items: one per series (or per 2-D image / multi-frame
/// file), never one per slice file. A series' path is its folder when the
/// folder holds nothing else, else `FOLDER#UID`; its identity is
/// [`super::series_identity`]. Files that are DICOM but hold no readable
/// image come back with the reason.
pub(super) fn dicom_items(files: &[PathBuf]) -> DicomItems {
    use crate::volume::dicom;
    let (headers, mut refused) = dicom::read_headers(files);
    let mut items = Vec::new();
    let mut photographs = Vec::new();
    for group in dicom::series::group(&headers) {
        if group.files.len() == 1 {
            let file = group.files[0].clone();
            if let Some((_, header)) = headers.iter().find(|(p, _)| *p == file) {
                photographs.push((
                    file.clone(),
                    DicomPhotograph {
                        patient_id: header.patient_id.trim().to_string(),
                        study_date: header.study_date.trim().to_string(),
                        laterality: header.laterality.trim().to_string(),
                    },
                ));
            }
            items.push((file, None));
            continue;
        }
        let folder = common_folder(&group.files);
        let under: Vec<_> = headers
            .iter()
            .filter(|(p, _)| p.starts_with(&folder))
            .cloned()
            .collect();
        let path = if under.len() == group.files.len() {
            folder.clone()
        } else {
            match dicom::series_entries(&folder, &under)
                .into_iter()
                .find(|e| e.files == group.files)
            {
                Some(entry) => entry.path,
                None => {
                    refused.push((
                        folder,
                        format!("series {} could not be named", group.series_uid),
                    ));
                    continue;
                }
            }
        };
        match super::series_identity(&group.series_uid, &group.files) {
            Ok(identity) => items.push((path, Some(identity))),
            Err(e) => refused.push((path, e.to_string())),
        }
    }
    DicomItems {
        items,
        refused,
        photographs,
    }
}

/// What [`dicom_items`] found.
pub(super) struct DicomItems {
    /// Item path and, for a series, its identity.
    pub items: Vec<(PathBuf, Option<String>)>,
    /// Files that are DICOM but hold no readable image, and why.
    pub refused: Vec<(PathBuf, String)>,
    /// Lone 2-D images (photographs) and where they say they were taken.
    pub photographs: Vec<(PathBuf, DicomPhotograph)>,
}

/// What a DICOM photograph says of its patient, study and eye.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DicomPhotograph {
    pub patient_id: String,
    /// `YYYYMMDD` as DICOM writes dates.
    pub study_date: String,
    /// Image Laterality (or Laterality): `R`, `L`, `B`, `U` or empty.
    pub laterality: String,
}

impl DicomPhotograph {
    /// The infant, exam date and eye, or why the photograph has none.
    fn place(&self) -> Result<(String, crate::rop::dates::Date, crate::rop::exam::Eye), String> {
        use crate::rop::exam::Eye;
        if self.patient_id.is_empty() {
            return Err("no PatientID".into());
        }
        let d = &self.study_date;
        let date = (d.len() == 8 && d.is_ascii())
            .then(|| {
                crate::rop::dates::Date::parse(&format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
            })
            .and_then(Result::ok)
            .ok_or_else(|| format!("StudyDate {d:?} is not a date as YYYYMMDD"))?;
        let eye = match self.laterality.as_str() {
            "R" => Eye::Right,
            "L" => Eye::Left,
            other => return Err(format!("laterality {other:?} is neither R nor L")),
        };
        Ok((self.patient_id.clone(), date, eye))
    }
}

/// In a screening project, DICOM photographs go into their exams: infant
/// by PatientID, exam by StudyDate, eye by (Image) Laterality, field
/// `other` (DICOM names no retinal field). Photographs already in an exam
/// stay where they are; those that name no patient, date or eye are
/// imported but not placed, and the report says why. One transaction.
fn place_dicom_photographs(
    project: &mut Project,
    photographs: &[(PathBuf, DicomPhotograph)],
    report: &mut ImportReport,
) -> Result<(), StoreError> {
    use super::exams::{ExamImageRow, ExamsCsv, Infant};
    // The stored paths of items already in an exam, read once.
    let placed = project.exam_images()?;
    let placed_paths: std::collections::HashSet<String> = project
        .items()?
        .into_iter()
        .filter(|item| placed.contains_key(&item.id))
        .map(|item| item.path)
        .collect();
    let infants = project.infants()?;
    let mut rows = Vec::new();
    for (line, (path, photograph)) in photographs.iter().enumerate() {
        let (patient, exam_date, eye) = match photograph.place() {
            Ok(place) => place,
            Err(why) => {
                report.not_in_exams.push((path.clone(), why));
                continue;
            }
        };
        if placed_paths.contains(&project.stored_path(path)) {
            continue;
        }
        // Birth details come from the store when the infant is there (a
        // photograph carries none Loupe keeps).
        let infant = infants.get(&patient).cloned().unwrap_or_default();
        rows.push(ExamImageRow {
            line: line + 1,
            infant: Infant {
                name: patient,
                ..infant
            },
            exam_date,
            device: None,
            eye,
            field: crate::rop::exam::RetinalField::Other,
            quality: None,
            path: path.clone(),
        });
    }
    if !rows.is_empty() {
        let placed = project.import_exams(&ExamsCsv { rows })?;
        report.placed_in_exams = placed.images_placed + placed.images_added;
    }
    Ok(())
}

/// The deepest folder holding every file.
fn common_folder(files: &[PathBuf]) -> PathBuf {
    let mut folder = files[0].parent().map(Path::to_path_buf).unwrap_or_default();
    for file in &files[1..] {
        while !file.starts_with(&folder) {
            match folder.parent() {
                Some(parent) => folder = parent.to_path_buf(),
                None => return PathBuf::new(),
            }
        }
    }
    folder
}

/// Every `/`-separated tail of a path: `a/b/x.png` → `a/b/x.png`, `b/x.png`, `x.png`.
fn tails(path: &str) -> impl Iterator<Item = &str> {
    std::iter::once(path).chain(path.match_indices('/').map(move |(i, _)| &path[i + 1..]))
}

/// CSV rows by the index of the file they label, and the paths of rows
/// that matched no file.
type Matched<'a> = (HashMap<usize, Vec<&'a LabelRow>>, Vec<String>);

/// Finds the CSV row's file: by a path that ends the same way (the full
/// path, or its end relative to any folder), else by a unique file name.
/// A row two files fit equally well is refused, naming both, before
/// anything is imported: labels never land on a guess. One map from path
/// tails to files, so a 50k-row CSV against 50k files takes a moment.
/// `absolute[i]` is `files[i]` with links and `..` resolved.
fn match_rows<'a>(
    files: &[PathBuf],
    absolute: &[PathBuf],
    table: &'a LabelTable,
) -> Result<Matched<'a>, StoreError> {
    let mut by_tail: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for (index, (file, absolute)) in files.iter().zip(absolute).enumerate() {
        let spellings = [file, absolute].map(|p| p.to_string_lossy().replace('\\', "/"));
        for spelling in &spellings {
            for tail in tails(spelling).filter(|t| !t.is_empty()) {
                by_tail.entry(tail.to_string()).or_default().insert(index);
            }
        }
    }
    let mut by_file: HashMap<usize, Vec<&LabelRow>> = HashMap::new();
    let mut unmatched = Vec::new();
    for row in &table.rows {
        let wanted = row.path.replace('\\', "/");
        let wanted = wanted.trim_start_matches("./");
        let name = wanted.rsplit('/').next().unwrap_or(wanted);
        let candidates = by_tail
            .get(wanted)
            .or_else(|| by_tail.get(name))
            .map(|set| set.iter().copied().collect::<Vec<_>>())
            .unwrap_or_default();
        match candidates[..] {
            [] => unmatched.push(row.path.clone()),
            [index] => by_file.entry(index).or_default().push(row),
            [first, second, ..] => {
                return Err(StoreError::Invalid(format!(
                    "labels line {}: {:?} fits {} files, e.g. {} and {}: write enough of the path to tell them apart",
                    row.line,
                    row.path,
                    candidates.len(),
                    files[first].display(),
                    files[second].display()
                )));
            }
        }
    }
    Ok((by_file, unmatched))
}

/// Imports `paths` into the project; `progress(done, total)` after each file.
///
/// CSV labels follow one rule: a CSV label never replaces a newer label by
/// the same annotator for the same field. It is written when the annotator
/// has no label for the field yet, or when the row's `labeled_at` is later
/// than the annotator's current label; the same value is left as it is
/// (re-importing an export changes nothing); otherwise the project's label
/// is kept and the report says so.
pub fn import(
    project: &mut Project,
    paths: &[PathBuf],
    labels: Option<&LabelTable>,
    options: &ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, StoreError> {
    super::split::check_test_fraction("test fraction", options.test_fraction)
        .map_err(StoreError::Invalid)?;
    let default_annotator = annotator_name(&options.annotator)?;
    if let Some(table) = labels {
        table.check(project, options)?;
    }
    let Collected { files, mut skipped } = collect_files(paths)?;
    // DICOM files become one item per series; the rest one item per file.
    let (dicom_files, mut files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| !crate::volume::is_nifti_name(f) && crate::volume::dicom::is_dicom_file(f));
    let mut identities: HashMap<PathBuf, String> = HashMap::new();
    let mut photographs = Vec::new();
    if !dicom_files.is_empty() {
        let DicomItems {
            items,
            refused,
            photographs: found,
        } = dicom_items(&dicom_files);
        skipped.extend(refused);
        photographs = found;
        for (path, identity) in items {
            if let Some(identity) = identity {
                identities.insert(path.clone(), identity);
            }
            files.push(path);
        }
        files.sort();
        files.dedup();
    }
    // Importing the project folder itself must not take in Loupe's own
    // files (thumbnails are PNGs too).
    let own: Vec<PathBuf> = OWN_FOLDERS
        .iter()
        .filter_map(|f| std::fs::canonicalize(project.files_root().join(f)).ok())
        .collect();
    let (files, absolute): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .map(|f| {
            let absolute = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            (f, absolute)
        })
        .filter(|(f, absolute)| {
            let own_file = own.iter().any(|o| absolute.starts_with(o));
            if own_file {
                skipped.push((
                    f.clone(),
                    "Loupe's own file (thumbnail cache, a run or a painted label map)".into(),
                ));
            }
            !own_file
        })
        .unzip();
    // A file that does not decode (empty, truncated, not an image under an
    // image's name) is named in the report, not made an item.
    let (files, absolute) = decodable(files, absolute, &identities, &mut skipped);
    let empty = LabelTable::default();
    let (rows_by_file, unmatched) = match_rows(&files, &absolute, labels.unwrap_or(&empty))?;
    let target = project.schema().target.clone();

    let in_test = draw_test_pool(files.len(), &rows_by_file, &target, options);

    let mut report = ImportReport {
        unmatched_labels: unmatched,
        skipped,
        ..Default::default()
    };
    for (i, file) in files.iter().enumerate() {
        let pool = if in_test[i] {
            Pool::Test
        } else {
            Pool::Unlabeled
        };
        let added = match identities.get(file) {
            Some(identity) => project.add_item_with_identity(file, identity, pool),
            None => project.add_item(file, pool),
        };
        let id = match added {
            Ok(AddOutcome::Added(id)) => {
                report.added += 1;
                if pool == Pool::Test {
                    report.test += 1;
                }
                id
            }
            Ok(AddOutcome::Duplicate(existing)) => {
                report.duplicates.push((file.clone(), existing));
                // The same image under another name: its labels belong to the item already there.
                existing
            }
            // One unreadable file is reported; the rest are imported.
            Err(StoreError::Io { source, .. }) => {
                report
                    .skipped
                    .push((file.clone(), format!("cannot be read: {source}")));
                progress(i + 1, files.len());
                continue;
            }
            Err(other) => return Err(other),
        };
        for row in rows_by_file.get(&i).into_iter().flatten() {
            merge_row(project, id, row, &default_annotator, &mut report)?;
        }
        progress(i + 1, files.len());
    }
    if project.schema().grades_exams() && !photographs.is_empty() {
        place_dicom_photographs(project, &photographs, &mut report)?;
    }
    Ok(report)
}

/// The files (and their absolute paths) that decode, checked in parallel;
/// the others go to `skipped` with why. DICOM series (by identity) were
/// read already.
fn decodable(
    files: Vec<PathBuf>,
    absolute: Vec<PathBuf>,
    identities: &HashMap<PathBuf, String>,
    skipped: &mut Vec<(PathBuf, String)>,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    use rayon::prelude::*;
    let verdicts: Vec<Option<String>> = files
        .par_iter()
        .map(|file| {
            if identities.contains_key(file) {
                return None;
            }
            crate::volume::check_decodes(file)
                .err()
                .map(|e| format!("does not decode: {e}"))
        })
        .collect();
    let mut kept = (Vec::new(), Vec::new());
    for ((file, absolute), verdict) in files.into_iter().zip(absolute).zip(verdicts) {
        match verdict {
            Some(why) => skipped.push((file, why)),
            None => {
                kept.0.push(file);
                kept.1.push(absolute);
            }
        }
    }
    kept
}

/// Which files go to the test pool: a pool the labels CSV names, else a
/// seeded draw of the test fraction within each target label (the
/// project's seeded generator: same seed, same split).
fn draw_test_pool(
    count: usize,
    rows_by_file: &HashMap<usize, Vec<&LabelRow>>,
    target: &str,
    options: &ImportOptions,
) -> Vec<bool> {
    let mut strata: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    let mut explicit_pool: HashMap<usize, Pool> = HashMap::new();
    for i in 0..count {
        let rows = rows_by_file.get(&i);
        if let Some(pool) = rows.and_then(|r| r.iter().find_map(|row| row.pool)) {
            explicit_pool.insert(i, pool);
            continue;
        }
        let label = rows.and_then(|r| r.iter().find_map(|row| row.values.get(target).cloned()));
        strata.entry(label).or_default().push(i);
    }
    let mut rng = Rng::new(options.seed);
    let mut in_test = vec![false; count];
    for members in strata.values_mut() {
        rng.shuffle(members);
        let count = super::split::share(options.test_fraction, members.len());
        for &i in members.iter().take(count) {
            in_test[i] = true;
        }
    }
    for (&i, &pool) in &explicit_pool {
        in_test[i] = pool == Pool::Test;
    }
    in_test
}

/// One labels-CSV row merged into item `id` (its annotator, else the
/// import's), counted into `report`; a label already there is kept.
fn merge_row(
    project: &mut Project,
    id: i64,
    row: &LabelRow,
    default_annotator: &str,
    report: &mut ImportReport,
) -> Result<(), StoreError> {
    let annotator = row.annotator.as_deref().unwrap_or(default_annotator);
    let merged = project.merge_labels(id, annotator, &row.values, row.labeled_at.as_deref())?;
    report.labels_applied += merged.applied;
    report.labels_unchanged += merged.unchanged;
    report.labels_kept.extend(
        merged
            .kept
            .into_iter()
            .map(|(field, kept, offered)| KeptLabel {
                line: row.line,
                item_id: id,
                annotator: annotator.to_string(),
                field,
                kept,
                offered,
            }),
    );
    Ok(())
}
