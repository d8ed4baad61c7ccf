//! Synthetic grey-scale thyroid ultrasound frames with one nodule whose
//! echogenicity, margin, shape and calcifications depend on its class:
//!
//! | class | echogenicity | margin | shape | calcifications |
//! |---|---|---|---|---|
//! | nodular goiter | iso/hyper, cystic spaces | smooth | wider than tall | none |
//! | follicular neoplasm | iso | smooth, dark halo | oval | none |
//! | papillary carcinoma | hypo | irregular, spiculated | taller than wide | micro (bright dots) |
//! | medullary carcinoma | hypo | lobulated | round | coarse |

use std::f32::consts::TAU;

use super::Rng;
use super::canvas::Canvas;

pub const CLASSES: [&str; 4] = [
    "nodular goiter",
    "follicular neoplasm",
    "papillary carcinoma",
    "medullary carcinoma",
];

fn uniform(rng: &mut Rng, low: f32, high: f32) -> f32 {
    low + (high - low) * rng.unit() as f32
}

/// A `size`×`size` 8-bit grey frame of `class` (0–3), deterministic in `seed`.
///
/// One recipe, kept whole on purpose: its random draws must stay in this
/// order (same seed, same bytes — the benches' demos depend on it), and its
/// stages share a dozen drawn values (centre, field of view, rotation, …)
/// that parts would have to pass around.
pub fn generate(class: usize, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(class as u64 * 7919));
    let s = size as f32;
    let gain = uniform(&mut rng, 0.8, 1.15);
    let tissue = 110.0 * gain;

    // Nodule geometry.
    let centre = (
        s * uniform(&mut rng, 0.35, 0.65),
        s * uniform(&mut rng, 0.4, 0.62),
    );
    let base = s * uniform(&mut rng, 0.12, 0.2);
    let (rx, ry) = match class {
        0 => (base * uniform(&mut rng, 1.3, 1.7), base),
        1 => (base * uniform(&mut rng, 1.1, 1.35), base),
        2 => (base * 0.8, base * uniform(&mut rng, 1.1, 1.5)),
        _ => (base, base * uniform(&mut rng, 0.9, 1.1)),
    };
    let echo = match class {
        0 => uniform(&mut rng, 1.0, 1.3),
        1 => uniform(&mut rng, 0.85, 1.05),
        _ => uniform(&mut rng, 0.35, 0.6),
    };
    // Margin irregularity: harmonics of the boundary radius.
    let harmonics: Vec<(f32, f32, f32)> = (0..6)
        .map(|k| {
            let amplitude = match class {
                2 => uniform(&mut rng, 0.04, 0.12),
                3 => {
                    if k < 3 {
                        uniform(&mut rng, 0.04, 0.09)
                    } else {
                        0.01
                    }
                }
                _ => uniform(&mut rng, 0.0, 0.02),
            };
            (
                (k + 3) as f32 * if class == 2 { 2.0 } else { 1.0 },
                amplitude,
                uniform(&mut rng, 0.0, TAU),
            )
        })
        .collect();
    let cysts: Vec<((f32, f32), f32)> = if class == 0 {
        (0..(1 + rng.next_u64() % 4))
            .map(|_| {
                let a = uniform(&mut rng, 0.0, TAU);
                let r = uniform(&mut rng, 0.0, 0.6);
                (
                    (centre.0 + rx * r * a.cos(), centre.1 + ry * r * a.sin()),
                    base * uniform(&mut rng, 0.12, 0.3),
                )
            })
            .collect()
    } else {
        Vec::new()
    };

    let mut canvas = Canvas::new(size, size, [0.0; 3]);
    canvas.for_each(|x, y, p| {
        // Near-field bright band, depth attenuation, a strap muscle layer.
        let depth = y / s;
        let mut level = tissue * (1.1 - 0.5 * depth);
        if (0.08..0.16).contains(&depth) {
            level *= 0.6;
        }
        let (dx, dy) = ((x - centre.0) / rx, (y - centre.1) / ry);
        let angle = dy.atan2(dx);
        let boundary = 1.0
            + harmonics
                .iter()
                .map(|(f, a, ph)| a * (f * angle + ph).sin())
                .sum::<f32>();
        let r = (dx * dx + dy * dy).sqrt() / boundary;
        if r < 1.0 {
            level *= echo;
        } else if class == 1 && r < 1.12 {
            level *= 0.35; // halo
        }
        if cysts
            .iter()
            .any(|(c, cr)| ((x - c.0).powi(2) + (y - c.1).powi(2)).sqrt() < *cr)
        {
            level *= 0.1;
        }
        *p = [level; 3];
    });
    canvas.blur(1.2 * s / 256.0);

    // Calcifications.
    match class {
        2 => {
            for _ in 0..(8 + rng.next_u64() % 14) {
                let a = uniform(&mut rng, 0.0, TAU);
                let r = uniform(&mut rng, 0.0, 0.8);
                let point = (centre.0 + rx * r * a.cos(), centre.1 + ry * r * a.sin());
                canvas.disc(point, s * 0.004, [255.0; 3], 0.9, 1.0);
            }
        }
        3 => {
            for _ in 0..(2 + rng.next_u64() % 3) {
                let a = uniform(&mut rng, 0.0, TAU);
                let r = uniform(&mut rng, 0.0, 0.6);
                let point = (centre.0 + rx * r * a.cos(), centre.1 + ry * r * a.sin());
                canvas.disc(
                    point,
                    s * uniform(&mut rng, 0.012, 0.022),
                    [250.0; 3],
                    0.9,
                    2.0,
                );
                // Acoustic shadow below a coarse calcification.
                let shadow_end = (point.0, s);
                canvas.segment(point, shadow_end, s * 0.012, [10.0; 3], 0.5);
            }
        }
        _ => {}
    }

    // Speckle: multiplicative Rayleigh-distributed noise.
    let mut grey = Vec::with_capacity(size * size);
    for p in &canvas.pixels {
        let u = rng.unit().max(1e-12);
        let rayleigh = (-2.0 * u.ln()).sqrt() as f32 / 1.2533; // unit mean
        grey.push((p[0] * (0.45 + 0.55 * rayleigh)).round().clamp(0.0, 255.0) as u8);
    }
    grey
}

