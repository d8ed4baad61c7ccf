//! Painted label maps: one NIfTI uint8 volume per item and annotator, on
//! the item's voxel grid (same shape and affine), in the project's
//! `label-maps/` folder. Every save writes the whole file atomically
//! (temporary file, fsync, rename) and then appends a row (item,
//! annotator, labeled voxels, time) to the store: a killed process leaves
//! the map of its last finished stroke. Export writes
//! `<case>_labels.nii.gz` per case and annotator; import brings such maps
//! back, refusing one whose grid differs from its case's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::db::{Sql, Tx, args};

use super::names::{ExportFolder, file_name_for};
use super::schema::{PaintLabel, brats_paint_labels, check_paint_labels};
use super::{Item, Project, StoreError, check_stored_annotator};
use crate::paint;
use crate::volume::{self, Volume};

/// The project's folder of painted maps (never imported as items).
pub const LABEL_MAPS_FOLDER: &str = "label-maps";

/// The suffix export writes and import looks for: `<case>_labels.nii.gz`.
pub const LABELS_SUFFIX: &str = "_labels";

/// An annotator's current map of an item.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LabelMapRecord {
    pub item_id: i64,
    pub annotator: String,
    /// Relative to the project folder.
    pub file: String,
    /// Voxels with a label other than 0 at the last save.
    pub labeled_voxels: i64,
    pub saved_at: String,
}

/// The map a model learns a case from when several annotators painted
/// it: the most recently saved (ties: the first annotator by name).
pub fn newest(records: &[LabelMapRecord]) -> Option<&LabelMapRecord> {
    records
        .iter()
        .rev()
        .max_by(|a, b| a.saved_at.cmp(&b.saved_at))
}

/// A map's geometry (shape, affine, voxel sizes) taken from its case, with
/// the label voxels as uint8: what is written to disk.
pub fn map_volume(case: &Volume, voxels: Vec<u8>) -> Volume {
    let spatial: Vec<usize> = case.shape.iter().take(3).copied().collect::<Vec<_>>();
    Volume {
        path: PathBuf::new(),
        format: volume::FileFormat::Nifti1,
        shape: spatial,
        channels: 1,
        datatype: Some(2),
        endianness: volume::Endianness::Little,
        world_from_voxel: case.world_from_voxel,
        pixdim: [case.pixdim[0], case.pixdim[1], case.pixdim[2], 1.0],
        scaling: None,
        xyzt_units: case.xyzt_units & 0x07,
        description: "loupe label map".into(),
        data: volume::VoxelData::U8(voxels),
        dicom: None,
    }
}

/// Why a map does not fit its case, or `None` when it does: same spatial
/// shape, one channel, one time point, and affines within
/// [`volume::GRID_TOLERANCE_MM`].
pub fn grid_mismatch(map: &Volume, case: &Volume) -> Option<String> {
    if map.spatial_shape() != case.spatial_shape() {
        return Some(format!(
            "its grid is {:?} voxels, the case's is {:?}",
            map.spatial_shape(),
            case.spatial_shape()
        ));
    }
    if map.channels != 1 {
        return Some(format!(
            "it has {} channels, a label map has 1",
            map.channels
        ));
    }
    if map.shape.len() == 4 && map.shape[3] > 1 {
        return Some(format!(
            "it has {} time points, a label map has 1",
            map.shape[3]
        ));
    }
    let worst = volume::affine_difference_mm(map, case);
    (worst > volume::GRID_TOLERANCE_MM).then(|| {
        format!(
            "its affine (voxel → world) differs from the case's by up to {worst:.3} mm (voxel sizes {:?} vs {:?} mm)",
            &map.pixdim[..3],
            &case.pixdim[..3]
        )
    })
}

