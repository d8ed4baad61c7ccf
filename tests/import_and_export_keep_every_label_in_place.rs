//! Import and export as a careful reviewer would try them: labels never
//! land on the wrong item or revert newer ones, names mean one person,
//! spreadsheets cannot run a cell, and nothing is written outside the
//! folder the user chose.

mod common;

use common::{run_ok, write_png};

use std::path::{Path, PathBuf};

use loupe::store::{ADJUDICATOR, Pool, Project};

/// Runs loupe expecting status 1 and returns its standard error.
fn run_refused(args: &[&str]) -> String {
    let output = common::loupe(args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "loupe {args:?} should fail: {}{}",
        common::stdout(&output),
        common::stderr(&output)
    );
    common::stderr(&output)
}

/// `loupe label ROOT ITEM FIELD=VALUE --annotator NAME`, which must succeed.
fn label(root: &Path, item: &str, assignment: &str, annotator: &str) {
    run_ok(&["label", s(root), item, assignment, "--annotator", annotator]);
}

fn init(dir: &Path, schema: &str) -> PathBuf {
    let root = dir.join("project");
    run_ok(&["project", "init", s(&root), "--schema", schema]);
    root
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `annotator → stage` of the item whose stored path ends with `name`.
fn stages(root: &Path, name: &str) -> Vec<(String, String)> {
    let project = Project::open(root).unwrap();
    let item = project
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.path.ends_with(name))
        .unwrap_or_else(|| panic!("no item {name}"));
    project
        .current_labels(item.id)
        .unwrap()
        .into_iter()
        .filter_map(|(annotator, fields)| Some((annotator, fields.get("stage")?.clone())))
        .collect()
}

#[test]
fn analyze_pairs_with_identical_headers_are_two_items_and_export_as_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("spm");
    std::fs::create_dir_all(&images).unwrap();
    // One header (4×3×2 uint8, `ni1` pair magic) shared byte for byte by two volumes.
    let mut header = vec![0u8; 348];
    header[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3i16, 4, 3, 2, 1, 1, 1, 1].iter().enumerate() {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    header[70..72].copy_from_slice(&2i16.to_le_bytes());
    header[72..74].copy_from_slice(&8i16.to_le_bytes());
    for i in 0..8 {
        header[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    header[344..348].copy_from_slice(b"ni1\0");
    for (name, fill) in [("first", 10u8), ("second", 200u8)] {
        std::fs::write(images.join(format!("{name}.hdr")), &header).unwrap();
        std::fs::write(images.join(format!("{name}.img")), vec![fill; 24]).unwrap();
    }
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "second.hdr,stage=Stage 2\n").unwrap();
    let root = init(dir.path(), "rop");
    let out = run_ok(&[
        "import",
        s(&root),
        s(&images),
        "--labels",
        s(&labels),
        "--annotator",
        "ana",
    ]);
    assert!(out.contains("added 2 items"), "{out}");
    assert!(out.contains("0 duplicates skipped"), "{out}");
    assert_eq!(
        stages(&root, "second.hdr"),
        [("ana".into(), "Stage 2".into())]
    );
    assert!(
        stages(&root, "first.hdr").is_empty(),
        "the label is on the second volume only"
    );

    let folders = dir.path().join("folders");
    run_ok(&[
        "export",
        s(&root),
        "--format",
        "folders",
        "--out",
        s(&folders),
    ]);
    let class = folders.join("Stage 2");
    let mut written: Vec<String> = std::fs::read_dir(&class)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["2_second.hdr", "2_second.img"],
        "the pair, not the header alone"
    );
    assert_eq!(
        std::fs::read(class.join("2_second.img")).unwrap(),
        vec![200u8; 24]
    );
}

