//! The whole image perturbation of `train::augment` in one pass over the
//! batch, on plain `f32` slices (`B × C × H × W`): horizontal flip,
//! rotation and translation by bilinear sampling with border pixels
//! repeated (what Burn's `grid_sample_2d` does with `Border` padding and
//! pixel-centre coordinates), then `v · contrast + brightness + noise`.
//! Burn composes the same from about ten passes (flip, two blends, the grid,
//! the sampling, three arithmetic passes); nothing here needs a gradient,
//! since images are inputs.

use rayon::prelude::*;

/// One image's draws, as `train::augment` makes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageDraw {
    /// Mirror left–right before moving.
    pub flip: bool,
    /// Rotation in radians.
    pub angle: f32,
    /// Shift in grid units (2 per image edge), x then y.
    pub shift: [f32; 2],
    pub contrast: f32,
    pub brightness: f32,
}

/// Number of values per image in the flat parameter layout
/// `[flip (0/1), angle, shift x, shift y, contrast, brightness]`.
pub const DRAW_VALUES: usize = 6;

impl ImageDraw {
    pub fn from_values(v: &[f32]) -> Self {
        Self {
            flip: v[0] >= 0.5,
            angle: v[1],
            shift: [v[2], v[3]],
            contrast: v[4],
            brightness: v[5],
        }
    }
}

/// Perturbs `images` (`batch × channels × height × width`); `noise` has the
/// same size and is added last.
pub fn apply(images: &[f32], dims: [usize; 4], draws: &[ImageDraw], noise: &[f32]) -> Vec<f32> {
    let [batch, channels, height, width] = dims;
    let image = channels * height * width;
    assert_eq!(images.len(), batch * image, "augmentation input size");
    assert_eq!(noise.len(), images.len(), "augmentation noise size");
    assert_eq!(draws.len(), batch, "one draw per image");
    let mut out = vec![0.0f32; images.len()];
    if image == 0 {
        return out;
    }
    let plane = height * width;
    out.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(index, out_plane)| {
            let n = index / channels;
            let draw = draws[n];
            let source = &images[index * plane..][..plane];
            let noise = &noise[index * plane..][..plane];
            let (sin, cos) = draw.angle.sin_cos();
            for j in 0..height {
                // Pixel centres in [−1, 1], as the composed path builds its grid.
                let gy = (2 * j + 1) as f32 / height as f32 - 1.0;
                for i in 0..width {
                    let gx = (2 * i + 1) as f32 / width as f32 - 1.0;
                    let sx = cos * gx - sin * gy + draw.shift[0];
                    let sy = sin * gx + cos * gy + draw.shift[1];
                    // Back to pixel coordinates (align_corners = false), border-clamped.
                    let mut x = ((sx + 1.0) * width as f32 - 1.0) / 2.0;
                    let y = ((sy + 1.0) * height as f32 - 1.0) / 2.0;
                    if draw.flip {
                        x = (width - 1) as f32 - x;
                    }
                    let x = x.clamp(0.0, (width - 1) as f32);
                    let y = y.clamp(0.0, (height - 1) as f32);
                    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
                    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
                    let top = source[y0 * width + x0] * (1.0 - fx) + source[y0 * width + x1] * fx;
                    let bottom =
                        source[y1 * width + x0] * (1.0 - fx) + source[y1 * width + x1] * fx;
                    let value = top * (1.0 - fy) + bottom * fy;
                    let k = j * width + i;
                    out_plane[k] = value * draw.contrast + draw.brightness + noise[k];
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn still() -> ImageDraw {
        ImageDraw {
            flip: false,
            angle: 0.0,
            shift: [0.0, 0.0],
            contrast: 1.0,
            brightness: 0.0,
        }
    }

    #[test]
    fn no_draw_leaves_the_image_and_a_flip_mirrors_it() {
        let close = |a: Vec<f32>, b: Vec<f32>| {
            assert!(
                a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5),
                "{a:?} vs {b:?}"
            );
        };
        let images: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let zero = vec![0.0; 12];
        close(
            apply(&images, [1, 1, 3, 4], &[still()], &zero),
            images.clone(),
        );
        let flipped = apply(
            &images,
            [1, 1, 3, 4],
            &[ImageDraw {
                flip: true,
                ..still()
            }],
            &zero,
        );
        close(
            flipped,
            vec![3., 2., 1., 0., 7., 6., 5., 4., 11., 10., 9., 8.],
        );
    }

    #[test]
    fn shifts_rotations_and_intensities_by_hand() {
        // A shift of half a pixel (grid unit 2/4 per pixel → 0.25) blends
        // neighbours equally; the last column repeats at the border.
        let images: Vec<f32> = vec![0.0, 4.0, 8.0, 12.0];
        let draw = ImageDraw {
            shift: [0.25, 0.0],
            contrast: 2.0,
            brightness: 1.0,
            ..still()
        };
        let out = apply(&images, [1, 1, 1, 4], &[draw], &[0.5; 4]);
        assert_eq!(
            out,
            vec![
                2.0 * 2.0 + 1.5,
                6.0 * 2.0 + 1.5,
                10.0 * 2.0 + 1.5,
                12.0 * 2.0 + 1.5
            ]
        );
        // A quarter turn of a 2×2 image: output (x, y) samples (−y, x) in
        // grid coordinates, so [1 2; 3 4] reads [2 4; 1 3].
        let images: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0];
        let draw = ImageDraw {
            angle: std::f32::consts::FRAC_PI_2,
            ..still()
        };
        let out = apply(&images, [1, 1, 2, 2], &[draw], &[0.0; 4]);
        for (a, b) in out.iter().zip([2.0, 4.0, 1.0, 3.0]) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }
}
