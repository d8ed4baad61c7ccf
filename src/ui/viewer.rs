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

/// Draws the slice fitted and centred in the available space; the wheel and
/// arrow keys move through slices; hovering shows the value under the cursor.
pub fn image_ui(
    ui: &mut egui::Ui,
    document: &Document,
    texture: &egui::TextureHandle,
    commands: &mut Vec<Command>,
) {
    let (area, response) = ui.allocate_exact_size(ui.available_size(), egui::Sense::hover());
    let image_size = texture.size_vec2();
    let scale = (area.width() / image_size.x)
        .min(area.height() / image_size.y)
        .max(0.01);
    let image_rect = egui::Rect::from_center_size(area.center(), image_size * scale);
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    ui.painter()
        .image(texture.id(), image_rect, uv, egui::Color32::WHITE);

    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll.abs() > 0.5 {
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

    if volume.channels == 1 {
        ui.separator();
        ui.label("Window / level");
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
