//! DICOM files and series read into a [`Volume`], through dicom-rs.
//!
//! A path may be one DICOM file (with or without the `.dcm` name, with or
//! without the preamble), a folder holding one series, or a folder and a
//! series in it, spelled `FOLDER#SERIES_UID` (the way an imported series is
//! stored; `#SERIES_UID+N` picks the N-th stack of a series that holds
//! several orientations). Files are found by content, never by extension.
//!
//! - `header`: one file opened and the attributes Loupe uses;
//! - `guard`: element lengths checked against the file before parsing;
//! - `pixels`, `jpeg`, `syntax`: pixel data decoded as pydicom decodes it;
//! - `series`: grouping, slice order and geometry (as dcm2niix), rescale;
//! - `write`: a volume written as a DICOM series (the demo, the bench).

pub mod guard;
pub mod header;
pub mod jpeg;
pub mod pixels;
pub mod rle;
pub mod series;
pub mod syntax;
pub mod write;

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::error::VolumeError;
use super::voxels::VoxelData;
use super::{Endianness, FileFormat, Volume};
use header::Header;
use series::{FrameRef, Group};

/// The largest DICOM file Loupe reads (it is read whole).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// The most pixel data one volume may decode to, whatever memory is free.
pub const MAX_PIXEL_BYTES: u64 = 8 << 30;
/// The most files one folder scan looks at.
pub const MAX_FOLDER_FILES: usize = 100_000;

/// What a DICOM volume came from, shown beside the image and by `info`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomInfo {
    pub modality: String,
    pub sop_class: String,
    pub transfer_syntax: String,
    pub series_uid: String,
    pub series_description: String,
    /// Frames (slices of every time point, or frames of a multi-frame image).
    pub frames: usize,
    pub laterality: String,
    pub patient_id: String,
    pub study_date: String,
    pub body_part: String,
    pub photometric: String,
    /// WindowCenter / WindowWidth of the first frame, in rescaled units.
    pub window: Option<(f64, f64)>,
    /// Files the volume was read from.
    pub files: usize,
    /// Set when the stack was resampled onto a regular grid: what was wrong.
    pub resampled: Option<String>,
}

impl DicomInfo {
    /// MONOCHROME1: low values are bright. Inverted for display only.
    pub fn inverted(&self) -> bool {
        self.photometric == "MONOCHROME1"
    }

    /// One line of what the image is of, for the viewer: modality, series
    /// description, body part, eye, patient ID, study date (YYYY-MM-DD);
    /// the parts the file leaves empty are left out.
    pub fn context_line(&self) -> String {
        let date = match self.study_date.as_bytes() {
            [y @ .., m1, m2, d1, d2] if y.len() == 4 && self.study_date.is_ascii() => format!(
                "{}-{}{}-{}{}",
                &self.study_date[..4],
                *m1 as char,
                *m2 as char,
                *d1 as char,
                *d2 as char
            ),
            _ => self.study_date.clone(),
        };
        let eye = match self.laterality.as_str() {
            "" => String::new(),
            side => format!("laterality {side}"),
        };
        let patient = match self.patient_id.as_str() {
            "" => String::new(),
            id => format!("patient {id}"),
        };
        [
            self.modality.clone(),
            self.series_description.clone(),
            self.body_part.clone(),
            eye,
            patient,
            date,
        ]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
    }
}

/// Options for reading.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Resample a stack with a gap or a tilt onto a regular grid instead of refusing it.
    pub resample: bool,
}

/// Pixel bytes one volume may decode to: [`MAX_PIXEL_BYTES`] or the
/// memory the system can still give, whichever is smaller.
pub fn max_pixel_bytes() -> u64 {
    super::voxels::available_memory_bytes().map_or(MAX_PIXEL_BYTES, |m| m.min(MAX_PIXEL_BYTES))
}

