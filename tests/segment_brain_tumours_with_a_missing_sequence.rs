//! Segmentation with a missing MRI sequence (METHODS.md §5): the
//! brain-tumour demo, a four-sequence segmentation teacher, a one-sequence
//! ProtoKD student, predicted maps written as NIfTI whose Dice is the one
//! reported, the window training and overlaying them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{loupe, run_ok, stderr, train_json};
use egui_kittest::kittest::Queryable;

/// A small brain-tumour demo (12 cases at 32³) in `dir/bt`.
fn demo(dir: &Path) -> PathBuf {
    let root = dir.join("bt");
    run_ok(&[
        "demo",
        root.to_str().unwrap(),
        "--task",
        "brain-tumour",
        "--count",
        "12",
        "--size",
        "32",
        "--seed",
        "3",
    ]);
    root
}

/// A label NIfTI's voxels.
fn labels(path: &Path) -> Vec<u8> {
    let volume = loupe::volume::load(path).unwrap();
    loupe::store::label_maps::label_voxels(&volume).unwrap()
}

/// BraTS Dice by hand (independent of Loupe's): per case per region, then
/// the mean over cases.
fn dice(cases: &[(Vec<u8>, Vec<u8>)]) -> [f64; 3] {
    let regions: [&[u8]; 3] = [&[1, 2, 4], &[1, 4], &[4]];
    let mut sums = [0.0; 3];
    for (predicted, truth) in cases {
        for (r, region) in regions.iter().enumerate() {
            let p = predicted.iter().filter(|v| region.contains(v)).count();
            let t = truth.iter().filter(|v| region.contains(v)).count();
            let both = predicted
                .iter()
                .zip(truth)
                .filter(|(a, b)| region.contains(a) && region.contains(b))
                .count();
            sums[r] += if p + t == 0 {
                1.0
            } else {
                2.0 * both as f64 / (p + t) as f64
            };
        }
    }
    sums.map(|s| s / cases.len() as f64)
}

fn case_pools(root: &Path) -> BTreeMap<String, loupe::store::Pool> {
    let project = loupe::store::Project::open(root).unwrap();
    let names = project.case_names().unwrap();
    project
        .items()
        .unwrap()
        .into_iter()
        .map(|i| (names[&i.id].clone(), i.pool))
        .collect()
}

const SMALL: [&str; 8] = [
    "--input-size",
    "32",
    "--width",
    "4",
    "--slices-per-case",
    "4",
    "--epochs",
    "2",
];

#[test]
fn the_demo_holds_four_sequences_and_the_truth_of_labeled_and_test_cases() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let project = loupe::store::Project::open(&root).unwrap();
    assert_eq!(
        project.schema().modalities,
        ["t1", "t1ce", "t2", "flair"].map(String::from)
    );
    let files = project.all_case_files().unwrap();
    let names = project.case_names().unwrap();
    assert_eq!(names.len(), 12);
    assert!(names.values().all(|n| n.starts_with("bt_00")));
    let maps = project.all_label_maps().unwrap();
    let pools = case_pools(&root);
    // 12 cases: round(0.2·12) = 2 test, half of the other 10 labeled.
    let count = |pool| pools.values().filter(|&&p| p == pool).count();
    use loupe::store::Pool;
    assert_eq!(
        (
            count(Pool::Test),
            count(Pool::Labeled),
            count(Pool::Unlabeled)
        ),
        (2, 5, 5)
    );
    for (id, name) in &names {
        assert_eq!(files[id].len(), 4, "{name} has four sequences");
        let truth = labels(&root.join(format!("ground_truth/{name}_labels.nii.gz")));
        assert!(truth.iter().all(|v| [0, 1, 2, 4].contains(v)));
        assert!(
            truth.contains(&4) && truth.contains(&2),
            "{name} has a tumour"
        );
        match maps.get(id) {
            // The stored map is the generator's truth, on the case's grid.
            Some(records) => {
                assert_ne!(pools[name], Pool::Unlabeled);
                let grid = loupe::volume::load(&files[id]["t1"]).unwrap();
                assert_eq!(project.read_label_map(&records[0], &grid).unwrap(), truth);
            }
            None => assert_eq!(pools[name], Pool::Unlabeled, "{name}"),
        }
    }
}

