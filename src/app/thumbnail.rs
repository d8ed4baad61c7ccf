//! Thumbnails for the pool browser, cached as PNG under the project's
//! `cache/thumbnails/` by content hash (so a moved file keeps its thumbnail).

use std::path::Path;

/// Longest edge of a thumbnail in pixels.
pub const THUMBNAIL_PX: u32 = 96;

/// RGBA pixels of an item's thumbnail: from the cache, or drawn from the file
/// (middle axial slice of a volume, automatic window) and cached.
pub fn load(
    project_root: &Path,
    content_hash: &str,
    file: &Path,
) -> Result<image::RgbaImage, String> {
    let cache_dir = project_root.join("cache/thumbnails");
    let cached = cache_dir.join(format!("{content_hash}.png"));
    if let Ok(image) = image::open(&cached) {
        return Ok(image.into_rgba8());
    }
    let volume = crate::volume::load(file).map_err(|e| e.to_string())?;
    let (w, h, rgba) = crate::render::cpu::middle_axial_slice(&volume);
    let (w, h) = (w as u32, h as u32);
    let full = image::RgbaImage::from_raw(w.max(1), h.max(1), rgba).ok_or("empty image")?;
    let scale = THUMBNAIL_PX as f32 / w.max(h).max(1) as f32;
    let thumbnail = image::imageops::thumbnail(
        &full,
        ((w as f32 * scale) as u32).max(1),
        ((h as f32 * scale) as u32).max(1),
    );
    // A cache that cannot be written only costs time later.
    if std::fs::create_dir_all(&cache_dir).is_ok() {
        let _ = thumbnail.save(&cached);
    }
    Ok(thumbnail)
}
