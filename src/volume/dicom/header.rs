//! One DICOM file opened with dicom-rs, and the attributes Loupe reads from
//! it: identity (series, frame of reference), pixel layout, geometry per
//! frame (classic and enhanced multi-frame), rescale, window and the
//! clinical context shown beside an image (laterality, patient, study date).
//!
//! The file is read whole (bounded by [`super::MAX_FILE_BYTES`]) and its
//! element lengths checked against its size ([`super::guard`]) before
//! dicom-rs parses it, so a lying length cannot make the parser allocate
//! more than the file holds.

use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::{OpenFileOptions, ReadPreamble};
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use super::super::error::VolumeError;
use super::guard::{Layout, sniff};

/// Position, orientation, spacing and rescale of one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameGeometry {
    /// ImagePositionPatient (LPS, mm) of the first transmitted pixel's centre.
    pub position_mm: Option<[f64; 3]>,
    /// ImageOrientationPatient: row direction (along a row, increasing
    /// column) then column direction (down a column, increasing row).
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: (between rows, between columns), mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    /// Temporal position (TemporalPositionIndex / Identifier) where given.
    pub temporal_position: Option<i64>,
    /// Echo number or effective echo time (µs, rounded) where given.
    pub echo: Option<i64>,
}

impl Default for FrameGeometry {
    /// No geometry, identity rescale.
    fn default() -> Self {
        Self {
            position_mm: None,
            orientation: None,
            pixel_spacing_mm: None,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            temporal_position: None,
            echo: None,
        }
    }
}

/// The attributes of one file that Loupe uses.
#[derive(Clone, Debug)]
pub struct Header {
    pub transfer_syntax: String,
    pub sop_class: String,
    pub sop_instance: String,
    pub modality: String,
    pub series_uid: String,
    pub frame_of_reference: String,
    pub series_description: String,
    pub patient_id: String,
    pub study_date: String,
    pub body_part: String,
    pub laterality: String,
    pub instance_number: Option<i64>,
    pub rows: usize,
    pub columns: usize,
    pub samples_per_pixel: usize,
    pub bits_allocated: usize,
    pub bits_stored: usize,
    pub signed: bool,
    pub photometric: String,
    /// PlanarConfiguration 1: colour planes one after another.
    pub planar: bool,
    pub frames: usize,
    /// SpacingBetweenSlices, for classic multi-frame volumes.
    pub spacing_between_slices_mm: Option<f64>,
    /// First WindowCenter / WindowWidth.
    pub window: Option<(f64, f64)>,
    /// One entry per frame (the same entry repeated for single-frame and
    /// classic multi-frame files).
    pub frame_geometry: Vec<FrameGeometry>,
    pub has_pixel_data: bool,
}

/// A whole file: its header and the parsed object (pixel data included,
/// unless it is native and kept as the file's bytes in `native_pixels`).
pub struct DicomFile {
    pub header: Header,
    pub object: DefaultDicomObject,
    pub native_pixels: Option<NativePixels>,
}

/// Native (uncompressed, little-endian) pixel data as the file holds it:
/// the file's bytes and where the PixelData value lies in them. Read this way, a 512×512 slice is one slice of
/// memory instead of dicom-rs's value-by-value copy.
pub struct NativePixels {
    pub file_bytes: Vec<u8>,
    pub offset: usize,
    pub length: usize,
}

impl NativePixels {
    pub fn bytes(&self) -> &[u8] {
        &self.file_bytes[self.offset..self.offset + self.length]
    }
}

/// The bytes a header read tries first: headers end well before this in
/// all but files with large private data, which are then read whole.
const HEADER_PREFIX_BYTES: u64 = 64 << 10;

/// Reads and parses a file; `pixels: false` stops before the pixel data
/// (grouping a folder into series reads only headers, from the file's first
/// bytes where the header ends within them).
pub fn open(path: &Path, pixels: bool) -> Result<DicomFile, VolumeError> {
    if !pixels
        && let Ok(prefix) = super::read_prefix(path, HEADER_PREFIX_BYTES)
        && let Ok(file) = parse(path, prefix, false, true)
    {
        return Ok(file);
    }
    parse(path, super::read_bounded(path)?, pixels, false)
}

