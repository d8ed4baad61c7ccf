//! 2-D raster images (PNG, JPEG, TIFF 8/16-bit, BMP) read through the `image`
//! crate as one-slice volumes, JPEG EXIF orientation applied.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use super::error::VolumeError;
use super::orientation::Affine;
use super::voxels::VoxelData;
use super::{Endianness, FileFormat, Volume, nifti};

/// Reads a raster image. Pixel (x, y) becomes voxel (i, j) with y downwards,
/// so the shape is `[width, height]`; colour stays interleaved per voxel.
pub fn read(path: &Path) -> Result<Volume, VolumeError> {
    let image_error = |source| VolumeError::Image {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(|e| VolumeError::io(path, e))?;
    if metadata.len() == 0 {
        return Err(VolumeError::invalid(path, "file is empty"));
    }
    let reader = ImageReader::open(path)
        .map_err(|e| VolumeError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| VolumeError::io(path, e))?;
    let Some(format) = reader.format() else {
        return Err(VolumeError::unsupported(
            path,
            "not a recognised image (PNG, JPEG, TIFF, BMP), NIfTI or DICOM file",
        ));
    };
    // The image crate's allocation limit (512 MiB) is checked here against
    // the size the header claims, before decoding: `into_decoder` alone
    // leaves the pixel buffer unchecked, and a 60-byte BMP can claim 70 GB.
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let claimed_bytes = decoder.total_bytes();
    let mut limits = image::Limits::default();
    let fits_memory = super::voxels::available_memory_bytes().is_none_or(|m| claimed_bytes <= m);
    if limits.reserve(claimed_bytes).is_err() || !fits_memory {
        let (width, height) = decoder.dimensions();
        return Err(VolumeError::invalid(
            path,
            format!(
                "the header claims a {width} × {height} image ({claimed_bytes} bytes of pixels), more than Loupe reads into memory (512 MiB)"
            ),
        ));
    }
    let orientation = decoder.orientation().map_err(image_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);

    let (width, height) = (image.width() as usize, image.height() as usize);
    let (data, channels) = match image {
        DynamicImage::ImageLuma8(img) => (VoxelData::U8(img.into_raw()), 1),
        DynamicImage::ImageLumaA8(_) => (VoxelData::U8(image.into_luma8().into_raw()), 1),
        DynamicImage::ImageRgb8(img) => (VoxelData::U8(img.into_raw()), 3),
        DynamicImage::ImageRgba8(img) => (VoxelData::U8(img.into_raw()), 4),
        DynamicImage::ImageLuma16(img) => (VoxelData::U16(img.into_raw()), 1),
        DynamicImage::ImageLumaA16(_) => (VoxelData::U16(image.into_luma16().into_raw()), 1),
        DynamicImage::ImageRgb16(img) => (VoxelData::U16(img.into_raw()), 3),
        DynamicImage::ImageRgba16(img) => (VoxelData::U16(img.into_raw()), 4),
        DynamicImage::ImageRgb32F(img) => (VoxelData::F32(img.into_raw()), 3),
        DynamicImage::ImageRgba32F(img) => (VoxelData::F32(img.into_raw()), 4),
        other => (VoxelData::U8(other.into_rgb8().into_raw()), 3),
    };
    Ok(Volume {
        path: path.to_path_buf(),
        format: FileFormat::Raster(format.extensions_str().first().copied().unwrap_or("image")),
        shape: vec![width, height],
        channels,
        datatype: nifti::datatype_code(data.sample_type(), channels),
        endianness: Endianness::native(),
        // Pixels have no physical size; one pixel is one unit. x runs to the
        // patient's left and y posterior, so the radiological axial view
        // (patient right on screen left, anterior up) shows the photo as stored.
        world_from_voxel: Affine::from_rows([
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]),
        pixdim: [1.0; 4],
        scaling: None,
        xyzt_units: 0,
        description: String::new(),
        data,
        dicom: None,
    })
}
