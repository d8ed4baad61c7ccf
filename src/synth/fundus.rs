//! Synthetic fundus photographs of premature infants, staged for ROP.
//!
//! An orange-red fundus disc with vignetting, an optic disc, a branching
//! vessel tree that stops at the border of the vascularised retina, and at
//! that border: nothing (Normal), a thin flat white demarcation line
//! (Stage 1), a thicker raised ridge (Stage 2), or a ridge with
//! extraretinal fibrovascular tufts (Stage 3). Rotation, illumination,
//! focus, noise, pigmentation and the border's position and contrast vary,
//! so a handful of labels does not saturate a model.
//! Lesion sizes are chosen so each stage stays visible at the 64–128 px a
//! model trains at on the CPU (a sub-pixel line is noise, not a stage).

use std::f32::consts::{PI, TAU};

use super::Rng;
use super::canvas::Canvas;

/// ROP stages the generator draws (index = stage; 0 = Normal).
pub const STAGES: [&str; 4] = ["Normal", "Stage 1", "Stage 2", "Stage 3"];

/// A generated fundus image and its ground truth.
pub struct Fundus {
    pub stage: usize,
    pub size: usize,
    pub rgb: Vec<u8>,
}

fn uniform(rng: &mut Rng, low: f32, high: f32) -> f32 {
    low + (high - low) * rng.unit() as f32
}

/// Where the camera looks and how the vessels look, as scales of the
/// generator's drawn values (1 = the posterior-pole view of the ROP demo).
/// Scaling never draws another random number: the same seed draws the
/// same eye, seen from another field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// The optic disc's distance from the image centre (about 2.6 puts it
    /// beyond the edge: a peripheral field).
    pub disc_offset_scale: f32,
    /// The vascularised retina's border distance from the disc (large:
    /// the border, and the ridge on it, lie outside the photograph).
    pub border_scale: f32,
    /// Vessel calibre (plus disease dilates the posterior vessels).
    pub vessel_width_scale: f32,
    /// Draw the macula (a darker spot temporal to the disc, where the
    /// grader clicks the fovea).
    pub macula: bool,
    /// Radians added to the drawn rotation (another field of one eye
    /// looks another way).
    pub turn: f32,
}

impl Default for View {
    fn default() -> Self {
        Self {
            disc_offset_scale: 1.0,
            border_scale: 1.0,
            vessel_width_scale: 1.0,
            macula: false,
            turn: 0.0,
        }
    }
}

/// Draws one `size`×`size` fundus image of `stage` (0–3), deterministic in `seed`.
pub fn generate(stage: usize, size: usize, seed: u64) -> Fundus {
    generate_view(stage, size, seed, View::default())
}

