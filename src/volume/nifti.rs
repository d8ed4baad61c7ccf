//! NIfTI-1 and NIfTI-2 reading (single `.nii`, `.hdr`/`.img` pairs, gzipped or
//! not, either byte order) and NIfTI-1 writing.
//!
//! Written here rather than through the `nifti` crate because that crate reads
//! NIfTI-1 only, widens voxels, and trusts the header's sizes; this reader
//! checks every size against what the file holds before allocating, and
//! reads voxels straight into their stored type.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::VolumeError;
use super::orientation::Affine;
use super::voxels::{SampleType, VoxelData};
use super::{Endianness, FileFormat, Scaling, Volume};

const NIFTI1_HEADER_BYTES: usize = 348;
const NIFTI2_HEADER_BYTES: usize = 540;
/// Deflate cannot expand data more than about 1032:1; a header claiming more
/// than that from a gzip file's size is lying, and is refused before allocating.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// NIfTI datatype codes (nifti1.h).
pub mod datatype {
    pub const UINT8: i16 = 2;
    pub const INT16: i16 = 4;
    pub const INT32: i16 = 8;
    pub const FLOAT32: i16 = 16;
    pub const COMPLEX64: i16 = 32;
    pub const FLOAT64: i16 = 64;
    pub const RGB24: i16 = 128;
    pub const INT8: i16 = 256;
    pub const UINT16: i16 = 512;
    pub const UINT32: i16 = 768;
    pub const INT64: i16 = 1024;
    pub const UINT64: i16 = 1280;
    pub const FLOAT128: i16 = 1536;
    pub const COMPLEX128: i16 = 1792;
    pub const COMPLEX256: i16 = 2048;
    pub const RGBA32: i16 = 2304;
}

/// Stored sample type and channels per voxel for a NIfTI datatype code.
pub fn sample_layout(code: i16) -> Result<(SampleType, usize), String> {
    use datatype::*;
    Ok(match code {
        UINT8 => (SampleType::U8, 1),
        INT8 => (SampleType::I8, 1),
        UINT16 => (SampleType::U16, 1),
        INT16 => (SampleType::I16, 1),
        UINT32 => (SampleType::U32, 1),
        INT32 => (SampleType::I32, 1),
        UINT64 => (SampleType::U64, 1),
        INT64 => (SampleType::I64, 1),
        FLOAT32 => (SampleType::F32, 1),
        FLOAT64 => (SampleType::F64, 1),
        RGB24 => (SampleType::U8, 3),
        RGBA32 => (SampleType::U8, 4),
        COMPLEX64 | COMPLEX128 | COMPLEX256 => {
            return Err(format!(
                "complex datatype {code} is not supported (Loupe shows real-valued images)"
            ));
        }
        FLOAT128 => return Err("datatype 1536 (float128) is not supported".into()),
        1 => return Err("datatype 1 (binary, 1 bit per voxel) is not supported".into()),
        other => return Err(format!("unknown datatype code {other}")),
    })
}

/// The NIfTI datatype code of a sample layout, where one exists.
pub fn datatype_code(sample_type: SampleType, channels: usize) -> Option<i16> {
    use datatype::*;
    Some(match (sample_type, channels) {
        (SampleType::U8, 1) => UINT8,
        (SampleType::I8, 1) => INT8,
        (SampleType::U16, 1) => UINT16,
        (SampleType::I16, 1) => INT16,
        (SampleType::U32, 1) => UINT32,
        (SampleType::I32, 1) => INT32,
        (SampleType::U64, 1) => UINT64,
        (SampleType::I64, 1) => INT64,
        (SampleType::F32, 1) => FLOAT32,
        (SampleType::F64, 1) => FLOAT64,
        (SampleType::U8, 3) => RGB24,
        (SampleType::U8, 4) => RGBA32,
        _ => return None,
    })
}

/// The header fields Loupe uses, widened to one form for NIfTI-1 and -2.
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiHeader {
    pub version: u8,
    pub endianness: Endianness,
    /// `dim[1..=dim[0]]`.
    pub dims: Vec<usize>,
    pub datatype: i16,
    pub pixdim: [f64; 8],
    pub vox_offset: u64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern_bcd: [f64; 3],
    pub qoffset_mm: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub xyzt_units: u8,
    pub description: String,
    /// Magic says `.hdr`/`.img` pair (`ni1`/`ni2`) rather than single file (`n+1`/`n+2`).
    pub is_pair: bool,
}

