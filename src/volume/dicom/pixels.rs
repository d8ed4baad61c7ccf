//! A file's pixel data decoded to stored samples, the values pydicom's
//! default `pixel_array` gives: unused high bits corrected (masked, or the
//! sign extended from BitsStored), planes interleaved, YBR_FULL and
//! YBR_FULL_422 converted to RGB with pydicom's arithmetic, and a colour
//! frame that a JPEG decoder already returned as RGB left as it is.

use std::path::Path;

use dicom_core::DicomValue;
use dicom_dictionary_std::tags;
use dicom_pixeldata::PixelDecoder;

use super::super::error::VolumeError;
use super::super::voxels::VoxelData;
use super::header::{DicomFile, Header};
use super::jpeg::{self, JpegSamples};
use super::syntax::{self, Decoder};

/// Checks the pixel layout a header claims and returns the samples it needs.
pub fn check_layout(header: &Header, path: &Path) -> Result<usize, VolumeError> {
    if !header.has_pixel_data || header.rows == 0 || header.columns == 0 {
        return Err(VolumeError::invalid(
            path,
            format!(
                "DICOM file holds no image (no pixel data, or Rows × Columns = {} × {}); SOP class {}",
                header.rows, header.columns, header.sop_class
            ),
        ));
    }
    if !matches!(header.bits_allocated, 1 | 8 | 16 | 32) {
        return Err(VolumeError::unsupported(
            path,
            format!(
                "BitsAllocated {} (Loupe reads 1, 8, 16 and 32)",
                header.bits_allocated
            ),
        ));
    }
    if header.bits_stored == 0 || header.bits_stored > header.bits_allocated {
        return Err(VolumeError::invalid(
            path,
            format!(
                "BitsStored {} does not fit BitsAllocated {}",
                header.bits_stored, header.bits_allocated
            ),
        ));
    }
    if !matches!(header.samples_per_pixel, 1 | 3) {
        return Err(VolumeError::unsupported(
            path,
            format!(
                "SamplesPerPixel {} (Loupe reads 1 and 3)",
                header.samples_per_pixel
            ),
        ));
    }
    let samples = header
        .rows
        .checked_mul(header.columns)
        .and_then(|n| n.checked_mul(header.samples_per_pixel))
        .and_then(|n| n.checked_mul(header.frames));
    let bytes = samples.and_then(|n| n.checked_mul(header.bits_allocated.div_ceil(8)));
    let limit = super::max_pixel_bytes();
    match (samples, bytes) {
        (Some(samples), Some(bytes)) if bytes as u64 <= limit => Ok(samples),
        _ => Err(VolumeError::invalid(
            path,
            format!(
                "Rows × Columns × SamplesPerPixel × NumberOfFrames = {} × {} × {} × {} at {} bits is more than Loupe reads into memory ({} MiB)",
                header.rows,
                header.columns,
                header.samples_per_pixel,
                header.frames,
                header.bits_allocated,
                limit >> 20
            ),
        )),
    }
}

/// Decodes every frame of a file: samples in the stored type, frames one
/// after another, channels interleaved.
pub fn decode(file: &DicomFile, path: &Path) -> Result<VoxelData, VolumeError> {
    let header = &file.header;
    let samples = check_layout(header, path)?;
    let decoder = syntax::decoder(&header.transfer_syntax)
        .map_err(|reason| VolumeError::unsupported(path, reason))?;
    let colour = header.samples_per_pixel == 3;
    let lossless_colour_jpeg = colour && header.transfer_syntax.ends_with(".4.57")
        || colour && header.transfer_syntax.ends_with(".4.70");
    let header_says_ybr = matches!(header.photometric.as_str(), "YBR_FULL" | "YBR_FULL_422");
    // Whether the decoded colour samples are YCbCr still, to convert as pydicom does.
    let (mut data, still_ybr) = match decoder {
        Decoder::Native => (native(file, samples, path)?, header_says_ybr),
        Decoder::Jpeg if !lossless_colour_jpeg => jpeg_frames(file, path)?,
        Decoder::Rle => (rle_frames(file, path)?, header_says_ybr),
        Decoder::Jpeg | Decoder::DicomRs => (with_dicom_rs(file, path)?, header_says_ybr),
    };
    if data.len() < samples {
        return Err(VolumeError::invalid(
            path,
            format!(
                "pixel data decodes to {} samples; Rows × Columns × SamplesPerPixel × frames = {samples}",
                data.len()
            ),
        ));
    }
    data.truncate(samples);
    let mut data = to_voxels(data, header);
    if colour && still_ybr {
        if let VoxelData::U8(values) = &mut data {
            ybr_full_to_rgb(values);
        }
    }
    Ok(data)
}