/// Checks that every case's prediction of the run `reported` (its `loupe
/// train --json`) is written on its grid, that the test cases' Dice of the
/// written maps against the generator's truth is the one reported, and
/// that `loupe eval` scores the checkpoint again the same. Returns the
/// reported mean Dice.
fn reported_is_written_and_evaluated(root: &Path, reported: &serde_json::Value) -> f64 {
    let run = reported["run"].as_str().unwrap();
    let reported = &reported["student"]["dice"];
    let pools = case_pools(root);
    let mut test = Vec::new();
    for (name, pool) in &pools {
        let path = root.join(format!("runs/{run}/predictions/{name}.nii.gz"));
        let predicted = labels(&path);
        let grid = loupe::volume::load(&root.join(format!("cases/{name}_t1.nii.gz"))).unwrap();
        let written = loupe::volume::load(&path).unwrap();
        assert!(loupe::volume::same_grid(&written, &grid), "{name}");
        if *pool == loupe::store::Pool::Test {
            let truth = labels(&root.join(format!("ground_truth/{name}_labels.nii.gz")));
            test.push((predicted, truth));
        }
    }
    let [wt, tc, et] = dice(&test);
    for (name, value) in [("wt", wt), ("tc", tc), ("et", et)] {
        let got = reported[name].as_f64().unwrap();
        assert!(
            (got - value).abs() < 1e-9,
            "{name}: reported {got}, recomputed {value}"
        );
    }
    let mean = reported["mean"].as_f64().unwrap();
    assert!((mean - (wt + tc + et) / 3.0).abs() < 1e-9);
    let out = run_ok(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
    ]);
    let again: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!((again["student"]["dice"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    // Class probabilities item by item are a classifier's: a segmentation
    // run says so instead of printing nothing or panicking.
    let items = loupe(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--items",
    ]);
    assert_eq!(items.status.code(), Some(1));
    assert!(stderr(&items).contains("segments"), "{}", stderr(&items));
    mean
}

#[test]
fn the_3d_unet_trains_on_patches_and_predicts_by_sliding_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let patched = [
        "--model",
        "unet3d",
        "--input-size",
        "32",
        "--patch-edge",
        "16",
        "--patches-per-case",
        "2",
        "--width",
        "2",
        "--epochs",
        "1",
    ];
    let mut args = vec!["--method", "segmentation", "--modality", "t1,t1ce,t2,flair"];
    args.extend(patched);
    let teacher = train_json(&root, &args);
    let run = teacher["run"].as_str().unwrap().to_string();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(format!("runs/{run}/config.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["settings"]["segmentation"]["patch_edge"], 16,
        "{config}"
    );
    assert_eq!(config["settings"]["segmentation"]["patches_per_case"], 2);
    let mean = reported_is_written_and_evaluated(&root, &teacher);
    // ProtoKD on T1 reads the teacher's patches; another patch edge is refused.
    let mut args = vec!["--method", "protokd", "--teacher", &run, "--modality", "t1"];
    args.extend(patched);
    let student = train_json(&root, &args);
    let teacher_dice = student["teacher"]["dice"]["mean"].as_f64().unwrap();
    assert!(
        (teacher_dice - mean).abs() < 1e-9,
        "{teacher_dice} vs {mean}"
    );
    reported_is_written_and_evaluated(&root, &student);
    let mut args = vec!["train", root.to_str().unwrap(), "--device", "flex"];
    args.extend(["--method", "protokd", "--teacher", &run, "--modality", "t1"]);
    args.extend(patched);
    *args.iter_mut().find(|a| **a == "16").unwrap() = "8";
    let output = loupe(&args);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(
            "unet3d on 32³ in patches of 16³; this run trains a unet3d on 32³ in patches of 8³"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn segmentation_and_protokd_report_the_dice_of_the_maps_they_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let mut args = vec!["--method", "segmentation", "--modality", "t1,t1ce,t2,flair"];
    args.extend(SMALL);
    let teacher = train_json(&root, &args);
    let run = teacher["run"].as_str().unwrap().to_string();
    assert!(teacher["teacher"].is_null());
    let mean = reported_is_written_and_evaluated(&root, &teacher);

    // ProtoKD on T1 alone, taught by the four-sequence run: every term a
    // curve, the teacher's Dice beside the student's each epoch.
    let mut args = vec!["--method", "protokd", "--teacher", &run, "--modality", "t1"];
    args.extend(SMALL);
    let student = train_json(&root, &args);
    let teacher_dice = student["teacher"]["dice"]["mean"].as_f64().unwrap();
    assert!(
        (teacher_dice - mean).abs() < 1e-9,
        "{teacher_dice} vs {mean}"
    );
    let student_run = student["run"].as_str().unwrap();
    let metrics =
        std::fs::read_to_string(root.join(format!("runs/{student_run}/metrics.jsonl"))).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for name in [
        "loss/ce",
        "loss/dice",
        "loss/seg",
        "loss/kd",
        "loss/proto",
        "loss/total",
        "metric/student/dice_wt",
        "metric/student/dice_et",
        "metric/teacher/dice_mean",
    ] {
        assert!(first["series"][name].is_number(), "{name}: {first}");
    }
    let s = &first["series"];
    let total = s["loss/seg"].as_f64().unwrap()
        + 10.0 * s["loss/kd"].as_f64().unwrap()
        + 0.1 * s["loss/proto"].as_f64().unwrap();
    assert!(
        (s["loss/total"].as_f64().unwrap() - total).abs() < 1e-4,
        "{s}"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(format!("runs/{student_run}/config.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(config["method"], "protokd");
    assert_eq!(config["modalities"], serde_json::json!(["t1"]));

    // Refusals name what is wrong.
    let refused = |args: &[&str], expected: &str| {
        let mut all = vec!["train", root.to_str().unwrap(), "--device", "flex"];
        all.extend_from_slice(args);
        let output = loupe(&all);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    };
    refused(&["--method", "protokd", "--teacher", &run], "--modality t1");
    refused(
        &["--method", "protokd", "--modality", "t1"],
        "--teacher RUN",
    );
    refused(
        &["--method", "segmentation", "--modality", "t1,dwi"],
        "no sequence \"dwi\"",
    );
    refused(
        &["--method", "segmentation", "--input-size", "36"],
        "multiple of 8",
    );
    // The 3-D U-Net, by flag: whole volumes, the same contract.
    let volumes = train_json(
        &root,
        &[
            "--method",
            "segmentation",
            "--model",
            "unet3d",
            "--modality",
            "t1,flair",
            "--input-size",
            "16",
            "--width",
            "2",
            "--epochs",
            "1",
        ],
    );
    assert!(volumes["student"]["dice"]["mean"].is_number());
    let id = volumes["run"].as_str().unwrap();
    assert!(
        root.join(format!("runs/{id}/predictions/bt_0001.nii.gz"))
            .is_file()
    );
    refused(
        &[
            "--method",
            "protokd",
            "--teacher",
            &run,
            "--modality",
            "t1",
            "--input-size",
            "16",
        ],
        "the teacher's --model, --input-size and --patch-edge",
    );
    // A classifying run teaches no segmentation (its review labels set first).
    {
        let mut project = loupe::store::Project::open(&root).unwrap();
        let ids: Vec<i64> = project.items().unwrap().iter().map(|i| i.id).collect();
        for (k, id) in ids.into_iter().enumerate() {
            let value = ["accepted", "needs correction"][k % 2];
            project
                .set_label(id, "reference", "review", Some(value))
                .unwrap();
        }
    }
    let classifier = train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--modality",
            "t1",
            "--epochs",
            "1",
            "--input-size",
            "16",
            "--width",
            "2",
        ],
    );
    refused(
        &[
            "--method",
            "protokd",
            "--teacher",
            classifier["run"].as_str().unwrap(),
            "--modality",
            "t1",
        ],
        "not a segmentation run",
    );
}

#[test]
fn the_window_trains_a_segmentation_and_overlays_its_prediction_against_the_truth() {
    use loupe::app::review::{MapView, versus_code};
    use loupe::app::{TrainingCommand, WindowCommand};
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let mut harness = common::window_on(&root, dir.path().join("data"));
    common::press(&mut harness, "Training");
    common::press(&mut harness, "CPU (flex)");
    // A brain-tumour project starts from the four-sequence U-Net.
    let mut config = harness.state().state().training.config.clone();
    assert_eq!(config.method, loupe::train::methods::segmentation::METHOD);
    assert_eq!(config.modalities.len(), 4);
    config.epochs = 1;
    config.width = 2;
    config.input_size = 32;
    config.set(&loupe::train::segmentation::SLICES_PER_CASE, 2usize);
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(config)));
    harness.run();
    harness.get_by_label("Start").click();
    common::wait_for_training(&mut harness, 3000);
    let run = harness.state().state().training.run.as_ref().unwrap();
    let series: std::collections::BTreeSet<&String> =
        run.steps.iter().flat_map(|(_, s)| s.keys()).collect();
    for name in ["loss/ce", "loss/dice", "loss/total"] {
        assert!(series.iter().any(|s| *s == name), "{name}: {series:?}");
    }
    // ProtoKD in the window: the segmentation run teaches, T1 alone is read.
    let teacher_run = harness
        .state()
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .run
        .clone()
        .unwrap();
    common::press(&mut harness, "ProtoKD (segmentation, missing sequences)");
    for role in ["t1ce", "t2", "flair"] {
        let checkbox = egui::accesskit::Role::CheckBox;
        harness.get_by_role_and_label(checkbox, role).scroll_to_me();
        harness.run();
        harness.get_by_role_and_label(checkbox, role).hover();
        harness.run();
        harness.get_by_role_and_label(checkbox, role).click();
        harness.run();
    }
    common::press(&mut harness, "Teacher run");
    common::press(&mut harness, teacher_run.as_str());
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.method, loupe::train::methods::protokd::METHOD);
    assert_eq!(config.modalities, ["t1"]);
    assert_eq!(config.teachers, std::slice::from_ref(&teacher_run));
    harness.get_by_label("Start").click();
    common::wait_for_training(&mut harness, 3000);
    let run = harness.state().state().training.run.as_ref().unwrap();
    let series: std::collections::BTreeSet<&String> =
        run.steps.iter().flat_map(|(_, s)| s.keys()).collect();
    for name in ["loss/kd", "loss/proto", "loss/seg"] {
        assert!(series.iter().any(|s| *s == name), "{name}: {series:?}");
    }
    let last = run.epochs.last().unwrap();
    assert!(last.series.contains_key("metric/teacher/dice_mean"));

    // A labeled case: its map against the run's prediction, read-only.
    let pools = case_pools(&root);
    let labeled = pools
        .iter()
        .find(|(_, p)| **p == loupe::store::Pool::Labeled)
        .map(|(n, _)| n.clone())
        .unwrap();
    let id = {
        let project = loupe::store::Project::open(&root).unwrap();
        *project
            .case_names()
            .unwrap()
            .iter()
            .find(|(_, n)| **n == labeled)
            .unwrap()
            .0
    };
    harness
        .state_mut()
        .apply(loupe::app::LabelingCommand::SelectItem(id));
    harness.run();
    let predicted = labels(&root.join(format!(
        "runs/{}/predictions/{labeled}.nii.gz",
        harness.state().state().training.past_runs.last().unwrap().id
    )));
    let truth = labels(&root.join(format!("ground_truth/{labeled}_labels.nii.gz")));
    // The case opens on its lesion (the reference map's largest component).
    let document = harness.state().state().document.as_ref().unwrap();
    let shape = document.volume.spatial_shape();
    let centre = loupe::paint::lesion_centre(&truth, [shape[0], shape[1], shape[2]]).unwrap();
    assert_eq!(document.crosshair_voxel(), centre.map(|v| v as f64));
    // The reference's map, shown alone, read-only.
    let reference = format!("{}'s", loupe::demo::DEMO_ANNOTATOR);
    common::press(&mut harness, &reference);
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.label_voxels().unwrap(), truth.as_slice());
    common::press(&mut harness, "vs truth WT");
    let state = harness.state().state();
    let MapView::Versus { run: shown, region } = &state.map_view else {
        panic!("{:?}", state.map_view)
    };
    assert_eq!(*region, 0);
    let run_id = state.training.past_runs.last().unwrap().id.clone();
    assert_eq!(shown, &run_id);
    let document = state.document.as_ref().unwrap();
    let note = document.labels_note.as_ref().unwrap();
    // The case's Dice per region beside the comparison.
    let dice = loupe::train::metrics::case_dice(&predicted, &truth);
    assert!(
        note.contains(&format!(
            "Dice vs {}'s map: WT {:.3} · TC {:.3} · ET {:.3}",
            loupe::demo::DEMO_ANNOTATOR,
            dice[0],
            dice[1],
            dice[2]
        )),
        "{note}"
    );
    // The overlay is the comparison of the written prediction and the map.
    let shown = document.label_voxels().unwrap();
    for ((&s, &p), &t) in shown.iter().zip(&predicted).zip(&truth) {
        let expected = match (p != 0, t != 0) {
            (true, true) => versus_code::AGREED,
            (false, true) => versus_code::MISSED,
            (true, false) => versus_code::ADDED,
            (false, false) => 0,
        };
        assert_eq!(s, expected);
    }
    // Painting a comparison is refused; back to one's own map, it works.
    let painted = harness
        .state_mut()
        .state_mut()
        .document
        .as_mut()
        .unwrap()
        .paintable_labels()
        .map(|_| ());
    assert!(painted.unwrap_err().contains("Map: yours"));
    harness
        .state_mut()
        .apply(WindowCommand::ShowMap(MapView::Own));
    harness.run();
    let document = harness.state_mut().state_mut().document.as_mut().unwrap();
    assert!(document.labels_note.is_none());
    assert!(document.paintable_labels().is_ok());
}
