//! A clinic brings in cases — a CT and a questionnaire each — from a
//! spreadsheet, reviews them in the window (a missing CT is shown as
//! missing), corrects a record, and exports the cases again.

mod common;

use std::path::Path;

use egui_kittest::kittest::Queryable;

const SCHEMA: &str = r#"{
  "name": "screening",
  "fields": [{"name": "cancer", "values": ["no", "yes"]}],
  "target": "cancer",
  "modalities": ["ct"],
  "tabular": [
    {"name": "age", "type": "number", "unit": "years", "min": 18, "max": 110},
    {"name": "smoking", "type": "category", "values": ["never", "former", "current"]},
    {"name": "cough", "type": "yes-no"},
    {"name": "pack_years", "type": "number", "min": 0, "max": 300, "missing_allowed": true}
  ]
}"#;

/// A project with the screening schema and a CT file beside a cases CSV.
fn project(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("screening");
    std::fs::write(dir.join("schema.json"), SCHEMA).unwrap();
    common::run_ok(&[
        "project",
        "init",
        root.to_str().unwrap(),
        "--schema",
        dir.join("schema.json").to_str().unwrap(),
    ]);
    let ct = loupe::synth::phantom::ct_phantom(16, 1);
    loupe::volume::nifti::write_nifti1(&ct, &dir.join("a_ct.nii.gz")).unwrap();
    root
}

#[test]
fn cases_import_checked_row_by_row_and_export_the_same_shape() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_str = root.to_str().unwrap();
    let csv = dir.path().join("cases.csv");
    // Row 3 has an age below the schema's minimum: nothing is imported.
    std::fs::write(
        &csv,
        "case,ct,age,smoking,cough,pack_years,cancer,pool\n\
         A,a_ct.nii.gz,61,former,yes,22.5,yes,\n\
         B,,17,never,no,,,test\n",
    )
    .unwrap();
    let out = common::loupe(&["import", root_str, "--cases", csv.to_str().unwrap()]);
    let error = common::stderr(&out);
    assert!(!out.status.success());
    assert!(
        error.contains("line 3, column age") && error.contains("below the minimum 18"),
        "{error}"
    );
    assert!(
        loupe::store::Project::open(&root)
            .unwrap()
            .items()
            .unwrap()
            .is_empty()
    );

    std::fs::write(
        &csv,
        "case,ct,age,smoking,cough,pack_years,cancer,pool\n\
         A,a_ct.nii.gz,61,former,yes,22.5,yes,\n\
         B,,70,never,no,,,test\n",
    )
    .unwrap();
    let report = common::run_ok(&["import", root_str, "--cases", csv.to_str().unwrap()]);
    assert!(
        report.contains("imported 2 cases (1 in the test pool"),
        "{report}"
    );
    let exported = common::run_ok(&["export", root_str, "--format", "cases"]);
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines[0], "case,ct,age,smoking,cough,pack_years,cancer,pool");
    let ct = std::fs::canonicalize(dir.path().join("a_ct.nii.gz")).unwrap();
    assert_eq!(
        lines[1],
        format!("A,{},61,former,yes,22.5,yes,labeled", ct.display())
    );
    assert_eq!(lines[2], "B,,70,never,no,,,test");
    // The export imports back as it was.
    std::fs::write(&csv, &exported).unwrap();
    let again = common::run_ok(&["import", root_str, "--cases", csv.to_str().unwrap()]);
    assert!(
        again.contains("imported 0 cases") && again.contains("2 already"),
        "{again}"
    );
    assert_eq!(
        common::run_ok(&["export", root_str, "--format", "cases"]),
        exported
    );
}

#[test]
fn the_window_shows_a_missing_ct_as_missing_and_edits_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let csv = dir.path().join("cases.csv");
    std::fs::write(
        &csv,
        "case,ct,age,smoking,cough,pack_years,cancer\n\
         A,a_ct.nii.gz,61,former,yes,22.5,\n\
         B,,70,never,no,,\n",
    )
    .unwrap();
    common::run_ok(&[
        "import",
        root.to_str().unwrap(),
        "--cases",
        csv.to_str().unwrap(),
    ]);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Next >").click();
    harness.run();
    let state = harness.state().state();
    let session = state.session.as_ref().unwrap();
    let row = session.selected_row().unwrap();
    // The case without a CT: its modality is marked missing, no error.
    assert_eq!(row.case.as_deref(), Some("B"));
    harness.get_by_label("ct (missing)");
    assert!(harness.state().state().document.is_none());
    assert!(
        harness
            .state()
            .state()
            .notice
            .as_ref()
            .is_some_and(|n| !n.is_error),
        "a missing modality is information, not an error"
    );
    let b = row.item.id;
    // Correct the record: cough yes, and a typed age.
    harness.get_by_label("cough").click();
    harness.run();
    harness.get_by_label("yes").click();
    harness.run();
    // A typed age past the schema's maximum is refused by name; the record keeps 70.
    let type_age = |harness: &mut egui_kittest::Harness<'static, loupe::ui::LoupeApp>,
                    text: &str| {
        harness.get_by_label("age (years)").click();
        harness.run();
        for _ in 0..3 {
            harness.key_press(egui::Key::Backspace);
        }
        harness.get_by_label("age (years)").type_text(text);
        harness.run();
        harness.key_press(egui::Key::Enter);
        harness.run();
    };
    type_age(&mut harness, "170");
    let notice = harness.state().state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text.contains("above the maximum 110"),
        "{}",
        notice.text
    );
    type_age(&mut harness, "71");
    let project = loupe::store::Project::open(&root).unwrap();
    let record = project.record(b).unwrap();
    assert_eq!(record.get("cough").map(String::as_str), Some("yes"));
    assert_eq!(record.get("age").map(String::as_str), Some("71"));
    let history = project.record_history(b).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.annotator, harness.state().state().settings.annotator);

    // The case with a CT shows it in the viewer.
    harness.get_by_label("< Previous").click();
    harness.run();
    assert!(harness.state().state().document.is_some());
    harness.get_by_label("ct");
}

