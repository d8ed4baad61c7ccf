//! The image and volume views: tri-planar or single, drawn on the GPU
//! through a paint callback (or by the CPU reference renderer when there is
//! no wgpu device), with crosshair, orientation letters, readout, and the
//! mouse as in ITK-SNAP: click moves the crosshair, wheel moves slices,
//! Ctrl+wheel zooms, middle drag pans, right drag sets window/level.

use std::collections::HashMap;

use crate::app::document::{Document, Layout, OverlaySettings, window_presets};

use super::image_screen::ImageScreen;
use crate::app::painting::{Painting, Tool};
use crate::app::{Commands, LabelingCommand, PaintCommand, ViewerCommand};
use crate::render::callback::{self, ShownLabels, SliceCallback};
use crate::render::cpu::{Interpolation, WindowLevel};
use crate::render::gpu::SliceParams;
use crate::render::view::ScreenAxes;
use crate::volume::slice::{Convention, Plane};

/// What the views keep between frames.
#[derive(Default)]
pub struct ViewerCache {
    /// CPU-rendered textures per view slot: document revision, size, texture.
    cpu_textures: HashMap<usize, (u64, [usize; 2], egui::TextureHandle)>,
    /// The window when a right-drag started.
    drag_window: Option<WindowLevel>,
    /// Wheel movement not yet turned into whole slices (trackpads).
    scroll: f32,
    /// A GPU notice (downsampling) or error for the open volume.
    pub gpu_notice: Option<String>,
    /// Where each view was drawn last frame: plane, which volume, rect.
    pub view_rects: Vec<(Plane, usize, egui::Rect)>,
    /// A crop edge being dragged: which edges (x0, y0, x1, y1) move, and the box so far.
    crop_drag: Option<([bool; 4], [f64; 4])>,
}

/// Draws the document's views into the available space.
pub fn views_ui(
    ui: &mut egui::Ui,
    document: &Document,
    painting: &Painting,
    render_state: Option<&egui_wgpu::RenderState>,
    cache: &mut ViewerCache,
    commands: &mut Commands,
) {
    let area = ui.available_rect_before_wrap();
    ui.allocate_rect(area, egui::Sense::hover());
    let volumes = document.case_volumes();
    let mut use_gpu = render_state.is_some();
    if let Some(render_state) = render_state {
        let shown: Vec<_> = volumes
            .iter()
            .map(|(volume, id, _)| {
                let time = document.time.min(volume.time_points().saturating_sub(1));
                (
                    volume.as_ref(),
                    time,
                    callback::volume_key(*id, document.time),
                )
            })
            .collect();
        let labels = document.visible_labels().map(|labels| ShownLabels {
            labels,
            key: document.labels_id,
            edits: &document.label_edits,
        });
        match callback::ensure_uploaded(render_state, &shown, labels) {
            Ok(notices) => cache.gpu_notice = (!notices.is_empty()).then(|| notices.join("; ")),
            Err(error) => {
                cache.gpu_notice = Some(format!("{error}; drawing on the CPU"));
                use_gpu = false;
            }
        }
    }
    let gap = 4.0;
    let columns = |n: usize| {
        let width = (area.width() - (n as f32 - 1.0) * gap) / n as f32;
        (0..n).map(move |i| {
            let min = egui::pos2(area.left() + i as f32 * (width + gap), area.top());
            egui::Rect::from_min_size(min, egui::vec2(width, area.height()))
        })
    };
    // (slot, plane, which volume, rect); each slot has its own uniform buffer.
    let views: Vec<(usize, Plane, usize, egui::Rect)> = match document.layout {
        Layout::Single(plane) => vec![(plane.normal_axis_index(), plane, 0, area)],
        Layout::TriPlanar => tri_planar_panes(area, gap, volumes.len() > 1)
            .into_iter()
            .map(|(plane, which, rect)| {
                // The fourth pane (another sequence) takes that volume's
                // side-by-side slot; the three planes keep theirs.
                let slot = if which == 0 {
                    plane.normal_axis_index()
                } else {
                    3 + which
                };
                (slot, plane, which, rect)
            })
            .collect(),
        Layout::SideBySide(plane) => columns(volumes.len())
            .enumerate()
            .map(|(i, rect)| (3 + i, plane, i, rect))
            .collect(),
    };
    cache.view_rects = views.iter().map(|&(_, p, w, r)| (p, w, r)).collect();
    for (slot, plane, which, rect) in views {
        let (volume, id, window) = &volumes[which];
        let shown = ShownVolume {
            which,
            volume_key: callback::volume_key(*id, document.time),
            window: *window,
            volume,
        };
        view_ui(
            ui, document, painting, slot, plane, rect, &shown, use_gpu, cache, commands,
        );
    }
}

