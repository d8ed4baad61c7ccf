//! Painting label maps in the window: the tool and its settings, the map
//! being painted (which item, which annotator), the open stroke, undo and
//! redo by stroke, and live volumes per label. Owner of
//! [`PaintCommand`]s. Every stroke end (mouse release, fill, polygon,
//! interpolation, undo, redo) saves the whole map atomically through the
//! store before the next command is taken.

use super::document::Document;
use crate::paint::fill::{self, FillRegion};
use crate::paint::{
    self, BrushShape, Grid, History, LabelCounts, LabelVolume, PaintOver, PlaneFrame,
    StrokeBuilder, VoxelBox, interpolate,
};
use crate::store::Project;
use crate::store::schema::PaintLabel;

/// What a primary click or drag in a view does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Move the crosshair (no painting).
    Navigate,
    Brush,
    Eraser,
    /// Flood fill within an intensity range from the clicked voxel.
    Fill,
    /// Click corners, close with Enter or a double click.
    Polygon,
}

impl Tool {
    pub const ALL: [Tool; 5] = [
        Tool::Navigate,
        Tool::Brush,
        Tool::Eraser,
        Tool::Fill,
        Tool::Polygon,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Navigate => "Navigate",
            Tool::Brush => "Brush",
            Tool::Eraser => "Eraser",
            Tool::Fill => "Fill",
            Tool::Polygon => "Polygon",
        }
    }
}

/// Which map strokes go to.
#[derive(Clone, Debug, PartialEq)]
pub struct MapTarget {
    pub item_id: i64,
    pub annotator: String,
    pub grid: Grid,
}

/// A stroke being painted (mouse down, not yet released).
#[derive(Debug, Default)]
struct OpenStroke {
    changes: StrokeBuilder,
    /// Where the last dab was, to fill the gap to the next one.
    last_dab: Option<[f64; 3]>,
}

/// The painting panel's state.
#[derive(Debug)]
pub struct Painting {
    pub tool: Tool,
    pub brush_shape: BrushShape,
    pub radius_mm: f64,
    /// The label the brush, fill and polygon paint.
    pub active_label: u8,
    pub paint_over: PaintOver,
    /// Flood fill in 3-D (else on the view's plane).
    pub fill_3d: bool,
    /// Flood fill takes voxels within ± this of the clicked voxel's intensity (image units).
    pub fill_tolerance: f64,
    /// The project's structures (names of label values).
    pub labels: Vec<PaintLabel>,
    /// Other annotators with a map of the attached item (the review's choices).
    pub others: Vec<String>,
    pub target: Option<MapTarget>,
    /// Polygon corners clicked so far (voxel positions) and the plane they lie on.
    pub polygon: Vec<[f64; 3]>,
    polygon_frame: Option<PlaneFrame>,
    history: History,
    stroke: Option<OpenStroke>,
    counts: LabelCounts,
    /// The shown map (`Document::labels_id`) `counts` and `history` belong to.
    counted: Option<u64>,
    /// When the map was last saved, or why it could not be.
    pub saved: Option<Result<String, String>>,
}

impl Default for Painting {
    fn default() -> Self {
        Self {
            tool: Tool::Navigate,
            brush_shape: BrushShape::Disk,
            radius_mm: 3.0,
            active_label: 1,
            paint_over: PaintOver::All,
            fill_3d: false,
            fill_tolerance: 50.0,
            labels: crate::store::schema::brats_paint_labels(),
            others: Vec::new(),
            target: None,
            polygon: Vec::new(),
            polygon_frame: None,
            history: History::default(),
            stroke: None,
            counts: [0; 256],
            counted: None,
            saved: None,
        }
    }
}

/// What painting works on: the shown document, the project it saves into,
/// the selected item and the annotator.
pub struct PaintTarget<'a> {
    pub document: Option<&'a mut Document>,
    pub project: Option<&'a mut Project>,
}

impl Painting {
    /// Paints into `item_id`'s map by `annotator`: their saved map is shown
    /// (an image's own `_labels` map stays shown until the first stroke
    /// copies it); undo history starts afresh.
    pub fn attach(
        &mut self,
        document: &mut Document,
        project: &Project,
        item_id: i64,
        annotator: &str,
    ) -> Result<(), String> {
        self.detach();
        self.labels = project.paint_labels();
        if !self.labels.iter().any(|l| l.value == self.active_label)
            && let Some(first) = self.labels.first()
        {
            self.active_label = first.value;
        }
        self.target = Some(MapTarget {
            item_id,
            annotator: annotator.to_string(),
            grid: document.paint_grid(),
        });
        let saved = project.label_maps(item_id).map_err(|e| e.to_string())?;
        self.others = saved
            .iter()
            .filter(|r| r.annotator != annotator)
            .map(|r| r.annotator.clone())
            .collect();
        if let Some(record) = saved.iter().find(|r| r.annotator == annotator) {
            let voxels = project
                .read_label_map(record, &document.volume)
                .map_err(|e| e.to_string())?;
            document.show_label_map(voxels);
            self.saved = Some(Ok(format!("saved {}", record.saved_at)));
        } else if document.label_voxels().is_some() {
            // Another annotator's map is never the start of this one's: show
            // the image's own `_labels` file, if it has one, or nothing.
            document.clear_labels();
            if let Some(sibling) = super::document::sibling_labels(&document.volume.path) {
                let _ = document.set_labels(&sibling);
            }
        }
        self.counts = document
            .label_voxels()
            .map_or([0; 256], paint::count_labels);
        self.counted = document.label_voxels().map(|_| document.labels_id);
        Ok(())
    }

