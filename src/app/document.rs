//! An open image or volume and how it is being viewed: the linked
//! crosshair, one view per plane (zoom, pan, tilt), layout, display
//! convention, interpolation, time point, window, and a label overlay.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::paint::{EditLog, Grid, PlaneFrame, VoxelBox};
use crate::render::cpu::{self, Interpolation, LabelOverlay, RenderOptions, WindowLevel};
use crate::render::view::{ViewGeometry, ViewSpec, canonical_from_voxel, voxel_from_canonical};
use crate::store::label_maps;
use crate::volume::slice::{Convention, Plane};
use crate::volume::voxels::VoxelData;
use crate::volume::{self, CanonicalGrid, Volume, VolumeError};

/// How the views are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Axial, coronal and sagittal side by side with a linked crosshair.
    TriPlanar,
    /// One large view.
    Single(Plane),
    /// One plane of every volume of the case (main and companions), side by side.
    SideBySide(Plane),
}

/// Another volume of the same case (e.g. T2 beside T1) on the same voxel grid.
pub struct Companion {
    pub volume: Arc<Volume>,
    pub volume_id: u64,
    pub window: WindowLevel,
}

/// How a label map is drawn over the image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlaySettings {
    pub visible: bool,
    pub opacity: f32,
    pub outline: bool,
}

/// Common CT and MR windows.
pub const WINDOW_PRESETS: [(&str, WindowLevel); 4] = [
    (
        "CT lung",
        WindowLevel {
            center: -500.0,
            width: 1400.0,
        },
    ),
    (
        "CT bone",
        WindowLevel {
            center: 400.0,
            width: 1000.0,
        },
    ),
    (
        "CT soft tissue",
        WindowLevel {
            center: 40.0,
            width: 350.0,
        },
    ),
    (
        "CT brain",
        WindowLevel {
            center: 50.0,
            width: 100.0,
        },
    ),
];

/// Whether a volume holds CT values in Hounsfield units: a grey 3-D
/// volume (not a photo) whose 0.5th percentile, the automatic window's low
/// end, lies at or below −200 — air and lung, which only HU volumes have.
pub fn is_hounsfield(volume: &Volume, auto_window: WindowLevel) -> bool {
    let low = auto_window.center - auto_window.width / 2.0;
    !volume.format.is_raster()
        && volume.channels == 1
        && volume.spatial_shape().iter().all(|&n| n > 1)
        && low <= -200.0
}

/// The window presets that fit the open image: CT's for Hounsfield units, none otherwise.
pub fn window_presets(document: &Document) -> &'static [(&'static str, WindowLevel)] {
    if document.hounsfield {
        &WINDOW_PRESETS
    } else {
        &[]
    }
}

/// The crop of a 2-D image: the automatic box (or why there is none) and
/// the clinician's correction, in stored pixels, inclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct CropOverlay {
    pub automatic: Result<[u32; 4], String>,
    pub corrected: Option<[u32; 4]>,
}

impl CropOverlay {
    /// The automatic crop of `volume` with `margin_px`, and the stored correction.
    pub fn of(volume: &Volume, margin_px: u32, corrected: Option<[u32; 4]>) -> Self {
        let automatic = crate::volume::crop::grey8(volume)
            .and_then(|grey| crate::volume::crop::auto_crop(&grey))
            .map(|found| {
                crate::volume::crop::with_margin(found.bbox, margin_px, found.width, found.height)
            })
            .map_err(|e| e.to_string());
        Self {
            automatic,
            corrected,
        }
    }

    /// The box training uses: the correction, else the automatic one.
    pub fn used(&self) -> Option<[u32; 4]> {
        self.corrected.or(self.automatic.as_ref().ok().copied())
    }
}