#[test]
fn a_csv_row_two_files_fit_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_png(&images.join("a/x.png"), 10);
    write_png(&images.join("b/x.png"), 20);
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "x.png,stage=Stage 1\n").unwrap();
    let root = init(dir.path(), "rop");
    let stderr = run_refused(&["import", s(&root), s(&images), "--labels", s(&labels)]);
    assert!(
        stderr.contains("labels line 1")
            && stderr.contains("a/x.png")
            && stderr.contains("b/x.png"),
        "{stderr}"
    );
    assert!(
        Project::open(&root).unwrap().items().unwrap().is_empty(),
        "nothing imported on a guess"
    );

    // Enough of the path to tell them apart is enough.
    std::fs::write(&labels, "b/x.png,stage=Stage 1\n").unwrap();
    run_ok(&["import", s(&root), s(&images), "--labels", s(&labels)]);
    assert_eq!(
        stages(&root, "b/x.png"),
        [("import".into(), "Stage 1".into())]
    );
    assert!(stages(&root, "a/x.png").is_empty());
}

#[test]
fn reimporting_an_old_export_never_reverts_a_newer_label() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_png(&images.join("eye.png"), 10);
    write_png(&images.join("other.png"), 20);
    let root = init(dir.path(), "rop");
    run_ok(&["import", s(&root), s(&images)]);
    label(&root, "1", "stage=Stage 1", "ana");
    let old = dir.path().join("old.csv");
    run_ok(&["export", s(&root), "--out", s(&old)]);
    // Ana changes her mind after the export, and labels the other image.
    label(&root, "1", "stage=Stage 3", "ana");

    let out = run_ok(&["import", s(&root), s(&images), "--labels", s(&old)]);
    assert_eq!(
        stages(&root, "eye.png"),
        [("ana".into(), "Stage 3".into())],
        "{out}"
    );
    assert!(
        out.contains("kept newer label") && out.contains("\"Stage 1\" is older"),
        "{out}"
    );
    assert!(out.contains("0 labels"), "{out}");

    // The current export re-imports as a no-op: no history appended.
    let current = dir.path().join("current.csv");
    run_ok(&["export", s(&root), "--out", s(&current)]);
    let history_before = history_len(&root);
    let out = run_ok(&["import", s(&root), s(&images), "--labels", s(&current)]);
    assert!(out.contains("0 labels (1 already there, 0 older"), "{out}");
    assert_eq!(history_len(&root), history_before);

    // A CSV made later than the label (its labeled_at says so) does replace it.
    let newer = dir.path().join("newer.csv");
    std::fs::write(
        &newer,
        "path,annotator,stage,labeled_at\nimages/eye.png,ana,Stage 2,2999-01-01T00:00:00Z\n",
    )
    .unwrap();
    run_ok(&["import", s(&root), s(&images), "--labels", s(&newer)]);
    assert_eq!(stages(&root, "eye.png"), [("ana".into(), "Stage 2".into())]);
}

fn history_len(root: &Path) -> usize {
    let project = Project::open(root).unwrap();
    project
        .items()
        .unwrap()
        .iter()
        .map(|i| project.history(i.id).unwrap().len())
        .sum()
}

#[test]
fn annotator_names_follow_one_rule_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_png(&images.join("eye.png"), 10);
    let root = init(dir.path(), "rop");
    run_ok(&["import", s(&root), s(&images)]);
    label(&root, "1", "stage=Stage 1", " ana ");
    label(&root, "1", "zone=II", "ana");
    let labels = Project::open(&root).unwrap().current_labels(1).unwrap();
    assert_eq!(
        labels.keys().collect::<Vec<_>>(),
        ["ana"],
        "one person, not two"
    );

    let stderr = run_refused(&[
        "label",
        s(&root),
        "1",
        "stage=Stage 2",
        "--annotator",
        "Adjudicated",
    ]);
    assert!(stderr.contains("reserved"), "{stderr}");
    // The name painting needs for its map files is the name labeling takes.
    for unnamable in ["CON", "..", "."] {
        let stderr = run_refused(&[
            "label",
            s(&root),
            "1",
            "stage=Stage 2",
            "--annotator",
            unnamable,
        ]);
        assert!(
            stderr.contains("cannot name a file"),
            "{unnamable}: {stderr}"
        );
    }
    let stderr = run_refused(&["import", s(&root), s(&images), "--annotator", ""]);
    assert!(stderr.contains("annotator name is empty"), "{stderr}");

    let csv = dir.path().join("adjudicated.csv");
    std::fs::write(
        &csv,
        format!("path,annotator,stage\neye.png,{ADJUDICATOR},Stage 3\n"),
    )
    .unwrap();
    let stderr = run_refused(&["import", s(&root), s(&images), "--labels", s(&csv)]);
    assert!(
        stderr.contains("--adjudications") && stderr.contains("line 2"),
        "{stderr}"
    );
    run_ok(&[
        "import",
        s(&root),
        s(&images),
        "--labels",
        s(&csv),
        "--adjudications",
    ]);
    assert_eq!(
        Project::open(&root)
            .unwrap()
            .consensus(1, "stage")
            .unwrap()
            .as_deref(),
        Some("Stage 3")
    );
}

