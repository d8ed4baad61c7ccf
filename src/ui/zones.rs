//! ICROP3's zones over a posterior-pole photograph: zone I (solid) and the
//! posterior zone II boundary (dashed) around the disc, the disc and
//! foveal marks, the prompt while the grader places them, and the
//! controls beside the viewer. Draws from the overlay; clicks and buttons
//! are [`ZoneCommand`]s.

use crate::app::document::Document;
use crate::app::zones::{Placing, ZoneOverlay};
use crate::app::{Commands, ZoneCommand};
use crate::rop::zones::Point;
use crate::volume::slice::Plane;

use super::image_screen::ImageScreen;

const ZONE_ONE: egui::Color32 = egui::Color32::from_rgb(255, 196, 60);
const ZONE_TWO: egui::Color32 = egui::Color32::from_rgb(120, 220, 255);

/// The overlay on one view; a click places the next mark while marking
/// (`clicks` false while a paint tool has the mouse).
#[allow(clippy::too_many_arguments)]
pub fn overlay_ui(
    ui: &egui::Ui,
    document: &Document,
    overlay: &ZoneOverlay,
    plane: Plane,
    rect: egui::Rect,
    size_px: [f64; 2],
    response: &egui::Response,
    clicks: bool,
    commands: &mut Commands,
) {
    let mapping = ImageScreen::of(ui, document, plane, rect, size_px);
    let to_screen = |p: Point| mapping.to_screen(p.x, p.y);
    // Screen points per image pixel (the view keeps pixels square).
    let scale =
        (to_screen(Point { x: 1.0, y: 0.0 }) - to_screen(Point { x: 0.0, y: 0.0 })).length();
    let painter = ui.painter_at(rect);
    if overlay.shown
        && let Some(marks) = &overlay.marks
        && let Ok(circles) = marks.circles()
    {
        let centre = to_screen(circles.centre);
        let zone1 = circles.zone1_radius_px as f32 * scale;
        painter.circle_stroke(centre, zone1, egui::Stroke::new(1.5, ZONE_ONE));
        circle_label(&painter, rect, centre, zone1, "zone I", ZONE_ONE);
        if let Some(radius) = circles.posterior_zone2_radius_px {
            let radius = radius as f32 * scale;
            let points: Vec<egui::Pos2> = (0..=96)
                .map(|k| {
                    let a = k as f32 / 96.0 * std::f32::consts::TAU;
                    centre + radius * egui::vec2(a.cos(), a.sin())
                })
                .collect();
            painter.extend(egui::Shape::dashed_line(
                &points,
                egui::Stroke::new(1.5, ZONE_TWO),
                6.0,
                4.0,
            ));
            circle_label(
                &painter,
                rect,
                centre,
                radius,
                "posterior zone II",
                ZONE_TWO,
            );
        }
        cross(&painter, centre, "disc", ZONE_ONE);
        cross(&painter, to_screen(marks.fovea_centre), "fovea", ZONE_ONE);
    }
    match overlay.placing {
        Placing::Fovea { disc } => cross(&painter, to_screen(disc), "disc", ZONE_TWO),
        Placing::Rim { disc, fovea } => {
            cross(&painter, to_screen(disc), "disc", ZONE_TWO);
            cross(&painter, to_screen(fovea), "fovea", ZONE_TWO);
        }
        Placing::Idle | Placing::Disc => {}
    }
    if let Some(prompt) = overlay.placing.prompt() {
        painter.text(
            rect.center_top() + egui::vec2(0.0, 24.0),
            egui::Align2::CENTER_TOP,
            prompt,
            egui::FontId::proportional(15.0),
            ZONE_TWO,
        );
        if clicks
            && response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let (x, y) = mapping.to_image(pos);
            commands.push(ZoneCommand::Click([x, y]));
        }
    }
}

/// A circle's name on its outline where the view shows it: the first of
/// top, bottom, right, left and the diagonals that lies inside the view.
fn circle_label(
    painter: &egui::Painter,
    rect: egui::Rect,
    centre: egui::Pos2,
    radius: f32,
    name: &str,
    colour: egui::Color32,
) {
    let inside = rect.shrink(16.0);
    let at = [-90.0_f32, 90.0, 0.0, 180.0, -45.0, -135.0, 45.0, 135.0]
        .into_iter()
        .map(|degrees| centre + radius * egui::Vec2::angled(degrees.to_radians()))
        .find(|p| inside.contains(*p));
    if let Some(at) = at {
        painter.text(
            at,
            egui::Align2::CENTER_BOTTOM,
            name,
            egui::FontId::proportional(12.0),
            colour,
        );
    }
}

/// A small cross with its name beside it.
fn cross(painter: &egui::Painter, at: egui::Pos2, name: &str, colour: egui::Color32) {
    let stroke = egui::Stroke::new(1.5, colour);
    let d = 5.0;
    painter.line_segment([at - egui::vec2(d, 0.0), at + egui::vec2(d, 0.0)], stroke);
    painter.line_segment([at - egui::vec2(0.0, d), at + egui::vec2(0.0, d)], stroke);
    painter.text(
        at + egui::vec2(d + 2.0, 0.0),
        egui::Align2::LEFT_CENTER,
        name,
        egui::FontId::proportional(11.0),
        colour,
    );
}

/// The overlay's controls beside the viewer.
pub fn controls_ui(ui: &mut egui::Ui, overlay: &ZoneOverlay, commands: &mut Commands) {
    ui.separator();
    ui.strong("ICROP3 zones");
    let mut shown = overlay.shown;
    if ui.checkbox(&mut shown, "Show zones (Z)").changed() {
        commands.push(ZoneCommand::Toggle);
    }
    ui.horizontal(|ui| {
        let label = if overlay.marks.is_some() {
            "Mark disc and fovea again"
        } else {
            "Mark disc and fovea"
        };
        if ui
            .button(label)
            .on_hover_text(
                "Click the optic disc centre, then the foveal centre, then (once per image) \
                 the disc's edge. Zone I: radius twice the disc–fovea distance; posterior \
                 zone II: two disc diameters beyond it.",
            )
            .clicked()
        {
            commands.push(ZoneCommand::Mark);
        }
        if overlay.placing != Placing::Idle && ui.button("Cancel").clicked() {
            commands.push(ZoneCommand::Cancel);
        }
        if overlay.marks.is_some() && ui.button("Clear").clicked() {
            commands.push(ZoneCommand::Clear);
        }
    });
    if let Some(prompt) = overlay.placing.prompt() {
        ui.colored_label(ZONE_TWO, prompt);
    }
    let Some(marks) = &overlay.marks else {
        ui.weak("no disc or fovea marked on this image");
        return;
    };
    let distance = marks.disc_centre.distance(marks.fovea_centre);
    ui.label(format!(
        "disc–fovea {distance:.1} px, zone I radius {:.1} px",
        2.0 * distance
    ));
    ui.horizontal(|ui| {
        ui.label("disc diameter");
        let mut diameter = marks.disc_diameter_px.unwrap_or(0.0);
        let response = ui.add(
            egui::DragValue::new(&mut diameter)
                .range(0.0..=10_000.0)
                .speed(0.5)
                .suffix(" px"),
        );
        if response.changed() {
            commands.push(ZoneCommand::SetDiameter(
                (diameter > 0.0).then_some(diameter),
            ));
        }
        if marks.disc_diameter_px.is_none() {
            ui.weak("(not set: no posterior zone II)");
        }
    });
}
