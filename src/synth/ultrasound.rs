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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_class_dependent() {
        assert_eq!(generate(2, 64, 9), generate(2, 64, 9));
        assert_ne!(generate(0, 64, 9), generate(2, 64, 9));
        assert_eq!(generate(3, 64, 1).len(), 64 * 64);
    }
}
