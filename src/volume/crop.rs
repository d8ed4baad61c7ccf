//! The thyroid method's preprocessing (METHODS.md §2): the largest
//! connected component of the Otsu-binarised frame, as a crop box. An
//! ultrasound export carries text, scales and grey bars around the image
//! sector; the sector is the largest bright connected region.
//!
//! Otsu's threshold and the 8-connected labelling are `imageproc`'s; the
//! threshold `t` splits a 256-bin histogram of the 8-bit grey values and
//! the foreground is `value > t`, as scikit-image's `threshold_otsu` and
//! `image > t`. Colour frames are made grey by the `image` crate's luma.

use std::borrow::Cow;

use image::{DynamicImage, GrayImage, ImageBuffer, LumaA, Rgb, Rgba};

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
    #[error(
        "the crop of this image needs {needed_bytes} bytes for {what}, more than this process can still allocate"
    )]
    TooLarge {
        what: &'static str,
        needed_bytes: u64,
    },
}

/// A 2-D frame's 8-bit grey values, row-major, borrowed from the volume
/// when it is stored that way (an 8-bit grey PNG is never copied).
#[derive(Clone, Debug)]
pub struct GreyFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub pixels: Cow<'a, [u8]>,
}

impl<'a> GreyFrame<'a> {
    /// A grey image's pixels, borrowed.
    pub fn of(image: &'a GrayImage) -> Self {
        Self {
            width: image.width(),
            height: image.height(),
            pixels: Cow::Borrowed(image.as_raw()),
        }
    }
}

/// An empty vector with room for `count` items, or [`CropError::TooLarge`]
/// when that does not fit: checked before anything is allocated.
fn room_for<T>(count: usize, what: &'static str) -> Result<Vec<T>, CropError> {
    let needed_bytes = (count as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    let too_large = || CropError::TooLarge { what, needed_bytes };
    if super::voxels::available_memory_bytes().is_some_and(|m| needed_bytes > m) {
        return Err(too_large());
    }
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| too_large())?;
    Ok(v)
}