#[test]
fn excel_csv_with_byte_order_mark_and_any_line_ending_imports() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    for (i, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        write_png(&images.join(name), i as u8 * 50);
    }
    let csv = dir.path().join("excel.csv");
    std::fs::write(
        &csv,
        "\u{feff}path,stage,annotator\r\na.png,Stage 1,ana\rb.png,Stage 2,ana\nc.png,\"Stage 3\",ana\r\n",
    )
    .unwrap();
    let root = init(dir.path(), "rop");
    let out = run_ok(&["import", s(&root), s(&images), "--labels", s(&csv)]);
    assert!(out.contains("3 labels"), "{out}");
    assert_eq!(stages(&root, "b.png"), [("ana".into(), "Stage 2".into())]);

    std::fs::write(&csv, "path,stagee\na.png,Stage 1\n").unwrap();
    let stderr = run_refused(&["import", s(&root), s(&images), "--labels", s(&csv)]);
    assert!(
        stderr.contains("column \"stagee\" is not a field"),
        "{stderr}"
    );
}

#[test]
fn exported_cells_never_run_as_formulas_and_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = init(dir.path(), "rop");
    // Inside the project folder the stored path is the bare name: a cell that starts with `=`.
    let image = root.join("=HYPERLINK(1).png");
    write_png(&image, 10);
    run_ok(&["import", s(&root), s(&image)]);
    label(&root, "1", "stage=Stage 1", "@ana");
    let export = run_ok(&["export", s(&root)]);
    let row = export.lines().nth(1).unwrap();
    assert!(
        row.contains(",'=HYPERLINK(1).png,") && row.contains(",'@ana,"),
        "{row}"
    );
    for cell in row.split(',') {
        assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell:?} in {row}");
    }
    let file = dir.path().join("export.csv");
    std::fs::write(&file, &export).unwrap();
    let copy = dir.path().join("copy");
    run_ok(&["project", "init", s(&copy), "--schema", "rop"]);
    run_ok(&["import", s(&copy), s(&image), "--labels", s(&file)]);
    assert_eq!(
        stages(&copy, "=HYPERLINK(1).png"),
        [("@ana".into(), "Stage 1".into())]
    );
}

#[test]
fn schema_fields_named_like_export_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"name": "x", "target": "path", "fields": [{"name": "path", "values": ["a", "b"]}]}"#,
    )
    .unwrap();
    let stderr = run_refused(&[
        "project",
        "init",
        s(&dir.path().join("p")),
        "--schema",
        s(&schema),
    ]);
    assert!(
        stderr.contains("\"path\" is one of the CSV export's own columns"),
        "{stderr}"
    );
}