/// Little- or big-endian field reader over a header's bytes.
struct Fields<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[at..at + N]);
        if self.big_endian {
            out.reverse();
        }
        out
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.array(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.array(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.array(at))
    }
    fn f32(&self, at: usize) -> f64 {
        f32::from_le_bytes(self.array(at)) as f64
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.array(at))
    }
    fn text(&self, at: usize, len: usize) -> String {
        let raw = &self.bytes[at..at + len];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).trim().to_string()
    }
}

/// Header size and byte order from the first four bytes (`sizeof_hdr`).
fn detect_version(first: [u8; 4]) -> Option<(u8, bool)> {
    match (i32::from_le_bytes(first), i32::from_be_bytes(first)) {
        (348, _) => Some((1, false)),
        (_, 348) => Some((1, true)),
        (540, _) => Some((2, false)),
        (_, 540) => Some((2, true)),
        _ => None,
    }
}

impl NiftiHeader {
    /// Parses a complete header (348 or 540 bytes).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, VolumeError> {
        let first: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                VolumeError::invalid(path, "file is too short to hold a NIfTI header")
            })?;
        let (version, big_endian) = detect_version(first).ok_or_else(|| not_nifti(path))?;
        let needed = if version == 1 {
            NIFTI1_HEADER_BYTES
        } else {
            NIFTI2_HEADER_BYTES
        };
        if bytes.len() < needed {
            return Err(VolumeError::invalid(
                path,
                format!(
                    "file is truncated inside the NIfTI-{version} header ({} of {needed} bytes)",
                    bytes.len()
                ),
            ));
        }
        let f = Fields { bytes, big_endian };
        let endianness = if big_endian {
            Endianness::Big
        } else {
            Endianness::Little
        };
        if version == 1 {
            Self::parse_v1(&f, endianness, path)
        } else {
            Self::parse_v2(&f, endianness, path)
        }
    }

    fn parse_v1(f: &Fields, endianness: Endianness, path: &Path) -> Result<Self, VolumeError> {
        let magic = &f.bytes[344..348];
        let is_pair = match magic {
            b"n+1\0" => false,
            b"ni1\0" => true,
            _ => {
                return Err(VolumeError::unsupported(
                    path,
                    "no NIfTI-1 magic (\"n+1\" or \"ni1\"); ANALYZE 7.5 headers are not read",
                ));
            }
        };
        let raw_dims: Vec<i64> = (0..8).map(|i| f.i16(40 + 2 * i) as i64).collect();
        let mut pixdim = [0.0; 8];
        for (i, p) in pixdim.iter_mut().enumerate() {
            *p = f.f32(76 + 4 * i);
        }
        let vox_offset = f.f32(108);
        let srow = [0, 1, 2].map(|r| [0, 1, 2, 3].map(|c| f.f32(280 + 16 * r + 4 * c)));
        Ok(Self {
            version: 1,
            endianness,
            dims: check_dims(&raw_dims, path)?,
            datatype: f.i16(70),
            pixdim,
            vox_offset: check_vox_offset(vox_offset, path)?,
            scl_slope: f.f32(112),
            scl_inter: f.f32(116),
            qform_code: f.i16(252) as i32,
            sform_code: f.i16(254) as i32,
            quatern_bcd: [f.f32(256), f.f32(260), f.f32(264)],
            qoffset_mm: [f.f32(268), f.f32(272), f.f32(276)],
            srow,
            xyzt_units: f.bytes[123],
            description: f.text(148, 80),
            is_pair,
        })
    }

    fn parse_v2(f: &Fields, endianness: Endianness, path: &Path) -> Result<Self, VolumeError> {
        let magic = &f.bytes[4..12];
        let is_pair = match magic {
            b"n+2\0\r\n\x1a\n" => false,
            b"ni2\0\r\n\x1a\n" => true,
            _ => {
                return Err(VolumeError::invalid(
                    path,
                    "NIfTI-2 header without a valid magic string",
                ));
            }
        };
        let raw_dims: Vec<i64> = (0..8).map(|i| f.i64(16 + 8 * i)).collect();
        let mut pixdim = [0.0; 8];
        for (i, p) in pixdim.iter_mut().enumerate() {
            *p = f.f64(104 + 8 * i);
        }
        let vox_offset = f.i64(168);
        if vox_offset < 0 {
            return Err(VolumeError::invalid(
                path,
                format!("vox_offset {vox_offset} is negative"),
            ));
        }
        let srow = [0, 1, 2].map(|r| [0, 1, 2, 3].map(|c| f.f64(400 + 32 * r + 8 * c)));
        Ok(Self {
            version: 2,
            endianness,
            dims: check_dims(&raw_dims, path)?,
            datatype: f.i16(12),
            pixdim,
            vox_offset: vox_offset as u64,
            scl_slope: f.f64(176),
            scl_inter: f.f64(184),
            qform_code: f.i32(344),
            sform_code: f.i32(348),
            quatern_bcd: [f.f64(352), f.f64(360), f.f64(368)],
            qoffset_mm: [f.f64(376), f.f64(384), f.f64(392)],
            srow,
            xyzt_units: f.i32(500) as u8,
            description: f.text(240, 80),
            is_pair,
        })
    }

    /// Size of the fixed header in bytes.
    pub fn header_bytes(&self) -> u64 {
        if self.version == 1 {
            NIFTI1_HEADER_BYTES as u64
        } else {
            NIFTI2_HEADER_BYTES as u64
        }
    }

    /// Voxel sizes along i, j, k as nibabel's header check leaves them:
    /// negative made positive, zero made one.
    pub fn spatial_zooms_mm(&self) -> [f64; 3] {
        [1, 2, 3].map(|i| {
            let z = self.pixdim[i].abs();
            if z == 0.0 || !z.is_finite() { 1.0 } else { z }
        })
    }

    /// The voxel→world affine nibabel reports as `img.affine`: sform when its
    /// code is set, else qform, else voxel sizes centred on the origin.
    pub fn world_from_voxel(&self) -> Affine {
        let known_code = |code: i32| (1..=5).contains(&code);
        if known_code(self.sform_code) {
            return Affine::from_rows(self.srow);
        }
        let zooms = self.spatial_zooms_mm();
        if known_code(self.qform_code) {
            // pixdim[0] is qfac; anything but −1 is read as 1, as nibabel fixes it.
            let qfac = if self.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
            return Affine::from_quaternion(self.quatern_bcd, zooms, qfac, self.qoffset_mm);
        }
        Affine::centred(&self.dims, zooms)
    }

    /// The scaling the file asks for; `None` when slope is 0 or not finite,
    /// or when it is the identity (slope 1, intercept 0).
    pub fn scaling(&self) -> Option<Scaling> {
        let slope = self.scl_slope;
        if slope == 0.0 || !slope.is_finite() {
            return None;
        }
        let inter = if self.scl_inter.is_finite() {
            self.scl_inter
        } else {
            0.0
        };
        if slope == 1.0 && inter == 0.0 {
            return None;
        }
        Some(Scaling { slope, inter })
    }
}

