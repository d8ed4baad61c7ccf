//! 2-D images open as one-slice volumes: grey and colour, 8 and 16 bit, in
//! every supported format, with JPEG EXIF orientation applied.

mod common;

use std::path::Path;

use loupe::volume::{self, SampleType};

fn save(image: image::DynamicImage, path: &Path) {
    image.save(path).unwrap();
}

#[test]
fn grey_and_colour_images_keep_their_type_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let grey8 = image::GrayImage::from_fn(5, 3, |x, y| image::Luma([(x + 10 * y) as u8]));
    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(5, 3, |x, y| {
        image::Luma([(x * 1000 + y) as u16])
    });
    let rgb8 = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 200]));
    let rgb16 = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(5, 3, |x, y| {
        image::Rgb([x as u16 * 300, y as u16, 60000])
    });

    let cases: Vec<(&str, image::DynamicImage, SampleType, usize)> = vec![
        ("grey8.png", grey8.clone().into(), SampleType::U8, 1),
        ("grey16.png", grey16.clone().into(), SampleType::U16, 1),
        ("grey8.tif", grey8.clone().into(), SampleType::U8, 1),
        ("grey16.tif", grey16.clone().into(), SampleType::U16, 1),
        ("rgb8.tif", rgb8.clone().into(), SampleType::U8, 3),
        ("rgb16.tif", rgb16.clone().into(), SampleType::U16, 3),
        ("rgb8.bmp", rgb8.clone().into(), SampleType::U8, 3),
        ("rgb8.png", rgb8.clone().into(), SampleType::U8, 3),
    ];
    for (name, image, sample_type, channels) in cases {
        let path = d.join(name);
        save(image, &path);
        let loaded = volume::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.shape, vec![5, 3], "{name}: [width, height]");
        assert_eq!(loaded.data.sample_type(), sample_type, "{name}");
        assert_eq!(loaded.channels, channels, "{name}");
        // Pixel (x = 4, y = 2) is voxel (4, 2).
        let expected_first = match (channels, sample_type) {
            (1, SampleType::U8) => 24.0,
            (1, _) => 4002.0,
            (_, SampleType::U8) => 4.0,
            _ => 1200.0,
        };
        assert_eq!(
            loaded.channels_at(&[4, 2]).unwrap()[0],
            expected_first,
            "{name}"
        );
    }
}

/// Inserts an EXIF APP1 segment with the given orientation right after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD offset
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn jpeg_exif_orientation_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    // 32 × 16, white in the stored top-left quadrant only.
    let stored = image::GrayImage::from_fn(32, 16, |x, y| {
        image::Luma([if x < 8 && y < 8 { 255 } else { 0 }])
    });
    let mut jpeg = Vec::new();
    image::DynamicImage::from(stored)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let path = dir.path().join("rotated.jpg");
    // Orientation 6: the stored image must be turned 90° clockwise to display.
    std::fs::write(&path, with_exif_orientation(&jpeg, 6)).unwrap();
    let loaded = volume::load(&path).unwrap();
    assert_eq!(loaded.shape, vec![16, 32], "rotated to portrait");
    // Turning clockwise moves the stored top-left to the displayed top-right.
    assert!(
        loaded.value(&[12, 3]).unwrap() > 200.0,
        "white now top-right"
    );
    assert!(loaded.value(&[3, 3]).unwrap() < 50.0, "top-left now dark");
}

#[test]
fn the_real_fundus_photograph_opens_in_colour() {
    let path = common::shared_data().join("fundus/retina.jpg");
    let loaded = volume::load(&path).unwrap();
    assert_eq!(loaded.channels, 3);
    assert_eq!(loaded.shape.len(), 2);
    let stats_free = loaded.stats();
    assert!(stats_free.is_none(), "colour images have no scalar stats");
    let output = common::loupe(&["info", "--json", path.to_str().unwrap(), "--voxel", "10,10"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(json["channels"], 3);
    assert_eq!(json["shape"].as_array().unwrap().len(), 2);
    assert_eq!(json["voxels"][0]["rgb"].as_array().unwrap().len(), 3);
}