/// Reads a whole file: regular files only, at most [`MAX_FILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, VolumeError> {
    super::require_regular_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| VolumeError::io(path, e))?;
    let size = file.metadata().map_err(|e| VolumeError::io(path, e))?.len();
    if size == 0 {
        return Err(VolumeError::invalid(path, "file is empty"));
    }
    if size > MAX_FILE_BYTES {
        return Err(VolumeError::invalid(
            path,
            format!(
                "DICOM file of {size} bytes is larger than Loupe reads ({} MiB)",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| VolumeError::io(path, e))?;
    Ok(bytes)
}

/// At most the first `limit` bytes of a regular file.
pub fn read_prefix(path: &Path, limit: u64) -> Result<Vec<u8>, VolumeError> {
    super::require_regular_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| VolumeError::io(path, e))?;
    let mut bytes = Vec::with_capacity(limit as usize);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| VolumeError::io(path, e))?;
    Ok(bytes)
}

/// Whether a file is DICOM, by its first bytes (a regular file only).
pub fn is_dicom_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(132);
    if file.take(132).read_to_end(&mut head).is_err() {
        return false;
    }
    guard::sniff(&head).is_some()
}

/// Splits `FOLDER#UID[+N]` into the folder and the selector; a path that
/// exists as it is has no selector.
pub fn split_selector(path: &Path) -> (PathBuf, Option<String>) {
    if path.exists() {
        return (path.to_path_buf(), None);
    }
    let text = path.to_string_lossy();
    if let Some((folder, selector)) = text.rsplit_once('#') {
        let uid_like = !selector.is_empty()
            && selector
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '+');
        if uid_like && Path::new(folder).is_dir() {
            return (PathBuf::from(folder), Some(selector.to_string()));
        }
    }
    (path.to_path_buf(), None)
}

/// The path that names one series of a folder.
pub fn series_path(folder: &Path, selector: &str) -> PathBuf {
    PathBuf::from(format!("{}#{selector}", folder.display()))
}