fn check_dims(raw: &[i64], path: &Path) -> Result<Vec<usize>, VolumeError> {
    let ndim = raw[0];
    if !(1..=7).contains(&ndim) {
        return Err(VolumeError::invalid(
            path,
            format!("dim[0] = {ndim} is out of range (1 to 7)"),
        ));
    }
    if ndim > 4 {
        return Err(VolumeError::unsupported(
            path,
            format!("{ndim}-D image: Loupe reads 1-D to 4-D volumes"),
        ));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for (i, &d) in raw[1..=ndim as usize].iter().enumerate() {
        if d <= 0 {
            return Err(VolumeError::invalid(
                path,
                format!("dim[{}] = {d} must be positive", i + 1),
            ));
        }
        let d = usize::try_from(d).map_err(|_| {
            VolumeError::invalid(path, format!("dim[{}] = {d} is too large", i + 1))
        })?;
        dims.push(d);
    }
    Ok(dims)
}

fn check_vox_offset(vox_offset: f64, path: &Path) -> Result<u64, VolumeError> {
    if !vox_offset.is_finite() || vox_offset < 0.0 || vox_offset > (u32::MAX as f64) {
        return Err(VolumeError::invalid(
            path,
            format!("vox_offset {vox_offset} is not a valid file offset"),
        ));
    }
    Ok(vox_offset as u64)
}

/// Number of samples and bytes the header describes, refusing overflow.
fn data_size(
    header: &NiftiHeader,
    sample_type: SampleType,
    channels: usize,
    path: &Path,
) -> Result<(usize, u64), VolumeError> {
    let overflow = || {
        VolumeError::invalid(
            path,
            format!(
                "dims {:?} describe more voxels than any file can hold",
                header.dims
            ),
        )
    };
    let mut samples = channels;
    for &d in &header.dims {
        samples = samples.checked_mul(d).ok_or_else(overflow)?;
    }
    let bytes = (samples as u64)
        .checked_mul(sample_type.size_bytes() as u64)
        .filter(|&b| b <= isize::MAX as u64)
        .ok_or_else(overflow)?;
    Ok((samples, bytes))
}

fn is_gzip(path: &Path) -> Result<bool, VolumeError> {
    let mut file = File::open(path).map_err(|e| VolumeError::io(path, e))?;
    let mut magic = [0u8; 2];
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(magic == [0x1f, 0x8b]),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(VolumeError::io(path, e)),
    }
}