/// [`generate`] seen as `view` says.
///
/// One recipe, kept whole on purpose: its random draws must stay in this
/// order (same seed, same bytes — the benches' demos depend on it), and its
/// stages share a dozen drawn values (centre, field of view, rotation, …)
/// that parts would have to pass around.
pub fn generate_view(stage: usize, size: usize, seed: u64, view: View) -> Fundus {
    let mut rng = Rng::new(seed ^ 0xF0_u64.wrapping_mul(stage as u64 + 1));
    let s = size as f32;
    let centre = (
        s / 2.0 + uniform(&mut rng, -0.03, 0.03) * s,
        s / 2.0 + uniform(&mut rng, -0.03, 0.03) * s,
    );
    let fov = s * uniform(&mut rng, 0.44, 0.49);
    // Pigmentation and exposure vary between infants and cameras.
    let base = [
        uniform(&mut rng, 170.0, 230.0),
        uniform(&mut rng, 70.0, 120.0),
        uniform(&mut rng, 25.0, 60.0),
    ];
    let exposure = uniform(&mut rng, 0.75, 1.2);
    let light_angle = uniform(&mut rng, 0.0, TAU);
    let light_strength = uniform(&mut rng, 0.0, 0.35);
    let rotation = uniform(&mut rng, 0.0, TAU) + view.turn;

    let mut canvas = Canvas::new(size, size, [0.0; 3]);
    canvas.for_each(|x, y, p| {
        let (dx, dy) = ((x - centre.0) / fov, (y - centre.1) / fov);
        let r = (dx * dx + dy * dy).sqrt();
        if r < 1.0 {
            let vignette = 1.0 - 0.55 * r.powf(2.5);
            let gradient = 1.0 + light_strength * (dx * light_angle.cos() + dy * light_angle.sin());
            let shade = vignette * gradient * exposure;
            *p = [base[0] * shade, base[1] * shade, base[2] * shade];
        }
    });

    // Optic disc on one side, rotated with the whole layout.
    let disc_offset = fov * uniform(&mut rng, 0.35, 0.55) * view.disc_offset_scale;
    let disc = (
        centre.0 + disc_offset * rotation.cos(),
        centre.1 + disc_offset * rotation.sin(),
    );
    let disc_radius = s * uniform(&mut rng, 0.045, 0.065);

    // Border of the vascularised retina: an arc around the disc, on the far (temporal) side.
    let border_radius = fov * uniform(&mut rng, 0.75, 1.15) * view.border_scale;
    let avascular_tint = uniform(&mut rng, 1.02, 1.12);
    canvas.for_each(|x, y, p| {
        let d = ((x - disc.0).powi(2) + (y - disc.1).powi(2)).sqrt();
        if d > border_radius && p[0] > 0.0 {
            // Avascular retina beyond the border is slightly paler.
            for c in p.iter_mut() {
                *c *= avascular_tint;
            }
        }
    });

    // Vessel tree from the disc, stopping at the border.
    let vessel_colour = [
        base[0] * 0.55 * exposure,
        base[1] * 0.25 * exposure,
        base[2] * 0.3 * exposure,
    ];
    let trunks = 4 + (rng.next_u64() % 4) as usize;
    for t in 0..trunks {
        let angle = rotation + PI + (t as f32 / trunks as f32 - 0.5) * uniform(&mut rng, 2.6, 3.6);
        grow_vessel(
            &mut canvas,
            &mut rng,
            disc,
            angle,
            s * 0.009 * view.vessel_width_scale,
            border_radius,
            disc,
            vessel_colour,
            // A disc beyond the photograph still sends its vessels in.
            if view.disc_offset_scale > 1.0 { s } else { 0.0 },
        );
    }
    canvas.disc(
        disc,
        disc_radius,
        [250.0 * exposure, 220.0 * exposure, 150.0 * exposure],
        0.95,
        disc_radius * 0.4,
    );
    canvas.disc(
        disc,
        disc_radius * 0.45,
        [255.0, 245.0, 200.0],
        0.7,
        disc_radius * 0.3,
    );

    if view.macula {
        // Temporal to the disc, two and a half disc diameters away.
        let away = rotation + PI;
        let macula = (
            disc.0 + 5.0 * disc_radius * away.cos(),
            disc.1 + 5.0 * disc_radius * away.sin(),
        );
        let dark = [
            base[0] * 0.5 * exposure,
            base[1] * 0.35 * exposure,
            base[2] * 0.4 * exposure,
        ];
        canvas.disc(macula, disc_radius * 1.5, dark, 0.7, disc_radius * 1.0);
        canvas.disc(
            macula,
            disc_radius * 0.35,
            [base[0] * 0.35, base[1] * 0.2, base[2] * 0.2],
            0.8,
            disc_radius * 0.25,
        );
    }

    // The stage lesion along the border arc.
    let contrast = uniform(&mut rng, 0.6, 1.0);
    let arc_span = uniform(&mut rng, 0.8, 1.9);
    let arc_start = rotation + PI - arc_span / 2.0 + uniform(&mut rng, -0.4, 0.4);
    let steps = (border_radius * arc_span / 1.5) as usize + 1;
    let arc_point = |i: usize| {
        let a = arc_start + arc_span * i as f32 / steps as f32;
        (
            disc.0 + border_radius * a.cos(),
            disc.1 + border_radius * a.sin(),
            a,
        )
    };
    let inside_fov =
        |p: (f32, f32)| ((p.0 - centre.0).powi(2) + (p.1 - centre.1).powi(2)).sqrt() < fov * 0.97;
    match stage {
        0 => {}
        1 => {
            // Thin, flat, white demarcation line.
            let width = s * uniform(&mut rng, 0.006, 0.009);
            for i in 0..steps {
                let (a, b) = (arc_point(i), arc_point(i + 1));
                if inside_fov((a.0, a.1)) {
                    canvas.segment(
                        (a.0, a.1),
                        (b.0, b.1),
                        width,
                        [245.0, 235.0, 215.0],
                        0.75 * contrast,
                    );
                }
            }
        }
        _ => {
            // A raised ridge: pale centre, a shadow on the inner side, a highlight on the outer.
            let width = s * uniform(&mut rng, 0.014, 0.020);
            for i in 0..steps {
                let (a, b) = (arc_point(i), arc_point(i + 1));
                if !inside_fov((a.0, a.1)) {
                    continue;
                }
                let (nx, ny) = (a.2.cos(), a.2.sin());
                let shift = width * 0.9;
                canvas.segment(
                    (a.0 - nx * shift, a.1 - ny * shift),
                    (b.0 - nx * shift, b.1 - ny * shift),
                    width * 0.6,
                    [90.0, 30.0, 20.0],
                    0.35 * contrast,
                );
                canvas.segment(
                    (a.0, a.1),
                    (b.0, b.1),
                    width,
                    [240.0, 200.0, 185.0],
                    0.8 * contrast,
                );
                canvas.segment(
                    (a.0 + nx * shift * 0.5, a.1 + ny * shift * 0.5),
                    (b.0 + nx * shift * 0.5, b.1 + ny * shift * 0.5),
                    width * 0.35,
                    [255.0, 240.0, 230.0],
                    0.5 * contrast,
                );
            }
            if stage >= 3 {
                // Extraretinal fibrovascular tufts: red fuzzy knots along the ridge.
                let tufts = 14 + (rng.next_u64() % 10) as usize;
                for _ in 0..tufts {
                    let (x, y, a) = arc_point((rng.next_u64() % steps as u64) as usize);
                    if !inside_fov((x, y)) {
                        continue;
                    }
                    let outward = uniform(&mut rng, -0.5, 1.5) * width;
                    let centre_t = (x + a.cos() * outward, y + a.sin() * outward);
                    let radius = s * uniform(&mut rng, 0.018, 0.028);
                    canvas.disc(
                        centre_t,
                        radius,
                        [200.0, 35.0, 35.0],
                        0.8 * contrast,
                        radius * 0.8,
                    );
                    for _ in 0..4 {
                        let theta = uniform(&mut rng, 0.0, TAU);
                        let end = (
                            centre_t.0 + theta.cos() * radius * 1.8,
                            centre_t.1 + theta.sin() * radius * 1.8,
                        );
                        canvas.segment(
                            centre_t,
                            end,
                            s * 0.0025,
                            [170.0, 25.0, 30.0],
                            0.7 * contrast,
                        );
                    }
                }
            }
        }
    }

    // Focus, sensor noise, then the black surround again (blur bleeds into it).
    canvas.blur(uniform(&mut rng, 0.0, 1.6) * s / 256.0);
    let noise_sigma = uniform(&mut rng, 2.0, 9.0);
    canvas.noise(&mut rng, noise_sigma);
    canvas.for_each(|x, y, p| {
        let r = ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt();
        if r >= fov {
            *p = [0.0; 3];
        }
    });
    Fundus {
        stage,
        size,
        rgb: canvas.to_rgb8(),
    }
}