/// The panes of the tri-planar layout, shaped to the window: three in a
/// row where that keeps them nearest to square (a wide, low area), else a
/// 2×2 grid (Slicer's Four-Up) whose fourth pane is the case's next
/// sequence in axial, or without one a large axial pane beside coronal
/// over sagittal. (plane, which volume, rect), axial first.
pub fn tri_planar_panes(
    area: egui::Rect,
    gap: f32,
    another_sequence: bool,
) -> Vec<(Plane, usize, egui::Rect)> {
    let (w, h) = (area.width().max(1.0), area.height().max(1.0));
    // How far a pane's aspect is from square, as a ratio's logarithm.
    let off_square = |width: f32, height: f32| (width / height.max(1.0)).ln().abs();
    let row = off_square((w - 2.0 * gap) / 3.0, h);
    let grid = off_square((w - gap) / 2.0, (h - gap) / 2.0);
    let rect = |x: f32, y: f32, width: f32, height: f32| {
        egui::Rect::from_min_size(area.min + egui::vec2(x, y), egui::vec2(width, height))
    };
    if row <= grid {
        let width = (w - 2.0 * gap) / 3.0;
        return Plane::ALL
            .iter()
            .enumerate()
            .map(|(i, &plane)| (plane, 0, rect(i as f32 * (width + gap), 0.0, width, h)))
            .collect();
    }
    let (half_w, half_h) = ((w - gap) / 2.0, (h - gap) / 2.0);
    let right = half_w + gap;
    let lower = half_h + gap;
    if another_sequence {
        vec![
            (Plane::Axial, 0, rect(0.0, 0.0, half_w, half_h)),
            (Plane::Coronal, 0, rect(right, 0.0, half_w, half_h)),
            (Plane::Sagittal, 0, rect(0.0, lower, half_w, half_h)),
            (Plane::Axial, 1, rect(right, lower, half_w, half_h)),
        ]
    } else {
        vec![
            (Plane::Axial, 0, rect(0.0, 0.0, half_w, h)),
            (Plane::Coronal, 0, rect(right, 0.0, half_w, half_h)),
            (Plane::Sagittal, 0, rect(right, lower, half_w, half_h)),
        ]
    }
}

/// Which of the case's volumes a view shows.
struct ShownVolume<'a> {
    which: usize,
    volume_key: u64,
    window: WindowLevel,
    volume: &'a crate::volume::Volume,
}

