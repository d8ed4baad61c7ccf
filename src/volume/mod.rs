//! Medical image files and their geometry: NIfTI-1/2 volumes, DICOM files
//! and series, and 2-D raster images read into a [`Volume`] that keeps
//! voxels in their stored type.
//! No GUI or GPU dependency.

pub mod crop;
pub mod dicom;
pub mod error;
pub mod nifti;
pub mod orientation;
pub mod raster;
pub mod resample;
pub mod slice;
pub mod voxels;

use std::path::{Path, PathBuf};

pub use error::VolumeError;
pub use orientation::{Affine, CanonicalGrid};
pub use voxels::{SampleType, VoxelData};

use voxels::{Sample, with_samples};

/// Byte order of the file's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endianness {
    Little,
    Big,
}

impl Endianness {
    pub fn native() -> Self {
        if cfg!(target_endian = "big") {
            Self::Big
        } else {
            Self::Little
        }
    }

    /// numpy's symbol: `"<"` or `">"`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Little => "<",
            Self::Big => ">",
        }
    }
}

/// What kind of file a volume came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Nifti1,
    Nifti2,
    Nifti1Pair,
    Nifti2Pair,
    /// A 2-D raster image; the name is its usual extension (`png`, `jpg`, …).
    Raster(&'static str),
    /// A DICOM file or series.
    Dicom,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nifti1 => "NIfTI-1",
            Self::Nifti2 => "NIfTI-2",
            Self::Nifti1Pair => "NIfTI-1 pair",
            Self::Nifti2Pair => "NIfTI-2 pair",
            Self::Raster(ext) => ext,
            Self::Dicom => "DICOM",
        }
    }

    pub fn is_raster(self) -> bool {
        matches!(self, Self::Raster(_))
    }
}

/// Linear scaling of stored values: `value = stored × slope + inter`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    pub slope: f64,
    pub inter: f64,
}

/// Minimum, maximum and mean of a volume's (scaled, finite) values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Values that were NaN or infinite and left out of the figures above.
    pub non_finite: usize,
}

/// An image or volume in memory.
#[derive(Clone, Debug)]
pub struct Volume {
    pub path: PathBuf,
    pub format: FileFormat,
    /// Size along each axis: the header's `dim[1..=dim[0]]`; `[width, height]` for raster images.
    pub shape: Vec<usize>,
    /// Samples per voxel: 1 (grey), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// NIfTI datatype code (e.g. 4 for int16), where the layout has one.
    pub datatype: Option<i16>,
    pub endianness: Endianness,
    pub world_from_voxel: Affine,
    /// Voxel size along i, j, k (mm) and t (`pixdim[1..=4]`).
    pub pixdim: [f64; 4],
    pub scaling: Option<Scaling>,
    pub xyzt_units: u8,
    pub description: String,
    pub data: VoxelData,
    /// Where the volume came from when it is DICOM (series, modality, window, …).
    pub dicom: Option<Box<dicom::DicomInfo>>,
}

/// Opens an image or volume: NIfTI by its name (`.nii`, `.nii.gz`, `.hdr`,
/// `.img`, also gzipped), DICOM by content (a file, a folder holding one
/// series, or `FOLDER#SERIES_UID`), else a raster image by content.
pub fn load(path: &Path) -> Result<Volume, VolumeError> {
    load_with(path, dicom::ReadOptions::default())
}

/// [`load`] with DICOM options (resampling an uneven or tilted series).
pub fn load_with(path: &Path, options: dicom::ReadOptions) -> Result<Volume, VolumeError> {
    let (target, selector) = dicom::split_selector(path);
    if selector.is_some() || target.is_dir() {
        return dicom::read(path, options);
    }
    if !path.exists() {
        return Err(VolumeError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    require_regular_file(path)?;
    if is_nifti_name(path) {
        nifti::read(path)
    } else if dicom::is_dicom_file(path) {
        dicom::read(path, options)
    } else {
        raster::read(path)
    }
}

/// The spatial shape a NIfTI file's header claims, read without its voxels
/// (`None` for other formats): a few-KB gzip file may claim a gigabyte, so
/// a file that must lie on a known grid is checked by this first.
pub fn claimed_spatial_shape(path: &Path) -> Result<Option<[usize; 3]>, VolumeError> {
    if !(is_nifti_name(path) && path.is_file()) {
        return Ok(None);
    }
    let dims = nifti::header_dims(path)?;
    Ok(Some(std::array::from_fn(|i| {
        dims.get(i).copied().unwrap_or(1)
    })))
}

/// The spatial shape of an image or volume, checked as far as that is cheap:
/// a NIfTI header against its file's size ([`nifti::probe`]), a raster
/// image's header, a DICOM file or series read whole.
pub fn probe(path: &Path) -> Result<[usize; 3], VolumeError> {
    let (target, selector) = dicom::split_selector(path);
    let shape3 = |dims: &[usize]| std::array::from_fn(|i| dims.get(i).copied().unwrap_or(1));
    if selector.is_some() || target.is_dir() {
        return Ok(load(path)?.spatial_shape());
    }
    require_regular_file(path)?;
    if is_nifti_name(path) {
        return Ok(shape3(&nifti::probe(path)?));
    }
    if dicom::is_dicom_file(path) {
        return Ok(load(path)?.spatial_shape());
    }
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| VolumeError::io(path, e))?;
    if reader.format().is_none() {
        return Err(VolumeError::unsupported(
            path,
            "not a recognised image (PNG, JPEG, TIFF, BMP), NIfTI or DICOM file",
        ));
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|source| VolumeError::Image {
            path: path.to_path_buf(),
            source,
        })?;
    Ok([width as usize, height as usize, 1])
}

/// Whether a file an import found can be shown: a NIfTI file checked by
/// [`nifti::probe`] (its voxels may be gigabytes), anything else decoded
/// whole (a truncated PNG has a good header).
pub fn check_decodes(path: &Path) -> Result<(), VolumeError> {
    if is_nifti_name(path) {
        nifti::probe(path).map(|_| ())
    } else {
        load(path).map(|_| ())
    }
}

/// Loads a file that must lie on a grid of `spatial_shape` voxels (a label
/// map of an image), refusing another grid before reading any voxel.
pub fn load_on_grid(path: &Path, spatial_shape: [usize; 3]) -> Result<Volume, VolumeError> {
    if let Some(claimed) = claimed_spatial_shape(path)?
        && claimed != spatial_shape
    {
        return Err(VolumeError::invalid(
            path,
            format!("its grid is {claimed:?} voxels, the image's is {spatial_shape:?}"),
        ));
    }
    load(path)
}

/// Whether the file, folder or `FOLDER#SERIES_UID` an item names is there.
pub fn source_exists(path: &Path) -> bool {
    dicom::split_selector(path).0.exists()
}

/// Opening a FIFO for reading blocks until something writes to it, and a
/// device can be endless: only regular files (or links to them) are read.
pub(crate) fn require_regular_file(path: &Path) -> Result<(), VolumeError> {
    let metadata = std::fs::metadata(path).map_err(|e| VolumeError::io(path, e))?;
    if metadata.is_file() {
        Ok(())
    } else if metadata.is_dir() {
        Err(VolumeError::invalid(path, "is a folder, not an image file"))
    } else {
        Err(VolumeError::invalid(
            path,
            "not a regular file (a pipe, socket or device)",
        ))
    }
}

/// Whether a file name is one of NIfTI's.
pub fn is_nifti_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".nii") || name.ends_with(".hdr") || name.ends_with(".img")
}