/// Grows one vessel by a wandering walk, branching, until it reaches the
/// border of the vascularised retina or thins out.
/// Vessels may walk `margin_px` beyond the canvas (a disc outside it).
#[allow(clippy::too_many_arguments)]
fn grow_vessel(
    canvas: &mut Canvas,
    rng: &mut Rng,
    start: (f32, f32),
    angle: f32,
    radius: f32,
    border_radius: f32,
    disc: (f32, f32),
    colour: [f32; 3],
    margin_px: f32,
) {
    grow_branch(
        canvas,
        rng,
        start,
        angle,
        radius,
        border_radius,
        disc,
        colour,
        margin_px,
        0,
    );
}

#[allow(clippy::too_many_arguments)]
fn grow_branch(
    canvas: &mut Canvas,
    rng: &mut Rng,
    start: (f32, f32),
    mut angle: f32,
    mut radius: f32,
    border_radius: f32,
    disc: (f32, f32),
    colour: [f32; 3],
    margin_px: f32,
    depth: usize,
) {
    let step = canvas.width as f32 * 0.012;
    let mut point = start;
    for _ in 0..200 {
        angle += uniform(rng, -0.25, 0.25);
        let next = (point.0 + step * angle.cos(), point.1 + step * angle.sin());
        let d = ((next.0 - disc.0).powi(2) + (next.1 - disc.1).powi(2)).sqrt();
        if d > border_radius
            || next.0 < -margin_px
            || next.1 < -margin_px
            || next.0 > canvas.width as f32 + margin_px
            || next.1 > canvas.height as f32 + margin_px
        {
            return;
        }
        canvas.segment(point, next, radius, colour, 0.85);
        point = next;
        radius *= 0.985;
        if depth < 3 && rng.unit() < 0.07 {
            let side = if rng.unit() < 0.5 { -1.0 } else { 1.0 };
            let branch_angle = angle + side * uniform(rng, 0.4, 0.9);
            grow_branch(
                canvas,
                rng,
                point,
                branch_angle,
                radius * 0.7,
                border_radius,
                disc,
                colour,
                margin_px,
                depth + 1,
            );
        }
        if radius < 0.45 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_image_and_stages_differ() {
        let a = generate(2, 96, 5);
        let b = generate(2, 96, 5);
        assert_eq!(a.rgb, b.rgb);
        let normal = generate(0, 96, 5);
        assert_ne!(normal.rgb, a.rgb);
        assert_eq!(a.rgb.len(), 96 * 96 * 3);
        // The corners are outside the field of view: black.
        assert_eq!(&a.rgb[..3], &[0, 0, 0]);
    }
}
