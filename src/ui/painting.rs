//! Painting in the window: the toolbar above the views (tool, radius,
//! label, undo/redo) and, while a tool is active, the panel with the
//! project's labels and their live volumes, paint-over rule, fill, polygon,
//! brush shape, interpolation, undo/redo, overlay opacity and outline. Draws from [`Painting`] and sends
//! [`PaintCommand`]s; the views turn mouse strokes into commands.

use crate::app::document::{Document, OverlaySettings};
use crate::app::painting::{Painting, Tool};
use crate::app::vocabulary::PaintLabel;
use crate::app::{Commands, PaintCommand, ViewerCommand};
use crate::paint::{BRUSH_RADIUS_MM, BrushShape, PaintOver};
use crate::render::cpu::label_colour;
use crate::volume::slice::Plane;

/// Text the panel is editing (a new label's name and value).
#[derive(Default)]
pub struct PaintDraft {
    pub name: String,
    pub value: u8,
}

/// A label value's overlay colour, as the views draw it.
pub fn colour(value: u8) -> egui::Color32 {
    let [r, g, b] = label_colour(u32::from(value));
    egui::Color32::from_rgb(r as u8, g as u8, b as u8)
}

/// The panel (only while an item of a project is shown).
pub fn painting_ui(
    ui: &mut egui::Ui,
    painting: &Painting,
    document: &Document,
    draft: &mut PaintDraft,
    commands: &mut Commands,
) {
    if painting.target.is_none() {
        return;
    }
    // While navigating the panel stays out of the way (the toolbar above
    // the image picks a tool).
    if painting.tool == Tool::Navigate {
        return;
    }
    egui::CollapsingHeader::new("Paint label map")
        .default_open(true)
        .show(ui, |ui| {
            match painting.tool {
                Tool::Fill => fill_ui(ui, painting, commands),
                Tool::Polygon => {
                    ui.label(format!(
                        "{} corners · click to add, Enter or double-click closes, Esc cancels",
                        painting.polygon.len()
                    ));
                    ui.horizontal(|ui| {
                        if ui
                            .add_enabled(painting.polygon.len() >= 3, egui::Button::new("Close"))
                            .clicked()
                        {
                            commands.push(PaintCommand::ClosePolygon);
                        }
                        if ui
                            .add_enabled(!painting.polygon.is_empty(), egui::Button::new("Cancel"))
                            .clicked()
                        {
                            commands.push(PaintCommand::CancelPolygon);
                        }
                    });
                }
                Tool::Brush | Tool::Eraser => {
                    let mut shape = painting.brush_shape;
                    ui.horizontal(|ui| {
                        ui.label("Brush");
                        ui.selectable_value(&mut shape, BrushShape::Disk, "Disk")
                            .on_hover_text("On the view's plane (oblique too)");
                        ui.selectable_value(&mut shape, BrushShape::Sphere, "Sphere")
                            .on_hover_text("A ball in 3-D");
                    });
                    if shape != painting.brush_shape {
                        commands.push(PaintCommand::SetBrushShape(shape));
                    }
                }
                Tool::Navigate => {}
            }
            ui.separator();
            labels_ui(ui, painting, draft, commands);
            ui.separator();
            paint_over_ui(ui, painting, commands);
            if document.canonical_shape().iter().all(|&n| n > 1) {
                ui.horizontal_wrapped(|ui| {
                    for (plane, name) in Plane::ALL.into_iter().zip(["axial", "coronal", "sagittal"]) {
                        if ui
                            .small_button(format!("Interpolate {name}"))
                            .on_hover_text(
                                "Fills the active label on the slices between two painted ones (shape-based, signed distance)",
                            )
                            .clicked()
                        {
                            let axis = document.grid.voxel_axis[plane.normal_axis()];
                            commands.push(PaintCommand::Interpolate { axis });
                        }
                    }
                });
            }
            overlay_ui(ui, document, commands);
            ui.weak("Every stroke is saved when the mouse is released.");
        });
    ui.separator();
}

