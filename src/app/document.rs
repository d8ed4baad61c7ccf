//! An open image or volume and how it is being viewed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::render::cpu::{self, WindowLevel};
use crate::volume::slice::{self, Convention, Plane, SliceImage};
use crate::volume::{self, SampleType, Volume, VolumeError};

/// An open file and its view: plane, slice, time point, window.
pub struct Document {
    pub volume: Arc<Volume>,
    pub plane: Plane,
    pub slice_index: usize,
    pub slice_count: usize,
    pub time: usize,
    pub window: WindowLevel,
    /// The window chosen automatically when the file was opened.
    pub auto_window: WindowLevel,
    /// Changes whenever the displayed pixels change, unique across
    /// documents, so the UI knows when to re-upload them.
    pub revision: u64,
    /// The displayed slice, in the display convention.
    pub slice: SliceImage,
}

impl Document {
    /// Loads a file and shows its middle axial slice with an automatic window.
    pub fn open(path: &Path) -> Result<Self, VolumeError> {
        let volume = volume::load(path)?;
        Ok(Self::new(Arc::new(volume)))
    }

    pub fn new(volume: Arc<Volume>) -> Self {
        let plane = Plane::Axial;
        let slice_count = if volume.format.is_raster() {
            1
        } else {
            slice::slice_count(&volume, plane)
        };
        let auto_window = automatic_window(&volume);
        let slice_index = slice_count / 2;
        let slice = render_slice(&volume, plane, slice_index, 0);
        Self {
            volume,
            plane,
            slice_index,
            slice_count,
            time: 0,
            window: auto_window,
            auto_window,
            revision: next_revision(),
            slice,
        }
    }

    pub fn set_slice(&mut self, index: usize) {
        let index = index.min(self.slice_count.saturating_sub(1));
        if index != self.slice_index {
            self.slice_index = index;
            self.refresh();
        }
    }

    pub fn set_time(&mut self, time: usize) {
        let time = time.min(self.volume.time_points().saturating_sub(1));
        if time != self.time {
            self.time = time;
            self.refresh();
        }
    }

    pub fn set_window(&mut self, window: WindowLevel) {
        let window = WindowLevel {
            center: window.center,
            width: window.width.max(1e-6),
        };
        if window != self.window {
            self.window = window;
            self.revision = next_revision();
        }
    }

    fn refresh(&mut self) {
        self.slice = render_slice(&self.volume, self.plane, self.slice_index, self.time);
        self.revision = next_revision();
    }

    /// RGBA pixels of the displayed slice.
    pub fn rgba(&self) -> Vec<u8> {
        cpu::rgba_pixels(&self.slice, self.window)
    }

    /// What is under a slice pixel, for the readout: the scaled value, or
    /// the stored channels of a colour image.
    pub fn readout_at_pixel(&self, x: usize, y: usize) -> Option<String> {
        if x >= self.slice.width || y >= self.slice.height {
            return None;
        }
        let channels = self.slice.channels;
        let start = (y * self.slice.width + x) * channels;
        let values = self.slice.values.get(start..start + channels)?;
        Some(match values {
            [grey] => format!("{grey}"),
            [r, g, b, ..] => format!("RGB {r} {g} {b}"),
            _ => return None,
        })
    }
}

fn next_revision() -> u64 {
    static REVISION: AtomicU64 = AtomicU64::new(1);
    REVISION.fetch_add(1, Ordering::Relaxed)
}

fn render_slice(volume: &Volume, plane: Plane, index: usize, time: usize) -> SliceImage {
    slice::extract(volume, plane, index, time, Convention::Radiological).unwrap_or(SliceImage {
        width: 0,
        height: 0,
        channels: 1,
        values: Vec::new(),
    })
}

/// Window spanning the 0.5–99.5 percentiles of the values (MR and photos;
/// CT presets come with the GPU viewer).
fn automatic_window(volume: &Volume) -> WindowLevel {
    if volume.channels != 1 {
        // Colour: the stored range, so the photo shows as it is.
        let full_scale = match volume.data.sample_type() {
            SampleType::U16 => 65535.0,
            SampleType::F32 | SampleType::F64 => 1.0,
            _ => 255.0,
        };
        return WindowLevel::from_range(0.0, full_scale);
    }
    let p = slice::percentiles(volume, &[0.005, 0.995]);
    WindowLevel::from_range(p[0], p[1])
}