/// The image sector of an export frame, in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sector {
    /// A linear probe: the rectangle `[x0, y0, x1, y1]` (inclusive).
    Linear([usize; 4]),
    /// A convex probe: a fan from `apex` between radii and ±`half_angle` (radians).
    Convex {
        apex: (f32, f32),
        radii: (f32, f32),
        half_angle: f32,
    },
}

impl Sector {
    /// Where in the tissue image (0..1 across, 0..1 deep) a frame pixel
    /// falls, or `None` outside the sector.
    fn tissue_at(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        match *self {
            Sector::Linear([x0, y0, x1, y1]) => {
                let (u, v) = (
                    (x - x0 as f32) / (x1 - x0 + 1) as f32,
                    (y - y0 as f32) / (y1 - y0 + 1) as f32,
                );
                ((0.0..1.0).contains(&u) && (0.0..1.0).contains(&v)).then_some((u, v))
            }
            Sector::Convex {
                apex,
                radii,
                half_angle,
            } => {
                let (dx, dy) = (x - apex.0, y - apex.1);
                let r = (dx * dx + dy * dy).sqrt();
                let angle = dx.atan2(dy);
                let u = (angle + half_angle) / (2.0 * half_angle);
                let v = (r - radii.0) / (radii.1 - radii.0);
                ((0.0..1.0).contains(&u) && (0.0..1.0).contains(&v)).then_some((u, v))
            }
        }
    }

    /// The sector's bounding box in frame pixels, inclusive.
    pub fn bounds(&self, size: usize) -> [usize; 4] {
        let mut b = [usize::MAX, usize::MAX, 0, 0];
        for y in 0..size {
            for x in 0..size {
                if self.tissue_at(x as f32, y as f32).is_some() {
                    b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
                }
            }
        }
        b
    }
}

