//! Training data from a project's pools: every input decoded once —
//! an image resized to the model's input, a case's volume resampled to a
//! cube, a case's tabular record encoded as numbers — normalised, and kept
//! in memory; and the validation split drawn from the labeled pool.

use std::collections::BTreeMap;

use crate::rng::Rng;
use crate::store::schema::{ColumnType, CropSetting, Schema};
use crate::store::{Pool, Project, StoreError};
use crate::volume::{self, Volume};

use super::config::{InputKind, TrainConfig};
use super::eyes::{EyeTable, LabelSource};

/// Marks a group number made from an item id rather than an infant.
const UNGROUPED: u64 = 1 << 48;

/// Turns an item's image or volume into the RGBA pixels a model sees
/// (width, height, pixels). The caller passes the viewer's middle-axial
/// renderer, so training shows the model what the clinician sees without
/// `train` depending on the renderer.
pub type Rasterize = fn(&Volume) -> (usize, usize, Vec<u8>);

/// Hounsfield units a CT volume is clipped to before scaling to [−1, 1]
/// (lung to bone: METHODS.md §3's teacher input).
pub const CT_WINDOW_HU: [f32; 2] = [-1000.0, 400.0];

/// Hounsfield units a CT series' slices are clipped to for a 2-D model
/// (METHODS.md §4): soft tissue to dense trabecular bone (W600/L140), so
/// the tens of HU that tell thin bone from healthy bone span a tenth of
/// the input's range rather than a fiftieth in the lung window.
pub const SERIES_WINDOW_HU: [f32; 2] = [-160.0, 440.0];

/// The inputs of one pool, sample after sample, with their labels. Every
/// sample has the same `shape` (channels first): `[3, S, S]` for images,
/// `[S, S, S]` for volumes, `[F, 1, 1]` for tabular records — the 4-D
/// batch every model's forward takes.
#[derive(Clone, Debug, Default)]
pub struct Images {
    pub ids: Vec<i64>,
    /// Class index of the target label, where known.
    pub labels: Vec<Option<usize>>,
    /// Channel-first values, sample after sample.
    pub pixels: Vec<f32>,
    pub shape: [usize; 3],
    /// Per sample, a frozen teacher's feature vector where the teacher
    /// could see the case (distillation); empty when no teacher guides.
    pub guidance: Vec<Option<Vec<f32>>>,
    /// Per sample, the group the validation split keeps together (an
    /// infant, under eye labels); empty when every sample stands alone.
    pub groups: Vec<u64>,
}

/// `[3, size, size]`: the shape of an RGB image sample.
pub fn image_shape(size: usize) -> [usize; 3] {
    [3, size, size]
}

impl Images {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Images {
        Images {
            ids: indices.iter().map(|&i| self.ids[i]).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            pixels: self.gather(indices),
            shape: self.shape,
            guidance: if self.guidance.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.guidance[i].clone()).collect()
            },
            groups: if self.groups.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.groups[i]).collect()
            },
        }
    }

    /// The samples whose ids are in `ids` (in this set's order).
    pub fn with_ids(&self, ids: &std::collections::HashSet<i64>) -> Images {
        let indices: Vec<usize> = (0..self.len())
            .filter(|&i| ids.contains(&self.ids[i]))
            .collect();
        self.subset(&indices)
    }

    /// Splits off about `fraction` of every class, drawn by `seed`, leaving
    /// at least one image of each class in training: (training, validation).
    /// The same seed gives every method the same split. Where samples are
    /// grouped, whole groups are drawn (a group's class: its most severe,
    /// i.e. highest, label), so no group sits on both sides.
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> (Images, Images) {
        let mut rng = Rng::new(seed ^ 0x5641_4c49_4441_5445); // "VALIDATE"
        // Units drawn: one per group, or one per sample; their members.
        let mut units: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for i in 0..self.len() {
            let unit = self.groups.get(i).copied().unwrap_or(i as u64);
            units.entry(unit).or_default().push(i);
        }
        let unit_class =
            |members: &Vec<usize>| members.iter().filter_map(|&i| self.labels[i]).max();
        let classes = self.labels.iter().flatten().max().map_or(0, |&c| c + 1);
        let mut held_out = Vec::new();
        for class in 0..classes {
            let mut members: Vec<&Vec<usize>> = units
                .values()
                .filter(|m| unit_class(m) == Some(class))
                .collect();
            rng.shuffle(&mut members);
            let count = crate::store::split::share_leaving_one(fraction, members.len());
            for unit in &members[..count] {
                held_out.extend_from_slice(unit);
            }
        }
        held_out.sort_unstable();
        let training: Vec<usize> = (0..self.len())
            .filter(|i| held_out.binary_search(i).is_err())
            .collect();
        (self.subset(&training), self.subset(&held_out))
    }

    /// Pixels of the images at `indices`, concatenated.
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let per_image = self.sample_len();
        indices
            .iter()
            .flat_map(|&i| {
                self.pixels[i * per_image..(i + 1) * per_image]
                    .iter()
                    .copied()
            })
            .collect()
    }
}

