//! Broken and hostile files get a clear error naming the file and the
//! problem, exit status 1, and never a panic or a huge allocation.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

/// A NIfTI-1 single-file header (little-endian) followed by `data`.
fn nifti1(dim: [i16; 8], datatype: i16, bitpix: i16, vox_offset: f32, data: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    for i in 0..8 {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&vox_offset.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(data);
    h
}

/// A NIfTI-2 single-file header (little-endian) followed by `data`.
fn nifti2(dim: [i64; 8], datatype: i16, data: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 544];
    h[0..4].copy_from_slice(&540i32.to_le_bytes());
    h[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    h[12..14].copy_from_slice(&datatype.to_le_bytes());
    for (i, d) in dim.iter().enumerate() {
        h[16 + 8 * i..24 + 8 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[168..176].copy_from_slice(&544i64.to_le_bytes());
    h.extend_from_slice(data);
    h
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `loupe info` on the file fails with status 1 and a message naming the file and `reason`.
fn assert_refused(path: &Path, reason: &str) {
    let output = common::loupe(&["info", "--json", path.to_str().unwrap()]);
    let stderr = common::stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}: status {:?}, stderr: {stderr}",
        path.display(),
        output.status
    );
    assert!(
        common::stdout(&output).is_empty(),
        "no JSON for a broken file"
    );
    let file_name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains(file_name),
        "message names the file: {stderr}"
    );
    assert!(
        stderr.contains(reason),
        "message for {file_name} says {reason:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const GOOD_DIM: [i16; 8] = [3, 4, 3, 2, 1, 1, 1, 1];

#[test]
fn broken_nifti_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let voxels = vec![7u8; 24];

    // Sanity: the builder makes a file Loupe reads.
    let good = write(d, "good.nii", &nifti1(GOOD_DIM, 2, 8, 352.0, &voxels));
    assert!(
        common::loupe(&["info", good.to_str().unwrap()])
            .status
            .success()
    );

    assert_refused(&write(d, "empty.nii", b""), "file is empty");
    assert_refused(&write(d, "garbage.nii", &[0xAB; 600]), "not a NIfTI file");
    assert_refused(&write(d, "short.nii", &[1, 2, 3]), "truncated");
    let full = nifti1(GOOD_DIM, 2, 8, 352.0, &voxels);
    assert_refused(&write(d, "cut_header.nii", &full[..200]), "truncated");
    assert_refused(
        &write(d, "cut_data.nii", &full[..full.len() - 5]),
        "truncated",
    );
    assert_refused(&write(d, "cut.nii.gz", &gzip(&full)[..40]), "truncated");
    let gz = gzip(&full);
    assert_refused(
        &write(d, "cut_end.nii.gz", &gz[..gz.len() - 12]),
        "truncated",
    );
    let mut corrupt_gz = gz.clone();
    for b in corrupt_gz[12..30].iter_mut() {
        *b ^= 0x5A;
    }
    assert_refused(&write(d, "corrupt.nii.gz", &corrupt_gz), "corrupt");

    assert_refused(
        &write(
            d,
            "negative.nii",
            &nifti1([3, 4, -3, 2, 1, 1, 1, 1], 2, 8, 352.0, &voxels),
        ),
        "dim[2] = -3 must be positive",
    );
    assert_refused(
        &write(
            d,
            "zero.nii",
            &nifti1([3, 4, 0, 2, 1, 1, 1, 1], 2, 8, 352.0, &voxels),
        ),
        "dim[2] = 0 must be positive",
    );
    assert_refused(
        &write(
            d,
            "dim0.nii",
            &nifti1([0, 4, 3, 2, 1, 1, 1, 1], 2, 8, 352.0, &voxels),
        ),
        "dim[0] = 0 is out of range",
    );
    assert_refused(
        &write(
            d,
            "dim9.nii",
            &nifti1([9, 4, 3, 2, 1, 1, 1, 1], 2, 8, 352.0, &voxels),
        ),
        "dim[0] = 9 is out of range",
    );
    assert_refused(
        &write(
            d,
            "five_d.nii",
            &nifti1([5, 4, 3, 2, 1, 1, 1, 1], 2, 8, 352.0, &voxels),
        ),
        "5-D image",
    );
    // Claims 32767⁴ float64 voxels (an overflow-sized request) from a few bytes.
    let huge = [4, 32767, 32767, 32767, 32767, 1, 1, 1];
    assert_refused(
        &write(d, "overflow.nii", &nifti1(huge, 64, 64, 352.0, &voxels)),
        "need",
    );
    assert_refused(
        &write(
            d,
            "overflow.nii.gz",
            &gzip(&nifti1(huge, 64, 64, 352.0, &voxels)),
        ),
        "need",
    );
    // NIfTI-2's 64-bit dims can describe more bytes than an address space holds.
    let vast = [3, 1 << 40, 1 << 40, 1 << 40, 1, 1, 1, 1];
    assert_refused(
        &write(d, "overflow2.nii", &nifti2(vast, 2, &voxels)),
        "more voxels than any file can hold",
    );
    let nifti2_good = nifti2([3, 4, 3, 2, 1, 1, 1, 1], 2, &voxels);
    assert!(
        common::loupe(&[
            "info",
            write(d, "good2.nii", &nifti2_good).to_str().unwrap()
        ])
        .status
        .success()
    );
    assert_refused(
        &write(d, "cut2.nii", &nifti2_good[..300]),
        "ends inside the NIfTI header",
    );
    assert_refused(
        &write(
            d,
            "exceeds.nii",
            &nifti1([3, 100, 100, 100, 1, 1, 1, 1], 4, 16, 352.0, &voxels),
        ),
        "truncated",
    );
    assert_refused(
        &write(
            d,
            "exceeds.nii.gz",
            &gzip(&nifti1(
                [3, 1000, 1000, 1000, 1, 1, 1, 1],
                4,
                16,
                352.0,
                &voxels,
            )),
        ),
        "need",
    );
    assert_refused(
        &write(
            d,
            "offset_past_end.nii",
            &nifti1(GOOD_DIM, 2, 8, 100000.0, &voxels),
        ),
        "vox_offset",
    );
    assert_refused(
        &write(
            d,
            "offset_in_header.nii",
            &nifti1(GOOD_DIM, 2, 8, 100.0, &voxels),
        ),
        "vox_offset 100 lies inside",
    );
    assert_refused(
        &write(
            d,
            "offset_nan.nii",
            &nifti1(GOOD_DIM, 2, 8, f32::NAN, &voxels),
        ),
        "vox_offset",
    );
    assert_refused(
        &write(d, "datatype.nii", &nifti1(GOOD_DIM, 99, 8, 352.0, &voxels)),
        "unknown datatype code 99",
    );
    assert_refused(
        &write(d, "complex.nii", &nifti1(GOOD_DIM, 32, 64, 352.0, &voxels)),
        "complex datatype",
    );
    let mut no_magic = nifti1(GOOD_DIM, 2, 8, 352.0, &voxels);
    no_magic[344..348].copy_from_slice(b"\0\0\0\0");
    assert_refused(&write(d, "analyze.nii", &no_magic), "no NIfTI-1 magic");

    let mut pair_header = nifti1(GOOD_DIM, 2, 8, 0.0, &[]);
    pair_header.truncate(348);
    pair_header[344..348].copy_from_slice(b"ni1\0");
    assert_refused(
        &write(d, "lonely.hdr", &pair_header),
        "missing its .img data file",
    );
    write(d, "short_pair.hdr", &pair_header);
    assert_refused(&write(d, "short_pair.img", &voxels[..10]), "truncated");
}

#[test]
fn broken_raster_images_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut png = Vec::new();
    image::GrayImage::from_pixel(16, 16, image::Luma([9]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_refused(
        &write(d, "cut.png", &png[..png.len() / 2]),
        "cannot decode image",
    );
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(16, 16, image::Rgb([9, 9, 9]))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let mut corrupt = jpeg.clone();
    corrupt.truncate(corrupt.len() / 3);
    assert_refused(&write(d, "cut.jpg", &corrupt), "cannot decode image");
    assert_refused(&write(d, "empty.png", b""), "file is empty");
    assert_refused(
        &write(d, "notes.txt", b"hello, not an image"),
        "not a recognised image",
    );
    // A BMP header claiming 60000 × 60000 RGB (10.8 GB) in 66 bytes: found by
    // the hostile-bytes test, once an abort on the allocation.
    let mut bmp = Vec::new();
    image::RgbImage::from_pixel(2, 2, image::Rgb([9, 9, 9]))
        .write_to(&mut std::io::Cursor::new(&mut bmp), image::ImageFormat::Bmp)
        .unwrap();
    bmp[18..22].copy_from_slice(&60_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&60_000i32.to_le_bytes());
    assert_refused(&write(d, "vast.bmp", &bmp), "60000 × 60000 image");
    // A pipe would block a reader forever; a folder is not an image.
    #[cfg(unix)]
    {
        let fifo = d.join("pipe.nii");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_refused(&fifo, "not a regular file");
        let folder = d.join("folder.png");
        std::fs::create_dir_all(&folder).unwrap();
        assert_refused(&folder, "is a folder");
    }
    let missing = d.join("missing.nii");
    let output = common::loupe(&["info", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stderr(&output).contains("missing.nii"));
}

/// Every text file a user names (cases, labels and exams CSVs, a training
/// configuration, a schema) is refused at once when it is a device or a
/// FIFO — never read without end, never waited on — and `--stdin` lines are
/// bounded: an endless line is an error, a line that is not UTF-8 is
/// reported and the lines after it still apply.
#[cfg(unix)]
#[test]
fn text_inputs_are_regular_bounded_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let project = d.join("p");
    let p = project.to_str().unwrap();
    common::run_ok(&["project", "init", p, "--schema", "rop"]);
    let fifo = d.join("pipe.csv");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let f = fifo.to_str().unwrap();
    let init = d.join("q");
    let q = init.to_str().unwrap();
    let attempts: [(Vec<&str>, &str); 8] = [
        (vec!["import", p, "--cases", "/dev/zero"], "is a device"),
        (vec!["import", p, "--cases", f], "a FIFO"),
        (vec!["import", p, "--exams", "/dev/zero"], "is a device"),
        (
            vec!["import", p, "some.png", "--labels", "/dev/zero"],
            "is a device",
        ),
        (vec!["import", p, "some.png", "--labels", f], "a FIFO"),
        (
            vec!["train", p, "--config", "/dev/zero", "--device", "flex"],
            "is a device",
        ),
        (
            vec!["train", p, "--config", f, "--device", "flex"],
            "a FIFO",
        ),
        (vec!["project", "init", q, "--schema", f], "a FIFO"),
    ];
    for (args, reason) in attempts {
        let output = common::loupe(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let said = common::stderr(&output);
        assert!(said.contains(reason), "{args:?}: {said}");
    }
    // A configuration over the JSON limit is refused without reading it all.
    let big = d.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(loupe::user_file::MAX_JSON_BYTES + 1)
        .unwrap();
    let output = common::loupe(&["train", p, "--config", big.to_str().unwrap()]);
    assert!(common::stderr(&output).contains("larger than 16 MiB"));
    // `label --stdin` from an endless stream without line breaks.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["label", p, "--annotator", "a", "--stdin"])
        .stdin(zero)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stderr(&output).contains("line 1 is longer than 64 KiB"));
    // A line that is not UTF-8 fails alone; the next line still applies.
    let image = d.join("img.png");
    common::write_png(&image, 90);
    common::run_ok(&["import", p, image.to_str().unwrap()]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["label", p, "--annotator", "a", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"\xff\xfe stage=Normal\n1 stage=Normal\n")
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let said = common::stderr(&output);
    assert!(said.contains("error line 1: not UTF-8 text"), "{said}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok 1\n");
}

#[test]
fn an_import_names_every_file_it_cannot_decode() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    common::write_png(&images.join("good.png"), 40);
    common::write_png(&images.join("full.png"), 90);
    let whole = std::fs::read(images.join("full.png")).unwrap();
    write(&images, "truncated.png", &whole[..whole.len() / 2]);
    write(&images, "empty.png", b"");
    // A header claiming 8³ voxels over 10 bytes of data.
    write(
        &images,
        "lying.nii",
        &nifti1([3, 8, 8, 8, 1, 1, 1, 1], 2, 8, 352.0, &[0; 10]),
    );
    std::fs::remove_file(images.join("full.png")).unwrap();
    let named = write(dir.path(), "scan.dcm", b"not DICOM at all, only a name");
    let root = dir.path().join("project");
    let root_s = root.to_str().unwrap();
    common::run_ok(&["project", "init", root_s, "--schema", "thyroid"]);
    let printed = common::run_ok(&[
        "import",
        root_s,
        images.to_str().unwrap(),
        named.to_str().unwrap(),
    ]);
    for (file, why) in [
        ("truncated.png", "does not decode"),
        ("empty.png", "file is empty"),
        ("lying.nii", "file is truncated or its header is wrong"),
        ("scan.dcm", "not a recognised image"),
    ] {
        assert!(
            printed
                .lines()
                .any(|l| l.starts_with("skipped ") && l.contains(file) && l.contains(why)),
            "{file}: {why} missing from:\n{printed}"
        );
    }
    assert!(
        printed.contains("added 1 items") && printed.contains("4 files skipped"),
        "{printed}"
    );
    let items = loupe::store::Project::open(&root).unwrap().items().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].path.ends_with("good.png"));
}

#[test]
fn refusals_are_one_line_saying_what_failed_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    let p_s = p.to_str().unwrap();
    common::run_ok(&[
        "demo", p_s, "--task", "lung", "--count", "12", "--size", "16",
    ]);
    let no_ct = loupe::store::Project::open(&p)
        .unwrap()
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.path.is_empty())
        .expect("the lung demo has a case without a CT")
        .id
        .to_string();
    let missing_folder = dir.path().join("no/such/folder/x.csv");
    for (args, expected, unwanted) in [
        (
            vec!["label", "--bogus"],
            "unexpected argument '--bogus'",
            "Usage",
        ),
        (
            vec!["eval", p_s, "--run", "nope", "--device", "flex"],
            "cannot evaluate the run: no run nope",
            "cannot train",
        ),
        (
            vec![
                "export",
                p_s,
                "--format",
                "csv",
                "--out",
                missing_folder.to_str().unwrap(),
            ],
            "No such file or directory",
            "cannot read",
        ),
        (
            vec!["paint", p_s, &no_ct, "--annotator", "ana", "--at", "1,1,1"],
            "has no image to paint on",
            "is a folder",
        ),
    ] {
        let output = common::loupe(&args);
        let stderr = common::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains(unwanted), "{args:?}: {stderr}");
        assert!(
            stderr.matches("os error").count() <= 1,
            "the OS error once: {stderr}"
        );
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `loupe export … | head -c 10`: 600 KB of JSON, the reader gone after 10 bytes.
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    let p_s = p.to_str().unwrap();
    common::run_ok(&[
        "demo", p_s, "--task", "rop", "--count", "2000", "--size", "32",
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["export", p_s, "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = common::stderr(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}