fn file_name(volume: &crate::volume::Volume) -> String {
    volume
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn view_ui(
    ui: &mut egui::Ui,
    document: &Document,
    painting: &Painting,
    slot: usize,
    plane: Plane,
    rect: egui::Rect,
    shown: &ShownVolume,
    use_gpu: bool,
    cache: &mut ViewerCache,
    commands: &mut Commands,
) {
    let response = ui.interact(
        rect,
        ui.scope_id().with(("view", slot)),
        egui::Sense::click_and_drag(),
    );
    let ppp = ui.ctx().pixels_per_point();
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, egui::Color32::BLACK);
    let size_px = [
        (rect.width() * ppp).round().max(1.0) as f64,
        (rect.height() * ppp).round().max(1.0) as f64,
    ];

    if use_gpu {
        let labels_key = document.visible_labels().map(|_| document.labels_id);
        let (scaling, window) = crate::render::cpu::display_scaling(shown.volume, shown.window);
        let params = SliceParams {
            geometry: document.geometry(plane, size_px),
            size_px: [size_px[0] as u32, size_px[1] as u32],
            window,
            interpolation: document.interpolation,
            scaling: Some(scaling),
            overlay: labels_key.map(|_| (document.overlay.opacity, document.overlay.outline)),
        };
        let callback = SliceCallback {
            slot,
            volume_key: shown.volume_key,
            labels_key,
            params,
        };
        painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
    } else {
        // One CPU pixel per screen point keeps the fallback affordable.
        let size = [
            rect.width().max(1.0) as usize,
            rect.height().max(1.0) as usize,
        ];
        let texture = match cache.cpu_textures.get(&slot) {
            Some((revision, cached_size, texture))
                if *revision == document.revision && *cached_size == size =>
            {
                texture.clone()
            }
            _ => {
                let rgba = document.render_cpu_of(shown.which, plane, size);
                let image = egui::ColorImage::from_rgba_unmultiplied(size, &rgba);
                let texture = ui.ctx().load_texture(
                    format!("view{slot}"),
                    image,
                    egui::TextureOptions::NEAREST,
                );
                cache
                    .cpu_textures
                    .insert(slot, (document.revision, size, texture.clone()));
                texture
            }
        };
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
    }

    // Crosshair and orientation letters, drawn over the image.
    let volumetric = document.canonical_shape().iter().all(|&n| n > 1);
    if volumetric {
        let c = document.crosshair_px(plane, size_px);
        let at = rect.min + egui::vec2(c[0] as f32 / ppp, c[1] as f32 / ppp);
        let stroke = egui::Stroke::new(
            1.0,
            egui::Color32::from_rgba_unmultiplied(80, 220, 120, 160),
        );
        painter.line_segment(
            [
                egui::pos2(rect.left(), at.y),
                egui::pos2(rect.right(), at.y),
            ],
            stroke,
        );
        painter.line_segment(
            [
                egui::pos2(at.x, rect.top()),
                egui::pos2(at.x, rect.bottom()),
            ],
            stroke,
        );
        let [left, right, top, bottom] = ScreenAxes::of(plane, document.convention).edge_letters();
        let font = egui::FontId::proportional(15.0);
        let colour = egui::Color32::from_rgb(255, 210, 90);
        painter.text(
            egui::pos2(rect.left() + 6.0, rect.center().y),
            egui::Align2::LEFT_CENTER,
            left,
            font.clone(),
            colour,
        );
        painter.text(
            egui::pos2(rect.right() - 6.0, rect.center().y),
            egui::Align2::RIGHT_CENTER,
            right,
            font.clone(),
            colour,
        );
        painter.text(
            egui::pos2(rect.center().x, rect.top() + 4.0),
            egui::Align2::CENTER_TOP,
            top,
            font.clone(),
            colour,
        );
        painter.text(
            egui::pos2(rect.center().x, rect.bottom() - 4.0),
            egui::Align2::CENTER_BOTTOM,
            bottom,
            font,
            colour,
        );
        let tilted = document.view(plane).tilt != [0.0, 0.0];
        painter.text(
            rect.left_top() + egui::vec2(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            format!(
                "{}{} {}/{}{}",
                if document.companions.is_empty() {
                    String::new()
                } else {
                    format!("{} · ", file_name(shown.volume))
                },
                plane.name(),
                document.slice_index(plane),
                document.slice_count(plane),
                if tilted { " · oblique" } else { "" }
            ),
            egui::FontId::proportional(13.0),
            egui::Color32::LIGHT_GRAY,
        );
    }

    let to_voxel = |pos: egui::Pos2| {
        let local = (pos - rect.min) * ppp;
        document
            .geometry(plane, size_px)
            .voxel_at(local.x as f64, local.y as f64)
    };
    let tool = if painting.target.is_some() {
        painting.tool
    } else {
        Tool::Navigate
    };
    let pointer_voxel = response.interact_pointer_pos().map(to_voxel);
    let frame_at = |at: [f64; 3]| document.plane_frame(plane, size_px, at);
    match tool {
        Tool::Navigate => {
            // Primary click or drag: move the crosshair in every view.
            if (response.clicked() || response.dragged_by(egui::PointerButton::Primary))
                && volumetric
                && let Some(at) = pointer_voxel
            {
                commands.push(ViewerCommand::ClickVoxel(at));
            }
            if response.double_clicked() {
                commands.push(ViewerCommand::ResetView(plane));
            }
        }
        Tool::Brush | Tool::Eraser => {
            let primary = egui::PointerButton::Primary;
            if (response.clicked()
                || response.drag_started_by(primary)
                || response.dragged_by(primary))
                && let Some(at) = pointer_voxel
            {
                commands.push(PaintCommand::Dab {
                    frame: frame_at(at),
                    at,
                });
            }
            if response.clicked() || response.drag_stopped_by(primary) {
                commands.push(PaintCommand::EndStroke);
            }
        }
        Tool::Fill => {
            if response.clicked()
                && let Some(at) = pointer_voxel
            {
                commands.push(PaintCommand::Fill {
                    frame: frame_at(at),
                    at,
                });
            }
        }
        Tool::Polygon => {
            if response.clicked()
                && let Some(at) = pointer_voxel
            {
                commands.push(PaintCommand::PolygonCorner {
                    frame: frame_at(at),
                    at,
                });
            }
            if response.double_clicked() {
                commands.push(PaintCommand::ClosePolygon);
            }
        }
    }
    paint_marks(
        ui, document, painting, tool, plane, rect, size_px, &response,
    );
    if let Some(overlay) = &document.zones
        && !volumetric
    {
        super::zones::overlay_ui(
            ui,
            document,
            overlay,
            plane,
            rect,
            size_px,
            &response,
            tool == Tool::Navigate,
            commands,
        );
    }
    if tool == Tool::Navigate
        && let Some(overlay) = &document.crop
    {
        crop_box_ui(
            ui, document, overlay, plane, rect, size_px, &response, cache, commands,
        );
    }
    if response.dragged_by(egui::PointerButton::Middle) {
        let d = response.drag_delta() * ppp;
        commands.push(ViewerCommand::PanView {
            plane,
            delta: [d.x as f64, d.y as f64],
        });
    }
    // Right drag: horizontal changes the width (contrast), vertical the level (brightness).
    if response.drag_started_by(egui::PointerButton::Secondary) {
        cache.drag_window = Some(document.window);
    }
    if response.dragged_by(egui::PointerButton::Secondary)
        && let Some(start) = cache.drag_window
    {
        let total = response.total_drag_delta().unwrap_or_default();
        let unit = document.auto_window.width.max(1e-3) / 300.0;
        commands.push(ViewerCommand::SetWindow(WindowLevel {
            center: start.center - total.y as f64 * unit,
            width: (start.width + total.x as f64 * unit).max(unit * 0.01),
        }));
    }
    if response.drag_stopped() {
        cache.drag_window = None;
    }
    if response.hovered() {
        let zoom = ui.input(|i| i.zoom_delta());
        // One slice per wheel notch (or per ~50 points of trackpad scrolling).
        let notches: f32 = ui.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::MouseWheel {
                        unit,
                        delta,
                        modifiers,
                        ..
                    } if !modifiers.command => Some(match unit {
                        egui::MouseWheelUnit::Point => delta.y / 50.0,
                        _ => delta.y.signum(),
                    }),
                    _ => None,
                })
                .sum()
        });
        if zoom != 1.0 {
            commands.push(ViewerCommand::ZoomView {
                plane,
                factor: zoom as f64,
            });
        } else if volumetric {
            cache.scroll += notches;
            let steps = cache.scroll.trunc();
            cache.scroll -= steps;
            if steps != 0.0 {
                commands.push(ViewerCommand::StepSlice {
                    plane,
                    delta: steps as i64,
                });
            }
        }
        if !ui.ctx().egui_wants_keyboard_input() && volumetric {
            let (up, down) = ui.input(|i| {
                (
                    i.key_pressed(egui::Key::ArrowUp),
                    i.key_pressed(egui::Key::ArrowDown),
                )
            });
            if up {
                commands.push(ViewerCommand::StepSlice { plane, delta: 1 });
            }
            if down {
                commands.push(ViewerCommand::StepSlice { plane, delta: -1 });
            }
        }
        if let Some(pos) = response.hover_pos()
            && let Some(text) = document.readout(to_voxel(pos))
        {
            readout_line(ui, rect, text);
        }
    }
}