/// An opened data source: the stream and a bound on how many bytes it can yield.
struct Source {
    reader: Box<dyn Read>,
    /// Bytes this file can yield at most (exact for plain files, a deflate
    /// bound for gzip), used to refuse headers that claim more.
    max_bytes: u64,
    /// For plain files the size is exact, so a shortfall is known before reading.
    exact: bool,
    /// The gzip trailer's uncompressed size (mod 2³²) of the last member.
    gzip_isize: Option<u32>,
}

fn open_source(path: &Path) -> Result<Source, VolumeError> {
    super::require_regular_file(path)?;
    let gz = is_gzip(path)?;
    let mut file = File::open(path).map_err(|e| VolumeError::io(path, e))?;
    let len = file.metadata().map_err(|e| VolumeError::io(path, e))?.len();
    if len == 0 {
        return Err(VolumeError::invalid(path, "file is empty"));
    }
    if gz {
        let mut gzip_isize = None;
        if len >= 18 {
            let mut trailer = [0u8; 4];
            file.seek(SeekFrom::End(-4))
                .map_err(|e| VolumeError::io(path, e))?;
            file.read_exact(&mut trailer)
                .map_err(|e| VolumeError::io(path, e))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| VolumeError::io(path, e))?;
            gzip_isize = Some(u32::from_le_bytes(trailer));
        }
        let reader = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file));
        Ok(Source {
            reader: Box::new(reader),
            max_bytes: len.saturating_mul(MAX_DEFLATE_RATIO),
            exact: false,
            gzip_isize,
        })
    } else {
        Ok(Source {
            reader: Box::new(BufReader::with_capacity(1 << 16, file)),
            max_bytes: len,
            exact: true,
            gzip_isize: None,
        })
    }
}