/// A frame as an ultrasound machine exports it: the tissue image inside a
/// linear or convex sector on black, burned-in text at the top, a grey bar
/// at the left, a depth scale at the right, and sometimes calipers on the
/// nodule — so the crop (largest bright component) has something to remove.
/// Returns the frame and its sector.
pub fn export_frame(class: usize, size: usize, seed: u64) -> (Vec<u8>, Sector) {
    let tissue = generate(class, size, seed);
    let mut rng = Rng::new(seed ^ 0x5eed_f4a3e);
    let s = size as f32;
    let sector = if rng.next_u64().is_multiple_of(2) {
        let x0 = (s * uniform(&mut rng, 0.14, 0.2)) as usize;
        let x1 = (s * uniform(&mut rng, 0.8, 0.86)) as usize;
        // Below the burned-in text (which ends at 14 rows in 128).
        let y0 = (s * uniform(&mut rng, 0.16, 0.2)) as usize;
        let y1 = (s * uniform(&mut rng, 0.88, 0.94)) as usize;
        Sector::Linear([x0, y0, x1, y1])
    } else {
        // Narrow enough to stay clear of the grey bar and the depth scale.
        let apex = (s * uniform(&mut rng, 0.48, 0.52), -s * 0.1);
        Sector::Convex {
            apex,
            radii: (s * 0.28, s * uniform(&mut rng, 0.92, 0.98)),
            half_angle: uniform(&mut rng, 0.38, 0.44),
        }
    };
    let mut frame = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            if let Some((u, v)) = sector.tissue_at(x as f32, y as f32) {
                let (tx, ty) = (
                    ((u * s) as usize).min(size - 1),
                    ((v * s) as usize).min(size - 1),
                );
                // Never quite black inside the sector (the machine's gain floor).
                frame[x + size * y] = tissue[tx + size * ty].max(6);
            }
        }
    }
    let mut fill = |x0: usize, y0: usize, w: usize, h: usize, value: u8| {
        for y in y0..(y0 + h).min(size) {
            for x in x0..(x0 + w).min(size) {
                frame[x + size * y] = value;
            }
        }
    };
    let unit = (size / 128).max(1);
    // Burned-in text: two lines of 3×5-cell "characters" at the top left.
    for line in 0..2 {
        let y = unit * (2 + 7 * line);
        for c in 0..(6 + rng.next_u64() % 6) as usize {
            for cell in 0..15 {
                if !rng.next_u64().is_multiple_of(3) {
                    let (cx, cy) = (cell % 3, cell / 3);
                    fill(unit * (3 + 4 * c + cx), y + unit * cy, unit, unit, 230);
                }
            }
        }
    }
    // The grey bar: a vertical ramp at the left.
    let (bar_x, bar_top, bar_h) = (unit * 2, size / 4, size / 2);
    for i in 0..bar_h {
        fill(
            bar_x,
            bar_top + i,
            unit * 3,
            1,
            (255 * i / bar_h.max(1)) as u8,
        );
    }
    // Depth scale: a line and ticks at the right.
    let scale_x = size - unit * 5;
    fill(scale_x, size / 8, unit.max(1), size * 3 / 4, 180);
    for t in 0..8 {
        fill(
            scale_x - unit * 2,
            size / 8 + t * size * 3 / 32,
            unit * 2,
            unit,
            180,
        );
    }
    // Calipers on the nodule's extent, now and then.
    if rng.next_u64() % 5 < 2 {
        let b = sector.bounds(size);
        let y = (b[1] + b[3]) / 2;
        for x in [b[0] + (b[2] - b[0]) / 3, b[0] + 2 * (b[2] - b[0]) / 3] {
            fill(x.saturating_sub(unit * 2), y, unit * 5, unit, 255);
            fill(x, y.saturating_sub(unit * 2), unit, unit * 5, 255);
        }
    }
    (frame, sector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_crop_finds_the_sector_of_an_export_frame() {
        for seed in 0..8 {
            let size = 192;
            let (frame, sector) = export_frame(seed as usize % 4, size, seed);
            let grey = image::GrayImage::from_raw(size as u32, size as u32, frame).unwrap();
            let found =
                crate::volume::crop::auto_crop(&crate::volume::crop::GreyFrame::of(&grey)).unwrap();
            let truth = sector.bounds(size);
            for a in 0..4 {
                let off = (found.bbox[a] as i64 - truth[a] as i64).abs();
                assert!(
                    off <= 3,
                    "seed {seed}: crop {:?} vs sector {truth:?}",
                    found.bbox
                );
            }
        }
    }

    #[test]
    fn deterministic_and_class_dependent() {
        assert_eq!(generate(2, 64, 9), generate(2, 64, 9));
        assert_ne!(generate(0, 64, 9), generate(2, 64, 9));
        assert_eq!(generate(3, 64, 1).len(), 64 * 64);
    }
}
