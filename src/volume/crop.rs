//! The thyroid method's preprocessing (METHODS.md §2): the largest
//! connected component of the Otsu-binarised frame, as a crop box. An
//! ultrasound export carries text, scales and grey bars around the image
//! sector; the sector is the largest bright connected region.
//!
//! Otsu's threshold and the 8-connected labelling are `imageproc`'s; the
//! threshold `t` splits a 256-bin histogram of the 8-bit grey values and
//! the foreground is `value > t`, as scikit-image's `threshold_otsu` and
//! `image > t`. Colour frames are made grey by the `image` crate's luma.

use image::{DynamicImage, GrayImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};
use imageproc::region_labelling::{Connectivity, connected_components};

use super::{Volume, VoxelData};

/// Widest margin the crop accepts, in pixels.
pub const MAX_MARGIN_PX: u32 = 10_000;

/// What [`auto_crop`] found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AutoCrop {
    /// Otsu's threshold; the foreground is grey > threshold.
    pub threshold: u8,
    /// The largest 8-connected foreground component's box, inclusive:
    /// `[x0, y0, x1, y1]` in pixel columns and rows of the stored image.
    pub bbox: [u32; 4],
    /// Pixels in that component.
    pub pixels: u64,
    pub width: u32,
    pub height: u32,
}

/// Why a frame cannot be cropped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CropError {
    #[error("the crop works on 2-D images; this has {0} slices")]
    NotTwoDimensional(usize),
    #[error("the image is empty")]
    Empty,
    #[error("no pixel is brighter than Otsu's threshold {0} (a uniform image?)")]
    NoForeground(u8),
    #[error("a {0} image with {1} channels cannot be made grey")]
    Layout(&'static str, usize),
}