/// Reads the header at the start of a source.
fn read_header(source: &mut Source, path: &Path) -> Result<NiftiHeader, VolumeError> {
    let mut bytes = vec![0u8; NIFTI2_HEADER_BYTES];
    read_fully(
        &mut source.reader,
        &mut bytes[..4],
        path,
        "the NIfTI header",
    )?;
    let size = match detect_version([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        Some((1, _)) => NIFTI1_HEADER_BYTES,
        Some(_) => NIFTI2_HEADER_BYTES,
        None => return Err(not_nifti(path)),
    };
    read_fully(
        &mut source.reader,
        &mut bytes[4..size],
        path,
        "the NIfTI header",
    )?;
    NiftiHeader::parse(&bytes[..size], path)
}

/// The volume's voxels do not fit in this machine's memory.
fn out_of_memory(path: &Path, bytes: u64) -> VolumeError {
    VolumeError::invalid(
        path,
        format!(
            "the volume needs {} of memory for its voxels, more than this machine can give",
            human_bytes(bytes)
        ),
    )
}

/// `bytes` in KiB, MiB or GiB, one decimal.
fn human_bytes(bytes: u64) -> String {
    let bytes = bytes as f64;
    match bytes {
        b if b >= (1u64 << 30) as f64 => format!("{:.1} GiB", b / (1u64 << 30) as f64),
        b if b >= (1u64 << 20) as f64 => format!("{:.1} MiB", b / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b / 1024.0),
    }
}

fn not_nifti(path: &Path) -> VolumeError {
    VolumeError::invalid(
        path,
        "not a NIfTI file: the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2)",
    )
}

/// Reads `samples` values of `sample_type` from a stream whose length is not
/// known in advance (gzip), growing the buffer as data actually arrives so a
/// header that claims more than the stream holds never gets its allocation.
fn read_samples_growing(
    reader: &mut dyn Read,
    sample_type: SampleType,
    samples: usize,
    path: &Path,
) -> Result<VoxelData, VolumeError> {
    const CHUNK_BYTES: usize = 64 << 20;
    let size = sample_type.size_bytes();
    let chunk_samples = (CHUNK_BYTES / size).max(1);
    let mut data = VoxelData::zeroed(sample_type, 0);
    let mut filled = 0;
    while filled < samples {
        let next = (filled + chunk_samples).min(samples);
        data.resize_exact(next)
            .map_err(|_| out_of_memory(path, next.saturating_mul(size) as u64))?;
        read_fully(
            reader,
            &mut data.as_bytes_mut()[filled * size..next * size],
            path,
            "the voxel data",
        )?;
        filled = next;
    }
    Ok(data)
}

/// `read_exact` whose short read says which part of the file was cut off.
fn read_fully(
    reader: &mut dyn Read,
    buf: &mut [u8],
    path: &Path,
    what: &str,
) -> Result<(), VolumeError> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            VolumeError::invalid(path, format!("file is truncated: it ends inside {what}"))
        } else {
            VolumeError::io(path, e)
        }
    })
}

fn skip(reader: &mut dyn Read, count: u64, path: &Path) -> Result<(), VolumeError> {
    let skipped = std::io::copy(&mut reader.take(count), &mut std::io::sink())
        .map_err(|e| VolumeError::io(path, e))?;
    if skipped < count {
        return Err(VolumeError::invalid(
            path,
            "vox_offset lies past the end of the file",
        ));
    }
    Ok(())
}

/// The files a NIfTI path stands for: (header file, data file); the same
/// path twice for a single-file `.nii`. The store hashes both of a pair.
pub fn header_and_data_paths(path: &Path) -> Result<(PathBuf, PathBuf), VolumeError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (stem_len, is_header) = if name.ends_with(".hdr.gz") {
        (name.len() - 7, true)
    } else if name.ends_with(".img.gz") {
        (name.len() - 7, false)
    } else if name.ends_with(".hdr") {
        (name.len() - 4, true)
    } else if name.ends_with(".img") {
        (name.len() - 4, false)
    } else {
        return Ok((path.to_path_buf(), path.to_path_buf()));
    };
    let original = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = &original[..stem_len];
    let sibling_suffixes: &[&str] = if is_header {
        &["img", "img.gz", "IMG"]
    } else {
        &["hdr", "hdr.gz", "HDR"]
    };
    let sibling = sibling_suffixes
        .iter()
        .map(|suffix| path.with_file_name(format!("{stem}.{suffix}")))
        .find(|candidate| candidate.exists());
    let Some(sibling) = sibling else {
        let missing = if is_header {
            "its .img data file"
        } else {
            "its .hdr header file"
        };
        return Err(VolumeError::invalid(
            path,
            format!("NIfTI pair is missing {missing}"),
        ));
    };
    Ok(if is_header {
        (path.to_path_buf(), sibling)
    } else {
        (sibling, path.to_path_buf())
    })
}

/// The dimensions a NIfTI file's header claims, read without its voxels
/// (a gzipped file is only decompressed as far as its header).
pub fn header_dims(path: &Path) -> Result<Vec<usize>, VolumeError> {
    let (header_path, _) = header_and_data_paths(path)?;
    let mut source = open_source(&header_path)?;
    Ok(read_header(&mut source, &header_path)?.dims)
}

