//! A researcher trains on a project from the command line: supervised and
//! mean teacher + SRC on the CPU device, with the run's files written and
//! test-pool metrics for student and teacher.

mod common;

use loupe::demo::{DemoOptions, DemoTask, write_demo};

fn small_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("thyroid");
    let options = DemoOptions {
        count: 40,
        size: 48,
        ..DemoOptions::new(DemoTask::Thyroid)
    };
    write_demo(&root, &options, |_, _| {}).unwrap();
    (dir, root)
}

/// A training configuration file: the defaults with `changes` applied.
fn config_file(
    dir: &std::path::Path,
    name: &str,
    changes: serde_json::Value,
) -> std::path::PathBuf {
    let mut settings = serde_json::to_value(loupe::train::engine::TrainConfig::default()).unwrap();
    for (key, value) in changes.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let path = dir.join(name);
    std::fs::write(&path, settings.to_string()).unwrap();
    path
}

fn train(root: &std::path::Path, method: &str, epochs: &str) -> serde_json::Value {
    let output = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--method",
        method,
        "--epochs",
        epochs,
        "--device",
        "flex",
        "--input-size",
        "24",
        "--width",
        "4",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stdout = common::stdout(&output);
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn mean_teacher_runs_end_to_end_and_writes_its_run() {
    let (_dir, root) = small_demo();
    let result = train(&root, "mean-teacher", "3");
    let run = result["run"].as_str().unwrap();
    for who in ["student", "teacher"] {
        let accuracy = result[who]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{who}: {accuracy}");
        assert_eq!(result[who]["confusion"].as_array().unwrap().len(), 4);
    }
    let run_dir = root.join("runs").join(run);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["method"], "mean-teacher");
    assert_eq!(config["mean_teacher"]["ema_decay"], 0.99);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per epoch");
    let weights: Vec<f64> = lines
        .iter()
        .map(|l| l["losses"]["weight"].as_f64().unwrap())
        .collect();
    assert!(
        weights.windows(2).all(|w| w[1] >= w[0]),
        "the consistency weight ramps up: {weights:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["losses"]["consistency"].as_f64().unwrap() >= 0.0)
    );
    for checkpoint in ["best.bpk", "student_last.bpk", "teacher_last.bpk"] {
        assert!(run_dir.join(checkpoint).is_file(), "{checkpoint}");
    }

    // The saved run evaluates to the same test metrics, and predicts into the store.
    let output = common::loupe(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let evaluated: serde_json::Value =
        serde_json::from_str(common::stdout(&output).trim()).unwrap();
    assert_eq!(
        evaluated["teacher"]["accuracy"],
        result["teacher"]["accuracy"]
    );
    assert_eq!(
        evaluated["student"]["confusion"],
        result["student"]["confusion"]
    );
    let output = common::loupe(&[
        "predict",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let project = loupe::store::Project::open(&root).unwrap();
    let predictions = project.predictions().unwrap();
    let unlabeled = project
        .items()
        .unwrap()
        .into_iter()
        .filter(|i| i.pool == loupe::store::Pool::Unlabeled)
        .count();
    assert!(
        predictions.len() >= unlabeled,
        "every unlabeled item has a prediction"
    );
    for p in predictions.values() {
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4 && p.entropy >= 0.0);
    }
    let missing = common::loupe(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        "no-such-run",
        "--device",
        "flex",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(common::stderr(&missing).contains("no run no-such-run"));
}

#[test]
fn supervised_training_lowers_the_training_loss() {
    let (_dir, root) = small_demo();
    let result = train(&root, "supervised", "12");
    assert!(
        result["teacher"].is_null(),
        "no teacher in supervised training"
    );
    let run_dir = root.join("runs").join(result["run"].as_str().unwrap());
    let losses: Vec<f64> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["losses"]["supervised"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(
        last < first,
        "training loss {first:.3} → {last:.3}: {losses:?}"
    );
}

#[test]
fn training_without_labels_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("empty");
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    image::GrayImage::from_pixel(8, 8, image::Luma([3]))
        .save(images.join("a.png"))
        .unwrap();
    assert!(
        common::loupe(&[
            "project",
            "init",
            root.to_str().unwrap(),
            "--schema",
            "thyroid"
        ])
        .status
        .success()
    );
    assert!(
        common::loupe(&["import", root.to_str().unwrap(), images.to_str().unwrap()])
            .status
            .success()
    );
    let output = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--epochs",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("labeled pool is empty"),
        "{}",
        common::stderr(&output)
    );
}

#[test]
fn training_runs_on_the_shared_wgpu_device() {
    let (_dir, root) = small_demo();
    let output = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--method",
        "mean-teacher",
        "--epochs",
        "1",
        "--device",
        "wgpu",
        "--input-size",
        "16",
        "--width",
        "4",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("training mean-teacher (Resnet18) on wgpu (shared with the display)"),
        "{stderr}"
    );
    let result: serde_json::Value = serde_json::from_str(common::stdout(&output).trim()).unwrap();
    assert!(result["teacher"]["accuracy"].as_f64().is_some());
}

#[test]
fn densenet121_trains_and_bad_settings_are_refused() {
    let (dir, root) = small_demo();
    let output = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--method",
        "mean-teacher",
        "--model",
        "densenet121",
        "--epochs",
        "1",
        "--device",
        "flex",
        "--input-size",
        "32",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let config = config_file(dir.path(), "bad.json", serde_json::json!({"dropout": 1.5}));
    let output = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("dropout 1.5 must be in [0, 1)"),
        "{}",
        common::stderr(&output)
    );
}

#[test]
fn a_configuration_file_chooses_the_method_and_flags_override_it() {
    let (dir, root) = small_demo();
    let config = config_file(
        dir.path(),
        "supervised.json",
        serde_json::json!({"method": "supervised", "epochs": 1, "input_size": 24, "width": 4}),
    );
    let run_with = |extra: &[&str]| {
        let mut args = vec![
            "train",
            root.to_str().unwrap(),
            "--device",
            "flex",
            "--config",
            config.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let output = common::loupe(&args);
        assert!(output.status.success(), "{}", common::stderr(&output));
        let result: serde_json::Value =
            serde_json::from_str(common::stdout(&output).trim()).unwrap();
        result
    };
    let from_file = run_with(&[]);
    assert!(
        from_file["teacher"].is_null(),
        "the file's supervised method is kept: {from_file}"
    );
    let overridden = run_with(&["--method", "mean-teacher"]);
    assert!(overridden["teacher"]["accuracy"].as_f64().is_some());
}

#[test]
fn a_run_can_be_fine_tuned_after_more_labels() {
    let (_dir, root) = small_demo();
    let first = train(&root, "mean-teacher", "1");
    let run = first["run"].as_str().unwrap();
    let args = |width: &str| {
        vec![
            "train".to_string(),
            root.display().to_string(),
            "--method".into(),
            "mean-teacher".into(),
            "--epochs".into(),
            "1".into(),
            "--device".into(),
            "flex".into(),
            "--input-size".into(),
            "24".into(),
            "--width".into(),
            width.to_string(),
            "--from".into(),
            run.to_string(),
            "--json".into(),
        ]
    };
    let a = args("4");
    let output = common::loupe(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", common::stderr(&output));
    let second: serde_json::Value = serde_json::from_str(common::stdout(&output).trim()).unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join("runs")
                .join(second["run"].as_str().unwrap())
                .join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(config["fine_tune_from"], run);
    let b = args("6");
    let output = common::loupe(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("cannot be continued"),
        "{}",
        common::stderr(&output)
    );
}
