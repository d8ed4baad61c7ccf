//! Training data from a project's pools: every image decoded once, resized
//! to the model's input, normalised to [−1, 1], and kept in memory; and the
//! validation split drawn from the labeled pool.

use crate::store::schema::CropSetting;
use crate::store::{Pool, Project, StoreError};
use crate::synth::Rng;
use crate::volume::{self, Volume};

/// Turns an item's image or volume into the RGBA pixels a model sees
/// (width, height, pixels). The caller passes the viewer's middle-axial
/// renderer, so training shows the model what the clinician sees without
/// `train` depending on the renderer.
pub type Rasterize = fn(&Volume) -> (usize, usize, Vec<u8>);

/// Images of one pool as `N × 3 × S × S` floats, with their labels.
#[derive(Clone, Debug, Default)]
pub struct Images {
    pub ids: Vec<i64>,
    /// Class index of the target label, where known.
    pub labels: Vec<Option<usize>>,
    /// Channel-first pixels, image after image.
    pub pixels: Vec<f32>,
    pub size: usize,
}

impl Images {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Images {
        Images {
            ids: indices.iter().map(|&i| self.ids[i]).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            pixels: self.gather(indices),
            size: self.size,
        }
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
        let per_image = 3 * self.size * self.size;
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

/// Loads and decodes every item of the project at `size`×`size` pixels.
/// Labeled and test items use the consensus target label (adjudication
/// first); labeled items without one are treated as unlabeled. Images are
/// cut to their crop when the schema has one and `use_crop` is set.
pub fn load(
    project: &Project,
    size: usize,
    rasterize: Rasterize,
    use_crop: bool,
) -> Result<PoolData, StoreError> {
    let target = project.schema().target_field().clone();
    let mut data = PoolData {
        classes: target.values.clone(),
        ..Default::default()
    };
    for images in [&mut data.labeled, &mut data.unlabeled, &mut data.test] {
        images.size = size;
    }
    let crop = project.schema().crop.filter(|_| use_crop);
    let corrected = if crop.is_some() {
        project.all_crops()?
    } else {
        Default::default()
    };
    for item in project.items()? {
        let label = project
            .consensus(item.id, &target.name)?
            .and_then(|v| target.value_index(&v));
        let crop = crop.map(|setting| (setting, corrected.get(&item.id).copied()));
        let pixels = match decode(&project.resolve(&item), size, rasterize, crop) {
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
            size: 1,
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