/// Checks a NIfTI file (or pair) without reading its voxels: a header Loupe
/// reads, a data type it knows, and a file that holds the voxels the header
/// claims (a gzip file as far as its trailer tells). Returns the dims.
pub fn probe(path: &Path) -> Result<Vec<usize>, VolumeError> {
    let (header_path, data_path) = header_and_data_paths(path)?;
    let mut header_source = open_source(&header_path)?;
    let header = read_header(&mut header_source, &header_path)?;
    let (sample_type, channels) = sample_layout(header.datatype)
        .map_err(|reason| VolumeError::unsupported(&header_path, reason))?;
    let (_, data_bytes) = data_size(&header, sample_type, channels, &header_path)?;
    let (source, before) = if header_path != data_path {
        (open_source(&data_path)?, header.vox_offset)
    } else {
        (header_source, header.vox_offset.max(header.header_bytes()))
    };
    let needed = before.saturating_add(data_bytes);
    let holds = match (source.exact, source.gzip_isize) {
        (true, _) => Some(source.max_bytes),
        // The trailer is the size mod 2³²: it proves a shortfall below 4 GiB.
        (false, Some(isize)) if needed < 1 << 32 => Some(u64::from(isize)),
        (false, _) => None,
    };
    if holds.is_some_and(|h| h < needed) || needed > source.max_bytes {
        return Err(VolumeError::invalid(
            &data_path,
            format!(
                "file is truncated or its header is wrong: dims {:?} of {} need {needed} bytes, the file holds {}",
                header.dims,
                sample_type.name(),
                holds.map_or("less".to_string(), |h| h.to_string())
            ),
        ));
    }
    Ok(header.dims)
}

/// Reads a NIfTI-1 or NIfTI-2 file (or pair) into memory in its stored type.
pub fn read(path: &Path) -> Result<Volume, VolumeError> {
    read_within(path, super::voxels::available_memory_bytes())
}

