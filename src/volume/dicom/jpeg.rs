//! JPEG frames (baseline 8-bit, extended 12-bit, lossless process 14)
//! decoded with libjpeg-turbo 3 through its TurboJPEG API.
//!
//! dicom-rs's JPEG path (jpeg-decoder) decodes 8-bit DCT only; libjpeg-turbo
//! 3 decodes 8- and 12-bit DCT and lossless JPEG of 2–16 bits with any
//! predictor, so one library handles the whole JPEG family. Grey frames
//! come back as grey; colour frames follow pydicom's reading of the
//! codestream ([`pydicom_sees_ybr`]): libjpeg converts YCbCr to RGB where
//! pydicom converts too, and raw components are returned where pydicom
//! takes them as they are (libjpeg-turbo would guess YCbCr from a stream
//! with no JFIF or Adobe marker).

use turbojpeg_sys as tj;

/// Samples of one decoded frame, interleaved.
pub enum JpegSamples {
    Eight(Vec<u8>),
    /// 9–16-bit samples (12-bit DCT arrives as i16 holding 0..4095).
    Sixteen(Vec<u16>),
}

/// A decoded frame.
pub struct JpegFrame {
    pub width: usize,
    pub height: usize,
    pub components: usize,
    pub samples: JpegSamples,
    /// Colour samples that are still YCbCr (the caller converts them as
    /// pydicom does); false for grey and for RGB.
    pub still_ybr: bool,
}

/// What the codestream says about its colour before the first scan.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Markers {
    pub jfif: bool,
    pub component_ids: Vec<u8>,
}

/// Reads the markers from SOI up to the first SOS (lengths bounded by the
/// buffer; a malformed stream just ends the scan).
pub fn scan_markers(bytes: &[u8]) -> Markers {
    let mut markers = Markers::default();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let segment = &bytes[(at + 4).min(bytes.len())..(at + 2 + length).min(bytes.len())];
        match marker {
            0xE0 if segment.starts_with(b"JFIF") => markers.jfif = true,
            // SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && segment.len() >= 6 => {
                let count = usize::from(segment[5]);
                markers.component_ids = (0..count)
                    .filter_map(|c| segment.get(6 + 3 * c).copied())
                    .collect();
            }
            0xDA => break,
            _ => {}
        }
        at += 2 + length;
    }
    markers
}

/// pydicom's rule for a 3-sample JPEG (its `_conform_jpg_colorspace`):
/// component IDs `R G B` (or `r g b`) mean RGB; a JFIF marker means YCbCr;
/// otherwise the Photometric Interpretation decides.
pub fn pydicom_sees_ybr(markers: &Markers, photometric: &str) -> bool {
    let rgb_ids = markers.component_ids == [82, 71, 66] || markers.component_ids == [114, 103, 98];
    if rgb_ids {
        false
    } else {
        markers.jfif || photometric.starts_with("YBR")
    }
}

/// A TurboJPEG decompressor handle, destroyed on drop.
struct Handle(tj::tjhandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

impl Handle {
    fn error(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated string owned by
        // the handle (or a static one), valid until the next call on it.
        unsafe {
            let text = tj::tj3GetErrorStr(self.0);
            if text.is_null() {
                return "unknown libjpeg-turbo error".into();
            }
            std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned()
        }
    }

    /// A decompress call's status as a result naming libjpeg-turbo's message.
    fn check(&self, status: i32) -> Result<(), String> {
        if status == 0 {
            Ok(())
        } else {
            Err(format!("JPEG data: {}", self.error()))
        }
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: a valid handle and a parameter id from the bindings.
        unsafe { tj::tj3Get(self.0, param as i32) }
    }
}

/// Decodes one JPEG frame. `max_pixels` bounds the frame size the header
/// may claim, checked before anything is allocated.
pub fn decode(bytes: &[u8], max_pixels: usize, photometric: &str) -> Result<JpegFrame, String> {
    // SAFETY: tj3Init returns a new handle or null.
    let handle = Handle(unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) });
    if handle.0.is_null() {
        return Err("libjpeg-turbo could not start a decompressor".into());
    }
    // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes.
    let status = unsafe { tj::tj3DecompressHeader(handle.0, bytes.as_ptr(), bytes.len() as _) };
    if status != 0 {
        return Err(format!("JPEG header: {}", handle.error()));
    }
    let width = handle.get(tj::TJPARAM_TJPARAM_JPEGWIDTH).max(0) as usize;
    let height = handle.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT).max(0) as usize;
    let precision = handle.get(tj::TJPARAM_TJPARAM_PRECISION).max(0) as usize;
    let lossless = handle.get(tj::TJPARAM_TJPARAM_LOSSLESS) == 1;
    let colorspace = handle.get(tj::TJPARAM_TJPARAM_COLORSPACE);
    let grey = colorspace == tj::TJCS_TJCS_GRAY as i32;
    let components = if grey { 1 } else { 3 };
    if width == 0 || height == 0 || width.saturating_mul(height) > max_pixels {
        return Err(format!(
            "JPEG header claims {width} × {height} pixels, not what the DICOM header says"
        ));
    }
    let format = if grey {
        tj::TJPF_TJPF_GRAY
    } else {
        tj::TJPF_TJPF_RGB
    } as i32;
    let ybr_wanted = !grey && pydicom_sees_ybr(&scan_markers(bytes), photometric);
    let libjpeg_converts = colorspace == tj::TJCS_TJCS_YCbCr as i32;
    if !grey && libjpeg_converts && !ybr_wanted && precision <= 8 {
        let samples = raw_components(&handle, bytes, width, height)?;
        return Ok(JpegFrame {
            width,
            height,
            components,
            samples: JpegSamples::Eight(samples),
            still_ybr: false,
        });
    }
    // libjpeg-turbo took the stream as RGB (Adobe transform 0, RGB IDs)
    // where pydicom takes it as YCbCr: its "RGB" are the raw components.
    let still_ybr = !grey && !libjpeg_converts && ybr_wanted;
    let count = width * height * components;
    // One TurboJPEG call per sample width; `out` holds width × height ×
    // components samples, the size it writes for this pixel format with
    // pitch 0 (packed rows).
    macro_rules! decompress {
        ($function:ident, $sample:ty) => {{
            let mut out = vec![<$sample>::default(); count];
            // SAFETY: `bytes` is a valid buffer of its length; `out` is sized as above.
            let status = unsafe {
                tj::$function(
                    handle.0,
                    bytes.as_ptr(),
                    bytes.len() as _,
                    out.as_mut_ptr(),
                    0,
                    format,
                )
            };
            handle.check(status)?;
            out
        }};
    }
    let samples = if precision <= 8 {
        JpegSamples::Eight(decompress!(tj3Decompress8, u8))
    } else if precision <= 12 {
        // 12-bit DCT arrives as i16 holding 0..4095.
        let out = decompress!(tj3Decompress12, i16);
        JpegSamples::Sixteen(out.into_iter().map(|v| v as u16).collect())
    } else if precision <= 16 && lossless {
        JpegSamples::Sixteen(decompress!(tj3Decompress16, u16))
    } else {
        return Err(format!("JPEG of {precision}-bit precision"));
    };
    Ok(JpegFrame {
        width,
        height,
        components,
        samples,
        still_ybr,
    })
}