/// DICOM files under a folder (recursively, links to folders not
/// followed, hidden files skipped), sorted.
pub fn folder_files(folder: &Path) -> Result<Vec<PathBuf>, VolumeError> {
    let mut out = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| VolumeError::io(&dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if hidden {
                continue;
            }
            if kind.is_dir() {
                pending.push(path);
            } else if is_dicom_file(&path) {
                out.push(path);
                if out.len() > MAX_FOLDER_FILES {
                    return Err(VolumeError::invalid(
                        folder,
                        format!("folder holds more than {MAX_FOLDER_FILES} DICOM files"),
                    ));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Headers of files (read in parallel, pixel data skipped); files that
/// cannot be read come back with their reason.
pub fn read_headers(files: &[PathBuf]) -> (Vec<(PathBuf, Header)>, Vec<(PathBuf, String)>) {
    let results: Vec<(PathBuf, Result<Header, VolumeError>)> = files
        .par_iter()
        .map(|path| (path.clone(), header::open(path, false).map(|f| f.header)))
        .collect();
    let mut headers = Vec::new();
    let mut refused = Vec::new();
    for (path, result) in results {
        match result {
            Ok(h) if h.rows > 0 && h.columns > 0 => headers.push((path, h)),
            Ok(h) => refused.push((path, format!("holds no image (SOP class {})", h.sop_class))),
            Err(e) => refused.push((path, e.to_string())),
        }
    }
    (headers, refused)
}

/// One series (or 2-D image) found in a folder: what import makes an item of.
#[derive(Clone, Debug)]
pub struct SeriesEntry {
    /// How to name it: the file for a lone image, `FOLDER#UID[+N]` for a series.
    pub path: PathBuf,
    pub series_uid: String,
    pub description: String,
    pub files: Vec<PathBuf>,
    /// How its frames stack (frame refs index the `headers` it came from).
    pub group: Group,
}

/// The series of a set of DICOM files (under `folder` for selectors): a
/// lone file is named by itself, a stack of files by `FOLDER#UID` (or
/// `FOLDER#UID+N` where one series holds several stacks).
pub fn series_entries(folder: &Path, headers: &[(PathBuf, Header)]) -> Vec<SeriesEntry> {
    let groups = series::group(headers);
    let mut stacks_per_uid: std::collections::HashMap<String, usize> = Default::default();
    for g in groups.iter().filter(|g| g.files.len() > 1) {
        *stacks_per_uid.entry(g.series_uid.clone()).or_default() += 1;
    }
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    groups
        .into_iter()
        .map(|g| {
            let path = if g.files.len() == 1 {
                g.files[0].clone()
            } else {
                let n = seen.entry(g.series_uid.clone()).or_default();
                *n += 1;
                if stacks_per_uid.get(&g.series_uid).copied().unwrap_or(1) > 1 {
                    series_path(folder, &format!("{}+{n}", g.series_uid))
                } else {
                    series_path(folder, &g.series_uid)
                }
            };
            SeriesEntry {
                path,
                series_uid: g.series_uid.clone(),
                description: g.description.clone(),
                files: g.files.clone(),
                group: g,
            }
        })
        .collect()
}

/// Reads a DICOM file, a folder holding one series, or `FOLDER#UID`.
pub fn read(path: &Path, options: ReadOptions) -> Result<Volume, VolumeError> {
    let (target, selector) = split_selector(path);
    if target.is_dir() {
        return read_folder(path, &target, selector.as_deref(), options);
    }
    let file = header::open(&target, true)?;
    let headers = vec![(target.clone(), file.header.clone())];
    let groups = series::group(&headers);
    let group = groups
        .into_iter()
        .next()
        .ok_or_else(|| VolumeError::invalid(&target, "DICOM file holds no image"))?;
    assemble(
        path,
        &group,
        &[file.header.clone()],
        vec![Some(file)],
        options,
    )
}

fn read_folder(
    path: &Path,
    folder: &Path,
    selector: Option<&str>,
    options: ReadOptions,
) -> Result<Volume, VolumeError> {
    let files = folder_files(folder)?;
    if files.is_empty() {
        return Err(VolumeError::invalid(
            folder,
            "is a folder that holds no DICOM file",
        ));
    }
    let (headers, refused) = read_headers(&files);
    if headers.is_empty() {
        let (file, reason) = &refused[0];
        return Err(VolumeError::invalid(
            folder,
            format!(
                "no DICOM image in the folder ({} files; e.g. {}: {reason})",
                refused.len(),
                file.display()
            ),
        ));
    }
    let entries = series_entries(folder, &headers);
    let chosen = match selector {
        Some(selector) => {
            let wanted = series_path(folder, selector);
            entries
                .iter()
                .position(|e| e.path == wanted)
                .ok_or_else(|| {
                    VolumeError::invalid(folder, format!("holds no series {selector}"))
                })?
        }
        None if entries.len() == 1 => 0,
        None => {
            let list: Vec<String> = entries
                .iter()
                .map(|e| {
                    format!(
                        "{} ({}, {} file(s))",
                        e.path.display(),
                        if e.description.is_empty() {
                            "no description"
                        } else {
                            &e.description
                        },
                        e.files.len()
                    )
                })
                .collect();
            return Err(VolumeError::invalid(
                folder,
                format!(
                    "folder holds {} series; name one: {}",
                    entries.len(),
                    list.join("; ")
                ),
            ));
        }
    };
    let group = &entries[chosen].group;
    // The group's headers indexed 0..n in its file order.
    let index_of: std::collections::HashMap<&Path, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p.as_path(), i))
        .collect();
    let group_headers: Vec<Header> = group
        .files
        .iter()
        .filter_map(|f| index_of.get(f.as_path()).map(|&i| headers[i].1.clone()))
        .collect();
    let local = remap(group, &headers);
    let opened: Vec<Result<header::DicomFile, VolumeError>> = local
        .files
        .par_iter()
        .map(|f| header::open(f, true))
        .collect();
    let opened = opened
        .into_iter()
        .map(|r| r.map(Some))
        .collect::<Result<Vec<_>, _>>()?;
    assemble(path, &local, &group_headers, opened, options)
}

/// Refuses a series whose decoded files, or whose output volume (4-byte
/// floats when resampled), would pass the memory bound: each file is
/// bounded when decoded, but a folder of thousands of files is not.
fn check_series_bytes(
    path: &Path,
    headers: &[Header],
    plan: &series::Plan,
) -> Result<(), VolumeError> {
    let decoded: u64 = headers
        .iter()
        .map(|h| {
            (h.rows as u64)
                .saturating_mul(h.columns as u64)
                .saturating_mul(h.samples_per_pixel as u64)
                .saturating_mul(h.frames as u64)
                .saturating_mul(h.bits_allocated.div_ceil(8) as u64)
        })
        .fold(0u64, u64::saturating_add);
    let channels = headers.first().map_or(1, |h| h.samples_per_pixel) as u64;
    let output = plan
        .shape
        .iter()
        .fold(channels, |n, &d| n.saturating_mul(d as u64))
        .saturating_mul(if plan.resample.is_some() { 4 } else { 1 });
    let limit = max_pixel_bytes();
    let needed = decoded.max(output);
    if needed > limit {
        return Err(VolumeError::invalid(
            path,
            format!(
                "series needs {} MiB of pixels ({} files, volume {:?}), more than Loupe reads into memory ({} MiB)",
                needed >> 20,
                headers.len(),
                plan.shape,
                limit >> 20
            ),
        ));
    }
    Ok(())
}

/// A group whose frame refs index its own files (0..n) instead of the folder's.
fn remap(group: &Group, headers: &[(PathBuf, Header)]) -> Group {
    let position: std::collections::HashMap<&Path, usize> = group
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_path(), i))
        .collect();
    let mut out = group.clone();
    for frame in &mut out.frames {
        let path = headers[frame.file].0.as_path();
        frame.file = position.get(path).copied().unwrap_or(0);
    }
    out
}