/// Kept whole on purpose: the header's fields are checked in file order
/// and each check names the field; split, the checks would lose that order.
/// [`read`], refusing a volume whose voxels need more than `memory_bytes`.
fn read_within(path: &Path, memory_bytes: Option<u64>) -> Result<Volume, VolumeError> {
    let (header_path, data_path) = header_and_data_paths(path)?;
    let mut header_source = open_source(&header_path)?;
    let header = read_header(&mut header_source, &header_path)?;
    let (sample_type, channels) = sample_layout(header.datatype)
        .map_err(|reason| VolumeError::unsupported(&header_path, reason))?;
    let (samples, data_bytes) = data_size(&header, sample_type, channels, &header_path)?;
    let separate_data = header_path != data_path;

    let (mut source, offset) = if separate_data {
        (open_source(&data_path)?, header.vox_offset)
    } else {
        if header.vox_offset < header.header_bytes() {
            return Err(VolumeError::invalid(
                path,
                format!(
                    "vox_offset {} lies inside the {}-byte header",
                    header.vox_offset,
                    header.header_bytes()
                ),
            ));
        }
        let offset = header.vox_offset - header.header_bytes();
        (header_source, offset)
    };
    let consumed = if separate_data {
        0
    } else {
        header.header_bytes()
    };
    let needed = consumed.saturating_add(offset).saturating_add(data_bytes);
    if source.exact && source.max_bytes < needed {
        let available = source.max_bytes.saturating_sub(consumed + offset);
        return Err(VolumeError::invalid(
            &data_path,
            if source.max_bytes < consumed + offset {
                format!(
                    "vox_offset {} lies past the end of the file ({} bytes)",
                    header.vox_offset, source.max_bytes
                )
            } else {
                format!(
                    "file is truncated: dims {:?} of {} need {data_bytes} bytes of voxel data but the file holds {available}",
                    header.dims,
                    sample_type.name()
                )
            },
        ));
    }
    if !source.exact && needed > source.max_bytes {
        return Err(VolumeError::invalid(
            &data_path,
            format!(
                "header is wrong or the file is truncated: dims {:?} of {} need {data_bytes} bytes of voxel data, more than this compressed file can hold",
                header.dims,
                sample_type.name()
            ),
        ));
    }
    // A volume that cannot fit is refused before any of it is allocated:
    // a few-MB gzip file may claim tens of GB.
    if let Some(available) = memory_bytes
        && data_bytes > available
    {
        return Err(out_of_memory(&data_path, data_bytes));
    }
    skip(&mut source.reader, offset, &data_path)?;
    // The gzip trailer records the whole stream's size mod 2^32: when it
    // agrees with the header (and the size is below 4 GiB, where mod 2^32
    // proves nothing), the size is corroborated and one allocation suffices.
    let corroborated =
        source.exact || (needed < 1 << 32 && source.gzip_isize == Some(needed as u32));
    let mut data = if corroborated {
        // One zeroed allocation (pages come from the OS on first write), filled in place.
        let mut data = VoxelData::try_zeroed(sample_type, samples)
            .ok_or_else(|| out_of_memory(&data_path, data_bytes))?;
        read_fully(
            &mut source.reader,
            data.as_bytes_mut(),
            &data_path,
            "the voxel data",
        )?;
        data
    } else {
        // Unconfirmed size: grow as data actually arrives.
        read_samples_growing(&mut source.reader, sample_type, samples, &data_path)?
    };
    if !source.exact {
        // Read to the end so the decoder checks the gzip CRC: a damaged file
        // is refused rather than shown with silently wrong voxels.
        std::io::copy(&mut source.reader, &mut std::io::sink())
            .map_err(|e| VolumeError::io(&data_path, e))?;
    }
    if header.endianness != Endianness::native() {
        data.swap_bytes();
    }

    let format = match (header.version, separate_data) {
        (1, false) => FileFormat::Nifti1,
        (1, true) => FileFormat::Nifti1Pair,
        (_, false) => FileFormat::Nifti2,
        (_, true) => FileFormat::Nifti2Pair,
    };
    let mut spacing = [1.0; 4];
    for (i, s) in spacing
        .iter_mut()
        .enumerate()
        .take(header.dims.len().min(4))
    {
        *s = header.pixdim[i + 1].abs();
    }
    Ok(Volume {
        path: path.to_path_buf(),
        format,
        shape: header.dims.clone(),
        channels,
        datatype: Some(header.datatype),
        endianness: header.endianness,
        world_from_voxel: header.world_from_voxel(),
        pixdim: spacing,
        scaling: header.scaling(),
        xyzt_units: header.xyzt_units,
        description: header.description.clone(),
        data,
        dicom: None,
    })
}

/// Writes a NIfTI-1 single file (`.nii`, or gzipped when the name ends in `.gz`)
/// in little-endian order with the volume's sform.
pub fn write_nifti1(volume: &Volume, path: &Path) -> std::io::Result<()> {
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    std::fs::write(path, encode_nifti1(volume, gz)?)
}

