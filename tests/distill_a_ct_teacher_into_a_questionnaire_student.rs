//! A researcher trains a CT teacher on the lung demo's cases, then a
//! questionnaire student that learns from it (METHODS.md §3) — from the
//! command line and in the window — and predicts for cases that have no CT.

mod common;

use std::path::Path;

use common::train_json;
use egui_kittest::kittest::Queryable;
use loupe::app::TrainingCommand;
use loupe::app::training::TrainingStatus;

/// A small lung demo: 40 cases of 16³ voxels.
fn lung_demo(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("lung");
    common::run_ok(&[
        "demo",
        root.to_str().unwrap(),
        "--task",
        "lung",
        "--count",
        "40",
        "--size",
        "16",
        "--seed",
        "3",
        "--labeled-fraction",
        "0.5",
    ]);
    root
}

/// A CT teacher of one epoch: its run id and its reported test AUC.
fn ct_teacher(root: &Path) -> (String, f64) {
    let teacher = train_json(
        root,
        &[
            "--method",
            "supervised",
            "--modality",
            "ct",
            "--epochs",
            "1",
            "--input-size",
            "16",
            "--width",
            "2",
        ],
    );
    (
        teacher["run"].as_str().unwrap().to_string(),
        teacher["student"]["auc"].as_f64().unwrap(),
    )
}

#[test]
fn a_questionnaire_student_learns_from_a_ct_teacher_and_predicts_without_ct() {
    let dir = tempfile::tempdir().unwrap();
    let root = lung_demo(dir.path());
    let (teacher_run, teacher_auc) = ct_teacher(&root);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("runs").join(&teacher_run).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["model"], "i3d", "a CT run trains the 3-D network");
    assert_eq!(config["modalities"][0], "ct");

    let summary = train_json(
        &root,
        &[
            "--method",
            "cross-modal-kd",
            "--teacher",
            &teacher_run,
            "--alpha",
            "0.4",
            "--epochs",
            "2",
        ],
    );
    let run = summary["run"].as_str().unwrap();
    assert!(run.ends_with("cross-modal-kd"), "{run}");
    // The teacher's figures are its CT metrics on the test cases with a CT:
    // what the teacher run itself reported.
    let reported = summary["teacher"]["auc"].as_f64().unwrap();
    assert!(
        (reported - teacher_auc).abs() < 1e-9,
        "{reported} vs {teacher_auc}"
    );
    assert!(summary["student"]["accuracy"].is_number());
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("runs").join(run).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["modalities"][0], "tabular");
    assert_eq!(config["model"], "mlp");
    assert_eq!(config["distillation"]["alpha"], 0.4);
    assert_eq!(config["settings"]["cross-modal-kd"]["alpha"], 0.4);
    // The lung schema's record: 4 numbers (years since quitting with its
    // missing flag: 2), 2 + 3 categories, 5 yes/no → 1+2+1+3+2+5 = 14.
    assert_eq!(config["record_inputs"], 14);
    // Every step reported both losses, both gradient norms and their ratio.
    let metrics =
        std::fs::read_to_string(root.join("runs").join(run).join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for name in [
        "loss/ce",
        "loss/kd",
        "grad/ce_norm",
        "grad/kd_norm",
        "grad/ratio",
    ] {
        assert!(first["series"][name].is_number(), "{name} missing: {first}");
    }
    let ratio = first["series"]["grad/ratio"].as_f64().unwrap();
    assert!(ratio > 0.0);

    // The student needs the questionnaire alone: predictions for every
    // unlabeled and test case, those without CT included.
    common::run_ok(&[
        "predict",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
    ]);
    let project = loupe::store::Project::open(&root).unwrap();
    let predictions = project.predictions().unwrap();
    let files = project.all_case_files().unwrap();
    let without_ct: Vec<i64> = project
        .items()
        .unwrap()
        .iter()
        .filter(|i| i.pool != loupe::store::Pool::Labeled && !files.contains_key(&i.id))
        .map(|i| i.id)
        .collect();
    assert!(!without_ct.is_empty(), "the demo has cases without CT");
    for id in &without_ct {
        let p = &predictions
            .get(id)
            .expect("a prediction without CT")
            .probabilities;
        assert_eq!(p.len(), 2);
    }
}

#[test]
fn distillation_refuses_a_missing_or_unfit_teacher_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = lung_demo(dir.path());
    let root_str = root.to_str().unwrap();
    let out = common::loupe(&[
        "train",
        root_str,
        "--method",
        "cross-modal-kd",
        "--device",
        "flex",
        "--epochs",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("--teacher"),
        "{}",
        common::stderr(&out)
    );
    // A questionnaire run cannot teach.
    let tabular = train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--modality",
            "tabular",
            "--epochs",
            "1",
        ],
    );
    let out = common::loupe(&[
        "train",
        root_str,
        "--method",
        "cross-modal-kd",
        "--teacher",
        tabular["run"].as_str().unwrap(),
        "--device",
        "flex",
        "--epochs",
        "1",
    ]);
    let error = common::stderr(&out);
    assert!(
        !out.status.success() && error.contains("must be a run on a case's volume"),
        "{error}"
    );
    // A 2-D model cannot read a record.
    let out = common::loupe(&[
        "train",
        root_str,
        "--method",
        "supervised",
        "--modality",
        "tabular",
        "--model",
        "resnet18",
        "--device",
        "flex",
    ]);
    assert!(
        common::stderr(&out).contains("cannot read the modality tabular"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn the_window_trains_the_student_from_a_teacher_chosen_in_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let root = lung_demo(dir.path());
    let (teacher_run, _) = ct_teacher(&root);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    // A case shows its record under the labels.
    harness.get_by_label("Record");
    harness.get_by_label_contains("pack_years");
    common::press(&mut harness, "Training");
    // A project of cases reads the record by default.
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.modalities, ["tabular"]);
    common::press(&mut harness, "Cross-modal distillation (PKT)");
    common::press(&mut harness, "Teacher run");
    // Only the CT run is offered; choosing it sets the run's teacher.
    common::press(&mut harness, teacher_run.as_str());
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.method, loupe::train::methods::cross_modal_kd::METHOD);
    assert_eq!(config.teachers, std::slice::from_ref(&teacher_run));
    let mut short = config.clone();
    short.epochs = 2;
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(short)));
    harness.run();
    common::press(&mut harness, "CPU (flex)");
    harness.get_by_label("Start").click();
    for _ in 0..1500 {
        harness.step();
        let run = harness.state().state().training.run.as_ref();
        if !run.expect("a run started").is_active() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run();
    let training = harness.state().state().training.run.as_ref().unwrap();
    assert_eq!(
        training.status,
        TrainingStatus::Finished,
        "{:?}",
        training.status
    );
    assert_eq!(training.epochs.len(), 2);
    // The method's named series reached the window, and the teacher's test figures.
    assert!(
        training
            .steps
            .iter()
            .any(|(_, s)| s.contains_key("loss/kd"))
    );
    assert!(
        training
            .steps
            .iter()
            .any(|(_, s)| s.contains_key("grad/ratio"))
    );
    assert!(training.epochs[1].teacher.is_some());
}
