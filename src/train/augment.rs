//! Random perturbations of a batch, on the device (METHODS.md §1): flip,
//! rotation, translation, brightness/contrast jitter and noise. Mean
//! teacher gives student and teacher different draws.

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Distribution, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Strength of the random perturbations (METHODS.md §1 gives the defaults).
/// Fundus photographs are taken at any rotation, so a larger rotation is a
/// fair invariance there; the method's own setting is ±10°.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Largest rotation either way, in degrees.
    pub rotation_degrees: f64,
    /// Largest shift either way, as a fraction of the image edge.
    pub translation: f64,
    pub horizontal_flip: bool,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            rotation_degrees: 10.0,
            translation: 0.02,
            horizontal_flip: true,
        }
    }
}

/// [`augment`] for what a run reads: images and volumes (each slice moved
/// alike) are perturbed; a tabular record is left as it is (a flip or a
/// brightness shift of a questionnaire means nothing), and so are the
/// slices fused with a record (one flat vector); a CT series' slices are
/// only moved ([`augment_geometry`]): their Hounsfield units are the
/// measurement (bone density is read from them), and a brightness jitter
/// would fake a denser or thinner bone.
pub fn augment_input(x: Tensor<4>, config: &crate::train::config::TrainConfig) -> Tensor<4> {
    use crate::train::config::InputKind;
    match config.input_kind() {
        InputKind::Record
        | InputKind::Series(_)
        | InputKind::Fusion(_)
        | InputKind::Sequences(_) => x,
        InputKind::Slices(_) => augment_geometry(x, &config.augmentation),
        InputKind::Image | InputKind::Volume(_) => augment(x, &config.augmentation),
    }
}

/// Random perturbation per image, on the device: horizontal flip, rotation
/// (±10° by default), translation (±2 %), brightness/contrast jitter,
/// Gaussian noise. Mean teacher gives student and teacher different draws.
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, H, W]`
pub fn augment(images: Tensor<4>, strength: &Augmentation) -> Tensor<4> {
    let images = augment_geometry(images, strength);
    let device = images.device();
    let batch = images.dims()[0];
    let per_image = |low: f64, high: f64| {
        Tensor::<4>::random([batch, 1, 1, 1], Distribution::Uniform(low, high), &device)
    };
    let noise = Tensor::<4>::random(images.shape(), Distribution::Normal(0.0, 0.03), &device);
    images * per_image(0.85, 1.15) + per_image(-0.1, 0.1) + noise
}

/// The geometric part of [`augment`]: flip, rotation and translation
/// per image, intensities untouched (border pixels repeat).
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, H, W]`
pub fn augment_geometry(images: Tensor<4>, strength: &Augmentation) -> Tensor<4> {
    let [batch, _, height, width] = images.dims();
    let device = images.device();
    let flip_probability = if strength.horizontal_flip { 0.5 } else { 0.0 };
    let flip = Tensor::<4>::random(
        [batch, 1, 1, 1],
        Distribution::Bernoulli(flip_probability),
        &device,
    );
    let flipped = images.clone().flip([3]);
    let images = flipped * flip.clone() + images * (flip.neg() + 1.0);

    // Rotation and translation by sampling each image on a moved grid
    // (coordinates in [−1, 1], pixel centres as grid_sample expects them).
    let xs: Vec<f32> = (0..width)
        .map(|i| (2 * i + 1) as f32 / width as f32 - 1.0)
        .collect();
    let ys: Vec<f32> = (0..height)
        .map(|j| (2 * j + 1) as f32 / height as f32 - 1.0)
        .collect();
    let x = Tensor::<1>::from_data(TensorData::new(xs, [width]), &device)
        .reshape([1, 1, width])
        .expand([batch, height, width]);
    let y = Tensor::<1>::from_data(TensorData::new(ys, [height]), &device)
        .reshape([1, height, 1])
        .expand([batch, height, width]);
    let angle = Tensor::<3>::random(
        [batch, 1, 1],
        Distribution::Uniform(
            -strength.rotation_degrees.to_radians(),
            strength.rotation_degrees.to_radians(),
        ),
        &device,
    );
    let (cos, sin) = (angle.clone().cos(), angle.sin());
    // Grid coordinates span 2 per image edge.
    let shift = 2.0 * strength.translation;
    let shift_x = Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
    let shift_y = Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
    let grid_x = cos.clone() * x.clone() - sin.clone() * y.clone() + shift_x;
    let grid_y = sin * x + cos * y + shift_y;
    let grid: Tensor<4> = Tensor::stack(vec![grid_x, grid_y], 3);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border);
    images.grid_sample_2d(grid, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn augmentations_keep_shape_and_range() {
        let device = Device::flex();
        let images = Tensor::<4>::random([3, 3, 20, 24], Distribution::Uniform(-1.0, 1.0), &device);
        let out = augment(images, &Augmentation::default());
        assert_eq!(out.dims(), [3, 3, 20, 24]);
        let values: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
        // Contrast ≤ 1.15, brightness ±0.1 and a little noise keep values near [−1, 1].
        assert!(
            values.iter().all(|v| v.is_finite() && v.abs() < 1.6),
            "range"
        );
    }

    #[test]
    fn student_and_teacher_views_get_different_perturbations() {
        let device = Device::flex().autodiff();
        device.seed(7);
        let images = Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(-1.0, 1.0), &device);
        let strength = Augmentation::default();
        let student_view: Vec<f32> = augment(images.clone(), &strength)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let teacher_view: Vec<f32> = augment(images.without_autodiff(), &strength)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mean_difference = student_view
            .iter()
            .zip(&teacher_view)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / student_view.len() as f32;
        // Noise alone would differ by ~0.03; independent flips and rotations of
        // random pixels differ by far more.
        assert!(mean_difference > 0.2, "views differ by {mean_difference}");
    }
}