/// Largest difference (mm) between two affines that still counts as one grid.
pub const GRID_TOLERANCE_MM: f64 = 1e-3;

/// The largest difference (mm) between two volumes' voxel → world affines.
pub fn affine_difference_mm(a: &Volume, b: &Volume) -> f64 {
    let mut worst = 0.0f64;
    for r in 0..3 {
        for c in 0..4 {
            worst = worst.max((a.world_from_voxel.0[r][c] - b.world_from_voxel.0[r][c]).abs());
        }
    }
    worst
}

/// The one rule for "on the same voxel grid" (a companion volume, a label
/// map): the same spatial shape and affines within [`GRID_TOLERANCE_MM`].
pub fn same_grid(a: &Volume, b: &Volume) -> bool {
    a.spatial_shape() == b.spatial_shape() && affine_difference_mm(a, b) <= GRID_TOLERANCE_MM
}

impl Volume {
    /// Number of voxels (not samples).
    pub fn voxel_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// The first three dims, padded with 1.
    pub fn spatial_shape(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.shape.get(i).copied().unwrap_or(1))
    }

    /// Number of time points (the fourth dim, 1 when absent).
    pub fn time_points(&self) -> usize {
        self.shape.get(3).copied().unwrap_or(1)
    }

    /// Linear voxel offset of an index with one entry per dimension, `None` when out of range.
    pub fn linear_index(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut linear = 0;
        for (&i, &n) in index.iter().zip(&self.shape).rev() {
            if i >= n {
                return None;
            }
            linear = linear * n + i;
        }
        Some(linear)
    }

    #[inline]
    fn scale(&self, stored: f64) -> f64 {
        match self.scaling {
            Some(Scaling { slope, inter }) => stored * slope + inter,
            None => stored,
        }
    }

    /// Scaled value of the voxel at linear offset `voxel`, channel 0.
    pub fn value_at(&self, voxel: usize) -> Option<f64> {
        self.data
            .get_f64(voxel * self.channels)
            .map(|v| self.scale(v))
    }

    /// Scaled value at an index (one entry per dimension).
    pub fn value(&self, index: &[usize]) -> Option<f64> {
        self.value_at(self.linear_index(index)?)
    }

    /// All channels of a voxel, unscaled (for RGB data).
    pub fn channels_at(&self, index: &[usize]) -> Option<Vec<f64>> {
        let voxel = self.linear_index(index)?;
        (0..self.channels)
            .map(|c| self.data.get_f64(voxel * self.channels + c))
            .collect()
    }

    /// Min, max and mean of the scaled values; `None` for colour data.
    pub fn stats(&self) -> Option<Stats> {
        if self.channels != 1 {
            return None;
        }
        fn raw_stats<T: Sample>(values: &[T]) -> (f64, f64, f64, usize, usize) {
            let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
            let (mut count, mut non_finite) = (0usize, 0usize);
            for v in values {
                let v = v.to_f64();
                if !v.is_finite() {
                    non_finite += 1;
                    continue;
                }
                min = min.min(v);
                max = max.max(v);
                sum += v;
                count += 1;
            }
            (min, max, sum, count, non_finite)
        }
        let (min, max, sum, count, non_finite) = with_samples!(&self.data, v => raw_stats(v));
        if count == 0 {
            return Some(Stats {
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
                non_finite,
            });
        }
        // Scaling is linear, so it maps min/max/mean directly (a negative slope swaps min and max).
        let (a, b) = (self.scale(min), self.scale(max));
        Some(Stats {
            min: a.min(b),
            max: a.max(b),
            mean: self.scale(sum / count as f64),
            non_finite,
        })
    }
}
