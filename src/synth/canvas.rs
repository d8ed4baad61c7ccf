//! A small float RGB canvas with the few primitives the generators need:
//! soft discs, thick segments, blur, noise, and PNG output.

use super::Rng;

/// Linear RGB in 0–255, row-major.
#[derive(Clone, Debug)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[f32; 3]>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, fill: [f32; 3]) -> Self {
        Self {
            width,
            height,
            pixels: vec![fill; width * height],
        }
    }

    /// Calls `f(x, y, &mut pixel)` for every pixel.
    pub fn for_each(&mut self, mut f: impl FnMut(f32, f32, &mut [f32; 3])) {
        for y in 0..self.height {
            for x in 0..self.width {
                f(
                    x as f32 + 0.5,
                    y as f32 + 0.5,
                    &mut self.pixels[y * self.width + x],
                );
            }
        }
    }

    /// Blends `colour` over pixels within `radius` of the segment a–b, with a soft 1-px edge.
    pub fn segment(
        &mut self,
        a: (f32, f32),
        b: (f32, f32),
        radius: f32,
        colour: [f32; 3],
        opacity: f32,
    ) {
        let pad = radius + 1.5;
        let (x0, x1) = (a.0.min(b.0) - pad, a.0.max(b.0) + pad);
        let (y0, y1) = (a.1.min(b.1) - pad, a.1.max(b.1) + pad);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length2 = (dx * dx + dy * dy).max(1e-6);
        for y in (y0.max(0.0) as usize)..(y1.min(self.height as f32) as usize) {
            for x in (x0.max(0.0) as usize)..(x1.min(self.width as f32) as usize) {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - a.0) * dx + (py - a.1) * dy) / length2).clamp(0.0, 1.0);
                let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
                let distance = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
                let coverage = (radius + 0.5 - distance).clamp(0.0, 1.0) * opacity;
                if coverage > 0.0 {
                    let p = &mut self.pixels[y * self.width + x];
                    for c in 0..3 {
                        p[c] += (colour[c] - p[c]) * coverage;
                    }
                }
            }
        }
    }

    /// A filled disc with a soft edge `softness` pixels wide.
    pub fn disc(
        &mut self,
        centre: (f32, f32),
        radius: f32,
        colour: [f32; 3],
        opacity: f32,
        softness: f32,
    ) {
        let pad = radius + softness + 1.0;
        for y in ((centre.1 - pad).max(0.0) as usize)
            ..((centre.1 + pad).min(self.height as f32) as usize)
        {
            for x in ((centre.0 - pad).max(0.0) as usize)
                ..((centre.0 + pad).min(self.width as f32) as usize)
            {
                let distance = ((x as f32 + 0.5 - centre.0).powi(2)
                    + (y as f32 + 0.5 - centre.1).powi(2))
                .sqrt();
                let coverage = ((radius + softness / 2.0 - distance) / softness.max(1e-3))
                    .clamp(0.0, 1.0)
                    * opacity;
                if coverage > 0.0 {
                    let p = &mut self.pixels[y * self.width + x];
                    for c in 0..3 {
                        p[c] += (colour[c] - p[c]) * coverage;
                    }
                }
            }
        }
    }

    /// Approximate Gaussian blur (three box passes each way).
    pub fn blur(&mut self, sigma: f32) {
        if sigma < 0.3 {
            return;
        }
        let radius = ((sigma * sigma + 1.0).sqrt().round() as usize).max(1);
        for _ in 0..3 {
            self.box_pass(radius, true);
            self.box_pass(radius, false);
        }
    }

    fn box_pass(&mut self, radius: usize, horizontal: bool) {
        let (w, h) = (self.width, self.height);
        let (lines, length) = if horizontal { (h, w) } else { (w, h) };
        let index = |line: usize, i: usize| {
            if horizontal {
                line * w + i
            } else {
                i * w + line
            }
        };
        let mut out = self.pixels.clone();
        for line in 0..lines {
            let mut sum = [0.0f32; 3];
            let mut count = 0.0f32;
            for i in 0..=radius.min(length - 1) {
                let p = self.pixels[index(line, i)];
                for c in 0..3 {
                    sum[c] += p[c];
                }
                count += 1.0;
            }
            for i in 0..length {
                out[index(line, i)] = [sum[0] / count, sum[1] / count, sum[2] / count];
                let add = i + radius + 1;
                if add < length {
                    let p = self.pixels[index(line, add)];
                    for c in 0..3 {
                        sum[c] += p[c];
                    }
                    count += 1.0;
                }
                if i >= radius {
                    let p = self.pixels[index(line, i - radius)];
                    for c in 0..3 {
                        sum[c] -= p[c];
                    }
                    count -= 1.0;
                }
            }
        }
        self.pixels = out;
    }

    /// Additive Gaussian noise of standard deviation `sigma` (grey levels).
    pub fn noise(&mut self, rng: &mut Rng, sigma: f32) {
        for p in &mut self.pixels {
            let n = rng.normal() as f32 * sigma;
            for c in p.iter_mut() {
                *c += n;
            }
        }
    }

    /// 8-bit RGB bytes.
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8))
            .collect()
    }

    /// 8-bit grey bytes (mean of channels).
    pub fn to_grey8(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .map(|p| ((p[0] + p[1] + p[2]) / 3.0).round().clamp(0.0, 255.0) as u8)
            .collect()
    }
}