/// The three components as coded, without libjpeg's YCbCr → RGB step:
/// TurboJPEG's planar "YUV" output, chroma planes upsampled by repetition
/// where they are subsampled, interleaved.
fn raw_components(
    handle: &Handle,
    bytes: &[u8],
    width: usize,
    height: usize,
) -> Result<Vec<u8>, String> {
    let subsampling = handle.get(tj::TJPARAM_TJPARAM_SUBSAMP);
    if subsampling < 0 {
        return Err("JPEG chroma subsampling that libjpeg-turbo cannot output raw".into());
    }
    let (w, h) = (width as i32, height as i32);
    let mut planes = Vec::with_capacity(3);
    let mut sizes = Vec::with_capacity(3);
    for component in 0..3 {
        // SAFETY: plain arithmetic functions of TurboJPEG.
        let (plane_w, plane_h) = unsafe {
            (
                tj::tj3YUVPlaneWidth(component, w, subsampling),
                tj::tj3YUVPlaneHeight(component, h, subsampling),
            )
        };
        if plane_w <= 0 || plane_h <= 0 {
            return Err("JPEG chroma planes of no size".into());
        }
        planes.push(vec![0u8; plane_w as usize * plane_h as usize]);
        sizes.push((plane_w as usize, plane_h as usize));
    }
    let mut pointers: Vec<*mut u8> = planes.iter_mut().map(|p| p.as_mut_ptr()).collect();
    let mut strides: Vec<i32> = sizes.iter().map(|&(pw, _)| pw as i32).collect();
    // SAFETY: three planes, each plane_w × plane_h bytes with stride plane_w,
    // the sizes TurboJPEG reports for this image and subsampling.
    let status = unsafe {
        tj::tj3DecompressToYUVPlanes8(
            handle.0,
            bytes.as_ptr(),
            bytes.len() as _,
            pointers.as_mut_ptr(),
            strides.as_mut_ptr(),
        )
    };
    handle.check(status)?;
    let mut out = vec![0u8; width * height * 3];
    for (component, (plane, &(plane_w, plane_h))) in planes.iter().zip(&sizes).enumerate() {
        for y in 0..height {
            let py = (y * plane_h / height).min(plane_h - 1);
            for x in 0..width {
                let px = (x * plane_w / width).min(plane_w - 1);
                out[(y * width + x) * 3 + component] = plane[py * plane_w + px];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend(((body.len() + 2) as u16).to_be_bytes());
        out.extend(body);
        out
    }

    fn stream(jfif: bool, ids: [u8; 3]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        if jfif {
            out.extend(segment(0xE0, b"JFIF\0\x01\x01"));
        }
        let mut sof = vec![8, 0, 4, 0, 4, 3];
        for id in ids {
            sof.extend([id, 0x11, 0]);
        }
        out.extend(segment(0xC0, &sof));
        out.extend(segment(0xDA, &[3]));
        out
    }

    /// pydicom's three cases: RGB IDs win, then JFIF, then the header.
    #[test]
    fn colour_is_read_as_pydicom_reads_it() {
        let rgb_ids = scan_markers(&stream(true, *b"RGB"));
        assert_eq!(rgb_ids.component_ids, b"RGB".to_vec());
        assert!(!pydicom_sees_ybr(&rgb_ids, "YBR_FULL_422"));
        let jfif = scan_markers(&stream(true, [1, 2, 3]));
        assert!(jfif.jfif);
        assert!(pydicom_sees_ybr(&jfif, "RGB"));
        let bare = scan_markers(&stream(false, [0, 1, 2]));
        assert_eq!(
            bare,
            Markers {
                jfif: false,
                component_ids: vec![0, 1, 2]
            }
        );
        assert!(!pydicom_sees_ybr(&bare, "RGB"));
        assert!(pydicom_sees_ybr(&bare, "YBR_FULL"));
        // A stream cut inside a segment ends the scan without a panic.
        let cut = stream(true, [1, 2, 3]);
        let _ = scan_markers(&cut[..9]);
    }
}
