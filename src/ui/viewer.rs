//! The image view: the current slice as a texture, its slider, window/level
//! controls and the value under the cursor.

use crate::app::{Command, Document};
use crate::render::cpu::WindowLevel;

/// The texture of the displayed slice, re-uploaded only when the document's revision changed.
pub fn slice_texture(
    ctx: &egui::Context,
    document: &Document,
    cache: &mut Option<(u64, egui::TextureHandle)>,
) -> egui::TextureHandle {
    if let Some((revision, texture)) = cache
        && *revision == document.revision
    {
        return texture.clone();
    }
    let size = [document.slice.width.max(1), document.slice.height.max(1)];
    let mut rgba = document.rgba();
    rgba.resize(size[0] * size[1] * 4, 0);
    let image = egui::ColorImage::from_rgba_unmultiplied(size, &rgba);
    // Nearest: each voxel stays a crisp square when zoomed in.
    let options = egui::TextureOptions::NEAREST;
    let texture = match cache.take() {
        Some((_, mut texture)) => {
            texture.set(image, options);
            texture
        }
        None => ctx.load_texture("slice", image, options),
    };
    *cache = Some((document.revision, texture.clone()));
    texture
}

/// Zoom and pan of the image view (runtime only; reset for each new image).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    pub zoom: f32,
    pub pan: egui::Vec2,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            pan: egui::Vec2::ZERO,
        }
    }
}

/// Draws the slice fitted and centred, then zoomed (Ctrl+wheel) and panned
/// (drag); double-click resets. The wheel moves through slices; hovering
/// shows the value under the cursor.
pub fn image_ui(
    ui: &mut egui::Ui,
    document: &Document,
    texture: &egui::TextureHandle,
    view: &mut ViewTransform,
    commands: &mut Vec<Command>,
) {
    let (area, response) =
        ui.allocate_exact_size(ui.available_size(), egui::Sense::click_and_drag());
    let image_size = texture.size_vec2();
    let fit = (area.width() / image_size.x)
        .min(area.height() / image_size.y)
        .max(0.01);
    if response.hovered() {
        let zoom = ui.input(|i| i.zoom_delta());
        if zoom != 1.0 {
            view.zoom = (view.zoom * zoom).clamp(0.2, 40.0);
        }
    }
    if response.dragged() {
        view.pan += response.drag_delta();
    }
    if response.double_clicked() {
        *view = ViewTransform::default();
    }
    let scale = fit * view.zoom;
    let image_rect = egui::Rect::from_center_size(area.center() + view.pan, image_size * scale);
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    ui.painter()
        .with_clip_rect(area)
        .image(texture.id(), image_rect, uv, egui::Color32::WHITE);

    if response.hovered() {
        let (scroll, ctrl) = ui.input(|i| (i.smooth_scroll_delta.y, i.modifiers.command));
        if !ctrl && scroll.abs() > 0.5 && document.slice_count > 1 {
            commands.push(Command::StepSlice(if scroll > 0.0 { 1 } else { -1 }));
        }
        if let Some(pointer) = response.hover_pos().filter(|p| image_rect.contains(*p)) {
            let local = (pointer - image_rect.min) / scale;
            let (x, y) = (local.x.floor() as usize, local.y.floor() as usize);
            let readout = match document.readout_at_pixel(x, y) {
                Some(value) => format!("x {x}, y {y}: {value}"),
                None => format!("x {x}, y {y}"),
            };
            response.on_hover_text_at_pointer(readout);
        }
    }
    if document.slice_count > 1 && !ui.ctx().egui_wants_keyboard_input() {
        let (up, down) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
            )
        });
        if up {
            commands.push(Command::StepSlice(1));
        }
        if down {
            commands.push(Command::StepSlice(-1));
        }
    }
}

/// Slice and time sliders, window/level, and what the file is.
pub fn controls_ui(ui: &mut egui::Ui, document: &Document, commands: &mut Vec<Command>) {
    let volume = &document.volume;
    ui.heading(
        volume
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    ui.label(format!(
        "{} · {} × {} · {}",
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
    ui.separator();

    if document.slice_count > 1 {
        ui.label(format!("{} slice", document.plane.name()));
        let mut index = document.slice_index;
        ui.add(egui::Slider::new(&mut index, 0..=document.slice_count - 1).text("Slice"));
        if index != document.slice_index {
            commands.push(Command::SetSlice(index));
        }
    }
    let time_points = volume.time_points();
    if time_points > 1 {
        let mut time = document.time;
        ui.add(egui::Slider::new(&mut time, 0..=time_points - 1).text("Time"));
        if time != document.time {
            commands.push(Command::SetTime(time));
        }
    }

    {
        ui.separator();
        ui.label(if volume.channels == 1 {
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
            commands.push(Command::SetWindow(WindowLevel {
                center: window.center,
                width: window.width,
            }));
        }
        if ui.button("Automatic window").clicked() {
            commands.push(Command::ResetWindow);
        }
    }
}