/// The three pools, ready to train on.
#[derive(Clone, Debug, Default)]
pub struct PoolData {
    pub classes: Vec<String>,
    pub labeled: Images,
    pub unlabeled: Images,
    pub test: Images,
    /// Items that could not be read (missing or broken files), skipped.
    pub skipped: Vec<(i64, String)>,
}

impl PoolData {
    /// The pool an item of `pool` with consensus `label` trains in: a
    /// labeled test item is scored, an unlabeled one cannot be (`None`).
    fn pool_for(&mut self, pool: Pool, label: Option<usize>) -> Option<&mut Images> {
        match (pool, label) {
            (Pool::Test, Some(_)) => Some(&mut self.test),
            (Pool::Test, None) => None,
            (Pool::Labeled, Some(_)) => Some(&mut self.labeled),
            _ => Some(&mut self.unlabeled),
        }
    }
}

/// Loads and decodes what a run reads from every item of the project:
/// images at `input_size`² pixels, a case modality's volumes at
/// `input_size`³ voxels, its series' k chosen slices (or every slice, for
/// a slice policy) at `input_size`² pixels, tabular records, or slices and
/// record fused (zero-filled and flagged where a case misses one). Cases
/// without what the run reads are left out and listed in `skipped`.
/// Labeled and test items use the consensus target label (adjudication
/// first); labeled items without one are treated as unlabeled. Under eye
/// labels ([`super::eyes`]) photographs take their eye's reference and are
/// grouped by infant. Images are
/// cut to their crop when the schema has one and the run crops.
pub fn load_for(
    project: &Project,
    config: &TrainConfig,
    rasterize: Rasterize,
) -> Result<PoolData, StoreError> {
    let input = config.input_kind();
    let schema = project.schema();
    let target = schema.target_field().clone();
    let mut data = PoolData {
        classes: target.values.clone(),
        ..Default::default()
    };
    check_project_has(schema, &input)?;
    let reader = ItemReader::new(project, config, rasterize)?;
    let record_width = reader.encoder.as_ref().map_or(0, RecordEncoder::width);
    let shape = sample_shape(&input, config.input_size, &reader.slices, record_width)?;
    for images in [&mut data.labeled, &mut data.unlabeled, &mut data.test] {
        images.shape = shape;
    }
    let eyes = match config.label_source {
        LabelSource::Images => None,
        LabelSource::Eyes => {
            super::eyes::check_stage_target(&target)?;
            Some(EyeTable::load(project)?)
        }
    };
    for item in project.items()? {
        let (label, pool) = match &eyes {
            None => {
                let label = project
                    .consensus(item.id, &target.name)?
                    .and_then(|v| target.value_index(&v));
                (label, item.pool)
            }
            // An eye's reference labels its photographs wherever they were
            // imported, except in the test pool.
            Some(eyes) => match (eyes.label_of(item.id), item.pool) {
                (Some(label), Pool::Test) => (Some(label), Pool::Test),
                (Some(label), _) => (Some(label), Pool::Labeled),
                (None, pool) => (None, pool),
            },
        };
        let pixels = match reader.read(&item) {
            Ok(p) => p,
            Err(e) => {
                data.skipped.push((item.id, e));
                continue;
            }
        };
        let Some(images) = data.pool_for(pool, label) else {
            continue; // a test item without a label cannot be scored
        };
        images.ids.push(item.id);
        images.labels.push(label);
        images.pixels.extend(pixels);
        if let Some(eyes) = &eyes {
            // Photographs outside any exam each stand alone.
            let group = eyes
                .infant_group(item.id)
                .unwrap_or(UNGROUPED | item.id as u64);
            images.groups.push(group);
        }
    }
    Ok(data)
}