/// A 2-D image's 8-bit grey values (luma for colour; 16-bit scaled to 8).
pub fn grey8(volume: &Volume) -> Result<GrayImage, CropError> {
    let [w, h, d] = volume.spatial_shape();
    if d != 1 {
        return Err(CropError::NotTwoDimensional(d));
    }
    if w == 0 || h == 0 {
        return Err(CropError::Empty);
    }
    let (w32, h32) = (w as u32, h as u32);
    let layout = || CropError::Layout(volume.data.sample_type().name(), volume.channels);
    let n = w * h * volume.channels;
    let image = match (&volume.data, volume.channels) {
        (VoxelData::U8(v), 1) => DynamicImage::ImageLuma8(
            GrayImage::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U8(v), 2) => DynamicImage::ImageLumaA8(
            ImageBuffer::<LumaA<u8>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U8(v), 3) => DynamicImage::ImageRgb8(
            ImageBuffer::<Rgb<u8>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U8(v), 4) => DynamicImage::ImageRgba8(
            ImageBuffer::<Rgba<u8>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U16(v), 1) => DynamicImage::ImageLuma16(
            ImageBuffer::<Luma<u16>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U16(v), 3) => DynamicImage::ImageRgb16(
            ImageBuffer::<Rgb<u16>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::U16(v), 4) => DynamicImage::ImageRgba16(
            ImageBuffer::<Rgba<u16>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::F32(v), 3) => DynamicImage::ImageRgb32F(
            ImageBuffer::<Rgb<f32>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        (VoxelData::F32(v), 4) => DynamicImage::ImageRgba32F(
            ImageBuffer::<Rgba<f32>, _>::from_raw(w32, h32, v[..n].to_vec()).ok_or_else(layout)?,
        ),
        // Grey of another type (a 2-D NIfTI): its scaled range mapped onto 0–255.
        (_, 1) => {
            let values: Vec<f64> = (0..w * h)
                .map(|i| volume.value_at(i).unwrap_or(0.0))
                .collect();
            let (lo, hi) = values
                .iter()
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let span = if hi > lo { hi - lo } else { 1.0 };
            let bytes = values
                .iter()
                .map(|&v| {
                    if v.is_finite() {
                        ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
                    } else {
                        0
                    }
                })
                .collect();
            DynamicImage::ImageLuma8(GrayImage::from_raw(w32, h32, bytes).ok_or_else(layout)?)
        }
        _ => return Err(layout()),
    };
    Ok(image.to_luma8())
}

/// Otsu's threshold, the largest 8-connected component above it, and its box.
pub fn auto_crop(grey: &GrayImage) -> Result<AutoCrop, CropError> {
    let (width, height) = grey.dimensions();
    if width == 0 || height == 0 {
        return Err(CropError::Empty);
    }
    // A uniform image has no threshold between classes: scikit-image returns
    // its one value (nothing is above it); imageproc would return 0.
    let (lo, hi) = grey.pixels().fold((u8::MAX, u8::MIN), |(a, b), p| {
        (a.min(p.0[0]), b.max(p.0[0]))
    });
    let threshold = if lo == hi {
        lo
    } else {
        imageproc::contrast::otsu_level(grey)
    };
    let binary = GrayImage::from_fn(width, height, |x, y| {
        Luma([u8::from(grey.get_pixel(x, y).0[0] > threshold)])
    });
    let labels = connected_components(&binary, Connectivity::Eight, Luma([0u8]));
    let components = labels.pixels().map(|p| p.0[0]).max().unwrap_or(0) as usize;
    if components == 0 {
        return Err(CropError::NoForeground(threshold));
    }
    let mut count = vec![0u64; components + 1];
    let mut boxes = vec![[u32::MAX, u32::MAX, 0u32, 0u32]; components + 1];
    for (x, y, p) in labels.enumerate_pixels() {
        let l = p.0[0] as usize;
        if l == 0 {
            continue;
        }
        count[l] += 1;
        let b = &mut boxes[l];
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    // The largest; ties go to the component met first (lowest label, row-major).
    let (largest, pixels) =
        count.iter().enumerate().skip(1).fold(
            (0, 0),
            |best, (l, &n)| if n > best.1 { (l, n) } else { best },
        );
    Ok(AutoCrop {
        threshold,
        bbox: boxes[largest],
        pixels,
        width,
        height,
    })
}

/// The box with `margin_px` added on every side, clipped to the image.
pub fn with_margin(bbox: [u32; 4], margin_px: u32, width: u32, height: u32) -> [u32; 4] {
    [
        bbox[0].saturating_sub(margin_px),
        bbox[1].saturating_sub(margin_px),
        bbox[2]
            .saturating_add(margin_px)
            .min(width.saturating_sub(1)),
        bbox[3]
            .saturating_add(margin_px)
            .min(height.saturating_sub(1)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_two_populations_and_the_largest_component_wins() {
        // 20×10: background 10, a 6×4 blob of 200 at x 2..8, y 3..7, and a
        // 2×2 blob of 220 at x 15..17, y 1..3 (smaller), plus one 90 pixel.
        let mut grey = GrayImage::from_pixel(20, 10, Luma([10]));
        for y in 3..7 {
            for x in 2..8 {
                grey.put_pixel(x, y, Luma([200]));
            }
        }
        for y in 1..3 {
            for x in 15..17 {
                grey.put_pixel(x, y, Luma([220]));
            }
        }
        grey.put_pixel(0, 9, Luma([90]));
        let crop = auto_crop(&grey).unwrap();
        // By hand: classes {10 ×171, 90} | {200 ×24, 220 ×4} maximise the
        // between-class variance; the threshold is the last value of the lower
        // class, 90 (every t in 90..199 splits the same way, the first wins).
        assert_eq!(crop.threshold, 90);
        assert_eq!(crop.bbox, [2, 3, 7, 6]);
        assert_eq!(crop.pixels, 24);
        assert_eq!(with_margin(crop.bbox, 3, 20, 10), [0, 0, 10, 9]);
    }

    #[test]
    fn a_uniform_image_has_no_foreground() {
        let grey = GrayImage::from_pixel(5, 5, Luma([77]));
        assert!(matches!(auto_crop(&grey), Err(CropError::NoForeground(_))));
    }
}
