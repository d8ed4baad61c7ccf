//! DICOM read as pydicom reads it and placed in space as DICOM (and
//! dcm2niix) place it: `loupe info --json` on every transfer syntax against
//! the values pydicom wrote into `expected.json`, series sorted by position
//! and refused when a slice is missing or the gantry tilted, `convert`
//! against dcm2niix's output, import of a folder as one item per series,
//! and one-line errors for broken files.
//!
//! The fixtures and `expected.json` come from
//! `tests/fixtures/dicom/make_fixtures.py` (pydicom 3 with its decoder
//! plugins), run once and committed.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn info(path: &Path, voxels: &[Vec<usize>]) -> Value {
    let path = path.to_string_lossy().into_owned();
    let indices: Vec<String> = voxels
        .iter()
        .map(|v| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let mut args = vec!["info", "--json", path.as_str()];
    for index in &indices {
        args.extend(["--voxel", index.as_str()]);
    }
    serde_json::from_str(&common::run_ok(&args)).unwrap()
}

fn indices(entry: &Value) -> Vec<Vec<usize>> {
    entry["voxels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as usize)
                .collect()
        })
        .collect()
}

/// Lossy syntaxes may differ from pydicom's decoder by rounding (another
/// IDCT); lossless ones must agree exactly.
fn tolerance(name: &str) -> f64 {
    let lossy_jpeg = name.contains("baseline")
        || name.contains("extended")
        || name.contains("lossy")
        || (name.contains("jpeg") && !name.contains("lossless"));
    if lossy_jpeg { 3.0 } else { 0.0 }
}

/// `loupe info --json` on a fixture agrees with pydicom's entry for it:
/// shape, channels, transfer syntax, statistics and voxel values.
fn assert_reads_as_pydicom(name: &str, entry: &Value) {
    let wanted = indices(entry);
    let got = info(&fixtures().join(name), &wanted);
    assert_eq!(got["format"], "DICOM", "{name}");
    assert_eq!(got["shape"], entry["shape"], "{name}: shape");
    assert_eq!(got["channels"], entry["channels"], "{name}: channels");
    assert_eq!(
        got["dicom"]["transfer_syntax"], entry["transfer_syntax"],
        "{name}"
    );
    let tol = tolerance(name);
    for key in ["min", "max"] {
        let (a, b) = (
            got["stats"][key].as_f64().unwrap(),
            entry["stats"][key].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= tol,
            "{name}: stats.{key} {a} vs pydicom {b}"
        );
    }
    let (a, b) = (
        got["stats"]["mean"].as_f64().unwrap(),
        entry["stats"]["mean"].as_f64().unwrap(),
    );
    assert!(
        (a - b).abs() <= tol.max(1e-6 * b.abs()),
        "{name}: mean {a} vs pydicom {b}"
    );
    for (mine, theirs) in got["voxels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(entry["voxels"].as_array().unwrap())
    {
        let flat = |v: &Value| -> Vec<f64> {
            match v {
                Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
                other => vec![other.as_f64().unwrap()],
            }
        };
        let (a, b) = (flat(&mine["value"]), flat(&theirs["value"]));
        assert_eq!(a.len(), b.len(), "{name} {:?}", theirs["index"]);
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= tol,
                "{name} voxel {}: {a:?} vs pydicom {b:?}",
                theirs["index"]
            );
        }
    }
}

#[test]
fn every_transfer_syntax_reads_as_pydicom_reads_it() {
    let expected = expected();
    let mut checked = 0;
    for (name, entry) in expected.as_object().unwrap() {
        if !name.starts_with("files/") || entry.get("stats").is_none() {
            continue;
        }
        assert_reads_as_pydicom(name, entry);
        checked += 1;
    }
    assert!(checked >= 25, "checked {checked} files");
}

