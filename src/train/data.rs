//! Training data from a project's pools: every input decoded once —
//! an image resized to the model's input, a case's volume resampled to a
//! cube, a case's tabular record encoded as numbers — normalised, and kept
//! in memory; and the validation split drawn from the labeled pool.

use std::collections::BTreeMap;

use crate::store::schema::{ColumnType, CropSetting, Schema};
use crate::store::{Pool, Project, StoreError};
use crate::synth::Rng;
use crate::volume::{self, Volume};

use super::config::{InputKind, TrainConfig};

/// Turns an item's image or volume into the RGBA pixels a model sees
/// (width, height, pixels). The caller passes the viewer's middle-axial
/// renderer, so training shows the model what the clinician sees without
/// `train` depending on the renderer.
pub type Rasterize = fn(&Volume) -> (usize, usize, Vec<u8>);

/// Hounsfield units a CT volume is clipped to before scaling to [−1, 1]
/// (lung to bone: METHODS.md §3's teacher input).
pub const CT_WINDOW_HU: [f32; 2] = [-1000.0, 400.0];

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
    /// The same seed gives every method the same split.
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> (Images, Images) {
        let mut rng = Rng::new(seed ^ 0x5641_4c49_4441_5445); // "VALIDATE"
        let classes = self.labels.iter().flatten().max().map_or(0, |&c| c + 1);
        let mut held_out = Vec::new();
        for class in 0..classes {
            let mut members: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == Some(class))
                .collect();
            rng.shuffle(&mut members);
            let count = ((fraction * members.len() as f64).round() as usize)
                .min(members.len().saturating_sub(1));
            held_out.extend_from_slice(&members[..count]);
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

/// Loads what a run reads from every item of the project: [`load`] with
/// the run's input, size and crop.
pub fn load_for(
    project: &Project,
    config: &TrainConfig,
    rasterize: Rasterize,
) -> Result<PoolData, StoreError> {
    load(
        project,
        &config.input_kind(),
        config.input_size,
        rasterize,
        config.crop,
    )
}

/// Loads and decodes every item of the project: images at `size`×`size`
/// pixels, a case modality's volumes at `size`³ voxels (cases without
/// that modality are left out and listed in `skipped`), or tabular
/// records. Labeled and test items use the consensus target label
/// (adjudication first); labeled items without one are treated as
/// unlabeled. Images are cut to their crop when the schema has one and
/// `use_crop` is set.
pub fn load(
    project: &Project,
    input: &InputKind,
    size: usize,
    rasterize: Rasterize,
    use_crop: bool,
) -> Result<PoolData, StoreError> {
    let schema = project.schema();
    let target = schema.target_field().clone();
    let mut data = PoolData {
        classes: target.values.clone(),
        ..Default::default()
    };
    let (shape, records, case_files, encoder) = match input {
        InputKind::Image => (image_shape(size), BTreeMap::new(), BTreeMap::new(), None),
        InputKind::Volume(role) => {
            if !schema.modalities.contains(role) {
                return Err(StoreError::Invalid(format!(
                    "the project has no modality {role:?} (its cases have {})",
                    if schema.modalities.is_empty() {
                        "none".to_string()
                    } else {
                        schema.modalities.join(", ")
                    }
                )));
            }
            ([size; 3], BTreeMap::new(), project.all_case_files()?, None)
        }
        InputKind::Record => {
            if schema.tabular.is_empty() {
                return Err(StoreError::Invalid(
                    "the project's schema declares no tabular columns to train on".into(),
                ));
            }
            let records = project.all_records()?;
            let encoder = RecordEncoder::new(schema, &records);
            (
                [encoder.width(), 1, 1],
                records,
                BTreeMap::new(),
                Some(encoder),
            )
        }
    };
    for images in [&mut data.labeled, &mut data.unlabeled, &mut data.test] {
        images.shape = shape;
    }
    let crop = schema.crop.filter(|_| use_crop);
    let corrected = if crop.is_some() && *input == InputKind::Image {
        project.all_crops()?
    } else {
        Default::default()
    };
    let cases = if *input == InputKind::Image {
        BTreeMap::new()
    } else {
        project.case_names()?
    };
    for item in project.items()? {
        let label = project
            .consensus(item.id, &target.name)?
            .and_then(|v| target.value_index(&v));
        let decoded = match input {
            InputKind::Image => {
                let crop = crop.map(|setting| (setting, corrected.get(&item.id).copied()));
                decode(&project.resolve(&item), size, rasterize, crop)
            }
            _ if !cases.contains_key(&item.id) => Err("not a case".to_string()),
            InputKind::Volume(role) => match case_files.get(&item.id).and_then(|f| f.get(role)) {
                Some(path) => decode_volume(path, size),
                None => Err(format!("the case has no {role}")),
            },
            InputKind::Record => Ok(encoder
                .as_ref()
                .map(|e| e.encode(records.get(&item.id)))
                .unwrap_or_default()),
        };
        let pixels = match decoded {
            Ok(p) => p,
            Err(e) => {
                data.skipped.push((item.id, e));
                continue;
            }
        };
        let images = match (item.pool, label) {
            (Pool::Test, Some(_)) => &mut data.test,
            (Pool::Test, None) => continue, // a test item without a label cannot be scored
            (Pool::Labeled, Some(_)) => &mut data.labeled,
            _ => &mut data.unlabeled,
        };
        images.ids.push(item.id);
        images.labels.push(label);
        images.pixels.extend(pixels);
    }
    Ok(data)
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
    let [low, high] = CT_WINDOW_HU;
    let scaled: Vec<f32> = (0..nx * ny * nz)
        .map(|v| {
            let hu = volume.value_at(v).unwrap_or(low as f64) as f32;
            (hu.clamp(low, high) - low) / (high - low) * 2.0 - 1.0
        })
        .collect();
    let at = |x: usize, y: usize, z: usize| scaled[x + nx * (y + ny * z)];
    // Where output voxel i's centre falls on an axis of n input voxels.
    let source = |i: usize, n: usize| -> (usize, usize, f32) {
        let p = ((i as f32 + 0.5) * n as f32 / size as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let lower = p.floor() as usize;
        (lower, (lower + 1).min(n - 1), p - lower as f32)
    };
    let mut out = Vec::with_capacity(size * size * size);
    for k in 0..size {
        let (z0, z1, fz) = source(k, nz);
        for j in 0..size {
            let (y0, y1, fy) = source(j, ny);
            for i in 0..size {
                let (x0, x1, fx) = source(i, nx);
                let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
                let plane = |z: usize| {
                    lerp(
                        lerp(at(x0, y0, z), at(x1, y0, z), fx),
                        lerp(at(x0, y1, z), at(x1, y1, z), fx),
                        fy,
                    )
                };
                out.push(lerp(plane(z0), plane(z1), fz));
            }
        }
    }
    Ok(out)
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
        }
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
}
