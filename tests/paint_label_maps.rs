//! A clinician's label maps from the command line: `loupe paint` strokes
//! saved as NIfTI on the case's grid, a SIGKILL at any moment leaves the map
//! of the last finished stroke, export → import round-trips every voxel,
//! and a map on another grid is refused, saying how.

mod common;

use std::path::{Path, PathBuf};

use common::{loupe, run_ok, stderr};
use loupe::store::Project;
use loupe::store::label_maps::LabelMapRecord;
use loupe::volume::{self, Volume};

/// A 20×20×8 uint8 volume (1 × 1 × 2 mm): 100 inside the box i 4..10,
/// j 5..12, every slice; 0 elsewhere.
fn write_volume(path: &Path) -> Volume {
    let shape = [20usize, 20, 8];
    let mut data = vec![0u8; shape.iter().product()];
    for k in 0..8 {
        for j in 5..12 {
            for i in 4..10 {
                data[i + 20 * (j + 20 * k)] = 100;
            }
        }
    }
    let mut affine = volume::orientation::Affine::IDENTITY;
    affine.0[2][2] = 2.0;
    affine.0[0][3] = -10.0;
    let v = Volume {
        path: path.to_path_buf(),
        format: volume::FileFormat::Nifti1,
        shape: shape.to_vec(),
        channels: 1,
        datatype: Some(2),
        endianness: volume::Endianness::Little,
        world_from_voxel: affine,
        pixdim: [1.0, 1.0, 2.0, 1.0],
        scaling: None,
        xyzt_units: 2,
        description: "test".into(),
        data: volume::VoxelData::U8(data),
        dicom: None,
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    volume::nifti::write_nifti1(&v, path).unwrap();
    v
}

/// A project with `case01.nii.gz` (item 1) and `photo.png` (item 2, 16×12 grey).
fn project(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    write_volume(&images.join("case01.nii.gz"));
    let photo = image::GrayImage::from_fn(16, 12, |x, y| image::Luma([(x * 10 + y) as u8]));
    photo.save(images.join("photo.png")).unwrap();
    let root = dir.join("project");
    let root_s = root.to_str().unwrap();
    run_ok(&["project", "init", root_s, "--schema", "thyroid"]);
    run_ok(&["import", root_s, images.to_str().unwrap()]);
    root
}

fn record(root: &Path, item: i64, annotator: &str) -> Option<LabelMapRecord> {
    Project::open(root)
        .unwrap()
        .label_maps(item)
        .unwrap()
        .into_iter()
        .find(|r| r.annotator == annotator)
}

/// The saved map, read back as a NIfTI file (its grid checked by the caller).
fn saved_map(root: &Path, item: i64, annotator: &str) -> Volume {
    let record = record(root, item, annotator).expect("a saved map");
    volume::load(&root.join(&record.file)).unwrap()
}

fn voxels(map: &Volume) -> Vec<u8> {
    match &map.data {
        volume::VoxelData::U8(v) => v.clone(),
        other => panic!("label map stored as {:?}", other.sample_type()),
    }
}

fn item_of(root: &Path, name: &str) -> String {
    common::item_id(root, name).to_string()
}

#[test]
fn a_brush_stroke_is_saved_on_the_case_grid_voxel_by_voxel() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_s = root.to_str().unwrap();
    let case = item_of(&root, "case01.nii.gz");
    // Two dabs of radius 2 mm on slice 3 (a disk in the i–j plane): centres (6,8) and (12,8).
    let out = run_ok(&[
        "paint",
        root_s,
        &case,
        "--annotator",
        "ana",
        "--label",
        "2",
        "--at",
        "6,8,3",
        "--at",
        "12,8,3",
        "--radius-mm",
        "2",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // Each disk holds the 13 voxels with di² + dj² ≤ 4; they do not overlap.
    assert_eq!(report["changed_voxels"], 26);
    assert_eq!(report["labels"][0]["label"], 2);
    assert_eq!(report["labels"][0]["voxels"], 26);
    // 26 voxels of 1 × 1 × 2 mm = 0.052 mL.
    assert!((report["labels"][0]["ml"].as_f64().unwrap() - 0.052).abs() < 1e-9);

    let map = saved_map(&root, case.parse().unwrap(), "ana");
    let image = volume::load(&dir.path().join("images/case01.nii.gz")).unwrap();
    assert_eq!(map.shape, vec![20, 20, 8]);
    assert_eq!(map.datatype, Some(2), "uint8");
    assert_eq!(
        map.world_from_voxel, image.world_from_voxel,
        "the case's affine"
    );
    let got = voxels(&map);
    for k in 0..8i64 {
        for j in 0..20i64 {
            for i in 0..20i64 {
                let in_disk = |ci: i64| k == 3 && (i - ci).pow(2) + (j - 8).pow(2) <= 4;
                let expected = if in_disk(6) || in_disk(12) { 2 } else { 0 };
                assert_eq!(
                    got[(i + 20 * (j + 20 * k)) as usize],
                    expected,
                    "({i},{j},{k})"
                );
            }
        }
    }

    // Erasing the second disk, then a 3-D fill of the bright box under "only unlabeled".
    run_ok(&[
        "paint",
        root_s,
        &case,
        "--annotator",
        "ana",
        "--erase",
        "--at",
        "12,8,3",
        "--radius-mm",
        "2",
    ]);
    let out = run_ok(&[
        "paint",
        root_s,
        &case,
        "--annotator",
        "ana",
        "--label",
        "1",
        "--fill",
        "5,6,0",
        "--range",
        "50,150",
        "--3d",
        "--paint-over",
        "unlabeled",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let got = voxels(&saved_map(&root, case.parse().unwrap(), "ana"));
    let count = |label: u8| got.iter().filter(|&&v| v == label).count();
    // The box is 6 × 7 × 8 = 336 voxels; the part of the first disk inside it
    // (i 4..10 ∩ |i−6|,|j−8| disk: all 13) keeps label 2.
    assert_eq!(count(2), 13);
    assert_eq!(count(1), 336 - 13);
    assert_eq!(report["changed_voxels"], 336 - 13);
}

#[test]
fn paint_refuses_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_s = root.to_str().unwrap();
    let case = item_of(&root, "case01.nii.gz");
    let cases = [
        (vec!["--at", "6,8"], "not three numbers"),
        (vec!["--at", "60,8,3"], "outside the image"),
        (vec!["--label", "0", "--at", "6,8,3"], "use --erase"),
        (
            vec!["--at", "6,8,3", "--radius-mm", "1000"],
            "--radius-mm 1000",
        ),
        (vec!["--fill", "6,8,3"], "--fill needs --range"),
        (
            vec!["--at", "6,8,3", "--paint-over", "some"],
            "all, unlabeled or a label",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["paint", root_s, &case, "--annotator", "ana"];
        args.extend(extra.iter().copied());
        let output = loupe(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(
        record(&root, case.parse().unwrap(), "ana").is_none(),
        "nothing saved"
    );
}

#[test]
fn a_killed_painter_leaves_the_map_of_its_last_finished_stroke() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let case = item_of(&root, "case01.nii.gz");
    // Stroke s paints a plus (radius 1 mm) of label s % 3 + 1 at (1 + 3s mod 18, 2 + s / 6 · 3, s % 8).
    let centre = |s: usize| [1 + (3 * s) % 18, 2 + (s / 6) * 3 % 16, s % 8];
    // Every fifth painter is killed after 0–24 ms (its stroke may or may not
    // land); after each kill the file must hold exactly the strokes that
    // finished, or those and the killed one: never a torn or older map.
    let strokes = 40;
    let mut applied: Vec<usize> = Vec::new();
    let expected_of = |applied: &[usize]| {
        let mut map = vec![0u8; 20 * 20 * 8];
        for &s in applied {
            let [ci, cj, k] = centre(s);
            for (di, dj) in [(0i64, 0i64), (1, 0), (-1, 0), (0, 1), (0, -1)] {
                let (i, j) = (ci as i64 + di, cj as i64 + dj);
                if (0..20).contains(&i) && (0..20).contains(&j) {
                    map[(i + 20 * (j + 20 * k as i64)) as usize] = (s % 3 + 1) as u8;
                }
            }
        }
        map
    };
    let mut kills = 0;
    for s in 0..strokes {
        let [i, j, k] = centre(s);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
            .args([
                "paint",
                root.to_str().unwrap(),
                &case,
                "--annotator",
                "ana",
                "--label",
                &(s % 3 + 1).to_string(),
                "--radius-mm",
                "1",
                "--at",
                &format!("{i},{j},{k}"),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if s % 5 == 4 {
            std::thread::sleep(std::time::Duration::from_millis((s as u64 * 7) % 25));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            let got = record(&root, case.parse().unwrap(), "ana")
                .map(|_| voxels(&saved_map(&root, case.parse().unwrap(), "ana")));
            let without = expected_of(&applied);
            let mut with = applied.clone();
            with.push(s);
            let with_map = expected_of(&with);
            match got {
                None => assert!(applied.is_empty(), "the map vanished after stroke {s}"),
                Some(map) if map == with_map => applied = with,
                Some(map) => assert!(
                    map == without,
                    "after killing stroke {s}: neither the {} finished strokes nor those and the killed one",
                    applied.len()
                ),
            }
            continue;
        }
        assert!(child.wait().unwrap().success());
        applied.push(s);
    }
    assert_eq!(kills, 8);
    let got = voxels(&saved_map(&root, case.parse().unwrap(), "ana"));
    assert_eq!(got, expected_of(&applied));
    // Nothing but maps (and perhaps the killed writer's temporary file) in the maps folder.
    let folder = root.join("label-maps");
    let leftovers: Vec<_> = walk(&folder)
        .into_iter()
        .filter(|p| {
            !p.to_string_lossy().ends_with(".nii.gz") && !p.to_string_lossy().ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn label_maps_round_trip_through_export_and_import_and_agreement_is_dice() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_s = root.to_str().unwrap();
    let case = item_of(&root, "case01.nii.gz");
    let photo = item_of(&root, "photo.png");
    run_ok(&[
        "paint",
        root_s,
        &case,
        "--annotator",
        "ana",
        "--label",
        "4",
        "--at",
        "6,8,3",
        "--at",
        "7,8,4",
        "--sphere",
        "--radius-mm",
        "2.5",
    ]);
    run_ok(&[
        "paint",
        root_s,
        &case,
        "--annotator",
        "ben",
        "--label",
        "4",
        "--at",
        "6,8,3",
        "--sphere",
        "--radius-mm",
        "2.5",
    ]);
    run_ok(&[
        "paint",
        root_s,
        &photo,
        "--annotator",
        "ana",
        "--label",
        "1",
        "--fill",
        "3,3,0",
        "--range",
        "0,60",
    ]);
    let out = dir.path().join("export");
    let printed = run_ok(&[
        "export",
        root_s,
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(printed.contains("wrote 3 label maps"), "{printed}");
    assert!(out.join("ana/case01_labels.nii.gz").is_file());
    assert!(out.join("ana/photo_labels.nii.gz").is_file());
    assert!(out.join("ben/case01_labels.nii.gz").is_file());

    // Dice per label between ana and ben, as `loupe stats` reports it: ben's ball
    // is inside ana's two, so Dice = 2|B| / (|A| + |B|).
    let a = voxels(&saved_map(&root, case.parse().unwrap(), "ana"));
    let b = voxels(&saved_map(&root, case.parse().unwrap(), "ben"));
    let (na, nb) = (
        a.iter().filter(|&&v| v == 4).count(),
        b.iter().filter(|&&v| v == 4).count(),
    );
    assert!(b.iter().zip(&a).all(|(&y, &x)| y == 0 || x == 4));
    let stats = run_ok(&["stats", root_s]);
    let dice = 2.0 * nb as f64 / (na + nb) as f64;
    assert!(
        stats.contains(&format!(
            "label maps: ana vs ben: Dice label 4 {dice:.3} over 1 items"
        )),
        "{stats}"
    );

    // A second project of the same images takes the maps back, exactly.
    let copy = dir.path().join("copy");
    let copy_s = copy.to_str().unwrap();
    run_ok(&["project", "init", copy_s, "--schema", "thyroid"]);
    run_ok(&[
        "import",
        copy_s,
        dir.path().join("images").to_str().unwrap(),
    ]);
    for annotator in ["ana", "ben"] {
        let printed = run_ok(&[
            "import",
            copy_s,
            "--label-maps",
            out.join(annotator).to_str().unwrap(),
            "--annotator",
            annotator,
        ]);
        assert!(printed.contains("imported"), "{printed}");
    }
    for (name, annotator) in [
        ("case01.nii.gz", "ana"),
        ("case01.nii.gz", "ben"),
        ("photo.png", "ana"),
    ] {
        let from = saved_map(&root, item_of(&root, name).parse().unwrap(), annotator);
        let to = saved_map(&copy, item_of(&copy, name).parse().unwrap(), annotator);
        assert_eq!(voxels(&from), voxels(&to), "{name} by {annotator}");
        assert_eq!(from.world_from_voxel, to.world_from_voxel);
        assert_eq!(from.shape, to.shape);
    }
    // Importing the same maps again changes nothing.
    let again = run_ok(&[
        "import",
        copy_s,
        "--label-maps",
        out.join("ana").to_str().unwrap(),
        "--annotator",
        "ana",
    ]);
    assert!(
        again.contains("imported 0 label maps for ana (2 identical"),
        "{again}"
    );
    // ben's maps under ana's name would replace ana's different map: refused, nothing written.
    let output = loupe(&[
        "import",
        copy_s,
        "--label-maps",
        out.join("ben").to_str().unwrap(),
        "--annotator",
        "ana",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already has a different map"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_map_on_another_grid_is_refused_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let maps = dir.path().join("maps");
    std::fs::create_dir_all(&maps).unwrap();
    // A good map of the photo, and a map of the volume that is one slice short.
    let photo_map = image::GrayImage::from_pixel(16, 12, image::Luma([0u8]));
    let mut good = volume::load(&dir.path().join("images/photo.png")).unwrap();
    good.data = volume::VoxelData::U8(photo_map.into_raw());
    good.channels = 1;
    good.datatype = Some(2);
    volume::nifti::write_nifti1(&good, &maps.join("photo_labels.nii.gz")).unwrap();
    let mut short = write_volume(&dir.path().join("other/x.nii.gz"));
    short.shape = vec![20, 20, 7];
    short.data = volume::VoxelData::U8(vec![0; 20 * 20 * 7]);
    volume::nifti::write_nifti1(&short, &maps.join("case01_labels.nii.gz")).unwrap();
    std::fs::write(maps.join("nobody_labels.nii"), b"not a nifti").unwrap();

    let output = loupe(&[
        "import",
        root.to_str().unwrap(),
        "--label-maps",
        maps.to_str().unwrap(),
        "--annotator",
        "ana",
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("no label maps imported; 2 file(s) refused"),
        "{message}"
    );
    assert!(
        message.contains("case01_labels.nii.gz: does not fit case")
            && message.contains("its grid is [20, 20, 7] voxels, the case's is [20, 20, 8]"),
        "{message}"
    );
    assert!(
        message.contains("no item of the project is named \"nobody\""),
        "{message}"
    );
    let project = Project::open(&root).unwrap();
    assert!(
        project.all_label_maps().unwrap().is_empty(),
        "all or nothing"
    );
}

#[test]
fn a_map_claiming_a_huge_grid_is_refused_by_its_header_unread() {
    // A 200-byte gzip file whose header claims 1024³ voxels (1 GiB) for a
    // 20×20×8 case: refused by the grid its header claims, before the
    // decompressor is asked for a single voxel (not "truncated", not out of memory).
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let maps = dir.path().join("maps");
    std::fs::create_dir_all(&maps).unwrap();
    let mut header =
        volume::nifti::encode_nifti1(&write_volume(&dir.path().join("x/a.nii")), false).unwrap();
    header.truncate(352);
    for (i, dim) in [3i16, 1024, 1024, 1024].iter().enumerate() {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&dim.to_le_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &header).unwrap();
    std::io::Write::write_all(&mut gz, &vec![0u8; 100_000]).unwrap();
    std::fs::write(maps.join("case01_labels.nii.gz"), gz.finish().unwrap()).unwrap();
    let output = loupe(&[
        "import",
        root.to_str().unwrap(),
        "--label-maps",
        maps.to_str().unwrap(),
        "--annotator",
        "ana",
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("case01_labels.nii.gz: does not fit case")
            && message.contains("its grid is [1024, 1024, 1024] voxels, the case's is [20, 20, 8]"),
        "{message}"
    );
}

/// One dab of `label` by `annotator` on the volume case.
fn dab(root: &Path, annotator: &str, label: &str) {
    let case = item_of(root, "case01.nii.gz");
    run_ok(&[
        "paint",
        root.to_str().unwrap(),
        &case,
        "--annotator",
        annotator,
        "--label",
        label,
        "--at",
        "6,8,3",
    ]);
}

#[test]
fn names_that_clean_alike_export_to_files_of_their_own_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_s = root.to_str().unwrap();
    // Three annotators whose names are one folder name once made safe.
    for (annotator, label) in [("a/b", "1"), ("a\\b", "2"), ("a_b", "4")] {
        dab(&root, annotator, label);
    }
    let out = dir.path().join("export");
    let printed = run_ok(&[
        "export",
        root_s,
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(printed.contains("wrote 3 label maps"), "{printed}");
    let files = walk(&out);
    assert_eq!(files.len(), 3, "{files:?}");
    let mut labels: Vec<u8> = files
        .iter()
        .map(|f| *voxels(&volume::load(f).unwrap()).iter().max().unwrap())
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [1, 2, 4],
        "each annotator's own map, none overwritten"
    );
    assert!(out.join("a_b/case01_labels.nii.gz").is_file());

    // A folder that is not empty is refused, and what is there stays.
    let again = loupe(&[
        "export",
        root_s,
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
    assert_eq!(walk(&out), files);

    // An export that fails half-way (a stored map gone) leaves nothing.
    let record = record(
        &root,
        item_of(&root, "case01.nii.gz").parse().unwrap(),
        "a_b",
    )
    .unwrap();
    std::fs::remove_file(root.join(&record.file)).unwrap();
    let partial = dir.path().join("partial");
    let failed = loupe(&[
        "export",
        root_s,
        "--format",
        "nifti-labels",
        "--out",
        partial.to_str().unwrap(),
    ]);
    assert!(!failed.status.success());
    assert!(!partial.exists(), "nothing of a failed export");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_case_with_two_map_files_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    dab(&root, "ana", "1");
    let out = dir.path().join("export");
    run_ok(&[
        "export",
        root.to_str().unwrap(),
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The same case as .nii.gz and as .nii (another content): which one is meant?
    let gz = out.join("ana/case01_labels.nii.gz");
    let mut other = volume::load(&gz).unwrap();
    other.data = volume::VoxelData::U8(vec![0; 20 * 20 * 8]);
    volume::nifti::write_nifti1(&other, &out.join("ana/case01_labels.nii")).unwrap();
    let output = loupe(&[
        "import",
        root.to_str().unwrap(),
        "--label-maps",
        out.join("ana").to_str().unwrap(),
        "--annotator",
        "ben",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("case01_labels.nii and case01_labels.nii.gz name the same case; keep one"),
        "{}",
        stderr(&output)
    );
    assert!(
        record(
            &root,
            item_of(&root, "case01.nii.gz").parse().unwrap(),
            "ben"
        )
        .is_none()
    );
}

#[test]
fn a_demo_takes_its_own_ground_truth_by_case_name() {
    // The brain-tumour demo's cases are named bt_0001…; their first file is
    // bt_0001_t1.nii.gz or another sequence: maps match the case's name.
    let dir = tempfile::tempdir().unwrap();
    let bt = dir.path().join("bt");
    let bt_s = bt.to_str().unwrap();
    run_ok(&[
        "demo",
        bt_s,
        "--task",
        "brain-tumour",
        "--count",
        "4",
        "--size",
        "16",
    ]);
    let printed = run_ok(&[
        "import",
        bt_s,
        "--label-maps",
        bt.join("ground_truth").to_str().unwrap(),
        "--annotator",
        "gt",
    ]);
    assert!(
        printed.contains("imported 4 label maps for gt"),
        "{printed}"
    );
    let out = dir.path().join("out");
    run_ok(&[
        "export",
        bt_s,
        "--format",
        "nifti-labels",
        "--out",
        out.to_str().unwrap(),
    ]);
    for case in 1..=4 {
        let name = format!("bt_{case:04}_labels.nii.gz");
        assert_eq!(
            std::fs::read(out.join("gt").join(&name))
                .ok()
                .map(|b| b.len())
                .is_some(),
            true,
            "{name}"
        );
    }
}

/// The pool of item `id`.
fn pool_of(root: &Path, id: &str) -> loupe::store::Pool {
    let id: i64 = id.parse().unwrap();
    Project::open(root)
        .unwrap()
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .expect("the item")
        .pool
}

#[test]
fn a_map_labels_its_item_only_where_maps_are_the_projects_target() {
    // A classification project (thyroid's class): a stroke is an annotation
    // beside the class label; the case stays to be labeled.
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_s = root.to_str().unwrap();
    let case = item_of(&root, "case01.nii.gz");
    assert_eq!(pool_of(&root, &case), loupe::store::Pool::Unlabeled);
    let stroke = |root_s: &str, case: &str| {
        run_ok(&[
            "paint",
            root_s,
            case,
            "--annotator",
            "ana",
            "--label",
            "1",
            "--at",
            "6,8,3",
        ])
    };
    stroke(root_s, &case);
    assert!(
        record(&root, case.parse().unwrap(), "ana").is_some(),
        "the map is saved"
    );
    assert_eq!(pool_of(&root, &case), loupe::store::Pool::Unlabeled);

    // A project whose schema says maps are its target: the map labels the case.
    let schema = dir.path().join("segments.json");
    std::fs::write(
        &schema,
        r#"{"name":"organs","fields":[{"name":"review","values":["accepted","redo"]}],
            "target":"review","target_is_label_map":true}"#,
    )
    .unwrap();
    let segments = dir.path().join("segments");
    let segments_s = segments.to_str().unwrap();
    run_ok(&[
        "project",
        "init",
        segments_s,
        "--schema",
        schema.to_str().unwrap(),
    ]);
    run_ok(&[
        "import",
        segments_s,
        dir.path().join("images").to_str().unwrap(),
    ]);
    let case = item_of(&segments, "case01.nii.gz");
    assert_eq!(pool_of(&segments, &case), loupe::store::Pool::Unlabeled);
    stroke(segments_s, &case);
    assert_eq!(pool_of(&segments, &case), loupe::store::Pool::Labeled);
}