/// The hover readout as a status line along the view's bottom edge (as
/// Slicer and ITK-SNAP show it): inside the view, never over the panels.
fn readout_line(ui: &egui::Ui, rect: egui::Rect, text: String) {
    let painter = ui.painter_at(rect);
    let font = egui::FontId::proportional(12.0);
    let galley = painter.layout(text, font, egui::Color32::WHITE, rect.width() - 8.0);
    let height = galley.size().y + 4.0;
    let strip = egui::Rect::from_min_max(
        egui::pos2(rect.left(), rect.bottom() - height),
        rect.right_bottom(),
    );
    painter.rect_filled(strip, 0.0, egui::Color32::from_black_alpha(170));
    painter.galley(
        egui::pos2(rect.left() + 4.0, strip.top() + 2.0),
        galley,
        egui::Color32::WHITE,
    );
}

/// The crop box over a 2-D image (the correction solid, the automatic one
/// dashed); dragging an edge or corner corrects it, saved on release.
#[allow(clippy::too_many_arguments)]
fn crop_box_ui(
    ui: &egui::Ui,
    document: &Document,
    overlay: &crate::app::document::CropOverlay,
    plane: Plane,
    rect: egui::Rect,
    size_px: [f64; 2],
    response: &egui::Response,
    cache: &mut ViewerCache,
    commands: &mut Commands,
) {
    let mapping = ImageScreen::of(ui, document, plane, rect, size_px);
    let to_screen = |x: f64, y: f64| mapping.to_screen(x, y);
    let to_image = |pos: egui::Pos2| mapping.to_image(pos);
    // Box edges in continuous pixel coordinates (pixel centres are integers).
    let edges = |b: [u32; 4]| {
        [
            b[0] as f64 - 0.5,
            b[1] as f64 - 0.5,
            b[2] as f64 + 0.5,
            b[3] as f64 + 0.5,
        ]
    };
    let shown = cache
        .crop_drag
        .map(|(_, b)| b)
        .or_else(|| overlay.used().map(edges));
    let Some(b) = shown else { return };
    let corners = [
        to_screen(b[0], b[1]),
        to_screen(b[2], b[1]),
        to_screen(b[2], b[3]),
        to_screen(b[0], b[3]),
    ];
    let painter = ui.painter_at(rect);
    let corrected = overlay.corrected.is_some() || cache.crop_drag.is_some();
    let colour = if corrected {
        egui::Color32::from_rgb(80, 220, 255)
    } else {
        egui::Color32::from_rgb(255, 210, 90)
    };
    let stroke = egui::Stroke::new(1.5, colour);
    for i in 0..4 {
        let (a, c) = (corners[i], corners[(i + 1) % 4]);
        if corrected {
            painter.line_segment([a, c], stroke);
        } else {
            painter.extend(egui::Shape::dashed_line(&[a, c], stroke, 6.0, 4.0));
        }
    }
    let top_left = corners
        .iter()
        .fold(corners[0], |m, p| egui::pos2(m.x.min(p.x), m.y.min(p.y)));
    // On a dark plate: bare coloured text vanished in the speckle.
    let caption = painter.layout_no_wrap(
        if corrected {
            "crop (corrected)".into()
        } else {
            "crop (automatic)".into()
        },
        egui::FontId::proportional(14.0),
        colour,
    );
    let plate = egui::Rect::from_min_size(
        top_left + egui::vec2(2.0, 2.0),
        caption.size() + egui::vec2(8.0, 4.0),
    );
    painter.rect_filled(plate, 3.0, egui::Color32::from_black_alpha(190));
    painter.galley(plate.min + egui::vec2(4.0, 2.0), caption, colour);
    let primary = egui::PointerButton::Primary;
    // Where the button went down, not where the drag was recognised (a
    // few points further on).
    let pressed_at = ui
        .input(|i| i.pointer.press_origin())
        .or(response.interact_pointer_pos());
    if response.drag_started_by(primary)
        && let Some(pos) = pressed_at
    {
        // An edge within 8 points of where the drag started moves with it,
        // in the order x0, y0, x1, y1 (corners run x0y0, x1y0, x1y1, x0y1).
        let near = |a: egui::Pos2, c: egui::Pos2| {
            let ab = c - a;
            let t = ((pos - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
            (a + ab * t - pos).length() < 8.0
        };
        let grab = [
            near(corners[3], corners[0]),
            near(corners[0], corners[1]),
            near(corners[1], corners[2]),
            near(corners[2], corners[3]),
        ];
        if grab.iter().any(|&g| g) {
            cache.crop_drag = Some((grab, b));
        }
    }
    if let Some((grab, mut moving)) = cache.crop_drag
        && response.dragged_by(primary)
        && let Some(pos) = response.interact_pointer_pos()
    {
        let (x, y) = to_image(pos);
        for (edge, value) in [(0, x), (1, y), (2, x), (3, y)] {
            if grab[edge] {
                moving[edge] = value;
            }
        }
        cache.crop_drag = Some((grab, moving));
    }
    if response.drag_stopped_by(primary)
        && let Some((_, moved)) = cache.crop_drag.take()
    {
        let [w, h, _] = document.volume.spatial_shape();
        let clamp = |v: f64, n: usize| v.round().clamp(0.0, n.saturating_sub(1) as f64) as u32;
        let (xa, xb) = (clamp(moved[0] + 0.5, w), clamp(moved[2] - 0.5, w));
        let (ya, yb) = (clamp(moved[1] + 0.5, h), clamp(moved[3] - 0.5, h));
        commands.push(LabelingCommand::SetCrop {
            crop: Some([xa.min(xb), ya.min(yb), xa.max(xb), ya.max(yb)]),
            image_size: [w as u32, h as u32],
        });
    }
}

/// The brush outline under the pointer and the polygon being drawn.
#[allow(clippy::too_many_arguments)]
fn paint_marks(
    ui: &egui::Ui,
    document: &Document,
    painting: &Painting,
    tool: Tool,
    plane: Plane,
    rect: egui::Rect,
    size_px: [f64; 2],
    response: &egui::Response,
) {
    let ppp = ui.ctx().pixels_per_point();
    let painter = ui.painter_at(rect);
    let geometry = document.geometry(plane, size_px);
    let colour = crate::ui::painting::colour(painting.active_label);
    if matches!(tool, Tool::Brush | Tool::Eraser)
        && let Some(pos) = response.hover_pos()
    {
        let s = document.spacing_mm();
        let mm_per_px = (0..3)
            .map(|a| (geometry.step_x[a] * s[a]).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-9);
        let radius_points = (painting.radius_mm / mm_per_px) as f32 / ppp;
        let stroke_colour = if tool == Tool::Eraser {
            egui::Color32::WHITE
        } else {
            colour
        };
        painter.circle_stroke(
            pos,
            radius_points.max(1.0),
            egui::Stroke::new(1.5, stroke_colour),
        );
    }
    if tool == Tool::Polygon && !painting.polygon.is_empty() {
        // Only in the view whose plane holds the corners.
        let points: Vec<egui::Pos2> = painting
            .polygon
            .iter()
            .filter_map(|&corner| {
                let px = geometry.pixel_at(corner);
                let back = geometry.voxel_at(px[0], px[1]);
                let off = (0..3)
                    .map(|a| (back[a] - corner[a]).abs())
                    .fold(0.0, f64::max);
                (off < 0.5).then(|| rect.min + egui::vec2(px[0] as f32 / ppp, px[1] as f32 / ppp))
            })
            .collect();
        if points.len() == painting.polygon.len() {
            let stroke = egui::Stroke::new(1.5, colour);
            painter.add(egui::Shape::line(points.clone(), stroke));
            for p in points {
                painter.circle_filled(p, 3.0, colour);
            }
        }
    }
}

/// The slices a 2-D model reads of this series (METHODS.md §4): marks on
/// the axial slider, and a button per slice that shows it.
fn picked_slices_ui(
    ui: &mut egui::Ui,
    document: &Document,
    picked: &crate::app::cases::PickedSlices,
    slider: &egui::Response,
    count: usize,
    commands: &mut Commands,
) {
    let indices: Vec<usize> = picked
        .slices
        .iter()
        .map(|&k| document.axial_index_of_voxel_slice(k))
        .collect();
    // The rail spans the slider's width less the handle at either end.
    let rail_width = ui.spacing().slider_width;
    let handle = slider.rect.height() / 2.5;
    let (left, right) = (
        slider.rect.left() + handle,
        slider.rect.left() + rail_width - handle,
    );
    let colour = egui::Color32::from_rgb(255, 170, 0);
    for &index in &indices {
        let t = index as f32 / count.saturating_sub(1).max(1) as f32;
        let x = left + t * (right - left);
        let y = slider.rect.bottom();
        ui.painter().add(egui::Shape::convex_polygon(
            vec![
                egui::pos2(x, y - 5.0),
                egui::pos2(x - 4.0, y + 1.0),
                egui::pos2(x + 4.0, y + 1.0),
            ],
            colour,
            egui::Stroke::NONE,
        ));
    }
    ui.horizontal_wrapped(|ui| {
        let source = if picked.overridden {
            "override".to_string()
        } else {
            format!("policy {}", picked.run.as_deref().unwrap_or(""))
        };
        ui.colored_label(colour, format!("Picked slices ({source})"));
        for (&k, &index) in picked.slices.iter().zip(&indices) {
            if ui
                .small_button(k.to_string())
                .on_hover_text("Show this slice")
                .clicked()
            {
                commands.push(ViewerCommand::SetSlice {
                    plane: Plane::Axial,
                    index,
                });
            }
        }
    });
}

/// Window/level (brightness/contrast for photos): typed, automatic, the
/// DICOM's own, or a CT preset.
pub fn window_level_ui(ui: &mut egui::Ui, document: &Document, commands: &mut Commands) {
    let volume = &document.volume;
    // Photos and ultrasound frames get brightness/contrast; CT and MR a window.
    ui.label(if volume.channels == 1 && !volume.format.is_raster() {
        "Window / level"
    } else {
        "Brightness / contrast"
    });
    let mut window = document.window;
    let speed = (document.auto_window.width / 200.0).max(1e-3);
    ui.add(
        egui::DragValue::new(&mut window.center)
            .speed(speed)
            .prefix("Level "),
    );
    ui.add(
        egui::DragValue::new(&mut window.width)
            .speed(speed)
            .prefix("Width ")
            .range(1e-6..=f64::MAX),
    );
    if window != document.window {
        commands.push(ViewerCommand::SetWindow(window));
    }
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Automatic window")
            .on_hover_text("0.5–99.5 percentiles")
            .clicked()
        {
            commands.push(ViewerCommand::ResetWindow);
        }
        if let Some((center, width)) = document.volume.dicom.as_ref().and_then(|d| d.window)
            && ui
                .small_button("DICOM")
                .on_hover_text(format!("The series' own window: W{width} / L{center}"))
                .clicked()
        {
            commands.push(ViewerCommand::SetWindow(crate::render::cpu::WindowLevel {
                center,
                width,
            }));
        }
        {
            for &(name, preset) in window_presets(document) {
                if ui
                    .small_button(name)
                    .on_hover_text(format!("W{} / L{}", preset.width, preset.center))
                    .clicked()
                {
                    commands.push(ViewerCommand::SetWindow(preset));
                }
            }
        }
    });
}