/// Decodes a group's files and stacks them into a volume.
fn assemble(
    path: &Path,
    group: &Group,
    headers: &[Header],
    files: Vec<Option<header::DicomFile>>,
    options: ReadOptions,
) -> Result<Volume, VolumeError> {
    let plan = series::plan(group, headers, options.resample, path)?;
    let first = &headers[group.frames[0].file];
    for (h, f) in headers.iter().zip(&group.files) {
        if h.bits_allocated != first.bits_allocated
            || h.samples_per_pixel != first.samples_per_pixel
        {
            return Err(VolumeError::invalid(
                f,
                "slices of one series differ in BitsAllocated or SamplesPerPixel",
            ));
        }
    }
    check_series_bytes(path, headers, &plan)?;
    let decoded: Vec<VoxelData> = files
        .into_par_iter()
        .zip(group.files.par_iter())
        .map(|(file, p)| match file {
            Some(file) => pixels::decode(&file, p),
            None => Err(VolumeError::invalid(p, "not opened")),
        })
        .collect::<Result<_, _>>()?;
    let per_frame = first.rows * first.columns * first.samples_per_pixel;
    // A file that is one frame is moved, not copied, into its place (each
    // file appears once in the plan); frames of multi-frame files are cut out.
    let mut decoded = decoded;
    let mut frame_data = |f: &FrameRef| -> VoxelData {
        let data = &mut decoded[f.file];
        if data.len() == per_frame && f.frame == 0 {
            std::mem::replace(data, VoxelData::U8(Vec::new()))
        } else {
            slice_of(data, f.frame * per_frame, per_frame)
        }
    };
    let colour = first.samples_per_pixel == 3;
    let parts: Vec<(VoxelData, f64, f64)> = plan
        .frames
        .iter()
        .map(|f| {
            let g = headers[f.file].geometry(f.frame);
            let (slope, intercept) = if colour {
                (1.0, 0.0)
            } else {
                (g.rescale_slope, g.rescale_intercept)
            };
            (frame_data(f), slope, intercept)
        })
        .collect();
    if parts.iter().any(|(data, _, _)| data.len() != per_frame) {
        return Err(VolumeError::invalid(
            path,
            "a frame of the series is missing or listed twice",
        ));
    }
    let mut data = series::rescale(&parts);
    if let Some(resample) = &plan.resample {
        let time_points = plan.shape.get(3).copied().unwrap_or(1);
        // Source `frame` is the frame'th of the rescaled data (plan order).
        let value = |frame: usize, c: usize, r: usize| {
            data.get_f64(frame * per_frame + r * first.columns + c)
                .unwrap_or(0.0)
        };
        let values =
            series::resample_values(resample, first.columns, first.rows, time_points, &value);
        data = VoxelData::F32(values);
    }
    let info = DicomInfo {
        modality: first.modality.clone(),
        sop_class: first.sop_class.clone(),
        transfer_syntax: first.transfer_syntax.clone(),
        series_uid: first.series_uid.clone(),
        series_description: first.series_description.clone(),
        frames: plan.frames.len(),
        laterality: first.laterality.clone(),
        patient_id: first.patient_id.clone(),
        study_date: first.study_date.clone(),
        body_part: first.body_part.clone(),
        photometric: first.photometric.clone(),
        window: first.window,
        files: group.files.len(),
        resampled: plan.resampled.clone(),
    };
    let channels = first.samples_per_pixel;
    Ok(Volume {
        path: path.to_path_buf(),
        format: FileFormat::Dicom,
        shape: plan.shape,
        channels,
        datatype: super::nifti::datatype_code(data.sample_type(), channels),
        endianness: Endianness::native(),
        world_from_voxel: plan.world_from_voxel,
        pixdim: plan.pixdim,
        scaling: None,
        xyzt_units: 2,
        description: first.series_description.clone(),
        data,
        dicom: Some(Box::new(info)),
    })
}