/// pydicom's own test files (MIT, `tests/fixtures/dicom/pydicom/`): a JPEG
/// whose colour only the DICOM header names, 32-bit samples big-endian and
/// in RLE, more functional-group items than frames, an implicit VR data
/// set behind an explicit meta group, 8-bit colour in big-endian words,
/// real CT and MR.
#[test]
fn pydicoms_own_test_files_read_as_pydicom_reads_them() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("pydicom/expected.json")).unwrap(),
    )
    .unwrap();
    let entries = expected.as_object().unwrap();
    for (name, entry) in entries {
        assert_reads_as_pydicom(name, entry);
    }
    assert_eq!(entries.len(), 11);
    // A bare explicit VR data set is DICOM (not "unrecognised"), without an image.
    let bare = fixtures().join("pydicom/ExplVR_LitEndNoMeta.dcm");
    let out = common::loupe(&["info", bare.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("holds no image"), "{err}");
}

#[test]
fn context_of_a_photograph_is_kept() {
    let got = info(&fixtures().join("files/fundus_op.dcm"), &[]);
    assert_eq!(got["dicom"]["modality"], "OP");
    assert_eq!(got["dicom"]["laterality"], "L");
    assert_eq!(got["dicom"]["patient_id"], "LOUPE-TEST");
    assert_eq!(got["dicom"]["study_date"], "20261202");
    assert_eq!(got["dicom"]["series_description"], "Fundus left");
    assert_eq!(got["shape"], serde_json::json!([24, 20, 1]));
    let cine = info(&fixtures().join("files/us_cine.dcm"), &[]);
    assert_eq!(cine["shape"], serde_json::json!([24, 20, 3]));
    assert_eq!(cine["dicom"]["frames"], 3);
}

fn world(affine: &Value, index: &[f64]) -> [f64; 3] {
    let row = |r: usize| -> f64 {
        let a = affine[r].as_array().unwrap();
        (0..3)
            .map(|c| a[c].as_f64().unwrap() * index[c])
            .sum::<f64>()
            + a[3].as_f64().unwrap()
    };
    [row(0), row(1), row(2)]
}