/// Raw samples before typing: 8-bit or 16-bit or 32-bit words.
enum Words {
    Bytes(Vec<u8>),
    Halves(Vec<u16>),
    Words(Vec<u32>),
}

impl Words {
    fn len(&self) -> usize {
        match self {
            Self::Bytes(v) => v.len(),
            Self::Halves(v) => v.len(),
            Self::Words(v) => v.len(),
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Self::Bytes(v) => v.truncate(n),
            Self::Halves(v) => v.truncate(n),
            Self::Words(v) => v.truncate(n),
        }
    }
}

/// Little-endian bytes → words of `bits_allocated`.
fn words_from_le(bytes: &[u8], bits_allocated: usize, samples: usize) -> Words {
    match bits_allocated {
        1 => Words::Bytes(
            bytes
                .iter()
                .flat_map(|&byte| (0..8).map(move |bit| (byte >> bit) & 1))
                .take(samples)
                .collect(),
        ),
        8 => Words::Bytes(bytes.to_vec()),
        16 => Words::Halves(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        _ => Words::Words(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    }
}

/// Uncompressed pixel data (dicom-rs has undone byte order and deflate).
fn native(file: &DicomFile, samples: usize, path: &Path) -> Result<Words, VolumeError> {
    let header = &file.header;
    if let Some(raw) = &file.native_pixels {
        let order = ByteOrder {
            big_endian_samples: false,
            halves_swapped: false,
        };
        return native_words(header, raw.bytes(), order, samples, path);
    }
    let element = file.object.get(tags::PIXEL_DATA).ok_or_else(|| {
        VolumeError::unsupported(path, "no integer PixelData (float pixel data is not read)")
    })?;
    let DicomValue::Primitive(value) = element.value() else {
        return Err(VolumeError::invalid(
            path,
            "PixelData is encapsulated but the transfer syntax says uncompressed",
        ));
    };
    // dicom-rs reads an OW value of a big-endian file as 16-bit words (and
    // hands them back little-endian); an OB value stays as the file's bytes.
    let big_endian = header.transfer_syntax == syntax::EXPLICIT_BIG_ENDIAN;
    let stored_as_words = matches!(value, dicom_core::PrimitiveValue::U16(_));
    let order = ByteOrder {
        big_endian_samples: big_endian && !stored_as_words,
        halves_swapped: big_endian && stored_as_words,
    };
    native_words(header, &value.to_bytes(), order, samples, path)
}

/// How native pixel bytes are ordered.
#[derive(Clone, Copy)]
struct ByteOrder {
    /// Each sample's bytes are big-endian (the file's own bytes of an
    /// Explicit VR Big Endian file).
    big_endian_samples: bool,
    /// 32-bit samples that dicom-rs read as pairs of 16-bit words.
    halves_swapped: bool,
}

/// Native pixel bytes → words, checked against the size the header needs;
/// YBR_FULL_422 expanded, planar colour interleaved.
fn native_words(
    header: &Header,
    bytes: &[u8],
    order: ByteOrder,
    samples: usize,
    path: &Path,
) -> Result<Words, VolumeError> {
    let subsampled = header.photometric == "YBR_FULL_422" && header.bits_allocated == 8;
    // YBR_FULL_422 stores two luma samples per chroma pair: 2 bytes a pixel.
    let needed_samples = if subsampled { samples / 3 * 2 } else { samples };
    let needed = if header.bits_allocated == 1 {
        needed_samples.div_ceil(8)
    } else {
        needed_samples * header.bits_allocated / 8
    };
    if bytes.len() < needed {
        return Err(VolumeError::invalid(
            path,
            format!(
                "pixel data holds {} bytes but Rows × Columns × SamplesPerPixel × frames ({} × {} × {} × {}) at {} bits needs {needed} (truncated file?)",
                bytes.len(),
                header.rows,
                header.columns,
                header.samples_per_pixel,
                header.frames,
                header.bits_allocated
            ),
        ));
    }
    let bytes = &bytes[..needed];
    if subsampled {
        return Ok(Words::Bytes(expand_ybr422(bytes)));
    }
    let mut words = if order.big_endian_samples && header.bits_allocated > 8 {
        let swapped = swap_bytes(bytes, header.bits_allocated / 8);
        words_from_le(&swapped, header.bits_allocated, samples)
    } else {
        words_from_le(bytes, header.bits_allocated, samples)
    };
    if order.halves_swapped
        && let Words::Words(values) = &mut words
    {
        for v in values.iter_mut() {
            *v = v.rotate_left(16);
        }
    }
    if header.samples_per_pixel == 3 && header.planar {
        let frame = header.rows * header.columns;
        words = match words {
            Words::Bytes(v) => Words::Bytes(interleave(&v, frame)),
            Words::Halves(v) => Words::Halves(interleave(&v, frame)),
            Words::Words(v) => Words::Words(interleave(&v, frame)),
        };
    }
    Ok(words)
}

/// Reverses the byte order of each `width`-byte sample.
fn swap_bytes(bytes: &[u8], width: usize) -> Vec<u8> {
    bytes
        .chunks_exact(width.max(1))
        .flat_map(|c| c.iter().rev().copied())
        .collect()
}

/// Planes `RRR…GGG…BBB…` per frame → `RGBRGB…`.
fn interleave<T: Copy>(planar: &[T], pixels_per_frame: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(planar.len());
    for frame in planar.chunks(3 * pixels_per_frame) {
        let plane = frame.len() / 3;
        for p in 0..plane {
            out.extend([frame[p], frame[plane + p], frame[2 * plane + p]]);
        }
    }
    out
}

/// `Y0 Y1 Cb Cr` → `Y0 Cb Cr Y1 Cb Cr` (pydicom's expansion).
fn expand_ybr422(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 2 * 3);
    for quad in bytes.chunks_exact(4) {
        out.extend([quad[0], quad[2], quad[3], quad[1], quad[2], quad[3]]);
    }
    out
}

/// YBR_FULL → RGB exactly as pydicom's `convert_color_space`: float32
/// matrix product, `floor(x + 0.5)`, clipped to [0, 255].
pub fn ybr_full_to_rgb(values: &mut [u8]) {
    const M: [[f32; 3]; 3] = [
        [1.000, 1.000, 1.000],
        [0.000, -0.114 * 1.772 / 0.587, 1.772],
        [1.402, -0.299 * 1.402 / 0.587, 0.000],
    ];
    for pixel in values.chunks_exact_mut(3) {
        let y = pixel[0] as f32;
        let cb = pixel[1] as f32 - 128.0;
        let cr = pixel[2] as f32 - 128.0;
        for c in 0..3 {
            let v = y * M[0][c] + cb * M[1][c] + cr * M[2][c];
            pixel[c] = (v + 0.5).floor().clamp(0.0, 255.0) as u8;
        }
    }
}

/// The frames of encapsulated pixel data: one fragment per frame, or the
/// basic offset table's grouping, or everything for a single frame.
fn frame_fragments(file: &DicomFile, path: &Path) -> Result<Vec<Vec<u8>>, VolumeError> {
    let frames = file.header.frames;
    let element = file
        .object
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| VolumeError::invalid(path, "no PixelData"))?;
    let DicomValue::PixelSequence(sequence) = element.value() else {
        return Err(VolumeError::invalid(
            path,
            "PixelData is not encapsulated but the transfer syntax is compressed",
        ));
    };
    let fragments = sequence.fragments();
    let table = sequence.offset_table();
    if fragments.len() == frames {
        return Ok(fragments.iter().map(|f| f.to_vec()).collect());
    }
    if frames == 1 {
        return Ok(vec![fragments.iter().flatten().copied().collect()]);
    }
    if table.len() == frames {
        // Offsets count from the first fragment's item header (8 bytes each).
        let mut out = vec![Vec::new(); frames];
        let mut offset = 0u64;
        for fragment in fragments {
            let frame = table
                .iter()
                .rposition(|&start| u64::from(start) <= offset)
                .unwrap_or(0);
            out[frame].extend_from_slice(fragment);
            offset += fragment.len() as u64 + 8;
        }
        return Ok(out);
    }
    Err(VolumeError::invalid(
        path,
        format!(
            "{} pixel data fragments for {frames} frames and no offset table to tell them apart",
            fragments.len()
        ),
    ))
}

