//! Scripted work on a project: init, import (with labels, duplicates and a
//! stratified test pool), label, export and re-import, stats, demo.

mod common;

use common::{run_ok, write_png};

use std::path::Path;

use loupe::store::{Pool, Project, csv};

/// Export rows keyed by file name and annotator, without ids and times.
fn label_rows(root: &Path) -> Vec<Vec<String>> {
    let text = run_ok(&["export", root.to_str().unwrap(), "--format", "csv"]);
    let rows = csv::parse(&text).unwrap();
    let header = rows[0].clone();
    let keep: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, c)| !["id", "labeled_at", "path"].contains(&c.as_str()))
        .map(|(i, _)| i)
        .collect();
    let path = header.iter().position(|c| c == "path").unwrap();
    let mut out: Vec<Vec<String>> = rows[1..]
        .iter()
        .map(|r| {
            let mut row = vec![r[path].rsplit('/').next().unwrap().to_string()];
            row.extend(keep.iter().map(|&i| r[i].clone()));
            row
        })
        .collect();
    out.sort();
    out
}

#[test]
fn import_label_export_and_reimport_reproduce_every_label() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    for i in 0..20 {
        write_png(
            &images.join(format!("sub{}/img{i:02}.png", i % 3)),
            i as u8 * 10,
        );
    }
    // An exact duplicate under another name.
    std::fs::copy(images.join("sub0/img00.png"), images.join("copy_of_00.png")).unwrap();
    let labels = dir.path().join("labels.csv");
    let mut text = String::new();
    for i in 0..12 {
        let stage = ["Normal", "Stage 1", "Stage 2"][i % 3];
        text.push_str(&format!(
            "sub{}/img{i:02}.png,stage={stage},zone=II\n",
            i % 3
        ));
    }
    std::fs::write(&labels, text).unwrap();

    let root = dir.path().join("project");
    run_ok(&["project", "init", root.to_str().unwrap(), "--schema", "rop"]);
    let out = run_ok(&[
        "import",
        root.to_str().unwrap(),
        images.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--test-fraction",
        "0.25",
        "--seed",
        "3",
        "--annotator",
        "ana",
    ]);
    assert!(out.contains("added 20 items"), "{out}");
    assert!(out.contains("duplicate (same bytes as item"), "{out}");

    let project = Project::open(&root).unwrap();
    let items = project.items().unwrap();
    let test = items.iter().filter(|i| i.pool == Pool::Test).count();
    assert_eq!(
        test, 5,
        "25 % of each label group, rounded: 1 + 1 + 1 of the labeled, 2 of 8 unlabeled"
    );
    let labeled = items.iter().filter(|i| i.pool == Pool::Labeled).count();
    assert_eq!(labeled, 12 - 3);
    drop(project);

    // One label by id, a batch on stdin, a bad value refused with status 1.
    let unlabeled = Project::open(&root)
        .unwrap()
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.pool == Pool::Unlabeled)
        .unwrap();
    run_ok(&[
        "label",
        root.to_str().unwrap(),
        &unlabeled.id.to_string(),
        "stage=Stage 3",
        "plus=pre-plus",
        "--annotator",
        "ben",
    ]);
    let bad = common::loupe(&[
        "label",
        root.to_str().unwrap(),
        &unlabeled.id.to_string(),
        "stage=Stage 9",
        "--annotator",
        "ben",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(common::stderr(&bad).contains("not a value of \"stage\""));

    let before = label_rows(&root);
    assert!(
        before
            .iter()
            .any(|r| r.contains(&"ben".to_string()) && r.contains(&"Stage 3".to_string()))
    );

    // Export, then import the export into a new project: the same labels (and pools).
    let export = dir.path().join("export.csv");
    run_ok(&[
        "export",
        root.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        export.to_str().unwrap(),
    ]);
    let copy = dir.path().join("copy");
    run_ok(&["project", "init", copy.to_str().unwrap(), "--schema", "rop"]);
    run_ok(&[
        "import",
        copy.to_str().unwrap(),
        images.to_str().unwrap(),
        "--labels",
        export.to_str().unwrap(),
    ]);
    assert_eq!(label_rows(&copy), before);

    // JSON and folders.
    let json: serde_json::Value = serde_json::from_str(&run_ok(&[
        "export",
        root.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 20);
    let folders = dir.path().join("folders");
    let out = run_ok(&[
        "export",
        root.to_str().unwrap(),
        "--format",
        "folders",
        "--out",
        folders.to_str().unwrap(),
    ]);
    assert!(out.contains("wrote 13 files"), "{out}");
    assert!(folders.join("Stage 3").is_dir());
}

#[test]
fn stats_report_pools_classes_and_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    run_ok(&[
        "project",
        "init",
        root.to_str().unwrap(),
        "--schema",
        "thyroid",
    ]);
    let images = dir.path().join("images");
    for i in 0..6 {
        write_png(&images.join(format!("n{i}.png")), i as u8 * 30 + 1);
    }
    run_ok(&["import", root.to_str().unwrap(), images.to_str().unwrap()]);
    let classes = [
        "nodular goiter",
        "follicular neoplasm",
        "papillary carcinoma",
    ];
    let mut ana = String::new();
    let mut ben = String::new();
    for i in 0..6 {
        ana.push_str(&format!("{} class={}\n", i + 1, classes[i % 3]));
        // ben disagrees on the last item only.
        ben.push_str(&format!(
            "{} class={}\n",
            i + 1,
            classes[if i == 5 { 0 } else { i % 3 }]
        ));
    }
    for (name, lines) in [("ana", ana), ("ben", ben)] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
            .args([
                "label",
                root.to_str().unwrap(),
                "--annotator",
                name,
                "--stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|l| l.starts_with("ok "))
                .count(),
            6
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", root.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(stats["items"], 6);
    assert_eq!(stats["pools"]["labeled"], 6);
    assert_eq!(stats["annotators"], serde_json::json!(["ana", "ben"]));
    let pair = &stats["agreement"][0]["pairs"][0];
    assert_eq!(pair["items"], 6);
    // 5 of 6 agree; marginals ana (2,2,2), ben (3,2,1)/6 → pe = (6+4+2)/36 = 1/3 → κ = (5/6 − 1/3)/(2/3) = 0.75.
    assert!(
        (pair["kappa"].as_f64().unwrap() - 0.75).abs() < 1e-9,
        "{pair}"
    );
    assert_eq!(
        stats["agreement"][0]["disagreements"],
        serde_json::json!([6])
    );
    let text = run_ok(&["stats", root.to_str().unwrap()]);
    assert!(text.contains("Cohen's kappa 0.750"), "{text}");
}

#[test]
fn demo_projects_are_deterministic_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for root in [&a, &b] {
        let out = run_ok(&[
            "demo",
            root.to_str().unwrap(),
            "--task",
            "thyroid",
            "--count",
            "20",
            "--size",
            "64",
            "--seed",
            "5",
        ]);
        assert!(out.contains("20 items"), "{out}");
    }
    let truth = std::fs::read_to_string(a.join("ground_truth.csv")).unwrap();
    assert_eq!(
        truth,
        std::fs::read_to_string(b.join("ground_truth.csv")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("images/thyroid_0007.png")).unwrap(),
        std::fs::read(b.join("images/thyroid_0007.png")).unwrap()
    );
    let stats: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", a.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(stats["pools"]["test"], 4, "20 % held out");
    assert!(
        stats["pools"]["labeled"].as_u64().unwrap() >= 4,
        "a few labeled per class"
    );
    // Test items carry labels; the generator's truth is not stored as labels for unlabeled items.
    assert!(stats["classes"]["test"].get("(none)").is_none());
    assert_eq!(
        stats["classes"]["unlabeled"]["(none)"],
        stats["pools"]["unlabeled"]
    );
}

#[test]
fn stdin_lines_are_checked_one_by_one_and_quoted_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let root_s = root.to_str().unwrap();
    run_ok(&["project", "init", root_s, "--schema", "rop"]);
    write_png(&dir.path().join("a.png"), 10);
    run_ok(&["import", root_s, dir.path().join("a.png").to_str().unwrap()]);
    let id = common::item_id(&root, "a.png").to_string();
    let long_target = "x".repeat(60_000);
    let mut input: Vec<u8> =
        format!("{id} stage=Stage 1 stage=Stage 2\n{long_target} stage=Normal\n").into_bytes();
    input.extend_from_slice(b"\xff\xfe\n");
    input.extend_from_slice(format!("{id} stage=Stage 3\n").as_bytes());
    let mut child = common::spawn_label_stdin(&root, "ana", std::process::Stdio::piped());
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // The third line is not UTF-8.
        stdin.write_all(&input).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "three lines failed");
    assert_eq!(out.trim(), format!("ok {id}"), "only the last line applied");
    assert!(
        err.contains("error line 1") && err.contains("stage is given twice on one line"),
        "{err}"
    );
    assert!(
        err.contains("error line 2") && err.contains("(60000 characters)"),
        "{err}"
    );
    assert!(err.len() < 1_000, "no long echo: {} bytes", err.len());
    let project = Project::open(&root).unwrap();
    let history = project.history(id.parse().unwrap()).unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].value.as_deref(), Some("Stage 3"));
}