/// A NIfTI-1 single file's bytes (gzipped when `gz`), little-endian, with
/// the volume's sform: for writers that must write atomically.
pub fn encode_nifti1(volume: &Volume, gz: bool) -> std::io::Result<Vec<u8>> {
    let datatype = volume
        .datatype
        .or_else(|| datatype_code(volume.data.sample_type(), volume.channels))
        .ok_or_else(|| std::io::Error::other("sample layout has no NIfTI datatype"))?;
    let mut h = vec![0u8; NIFTI1_HEADER_BYTES + 4];
    let put =
        |h: &mut Vec<u8>, at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut h, 0, &348i32.to_le_bytes());
    let mut dim = [1i16; 8];
    dim[0] = volume.shape.len() as i16;
    for (i, &d) in volume.shape.iter().enumerate() {
        dim[i + 1] = i16::try_from(d)
            .map_err(|_| std::io::Error::other("dimension exceeds NIfTI-1's 32767"))?;
    }
    for (i, d) in dim.iter().enumerate() {
        put(&mut h, 40 + 2 * i, &d.to_le_bytes());
    }
    put(&mut h, 70, &datatype.to_le_bytes());
    let bitpix = (volume.data.sample_type().size_bytes() * volume.channels * 8) as i16;
    put(&mut h, 72, &bitpix.to_le_bytes());
    let mut pixdim = [1.0f32; 8];
    for (i, s) in volume.pixdim.iter().enumerate() {
        pixdim[i + 1] = *s as f32;
    }
    for (i, p) in pixdim.iter().enumerate() {
        put(&mut h, 76 + 4 * i, &p.to_le_bytes());
    }
    put(&mut h, 108, &352f32.to_le_bytes());
    let (slope, inter) = volume
        .scaling
        .map_or((0.0, 0.0), |s| (s.slope as f32, s.inter as f32));
    put(&mut h, 112, &slope.to_le_bytes());
    put(&mut h, 116, &inter.to_le_bytes());
    h[123] = volume.xyzt_units;
    let description = volume.description.as_bytes();
    put(&mut h, 148, &description[..description.len().min(79)]);
    put(&mut h, 254, &2i16.to_le_bytes()); // sform_code: aligned
    for r in 0..3 {
        for c in 0..4 {
            put(
                &mut h,
                280 + 16 * r + 4 * c,
                &(volume.world_from_voxel.0[r][c] as f32).to_le_bytes(),
            );
        }
    }
    put(&mut h, 344, b"n+1\0");
    let mut bytes = h;
    if Endianness::native() == Endianness::Little {
        bytes.extend_from_slice(volume.data.as_bytes());
    } else {
        let mut swapped = volume.data.clone();
        swapped.swap_bytes();
        bytes.extend_from_slice(swapped.as_bytes());
    }
    if !gz {
        return Ok(bytes);
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(&bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_cover_every_real_datatype() {
        for code in [2, 4, 8, 16, 64, 128, 256, 512, 768, 1024, 1280, 2304] {
            let (sample, channels) = sample_layout(code).expect("readable datatype");
            assert_eq!(datatype_code(sample, channels), Some(code));
        }
        assert!(sample_layout(32).unwrap_err().contains("complex"));
        assert!(sample_layout(77).unwrap_err().contains("unknown datatype"));
    }

    #[test]
    fn a_volume_larger_than_memory_is_refused_before_it_is_allocated() {
        // 64³ uint8 zeros, gzipped: a 1 KB file whose trailer corroborates 256 KiB.
        let mut bytes = vec![0u8; 352];
        bytes[0..4].copy_from_slice(&348i32.to_le_bytes());
        for (i, d) in [3i16, 64, 64, 64, 1, 1, 1, 1].iter().enumerate() {
            bytes[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        bytes[70..72].copy_from_slice(&2i16.to_le_bytes());
        bytes[72..74].copy_from_slice(&8i16.to_le_bytes());
        bytes[108..112].copy_from_slice(&352f32.to_le_bytes());
        bytes[344..348].copy_from_slice(b"n+1\0");
        bytes.resize(352 + 64 * 64 * 64, 0);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeros.nii.gz");
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();

        let error = read_within(&path, Some(100_000)).unwrap_err().to_string();
        assert!(
            error.contains("needs 256.0 KiB of memory") && error.contains("zeros.nii.gz"),
            "{error}"
        );
        assert_eq!(
            read_within(&path, Some(1 << 20)).unwrap().shape,
            vec![64, 64, 64]
        );
        assert!(
            VoxelData::try_zeroed(SampleType::F64, usize::MAX / 16).is_none(),
            "no abort"
        );
    }

    #[test]
    fn dims_are_checked() {
        let p = Path::new("x.nii");
        assert!(check_dims(&[0, 1, 1, 1, 1, 1, 1, 1], p).is_err());
        assert!(check_dims(&[8, 1, 1, 1, 1, 1, 1, 1], p).is_err());
        assert!(
            check_dims(&[3, 4, -1, 2, 1, 1, 1, 1], p)
                .unwrap_err()
                .to_string()
                .contains("dim[2] = -1")
        );
        assert!(
            check_dims(&[5, 4, 4, 4, 1, 1, 1, 1], p)
                .unwrap_err()
                .to_string()
                .contains("5-D")
        );
        assert_eq!(
            check_dims(&[3, 4, 5, 6, 1, 1, 1, 1], p).unwrap(),
            vec![4, 5, 6]
        );
    }
}