/// Every frame through libjpeg-turbo, and whether the colour samples are
/// still YCbCr (see [`jpeg::pydicom_sees_ybr`]).
fn jpeg_frames(file: &DicomFile, path: &Path) -> Result<(Words, bool), VolumeError> {
    let header = &file.header;
    let max_pixels = header.rows * header.columns;
    let mut bytes = Vec::new();
    let mut halves = Vec::new();
    let mut still_ybr = false;
    for (index, fragment) in frame_fragments(file, path)?.iter().enumerate() {
        let frame = jpeg::decode(fragment, max_pixels, &header.photometric)
            .map_err(|e| VolumeError::invalid(path, format!("frame {index}: {e}")))?;
        still_ybr |= frame.still_ybr;
        if frame.width != header.columns
            || frame.height != header.rows
            || frame.components != header.samples_per_pixel
        {
            return Err(VolumeError::invalid(
                path,
                format!(
                    "frame {index}: JPEG is {} × {} × {} but the header says {} × {} × {}",
                    frame.width,
                    frame.height,
                    frame.components,
                    header.columns,
                    header.rows,
                    header.samples_per_pixel
                ),
            ));
        }
        match frame.samples {
            JpegSamples::Eight(v) if header.bits_allocated == 8 => bytes.extend(v),
            JpegSamples::Eight(v) => halves.extend(v.into_iter().map(u16::from)),
            JpegSamples::Sixteen(v) => halves.extend(v),
        }
    }
    let words = if header.bits_allocated == 8 && halves.is_empty() {
        Words::Bytes(bytes)
    } else {
        Words::Halves(halves)
    };
    Ok((words, still_ybr))
}