/// What reading one item for a run needs, loaded once for the project:
/// its records and their encoder, its case files and names, the slice
/// selection (and a policy's picks), the crop setting and corrected boxes.
struct ItemReader<'a> {
    project: &'a Project,
    input: InputKind,
    size: usize,
    seed: u64,
    rasterize: Rasterize,
    records: BTreeMap<i64, BTreeMap<String, String>>,
    encoder: Option<RecordEncoder>,
    case_files: BTreeMap<i64, BTreeMap<String, std::path::PathBuf>>,
    cases: BTreeMap<i64, String>,
    slices: super::config::SliceConfig,
    policy: BTreeMap<i64, Vec<usize>>,
    crop: Option<crate::store::schema::CropSetting>,
    corrected: BTreeMap<i64, crate::store::crops::CropBox>,
}

impl<'a> ItemReader<'a> {
    fn new(
        project: &'a Project,
        config: &TrainConfig,
        rasterize: Rasterize,
    ) -> Result<Self, StoreError> {
        let input = config.input_kind();
        let schema = project.schema();
        let reads_record = matches!(input, InputKind::Record | InputKind::Fusion(_));
        let records = if reads_record {
            project.all_records()?
        } else {
            BTreeMap::new()
        };
        let encoder = reads_record.then(|| RecordEncoder::new(schema, &records));
        let case_files = if input.role().is_some() {
            project.all_case_files()?
        } else {
            BTreeMap::new()
        };
        let slices = config.slice_config();
        let policy = match (&input, slices.selection, &slices.policy) {
            (
                InputKind::Slices(role) | InputKind::Fusion(role),
                super::config::SliceSelection::Policy,
                Some(run),
            ) => super::slices::policy_picks(project, role, run)?,
            _ => BTreeMap::new(),
        };
        let crop = schema.crop.filter(|_| config.crop);
        let corrected = if crop.is_some() && input == InputKind::Image {
            project.all_crops()?
        } else {
            Default::default()
        };
        let cases = if input == InputKind::Image {
            BTreeMap::new()
        } else {
            project.case_names()?
        };
        Ok(Self {
            project,
            input,
            size: config.input_size,
            seed: config.seed,
            rasterize,
            records,
            encoder,
            case_files,
            cases,
            slices,
            policy,
            crop,
            corrected,
        })
    }

    /// A case's k slices, by the run's selection.
    fn chosen_slices(&self, id: i64, path: &std::path::Path) -> Result<Vec<f32>, String> {
        let (depth, series) = decode_series(path, self.size)?;
        let slices = &self.slices;
        let picks =
            super::slices::pick(slices, depth, self.seed, id, &self.policy).ok_or_else(|| {
                format!(
                    "slice-policy run {} picked no slices of this case",
                    slices.policy.as_deref().unwrap_or("?")
                )
            })?;
        Ok(take_slices(&series, self.size, &picks))
    }

    /// One item as the run reads it, or why it cannot be read.
    fn read(&self, item: &crate::store::Item) -> Result<Vec<f32>, String> {
        let size = self.size;
        let file = |role: &str| {
            self.case_files
                .get(&item.id)
                .and_then(|f| f.get(role))
                .ok_or_else(|| format!("the case has no {role}"))
        };
        let encoded = || {
            self.encoder
                .as_ref()
                .map(|e| e.encode(self.records.get(&item.id)))
                .unwrap_or_default()
        };
        match &self.input {
            InputKind::Image => {
                let crop = self
                    .crop
                    .map(|setting| (setting, self.corrected.get(&item.id).copied()));
                decode(&self.project.resolve(item), size, self.rasterize, crop)
            }
            _ if !self.cases.contains_key(&item.id) => Err("not a case".to_string()),
            InputKind::Sequences(_) => Err("segmentation reads label maps".to_string()),
            InputKind::Volume(role) => file(role).and_then(|path| decode_volume(path, size)),
            InputKind::Record => Ok(encoded()),
            InputKind::Slices(role) => {
                file(role).and_then(|path| self.chosen_slices(item.id, path))
            }
            InputKind::Series(role) => file(role).and_then(|path| {
                let (depth, series) = decode_series(path, size)?;
                Ok(resample_depth(&series, depth, self.slices.depth, size))
            }),
            InputKind::Fusion(role) => {
                let image = match file(role) {
                    Ok(path) => self.chosen_slices(item.id, path).map(Some)?,
                    Err(_) => None, // zero-filled and flagged
                };
                let complete = record_complete(self.project.schema(), self.records.get(&item.id));
                Ok(fuse(
                    image,
                    encoded(),
                    self.slices.count * size * size,
                    complete,
                ))
            }
        }
    }
}

