//! RLE Lossless (PS3.5 Annex G) frames of 32-bit samples.
//!
//! dicom-rs decodes RLE of 8- and 16-bit samples only; RT dose grids and
//! some secondary captures store 32-bit samples, which pydicom reads, so
//! this fills that one gap. A frame is a 64-byte header (segment count,
//! then up to 15 segment offsets) and one PackBits segment per byte plane:
//! for each sample of a pixel, its most significant byte first.

/// Decodes one frame of `pixels` pixels × `samples_per_pixel` samples of
/// 4 bytes into interleaved samples. The output size is fixed by the
/// header, never by the stream.
pub fn decode_frame_32(
    frame: &[u8],
    pixels: usize,
    samples_per_pixel: usize,
) -> Result<Vec<u32>, String> {
    const BYTES: usize = 4;
    let segments = samples_per_pixel * BYTES;
    if frame.len() < 64 {
        return Err(format!(
            "RLE frame of {} bytes is shorter than its 64-byte header",
            frame.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
    let count = word(0) as usize;
    if count != segments {
        return Err(format!(
            "RLE frame has {count} segments; 32-bit samples × {samples_per_pixel} need {segments}"
        ));
    }
    let offsets: Vec<usize> = (0..count).map(|s| word(4 + 4 * s) as usize).collect();
    let mut out = vec![0u32; pixels * samples_per_pixel];
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frame.len());
        if start < 64 || start > end || end > frame.len() {
            return Err(format!(
                "RLE segment {s} lies outside the frame ({start}..{end})"
            ));
        }
        let plane = unpack_bits(&frame[start..end], pixels);
        if plane.len() < pixels {
            return Err(format!(
                "RLE segment {s} decodes to {} bytes, {pixels} expected",
                plane.len()
            ));
        }
        let (sample, byte) = (s / BYTES, s % BYTES);
        let shift = 8 * (BYTES - 1 - byte);
        for (p, &value) in plane.iter().take(pixels).enumerate() {
            out[p * samples_per_pixel + sample] |= u32::from(value) << shift;
        }
    }
    Ok(out)
}

/// PackBits, stopping once `limit` bytes are out: a header byte n in
/// 0..=127 copies n + 1 literal bytes, −127..=−1 repeats the next byte
/// 1 − n times, −128 is a no-op.
fn unpack_bits(data: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut at = 0;
    while at < data.len() && out.len() < limit {
        let n = data[at] as i8;
        at += 1;
        match n {
            0..=127 => {
                let end = (at + n as usize + 1).min(data.len());
                out.extend_from_slice(&data[at..end]);
                at = end;
            }
            -127..=-1 => {
                if let Some(&value) = data.get(at) {
                    out.extend(std::iter::repeat_n(value, (1 - i32::from(n)) as usize));
                }
                at += 1;
            }
            -128 => {}
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PackBits per Annex G: a literal run, a repeat, a no-op.
    #[test]
    fn packbits_runs() {
        assert_eq!(
            unpack_bits(&[2, 1, 2, 3, 0xFE, 9, 0x80, 0, 7], 99),
            vec![1, 2, 3, 9, 9, 9, 7]
        );
        assert_eq!(
            unpack_bits(&[0x81, 5], 4),
            vec![5; 4],
            "bounded by the limit"
        );
    }

    /// Two grey pixels 0x01020304 and 0xA0B0C0D0: four byte planes, MSB first.
    #[test]
    fn a_frame_of_32_bit_samples() {
        let mut frame = vec![0u8; 64];
        frame[0] = 4;
        let planes = [[0x01, 0xA0], [0x02, 0xB0], [0x03, 0xC0], [0x04, 0xD0]];
        for (s, plane) in planes.iter().enumerate() {
            let offset = frame.len() as u32;
            frame[4 + 4 * s..8 + 4 * s].copy_from_slice(&offset.to_le_bytes());
            frame.extend([1, plane[0], plane[1]]);
        }
        assert_eq!(
            decode_frame_32(&frame, 2, 1).unwrap(),
            vec![0x01020304, 0xA0B0C0D0]
        );
        assert!(decode_frame_32(&frame[..40], 2, 1).is_err());
        assert!(
            decode_frame_32(&frame, 2, 3)
                .unwrap_err()
                .contains("segments")
        );
    }
}