/// The painting toolbar above the views: tool, brush radius, active label,
/// undo and redo, and whether the last stroke was saved.
pub fn toolbar_ui(ui: &mut egui::Ui, painting: &Painting, commands: &mut Commands) {
    if painting.target.is_none() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (tool, key) in Tool::ALL
            .into_iter()
            .zip(["Esc", "Alt+B", "Alt+E", "Alt+F", "Alt+P"])
        {
            if ui
                .selectable_label(painting.tool == tool, tool.name())
                .on_hover_text(key)
                .clicked()
            {
                commands.push(PaintCommand::SetTool(tool));
            }
        }
        if matches!(painting.tool, Tool::Brush | Tool::Eraser) {
            ui.separator();
            let mut radius = painting.radius_mm;
            ui.add(
                egui::Slider::new(&mut radius, BRUSH_RADIUS_MM)
                    .logarithmic(true)
                    .suffix(" mm")
                    .text("Radius ([ ])"),
            );
            if radius != painting.radius_mm {
                commands.push(PaintCommand::SetRadius(radius));
            }
        }
        ui.separator();
        let describe = |value: u8| {
            format!(
                "{value} · {}",
                painting.label_name(value).unwrap_or("unnamed")
            )
        };
        let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
        ui.painter()
            .rect_filled(rect, 2.0, colour(painting.active_label));
        let mut active = painting.active_label;
        egui::ComboBox::from_label("Label (Alt+1…9)")
            .selected_text(describe(active))
            .show_ui(ui, |ui| {
                for label in &painting.labels {
                    ui.selectable_value(&mut active, label.value, describe(label.value));
                }
            });
        if active != painting.active_label {
            commands.push(PaintCommand::SetActiveLabel(active));
        }
        ui.separator();
        if ui
            .add_enabled(painting.can_undo(), egui::Button::new("Undo stroke"))
            .on_hover_text("Undo the last stroke (Ctrl+Z while a tool is active)")
            .clicked()
        {
            commands.push(PaintCommand::Undo);
        }
        if ui
            .add_enabled(painting.can_redo(), egui::Button::new("Redo stroke"))
            .on_hover_text("Redo (Ctrl+Y or Ctrl+Shift+Z while a tool is active)")
            .clicked()
        {
            commands.push(PaintCommand::Redo);
        }
        match &painting.saved {
            Some(Ok(text)) => {
                ui.weak(text);
            }
            Some(Err(error)) => {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            None => {}
        }
    });
    ui.separator();
}

fn fill_ui(ui: &mut egui::Ui, painting: &Painting, commands: &mut Commands) {
    let mut three_d = painting.fill_3d;
    let mut tolerance = painting.fill_tolerance;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut three_d, false, "On the slice");
        ui.selectable_value(&mut three_d, true, "In 3-D");
    });
    ui.add(
        egui::DragValue::new(&mut tolerance)
            .range(0.0..=f64::MAX)
            .prefix("± ")
            .suffix(" around the clicked voxel"),
    );
    if three_d != painting.fill_3d || tolerance != painting.fill_tolerance {
        commands.push(PaintCommand::SetFill { three_d, tolerance });
    }
}

fn labels_ui(
    ui: &mut egui::Ui,
    painting: &Painting,
    draft: &mut PaintDraft,
    commands: &mut Commands,
) {
    let volumes = painting.volumes();
    egui::Grid::new("paint labels")
        .striped(true)
        .show(ui, |ui| {
            for (n, label) in painting.labels.iter().enumerate() {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                ui.painter().rect_filled(rect, 2.0, colour(label.value));
                let key = if n < 9 {
                    format!("Alt+{}", n + 1)
                } else {
                    String::new()
                };
                if ui
                    .selectable_label(
                        painting.active_label == label.value,
                        format!("{} {}", label.value, label.name),
                    )
                    .on_hover_text(key)
                    .clicked()
                {
                    commands.push(PaintCommand::SetActiveLabel(label.value));
                }
                match volumes.iter().find(|v| v.label == label.value) {
                    Some(v) => ui.label(format!("{} vox · {:.3} mL", v.voxels, v.ml)),
                    None => ui.weak("—"),
                };
                ui.end_row();
            }
            // Values painted that the list does not name (an imported map).
            for v in volumes
                .iter()
                .filter(|v| !painting.labels.iter().any(|l| l.value == v.label))
            {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                ui.painter().rect_filled(rect, 2.0, colour(v.label));
                ui.label(format!("{} (unnamed)", v.label));
                ui.label(format!("{} vox · {:.3} mL", v.voxels, v.ml));
                ui.end_row();
            }
        });
    ui.horizontal(|ui| {
        if draft.value == 0 {
            draft.value = (1..=255u8)
                .find(|v| !painting.labels.iter().any(|l| l.value == *v))
                .unwrap_or(255);
        }
        let value_label = ui.label("New label");
        ui.add(egui::DragValue::new(&mut draft.value).range(1..=255))
            .labelled_by(value_label.id);
        ui.add(
            egui::TextEdit::singleline(&mut draft.name)
                .hint_text("new label")
                .desired_width(110.0),
        );
        let name = draft.name.trim().to_string();
        if ui
            .add_enabled(!name.is_empty(), egui::Button::new("Add"))
            .on_hover_text("Adds the label to this project's list (same value: renames it)")
            .clicked()
        {
            let mut labels: Vec<PaintLabel> = painting
                .labels
                .iter()
                .filter(|l| l.value != draft.value)
                .cloned()
                .collect();
            labels.push(PaintLabel::new(draft.value, &name));
            labels.sort_by_key(|l| l.value);
            commands.push(PaintCommand::SetLabels(labels));
            draft.name.clear();
            draft.value = 0;
        }
    });
}