#[test]
fn class_folders_stay_inside_the_chosen_folder() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"name": "x", "target": "kind", "fields": [{"name": "kind", "values": ["..", "a/b", "CON", "fine"]}]}"#,
    )
    .unwrap();
    let root = dir.path().join("project");
    run_ok(&["project", "init", s(&root), "--schema", s(&schema)]);
    let images = dir.path().join("images");
    write_png(&images.join("one.png"), 1);
    run_ok(&["import", s(&root), s(&images)]);
    let out = dir.path().join("out");

    label(&root, "1", "kind=a/b", "ana");
    run_ok(&["export", s(&root), "--format", "folders", "--out", s(&out)]);
    // "a/b" is no folder name: made safe, with its hash (the naming rule).
    let folders: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        folders.len() == 1 && folders[0].starts_with("a_b-"),
        "{folders:?}"
    );
    assert!(out.join(&folders[0]).join("1_one.png").is_file());

    let again = dir.path().join("again");
    for value in ["..", "CON"] {
        label(&root, "1", &format!("kind={value}"), "ana");
        let stderr = run_refused(&[
            "export",
            s(&root),
            "--format",
            "folders",
            "--out",
            s(&again),
        ]);
        assert!(
            stderr.contains("cannot be a file or folder name"),
            "{stderr}"
        );
        assert!(!again.exists(), "nothing of a refused export");
    }
    assert!(
        !dir.path().join("1_one.png").exists(),
        "nothing written beside --out"
    );

    #[cfg(unix)]
    {
        // The chosen folder itself a link: refused, nothing written through it.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        label(&root, "1", "kind=fine", "ana");
        let stderr = run_refused(&["export", s(&root), "--format", "folders", "--out", s(&link)]);
        assert!(stderr.contains("symbolic link"), "{stderr}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written through the link"
        );
    }
}

#[test]
fn a_demo_never_overwrites_a_folder_of_the_users() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(mine.join("images")).unwrap();
    std::fs::write(mine.join("ground_truth.csv"), "my own notes").unwrap();
    let stderr = run_refused(&["demo", s(&mine), "--count", "8", "--size", "32"]);
    assert!(
        stderr.contains("is not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("ground_truth.csv")).unwrap(),
        "my own notes"
    );
    assert!(!loupe::store::is_project(&mine));

    std::fs::write(mine.join("keep.txt"), "kept").unwrap();
    std::fs::remove_file(mine.join("ground_truth.csv")).unwrap();
    run_ok(&["demo", s(&mine), "--count", "8", "--size", "32", "--force"]);
    assert_eq!(
        std::fs::read_to_string(mine.join("keep.txt")).unwrap(),
        "kept"
    );
    assert!(loupe::store::is_project(&mine));

    let stderr = run_refused(&[
        "demo",
        s(&dir.path().join("big")),
        "--count",
        "18446744073709551615",
    ]);
    assert!(
        stderr.contains("--count") && stderr.contains("100000"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn the_import_walk_survives_link_loops_pipes_and_broken_links() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_png(&images.join("real.png"), 10);
    std::os::unix::fs::symlink(".", images.join("loop1")).unwrap();
    std::os::unix::fs::symlink(".", images.join("loop2")).unwrap();
    std::os::unix::fs::symlink(images.join("gone.png"), images.join("broken.png")).unwrap();
    let fifo = images.join("pipe.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let root = init(dir.path(), "rop");

    let started = std::time::Instant::now();
    let out = run_ok(&["import", s(&root), s(&images)]);
    assert!(started.elapsed().as_secs() < 60, "no hang");
    assert!(out.contains("added 1 items"), "{out}");
    assert!(out.contains("pipe.png: not a regular file"), "{out}");
    assert!(out.contains("broken.png: cannot be read"), "{out}");
    assert!(
        out.contains("loop1: a link to a folder (not followed)"),
        "{out}"
    );
    assert_eq!(
        Project::open(&root).unwrap().items().unwrap()[0].pool,
        Pool::Unlabeled
    );
}

#[test]
fn importing_the_project_folder_leaves_loupes_own_files_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = init(dir.path(), "rop");
    write_png(&root.join("images/eye.png"), 10);
    // What the window leaves there: a cached thumbnail and a run's files.
    write_png(&root.join("cache/thumbnails/0123abcd.png"), 20);
    write_png(&root.join("runs/2026-01-01-supervised/sample.png"), 30);
    let out = run_ok(&["import", s(&root), s(&root)]);
    assert!(out.contains("added 1 items"), "{out}");
    assert!(out.contains("Loupe's own file"), "{out}");
}