    /// The shown map, paintable; counts and undo history follow it when it
    /// is replaced (made on the first stroke, or another map opened).
    fn map<'d>(&mut self, document: &'d mut Document) -> Result<&'d mut Vec<u8>, String> {
        document.paintable_labels()?;
        let id = document.labels_id;
        let map = document.paintable_labels()?;
        if self.counted != Some(id) {
            if self.counted.is_some() {
                // Another map was opened over the painted one: its strokes do not apply.
                self.history.clear();
            }
            self.counts = paint::count_labels(map);
            self.counted = Some(id);
        }
        Ok(map)
    }

    /// No map is painted (no project, or no item shown).
    pub fn detach(&mut self) {
        self.target = None;
        self.others.clear();
        self.history.clear();
        self.stroke = None;
        self.polygon.clear();
        self.polygon_frame = None;
        self.counts = [0; 256];
        self.counted = None;
        self.saved = None;
    }

    pub fn can_undo(&self) -> bool {
        self.history.can_undo()
    }

    pub fn can_redo(&self) -> bool {
        self.history.can_redo()
    }

    pub fn undo_levels(&self) -> usize {
        self.history.undo_levels()
    }

    /// Whether a stroke is being painted (the mouse is down).
    pub fn stroking(&self) -> bool {
        self.stroke.is_some()
    }

    /// Voxels and mL per label of the shown map, live.
    pub fn volumes(&self) -> Vec<LabelVolume> {
        self.target
            .as_ref()
            .map(|t| paint::label_volumes(&self.counts, &t.grid))
            .unwrap_or_default()
    }

    /// The name of a label value, if the list has it.
    pub fn label_name(&self, value: u8) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.value == value)
            .map(|l| l.name.as_str())
    }

    /// Applies a painting command; an error is for the user (nothing saved is lost).
    pub fn apply(&mut self, command: PaintCommand, target: PaintTarget<'_>) -> Result<(), String> {
        if command.is_setting() {
            return self.apply_setting(command, target.project);
        }
        let (Some(document), Some(project)) = (target.document, target.project) else {
            return Err("painting needs a project: the map is saved in it".into());
        };
        let Some(map_target) = self.target.clone() else {
            return Err("select an item of the project to paint on".into());
        };
        if map_target.grid != document.paint_grid() {
            return Err("the shown image is not the item being painted".into());
        }
        let grid = map_target.grid;
        match command {
            PaintCommand::Dab { frame, at } => {
                self.dab(document, project, &map_target, frame, at)?;
            }
            PaintCommand::EndStroke => {
                if let Some(stroke) = self.stroke.take() {
                    let stroke = stroke.changes.finish();
                    if !stroke.is_empty() {
                        self.history.push(stroke);
                        self.save(document, project, &map_target)?;
                    }
                }
            }
            PaintCommand::Fill { frame, at } => {
                let value =
                    intensity(document, &grid, at).ok_or(paint::PaintError::Outside.to_string())?;
                let range = (value - self.fill_tolerance, value + self.fill_tolerance);
                let region = if self.fill_3d {
                    FillRegion::Volume
                } else {
                    FillRegion::Plane(frame)
                };
                let volume = document.volume.clone();
                let time = document.time;
                let voxels = fill::flood_fill(&grid, at, range, region, |i| {
                    grey_at(&volume, i, grid.voxel_count(), time)
                })
                .map_err(|e| e.to_string())?;
                self.paint_region(document, project, &map_target, &voxels)?;
            }
            PaintCommand::PolygonCorner { frame, at } => {
                if self.polygon_frame.is_none() {
                    self.polygon_frame = Some(frame);
                }
                self.polygon.push(at);
            }
            PaintCommand::ClosePolygon => {
                let Some(frame) = self.polygon_frame.take() else {
                    return Ok(());
                };
                let corners = std::mem::take(&mut self.polygon);
                let voxels = fill::polygon(&grid, &frame, &corners).map_err(|e| e.to_string())?;
                self.paint_region(document, project, &map_target, &voxels)?;
            }
            PaintCommand::Interpolate { axis } => {
                self.interpolate(document, project, &map_target, axis)?;
            }
            PaintCommand::Undo | PaintCommand::Redo => {
                let undo = command == PaintCommand::Undo;
                if (undo && !self.history.can_undo()) || (!undo && !self.history.can_redo()) {
                    return Ok(());
                }
                let map = self.map(document)?;
                let changed = if undo {
                    self.history.undo(map, &grid, &mut self.counts)
                } else {
                    self.history.redo(map, &grid, &mut self.counts)
                };
                self.after_edit(document, changed, true, project, &map_target)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A tool setting: the tool, brush, label, paint-over rule, fill, the
    /// project's label names, or leaving a polygon.
    fn apply_setting(
        &mut self,
        command: PaintCommand,
        project: Option<&mut Project>,
    ) -> Result<(), String> {
        match command {
            PaintCommand::SetTool(tool) => {
                self.tool = tool;
                self.polygon.clear();
                self.polygon_frame = None;
                Ok(())
            }
            PaintCommand::SetBrushShape(shape) => {
                self.brush_shape = shape;
                Ok(())
            }
            PaintCommand::SetRadius(radius_mm) => {
                if !radius_mm.is_finite() {
                    return Err("brush radius must be a number".into());
                }
                self.radius_mm = radius_mm.clamp(
                    *paint::BRUSH_RADIUS_MM.start(),
                    *paint::BRUSH_RADIUS_MM.end(),
                );
                Ok(())
            }
            PaintCommand::SetActiveLabel(label) => {
                if label == 0 {
                    return Err("label 0 is the background: use the eraser".into());
                }
                self.active_label = label;
                Ok(())
            }
            PaintCommand::SetPaintOver(rule) => {
                self.paint_over = rule;
                Ok(())
            }
            PaintCommand::SetFill { three_d, tolerance } => {
                self.fill_3d = three_d;
                if tolerance.is_finite() && tolerance >= 0.0 {
                    self.fill_tolerance = tolerance;
                }
                Ok(())
            }
            PaintCommand::SetLabels(labels) => {
                let project = project.ok_or("open a project to name its labels")?;
                project
                    .set_paint_labels(&labels)
                    .map_err(|e| e.to_string())?;
                self.labels = labels;
                Ok(())
            }
            PaintCommand::CancelPolygon => {
                self.polygon.clear();
                self.polygon_frame = None;
                Ok(())
            }
            other => Err(format!("{other:?} is not a paint setting")),
        }
    }

    /// One dab of the brush or eraser at `at`, filling the gap from the
    /// stroke's last dab.
    fn dab(
        &mut self,
        document: &mut Document,
        project: &mut Project,
        map_target: &MapTarget,
        frame: PlaneFrame,
        at: [f64; 3],
    ) -> Result<(), String> {
        let grid = map_target.grid;
        let (label, rule) = self.stroke_label();
        // Dabs at most half a radius apart, so a fast drag leaves no gaps.
        let from = self.stroke.as_ref().and_then(|s| s.last_dab).unwrap_or(at);
        let mm = |a: [f64; 3], b: [f64; 3]| {
            (0..3)
                .map(|i| ((a[i] - b[i]) * grid.spacing_mm[i]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let steps = (mm(from, at) / (self.radius_mm * 0.5).max(0.1))
            .ceil()
            .max(1.0) as usize;
        let mut voxels = Vec::new();
        for s in 1..=steps {
            let t = s as f64 / steps as f64;
            let p = [0, 1, 2].map(|i| from[i] + (at[i] - from[i]) * t);
            if let Ok(v) = paint::brush(&grid, &frame, p, self.radius_mm, self.brush_shape) {
                voxels.extend(v);
            }
        }
        let map = self.map(document)?;
        let stroke = self.stroke.get_or_insert_with(OpenStroke::default);
        stroke.last_dab = Some(at);
        let changed = paint::apply(
            map,
            &grid,
            &voxels,
            label,
            rule,
            &mut stroke.changes,
            &mut self.counts,
        );
        self.after_edit(document, changed, false, project, map_target)
    }

    /// Fills the unpainted slices between two painted ones of the active label.
    fn interpolate(
        &mut self,
        document: &mut Document,
        project: &mut Project,
        map_target: &MapTarget,
        axis: usize,
    ) -> Result<(), String> {
        let grid = map_target.grid;
        let label = self.active_label;
        let map = self.map(document)?;
        let voxels = interpolate::between_slices(map, &grid, axis.min(2), label);
        if voxels.is_empty() {
            return Err(format!(
                "nothing to interpolate: paint label {label} on two slices with unpainted slices between them"
            ));
        }
        let mut changes = StrokeBuilder::default();
        let changed = paint::apply(
            map,
            &grid,
            &voxels,
            label,
            PaintOver::Unlabeled,
            &mut changes,
            &mut self.counts,
        );
        self.history.push(changes.finish());
        self.after_edit(document, changed, true, project, map_target)
    }

    /// The label and rule of a brush or eraser stroke.
    fn stroke_label(&self) -> (u8, PaintOver) {
        match self.tool {
            Tool::Eraser => (0, self.paint_over),
            _ => (self.active_label, self.paint_over),
        }
    }

    /// Paints a whole region (fill, polygon) as one stroke and saves it.
    fn paint_region(
        &mut self,
        document: &mut Document,
        project: &mut Project,
        map_target: &MapTarget,
        voxels: &[usize],
    ) -> Result<(), String> {
        let grid = map_target.grid;
        let label = self.active_label;
        let map = self.map(document)?;
        let mut changes = StrokeBuilder::default();
        let changed = paint::apply(
            map,
            &grid,
            voxels,
            label,
            self.paint_over,
            &mut changes,
            &mut self.counts,
        );
        self.history.push(changes.finish());
        self.after_edit(document, changed, true, project, map_target)
    }

    fn after_edit(
        &mut self,
        document: &mut Document,
        changed: Option<VoxelBox>,
        save: bool,
        project: &mut Project,
        map_target: &MapTarget,
    ) -> Result<(), String> {
        if let Some(b) = changed {
            document.labels_edited(b);
        }
        if save && changed.is_some() {
            self.save(document, project, map_target)?;
        }
        Ok(())
    }

    fn save(
        &mut self,
        document: &Document,
        project: &mut Project,
        map_target: &MapTarget,
    ) -> Result<(), String> {
        let Some(voxels) = document.label_voxels() else {
            return Ok(());
        };
        let result = project
            .save_label_map(
                map_target.item_id,
                &map_target.annotator,
                &document.volume,
                voxels,
            )
            // The live counts, not another scan of the whole map.
            .map(|_| format!("saved · {} labeled voxels", voxels.len() - self.counts[0]))
            .map_err(|e| format!("label map not saved: {e}"));
        self.saved = Some(result.clone());
        result.map(|_| ())
    }
}

/// A voxel's grey value at a continuous position (nearest voxel).
fn intensity(document: &Document, grid: &Grid, at: [f64; 3]) -> Option<f64> {
    let v = grid.nearest(at)?;
    Some(grey_at(
        &document.volume,
        grid.index(v),
        grid.voxel_count(),
        document.time,
    ))
}

/// The grey value flood fill compares: the scaled value, or the luminance
/// (Rec. 601) of a colour photo; of time point `time` for a 4-D volume.
fn grey_at(volume: &crate::volume::Volume, index: usize, per_time: usize, time: usize) -> f64 {
    let index = index + per_time * time.min(volume.time_points().saturating_sub(1));
    if volume.channels >= 3 {
        let c = |k: usize| {
            volume
                .data
                .get_f64(index * volume.channels + k)
                .unwrap_or(0.0)
        };
        0.299 * c(0) + 0.587 * c(1) + 0.114 * c(2)
    } else {
        volume.value_at(index).unwrap_or(0.0)
    }
}

/// Painting the selected item's label map; applied by [`super::painting::Painting::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum PaintCommand {
    SetTool(Tool),
    SetBrushShape(BrushShape),
    SetRadius(f64),
    SetActiveLabel(u8),
    SetPaintOver(PaintOver),
    SetFill {
        three_d: bool,
        tolerance: f64,
    },
    /// The project's list of structures (value, name).
    SetLabels(Vec<PaintLabel>),
    /// A brush or eraser dab at a voxel position on a view's plane; the
    /// first dab of a drag opens a stroke.
    Dab {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    /// The mouse was released: the stroke is recorded and the map saved.
    EndStroke,
    /// Flood fill from the voxel at `at` (on the view's plane, or in 3-D).
    Fill {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    PolygonCorner {
        frame: PlaneFrame,
        at: [f64; 3],
    },
    ClosePolygon,
    CancelPolygon,
    /// Fill the active label between painted slices along a voxel axis (0–2).
    Interpolate {
        axis: usize,
    },
    Undo,
    Redo,
}

impl PaintCommand {
    /// A tool setting (applied without a map to paint on).
    fn is_setting(&self) -> bool {
        matches!(
            self,
            PaintCommand::SetTool(_)
                | PaintCommand::SetBrushShape(_)
                | PaintCommand::SetRadius(_)
                | PaintCommand::SetActiveLabel(_)
                | PaintCommand::SetPaintOver(_)
                | PaintCommand::SetFill { .. }
                | PaintCommand::SetLabels(_)
                | PaintCommand::CancelPolygon
        )
    }
}
