//! `loupe render` draws slices on the closest canonical RAS+ grid in the
//! radiological (or neurological) convention. Checked against renderings
//! computed here independently: voxels read with the `nifti` crate, the
//! canonical grid taken from nibabel's axis codes in expected.json.

mod common;

use nifti::{NiftiObject, ReaderOptions};
use serde_json::Value;

struct Reference {
    shape: Vec<usize>,
    values: Vec<f64>,
    /// For canonical axis R, A, S: (voxel axis, reversed).
    canonical: [(usize, bool); 3],
}

fn reference(name: &str) -> Reference {
    let path = common::shared_data().join("nifti").join(name);
    let object = ReaderOptions::new().read_file(&path).unwrap();
    let header = object.header().clone();
    let ndim = header.dim[0] as usize;
    let shape: Vec<usize> = header.dim[1..=ndim].iter().map(|&d| d as usize).collect();
    let raw = object.volume().raw_data();
    let big = header.endianness == nifti::Endianness::Big;
    let word = |chunk: &[u8]| -> Vec<u8> {
        if big {
            chunk.iter().rev().copied().collect()
        } else {
            chunk.to_vec()
        }
    };
    let stored: Vec<f64> = match header.datatype {
        2 => raw.iter().map(|&b| b as f64).collect(),
        4 => raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes(word(c).try_into().unwrap()) as f64)
            .collect(),
        512 => raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes(word(c).try_into().unwrap()) as f64)
            .collect(),
        64 => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(word(c).try_into().unwrap()))
            .collect(),
        other => panic!("test reader lacks datatype {other}"),
    };
    let (slope, inter) = (header.scl_slope as f64, header.scl_inter as f64);
    let values = if slope != 0.0 && slope.is_finite() {
        stored.iter().map(|v| v * slope + inter).collect()
    } else {
        stored
    };

    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(common::shared_data().join("nifti/expected.json")).unwrap(),
    )
    .unwrap();
    let entry = expected["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == name)
        .unwrap();
    let mut canonical = [(0, false); 3];
    for (voxel_axis, code) in entry["axcodes"].as_array().unwrap().iter().enumerate() {
        let (world, reversed) = match code.as_str().unwrap() {
            "R" => (0, false),
            "L" => (0, true),
            "A" => (1, false),
            "P" => (1, true),
            "S" => (2, false),
            "I" => (2, true),
            other => panic!("{other}"),
        };
        canonical[world] = (voxel_axis, reversed);
    }
    Reference {
        shape,
        values,
        canonical,
    }
}

/// The expected grey image, straight from the rules in `loupe render --help`.
fn expected_image(
    r: &Reference,
    plane: &str,
    k: usize,
    (c, w): (f64, f64),
    neurological: bool,
    time: usize,
) -> (usize, usize, Vec<u8>) {
    let n = |world: usize| r.shape[r.canonical[world].0];
    // (screen-x world axis, screen-x runs from high to low), same for y; the normal.
    let (x_axis, x_high_first, y_axis, normal) = match plane {
        "axial" => (0, !neurological, 1, 2),
        "coronal" => (0, !neurological, 2, 1),
        _ => (1, true, 2, 0),
    };
    let (width, height) = (n(x_axis), n(y_axis));
    let mut out = Vec::new();
    for row in 0..height {
        for col in 0..width {
            let mut canonical = [0usize; 3];
            canonical[normal] = k;
            canonical[x_axis] = if x_high_first { width - 1 - col } else { col };
            canonical[y_axis] = height - 1 - row; // top is anterior / superior
            let mut voxel = [0usize; 3];
            for world in 0..3 {
                let (axis, reversed) = r.canonical[world];
                voxel[axis] = if reversed {
                    r.shape[axis] - 1 - canonical[world]
                } else {
                    canonical[world]
                };
            }
            let volume_size = r.shape[0] * r.shape[1] * r.shape[2];
            let v = r.values
                [time * volume_size + voxel[0] + r.shape[0] * (voxel[1] + r.shape[1] * voxel[2])];
            let g = (((v - (c - w / 2.0)) / w).clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8;
            out.push(g);
        }
    }
    (width, height, out)
}

fn render(
    name: &str,
    plane: &str,
    k: usize,
    window: (f64, f64),
    neurological: bool,
    time: usize,
) -> image::GrayImage {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slice.png");
    let path = common::shared_data().join("nifti").join(name);
    let mut args = vec![
        "render".to_string(),
        path.display().to_string(),
        "--plane".into(),
        plane.into(),
        "--index".into(),
        k.to_string(),
        "--window".into(),
        format!("{},{}", window.0, window.1),
        "--out".into(),
        out.display().to_string(),
        "--time".into(),
        time.to_string(),
    ];
    if neurological {
        args.push("--neurological".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::loupe(&args);
    assert!(
        output.status.success(),
        "{name} {plane} {k}: {}",
        common::stderr(&output)
    );
    image::open(&out).unwrap().into_luma8()
}

#[test]
fn slices_match_independent_renderings() {
    let cases: &[(&str, (f64, f64), usize)] = &[
        ("edge_lps_u16.nii.gz", (2000.0, 4000.0), 0),
        ("edge_qform_oblique_f64.nii", (0.0, 4.0), 0),
        ("anatomical.nii", (9000.0, 20000.0), 0),
        ("functional.nii", (3600.0, 3000.0), 7),
        ("mni152_t1.nii.gz", (100.0, 200.0), 0),
        ("edge_sform_vs_qform.nii", (500.0, 1000.0), 0),
    ];
    for &(name, window, time) in cases {
        let r = reference(name);
        for plane in ["axial", "coronal", "sagittal"] {
            let normal = match plane {
                "axial" => 2,
                "coronal" => 1,
                _ => 0,
            };
            let slices = r.shape[r.canonical[normal].0];
            for k in [0, slices / 3, slices - 1] {
                for neurological in [false, true] {
                    let (w, h, expected) = expected_image(&r, plane, k, window, neurological, time);
                    let got = render(name, plane, k, window, neurological, time);
                    assert_eq!(
                        (got.width() as usize, got.height() as usize),
                        (w, h),
                        "{name} {plane} {k}: size"
                    );
                    assert_eq!(
                        got.as_raw(),
                        &expected,
                        "{name} {plane} {k} neurological={neurological}"
                    );
                }
            }
        }
    }
}

#[test]
fn bad_render_requests_are_refused() {
    let path = common::shared_data().join("nifti/standard.nii.gz");
    let path = path.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let out = out.to_str().unwrap();
    for (args, message) in [
        (
            vec!["--plane", "axial", "--index", "7", "--window", "0,10"],
            "has 7 slices",
        ),
        (
            vec!["--plane", "axial", "--index", "0", "--window", "10"],
            "CENTER,WIDTH",
        ),
        (
            vec!["--plane", "axial", "--index", "0", "--window", "10,0"],
            "width must be positive",
        ),
        (
            vec!["--plane", "axial", "--index", "0", "--window", "0,1e309"],
            "width must be positive and finite",
        ),
        (
            vec![
                "--plane", "axial", "--index", "0", "--window", "-5,10", "--time", "1",
            ],
            "1 time point",
        ),
    ] {
        let mut full = vec!["render", path];
        full.extend(args);
        full.extend(["--out", out]);
        let output = common::loupe(&full);
        assert_eq!(output.status.code(), Some(1), "{full:?}");
        assert!(
            common::stderr(&output).contains(message),
            "{}",
            common::stderr(&output)
        );
    }
}
