//! A walk over a DICOM file's element headers that checks every defined
//! length against the bytes left, before dicom-rs parses the file.
//!
//! dicom-rs allocates an element's value from the length its header claims
//! before reading it; a 200-byte file claiming a 4 GiB element would make
//! it zero-fill 4 GiB. This walk reads only tags, VRs and lengths (values
//! are skipped, sequences entered) and refuses a length longer than the
//! file. Where the encoding is something it does not follow (an explicit
//! `UN` of undefined length holds implicit-VR items), it stops and leaves
//! the rest to dicom-rs: it refuses only what it is sure of. A deflated
//! data set is inflated once with a bound on its size.

use std::io::Read;
use std::path::Path;

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::super::error::VolumeError;

/// Where a file's data set starts, found from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// 128-byte preamble, `DICM`, file meta group (Part 10).
    Preamble,
    /// `DICM` and the meta group without the preamble.
    NoPreamble,
    /// A bare data set (no meta group), implicit VR little endian, as old
    /// ACR-NEMA-style exports write it.
    BareDataSet,
    /// A bare data set in explicit VR little endian (its first element
    /// carries a VR after the tag).
    BareExplicit,
}

/// Whether `bytes` (a file's beginning, at least 132 bytes where the file
/// has them) look like DICOM, and how it is laid out.
pub fn sniff(bytes: &[u8]) -> Option<Layout> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Some(Layout::Preamble);
    }
    if bytes.len() >= 4 && &bytes[..4] == b"DICM" {
        return Some(Layout::NoPreamble);
    }
    // A bare data set begins with a group-0008 element (implicit VR: tag
    // then a 4-byte length) whose element number is small.
    if bytes.len() >= 8 {
        let group = u16::from_le_bytes([bytes[0], bytes[1]]);
        let element = u16::from_le_bytes([bytes[2], bytes[3]]);
        let length = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let vr_letters = bytes[4].is_ascii_uppercase() && bytes[5].is_ascii_uppercase();
        let explicit_length = u16::from_le_bytes([bytes[6], bytes[7]]);
        if group == 0x0008 && element <= 0x0020 && vr_letters && explicit_length < 1024 {
            return Some(Layout::BareExplicit);
        }
        if group == 0x0008 && element <= 0x0020 && (length as usize) < 1024 {
            return Some(Layout::BareDataSet);
        }
    }
    None
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
/// A deflated data set may inflate to at most this many times its size
/// (zlib's own maximum ratio is about 1032).
const MAX_INFLATE_RATIO: usize = 1032;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = super::syntax::EXPLICIT_BIG_ENDIAN;
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

/// Checks the file meta group and the data set (`bytes` start after the
/// preamble, if any).
pub fn check_lengths(bytes: &[u8], layout: Layout, path: &Path) -> Result<Checked, VolumeError> {
    check_lengths_until(bytes, layout, path, false)
}