/// Refuses a run whose input the project does not have: a case modality
/// its schema does not declare, or a record without tabular columns.
fn check_project_has(schema: &crate::store::Schema, input: &InputKind) -> Result<(), StoreError> {
    if let Some(role) = input.role()
        && !schema.modalities.iter().any(|m| m == role)
    {
        return Err(StoreError::Invalid(format!(
            "the project has no modality {role:?} (its cases have {})",
            if schema.modalities.is_empty() {
                "none".to_string()
            } else {
                schema.modalities.join(", ")
            }
        )));
    }
    if matches!(input, InputKind::Record | InputKind::Fusion(_)) && schema.tabular.is_empty() {
        return Err(StoreError::Invalid(
            "the project's schema declares no tabular columns to train on".into(),
        ));
    }
    Ok(())
}

/// The shape of one sample of `input` at edge `size`.
fn sample_shape(
    input: &InputKind,
    size: usize,
    slices: &super::config::SliceConfig,
    record_width: usize,
) -> Result<[usize; 3], StoreError> {
    Ok(match input {
        InputKind::Image => image_shape(size),
        InputKind::Volume(_) => [size; 3],
        InputKind::Record => [record_width, 1, 1],
        InputKind::Slices(_) => [slices.count, size, size],
        InputKind::Series(_) => [slices.depth, size, size],
        InputKind::Sequences(roles) => {
            // Label maps, not one label per case: `train::segmentation::data`.
            return Err(StoreError::Invalid(format!(
                "a segmentation run reads {} voxel by voxel; its cases load through \
                 train::segmentation",
                roles.join(",")
            )));
        }
        InputKind::Fusion(_) => [
            slices.count * size * size + record_width + super::models::fusion::FLAGS,
            1,
            1,
        ],
    })
}

/// A fusion sample (see `models::fusion`): the slices (zeros when the CT
/// is missing, `pixels` of them), the encoded record, then the flags
/// "CT missing" and "record incomplete" (1 or 0).
pub fn fuse(image: Option<Vec<f32>>, record: Vec<f32>, pixels: usize, complete: bool) -> Vec<f32> {
    let ct_missing = image.is_none();
    let mut out = image.unwrap_or_else(|| vec![0.0; pixels]);
    out.extend(record);
    out.push(f32::from(u8::from(ct_missing)));
    out.push(f32::from(u8::from(!complete)));
    out
}

/// Whether a case's record has every column of the schema.
pub fn record_complete(schema: &Schema, record: Option<&BTreeMap<String, String>>) -> bool {
    record.is_some_and(|r| schema.tabular.iter().all(|c| r.contains_key(&c.name)))
}

/// The slices at `picks` of a `[depth][size][size]` series, in order.
pub fn take_slices(series: &[f32], size: usize, picks: &[usize]) -> Vec<f32> {
    let plane = size * size;
    let depth = series.len() / plane.max(1);
    picks
        .iter()
        .flat_map(|&z| {
            let z = z.min(depth.saturating_sub(1));
            series[z * plane..(z + 1) * plane].iter().copied()
        })
        .collect()
}

/// A `[depth][size][size]` series resampled to `to` slices (nearest slice;
/// a series of that depth is returned as it is).
pub fn resample_depth(series: &[f32], depth: usize, to: usize, size: usize) -> Vec<f32> {
    if depth == to {
        return series.to_vec();
    }
    let picks: Vec<usize> = (0..to).map(|i| native_slice(i, to, depth)).collect();
    take_slices(series, size, &picks)
}