/// Parses a file's bytes (its first bytes only where `until_pixel_data`).
fn parse(
    path: &Path,
    bytes: Vec<u8>,
    pixels: bool,
    until_pixel_data: bool,
) -> Result<DicomFile, VolumeError> {
    let layout = sniff(&bytes).ok_or_else(|| {
        VolumeError::invalid(
            path,
            "not a DICOM file (no DICM marker after a 128-byte preamble, nor at the start)",
        )
    })?;
    let start = match layout {
        Layout::Preamble => 128,
        Layout::NoPreamble | Layout::BareDataSet | Layout::BareExplicit => 0,
    };
    let checked =
        super::guard::check_lengths_until(&bytes[start..], layout, path, until_pixel_data)?;
    // Native little-endian pixels are taken from the file's bytes (see
    // NativePixels). Big-endian files stay with dicom-rs: their OW words
    // hold 8-bit samples byte-swapped, which dicom-rs (like pydicom) undoes.
    let native = checked.pixel_data.filter(|_| {
        matches!(layout, Layout::Preamble | Layout::NoPreamble)
            && !checked.implicit_despite_syntax
            && !checked.big_endian
    });
    let parse_error = |e: &dyn std::fmt::Display| {
        VolumeError::invalid(path, format!("not a readable DICOM file ({e})"))
    };
    let object = match layout {
        Layout::BareDataSet => bare_data_set(&bytes, false).map_err(|e| parse_error(&e))?,
        Layout::BareExplicit => bare_data_set(&bytes, true).map_err(|e| parse_error(&e))?,
        _ if checked.implicit_despite_syntax => {
            implicit_data_set(&bytes[start..], checked.dataset_start)
                .map_err(|e| parse_error(&e))?
        }
        _ => {
            let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
            if !pixels || native.is_some() {
                options = options.read_until(tags::PIXEL_DATA);
            }
            options.from_reader(&bytes[start..]).map_err(|e| {
                let text = e.to_string();
                if text.contains("transfer syntax") || text.contains("Unsupported") {
                    VolumeError::unsupported(path, format!("DICOM file: {text}"))
                } else {
                    parse_error(&e)
                }
            })?
        }
    };
    let mut header = Header::from_object(&object, path)?;
    header.has_pixel_data |= native.is_some();
    let native_pixels = match native {
        Some((offset, length)) if pixels => Some(NativePixels {
            file_bytes: bytes,
            offset: start + offset,
            length,
        }),
        _ => None,
    };
    Ok(DicomFile {
        header,
        object,
        native_pixels,
    })
}

/// A file whose meta group says explicit VR but whose data set is
/// implicit VR little endian: the meta group as written (its transfer
/// syntax still decides how pixels are decoded), the data set read implicit.
fn implicit_data_set(bytes: &[u8], dataset_start: usize) -> Result<DefaultDicomObject, String> {
    use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
    let meta = dicom_object::FileMetaTable::from_reader(bytes).map_err(|e| e.to_string())?;
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let dataset =
        InMemDicomObject::read_dataset_with_ts(&bytes[dataset_start.min(bytes.len())..], &ts)
            .map_err(|e| e.to_string())?;
    Ok(dataset.with_exact_meta(meta))
}

/// A data set without a meta group, read in implicit or explicit VR little
/// endian, given the meta group it lacks.
fn bare_data_set(bytes: &[u8], explicit: bool) -> Result<DefaultDicomObject, String> {
    use dicom_transfer_syntax_registry::entries::{
        EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
    };
    let ts = if explicit {
        EXPLICIT_VR_LITTLE_ENDIAN.erased()
    } else {
        IMPLICIT_VR_LITTLE_ENDIAN.erased()
    };
    let dataset = InMemDicomObject::read_dataset_with_ts(bytes, &ts).map_err(|e| e.to_string())?;
    let text = |tag| {
        dataset
            .get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    };
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax(ts.uid())
        .media_storage_sop_class_uid(text(tags::SOP_CLASS_UID))
        .media_storage_sop_instance_uid(text(tags::SOP_INSTANCE_UID))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(dataset.with_exact_meta(meta))
}