/// RLE frames through Loupe's decoder (see [`super::rle`]).
fn rle_frames(file: &DicomFile, path: &Path) -> Result<Words, VolumeError> {
    let header = &file.header;
    let bytes_per_sample = header.bits_allocated.div_ceil(8);
    if !matches!(bytes_per_sample, 1 | 2 | 4) {
        return Err(VolumeError::unsupported(
            path,
            format!("RLE with BitsAllocated {}", header.bits_allocated),
        ));
    }
    let pixels = header.rows * header.columns;
    let mut out =
        Vec::with_capacity(pixels * header.samples_per_pixel * bytes_per_sample * header.frames);
    for (index, fragment) in frame_fragments(file, path)?.iter().enumerate() {
        let frame =
            super::rle::decode_frame(fragment, pixels, header.samples_per_pixel, bytes_per_sample)
                .map_err(|e| VolumeError::invalid(path, format!("frame {index}: {e}")))?;
        out.extend(frame);
    }
    let samples = pixels * header.samples_per_pixel * header.frames;
    Ok(words_from_le(&out, bytes_per_sample * 8, samples))
}

fn with_dicom_rs(file: &DicomFile, path: &Path) -> Result<Words, VolumeError> {
    let header = &file.header;
    // A decoder crate that panics on a malformed stream must not take the
    // window down: its panic becomes this file's error.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        file.object.decode_pixel_data()
    }))
    .map_err(|_| {
        VolumeError::invalid(
            path,
            format!(
                "{} pixel data is malformed (its decoder failed)",
                syntax::name(&header.transfer_syntax)
            ),
        )
    })?
    .map_err(|e| {
        VolumeError::invalid(
            path,
            format!(
                "cannot decode {} pixel data ({e})",
                syntax::name(&header.transfer_syntax)
            ),
        )
    })?;
    let samples = header.rows * header.columns * header.samples_per_pixel * header.frames;
    let bits = usize::from(decoded.bits_allocated());
    Ok(words_from_le(decoded.data(), bits.max(1), samples))
}