/// Layout, convention, slices, time, window/level, oblique tilt and overlay.
pub fn controls_ui(
    ui: &mut egui::Ui,
    document: &Document,
    picked: Option<&crate::app::cases::PickedSlices>,
    gpu_notice: Option<&str>,
    window_shown_above: bool,
    commands: &mut Commands,
) {
    let volume = &document.volume;
    ui.heading(
        volume
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    ui.label(format!(
        "{} · {} · {} · {}",
        volume.format.name(),
        volume
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" × "),
        volume.data.sample_type().name(),
        if volume.channels > 1 {
            "colour"
        } else {
            "grey"
        }
    ));
    if let Some(dicom) = &volume.dicom {
        let context = dicom.context_line();
        if !context.is_empty() {
            ui.label(context);
        }
        if let Some(problem) = &dicom.resampled {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("resampled onto a regular grid: {problem}"),
            );
        }
    }
    if let Some(notice) = gpu_notice {
        ui.colored_label(ui.visuals().warn_fg_color, notice);
    }
    ui.separator();

    let volumetric = document.canonical_shape().iter().all(|&n| n > 1);
    if volumetric {
        ui.horizontal_wrapped(|ui| {
            let mut layout = document.layout;
            ui.selectable_value(&mut layout, Layout::TriPlanar, "Tri-planar");
            for (plane, title) in Plane::ALL.into_iter().zip(["Axial", "Coronal", "Sagittal"]) {
                ui.selectable_value(&mut layout, Layout::Single(plane), title)
                    .on_hover_text("One large view");
            }
            if !document.companions.is_empty() {
                let plane = match document.layout {
                    Layout::Single(p) | Layout::SideBySide(p) => p,
                    Layout::TriPlanar => Plane::Axial,
                };
                ui.selectable_value(&mut layout, Layout::SideBySide(plane), "Side by side")
                    .on_hover_text("One plane of every volume of the case");
            }
            if layout != document.layout {
                commands.push(ViewerCommand::SetLayout(layout));
            }
        });
        ui.horizontal(|ui| {
            let mut convention = document.convention;
            ui.selectable_value(&mut convention, Convention::Radiological, "Radiological");
            ui.selectable_value(&mut convention, Convention::Neurological, "Neurological");
            if convention != document.convention {
                commands.push(ViewerCommand::SetConvention(convention));
            }
        });
        for plane in Plane::ALL {
            let count = document.slice_count(plane);
            let mut index = document.slice_index(plane);
            let slider = ui
                .add(egui::Slider::new(&mut index, 0..=count.saturating_sub(1)).text(plane.name()));
            if index != document.slice_index(plane) {
                commands.push(ViewerCommand::SetSlice { plane, index });
            }
            if plane == Plane::Axial
                && let Some(picked) = picked
            {
                picked_slices_ui(ui, document, picked, &slider, count, commands);
            }
        }
    }
    ui.horizontal(|ui| {
        let mut interpolation = document.interpolation;
        ui.selectable_value(&mut interpolation, Interpolation::Nearest, "Nearest");
        ui.selectable_value(&mut interpolation, Interpolation::Linear, "Linear");
        if interpolation != document.interpolation {
            commands.push(ViewerCommand::SetInterpolation(interpolation));
        }
    });
    let time_points = volume.time_points();
    if time_points > 1 {
        let mut time = document.time;
        ui.add(egui::Slider::new(&mut time, 0..=time_points - 1).text("Time"));
        if time != document.time {
            commands.push(ViewerCommand::SetTime(time));
        }
    }

    if !window_shown_above {
        ui.separator();
        window_level_ui(ui, document, commands);
    }

    if volumetric {
        ui.separator();
        ui.collapsing("Oblique planes", |ui| {
            for plane in Plane::ALL {
                let view = document.view(plane);
                let mut degrees = view.tilt.map(f64::to_degrees);
                ui.horizontal(|ui| {
                    ui.label(plane.name());
                    ui.add(
                        egui::DragValue::new(&mut degrees[0])
                            .range(-89.0..=89.0)
                            .suffix("° x"),
                    );
                    ui.add(
                        egui::DragValue::new(&mut degrees[1])
                            .range(-89.0..=89.0)
                            .suffix("° y"),
                    );
                    if ui
                        .small_button("Reset")
                        .on_hover_text("Orthogonal, fitted")
                        .clicked()
                    {
                        commands.push(ViewerCommand::ResetView(plane));
                    }
                });
                let tilt = degrees.map(f64::to_radians);
                if (tilt[0] - view.tilt[0]).abs() > 1e-9 || (tilt[1] - view.tilt[1]).abs() > 1e-9 {
                    commands.push(ViewerCommand::SetTilt { plane, tilt });
                }
            }
        });
        ui.separator();
        ui.label("Volumes of this case");
        for companion in &document.companions {
            ui.label(format!("+ {}", file_name(&companion.volume)));
        }
        ui.horizontal(|ui| {
            if ui
                .button("Add volume of this case…")
                .on_hover_text("e.g. T2 or FLAIR beside T1; same voxel grid")
                .clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("NIfTI", &["nii", "gz"])
                    .pick_file()
            {
                commands.push(ViewerCommand::AddCompanion(path));
            }
            if !document.companions.is_empty() && ui.small_button("Remove").clicked() {
                commands.push(ViewerCommand::RemoveCompanions);
            }
        });
        ui.separator();
        ui.label("Label overlay");
        if ui.button("Open label map…").clicked()
            && let Some(path) = rfd::FileDialog::new()
                .add_filter("NIfTI", &["nii", "gz"])
                .pick_file()
        {
            commands.push(ViewerCommand::OpenLabels(path));
        }
        if document.labels.is_some() {
            let mut overlay: OverlaySettings = document.overlay;
            ui.checkbox(&mut overlay.visible, "Show labels");
            ui.add(egui::Slider::new(&mut overlay.opacity, 0.0..=1.0).text("Opacity"));
            ui.checkbox(&mut overlay.outline, "Outline only");
            if overlay != document.overlay {
                commands.push(ViewerCommand::SetOverlay(overlay));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tri_planar_panes_fit_the_windows_shape() {
        let area = |w: f32, h: f32| egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w, h));
        // A wide, low strip: three in a row.
        let row = tri_planar_panes(area(1500.0, 400.0), 4.0, false);
        assert_eq!(row.len(), 3);
        assert!(row.iter().all(|(_, _, r)| r.height() == 400.0));
        // A landscape view area: a large axial pane beside coronal over sagittal.
        let panes = tri_planar_panes(area(904.0, 604.0), 4.0, false);
        let sizes: Vec<(Plane, [f32; 2])> = panes
            .iter()
            .map(|(p, _, r)| (*p, [r.width(), r.height()]))
            .collect();
        assert_eq!(
            sizes,
            [
                (Plane::Axial, [450.0, 604.0]),
                (Plane::Coronal, [450.0, 300.0]),
                (Plane::Sagittal, [450.0, 300.0]),
            ]
        );
        // With another sequence: Four-Up, its axial in the fourth pane.
        let four = tri_planar_panes(area(904.0, 604.0), 4.0, true);
        assert_eq!(four.len(), 4);
        assert_eq!((four[3].0, four[3].1), (Plane::Axial, 1));
        assert_eq!(four[3].2.min, egui::pos2(454.0, 304.0));
    }
}