/// A 2-D image's 8-bit grey values (luma for colour; 16-bit scaled to 8).
/// Works on the stored type: at most one grey byte per pixel is allocated,
/// colour is converted a row at a time by the `image` crate's luma.
pub fn grey8(volume: &Volume) -> Result<GreyFrame<'_>, CropError> {
    let [w, h, d] = volume.spatial_shape();
    if d != 1 {
        return Err(CropError::NotTwoDimensional(d));
    }
    if w == 0 || h == 0 {
        return Err(CropError::Empty);
    }
    let (width, height) = (
        u32::try_from(w).map_err(|_| CropError::Empty)?,
        u32::try_from(h).map_err(|_| CropError::Empty)?,
    );
    let layout = || CropError::Layout(volume.data.sample_type().name(), volume.channels);
    let frame = |pixels| GreyFrame {
        width,
        height,
        pixels,
    };
    let row_samples = w * volume.channels;
    if let (VoxelData::U8(v), 1) = (&volume.data, volume.channels) {
        return Ok(frame(Cow::Borrowed(v.get(..w * h).ok_or_else(layout)?)));
    }
    let mut grey: Vec<u8> = room_for(w * h, "its grey values")?;
    let one_row = |image: Option<DynamicImage>| image.map(|i| i.to_luma8().into_raw());
    let rows = |samples_len: usize| {
        (0..h)
            .map(move |y| y * row_samples..(y + 1) * row_samples)
            .take_while(move |r| r.end <= samples_len)
    };
    macro_rules! by_rows {
        ($v:expr, $make:expr) => {{
            for range in rows($v.len()) {
                let row = one_row($make($v[range].to_vec())).ok_or_else(layout)?;
                grey.extend_from_slice(&row);
            }
        }};
    }
    match (&volume.data, volume.channels) {
        (VoxelData::U8(v), 2) => {
            by_rows!(v, |r| ImageBuffer::<LumaA<u8>, _>::from_raw(width, 1, r)
                .map(DynamicImage::ImageLumaA8))
        }
        (VoxelData::U8(v), 3) => by_rows!(v, |r| ImageBuffer::<Rgb<u8>, _>::from_raw(width, 1, r)
            .map(DynamicImage::ImageRgb8)),
        (VoxelData::U8(v), 4) => by_rows!(v, |r| ImageBuffer::<Rgba<u8>, _>::from_raw(width, 1, r)
            .map(DynamicImage::ImageRgba8)),
        (VoxelData::U16(v), 1) => by_rows!(v, |r| ImageBuffer::<image::Luma<u16>, _>::from_raw(
            width, 1, r
        )
        .map(DynamicImage::ImageLuma16)),
        (VoxelData::U16(v), 3) => {
            by_rows!(v, |r| ImageBuffer::<Rgb<u16>, _>::from_raw(width, 1, r)
                .map(DynamicImage::ImageRgb16))
        }
        (VoxelData::U16(v), 4) => {
            by_rows!(v, |r| ImageBuffer::<Rgba<u16>, _>::from_raw(width, 1, r)
                .map(DynamicImage::ImageRgba16))
        }
        (VoxelData::F32(v), 3) => {
            by_rows!(v, |r| ImageBuffer::<Rgb<f32>, _>::from_raw(width, 1, r)
                .map(DynamicImage::ImageRgb32F))
        }
        (VoxelData::F32(v), 4) => {
            by_rows!(v, |r| ImageBuffer::<Rgba<f32>, _>::from_raw(width, 1, r)
                .map(DynamicImage::ImageRgba32F))
        }
        // Grey of another type (a 2-D NIfTI): its scaled range mapped onto
        // 0–255, in two passes over the stored values (no f64 copy).
        (_, 1) => {
            let value = |i| volume.value_at(i).filter(|v| v.is_finite());
            let (lo, hi) = (0..w * h)
                .filter_map(value)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let span = if hi > lo { hi - lo } else { 1.0 };
            grey.extend((0..w * h).map(|i| {
                value(i).map_or(0, |v| {
                    ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
                })
            }));
        }
        _ => return Err(layout()),
    }
    if grey.len() != w * h {
        return Err(layout());
    }
    Ok(frame(Cow::Owned(grey)))
}

/// Otsu's threshold of a 256-bin histogram: the `t` maximising the
/// between-class variance of `{≤ t}` and `{> t}`, the first on ties — as
/// imageproc's `otsu_level`, whose 32-bit sums overflow past 16 M pixels.
fn otsu_threshold(histogram: &[u64; 256]) -> u8 {
    let total: u64 = histogram.iter().sum();
    let total_sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(t, &n)| t as f64 * n as f64)
        .sum();
    let (mut below, mut below_sum) = (0u64, 0f64);
    let (mut best, mut best_variance) = (0u8, 0f64);
    for (t, &n) in histogram.iter().enumerate() {
        below += n;
        if below == 0 {
            continue;
        }
        let above = total - below;
        if above == 0 {
            break;
        }
        below_sum += t as f64 * n as f64;
        let mean_below = below_sum / below as f64;
        let mean_above = (total_sum - below_sum) / above as f64;
        let variance = below as f64 * above as f64 * (mean_below - mean_above).powi(2);
        if variance > best_variance {
            best_variance = variance;
            best = t as u8;
        }
    }
    best
}