/// [`check_lengths`], stopping at the top-level PixelData element when
/// `until_pixel_data` (a header read from the file's first bytes only).
pub fn check_lengths_until(
    bytes: &[u8],
    layout: Layout,
    path: &Path,
    until_pixel_data: bool,
) -> Result<Checked, VolumeError> {
    let (dataset_start, transfer_syntax) = match layout {
        Layout::BareDataSet => (0, IMPLICIT_LE.to_string()),
        Layout::BareExplicit => (0, EXPLICIT_LE.to_string()),
        Layout::Preamble | Layout::NoPreamble => meta_group(bytes, path)?,
    };
    let data = &bytes[dataset_start.min(bytes.len())..];
    if transfer_syntax.is_empty() {
        return Err(VolumeError::invalid(
            path,
            "the file meta group names no transfer syntax (0002,0010): how the data set is encoded is unknown",
        ));
    }
    // A syntax in neither Loupe's table nor dicom-rs's registry says
    // nothing of how the data set is encoded: walking it as explicit VR
    // would only produce a misleading length error.
    if !super::syntax::is_known(&transfer_syntax) {
        let reason = super::syntax::decoder(&transfer_syntax)
            .err()
            .unwrap_or_default();
        return Err(VolumeError::unsupported(path, reason));
    }
    // Some writers put an implicit VR data set behind a meta group that
    // says explicit VR little endian; pydicom notices (no VR letters after
    // the first tag) and reads it implicit, and so does Loupe.
    let implicit_despite_syntax = transfer_syntax != IMPLICIT_LE
        && transfer_syntax != EXPLICIT_BE
        && transfer_syntax != DEFLATED
        && data.len() >= 8
        && !(data[4].is_ascii_uppercase() && data[5].is_ascii_uppercase());
    let checked = Checked {
        dataset_start,
        implicit_despite_syntax,
        big_endian: transfer_syntax == EXPLICIT_BE,
        pixel_data: None,
    };
    let encoding = match transfer_syntax.as_str() {
        _ if implicit_despite_syntax => Encoding {
            explicit: false,
            big_endian: false,
        },
        IMPLICIT_LE => Encoding {
            explicit: false,
            big_endian: false,
        },
        EXPLICIT_BE => Encoding {
            explicit: true,
            big_endian: true,
        },
        _ => Encoding {
            explicit: true,
            big_endian: false,
        },
    };
    if transfer_syntax == DEFLATED {
        let limit = data.len().saturating_mul(MAX_INFLATE_RATIO).max(1 << 20);
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .take(limit as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| {
                VolumeError::invalid(path, format!("deflated data set cannot be inflated ({e})"))
            })?;
        if inflated.len() > limit {
            return Err(VolumeError::invalid(
                path,
                format!(
                    "deflated data set inflates past {MAX_INFLATE_RATIO} times its size (a deflate bomb?)"
                ),
            ));
        }
        // Pixels inside the inflated stream: dicom-rs reads those.
        return walk(&inflated, encoding, path, until_pixel_data).map(|_| checked);
    }
    let pixel_data = walk(data, encoding, path, until_pixel_data)?;
    Ok(Checked {
        pixel_data: pixel_data.map(|(offset, length)| (dataset_start + offset, length)),
        ..checked
    })
}

/// What the walk learned about where and how the data set is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Where the data set starts (after the meta group), from the bytes given.
    pub dataset_start: usize,
    /// The data set is implicit VR although the transfer syntax says explicit.
    pub implicit_despite_syntax: bool,
    /// Explicit VR Big Endian.
    pub big_endian: bool,
    /// The top-level PixelData value (offset, length in bytes) when it has
    /// a defined length and lies in the bytes given (not deflated).
    pub pixel_data: Option<(usize, usize)>,
}

/// The meta group (always explicit VR little endian): where the data set
/// starts and its transfer syntax UID.
fn meta_group(bytes: &[u8], path: &Path) -> Result<(usize, String), VolumeError> {
    let mut pos = 4; // "DICM"
    let mut transfer_syntax = String::new();
    let truncated = || {
        VolumeError::invalid(
            path,
            "DICOM file ends inside its file meta group (truncated, or a preamble with nothing after it)",
        )
    };
    loop {
        if pos + 8 > bytes.len() {
            if transfer_syntax.is_empty() {
                return Err(truncated());
            }
            return Ok((pos, transfer_syntax));
        }
        let group = u16::from_le_bytes([bytes[pos], bytes[pos + 1]]);
        if group != 0x0002 {
            return Ok((pos, transfer_syntax));
        }
        let element = u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]);
        let vr = [bytes[pos + 4], bytes[pos + 5]];
        let (length, header) = if long_length_vr(vr) {
            if pos + 12 > bytes.len() {
                return Err(truncated());
            }
            (read_u32(&bytes[pos + 8..], false) as usize, 12)
        } else {
            (
                u16::from_le_bytes([bytes[pos + 6], bytes[pos + 7]]) as usize,
                8,
            )
        };
        let value_start = pos + header;
        if length > bytes.len().saturating_sub(value_start) {
            return Err(VolumeError::invalid(
                path,
                format!(
                    "file meta element (0002,{element:04X}) claims {length} bytes but only {} remain (truncated or corrupt)",
                    bytes.len().saturating_sub(value_start)
                ),
            ));
        }
        if element == 0x0010 {
            transfer_syntax = String::from_utf8_lossy(&bytes[value_start..value_start + length])
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos = value_start + length;
    }
}