/// An open file and its views.
pub struct Document {
    pub volume: Arc<Volume>,
    /// Unique per loaded volume, for GPU texture caches.
    pub volume_id: u64,
    pub grid: CanonicalGrid,
    /// A label map on the same voxel grid, drawn over the image.
    pub labels: Option<Arc<Volume>>,
    /// Changes when a different map is shown (a full upload to the GPU).
    pub labels_id: u64,
    /// What a read-only overlay shows (a run's prediction, a comparison);
    /// `None` when the shown map can be painted.
    pub labels_note: Option<String>,
    /// Painting's edits to the shown map (only those boxes are uploaded).
    pub label_edits: EditLog,
    pub overlay: OverlaySettings,
    /// Other volumes of the case, shown side by side with the linked crosshair.
    pub companions: Vec<Companion>,
    /// The linked cursor, as a canonical index (R, A, S).
    pub crosshair: [f64; 3],
    /// One per plane, in `Plane::ALL` order.
    pub views: [ViewSpec; 3],
    pub layout: Layout,
    pub convention: Convention,
    pub interpolation: Interpolation,
    pub time: usize,
    pub window: WindowLevel,
    /// The window chosen automatically when the file was opened.
    pub auto_window: WindowLevel,
    /// A CT volume in Hounsfield units (air near −1000): the CT window
    /// presets apply. Photos, ultrasound frames and MRI get none.
    pub hounsfield: bool,
    /// The crop box drawn over a 2-D image when the project crops (thyroid).
    pub crop: Option<CropOverlay>,
    /// ICROP3's zones over a posterior-pole photograph of a screening exam.
    pub zones: Option<super::zones::ZoneOverlay>,
    /// Changes whenever the displayed pixels may change, unique across documents.
    pub revision: u64,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A label map's conventional name beside an image: `<stem>_labels.nii.gz` or `.nii`.
pub fn sibling_labels(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))?;
    if stem.ends_with("_labels") {
        return None;
    }
    ["nii.gz", "nii"]
        .iter()
        .map(|ext| path.with_file_name(format!("{stem}_labels.{ext}")))
        .find(|p| p.is_file())
}

impl Document {
    /// Loads a file (and its `_labels` map, if one sits beside it) and shows
    /// the middle of the volume with an automatic window.
    pub fn open(path: &Path) -> Result<Self, VolumeError> {
        Self::open_with(path, volume::dicom::ReadOptions::default())
    }

    /// [`Self::open`] with reading options (a DICOM series resampled).
    pub fn open_with(
        path: &Path,
        options: volume::dicom::ReadOptions,
    ) -> Result<Self, VolumeError> {
        let volume = volume::load_with(path, options)?;
        let mut document = Self::new(Arc::new(volume));
        if let Some(labels) = sibling_labels(path) {
            // A broken label map should not keep the image from opening.
            let _ = document.set_labels(&labels);
        }
        Ok(document)
    }

    pub fn new(volume: Arc<Volume>) -> Self {
        let grid = CanonicalGrid::new(&volume.world_from_voxel);
        let canonical = grid.shape(volume.spatial_shape());
        let centre = canonical.map(|n| ((n as f64 - 1.0) / 2.0).round());
        let auto_window = cpu::automatic_window(&volume);
        let hounsfield = is_hounsfield(&volume, auto_window);
        // A DICOM series' own WindowCenter / WindowWidth comes first.
        let first_window = volume
            .dicom
            .as_ref()
            .and_then(|d| d.window)
            .map(|(center, width)| WindowLevel { center, width })
            .unwrap_or(auto_window);
        let layout = if canonical.iter().filter(|&&n| n > 1).count() < 3 {
            Layout::Single(Plane::Axial)
        } else {
            Layout::TriPlanar
        };
        Self {
            volume_id: next_id(),
            grid,
            labels: None,
            labels_id: 0,
            labels_note: None,
            label_edits: EditLog::default(),
            companions: Vec::new(),
            overlay: OverlaySettings {
                visible: true,
                opacity: 0.5,
                outline: false,
            },
            crosshair: centre,
            views: Plane::ALL.map(|plane| {
                let mut spec = ViewSpec::new(plane, centre);
                spec.focus = canonical.map(|n| (n as f64 - 1.0) / 2.0);
                spec
            }),
            layout,
            convention: Convention::Radiological,
            interpolation: Interpolation::Nearest,
            time: 0,
            window: first_window,
            auto_window,
            hounsfield,
            crop: None,
            zones: None,
            revision: next_id(),
            volume,
        }
    }

