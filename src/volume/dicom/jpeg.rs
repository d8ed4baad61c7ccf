//! JPEG frames (baseline 8-bit, extended 12-bit, lossless process 14)
//! decoded with libjpeg-turbo 3 through its TurboJPEG API.
//!
//! dicom-rs's JPEG path (jpeg-decoder) decodes 8-bit DCT only; libjpeg-turbo
//! 3 decodes 8- and 12-bit DCT and lossless JPEG of 2–16 bits with any
//! predictor, so one library handles the whole JPEG family. Colour frames
//! come back as RGB (libjpeg converts YCbCr as pydicom's JPEG plugins do);
//! grey frames as grey.

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
pub fn decode(bytes: &[u8], max_pixels: usize) -> Result<JpegFrame, String> {
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
    let count = width * height * components;
    let samples = if precision <= 8 {
        let mut out = vec![0u8; count];
        // SAFETY: `out` holds width × height × components samples, the size
        // TurboJPEG writes for this pixel format with pitch 0 (packed rows).
        let status = unsafe {
            tj::tj3Decompress8(
                handle.0,
                bytes.as_ptr(),
                bytes.len() as _,
                out.as_mut_ptr(),
                0,
                format,
            )
        };
        handle.check(status)?;
        JpegSamples::Eight(out)
    } else if precision <= 12 {
        let mut out = vec![0i16; count];
        // SAFETY: as above, with 16-bit samples.
        let status = unsafe {
            tj::tj3Decompress12(
                handle.0,
                bytes.as_ptr(),
                bytes.len() as _,
                out.as_mut_ptr(),
                0,
                format,
            )
        };
        handle.check(status)?;
        JpegSamples::Sixteen(out.into_iter().map(|v| v as u16).collect())
    } else if precision <= 16 && lossless {
        let mut out = vec![0u16; count];
        // SAFETY: as above, with 16-bit samples.
        let status = unsafe {
            tj::tj3Decompress16(
                handle.0,
                bytes.as_ptr(),
                bytes.len() as _,
                out.as_mut_ptr(),
                0,
                format,
            )
        };
        handle.check(status)?;
        JpegSamples::Sixteen(out)
    } else {
        return Err(format!("JPEG of {precision}-bit precision"));
    };
    Ok(JpegFrame {
        width,
        height,
        components,
        samples,
    })
}
