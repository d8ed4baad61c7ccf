//! A grey int16 volume written as a DICOM CT series (one file per slice),
//! uncompressed or JPEG lossless: the demo's phantom and `bench io --dicom`.
//!
//! Geometry is the inverse of [`super::series`]: RAS `world_from_voxel`
//! back to LPS, ImageOrientationPatient from its first two columns,
//! ImagePositionPatient of each slice from the third. Slices are written
//! in a shuffled file order with InstanceNumber reversed, so a reader that
//! sorts by name or instance gets them wrong.

use std::path::Path;

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use turbojpeg_sys as tj;

use super::super::Volume;
use super::super::voxels::VoxelData;

/// Pixel data encodings the writer produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    ExplicitLittle,
    JpegLossless,
}

impl Encoding {
    fn uid(self) -> &'static str {
        match self {
            Self::ExplicitLittle => uids::EXPLICIT_VR_LITTLE_ENDIAN,
            Self::JpegLossless => uids::JPEG_LOSSLESS_SV1,
        }
    }
}

/// UIDs under a fixed root with a seed-derived series part (deterministic demos).
fn uid(seed: u64, kind: u32, index: usize) -> String {
    format!("1.2.826.0.1.3680043.10.1234.{seed}.{kind}.{index}")
}

/// Kept whole on purpose: one file's data elements in the order the
/// standard lists them, the same for every slice.
/// Writes `volume` (grey int16, 3-D) as `slice_NNNN.dcm` files in `folder`.
pub fn write_ct_series(
    volume: &Volume,
    folder: &Path,
    seed: u64,
    encoding: Encoding,
) -> Result<usize, String> {
    let VoxelData::I16(values) = &volume.data else {
        return Err("only int16 volumes are written as DICOM".into());
    };
    let [nx, ny, nz] = volume.spatial_shape();
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let a = volume.world_from_voxel.0;
    let column = |c: usize| [-a[0][c], -a[1][c], a[2][c]];
    let length = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (i_axis, j_axis, k_axis) = (column(0), column(1), column(2));
    let (si, sj) = (length(i_axis), length(j_axis));
    let orientation = [
        i_axis[0] / si,
        i_axis[1] / si,
        i_axis[2] / si,
        j_axis[0] / sj,
        j_axis[1] / sj,
        j_axis[2] / sj,
    ];
    let origin = column(3);
    let series = uid(seed, 2, 0);
    let study = uid(seed, 1, 0);
    let frame_of_reference = uid(seed, 3, 0);
    // A fixed shuffle of the file order (multiplicative step coprime to nz).
    let step = (1..nz.max(2))
        .rev()
        .find(|s| gcd(*s, nz.max(1)) == 1)
        .unwrap_or(1);
    for k in 0..nz {
        let position = [0, 1, 2].map(|r| origin[r] + k_axis[r] * k as f64);
        let slice = &values[k * nx * ny..(k + 1) * nx * ny];
        let mut object = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: PrimitiveValue| {
            object.put(DataElement::new(tag, vr, value));
        };
        let text = |s: &str| PrimitiveValue::from(s.to_string());
        let numbers =
            |v: &[f64]| PrimitiveValue::Strs(v.iter().map(|x| format!("{x:.6}")).collect());
        put(tags::SOP_CLASS_UID, VR::UI, text(uids::CT_IMAGE_STORAGE));
        put(tags::SOP_INSTANCE_UID, VR::UI, text(&uid(seed, 4, k)));
        put(tags::STUDY_DATE, VR::DA, text("20260101"));
        put(tags::MODALITY, VR::CS, text("CT"));
        put(tags::PATIENT_ID, VR::LO, text(&format!("DEMO{seed}")));
        put(tags::BODY_PART_EXAMINED, VR::CS, text("CHEST"));
        put(tags::STUDY_INSTANCE_UID, VR::UI, text(&study));
        put(tags::SERIES_INSTANCE_UID, VR::UI, text(&series));
        put(tags::SERIES_DESCRIPTION, VR::LO, text("Loupe CT phantom"));
        put(tags::SERIES_NUMBER, VR::IS, text("1"));
        put(tags::INSTANCE_NUMBER, VR::IS, text(&(nz - k).to_string()));
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, numbers(&position));
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            numbers(&orientation),
        );
        put(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            text(&frame_of_reference),
        );
        put(tags::SLICE_THICKNESS, VR::DS, numbers(&[length(k_axis)]));
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            text("MONOCHROME2"),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16));
        put(tags::PIXEL_SPACING, VR::DS, numbers(&[sj, si]));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        );
        put(tags::WINDOW_CENTER, VR::DS, text("40"));
        put(tags::WINDOW_WIDTH, VR::DS, text("400"));
        put(tags::RESCALE_INTERCEPT, VR::DS, text("0"));
        put(tags::RESCALE_SLOPE, VR::DS, text("1"));
        match encoding {
            Encoding::ExplicitLittle => {
                let words: Vec<u16> = slice.iter().map(|&v| v as u16).collect();
                object.put(DataElement::new(
                    tags::PIXEL_DATA,
                    VR::OW,
                    PrimitiveValue::U16(words.into()),
                ));
            }
            Encoding::JpegLossless => {
                let words: Vec<u16> = slice.iter().map(|&v| v as u16).collect();
                let mut jpeg = compress_lossless(&words, nx, ny)?;
                if jpeg.len() % 2 == 1 {
                    jpeg.push(0);
                }
                let sequence = PixelFragmentSequence::new(Vec::<u32>::new(), vec![jpeg]);
                object.put(DataElement::new(tags::PIXEL_DATA, VR::OB, sequence));
            }
        }
        let file = object
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(encoding.uid()))
            .map_err(|e| e.to_string())?;
        let name = folder.join(format!("slice_{:04}.dcm", (k * step) % nz.max(1)));
        file.write_to_file(&name)
            .map_err(|e| format!("cannot write {}: {e}", name.display()))?;
    }
    Ok(nz)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One 16-bit grey frame as lossless JPEG (process 14, first-order prediction).
fn compress_lossless(words: &[u16], width: usize, height: usize) -> Result<Vec<u8>, String> {
    // SAFETY: every call gets a live handle from tj3Init, buffers of the
    // sizes TurboJPEG documents, and the output is freed with tj3Free.
    unsafe {
        let handle = tj::tj3Init(tj::TJINIT_TJINIT_COMPRESS as i32);
        if handle.is_null() {
            return Err("libjpeg-turbo could not start a compressor".into());
        }
        tj::tj3Set(handle, tj::TJPARAM_TJPARAM_LOSSLESS as i32, 1);
        tj::tj3Set(handle, tj::TJPARAM_TJPARAM_LOSSLESSPSV as i32, 1);
        tj::tj3Set(handle, tj::TJPARAM_TJPARAM_PRECISION as i32, 16);
        tj::tj3Set(
            handle,
            tj::TJPARAM_TJPARAM_SUBSAMP as i32,
            tj::TJSAMP_TJSAMP_GRAY as i32,
        );
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut size: tj::size_t = 0;
        let status = tj::tj3Compress16(
            handle,
            words.as_ptr(),
            width as i32,
            0,
            height as i32,
            tj::TJPF_TJPF_GRAY as i32,
            &mut out,
            &mut size,
        );
        let result = if status == 0 && !out.is_null() {
            Ok(std::slice::from_raw_parts(out, size as usize).to_vec())
        } else {
            Err("libjpeg-turbo could not compress a frame".to_string())
        };
        if !out.is_null() {
            tj::tj3Free(out.cast());
        }
        tj::tj3Destroy(handle);
        result
    }
}
