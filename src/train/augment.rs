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

/// Random perturbation per image, on the device: horizontal flip,
/// rotation (±10° by default), translation (±2 %), brightness/contrast jitter,
/// Gaussian noise. Mean teacher gives student and teacher different draws.
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, H, W]`
pub fn augment(images: Tensor<4>, strength: &Augmentation) -> Tensor<4> {
    Draws::new(&images, strength, true).apply(images)
}

/// The geometric part of [`augment`]: flip, rotation and translation
/// per image, intensities untouched (border pixels repeat).
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, H, W]`
pub fn augment_geometry(images: Tensor<4>, strength: &Augmentation) -> Tensor<4> {
    Draws::new(&images, strength, false).apply(images)
}

/// The random draws of one perturbation of a batch, on its device.
#[derive(Clone)]
struct Draws {
    /// 1 where the image is mirrored, `[B, 1, 1, 1]`.
    flip: Tensor<4>,
    /// Radians, `[B, 1, 1]`.
    angle: Tensor<3>,
    /// Grid units (2 per image edge), `[B, 1, 1]` each.
    shift_x: Tensor<3>,
    shift_y: Tensor<3>,
    /// Contrast, brightness and the seed of each image's noise (an integer
    /// below 2²⁴), `[B, 1, 1, 1]` each.
    intensity: Option<(Tensor<4>, Tensor<4>, Tensor<4>)>,
    /// Standard deviation of the Gaussian noise (0: none).
    noise_sd: f64,
}

/// Standard deviation of the Gaussian noise [`augment`] adds (METHODS.md §1).
pub const NOISE_SD: f64 = 0.03;

impl Draws {
    fn new(images: &Tensor<4>, strength: &Augmentation, intensity: bool) -> Self {
        let batch = images.dims()[0];
        let device = images.device();
        let flip_probability = if strength.horizontal_flip { 0.5 } else { 0.0 };
        let flip = Tensor::<4>::random(
            [batch, 1, 1, 1],
            Distribution::Bernoulli(flip_probability),
            &device,
        );
        let radians = strength.rotation_degrees.to_radians();
        let angle = Tensor::<3>::random(
            [batch, 1, 1],
            Distribution::Uniform(-radians, radians),
            &device,
        );
        let shift = 2.0 * strength.translation;
        let shift_x =
            Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
        let shift_y =
            Tensor::<3>::random([batch, 1, 1], Distribution::Uniform(-shift, shift), &device);
        let intensity = intensity.then(|| {
            let per_image = |low: f64, high: f64| {
                Tensor::<4>::random([batch, 1, 1, 1], Distribution::Uniform(low, high), &device)
            };
            let contrast = per_image(0.85, 1.15);
            let brightness = per_image(-0.1, 0.1);
            // The noise itself is drawn where it is added: by Burn on the
            // device, or by the CPU kernel from this seed.
            let noise_seed = per_image(0.0, f64::from(1u32 << 24)).floor();
            (contrast, brightness, noise_seed)
        });
        Self {
            flip,
            angle,
            shift_x,
            shift_y,
            intensity,
            noise_sd: NOISE_SD,
        }
    }

    /// By Loupe's one-pass CPU kernel where it applies, by Burn's ops otherwise.
    fn apply(self, images: Tensor<4>) -> Tensor<4> {
        if crate::train::kernels::fused_augment_applies(&images) {
            self.fused(images)
        } else {
            self.composed(images)
        }
    }

    fn fused(self, images: Tensor<4>) -> Tensor<4> {
        let batch = images.dims()[0];
        let device = images.device();
        let column = |t: Tensor<3>| t.reshape([batch, 1]);
        let (contrast, brightness, seed, sd) = match self.intensity {
            Some((c, b, seed)) => (
                c.reshape([batch, 1]),
                b.reshape([batch, 1]),
                seed.reshape([batch, 1]),
                Tensor::<2>::full([batch, 1], self.noise_sd, &device),
            ),
            None => (
                Tensor::<2>::ones([batch, 1], &device),
                Tensor::<2>::zeros([batch, 1], &device),
                Tensor::<2>::zeros([batch, 1], &device),
                Tensor::<2>::zeros([batch, 1], &device),
            ),
        };
        let draws = Tensor::cat(
            vec![
                self.flip.reshape([batch, 1]),
                column(self.angle),
                column(self.shift_x),
                column(self.shift_y),
                contrast,
                brightness,
                seed,
                sd,
            ],
            1,
        );
        crate::train::kernels::fused_augment(images, draws)
    }

    fn composed(self, images: Tensor<4>) -> Tensor<4> {
        let [batch, _, height, width] = images.dims();
        let device = images.device();
        let flipped = images.clone().flip([3]);
        let images = flipped * self.flip.clone() + images * (self.flip.neg() + 1.0);
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
        let (cos, sin) = (self.angle.clone().cos(), self.angle.sin());
        let grid_x = cos.clone() * x.clone() - sin.clone() * y.clone() + self.shift_x;
        let grid_y = sin * x + cos * y + self.shift_y;
        let grid: Tensor<4> = Tensor::stack(vec![grid_x, grid_y], 3);
        let options = GridSampleOptions::new(InterpolateMode::Bilinear)
            .with_padding_mode(GridSamplePaddingMode::Border);
        let moved = images.grid_sample_2d(grid, options);
        match self.intensity {
            Some((contrast, brightness, _)) if self.noise_sd > 0.0 => {
                let noise = Tensor::<4>::random(
                    moved.shape(),
                    Distribution::Normal(0.0, self.noise_sd),
                    &device,
                );
                moved * contrast + brightness + noise
            }
            Some((contrast, brightness, _)) => moved * contrast + brightness,
            None => moved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The same draws applied by Loupe's one-pass kernel and by Burn's
    /// composed ops give the same images (within 1e-4 of the value range),
    /// with and without the intensity part, flips and large rotations
    /// included. The noise is compared without noise (each path draws its
    /// own; the kernel's is checked in `kernels::augment`).
    #[test]
    fn the_fused_perturbation_is_the_composed_one() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            device.seed(11);
            let images =
                Tensor::<4>::random([6, 3, 13, 17], Distribution::Uniform(-1.0, 1.0), &device);
            let strength = Augmentation {
                rotation_degrees: 180.0,
                translation: 0.1,
                horizontal_flip: true,
            };
            for intensity in [true, false] {
                let draws = Draws {
                    noise_sd: 0.0,
                    ..Draws::new(&images, &strength, intensity)
                };
                assert!(crate::train::kernels::fused_augment_applies(&images));
                let before = crate::train::kernels::fast_calls();
                let fused: Vec<f32> = draws
                    .clone()
                    .fused(images.clone())
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                assert!(crate::train::kernels::fast_calls() > before);
                let composed: Vec<f32> = draws
                    .composed(images.clone())
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                for (i, (a, b)) in fused.iter().zip(&composed).enumerate() {
                    assert!((a - b).abs() < 1e-4, "value {i}: fused {a} vs composed {b}");
                }
            }
        }
    }

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