    /// Loads a label map; it must have the image's voxel grid.
    pub fn set_labels(&mut self, path: &Path) -> Result<(), VolumeError> {
        let labels = volume::load_on_grid(path, self.volume.spatial_shape())?;
        if labels.spatial_shape() != self.volume.spatial_shape() || labels.channels != 1 {
            return Err(VolumeError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "label map shape {:?} does not match the image's {:?}",
                    labels.spatial_shape(),
                    self.volume.spatial_shape()
                ),
            });
        }
        self.labels = Some(Arc::new(labels));
        self.labels_id = next_id();
        self.labels_note = None;
        self.label_edits = EditLog::default();
        self.touch();
        Ok(())
    }

    /// Shows a painted map (uint8, on this volume's grid), replacing any overlay.
    pub fn show_label_map(&mut self, voxels: Vec<u8>) {
        self.labels = Some(Arc::new(label_maps::map_volume(&self.volume, voxels)));
        self.labels_id = next_id();
        self.labels_note = None;
        self.label_edits = EditLog::default();
        self.overlay.visible = true;
        self.touch();
    }

    /// Shows a map that is not to be painted (a run's prediction, a
    /// comparison), with what it is.
    pub fn show_read_only_map(&mut self, voxels: Vec<u8>, note: String) {
        self.show_label_map(voxels);
        self.labels_note = Some(note);
    }

    /// Removes the overlay.
    pub fn clear_labels(&mut self) {
        self.labels = None;
        self.labels_id = next_id();
        self.labels_note = None;
        self.label_edits = EditLog::default();
        self.touch();
    }

    /// The shown map as paintable uint8 voxels: an empty map is made when
    /// none is shown, and an opened map is converted (refused, saying why,
    /// when its values are not labels 0–255).
    pub fn paintable_labels(&mut self) -> Result<&mut Vec<u8>, String> {
        if let Some(note) = &self.labels_note {
            return Err(format!(
                "the overlay shows the {note}: choose Map: yours to paint"
            ));
        }
        let convert = match self.labels.as_deref() {
            None => Some(vec![0u8; self.paint_grid().voxel_count()]),
            Some(l) if !matches!(l.data, VoxelData::U8(_)) || l.scaling.is_some() => {
                Some(label_maps::label_voxels(l)?)
            }
            Some(_) => None,
        };
        if let Some(voxels) = convert {
            self.show_label_map(voxels);
        }
        let labels = self
            .labels
            .as_mut()
            .ok_or_else(|| "no label map".to_string())?;
        match &mut Arc::make_mut(labels).data {
            VoxelData::U8(v) => Ok(v),
            _ => Err("the label map is not uint8".into()),
        }
    }

    /// The shown map's voxels when they are paintable labels already.
    pub fn label_voxels(&self) -> Option<&[u8]> {
        match &self.labels.as_deref()?.data {
            VoxelData::U8(v) => Some(v),
            _ => None,
        }
    }

    /// Painting changed this box of the shown map.
    pub fn labels_edited(&mut self, changed: VoxelBox) {
        self.label_edits.record(changed);
        self.touch();
    }

    /// The voxel grid painting works on (spatial shape, voxel sizes).
    pub fn paint_grid(&self) -> Grid {
        Grid::new(self.volume.spatial_shape(), self.spacing_mm())
    }

    /// The plane a view shows, for painting on it: its pixel steps through `point`.
    pub fn plane_frame(&self, plane: Plane, size_px: [f64; 2], point: [f64; 3]) -> PlaneFrame {
        let geometry = self.geometry(plane, size_px);
        PlaneFrame {
            point,
            step_u: geometry.step_x,
            step_v: geometry.step_y,
        }
    }

    /// Adds another volume of the case; it must share the voxel grid.
    pub fn add_companion(&mut self, path: &Path) -> Result<(), VolumeError> {
        let volume = volume::load(path)?;
        if !volume::same_grid(&volume, &self.volume) {
            return Err(VolumeError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "volume {:?} is not on the open volume's grid {:?} (same shape and affine needed)",
                    volume.spatial_shape(),
                    self.volume.spatial_shape()
                ),
            });
        }
        let window = cpu::automatic_window(&volume);
        self.companions.push(Companion {
            volume: Arc::new(volume),
            volume_id: next_id(),
            window,
        });
        if let Layout::Single(plane) | Layout::SideBySide(plane) = self.layout {
            self.layout = Layout::SideBySide(plane);
        } else {
            self.layout = Layout::SideBySide(Plane::Axial);
        }
        self.touch();
        Ok(())
    }

    /// The volumes shown side by side: the main one, then the companions, each with its window.
    pub fn case_volumes(&self) -> Vec<(&Arc<Volume>, u64, WindowLevel)> {
        std::iter::once((&self.volume, self.volume_id, self.window))
            .chain(
                self.companions
                    .iter()
                    .map(|c| (&c.volume, c.volume_id, c.window)),
            )
            .collect()
    }

    fn touch(&mut self) {
        self.revision = next_id();
    }

    pub fn canonical_shape(&self) -> [usize; 3] {
        self.grid.shape(self.volume.spatial_shape())
    }

    pub fn view(&self, plane: Plane) -> &ViewSpec {
        &self.views[plane.normal_axis_index()]
    }

    pub fn view_mut(&mut self, plane: Plane) -> &mut ViewSpec {
        self.touch();
        &mut self.views[plane.normal_axis_index()]
    }

    /// The slice a plane shows (the crosshair's index along its normal).
    pub fn slice_index(&self, plane: Plane) -> usize {
        self.crosshair[plane.normal_axis()].round().max(0.0) as usize
    }

    /// The axial slider's index of voxel slice `k` (the third voxel axis),
    /// for series whose slices are axial.
    pub fn axial_index_of_voxel_slice(&self, k: usize) -> usize {
        let canonical = canonical_from_voxel(
            &self.grid,
            self.volume.spatial_shape(),
            [0.0, 0.0, k as f64],
        );
        canonical[Plane::Axial.normal_axis()].round().max(0.0) as usize
    }

    pub fn slice_count(&self, plane: Plane) -> usize {
        self.canonical_shape()[plane.normal_axis()]
    }

    /// Moves the crosshair (canonical index), clamped to the volume.
    pub fn set_crosshair(&mut self, canonical: [f64; 3]) {
        let shape = self.canonical_shape();
        let clamped = [0, 1, 2].map(|a| canonical[a].round().clamp(0.0, shape[a] as f64 - 1.0));
        if clamped != self.crosshair {
            self.crosshair = clamped;
            for view in &mut self.views {
                view.crosshair = clamped;
            }
            self.touch();
        }
    }

    pub fn set_slice(&mut self, plane: Plane, index: usize) {
        let mut c = self.crosshair;
        c[plane.normal_axis()] = index as f64;
        self.set_crosshair(c);
    }

    pub fn step_slice(&mut self, plane: Plane, delta: i64) {
        let index = self.slice_index(plane) as i64 + delta;
        self.set_slice(plane, index.max(0) as usize);
    }

    pub fn set_time(&mut self, time: usize) {
        let time = time.min(self.volume.time_points().saturating_sub(1));
        if time != self.time {
            self.time = time;
            self.touch();
        }
    }

    pub fn set_window(&mut self, window: WindowLevel) {
        // A typed or dragged value is never NaN or infinite on screen: such a
        // window would draw every voxel black.
        if !window.center.is_finite() {
            return;
        }
        let window = WindowLevel {
            center: window.center,
            width: if window.width.is_finite() {
                window.width.max(1e-6)
            } else {
                1e12
            },
        };
        if window != self.window {
            self.window = window;
            self.touch();
        }
    }

    pub fn set_convention(&mut self, convention: Convention) {
        self.convention = convention;
        for view in &mut self.views {
            view.convention = convention;
        }
        self.touch();
    }

    pub fn set_interpolation(&mut self, interpolation: Interpolation) {
        self.interpolation = interpolation;
        self.touch();
    }

    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
        self.touch();
    }

    pub fn set_overlay(&mut self, overlay: OverlaySettings) {
        self.overlay = OverlaySettings {
            opacity: overlay.opacity.clamp(0.0, 1.0),
            ..overlay
        };
        self.touch();
    }

    /// Voxel size in mm along i, j, k (1 for photos and missing sizes).
    pub fn spacing_mm(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| {
            let s = self.volume.pixdim[a];
            if s > 0.0 && s.is_finite() { s } else { 1.0 }
        })
    }

    /// The geometry of a plane's view drawn `size_px` pixels large.
    pub fn geometry(&self, plane: Plane, size_px: [f64; 2]) -> ViewGeometry {
        self.view(plane).geometry(
            &self.grid,
            self.volume.spatial_shape(),
            self.spacing_mm(),
            size_px,
        )
    }

    /// Where the crosshair appears in a plane's view.
    pub fn crosshair_px(&self, plane: Plane, size_px: [f64; 2]) -> [f64; 2] {
        self.view(plane).crosshair_px(
            &self.grid,
            self.volume.spatial_shape(),
            self.spacing_mm(),
            size_px,
        )
    }

    /// The view's pixels on the CPU (fallback without a GPU, thumbnails, tests).
    pub fn render_cpu(&self, plane: Plane, size_px: [usize; 2]) -> Vec<u8> {
        self.render_cpu_of(0, plane, size_px)
    }

    /// Like [`Self::render_cpu`] for volume `which` of [`Self::case_volumes`].
    pub fn render_cpu_of(&self, which: usize, plane: Plane, size_px: [usize; 2]) -> Vec<u8> {
        let volumes = self.case_volumes();
        let Some((volume, _, window)) = volumes.get(which) else {
            return Vec::new();
        };
        let geometry = self.geometry(plane, [size_px[0] as f64, size_px[1] as f64]);
        let time = self.time.min(volume.time_points().saturating_sub(1));
        let options = RenderOptions {
            window: *window,
            interpolation: self.interpolation,
            time,
        };
        let overlay = self.visible_labels().map(|labels| LabelOverlay {
            labels,
            opacity: self.overlay.opacity,
            outline: self.overlay.outline,
        });
        cpu::render_view(volume, &geometry, size_px[0], size_px[1], &options, overlay)
    }

    pub fn visible_labels(&self) -> Option<&Volume> {
        self.labels.as_deref().filter(|_| self.overlay.visible)
    }

    /// What is under a voxel position: index, world position and value.
    pub fn readout(&self, voxel: [f64; 3]) -> Option<String> {
        let shape = self.volume.spatial_shape();
        let index = [0, 1, 2].map(|a| (voxel[a] + 0.5).floor());
        if (0..3).any(|a| index[a] < 0.0 || index[a] >= shape[a] as f64) {
            return None;
        }
        let i = index.map(|v| v as usize);
        let world = self
            .volume
            .world_from_voxel
            .apply([index[0], index[1], index[2]]);
        let mut full = vec![i[0], i[1], i[2]];
        full.truncate(self.volume.shape.len());
        if self.volume.shape.len() == 4 {
            full.push(self.time);
        }
        // Hounsfield units for CT; otherwise the scanner's arbitrary units.
        let value_unit = if self.hounsfield { "HU" } else { "a.u." };
        let value = if self.volume.channels == 1 {
            self.volume
                .value(&full)
                .map(|v| format!("{v} {value_unit}"))
        } else {
            self.volume
                .channels_at(&full)
                .map(|c| format!("RGB {} {} {}", c[0], c[1], c[2]))
        }?;
        let units = match self.volume.xyzt_units & 0x07 {
            1 => "m",
            3 => "µm",
            _ => "mm",
        };
        let label = self
            .visible_labels()
            .and_then(|l| l.value_at(i[0] + shape[0] * (i[1] + shape[1] * i[2])))
            .filter(|v| *v != 0.0);
        Some(format!(
            "voxel ({}, {}, {}) · RAS ({:.1}, {:.1}, {:.1}) {units} · {value}{}",
            i[0],
            i[1],
            i[2],
            world[0],
            world[1],
            world[2],
            label.map(|l| format!(" · label {l}")).unwrap_or_default()
        ))
    }

    /// Voxel index → canonical index, then the crosshair goes there.
    pub fn click(&mut self, voxel: [f64; 3]) {
        let canonical = canonical_from_voxel(&self.grid, self.volume.spatial_shape(), voxel);
        self.set_crosshair(canonical);
    }

    /// The voxel index at the crosshair.
    pub fn crosshair_voxel(&self) -> [f64; 3] {
        voxel_from_canonical(&self.grid, self.volume.spatial_shape(), self.crosshair)
    }
}