fn long_length_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UR"
            | b"UT"
            | b"UN"
            | b"SV"
            | b"UV"
    )
}

fn read_u16(b: &[u8], big: bool) -> u16 {
    if big {
        u16::from_be_bytes([b[0], b[1]])
    } else {
        u16::from_le_bytes([b[0], b[1]])
    }
}

fn read_u32(b: &[u8], big: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn is_sequence_in_dictionary(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|entry| entry.vr.relaxed() == VR::SQ)
}

/// Walks the data set's element headers; see the module comment.
/// Walks the element headers of a data set, checking every defined length.
/// Returns where the top-level PixelData value lies (offset, length) when
/// it has a defined length, so native pixels can be read from the file's
/// bytes without dicom-rs copying them value by value. Sequences are
/// tracked so a PixelData inside one (an icon image) is not taken for it.
fn walk(
    data: &[u8],
    encoding: Encoding,
    path: &Path,
    until_pixel_data: bool,
) -> Result<Option<(usize, usize)>, VolumeError> {
    let found = walk_elements(data, encoding, path, until_pixel_data)?;
    if until_pixel_data && found.is_none() {
        // Stopped short of the pixel data (a header longer than the bytes
        // read, or an encoding the walk leaves to dicom-rs): not a whole header.
        return Err(VolumeError::invalid(
            path,
            "header does not end within the bytes read",
        ));
    }
    Ok(found)
}

fn walk_elements(
    data: &[u8],
    encoding: Encoding,
    path: &Path,
    until_pixel_data: bool,
) -> Result<Option<(usize, usize)>, VolumeError> {
    let big = encoding.big_endian;
    let mut pos = 0usize;
    // Inside an encapsulated pixel data element: items hold bytes, not elements.
    let mut in_fragments = false;
    // Open sequences: where each ends (None: undefined length, ended by a delimiter).
    let mut sequences: Vec<Option<usize>> = Vec::new();
    let mut pixel_data = None;
    while pos < data.len() {
        while let Some(Some(end)) = sequences.last()
            && pos >= *end
        {
            sequences.pop();
        }
        let left = data.len() - pos;
        if left < 8 {
            // Trailing padding shorter than a header: dicom-rs stops there too.
            return Ok(pixel_data);
        }
        let group = read_u16(&data[pos..], big);
        let element = read_u16(&data[pos + 2..], big);
        let tag = Tag(group, element);
        if group == 0xFFFE {
            let length = read_u32(&data[pos + 4..], big);
            pos += 8;
            match element {
                0xE000 if length != UNDEFINED => {
                    check(length, data.len() - pos, tag, path)?;
                    if in_fragments {
                        pos += length as usize;
                    }
                }
                0xE0DD if in_fragments => in_fragments = false,
                0xE0DD => {
                    if sequences.last() == Some(&None) {
                        sequences.pop();
                    }
                }
                _ => {}
            }
            continue;
        }
        let (vr, length, header) = if encoding.explicit {
            let vr = [data[pos + 4], data[pos + 5]];
            if !vr.iter().all(u8::is_ascii_uppercase) {
                // Not an encoding this walk follows: leave it to dicom-rs.
                return Ok(None);
            }
            if long_length_vr(vr) {
                if left < 12 {
                    return Ok(pixel_data);
                }
                (Some(vr), read_u32(&data[pos + 8..], big), 12)
            } else {
                (Some(vr), u32::from(read_u16(&data[pos + 6..], big)), 8)
            }
        } else {
            (None, read_u32(&data[pos + 4..], big), 8)
        };
        pos += header;
        if until_pixel_data && tag == Tag(0x7FE0, 0x0010) && sequences.is_empty() {
            // The header is whole; the value is not read.
            return Ok(Some((pos, 0)));
        }
        let sequence = match vr {
            Some(vr) => &vr == b"SQ",
            None => is_sequence_in_dictionary(tag),
        };
        if length == UNDEFINED {
            if tag == Tag(0x7FE0, 0x0010) {
                in_fragments = true;
            } else if vr == Some(*b"UN") {
                // Implicit-VR items inside explicit VR: not followed.
                return Ok(None);
            } else if sequence {
                sequences.push(None);
            }
            continue;
        }
        check(length, data.len() - pos, tag, path)?;
        if sequence {
            sequences.push(Some(pos + length as usize));
        } else {
            if tag == Tag(0x7FE0, 0x0010) && sequences.is_empty() {
                pixel_data = Some((pos, length as usize));
            }
            pos += length as usize;
        }
    }
    Ok(pixel_data)
}