/// The slice of a `native`-slice series that slice `i` of its resampling
/// to `resampled` slices shows (nearest; identity when the depths agree).
pub fn native_slice(i: usize, resampled: usize, native: usize) -> usize {
    (((i as f64 + 0.5) * native as f64 / resampled.max(1) as f64) as usize)
        .min(native.saturating_sub(1))
}

/// A CT series as its axial slices, each resampled to `size`² pixels
/// (bilinear, pixel centres aligned) after the [`SERIES_WINDOW_HU`] window
/// to [−1, 1]: (slices, values `[z][y][x]`).
pub fn decode_series(path: &std::path::Path, size: usize) -> Result<(usize, Vec<f32>), String> {
    let volume = volume::load(path).map_err(|e| e.to_string())?;
    let [nx, ny, nz] = volume.spatial_shape();
    if nx * ny * nz == 0 {
        return Err(format!("{} has no voxels", path.display()));
    }
    let scaled = windowed(&volume, SERIES_WINDOW_HU);
    // In-plane only: the depth is kept, so each slice is resampled bilinearly.
    let out = crate::volume::resample::trilinear(&scaled, [nx, ny, nz], [size, size, nz]);
    Ok((nz, out))
}

/// Every voxel of `volume` clipped to the window `[low, high]` (HU) and
/// scaled to [−1, 1].
fn windowed(volume: &Volume, [low, high]: [f32; 2]) -> Vec<f32> {
    let [nx, ny, nz] = volume.spatial_shape();
    (0..nx * ny * nz)
        .map(|v| {
            let hu = volume.value_at(v).unwrap_or(low as f64) as f32;
            (hu.clamp(low, high) - low) / (high - low) * 2.0 - 1.0
        })
        .collect()
}

/// A volume as `size`³ values in [−1, 1], `[z][y][x]` with x fastest:
/// clipped to [`CT_WINDOW_HU`] and scaled, then resampled trilinearly
/// (voxel centres aligned) to the cube.
pub fn decode_volume(path: &std::path::Path, size: usize) -> Result<Vec<f32>, String> {
    let volume = volume::load(path).map_err(|e| e.to_string())?;
    let [nx, ny, nz] = volume.spatial_shape();
    if nx * ny * nz == 0 {
        return Err(format!("{} has no voxels", path.display()));
    }
    let scaled = windowed(&volume, CT_WINDOW_HU);
    Ok(crate::volume::resample::trilinear(
        &scaled,
        [nx, ny, nz],
        [size; 3],
    ))
}

/// How a tabular record becomes numbers, the same for every case of a
/// project: a number is standardised by the mean and standard deviation
/// of the project's records (inputs only, never labels), a category is
/// one-hot, yes/no is ±1; a column that may be missing adds a 0/1 flag
/// and a missing value is 0.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEncoder {
    columns: Vec<EncodedColumn>,
}

#[derive(Clone, Debug, PartialEq)]
struct EncodedColumn {
    name: String,
    kind: ColumnType,
    values: Vec<String>,
    mean: f64,
    sd: f64,
    missing_flag: bool,
}

impl RecordEncoder {
    pub fn new(schema: &Schema, records: &BTreeMap<i64, BTreeMap<String, String>>) -> Self {
        let columns = schema
            .tabular
            .iter()
            .map(|c| {
                let numbers: Vec<f64> = records
                    .values()
                    .filter_map(|r| r.get(&c.name)?.parse::<f64>().ok())
                    .collect();
                let n = numbers.len().max(1) as f64;
                let mean = numbers.iter().sum::<f64>() / n;
                let variance = numbers.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                EncodedColumn {
                    name: c.name.clone(),
                    kind: c.kind,
                    values: c.values.clone(),
                    mean,
                    sd: variance.sqrt().max(1e-6),
                    missing_flag: c.missing_allowed,
                }
            })
            .collect();
        Self { columns }
    }

    /// Each column's name and the range of the encoded numbers it fills
    /// (its one-hot block and missing flag included): the players of a
    /// feature explanation.
    pub fn blocks(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let mut start = 0;
        self.columns
            .iter()
            .map(|c| {
                let width = usize::from(c.missing_flag)
                    + match c.kind {
                        ColumnType::Category => c.values.len(),
                        _ => 1,
                    };
                let block = (c.name.clone(), start..start + width);
                start += width;
                block
            })
            .collect()
    }

