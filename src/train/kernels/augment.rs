//! The whole image perturbation of `train::augment` in one pass over the
//! batch, on plain `f32` slices (`B × C × H × W`): horizontal flip,
//! rotation and translation by bilinear sampling with border pixels
//! repeated (what Burn's `grid_sample_2d` does with `Border` padding and
//! pixel-centre coordinates), then `v · contrast + brightness + noise`.
//! Burn composes the same from about ten passes (flip, two blends, the grid,
//! the sampling, three arithmetic passes) and draws the Gaussian noise one
//! value at a time on one thread — `loupe bench profile` put the whole at a
//! tenth of a step. Here the noise comes from each image's seed: a
//! xorshift stream per channel plane picks values from a fixed table of
//! 65 536 standard normal draws (Box–Muller), which is Gaussian noise to
//! any augmentation's purpose at a nanosecond a value. Nothing here needs a
//! gradient, since images are inputs.

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
    /// Seed of the image's noise, and its standard deviation (0: none).
    pub noise_seed: u32,
    pub noise_sd: f32,
}

/// Number of values per image in the flat parameter layout
/// `[flip (0/1), angle, shift x, shift y, contrast, brightness, noise seed
/// (an integer below 2²⁴), noise sd]`.
pub const DRAW_VALUES: usize = 8;

impl ImageDraw {
    pub fn from_values(v: &[f32]) -> Self {
        Self {
            flip: v[0] >= 0.5,
            angle: v[1],
            shift: [v[2], v[3]],
            contrast: v[4],
            brightness: v[5],
            noise_seed: v[6].max(0.0) as u32,
            noise_sd: v[7],
        }
    }
}

const NOISE_TABLE_BITS: u32 = 16;

/// 2¹⁶ standard normal values (Box–Muller on a fixed SplitMix64 stream),
/// made once per process.
fn noise_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut state = 0x5EED_5EED_u64;
        let mut uniform = || {
            let bits = splitmix64(&mut state) >> 11;
            (bits as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut table = Vec::with_capacity(1 << NOISE_TABLE_BITS);
        while table.len() < 1 << NOISE_TABLE_BITS {
            let (u1, u2) = (uniform(), uniform());
            let radius = (-2.0 * u1.ln()).sqrt();
            let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
            table.push((radius * cos) as f32);
            table.push((radius * sin) as f32);
        }
        table
    })
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Noise of one channel plane: `len` values of N(0, 1) from the image's
/// seed and the plane's channel.
fn plane_noise(seed: u32, channel: usize, len: usize, out: &mut Vec<f32>) {
    let table = noise_table();
    let mut state = (u64::from(seed) << 20) ^ channel as u64;
    let mut x = splitmix64(&mut state) | 1;
    out.clear();
    out.extend((0..len).map(|_| {
        // xorshift64*: the top bits index the table.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        table[(x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> (64 - NOISE_TABLE_BITS)) as usize]
    }));
}

/// Where one output pixel samples its source: the top-left source pixel,
/// the steps to its right and lower neighbours (0 at the border, which
/// repeats), and the bilinear weights.
#[derive(Clone, Copy, Default)]
struct Tap {
    top_left: u32,
    right: u32,
    down: u32,
    fx: f32,
    fy: f32,
}

/// The taps of one image's draw, pixel by pixel: the same for each of its
/// channels, so they are worked out once per image, not once per plane.
fn image_taps(draw: &ImageDraw, height: usize, width: usize, taps: &mut Vec<Tap>) {
    taps.clear();
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
            taps.push(Tap {
                top_left: (y0 * width + x0) as u32,
                right: u32::from(x0 + 1 < width),
                down: if y0 + 1 < height { width as u32 } else { 0 },
                fx: x - x0 as f32,
                fy: y - y0 as f32,
            });
        }
    }
}