/// A map's voxels as labels 0–255, or why they are not labels (a value
/// that is not a whole number in 0–255, naming the first such voxel).
pub fn label_voxels(map: &Volume) -> Result<Vec<u8>, String> {
    let n = map.spatial_shape().iter().product::<usize>();
    let mut out = Vec::with_capacity(n);
    for index in 0..n {
        let value = map.value_at(index).unwrap_or(0.0);
        if !(value.fract() == 0.0 && (0.0..=f64::from(paint::MAX_LABEL)).contains(&value)) {
            let shape = map.spatial_shape();
            let (i, j, k) = (
                index % shape[0],
                index / shape[0] % shape[1],
                index / shape[0] / shape[1],
            );
            return Err(format!(
                "voxel ({i}, {j}, {k}) holds {value}, not a label (whole numbers 0–255)"
            ));
        }
        out.push(value as u8);
    }
    Ok(out)
}

fn annotator_file_name(annotator: &str) -> Result<String, StoreError> {
    // Two names that clean to the same file name ("a/b", "a_b") stay apart by the hash.
    Ok(format!(
        "{}-{}.nii.gz",
        super::names::safe_file_name(annotator)?,
        super::names::short_hash(annotator)
    ))
}

/// A case's name: its file name without the image extension.
pub fn case_name(item: &Item) -> String {
    let name = Path::new(&item.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for ext in [
        ".nii.gz", ".nii", ".hdr.gz", ".hdr", ".img.gz", ".img", ".png", ".jpg", ".jpeg", ".tif",
        ".tiff", ".bmp",
    ] {
        if lower.ends_with(ext) {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    name
}

/// An item's name as a case: the name it was imported under (a case of
/// several modalities), else its file name without the image extension.
fn name_of(item: &Item, case_names: &BTreeMap<i64, String>) -> String {
    case_names
        .get(&item.id)
        .cloned()
        .unwrap_or_else(|| case_name(item))
}

/// Export names per item: the case name, or `<case>-item<id>` where two
/// items share one; [`file_name_for`] then makes each a file name of its own.
fn export_names(items: &[Item], case_names: &BTreeMap<i64, String>) -> HashMap<i64, String> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for item in items {
        *count.entry(name_of(item, case_names)).or_default() += 1;
    }
    items
        .iter()
        .map(|item| {
            let name = name_of(item, case_names);
            let unique = count.get(&name).copied().unwrap_or(0) == 1;
            (
                item.id,
                if unique {
                    name
                } else {
                    format!("{name}-item{}", item.id)
                },
            )
        })
        .collect()
}

impl Project {
    /// The structures painted in this project: the list set in the window,
    /// else the schema's, else BraTS's.
    pub fn paint_labels(&self) -> Vec<PaintLabel> {
        let stored: Option<String> = self
            .db
            .row(
                "SELECT value FROM meta WHERE key = 'paint_labels'",
                args![],
                |r| r.get(0),
            )
            .ok();
        stored
            .and_then(|text| serde_json::from_str::<Vec<PaintLabel>>(&text).ok())
            .filter(|l| !l.is_empty() && check_paint_labels(l).is_ok())
            .or_else(|| Some(self.schema().paint_labels.clone()).filter(|l| !l.is_empty()))
            .unwrap_or_else(brats_paint_labels)
    }

    /// Replaces the project's label list (checked by [`check_paint_labels`]).
    pub fn set_paint_labels(&mut self, labels: &[PaintLabel]) -> Result<(), StoreError> {
        check_paint_labels(labels).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let text = serde_json::to_string(labels).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.write(|tx| super::set_meta(tx, "paint_labels", &text))
    }

    /// Where an annotator's map of an item lives (relative to the project).
    pub fn label_map_file(&self, item_id: i64, annotator: &str) -> Result<String, StoreError> {
        Ok(format!(
            "{LABEL_MAPS_FOLDER}/{item_id}/{}",
            annotator_file_name(annotator)?
        ))
    }

    /// Saves an annotator's map of an item: the file atomically, then the
    /// row, both under the project's write lock (across workstations on
    /// PostgreSQL), so the newest row always names the newest file. `case`
    /// is the item's image (its grid is the map's).
    pub fn save_label_map(
        &mut self,
        item_id: i64,
        annotator: &str,
        case: &Volume,
        voxels: &[u8],
    ) -> Result<PathBuf, StoreError> {
        let target = MapTarget::new(self, item_id, annotator, case)?;
        self.write(|tx| target.write(tx, voxels))?;
        Ok(target.files_root.join(&target.relative))
    }

    /// Changes an annotator's map of an item in one step no other writer
    /// comes between: the current map (zeros if none) is read, `edit`
    /// changes it and says whether it did, and then the file is written and
    /// its row added — all under the write lock, so two strokes sent at once
    /// (two workstations of one grader, two scripts) both land. Returns the
    /// map as it now is and whether it was saved.
    pub fn edit_label_map(
        &mut self,
        item_id: i64,
        annotator: &str,
        case: &Volume,
        edit: impl FnOnce(&mut Vec<u8>) -> Result<bool, StoreError>,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        let target = MapTarget::new(self, item_id, annotator, case)?;
        let files_root = self.files_root().to_path_buf();
        self.write(|tx| {
            let current: Option<String> = tx
                .query_opt(
                    "SELECT file FROM label_maps WHERE item_id = ?1 AND annotator = ?2 \
                     ORDER BY id DESC LIMIT 1",
                    args![item_id, annotator],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            let mut map = match current {
                Some(file) => read_map_file(&files_root.join(file), case)?,
                None => vec![0u8; case.spatial_shape().iter().product()],
            };
            let changed = edit(&mut map)?;
            if changed {
                target.write(tx, &map)?;
            }
            Ok((map, changed))
        })
    }

    /// Every item's current maps (the latest save per annotator), by item.
    pub fn all_label_maps(&self) -> Result<BTreeMap<i64, Vec<LabelMapRecord>>, StoreError> {
        self.query_label_maps(None)
    }

    /// An item's current maps, one per annotator.
    pub fn label_maps(&self, item_id: i64) -> Result<Vec<LabelMapRecord>, StoreError> {
        Ok(self
            .query_label_maps(Some(item_id))?
            .remove(&item_id)
            .unwrap_or_default())
    }

    fn query_label_maps(
        &self,
        item_id: Option<i64>,
    ) -> Result<BTreeMap<i64, Vec<LabelMapRecord>>, StoreError> {
        // A project on read-only media that predates painting has no table: no maps.
        if !self.has_table("label_maps")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT item_id, annotator, file, labeled_voxels, created_at FROM label_maps m
                 WHERE (CAST(?1 AS BIGINT) IS NULL OR item_id = ?1)
                   AND id = (SELECT max(id) FROM label_maps n
                             WHERE n.item_id = m.item_id AND n.annotator = m.annotator)
                 ORDER BY item_id, annotator COLLATE BINARY",
            args![item_id],
            |r| {
                Ok(LabelMapRecord {
                    item_id: r.get(0)?,
                    annotator: r.get(1)?,
                    file: r.get(2)?,
                    labeled_voxels: r.get(3)?,
                    saved_at: r.get(4)?,
                })
            },
        )?;
        let mut out: BTreeMap<i64, Vec<LabelMapRecord>> = BTreeMap::new();
        for row in rows {
            let row = row?;
            out.entry(row.item_id).or_default().push(row);
        }
        Ok(out)
    }

    /// A saved map's voxels, checked against its case's grid.
    pub fn read_label_map(
        &self,
        record: &LabelMapRecord,
        case: &Volume,
    ) -> Result<Vec<u8>, StoreError> {
        read_map_file(&self.files_root().join(&record.file), case)
    }
}

/// The largest map file an offline copy sends back (a map is one byte a
/// voxel before compression; 1 GiB is far past any case Loupe opens).
pub const MAX_MAP_FILE_BYTES: u64 = 1 << 30;

/// A map as it is written into a project: its file's bytes and its row.
/// Painted here ([`Project::save_label_map`]) or elsewhere (an offline
/// copy's, carried either way).
pub struct MapFile {
    pub item_id: i64,
    pub annotator: String,
    pub labeled_voxels: i64,
    /// When it was painted elsewhere; `None`: now.
    pub created_at: Option<String>,
    /// The NIfTI file's bytes.
    pub bytes: Vec<u8>,
}

impl MapFile {
    /// Reads a map's file from `files_root` (bounded).
    pub fn read(files_root: &Path, record: &LabelMapRecord) -> Result<Self, StoreError> {
        let path = files_root.join(&record.file);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(&path).map_err(io)?.len();
        if size > MAX_MAP_FILE_BYTES {
            return Err(StoreError::Invalid(format!(
                "{}: a label map of {size} bytes is larger than {MAX_MAP_FILE_BYTES}",
                path.display()
            )));
        }
        Ok(Self {
            item_id: record.item_id,
            annotator: record.annotator.clone(),
            labeled_voxels: record.labeled_voxels,
            created_at: Some(record.saved_at.clone()),
            bytes: std::fs::read(&path).map_err(io)?,
        })
    }

    /// The one place a map file and its row are made, inside the write
    /// transaction `tx`: the file at `files_root/relative` atomically, then
    /// its row, and — where maps are what the project learns — the item's
    /// pool, as a target value moves it (elsewhere a map is an annotation
    /// beside the class label and the item keeps its pool).
    pub(crate) fn add_to(
        &self,
        tx: &Tx,
        files_root: &Path,
        relative: &str,
        labels_its_item: bool,
    ) -> Result<(), StoreError> {
        let path = files_root.join(relative);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        crate::durable::write_atomic(&path, &self.bytes).map_err(io)?;
        let (item, who, labeled) = (self.item_id, self.annotator.as_str(), self.labeled_voxels);
        match &self.created_at {
            Some(at) => tx.execute(
                "INSERT INTO label_maps (item_id, annotator, file, labeled_voxels, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![item, who, relative, labeled, at.as_str()],
            )?,
            None => tx.execute(
                "INSERT INTO label_maps (item_id, annotator, file, labeled_voxels) \
                 VALUES (?1, ?2, ?3, ?4)",
                args![item, who, relative, labeled],
            )?,
        };
        if labels_its_item {
            tx.execute(
                "UPDATE items SET pool = 'labeled' WHERE id = ?1 AND pool = 'unlabeled'",
                args![item],
            )?;
        }
        Ok(())
    }
}

/// A map file's voxels, checked against its case's grid.
fn read_map_file(path: &Path, case: &Volume) -> Result<Vec<u8>, StoreError> {
    let map = volume::load(path).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if let Some(why) = grid_mismatch(&map, case) {
        return Err(StoreError::Invalid(format!(
            "label map does not fit its case: {why}: {}",
            path.display()
        )));
    }
    label_voxels(&map).map_err(|why| StoreError::Invalid(format!("{why}: {}", path.display())))
}

/// Where one annotator's map of one item is written, and how: the one
/// place a map file and its row are made (inside a write transaction).
struct MapTarget<'c> {
    item_id: i64,
    annotator: String,
    case: &'c Volume,
    relative: String,
    files_root: PathBuf,
    labels_its_item: bool,
}

impl<'c> MapTarget<'c> {
    fn new(
        project: &Project,
        item_id: i64,
        annotator: &str,
        case: &'c Volume,
    ) -> Result<Self, StoreError> {
        check_stored_annotator(annotator)?;
        let relative = project.label_map_file(item_id, annotator)?;
        Ok(Self {
            item_id,
            annotator: annotator.to_string(),
            case,
            files_root: project.files_root().to_path_buf(),
            relative,
            labels_its_item: project.schema().targets_label_maps(),
        })
    }

    /// The map encoded as NIfTI, written by [`MapFile::add_to`].
    fn write(&self, tx: &Tx, voxels: &[u8]) -> Result<(), StoreError> {
        let volume = map_volume(self.case, voxels.to_vec());
        let bytes =
            volume::nifti::encode_nifti1(&volume, true).map_err(|source| StoreError::Io {
                path: self.files_root.join(&self.relative),
                source,
            })?;
        MapFile {
            item_id: self.item_id,
            annotator: self.annotator.clone(),
            labeled_voxels: voxels.iter().filter(|&&v| v != 0).count() as i64,
            created_at: None,
            bytes,
        }
        .add_to(tx, &self.files_root, &self.relative, self.labels_its_item)
    }
}

/// Dice per label between two annotators, averaged over the items both painted.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MapAgreement {
    pub annotators: [String; 2],
    pub items: usize,
    /// Label → mean Dice over the items where either annotator used it.
    pub dice: BTreeMap<u8, f64>,
}