/// Voxel values and world positions of voxel centres against the DICOM
/// definition (P = S + i·Δc·row + j·Δr·column, LPS → RAS), not voxel order.
#[test]
fn a_series_is_sorted_by_position_and_placed_where_dicom_puts_it() {
    let expected = expected();
    for name in ["series/ct_oblique", "files/enhanced_ct.dcm"] {
        let entry = &expected[name];
        let got = info(&fixtures().join(name), &indices(entry));
        assert_eq!(got["shape"], entry["shape"], "{name}");
        for (mine, theirs) in got["voxels"]
            .as_array()
            .unwrap()
            .iter()
            .zip(entry["voxels"].as_array().unwrap())
        {
            assert_eq!(
                mine["value"].as_f64(),
                theirs["value"].as_f64(),
                "{name} {}",
                theirs["index"]
            );
            let index: Vec<f64> = theirs["index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let w = world(&got["world_from_voxel"], &index);
            for (a, b) in w.iter().zip(theirs["world"].as_array().unwrap()) {
                assert!(
                    (a - b.as_f64().unwrap()).abs() < 1e-4,
                    "{name} {index:?}: {w:?} vs {}",
                    theirs["world"]
                );
            }
        }
    }
    let four = info(&fixtures().join("series/ct_4d"), &[]);
    assert_eq!(four["shape"], expected["series/ct_4d"]["shape"]);
}

#[test]
fn a_missing_slice_or_a_tilt_is_refused_unless_resampled() {
    for (name, says) in [
        ("series/ct_gap", "not equally spaced"),
        ("series/ct_tilt", "tilted"),
    ] {
        let path = fixtures().join(name);
        let out = common::loupe(&["info", "--json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = common::stderr(&out);
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{name}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let out = common::loupe(&["info", "--json", "--resample", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert!(common::stderr(&out).contains("notice: resampled"));
        let got: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
        assert_eq!(got["dicom"]["resampled"].as_str().is_some(), true);
    }
    // The gap: 3 mm steps from 0 to 15 mm → six slices on the regular grid.
    let path = fixtures().join("series/ct_gap");
    let got: Value = serde_json::from_str(&common::run_ok(&[
        "info",
        "--json",
        "--resample",
        path.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(got["shape"], serde_json::json!([16, 12, 6]));
}

#[test]
fn a_folder_of_two_series_is_refused_listing_them_and_each_opens_by_uid() {
    let folder = fixtures().join("series/two_series");
    let out = common::loupe(&["info", folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("holds 2 series"), "{err}");
    // "…; name one: FOLDER#UID (description, n file(s)); FOLDER#UID (…): FOLDER"
    let named = err
        .split("name one: ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .unwrap_or_else(|| panic!("no series named in: {err}"));
    assert!(named.contains('#'), "{named}");
    let got: Value = serde_json::from_str(&common::run_ok(&["info", "--json", named])).unwrap();
    assert_eq!(got["shape"][2], 3);
}

/// dcm2niix's NIfTI of the same series: every voxel centre of Loupe's
/// conversion lands where dcm2niix puts the voxel with the same value.
#[test]
fn convert_puts_every_voxel_where_dcm2niix_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ct.nii.gz");
    let series = fixtures().join("series/ct_oblique");
    common::run_ok(&[
        "convert",
        series.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let ours = nifti_values(&out);
    let theirs = nifti_values(&fixtures().join("dcm2niix/ct_oblique.nii"));
    assert_eq!(ours.0.len(), theirs.0.len());
    let inverse = invert(&theirs.1);
    let [nx, ny, nz] = ours.2;
    let mut compared = 0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let w = apply(&ours.1, [i as f64, j as f64, k as f64]);
                let v = apply(&inverse, w);
                let index = v.map(|x| x.round());
                assert!(
                    v.iter().zip(&index).all(|(a, b)| (a - b).abs() < 1e-3),
                    "voxel {i},{j},{k} → {v:?}"
                );
                let [a, b, c] = index.map(|x| x as usize);
                let theirs_value = theirs.0[a + theirs.2[0] * (b + theirs.2[1] * c)];
                assert_eq!(
                    ours.0[i + nx * (j + ny * k)],
                    theirs_value,
                    "voxel {i},{j},{k}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 16 * 12 * 6);
    // Never overwritten.
    let again = common::loupe(&[
        "convert",
        series.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
}

type Affine = [[f64; 4]; 3];

fn apply(a: &Affine, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|r| a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2] + a[r][3])
}

fn invert(a: &Affine) -> Affine {
    let m = [
        [a[0][0], a[0][1], a[0][2]],
        [a[1][0], a[1][1], a[1][2]],
        [a[2][0], a[2][1], a[2][2]],
    ];
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let cof = |r: usize, c: usize| {
        let rows: Vec<usize> = (0..3).filter(|&x| x != r).collect();
        let cols: Vec<usize> = (0..3).filter(|&x| x != c).collect();
        let minor =
            m[rows[0]][cols[0]] * m[rows[1]][cols[1]] - m[rows[0]][cols[1]] * m[rows[1]][cols[0]];
        if (r + c) % 2 == 0 { minor } else { -minor }
    };
    let mut inv = [[0.0; 4]; 3];
    for r in 0..3 {
        for c in 0..3 {
            inv[r][c] = cof(c, r) / det;
        }
    }
    for r in 0..3 {
        inv[r][3] = -(0..3).map(|c| inv[r][c] * a[c][3]).sum::<f64>();
    }
    inv
}

/// A 3-D NIfTI's values (as f64, scaled by scl_slope/scl_inter), sform and
/// shape, through the nifti crate's header and raw (little-endian) data.
fn nifti_values(path: &Path) -> (Vec<f64>, Affine, [usize; 3]) {
    use nifti::{NiftiObject, NiftiType, ReaderOptions};
    let object = ReaderOptions::new().read_file(path).unwrap();
    let header = object.header().clone();
    let dims = [
        header.dim[1] as usize,
        header.dim[2] as usize,
        header.dim[3] as usize,
    ];
    let affine = [header.srow_x, header.srow_y, header.srow_z].map(|r| r.map(f64::from));
    let raw = object.into_volume().into_raw_data();
    let stored: Vec<f64> = match header.data_type().unwrap() {
        NiftiType::Uint8 => raw.iter().map(|&b| f64::from(b)).collect(),
        NiftiType::Int16 => raw
            .chunks_exact(2)
            .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
            .collect(),
        NiftiType::Uint16 => raw
            .chunks_exact(2)
            .map(|b| f64::from(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        NiftiType::Float32 => raw
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        other => panic!(
            "{}: datatype {other:?} not handled by this test",
            path.display()
        ),
    };
    let (slope, inter) = match header.scl_slope {
        s if s == 0.0 || !s.is_finite() => (1.0, 0.0),
        s => (f64::from(s), f64::from(header.scl_inter)),
    };
    let values: Vec<f64> = stored.iter().map(|v| v * slope + inter).collect();
    assert_eq!(values.len(), dims[0] * dims[1] * dims[2]);
    (values, affine, dims)
}

#[test]
fn broken_dicom_files_get_one_line_errors() {
    for (name, says) in [
        ("truncated.dcm", "truncated"),
        ("not_dicom.dcm", "not a"),
        ("preamble_only.dcm", "truncated"),
        ("empty.dcm", "empty"),
        ("absurd_size.dcm", "more than Loupe reads"),
        ("short_pixels.dcm", "pixel data holds"),
        ("part2_syntax.dcm", "1.2.840.10008.1.2.4.92"),
        ("unknown_syntax.dcm", "1.2.3.4.5.6.7.8.99"),
        ("lying_length", "claims 4294967280 bytes"),
    ] {
        let path = fixtures().join("hostile").join(name);
        let out = common::loupe(&["info", path.to_str().unwrap()]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{name}: {err}"
        );
        assert!(
            err.contains(name),
            "{name}: the error names the file: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
    }
}

#[test]
fn importing_a_folder_makes_one_item_per_series_and_reimporting_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let project = thyroid_project(dir.path());
    let archive = dir.path().join("archive");
    copy_tree(
        &fixtures().join("series/two_series"),
        &archive.join("mixed"),
    );
    copy_tree(&fixtures().join("series/ct_oblique"), &archive.join("ct"));
    std::fs::copy(
        fixtures().join("files/fundus_op.dcm"),
        archive.join("photo_without_extension"),
    )
    .unwrap();
    let report = common::run_ok(&[
        "import",
        project.to_str().unwrap(),
        archive.to_str().unwrap(),
    ]);
    assert!(report.contains("added 4 items"), "{report}");
    let again = common::run_ok(&[
        "import",
        project.to_str().unwrap(),
        archive.to_str().unwrap(),
    ]);
    assert!(again.contains("added 0 items"), "{again}");
    // One changed file makes the series new.
    let slice = std::fs::read_dir(archive.join("ct"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&slice).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&slice, bytes).unwrap();
    let changed = common::run_ok(&[
        "import",
        project.to_str().unwrap(),
        archive.to_str().unwrap(),
    ]);
    assert!(changed.contains("added 1 items"), "{changed}");
}

/// An empty thyroid-schema project in `dir/p`.
fn thyroid_project(dir: &Path) -> PathBuf {
    let project = dir.join("p");
    common::run_ok(&[
        "project",
        "init",
        project.to_str().unwrap(),
        "--schema",
        "thyroid",
    ]);
    project
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A file or folder dropped on the window, as the windowing system hands it over.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// In the window: a dropped series folder opens as a volume; a series with
/// a missing slice is refused with a Resample button, and the button opens
/// it on the regular grid, saying so.
#[test]
fn the_window_opens_a_dropped_series_and_resamples_one_with_a_gap_on_request() {
    use egui_kittest::kittest::Queryable;
    use loupe::app::{Launch, ViewerCommand};
    let data_dir = tempfile::tempdir().unwrap().keep();
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_eframe(move |cc| loupe::ui::LoupeApp::new(cc, Launch::Empty, data_dir));
    harness.run();
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(
            fixtures().join("series/ct_oblique"),
        )));
    harness.run();
    let state = harness.state().state();
    let document = state.document.as_ref().expect("the series opens");
    assert_eq!(document.volume.shape, vec![16, 12, 6]);
    assert_eq!(
        document.volume.dicom.as_ref().map(|d| d.modality.as_str()),
        Some("CT")
    );
    assert!(state.notice.is_none(), "{:?}", state.notice);

    let gap = fixtures().join("series/ct_gap");
    harness.state_mut().apply(ViewerCommand::Open(gap.clone()));
    harness.run();
    let state = harness.state().state();
    let notice = state.notice.as_ref().expect("the gap is refused");
    assert!(
        notice.is_error && notice.text.contains("not equally spaced"),
        "{}",
        notice.text
    );
    assert_eq!(notice.resample.as_ref(), Some(&gap));
    assert_eq!(
        state.document.as_ref().unwrap().volume.shape,
        vec![16, 12, 6],
        "the open series is kept"
    );
    harness.get_by_label("Resample").click();
    harness.run();
    let state = harness.state().state();
    let document = state.document.as_ref().expect("the resampled series opens");
    assert_eq!(document.volume.path, gap);
    assert_eq!(document.volume.shape, vec![16, 12, 6]);
    assert!(
        document.volume.dicom.as_ref().unwrap().resampled.is_some(),
        "read resampled"
    );
    let notice = state.notice.as_ref().expect("the resampling is reported");
    assert!(
        !notice.is_error && notice.text.contains("resampled"),
        "{}",
        notice.text
    );
}

/// A label map painted on an imported DICOM series is saved on the
/// series' grid: its NIfTI export carries the series' affine (as `info`
/// reports it) and the painted voxel, and nothing else.
#[test]
fn a_label_map_painted_on_a_series_is_exported_on_its_grid() {
    let dir = tempfile::tempdir().unwrap();
    let project = thyroid_project(dir.path());
    let series = dir.path().join("ct");
    copy_tree(&fixtures().join("series/ct_oblique"), &series);
    common::run_ok(&[
        "import",
        project.to_str().unwrap(),
        series.to_str().unwrap(),
    ]);
    common::run_ok(&[
        "paint",
        project.to_str().unwrap(),
        "1",
        "--annotator",
        "grader",
        "--label",
        "2",
        "--at",
        "3,4,2",
        "--radius-mm",
        "0.1",
    ]);
    let out = dir.path().join("maps");
    common::run_ok(&[
        "export",
        project.to_str().unwrap(),
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    let map = std::fs::read_dir(out.join("grader"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (values, affine, dims) = nifti_values(&map);
    assert_eq!(dims, [16, 12, 6]);
    let painted: Vec<usize> = (0..values.len()).filter(|&i| values[i] != 0.0).collect();
    assert_eq!(painted, vec![3 + 16 * (4 + 12 * 2)], "one voxel, label 2");
    assert_eq!(values[painted[0]], 2.0);
    let got = info(&series, &[]);
    for r in 0..3 {
        for c in 0..4 {
            let want = got["world_from_voxel"][r][c].as_f64().unwrap();
            // NIfTI stores the affine as float32.
            assert!(
                (affine[r][c] - want).abs() < 1e-4,
                "affine[{r}][{c}] {} vs {want}",
                affine[r][c]
            );
        }
    }
}

/// *Find moved files* re-finds an imported series whose folder was moved
/// (and renamed): by the series UID and its files' contents, the item then
/// reads from the new folder.
#[test]
fn a_moved_series_folder_is_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let project = thyroid_project(dir.path());
    let series = dir.path().join("archive/ct");
    copy_tree(&fixtures().join("series/ct_oblique"), &series);
    common::run_ok(&[
        "import",
        project.to_str().unwrap(),
        series.to_str().unwrap(),
    ]);
    let moved = dir.path().join("new disk/renamed series");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&series, &moved).unwrap();
    let mut opened = loupe::store::Project::open(&project).unwrap();
    let item = opened.items().unwrap()[0].clone();
    assert!(!loupe::volume::source_exists(&opened.resolve(&item)));
    let found = opened
        .relocate_missing(&dir.path().join("new disk"), |_, _| {})
        .unwrap();
    assert_eq!(found, 1);
    let item = opened.items().unwrap()[0].clone();
    let path = opened.resolve(&item);
    assert_eq!(path, moved);
    assert_eq!(loupe::volume::load(&path).unwrap().shape, vec![16, 12, 6]);
}