/// Words → typed samples, unused high bits corrected as pydicom does
/// (shift left then right by BitsAllocated − BitsStored in the signed or
/// unsigned type).
fn to_voxels(words: Words, header: &Header) -> VoxelData {
    let unused = (header.bits_allocated.max(header.bits_stored) - header.bits_stored) as u32;
    // A decoder may hand back narrower words than BitsAllocated says: never shift past the word.
    let shift = match &words {
        Words::Bytes(_) => unused.min(7),
        Words::Halves(_) => unused.min(15),
        Words::Words(_) => unused.min(31),
    };
    match (words, header.signed) {
        (Words::Bytes(v), false) => {
            VoxelData::U8(v.into_iter().map(|x| (x << shift) >> shift).collect())
        }
        (Words::Bytes(v), true) => VoxelData::I8(
            v.into_iter()
                .map(|x| ((x << shift) as i8) >> shift)
                .collect(),
        ),
        (Words::Halves(v), false) => {
            VoxelData::U16(v.into_iter().map(|x| (x << shift) >> shift).collect())
        }
        (Words::Halves(v), true) => VoxelData::I16(
            v.into_iter()
                .map(|x| ((x << shift) as i16) >> shift)
                .collect(),
        ),
        (Words::Words(v), false) => {
            VoxelData::U32(v.into_iter().map(|x| (x << shift) >> shift).collect())
        }
        (Words::Words(v), true) => VoxelData::I32(
            v.into_iter()
                .map(|x| ((x << shift) as i32) >> shift)
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ybr_full_converts_as_pydicom_does() {
        // Values from pydicom 3.0's convert_color_space(YBR_FULL → RGB).
        let mut v = [128, 128, 128, 76, 85, 255, 29, 255, 107, 0, 0, 0];
        ybr_full_to_rgb(&mut v);
        assert_eq!(v[..3], [128, 128, 128]);
        // Pure red's YCbCr (76, 85, 255) comes back to (254, 0, 0) after rounding.
        assert_eq!(v[3..6], [254, 0, 0]);
        assert_eq!(v[6..9], [0, 0, 254]);
        assert_eq!(v[9..], [0, 135, 0]);
    }

    #[test]
    fn unused_bits_are_masked_or_sign_extended() {
        let mut header_signed = crate::volume::dicom::tests::header(12, true);
        let voxels = to_voxels(Words::Halves(vec![0xF800, 0x0FFF, 0x0800]), &header_signed);
        assert_eq!(voxels, VoxelData::I16(vec![-2048, -1, -2048]));
        header_signed.signed = false;
        let voxels = to_voxels(Words::Halves(vec![0xF800, 0x0FFF]), &header_signed);
        assert_eq!(voxels, VoxelData::U16(vec![0x0800, 0x0FFF]));
    }

    #[test]
    fn planes_interleave_and_ybr422_expands() {
        assert_eq!(interleave(&[1, 2, 3, 4, 5, 6], 2), vec![1, 3, 5, 2, 4, 6]);
        assert_eq!(expand_ybr422(&[10, 20, 1, 2]), vec![10, 1, 2, 20, 1, 2]);
    }
}