/// Perturbs `images` (`batch × channels × height × width`), one image per
/// task: its taps once, then each channel plane through them.
pub fn apply(images: &[f32], dims: [usize; 4], draws: &[ImageDraw]) -> Vec<f32> {
    let [batch, channels, height, width] = dims;
    let image = channels * height * width;
    assert_eq!(images.len(), batch * image, "augmentation input size");
    assert_eq!(draws.len(), batch, "one draw per image");
    assert!(
        u32::try_from(height * width).is_ok(),
        "an image plane over 2³² pixels"
    );
    let mut out = vec![0.0f32; images.len()];
    if image == 0 {
        return out;
    }
    let plane = height * width;
    out.par_chunks_mut(image).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(taps, noise), (n, out_image)| {
            let draw = draws[n];
            image_taps(&draw, height, width, taps);
            for channel in 0..channels {
                let at = channel * plane;
                let source = &images[n * image + at..][..plane];
                let out_plane = &mut out_image[at..at + plane];
                for (out, tap) in out_plane.iter_mut().zip(taps.iter()) {
                    let k = tap.top_left as usize;
                    let (right, down) = (tap.right as usize, tap.down as usize);
                    let top = source[k] * (1.0 - tap.fx) + source[k + right] * tap.fx;
                    let bottom =
                        source[k + down] * (1.0 - tap.fx) + source[k + down + right] * tap.fx;
                    let value = top * (1.0 - tap.fy) + bottom * tap.fy;
                    *out = value * draw.contrast + draw.brightness;
                }
                if draw.noise_sd != 0.0 {
                    plane_noise(draw.noise_seed, channel, plane, noise);
                    for (out, z) in out_plane.iter_mut().zip(noise.iter()) {
                        *out += draw.noise_sd * z;
                    }
                }
            }
        },
    );
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
            noise_seed: 0,
            noise_sd: 0.0,
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
        close(apply(&images, [1, 1, 3, 4], &[still()]), images.clone());
        let flipped = apply(
            &images,
            [1, 1, 3, 4],
            &[ImageDraw {
                flip: true,
                ..still()
            }],
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
        let out = apply(&images, [1, 1, 1, 4], &[draw]);
        assert_eq!(
            out,
            vec![
                2.0 * 2.0 + 1.0,
                6.0 * 2.0 + 1.0,
                10.0 * 2.0 + 1.0,
                12.0 * 2.0 + 1.0
            ]
        );
        // A quarter turn of a 2×2 image: output (x, y) samples (−y, x) in
        // grid coordinates, so [1 2; 3 4] reads [2 4; 1 3].
        let images: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0];
        let draw = ImageDraw {
            angle: std::f32::consts::FRAC_PI_2,
            ..still()
        };
        let out = apply(&images, [1, 1, 2, 2], &[draw]);
        for (a, b) in out.iter().zip([2.0, 4.0, 1.0, 3.0]) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }

    /// The noise: N(0, sd) to within sampling error over a 128² batch of
    /// three channels, the same for the same seed, different per image
    /// seed and per channel, and absent at sd 0.
    #[test]
    fn the_noise_is_seeded_gaussian() {
        let dims = [2, 3, 128, 128];
        let images = vec![0.0f32; 2 * 3 * 128 * 128];
        let draw = |seed| ImageDraw {
            noise_seed: seed,
            noise_sd: 0.03,
            ..still()
        };
        let out = apply(&images, dims, &[draw(7), draw(8)]);
        let n = out.len() as f64;
        let mean = out.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (out.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 3e-4, "mean {mean}");
        assert!((sd - 0.03).abs() < 6e-4, "sd {sd}");
        // Within 3 sd of a normal: 99.7 %; beyond 4 sd: almost none.
        let within = out.iter().filter(|v| v.abs() < 0.09).count() as f64 / n;
        assert!((within - 0.9973).abs() < 0.002, "within 3 sd: {within}");
        let plane = 128 * 128;
        assert_ne!(out[..plane], out[plane..2 * plane], "channels share noise");
        assert_ne!(
            out[..plane],
            out[3 * plane..4 * plane],
            "images share noise"
        );
        assert_eq!(
            apply(&images, dims, &[draw(7), draw(8)]),
            out,
            "same seed, same noise"
        );
        let quiet = apply(&images, dims, &[still(), still()]);
        assert!(quiet.iter().all(|&v| v == 0.0));
    }
}