/// Applies a viewer command to the open document. The owner of
/// [`ViewerCommand`]s but `Open`, which the window applies; an error is for the user.
pub fn apply(document: &mut Option<Document>, command: ViewerCommand) -> Result<(), String> {
    let Some(d) = document else { return Ok(()) };
    match command {
        ViewerCommand::Open(_) => {}
        ViewerCommand::SetSlice { plane, index } => d.set_slice(plane, index),
        ViewerCommand::StepSlice { plane, delta } => d.step_slice(plane, delta),
        ViewerCommand::ClickVoxel(voxel) => d.click(voxel),
        ViewerCommand::SetLayout(layout) => d.set_layout(layout),
        ViewerCommand::SetConvention(convention) => d.set_convention(convention),
        ViewerCommand::SetInterpolation(interpolation) => d.set_interpolation(interpolation),
        ViewerCommand::ZoomView { plane, factor } => {
            let view = d.view_mut(plane);
            view.zoom = (view.zoom * factor).clamp(0.1, 50.0);
        }
        ViewerCommand::PanView { plane, delta } => {
            let view = d.view_mut(plane);
            view.pan = [view.pan[0] + delta[0], view.pan[1] + delta[1]];
        }
        ViewerCommand::SetTilt { plane, tilt } => d.view_mut(plane).tilt = tilt,
        ViewerCommand::ResetView(plane) => {
            let view = d.view_mut(plane);
            view.zoom = 1.0;
            view.pan = [0.0, 0.0];
            view.tilt = [0.0, 0.0];
        }
        ViewerCommand::OpenLabels(path) => d.set_labels(&path).map_err(|e| e.to_string())?,
        ViewerCommand::SetOverlay(overlay) => d.set_overlay(overlay),
        ViewerCommand::AddCompanion(path) => d.add_companion(&path).map_err(|e| e.to_string())?,
        ViewerCommand::RemoveCompanions => {
            d.companions.clear();
            if let Layout::SideBySide(plane) = d.layout {
                d.set_layout(Layout::Single(plane));
            }
        }
        ViewerCommand::SetTime(time) => d.set_time(time),
        ViewerCommand::SetWindow(window) => d.set_window(window),
        ViewerCommand::ResetWindow => d.set_window(d.auto_window),
    }
    Ok(())
}