/// `len` samples of `data` from `start`, in its type.
fn slice_of(data: &VoxelData, start: usize, len: usize) -> VoxelData {
    macro_rules! cut {
        ($($variant:ident),*) => {
            match data {
                $(VoxelData::$variant(v) => VoxelData::$variant(v[start..start + len].to_vec()),)*
            }
        };
    }
    cut!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64)
}

#[cfg(test)]
mod context_tests {
    use super::DicomInfo;

    #[test]
    fn the_context_line_leaves_out_what_the_file_leaves_empty() {
        let info = DicomInfo {
            modality: "OP".into(),
            series_description: "Fundus left".into(),
            laterality: "L".into(),
            patient_id: "P-7".into(),
            study_date: "20261202".into(),
            ..DicomInfo::default()
        };
        assert_eq!(
            info.context_line(),
            "OP · Fundus left · laterality L · patient P-7 · 2026-12-02"
        );
        assert_eq!(DicomInfo::default().context_line(), "");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::header::{FrameGeometry, Header};

    /// A plain grey header for unit tests.
    pub fn header(bits_stored: usize, signed: bool) -> Header {
        Header {
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            sop_class: String::new(),
            sop_instance: String::new(),
            modality: "CT".into(),
            series_uid: "1.2.3".into(),
            frame_of_reference: String::new(),
            series_description: String::new(),
            patient_id: String::new(),
            study_date: String::new(),
            body_part: String::new(),
            laterality: String::new(),
            instance_number: None,
            rows: 1,
            columns: 3,
            samples_per_pixel: 1,
            bits_allocated: 16,
            bits_stored,
            signed,
            photometric: "MONOCHROME2".into(),
            planar: false,
            frames: 1,
            spacing_between_slices_mm: None,
            window: None,
            frame_geometry: vec![FrameGeometry::default()],
            has_pixel_data: true,
        }
    }

    #[test]
    fn a_selector_splits_only_where_the_folder_exists() {
        let dir = tempfile::tempdir().unwrap();
        let spelled = super::series_path(dir.path(), "1.2.840.5+2");
        let (folder, selector) = super::split_selector(&spelled);
        assert_eq!(folder, dir.path());
        assert_eq!(selector.as_deref(), Some("1.2.840.5+2"));
        let missing = dir.path().join("nope#1.2");
        assert_eq!(super::split_selector(&missing).1, None);
    }
}
