//! The CPU reference renderer: window/level of a slice into display pixels.
//! The GPU viewer must match it; `loupe render` writes its output.

use crate::volume::slice::SliceImage;

/// A display window over scaled values: `center ± width/2` maps to black…white.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowLevel {
    pub center: f64,
    pub width: f64,
}

impl WindowLevel {
    /// A window spanning `low..high` (at least 1e-6 wide).
    pub fn from_range(low: f64, high: f64) -> Self {
        let width = (high - low).max(1e-6);
        Self {
            center: low + width / 2.0,
            width,
        }
    }

    /// Grey level of a value: `floor(clamp((v − (C − W/2)) / W, 0, 1) × 255 + 0.5)`.
    #[inline]
    pub fn grey(&self, value: f64) -> u8 {
        let t = ((value - (self.center - self.width / 2.0)) / self.width).clamp(0.0, 1.0);
        // NaN clamps to NaN and casts to 0: missing values draw black.
        (t * 255.0 + 0.5).floor() as u8
    }
}

/// 8-bit grey pixels of a grey slice.
pub fn grey_pixels(slice: &SliceImage, window: WindowLevel) -> Vec<u8> {
    slice
        .values
        .iter()
        .map(|&v| window.grey(v as f64))
        .collect()
}

/// RGBA pixels for display: grey slices through the window, colour slices
/// scaled from their stored range (`colour_max` is 255 for 8-bit data).
pub fn rgba_pixels(slice: &SliceImage, window: WindowLevel, colour_max: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(slice.width * slice.height * 4);
    match slice.channels {
        1 => {
            for &v in &slice.values {
                let g = window.grey(v as f64);
                out.extend_from_slice(&[g, g, g, 255]);
            }
        }
        channels => {
            let to_byte =
                |v: f32| ((v as f64 / colour_max).clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8;
            for pixel in slice.values.chunks_exact(channels) {
                let alpha = if channels == 4 {
                    to_byte(pixel[3])
                } else {
                    255
                };
                out.extend_from_slice(&[
                    to_byte(pixel[0]),
                    to_byte(pixel[1]),
                    to_byte(pixel[2]),
                    alpha,
                ]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_formula_matches_the_spec() {
        let w = WindowLevel {
            center: 40.0,
            width: 400.0,
        };
        assert_eq!(w.grey(-160.0), 0);
        assert_eq!(w.grey(240.0), 255);
        assert_eq!(w.grey(40.0), 128); // 0.5 × 255 + 0.5 = 128.0
        assert_eq!(w.grey(f64::NAN), 0);
        assert_eq!(
            WindowLevel::from_range(0.0, 100.0),
            WindowLevel {
                center: 50.0,
                width: 100.0
            }
        );
    }
}