/// What the viewer does with the open image or volume; applied by
/// `document::apply`, except `Open`, which the window applies (it owns the
/// history and the notice).
#[derive(Clone, Debug, PartialEq)]
pub enum ViewerCommand {
    /// Open an image or volume file (dialog, drop, command line) outside any project.
    Open(PathBuf),
    /// Show this slice of a plane (moves the crosshair along its normal).
    SetSlice {
        plane: Plane,
        index: usize,
    },
    /// Move through a plane's slices (mouse wheel, arrow keys).
    StepSlice {
        plane: Plane,
        delta: i64,
    },
    /// Put the linked crosshair on this voxel (a click in any view).
    ClickVoxel([f64; 3]),
    SetLayout(Layout),
    SetConvention(Convention),
    SetInterpolation(Interpolation),
    /// Multiply a view's zoom.
    ZoomView {
        plane: Plane,
        factor: f64,
    },
    /// Shift a view's image by screen pixels.
    PanView {
        plane: Plane,
        delta: [f64; 2],
    },
    /// Rotate a view's plane (oblique), radians about its screen x and y axes.
    SetTilt {
        plane: Plane,
        tilt: [f64; 2],
    },
    /// Back to the fitted, orthogonal view.
    ResetView(Plane),
    /// Draw a label map (NIfTI, integer labels) over the open volume.
    OpenLabels(PathBuf),
    SetOverlay(OverlaySettings),
    /// Show another volume of the case (same grid) side by side.
    AddCompanion(PathBuf),
    RemoveCompanions,
    /// Show this time point of a 4-D volume.
    SetTime(usize),
    SetWindow(WindowLevel),
    /// Back to the automatic window (0.5–99.5 percentiles).
    ResetWindow,
}
