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

/// RGBA pixels for display: grey slices through the window; each colour
/// channel through the same window (so level and width act as brightness
/// and contrast on photos).
pub fn rgba_pixels(slice: &SliceImage, window: WindowLevel) -> Vec<u8> {
    let mut out = Vec::with_capacity(slice.width * slice.height * 4);
    match slice.channels {
        1 => {
            for &v in &slice.values {
                let g = window.grey(v as f64);
                out.extend_from_slice(&[g, g, g, 255]);
            }
        }
        channels => {
            for pixel in slice.values.chunks_exact(channels) {
                let [r, g, b] = [0, 1, 2].map(|c| window.grey(pixel[c] as f64));
                out.extend_from_slice(&[r, g, b, 255]);
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