fn paint_over_ui(ui: &mut egui::Ui, painting: &Painting, commands: &mut Commands) {
    let describe = |rule: PaintOver| match rule {
        PaintOver::All => "all voxels".to_string(),
        PaintOver::Unlabeled => "only unlabeled".to_string(),
        PaintOver::Only(l) => format!(
            "only label {l}{}",
            painting
                .label_name(l)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    };
    let mut rule = painting.paint_over;
    egui::ComboBox::from_label("Paint over")
        .selected_text(describe(rule))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut rule, PaintOver::All, describe(PaintOver::All));
            ui.selectable_value(
                &mut rule,
                PaintOver::Unlabeled,
                describe(PaintOver::Unlabeled),
            );
            for label in &painting.labels {
                let only = PaintOver::Only(label.value);
                ui.selectable_value(&mut rule, only, describe(only));
            }
        });
    if rule != painting.paint_over {
        commands.push(PaintCommand::SetPaintOver(rule));
    }
}

fn overlay_ui(ui: &mut egui::Ui, document: &Document, commands: &mut Commands) {
    if document.labels.is_none() {
        return;
    }
    let mut overlay: OverlaySettings = document.overlay;
    ui.horizontal(|ui| {
        ui.checkbox(&mut overlay.visible, "Show");
        ui.checkbox(&mut overlay.outline, "Outline");
    });
    ui.add(egui::Slider::new(&mut overlay.opacity, 0.0..=1.0).text("Opacity"));
    if overlay != document.overlay {
        commands.push(ViewerCommand::SetOverlay(overlay));
    }
}

/// The painting keys, while a project item is shown: tools (Alt+B/E/F/P,
/// Esc), brush radius (`[` `]`), label (Alt+1…9), polygon (Enter), and
/// Ctrl+Z / Ctrl+Y for strokes while a tool is active. Returns whether a
/// key was taken (so label hotkeys do not see it).
pub fn paint_key(
    painting: &Painting,
    key: egui::Key,
    modifiers: egui::Modifiers,
    commands: &mut Commands,
) -> bool {
    if painting.target.is_none() {
        return false;
    }
    let active = painting.tool != Tool::Navigate;
    if modifiers.command {
        if !active {
            return false;
        }
        match key {
            egui::Key::Z if modifiers.shift => commands.push(PaintCommand::Redo),
            egui::Key::Z => commands.push(PaintCommand::Undo),
            egui::Key::Y => commands.push(PaintCommand::Redo),
            _ => return false,
        }
        return true;
    }
    if modifiers.alt {
        let tool = match key {
            egui::Key::B => Some(Tool::Brush),
            egui::Key::E => Some(Tool::Eraser),
            egui::Key::F => Some(Tool::Fill),
            egui::Key::P => Some(Tool::Polygon),
            _ => None,
        };
        if let Some(tool) = tool {
            commands.push(PaintCommand::SetTool(tool));
            return true;
        }
        let digit = match key {
            egui::Key::Num1 => Some(0),
            egui::Key::Num2 => Some(1),
            egui::Key::Num3 => Some(2),
            egui::Key::Num4 => Some(3),
            egui::Key::Num5 => Some(4),
            egui::Key::Num6 => Some(5),
            egui::Key::Num7 => Some(6),
            egui::Key::Num8 => Some(7),
            egui::Key::Num9 => Some(8),
            _ => None,
        };
        if let Some(label) = digit.and_then(|n| painting.labels.get(n)) {
            commands.push(PaintCommand::SetActiveLabel(label.value));
            return true;
        }
        return false;
    }
    if !active {
        return false;
    }
    match key {
        egui::Key::OpenBracket => {
            commands.push(PaintCommand::SetRadius(painting.radius_mm / 1.25));
        }
        egui::Key::CloseBracket => {
            commands.push(PaintCommand::SetRadius(painting.radius_mm * 1.25));
        }
        egui::Key::Enter if painting.tool == Tool::Polygon => {
            commands.push(PaintCommand::ClosePolygon);
        }
        egui::Key::Escape => {
            if painting.polygon.is_empty() {
                commands.push(PaintCommand::SetTool(Tool::Navigate));
            } else {
                commands.push(PaintCommand::CancelPolygon);
            }
        }
        _ => return false,
    }
    true
}