/// A horizontal run of foreground pixels, `x0..=x1` on row `y`.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// The foreground's runs, row by row; room for them is checked first
/// (a run is a few bytes, a pixel label would be four per pixel).
fn foreground_runs(grey: &GreyFrame, threshold: u8) -> Result<(Vec<Run>, Vec<usize>), CropError> {
    let width = grey.width as usize;
    let rows = || grey.pixels.chunks_exact(width);
    let count: usize = rows()
        .map(|row| {
            let mut inside = false;
            row.iter()
                .filter(|&&p| {
                    let starts = p > threshold && !inside;
                    inside = p > threshold;
                    starts
                })
                .count()
        })
        .sum();
    // A run, its union-find parent, its component's pixel count and box.
    let per_run = std::mem::size_of::<Run>() + 4 + 8 + 16;
    let needed_bytes = (count as u64).saturating_mul(per_run as u64);
    if u32::try_from(count).is_err()
        || super::voxels::available_memory_bytes().is_some_and(|m| needed_bytes > m)
    {
        return Err(CropError::TooLarge {
            what: "its connected components",
            needed_bytes,
        });
    }
    let mut runs: Vec<Run> = room_for(count, "its connected components")?;
    let mut row_starts: Vec<usize> = room_for(grey.height as usize + 1, "its rows")?;
    for (y, row) in rows().enumerate() {
        row_starts.push(runs.len());
        let mut x = 0;
        while x < row.len() {
            if row[x] > threshold {
                let x0 = x;
                while x < row.len() && row[x] > threshold {
                    x += 1;
                }
                runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: (x - 1) as u32,
                });
            }
            x += 1;
        }
    }
    row_starts.push(runs.len());
    Ok((runs, row_starts))
}

/// The union-find root of run `i`, halving the path on the way; a root is
/// always its component's first run in raster order.
fn root(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let grand = parent[parent[i as usize] as usize];
        parent[i as usize] = grand;
        i = grand;
    }
    i
}

