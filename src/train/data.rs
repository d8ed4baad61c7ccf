//! Training data from a project's pools: every image decoded once, resized
//! to the model's input, normalised to [−1, 1], and kept in memory.

use crate::render::cpu;
use crate::store::{Pool, Project, StoreError};
use crate::volume;

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
/// first); labeled items without one are treated as unlabeled.
pub fn load(project: &Project, size: usize) -> Result<PoolData, StoreError> {
    let target = project.schema().target_field().clone();
    let mut data = PoolData {
        classes: target.values.clone(),
        ..Default::default()
    };
    for images in [&mut data.labeled, &mut data.unlabeled, &mut data.test] {
        images.size = size;
    }
    for item in project.items()? {
        let label = project
            .consensus(item.id, &target.name)?
            .and_then(|v| target.value_index(&v));
        let pixels = match decode(&project.resolve(&item), size) {
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

/// An image (or a volume's middle axial slice) as normalised RGB, channel first.
pub fn decode(path: &std::path::Path, size: usize) -> Result<Vec<f32>, String> {
    let volume = volume::load(path).map_err(|e| e.to_string())?;
    let (w, h, rgba) = cpu::middle_axial_slice(&volume);
    let image = image::RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or("empty image")?;
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