/// Trimmed text of an element, empty when absent or not text.
fn text(object: &InMemDicomObject, tag: Tag) -> String {
    object
        .get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

fn integer(object: &InMemDicomObject, tag: Tag) -> Option<i64> {
    object.get(tag).and_then(|e| e.to_int::<i64>().ok())
}

fn floats(object: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    object
        .get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .filter(|v| v.iter().all(|x| x.is_finite()))
}

fn float(object: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(object, tag).and_then(|v| v.first().copied())
}

/// The first item of a sequence inside `object`.
fn first_item(object: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    object.get(tag)?.items()?.first()
}

/// Geometry and rescale read from a plain data set or a functional group item.
fn geometry_from(object: &InMemDicomObject, base: &FrameGeometry) -> FrameGeometry {
    let mut out = base.clone();
    if let Some(p) = floats(object, tags::IMAGE_POSITION_PATIENT).filter(|p| p.len() >= 3) {
        out.position_mm = Some([p[0], p[1], p[2]]);
    }
    if let Some(o) = floats(object, tags::IMAGE_ORIENTATION_PATIENT).filter(|o| o.len() >= 6) {
        out.orientation = Some([o[0], o[1], o[2], o[3], o[4], o[5]]);
    }
    if let Some(s) = floats(object, tags::PIXEL_SPACING).filter(|s| s.len() >= 2) {
        out.pixel_spacing_mm = Some([s[0], s[1]]);
    }
    if let Some(slope) = float(object, tags::RESCALE_SLOPE) {
        out.rescale_slope = slope;
    }
    if let Some(intercept) = float(object, tags::RESCALE_INTERCEPT) {
        out.rescale_intercept = intercept;
    }
    if let Some(t) = integer(object, tags::TEMPORAL_POSITION_INDEX)
        .or_else(|| integer(object, tags::TEMPORAL_POSITION_IDENTIFIER))
    {
        out.temporal_position = Some(t);
    }
    if let Some(e) = integer(object, tags::ECHO_NUMBERS) {
        out.echo = Some(e);
    } else if let Some(te) = float(object, tags::EFFECTIVE_ECHO_TIME) {
        out.echo = Some((te * 1000.0).round() as i64);
    }
    out
}

/// Geometry from an enhanced file's functional group item (shared or per frame).
fn geometry_from_group(group: &InMemDicomObject, base: &FrameGeometry) -> FrameGeometry {
    let mut out = base.clone();
    for sequence in [
        tags::PLANE_POSITION_SEQUENCE,
        tags::PLANE_ORIENTATION_SEQUENCE,
        tags::PIXEL_MEASURES_SEQUENCE,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        tags::FRAME_CONTENT_SEQUENCE,
        tags::MR_ECHO_SEQUENCE,
    ] {
        if let Some(item) = first_item(group, sequence) {
            out = geometry_from(item, &out);
        }
    }
    out
}

impl Header {
    /// Kept whole on purpose: a flat run of attribute reads into one
    /// header, one line per attribute in the standard's order; parts would
    /// only pass the half-built header around.
    fn from_object(object: &DefaultDicomObject, path: &Path) -> Result<Self, VolumeError> {
        let meta = object.meta();
        let transfer_syntax = meta
            .transfer_syntax()
            .trim_end_matches(['\0', ' '])
            .to_string();
        let mut sop_class = text(object, tags::SOP_CLASS_UID);
        if sop_class.is_empty() {
            sop_class = meta
                .media_storage_sop_class_uid()
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        let dimension = |tag, name: &str| -> Result<usize, VolumeError> {
            match integer(object, tag) {
                Some(v) if v >= 0 => Ok(v as usize),
                Some(v) => Err(VolumeError::invalid(path, format!("{name} is {v}"))),
                None => Ok(0),
            }
        };
        let rows = dimension(tags::ROWS, "Rows")?;
        let columns = dimension(tags::COLUMNS, "Columns")?;
        let frames = match integer(object, tags::NUMBER_OF_FRAMES) {
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(VolumeError::invalid(path, format!("NumberOfFrames is {n}")));
            }
            None => 1,
        };
        let bits_allocated = dimension(tags::BITS_ALLOCATED, "BitsAllocated")?;
        let bits_stored = match dimension(tags::BITS_STORED, "BitsStored")? {
            0 => bits_allocated,
            n => n,
        };
        let base = geometry_from(object, &FrameGeometry::default());
        let shared = first_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
            .map(|g| geometry_from_group(g, &base))
            .unwrap_or(base);
        let per_frame = object
            .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items());
        let frame_geometry = match per_frame {
            // More items than frames (a frame kept from a larger object,
            // as in pydicom's liver_1frame): the first ones are the frames'.
            Some(items) if items.len() >= frames => items
                .iter()
                .take(frames)
                .map(|g| geometry_from_group(g, &shared))
                .collect(),
            Some(items) => {
                return Err(VolumeError::invalid(
                    path,
                    format!(
                        "PerFrameFunctionalGroupsSequence has {} items for {frames} frames",
                        items.len()
                    ),
                ));
            }
            None => vec![shared],
        };
        let window = match (
            float(object, tags::WINDOW_CENTER),
            float(object, tags::WINDOW_WIDTH),
        ) {
            (Some(c), Some(w)) if w > 0.0 => Some((c, w)),
            _ => first_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
                .and_then(|g| first_item(g, tags::FRAME_VOILUT_SEQUENCE))
                .or_else(|| {
                    per_frame
                        .and_then(|items| items.first())
                        .and_then(|g| first_item(g, tags::FRAME_VOILUT_SEQUENCE))
                })
                .and_then(|item| {
                    match (
                        float(item, tags::WINDOW_CENTER),
                        float(item, tags::WINDOW_WIDTH),
                    ) {
                        (Some(c), Some(w)) if w > 0.0 => Some((c, w)),
                        _ => None,
                    }
                }),
        };
        let mut laterality = text(object, tags::IMAGE_LATERALITY);
        if laterality.is_empty() {
            laterality = text(object, tags::LATERALITY);
        }
        Ok(Self {
            transfer_syntax,
            sop_class,
            sop_instance: text(object, tags::SOP_INSTANCE_UID),
            modality: text(object, tags::MODALITY),
            series_uid: text(object, tags::SERIES_INSTANCE_UID),
            frame_of_reference: text(object, tags::FRAME_OF_REFERENCE_UID),
            series_description: text(object, tags::SERIES_DESCRIPTION),
            patient_id: text(object, tags::PATIENT_ID),
            study_date: text(object, tags::STUDY_DATE),
            body_part: text(object, tags::BODY_PART_EXAMINED),
            laterality,
            instance_number: integer(object, tags::INSTANCE_NUMBER),
            rows,
            columns,
            samples_per_pixel: dimension(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.max(1),
            bits_allocated,
            bits_stored,
            signed: integer(object, tags::PIXEL_REPRESENTATION) == Some(1),
            photometric: text(object, tags::PHOTOMETRIC_INTERPRETATION),
            planar: integer(object, tags::PLANAR_CONFIGURATION) == Some(1),
            frames,
            spacing_between_slices_mm: float(object, tags::SPACING_BETWEEN_SLICES)
                .filter(|s| *s > 0.0),
            window,
            frame_geometry,
            has_pixel_data: object.get(tags::PIXEL_DATA).is_some()
                || object.get(tags::FLOAT_PIXEL_DATA).is_some()
                || object.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some(),
        })
    }

    /// Geometry of frame `frame` (the shared entry where frames share one).
    pub fn geometry(&self, frame: usize) -> &FrameGeometry {
        &self.frame_geometry[frame.min(self.frame_geometry.len() - 1)]
    }

    /// Whether the file carries an image Loupe can place in space (a CT/MR
    /// slice) rather than a photograph or a cine loop.
    pub fn has_plane_geometry(&self) -> bool {
        let g = &self.frame_geometry[0];
        g.position_mm.is_some() && g.orientation.is_some()
    }
}