/// Otsu's threshold, the largest 8-connected component above it, and its box.
/// Components are found over runs of foreground pixels (memory grows with
/// the runs, not the pixels); the result equals imageproc's labelling.
pub fn auto_crop(grey: &GreyFrame) -> Result<AutoCrop, CropError> {
    let (width, height) = (grey.width, grey.height);
    if width == 0 || height == 0 || grey.pixels.len() < width as usize * height as usize {
        return Err(CropError::Empty);
    }
    let mut histogram = [0u64; 256];
    for &p in grey.pixels.iter() {
        histogram[p as usize] += 1;
    }
    let lo = histogram.iter().position(|&n| n > 0).unwrap_or(0);
    let hi = histogram.iter().rposition(|&n| n > 0).unwrap_or(0);
    // A uniform image has no threshold between classes: scikit-image returns
    // its one value (nothing is above it); imageproc would return 0.
    let threshold = if lo == hi {
        lo as u8
    } else {
        otsu_threshold(&histogram)
    };
    let (runs, row_starts) = foreground_runs(grey, threshold)?;
    if runs.is_empty() {
        return Err(CropError::NoForeground(threshold));
    }
    let mut parent: Vec<u32> = room_for(runs.len(), "its connected components")?;
    parent.extend(0..runs.len() as u32);
    // Runs on neighbouring rows touch (8-connected) when their spans,
    // each widened by one pixel, overlap. The later run joins the earlier root.
    for y in 1..height as usize {
        let (above, here) = (
            row_starts[y - 1]..row_starts[y],
            row_starts[y]..row_starts[y + 1],
        );
        let mut first = above.start;
        for i in here {
            let run = runs[i];
            while first < above.end && runs[first].x1 + 1 < run.x0 {
                first += 1;
            }
            let mut j = first;
            while j < above.end && runs[j].x0 <= run.x1 + 1 {
                let (a, b) = (root(&mut parent, i as u32), root(&mut parent, j as u32));
                let (low, high) = (a.min(b), a.max(b));
                parent[high as usize] = low;
                j += 1;
            }
        }
    }
    let mut pixels: Vec<u64> = room_for(runs.len(), "its connected components")?;
    pixels.resize(runs.len(), 0);
    let mut boxes: Vec<[u32; 4]> = room_for(runs.len(), "its connected components")?;
    boxes.resize(runs.len(), [u32::MAX, u32::MAX, 0, 0]);
    for (i, run) in runs.iter().enumerate() {
        let r = root(&mut parent, i as u32) as usize;
        pixels[r] += u64::from(run.x1 - run.x0 + 1);
        let b = &mut boxes[r];
        b[0] = b[0].min(run.x0);
        b[1] = b[1].min(run.y);
        b[2] = b[2].max(run.x1);
        b[3] = b[3].max(run.y);
    }
    // The largest; ties go to the component met first (row-major), as
    // imageproc's labels number components in that order.
    let (largest, most) =
        pixels.iter().enumerate().fold(
            (0, 0),
            |best, (r, &n)| if n > best.1 { (r, n) } else { best },
        );
    Ok(AutoCrop {
        threshold,
        bbox: boxes[largest],
        pixels: most,
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
    use image::Luma;

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
        let crop = auto_crop(&GreyFrame::of(&grey)).unwrap();
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
        assert!(matches!(
            auto_crop(&GreyFrame::of(&grey)),
            Err(CropError::NoForeground(_))
        ));
    }

    /// imageproc's threshold and labelling, as the reference.
    fn by_imageproc(grey: &GrayImage) -> Option<(u8, [u32; 4], u64)> {
        use imageproc::region_labelling::{Connectivity, connected_components};
        let t = imageproc::contrast::otsu_level(grey);
        let binary = GrayImage::from_fn(grey.width(), grey.height(), |x, y| {
            Luma([u8::from(grey.get_pixel(x, y).0[0] > t)])
        });
        let labels = connected_components(&binary, Connectivity::Eight, Luma([0u8]));
        let n = labels.pixels().map(|p| p.0[0]).max()? as usize;
        let mut count = vec![0u64; n + 1];
        let mut boxes = vec![[u32::MAX, u32::MAX, 0, 0]; n + 1];
        for (x, y, p) in labels.enumerate_pixels() {
            let l = p.0[0] as usize;
            if l > 0 {
                count[l] += 1;
                let b = &mut boxes[l];
                *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
        }
        let (best, pixels) = count
            .iter()
            .enumerate()
            .skip(1)
            .fold((0, 0), |b, (l, &c)| if c > b.1 { (l, c) } else { b });
        (best > 0).then_some((t, boxes[best], pixels))
    }

    #[test]
    fn runs_find_what_imageproc_labelling_finds() {
        // Random blobs of several sizes and densities, ties included: the
        // threshold, largest component and box equal imageproc's every time.
        let mut rng = crate::rng::Rng::new(7);
        for case in 0..300 {
            let (w, h) = (1 + rng.below(40) as u32, 1 + rng.below(40) as u32);
            let density = 1 + rng.below(9);
            let grey = GrayImage::from_fn(w, h, |_, _| {
                Luma([if rng.below(10) < density {
                    150 + rng.below(100) as u8
                } else {
                    rng.below(60) as u8
                }])
            });
            let ours = auto_crop(&GreyFrame::of(&grey))
                .ok()
                .map(|c| (c.threshold, c.bbox, c.pixels));
            let lo = grey.pixels().map(|p| p.0[0]).min();
            if lo == grey.pixels().map(|p| p.0[0]).max() {
                continue; // uniform: scikit-image's rule, not imageproc's
            }
            assert_eq!(ours, by_imageproc(&grey), "case {case}, {w}×{h}");
        }
    }

    #[test]
    fn a_colour_frame_is_grey_by_the_image_crates_luma_row_by_row() {
        let rgb = image::RgbImage::from_fn(7, 5, |x, y| Rgb([(x * 30) as u8, (y * 50) as u8, 99]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.png");
        rgb.save(&path).unwrap();
        let volume = crate::volume::load(&path).unwrap();
        let grey = grey8(&volume).unwrap();
        assert_eq!(
            grey.pixels.as_ref(),
            DynamicImage::ImageRgb8(rgb).to_luma8().as_raw().as_slice()
        );
    }
}
