//! RLE Lossless (PS3.5 Annex G) frames of 8-, 16- and 32-bit samples.
//!
//! Loupe decodes RLE itself, not through dicom-rs: dicom-rs 0.10 decodes
//! 8- and 16-bit samples only (RT dose grids and some secondary captures
//! store 32-bit ones, which pydicom reads) and indexes past a segment's end
//! on a malformed stream (a panic the fuzz test found). A frame is a
//! 64-byte header (segment count, then up to 15 segment offsets) and one
//! PackBits segment per byte plane: for each sample of a pixel, its most
//! significant byte first.

/// Decodes one frame of `pixels` pixels × `samples_per_pixel` samples of
/// `bytes_per_sample` bytes (1, 2 or 4) into interleaved little-endian
/// samples. The output size is fixed by the header, never by the stream.
pub fn decode_frame(
    frame: &[u8],
    pixels: usize,
    samples_per_pixel: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, String> {
    let segments = samples_per_pixel * bytes_per_sample;
    if frame.len() < 64 {
        return Err(format!(
            "RLE frame of {} bytes is shorter than its 64-byte header",
            frame.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
    let count = word(0) as usize;
    if count != segments || count > 15 {
        return Err(format!(
            "RLE frame has {count} segments; {} bits × {samples_per_pixel} samples need {segments}",
            8 * bytes_per_sample
        ));
    }
    let offsets: Vec<usize> = (0..count).map(|s| word(4 + 4 * s) as usize).collect();
    let pixel_bytes = samples_per_pixel * bytes_per_sample;
    let mut out = vec![0u8; pixels * pixel_bytes];
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
        // Segment s: sample s / n, byte s % n counted from the most significant.
        let (sample, byte) = (s / bytes_per_sample, s % bytes_per_sample);
        let at = sample * bytes_per_sample + (bytes_per_sample - 1 - byte);
        for (p, &value) in plane.iter().enumerate() {
            out[p * pixel_bytes + at] = value;
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
        let bytes = decode_frame(&frame, 2, 1, 4).unwrap();
        let values: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(values, vec![0x01020304, 0xA0B0C0D0]);
        assert!(decode_frame(&frame[..40], 2, 1, 4).is_err());
        assert!(
            decode_frame(&frame, 2, 3, 4)
                .unwrap_err()
                .contains("segments")
        );
    }

    /// One 16-bit RGB pixel: six planes (R high, R low, G high, …).
    #[test]
    fn a_frame_of_16_bit_colour() {
        let mut frame = vec![0u8; 64];
        frame[0] = 6;
        for s in 0..6u8 {
            let offset = frame.len() as u32;
            frame[4 + 4 * s as usize..8 + 4 * s as usize].copy_from_slice(&offset.to_le_bytes());
            frame.extend([0, 0x10 + s]);
        }
        let bytes = decode_frame(&frame, 1, 3, 2).unwrap();
        assert_eq!(bytes, vec![0x11, 0x10, 0x13, 0x12, 0x15, 0x14]);
        // A segment offset past the end is refused, not read.
        frame[8..12].copy_from_slice(&9999u32.to_le_bytes());
        assert!(decode_frame(&frame, 1, 3, 2).is_err());
    }
}
