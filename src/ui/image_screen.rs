//! Image pixels and screen points of one view of a 2-D image, both ways:
//! the one mapping the overlays drawn over a photograph (the crop box, the
//! ICROP3 zones) draw and click with.

use crate::app::document::Document;
use crate::volume::slice::Plane;

/// Image pixels (x right, y down; pixel centres at whole numbers) and
/// screen points of one view of a 2-D image, both ways: what the overlays
/// drawn over a photograph (crop box, ICROP3 zones) draw and click with.
pub struct ImageScreen {
    geometry: crate::render::view::ViewGeometry,
    rect: egui::Rect,
    ppp: f32,
}

impl ImageScreen {
    pub fn of(
        ui: &egui::Ui,
        document: &Document,
        plane: Plane,
        rect: egui::Rect,
        size_px: [f64; 2],
    ) -> Self {
        Self {
            geometry: document.geometry(plane, size_px),
            rect,
            ppp: ui.ctx().pixels_per_point(),
        }
    }

    pub fn to_screen(&self, x: f64, y: f64) -> egui::Pos2 {
        let px = self.geometry.pixel_at([x, y, 0.0]);
        self.rect.min + egui::vec2(px[0] as f32 / self.ppp, px[1] as f32 / self.ppp)
    }

    pub fn to_image(&self, pos: egui::Pos2) -> (f64, f64) {
        let local = (pos - self.rect.min) * self.ppp;
        let v = self.geometry.voxel_at(local.x as f64, local.y as f64);
        (v[0], v[1])
    }
}