fn check(length: u32, left: usize, tag: Tag, path: &Path) -> Result<(), VolumeError> {
    if length as usize > left {
        return Err(VolumeError::invalid(
            path,
            format!(
                "element ({:04X},{:04X}) claims {length} bytes but only {left} remain (truncated or corrupt DICOM file)",
                tag.0, tag.1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element_le(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(vr);
        if long_length_vr(*vr) {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        } else {
            out.extend((value.len() as u16).to_le_bytes());
        }
        out.extend(value);
        out
    }

    fn file(dataset: &[u8]) -> Vec<u8> {
        let mut out = b"DICM".to_vec();
        out.extend(element_le((2, 0x10), b"UI", b"1.2.840.10008.1.2.1\0"));
        out.extend(dataset);
        out
    }

    #[test]
    fn a_length_longer_than_the_file_is_refused_naming_the_element() {
        let mut dataset = element_le((0x0028, 0x0010), b"US", &[4, 0]);
        // Pixel data claiming 4 GiB − 2 bytes, with 4 bytes behind it.
        dataset.extend([0xE0, 0x7F, 0x10, 0x00]);
        dataset.extend(b"OW\0\0");
        dataset.extend(0xFFFF_FFFEu32.to_le_bytes());
        dataset.extend([1, 2, 3, 4]);
        let err = check_lengths(&file(&dataset), Layout::NoPreamble, Path::new("x.dcm"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(7FE0,0010) claims 4294967294 bytes but only 4 remain"),
            "{err}"
        );
    }

    #[test]
    fn lengths_inside_sequences_and_fragments_are_checked() {
        // A sequence of undefined length holding an item with an element claiming too much.
        let mut dataset = vec![0x08, 0x00, 0x15, 0x11];
        dataset.extend(b"SQ\0\0");
        dataset.extend(UNDEFINED.to_le_bytes());
        dataset.extend([0xFE, 0xFF, 0x00, 0xE0]);
        dataset.extend(UNDEFINED.to_le_bytes());
        dataset.extend(element_le((0x0008, 0x1150), b"UI", b"1.2\0"));
        let mut bad = dataset.clone();
        bad.extend([0x08, 0x00, 0x55, 0x11, b'U', b'I', 0xFF, 0x7F]);
        assert!(check_lengths(&file(&bad), Layout::NoPreamble, Path::new("x")).is_err());
        // Fragments: a defined item length is skipped as bytes; a lying one refused.
        let mut pixels = vec![0xE0, 0x7F, 0x10, 0x00];
        pixels.extend(b"OB\0\0");
        pixels.extend(UNDEFINED.to_le_bytes());
        pixels.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        pixels.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0]);
        pixels.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert!(check_lengths(&file(&pixels), Layout::NoPreamble, Path::new("x")).is_ok());
        let mut lying = pixels.clone();
        lying[24] = 200;
        assert!(check_lengths(&file(&lying), Layout::NoPreamble, Path::new("x")).is_err());
    }

    #[test]
    fn a_meta_group_with_nothing_after_the_marker_is_truncated() {
        let err = check_lengths(b"DICM", Layout::NoPreamble, Path::new("p.dcm"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