/// Dice per label for every pair of annotators with maps of the same items.
pub fn agreement(project: &Project) -> Result<Vec<MapAgreement>, StoreError> {
    // (annotator, annotator) → (items, label → (sum of Dice, items with the label)).
    type DiceSums = BTreeMap<u8, (f64, usize)>;
    let mut sums: BTreeMap<(String, String), (usize, DiceSums)> = BTreeMap::new();
    for (item_id, records) in project.all_label_maps()? {
        if records.len() < 2 {
            continue;
        }
        let item = project.item(item_id)?;
        let case = volume::load(&project.resolve(&item))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let maps: Vec<Vec<u8>> = records
            .iter()
            .map(|r| project.read_label_map(r, &case))
            .collect::<Result<_, _>>()?;
        for a in 0..records.len() {
            for b in a + 1..records.len() {
                let key = (records[a].annotator.clone(), records[b].annotator.clone());
                let entry = sums.entry(key).or_default();
                entry.0 += 1;
                for (label, dice) in paint::dice_per_label(&maps[a], &maps[b]) {
                    let s = entry.1.entry(label).or_default();
                    s.0 += dice;
                    s.1 += 1;
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|((a, b), (items, per_label))| MapAgreement {
            annotators: [a, b],
            items,
            dice: per_label
                .into_iter()
                .map(|(label, (sum, n))| (label, sum / n as f64))
                .collect(),
        })
        .collect())
}

/// Writes every current map as `OUT/<annotator>/<case>_labels.nii.gz`
/// (names by [`file_name_for`]), all or nothing into a new or empty `OUT`;
/// returns how many files were written.
pub fn export(project: &Project, out: &Path) -> Result<usize, StoreError> {
    let items = project.items()?;
    let names = export_names(&items, &project.case_names()?);
    let folder = ExportFolder::create(out)?;
    let mut written = 0;
    for (item_id, records) in project.all_label_maps()? {
        let Some(name) = names.get(&item_id) else {
            continue;
        };
        for record in records {
            let file = PathBuf::from(file_name_for(&record.annotator)?)
                .join(format!("{}{LABELS_SUFFIX}.nii.gz", file_name_for(name)?));
            let source = project.files_root().join(&record.file);
            let bytes = std::fs::read(&source).map_err(|e| StoreError::Io {
                path: source.clone(),
                source: e,
            })?;
            folder.write(&file, &bytes)?;
            written += 1;
        }
    }
    folder.finish()?;
    Ok(written)
}

/// What importing a folder of label maps did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapImport {
    pub imported: usize,
    /// Maps identical to the annotator's current one.
    pub unchanged: usize,
}

/// Brings `<case>_labels.nii[.gz]` files of `folder` in as `annotator`'s
/// maps, matched by case name. All or nothing: a file that matches no case
/// (or two), whose grid differs from its case's, whose values are not
/// labels, or that would replace a different map the annotator already
/// painted is refused, and then nothing is imported; the error lists every
/// such file and why.
pub fn import(
    project: &mut Project,
    folder: &Path,
    annotator: &str,
) -> Result<MapImport, StoreError> {
    let annotator = super::annotator_name(annotator)?;
    let files = map_files(folder)?;
    let items = project.items()?;
    let by_name = items_by_case_name(&items, &project.case_names()?);
    let current = project.all_label_maps()?;
    let mut problems = Vec::new();
    let mut ready: Vec<(i64, Volume, Vec<u8>)> = Vec::new();
    let mut unchanged = 0;
    let mut files_of_case: HashMap<&str, Vec<String>> = HashMap::new();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    for name in &names {
        files_of_case
            .entry(map_case_name(name))
            .or_default()
            .push(name.clone());
    }
    for (file, file_name) in files.iter().zip(&names) {
        let rivals = &files_of_case[map_case_name(file_name)];
        if rivals.len() > 1 {
            problems.push(format!(
                "{file_name}: {} name the same case; keep one",
                rivals.join(" and ")
            ));
            continue;
        }
        match check_map(project, file, &file_name, &by_name, &current, &annotator) {
            Ok(Some(map)) => ready.push(map),
            Ok(None) => unchanged += 1,
            Err(problem) => problems.push(format!("{file_name}: {problem}")),
        }
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(format!(
            "no label maps imported; {} file(s) refused:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )));
    }
    let imported = ready.len();
    for (item_id, case, voxels) in ready {
        project.save_label_map(item_id, &annotator, &case, &voxels)?;
    }
    Ok(MapImport {
        imported,
        unchanged,
    })
}

/// The case a `<case>_labels.nii[.gz]` file name names.
fn map_case_name(file_name: &str) -> &str {
    file_name
        .strip_suffix("_labels.nii.gz")
        .or_else(|| file_name.strip_suffix("_labels.nii"))
        .unwrap_or_default()
}

/// The `<case>_labels.nii[.gz]` files of `folder`, sorted; none is an error.
fn map_files(folder: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = std::fs::read_dir(folder).map_err(|source| StoreError::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_labels.nii.gz") || n.ends_with("_labels.nii"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(StoreError::Invalid(format!(
            "no <case>{LABELS_SUFFIX}.nii.gz files in {}",
            folder.display()
        )));
    }
    Ok(files)
}