/// Every annotation of every item, as (item, annotator, field, value).
fn all_annotations(root: &Path) -> Vec<(i64, String, String, Option<String>)> {
    let project = loupe::store::Project::open(root).unwrap();
    let mut out = Vec::new();
    for item in project.items().unwrap() {
        for a in project.history(item.id).unwrap() {
            out.push((item.id, a.annotator, a.field, a.value));
        }
    }
    out
}

#[test]
fn reimporting_the_export_changes_nothing_and_a_changed_row_keeps_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_str = root.to_str().unwrap();
    let b_ct = loupe::synth::phantom::ct_phantom(16, 2);
    loupe::volume::nifti::write_nifti1(&b_ct, &dir.path().join("b_ct.nii.gz")).unwrap();
    let csv = dir.path().join("cases.csv");
    std::fs::write(
        &csv,
        "case,ct,age,smoking,cough,pack_years,cancer,pool\n\
         A,a_ct.nii.gz,61,former,yes,22.5,yes,\n\
         B,b_ct.nii.gz,70,never,no,,no,test\n",
    )
    .unwrap();
    let csv_s = csv.to_str().unwrap();
    common::run_ok(&[
        "import",
        root_str,
        "--cases",
        csv_s,
        "--annotator",
        "reference",
    ]);
    let before = all_annotations(&root);
    assert_eq!(before.len(), 2);

    // The project's own export, imported again (the default annotator):
    // no annotation, no annotator, no record edit added.
    let exported = common::run_ok(&["export", root_str, "--format", "cases"]);
    std::fs::write(&csv, &exported).unwrap();
    let again = common::run_ok(&["import", root_str, "--cases", csv_s]);
    assert!(
        again.contains("imported 0 cases") && again.contains("0 labels (2 already there)"),
        "{again}"
    );
    assert_eq!(all_annotations(&root), before, "nothing added");
    let stats = common::run_ok(&["stats", root_str]);
    assert!(stats.contains("annotators: reference\n"), "{stats}");

    // A row naming another CT, another pool and another label for case A:
    // the project's case is kept, each kept value printed; nothing written.
    let a_ct = std::fs::canonicalize(dir.path().join("a_ct.nii.gz")).unwrap();
    let b_ct = std::fs::canonicalize(dir.path().join("b_ct.nii.gz")).unwrap();
    std::fs::write(
        &csv,
        format!(
            "case,ct,age,smoking,cough,pack_years,cancer,pool\n\
             A,{},61,former,yes,22.5,no,test\n",
            b_ct.display()
        ),
    )
    .unwrap();
    let kept = common::run_ok(&["import", root_str, "--cases", csv_s]);
    for line in [
        format!(
            "line 2: case A: kept ct {} (the row's {})",
            a_ct.display(),
            b_ct.display()
        ),
        "line 2: case A: kept pool labeled (the row's test)".to_string(),
        "line 2: case A: kept cancer \"yes\" (the row's \"no\")".to_string(),
        "line 2: case A's ct is the same file as case B's".to_string(),
    ] {
        assert!(kept.contains(&line), "{line:?} missing from:\n{kept}");
    }
    assert_eq!(all_annotations(&root), before, "the case is kept");
}

#[test]
fn a_modality_file_that_is_not_a_volume_is_refused_at_import() {
    let dir = tempfile::tempdir().unwrap();
    let root = project(dir.path());
    let root_str = root.to_str().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notes.txt"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(d.join("empty.nii"), b"").unwrap();
    image::GrayImage::from_pixel(1, 1, image::Luma([7u8]))
        .save(d.join("dot.png"))
        .unwrap();
    // A header claiming 16³ voxels with a quarter of them in the file.
    let full =
        loupe::volume::nifti::encode_nifti1(&loupe::synth::phantom::ct_phantom(16, 3), false)
            .unwrap();
    std::fs::write(d.join("short.nii"), &full[..full.len() / 4]).unwrap();
    for (file, why) in [
        ("notes.txt", "not a recognised image"),
        ("empty.nii", "file is empty"),
        ("dot.png", "is a 2-D image (1×1); a case's ct is a volume"),
        ("short.nii", "file is truncated or its header is wrong"),
    ] {
        let csv = d.join("cases.csv");
        std::fs::write(
            &csv,
            format!(
                "case,ct,age,smoking,cough,pack_years,cancer,pool\n\
                 A,a_ct.nii.gz,61,former,yes,22.5,yes,\n\
                 X,{file},61,former,yes,22.5,yes,\n"
            ),
        )
        .unwrap();
        let out = common::loupe(&["import", root_str, "--cases", csv.to_str().unwrap()]);
        let error = common::stderr(&out);
        assert!(!out.status.success(), "{file} accepted");
        assert!(
            error.contains("line 3, column ct") && error.contains(why),
            "{file}: {error}"
        );
    }
    assert!(
        loupe::store::Project::open(&root)
            .unwrap()
            .items()
            .unwrap()
            .is_empty()
    );
}