    /// Numbers per record.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| {
                usize::from(c.missing_flag)
                    + match c.kind {
                        ColumnType::Category => c.values.len(),
                        _ => 1,
                    }
            })
            .sum()
    }

    /// A record's numbers (`None`: a case with no record, all missing).
    pub fn encode(&self, record: Option<&BTreeMap<String, String>>) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.width());
        for c in &self.columns {
            let value = record.and_then(|r| r.get(&c.name));
            match c.kind {
                ColumnType::Number => out.push(
                    value
                        .and_then(|v| v.parse::<f64>().ok())
                        .map_or(0.0, |v| ((v - c.mean) / c.sd) as f32),
                ),
                ColumnType::YesNo => out.push(match value.map(String::as_str) {
                    Some("yes") => 1.0,
                    Some("no") => -1.0,
                    _ => 0.0,
                }),
                ColumnType::Category => out.extend(
                    c.values
                        .iter()
                        .map(|v| f32::from(u8::from(value == Some(v)))),
                ),
            }
            if c.missing_flag {
                out.push(f32::from(u8::from(value.is_none())));
            }
        }
        out
    }
}

/// An image (or a volume's middle axial slice) as normalised RGB, channel
/// first; a 2-D image is first cut to its crop when `crop` is set: the
/// corrected box when the item has one, else the automatic one (photos are
/// rasterised as stored, so the pixel box applies as is).
pub fn decode(
    path: &std::path::Path,
    size: usize,
    rasterize: Rasterize,
    crop: Option<(CropSetting, Option<[u32; 4]>)>,
) -> Result<Vec<f32>, String> {
    let volume = volume::load(path).map_err(|e| e.to_string())?;
    let (w, h, rgba) = rasterize(&volume);
    let mut image = image::RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or("empty image")?;
    if let Some((setting, corrected)) = crop
        && volume.spatial_shape()[2] == 1
    {
        let (width, height) = (image.width(), image.height());
        let [x0, y0, x1, y1] = match corrected {
            Some(b) if crate::store::crops::check_crop(b, width, height).is_ok() => b,
            _ => {
                let grey = volume::crop::grey8(&volume).map_err(|e| e.to_string())?;
                let found = volume::crop::auto_crop(&grey).map_err(|e| e.to_string())?;
                volume::crop::with_margin(found.bbox, setting.margin_px, found.width, found.height)
            }
        };
        if volume.spatial_shape()[..2] == [width as usize, height as usize] {
            image = image::imageops::crop_imm(&image, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
        }
    }
    let resized = image::imageops::resize(
        &image,
        size as u32,
        size as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut out = vec![0f32; 3 * size * size];
    for (index, pixel) in resized.pixels().enumerate() {
        for c in 0..3 {
            out[c * size * size + index] = pixel.0[c] as f32 / 127.5 - 1.0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(labels: &[usize]) -> Images {
        Images {
            ids: (0..labels.len() as i64).collect(),
            labels: labels.iter().map(|&c| Some(c)).collect(),
            pixels: (0..labels.len()).flat_map(|i| [i as f32; 3]).collect(),
            shape: image_shape(1),
            guidance: Vec::new(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn a_grouped_split_keeps_each_group_on_one_side() {
        // Ten infants of three photographs each; infant k's photographs are
        // labeled k % 2 except its last, labeled 2 in infants 0–4 (a more
        // severe eye): infants 0–4 are class 2, 5–9 class 0 or 1 by parity.
        let mut labels = Vec::new();
        let mut groups = Vec::new();
        for infant in 0..10u64 {
            for photo in 0..3 {
                let severe = photo == 2 && infant < 5;
                labels.push(if severe { 2 } else { infant as usize % 2 });
                groups.push(infant);
            }
        }
        let all = Images {
            groups,
            ..images(&labels)
        };
        let (training, validation) = all.split_stratified(0.4, 3);
        let infants = |set: &Images| {
            let mut g = set.groups.clone();
            g.dedup();
            g
        };
        let held: Vec<u64> = infants(&validation);
        // round(0.4·5) = 2 of the five class-2 infants; of 5, 7, 9 (class 1)
        // round(0.4·3) = 1; of 6, 8 (class 0) round(0.4·2) = 1: four whole infants.
        assert_eq!(held.len(), 4, "{held:?}");
        assert_eq!(validation.len(), 12);
        assert!(held.iter().filter(|&&g| g < 5).count() == 2, "{held:?}");
        for g in &held {
            assert!(!training.groups.contains(g), "infant {g} on both sides");
        }
        assert_eq!(training.len() + validation.len(), 30);
    }

    #[test]
    fn the_validation_split_is_stratified_seeded_and_keeps_every_class() {
        // 10 of class 0, 5 of class 1, 1 of class 2.
        let mut labels = vec![0; 10];
        labels.extend([1; 5]);
        labels.push(2);
        let all = images(&labels);
        let (training, validation) = all.split_stratified(0.2, 3);
        let count = |set: &Images, c: usize| set.labels.iter().filter(|&&l| l == Some(c)).count();
        // round(0.2·10) = 2, round(0.2·5) = 1, and the lone class-2 image stays in training.
        assert_eq!(
            [
                count(&validation, 0),
                count(&validation, 1),
                count(&validation, 2)
            ],
            [2, 1, 0]
        );
        assert_eq!(training.len() + validation.len(), 16);
        // Pixels follow their ids.
        for (k, &id) in validation.ids.iter().enumerate() {
            assert_eq!(validation.pixels[3 * k], id as f32);
        }
        let mut ids: Vec<i64> = training
            .ids
            .iter()
            .chain(&validation.ids)
            .copied()
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..16).collect::<Vec<_>>());
        assert_eq!(all.split_stratified(0.2, 3).1.ids, validation.ids);
        assert_ne!(
            all.split_stratified(0.2, 4).1.ids,
            validation.ids,
            "another seed draws another split"
        );
        assert!(all.split_stratified(0.0, 3).1.is_empty());
    }

    #[test]
    fn a_fusion_sample_zero_fills_and_flags_what_a_case_misses() {
        let complete = fuse(Some(vec![0.5; 4]), vec![1.0, -1.0], 4, true);
        assert_eq!(complete, vec![0.5, 0.5, 0.5, 0.5, 1.0, -1.0, 0.0, 0.0]);
        let no_ct = fuse(None, vec![1.0, -1.0], 4, true);
        assert_eq!(no_ct, vec![0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 1.0, 0.0]);
        let no_labs = fuse(Some(vec![0.5; 4]), vec![1.0, 0.0], 4, false);
        assert_eq!(&no_labs[6..], &[0.0, 1.0]);
    }

    #[test]
    fn a_record_is_complete_when_every_column_is_there() {
        let schema = crate::demo::bone_schema();
        let mut record: BTreeMap<String, String> = schema
            .tabular
            .iter()
            .map(|c| (c.name.clone(), "1".to_string()))
            .collect();
        assert!(record_complete(&schema, Some(&record)));
        record.remove("vitamin_d");
        assert!(!record_complete(&schema, Some(&record)));
        assert!(!record_complete(&schema, None));
        // A missing lab is zero and flagged by the record's own encoding.
        let encoder = RecordEncoder::new(&schema, &BTreeMap::from([(1, record.clone())]));
        let encoded = encoder.encode(Some(&record));
        let (_, block) = encoder
            .blocks()
            .into_iter()
            .find(|(name, _)| name == "vitamin_d")
            .unwrap();
        assert_eq!(&encoded[block], &[0.0, 1.0], "value 0, missing flag 1");
    }

    #[test]
    fn slices_are_taken_and_series_resampled_in_order() {
        // Four 1×1 slices valued 0..4.
        let series = [0.0f32, 1.0, 2.0, 3.0];
        assert_eq!(take_slices(&series, 1, &[3, 1]), vec![3.0, 1.0]);
        assert_eq!(resample_depth(&series, 4, 2, 1), vec![1.0, 3.0]);
        assert_eq!(resample_depth(&series, 4, 4, 1), series.to_vec());
        // A policy's pick on the resampled series names the native slice it showed.
        assert_eq!(native_slice(1, 2, 4), 3);
        assert_eq!(
            (0..32).map(|i| native_slice(i, 32, 32)).collect::<Vec<_>>(),
            (0..32).collect::<Vec<_>>()
        );
    }
}