/// The items a map file's case name can mean: by their own case name and
/// by the name the export gives them (`<case>-item<ID>` where names clash,
/// made a file name by [`file_name_for`]).
fn items_by_case_name<'a>(
    items: &'a [Item],
    case_names: &BTreeMap<i64, String>,
) -> HashMap<String, Vec<&'a Item>> {
    let mut by_name: HashMap<String, Vec<&Item>> = HashMap::new();
    let by_id: HashMap<i64, &Item> = items.iter().map(|i| (i.id, i)).collect();
    for item in items {
        by_name
            .entry(name_of(item, case_names))
            .or_default()
            .push(item);
    }
    for (id, name) in export_names(items, case_names) {
        let Some(item) = by_id.get(&id) else { continue };
        let own = name_of(item, case_names);
        let file = file_name_for(&name).unwrap_or_default();
        for alias in [name, file] {
            let list = by_name.entry(alias.clone()).or_default();
            if alias != own && !list.iter().any(|i| i.id == id) {
                list.push(item);
            }
        }
    }
    by_name
}

/// One map file checked against its item: the map ready to save, `None`
/// when the annotator's saved map is the same, or the problem.
fn check_map(
    project: &Project,
    file: &Path,
    file_name: &str,
    by_name: &HashMap<String, Vec<&Item>>,
    current: &BTreeMap<i64, Vec<LabelMapRecord>>,
    annotator: &str,
) -> Result<Option<(i64, Volume, Vec<u8>)>, String> {
    let case = map_case_name(file_name);
    let item = match by_name.get(case).map(Vec::as_slice) {
        Some([item]) => *item,
        Some(several) => {
            return Err(format!(
                "case name {case:?} matches {} items (export names them <case>-item<ID>)",
                several.len()
            ));
        }
        None => return Err(format!("no item of the project is named {case:?}")),
    };
    let case_volume = volume::load(&project.resolve(item))
        .map_err(|e| format!("its case cannot be read: {e}"))?;
    // The header first: a map claiming another grid is refused unread.
    let shape = case_volume.spatial_shape();
    if let Some(claimed) = volume::claimed_spatial_shape(file).map_err(|e| e.to_string())?
        && claimed != shape
    {
        return Err(format!(
            "does not fit case {:?} (item {}): its grid is {claimed:?} voxels, the case's is {shape:?}",
            item.path, item.id
        ));
    }
    let map = volume::load(file).map_err(|e| e.to_string())?;
    if let Some(why) = grid_mismatch(&map, &case_volume) {
        return Err(format!(
            "does not fit case {:?} (item {}): {why}",
            item.path, item.id
        ));
    }
    let voxels = label_voxels(&map)?;
    let existing = current
        .get(&item.id)
        .and_then(|records| records.iter().find(|r| r.annotator == annotator));
    if let Some(record) = existing {
        return match project.read_label_map(record, &case_volume) {
            Ok(old) if old == voxels => Ok(None),
            _ => Err(format!(
                "{annotator} already has a different map of item {} (import under another \
                 --annotator, or paint over it in the window)",
                item.id
            )),
        };
    }
    Ok(Some((item.id, case_volume, voxels)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::orientation::Affine;

    fn case(shape: [usize; 3], spacing: f64) -> Volume {
        let mut affine = Affine::IDENTITY;
        for a in 0..3 {
            affine.0[a][a] = spacing;
        }
        let mut v = map_volume(
            &Volume {
                path: PathBuf::new(),
                format: volume::FileFormat::Nifti1,
                shape: shape.to_vec(),
                channels: 1,
                datatype: Some(2),
                endianness: volume::Endianness::Little,
                world_from_voxel: affine,
                pixdim: [spacing, spacing, spacing, 1.0],
                scaling: None,
                xyzt_units: 2,
                description: String::new(),
                data: volume::VoxelData::U8(Vec::new()),
                dicom: None,
            },
            vec![0; shape.iter().product()],
        );
        v.description = "case".into();
        v
    }

    #[test]
    fn a_map_on_another_grid_is_refused_saying_how() {
        let base = case([4, 5, 6], 1.0);
        assert_eq!(grid_mismatch(&case([4, 5, 6], 1.0), &base), None);
        let shape = grid_mismatch(&case([4, 5, 7], 1.0), &base).unwrap();
        assert!(
            shape.contains("[4, 5, 7]") && shape.contains("[4, 5, 6]"),
            "{shape}"
        );
        let affine = grid_mismatch(&case([4, 5, 6], 2.0), &base).unwrap();
        assert!(
            affine.contains("differs") && affine.contains("1.000 mm"),
            "{affine}"
        );
    }

    #[test]
    fn only_whole_numbers_from_0_to_255_are_labels() {
        let mut map = case([2, 1, 1], 1.0);
        map.data = volume::VoxelData::F32(vec![1.0, 2.5]);
        map.datatype = Some(16);
        assert!(
            label_voxels(&map)
                .unwrap_err()
                .contains("voxel (1, 0, 0) holds 2.5")
        );
        map.data = volume::VoxelData::F32(vec![4.0, 0.0]);
        assert_eq!(label_voxels(&map).unwrap(), vec![4, 0]);
        map.data = volume::VoxelData::F32(vec![256.0, 0.0]);
        assert!(label_voxels(&map).is_err());
    }

    #[test]
    fn case_names_drop_the_image_extension() {
        let item = |path: &str| Item {
            id: 1,
            path: path.into(),
            content_hash: String::new(),
            pool: super::super::Pool::Unlabeled,
            added_at: String::new(),
        };
        assert_eq!(case_name(&item("a/BraTS_001.nii.gz")), "BraTS_001");
        assert_eq!(case_name(&item("fundus.PNG")), "fundus");
        assert_eq!(case_name(&item("x.hdr")), "x");
    }
}
