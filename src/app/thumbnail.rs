//! Thumbnails for the pool browser, cached as PNG under the project's
//! `cache/thumbnails/` by content hash (so a moved file keeps its thumbnail).

use std::path::Path;

/// Longest edge of a thumbnail in pixels.
pub const THUMBNAIL_PX: u32 = 96;

/// RGBA pixels of an item's thumbnail: from the cache, or drawn from the
/// file and cached. A volume shows the axial slice through the centre of
/// the largest lesion of `map` (its label map, where it has one), else its
/// most informative slice; a photo shows itself. `key` names the cached
/// file (the content hash, and the map's identity when there is one).
pub fn load(
    project_root: &Path,
    key: &str,
    file: &Path,
    map: Option<&Path>,
) -> Result<image::RgbaImage, String> {
    let cache_dir = project_root.join("cache/thumbnails");
    let cached = cache_dir.join(format!("{key}.png"));
    if let Ok(image) = image::open(&cached) {
        return Ok(image.into_rgba8());
    }
    let volume = crate::volume::load(file).map_err(|e| e.to_string())?;
    let shape = volume.spatial_shape();
    let lesion = map.and_then(|map| {
        let map = crate::volume::load(map).ok()?;
        let voxels = crate::store::label_maps::label_voxels(&map).ok()?;
        crate::paint::lesion_centre(&voxels, [shape[0], shape[1], shape[2]])
    });
    let (w, h, rgba) = crate::render::cpu::axial_slice_through(&volume, lesion);
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

/// A thumbnail drawn in the background, or why it could not be.
pub struct Drawn {
    pub item_id: i64,
    pub image: Result<image::RgbaImage, String>,
}

/// Draws thumbnails on a thread of its own, so a slow or hostile file (a
/// huge volume, a gzip that expands to gigabytes) never stalls the window.
/// Requests are answered in order; the thread ends with the loader.
pub struct Loader {
    requests: std::sync::mpsc::Sender<Request>,
    drawn: std::sync::mpsc::Receiver<Drawn>,
}

/// (item id, project root, content hash, file, called once it is drawn).
type Request = (
    i64,
    std::path::PathBuf,
    String,
    std::path::PathBuf,
    Option<std::path::PathBuf>,
    Box<dyn Fn() + Send>,
);

impl Default for Loader {
    fn default() -> Self {
        let (requests, inbox) = std::sync::mpsc::channel::<Request>();
        let (outbox, drawn) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("loupe-thumbnails".into())
            .spawn(move || {
                // Everything asked for so far is drawn before the window is
                // woken once: a screenful of thumbnails is one repaint.
                while let Ok(first) = inbox.recv() {
                    let mut batch = vec![first];
                    batch.extend(inbox.try_iter());
                    let mut wake = None;
                    for (item_id, root, key, file, map, drawn) in batch {
                        // A panic in a decoder is that file's problem, not the window's.
                        let image =
                            std::panic::catch_unwind(|| load(&root, &key, &file, map.as_deref()))
                                .unwrap_or_else(|_| Err("the decoder crashed on this file".into()));
                        if outbox.send(Drawn { item_id, image }).is_err() {
                            return;
                        }
                        wake = Some(drawn);
                    }
                    if let Some(wake) = wake {
                        wake();
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("no thumbnail thread ({e}); thumbnails stay blank");
        }
        Self { requests, drawn }
    }
}

impl Loader {
    /// Asks for an item's thumbnail; it arrives later through
    /// [`Loader::take`], and `drawn` is called then (the window asks for a
    /// repaint there, so it does not poll).
    pub fn request(
        &self,
        item_id: i64,
        project_root: &Path,
        key: &str,
        file: &Path,
        map: Option<&Path>,
        drawn: impl Fn() + Send + 'static,
    ) {
        let _ = self.requests.send((
            item_id,
            project_root.to_path_buf(),
            key.to_string(),
            file.to_path_buf(),
            map.map(Path::to_path_buf),
            Box::new(drawn),
        ));
    }

    /// Thumbnails drawn since the last call.
    pub fn take(&self) -> Vec<Drawn> {
        self.drawn.try_iter().collect()
    }
}
