//! A researcher trains on a project from the command line: supervised and
//! mean teacher + SRC on the CPU device, with the run's files written and
//! test-pool metrics for student and teacher.

mod common;

use loupe::demo::{DemoOptions, DemoTask, write_demo};

/// A thyroid demo of 80 images: per class 20, of which 4 test, 8 labeled
/// (2 held out for validation), 8 unlabeled.
fn small_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("thyroid");
    let options = DemoOptions {
        count: 80,
        size: 48,
        labeled_fraction: 0.5,
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
    let mut settings = serde_json::to_value(loupe::train::config::TrainConfig::default()).unwrap();
    for (key, value) in changes.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let path = dir.join(name);
    std::fs::write(&path, settings.to_string()).unwrap();
    path
}

/// `loupe train` at 24 px, width 4 on the CPU: the `--json` line and stderr.
fn train_logged(root: &std::path::Path, method: &str, epochs: &str) -> (serde_json::Value, String) {
    train_args(&[
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
    ])
}

fn train(root: &std::path::Path, method: &str, epochs: &str) -> serde_json::Value {
    train_logged(root, method, epochs).0
}

/// Runs `loupe train` with `args`, returning stdout's JSON and stderr.
fn train_args(args: &[&str]) -> (serde_json::Value, String) {
    let output = common::loupe(args);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stdout = common::stdout(&output);
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    (
        serde_json::from_str(stdout.trim()).unwrap(),
        common::stderr(&output),
    )
}

/// `loupe eval|predict DIR --run RUN --device flex --json`.
fn run_command_json(command: &str, root: &std::path::Path, run: &str) -> serde_json::Value {
    let output = common::loupe(&[
        command,
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    serde_json::from_str(common::stdout(&output).trim()).unwrap()
}

/// Runs `loupe` with `args`, which must fail with status 1 and `expected` on stderr.
fn refused(args: &[&str], expected: &str) {
    let output = common::loupe(args);
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    let stderr = common::stderr(&output);
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

fn metrics_lines(run_dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn mean_teacher_runs_end_to_end_and_writes_its_run() {
    let (_dir, root) = small_demo();
    let (result, stderr) = train_logged(&root, "mean-teacher", "3");
    // 4 classes × (8 labeled − 2 held out), 4 × 8 unlabeled:
    // max(⌈24/4⌉, ⌈32/12⌉) = 6 steps an epoch.
    assert!(
        stderr.contains("24 labeled (+8 held out for validation), 32 unlabeled, 16 test images; 6 steps per epoch"),
        "{stderr}"
    );
    let run = result["run"].as_str().unwrap();
    assert_eq!(result["epochs"], 3);
    assert_eq!(result["selected_on"], "validation");
    let chosen = result["chosen_epoch"].as_u64().unwrap() as usize;
    assert!(chosen < 3);
    let run_dir = root.join("runs").join(run);
    let lines = metrics_lines(&run_dir);
    assert_eq!(lines.len(), 3, "one line per epoch");
    for who in ["student", "teacher"] {
        let confusion: Vec<Vec<u64>> =
            serde_json::from_value(result[who]["confusion"].clone()).unwrap();
        // Rows are the test pool's truth: 4 test images of each class.
        let rows: Vec<u64> = confusion.iter().map(|r| r.iter().sum()).collect();
        assert_eq!(rows, [4, 4, 4, 4], "{who}");
        let diagonal: u64 = (0..4).map(|c| confusion[c][c]).sum();
        let accuracy = result[who]["accuracy"].as_f64().unwrap();
        assert_eq!(accuracy, diagonal as f64 / 16.0, "{who}");
        // The reported metrics are the chosen epoch's, as its line recorded them.
        assert_eq!(
            lines[chosen]["series"][format!("metric/{who}/accuracy")].as_f64(),
            Some(accuracy),
            "{who}"
        );
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["method"], "mean-teacher");
    assert_eq!(config["modalities"], serde_json::json!(["image"]));
    // No --config: the thyroid preset on the CPU (consistency weight 3, ramp-up 30).
    assert_eq!(config["mean_teacher"]["consistency_weight"], 3.0);
    assert_eq!(
        config["settings"]["mean-teacher"]["consistency_weight"],
        3.0
    );
    assert_eq!(config["validation_fraction"], 0.2);
    // The ramp-up weight of each epoch is the mean over its 6 steps of
    // 3·exp(−5(1 − t/30)²), t = epoch + step/6.
    for (epoch, line) in lines.iter().enumerate() {
        let expected: f64 = (0..6)
            .map(|s| {
                let t = epoch as f64 + s as f64 / 6.0;
                3.0 * (-5.0 * (1.0 - t / 30.0f64).powi(2)).exp()
            })
            .sum::<f64>()
            / 6.0;
        let weight = line["series"]["schedule/consistency_weight"]
            .as_f64()
            .unwrap();
        assert!(
            (weight - expected).abs() < 1e-9,
            "epoch {epoch}: {weight} vs {expected}"
        );
        assert!(
            line["series"]["validation/teacher/accuracy"]
                .as_f64()
                .is_some()
        );
    }
    for file in [
        "student_chosen.bpk",
        "teacher_chosen.bpk",
        "student_last.bpk",
        "teacher_last.bpk",
        "summary.json",
    ] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }

    // The saved run evaluates to the same test metrics, and predicts into the store.
    let evaluated = run_command_json("eval", &root, run);
    assert_eq!(
        evaluated["teacher"]["accuracy"],
        result["teacher"]["accuracy"]
    );
    assert_eq!(
        evaluated["student"]["confusion"],
        result["student"]["confusion"]
    );
    // Item by item, the student's probabilities give back its accuracy,
    // and the labeled pool's class frequencies come with them.
    let output = common::loupe(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
        "--items",
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let items: serde_json::Value = serde_json::from_str(common::stdout(&output).trim()).unwrap();
    let test_items = items["test_items"].as_array().unwrap();
    assert_eq!(test_items.len(), 16, "the 16 test images");
    let right = test_items
        .iter()
        .filter(|item| {
            let p: Vec<f64> = item["probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let argmax = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            item["label"].as_u64() == Some(argmax as u64)
        })
        .count();
    let accuracy = evaluated["student"]["accuracy"].as_f64().unwrap();
    assert!(
        (right as f64 / 16.0 - accuracy).abs() < 1e-9,
        "{right} of 16 vs {accuracy}"
    );
    let prior: f64 = items["labeled_prior"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(
        (prior - 1.0).abs() < 1e-9,
        "class frequencies sum to 1: {prior}"
    );
    let predicted = run_command_json("predict", &root, run);
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
    // 32 unlabeled and 16 test images.
    assert_eq!(predicted["predictions"], 48);
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
    let losses: Vec<f64> = metrics_lines(&run_dir)
        .iter()
        .map(|l| l["series"]["loss/ce"].as_f64().unwrap())
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
    refused(
        &[
            "train",
            root.to_str().unwrap(),
            "--device",
            "flex",
            "--epochs",
            "1",
        ],
        "labeled pool is empty",
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
        stderr.contains("training mean-teacher (resnet18) on wgpu (shared with the display)"),
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
    refused(
        &[
            "train",
            root.to_str().unwrap(),
            "--device",
            "flex",
            "--config",
            config.to_str().unwrap(),
        ],
        "dropout 1.5 must be between 0 and 0.95",
    );
    // A misspelled key is refused, naming the key meant (it would otherwise
    // fall back to its default unnoticed).
    let config = config_file(
        dir.path(),
        "typo.json",
        serde_json::json!({"lerning_rate": 0.1, "epochs": 1}),
    );
    refused(
        &[
            "train",
            root.to_str().unwrap(),
            "--device",
            "flex",
            "--config",
            config.to_str().unwrap(),
        ],
        "no setting is called \"lerning_rate\" (did you mean \"learning_rate\"?)",
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
fn optimisation_model_depth_and_choice_flags_reach_the_run() {
    let (_dir, root) = small_demo();
    let (result, _) = train_args(&[
        "train",
        root.to_str().unwrap(),
        "--method",
        "supervised",
        "--model",
        "xception",
        "--xception-depth",
        "3,1,2",
        "--epochs",
        "2",
        "--learning-rate",
        "0.002",
        "--dropout",
        "0.25",
        "--batch-size",
        "8",
        "--labeled-per-batch",
        "8",
        "--weight-decay",
        "0.001",
        "--choose-by",
        "last-epoch",
        "--device",
        "flex",
        "--input-size",
        "32",
        "--width",
        "2",
        "--json",
    ]);
    assert_eq!(result["selected_on"], "last-epoch", "{result}");
    assert_eq!(result["chosen_epoch"], 1, "{result}");
    let run = result["run"].as_str().unwrap();
    let text = std::fs::read_to_string(root.join("runs").join(run).join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config["learning_rate"], 0.002);
    assert_eq!(config["dropout"], 0.25);
    assert_eq!(
        (
            config["batch_size"].as_u64(),
            config["labeled_per_batch"].as_u64()
        ),
        (Some(8), Some(8))
    );
    assert_eq!(config["choose_by"], "last-epoch");
    assert_eq!(config["settings"]["classification"]["weight_decay"], 0.001);
    let depth = &config["xception"];
    assert_eq!(
        (
            &depth["entry_blocks"],
            &depth["middle_blocks"],
            &depth["exit_convs"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(1),
            &serde_json::json!(2)
        )
    );
    // Out of range: refused by name, nothing trained.
    let dir = root.to_str().unwrap();
    refused(
        &[
            "train",
            dir,
            "--model",
            "xception",
            "--xception-depth",
            "0,2,1",
            "--device",
            "flex",
        ],
        "entry blocks must be 1–4, not 0",
    );
    refused(
        &["train", dir, "--learning-rate=-1", "--device", "flex"],
        "learning rate",
    );
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
    refused(
        &b.iter().map(String::as_str).collect::<Vec<_>>(),
        "cannot be continued",
    );
}

#[test]
fn the_training_contract_refuses_unknown_names_clearly() {
    let (_dir, root) = small_demo();
    let root = root.to_str().unwrap();
    let refused_train = |args: &[&str], expected: &str| {
        let mut all = vec!["train", root, "--device", "flex", "--epochs", "1"];
        all.extend_from_slice(args);
        let output = common::loupe(&all);
        assert_ne!(output.status.code(), Some(0), "{args:?}");
        let stderr = common::stderr(&output);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    // Method names are kebab case, spelled as the contract says.
    refused_train(
        &["--method", "mean_teacher"],
        "[possible values: supervised, mean-teacher, cross-modal-kd, slice-policy, multimodal, kdamm, segmentation, protokd]",
    );
    refused_train(
        &["--modality", "image,ct"],
        "modalities image,ct cannot train together",
    );
    // A project of files has no case modality to read.
    refused_train(
        &["--modality", "ct", "--method", "supervised"],
        "the project has no modality \"ct\"",
    );
    refused_train(
        &["--teachers", "a,b"],
        "method mean-teacher takes no teacher runs (given a, b)",
    );
    refused_train(
        &["--validation-fraction", "0.7"],
        "validation fraction 0.7 must be between 0 and 0.5",
    );
    // `--modalities` is the same flag; the run records the roles it read.
    let (result, _) = train_args(&[
        "train",
        root,
        "--device",
        "flex",
        "--epochs",
        "1",
        "--input-size",
        "16",
        "--width",
        "2",
        "--method",
        "supervised",
        "--modalities",
        "image",
        "--json",
    ]);
    assert!(
        result["teacher"].is_null(),
        "a single-model run reports teacher: null"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(root)
                .join("runs")
                .join(result["run"].as_str().unwrap())
                .join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(config["modalities"], serde_json::json!(["image"]));
}

#[test]
fn supervised_and_mean_teacher_take_the_same_steps() {
    let (_dir, root) = small_demo();
    let steps = |method: &str| {
        let (_, stderr) = train_args(&[
            "train",
            root.to_str().unwrap(),
            "--method",
            method,
            "--epochs",
            "1",
            "--device",
            "flex",
            "--input-size",
            "16",
            "--width",
            "2",
            "--json",
        ]);
        stderr
            .lines()
            .find(|l| l.starts_with("run "))
            .map(|l| l.split(';').nth(1).unwrap().trim().to_string())
            .unwrap()
    };
    assert_eq!(steps("supervised"), "6 steps per epoch");
    assert_eq!(steps("mean-teacher"), "6 steps per epoch");
}

#[test]
fn runs_written_before_named_series_still_open() {
    let (_dir, root) = small_demo();
    let result = train(&root, "mean-teacher", "1");
    let run = result["run"].as_str().unwrap();
    let run_dir = root.join("runs").join(run);
    // Make it a run as the previous version wrote it: no chosen checkpoint,
    // no summary, a configuration without the newer keys, fixed loss fields.
    for file in ["student_chosen.bpk", "teacher_chosen.bpk", "summary.json"] {
        std::fs::remove_file(run_dir.join(file)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap())
            .unwrap();
    for key in ["modalities", "teachers", "validation_fraction"] {
        config.as_object_mut().unwrap().remove(key);
    }
    std::fs::write(run_dir.join("config.json"), config.to_string()).unwrap();
    let mut line = metrics_lines(&run_dir).remove(0);
    let object = line.as_object_mut().unwrap();
    object.remove("series");
    object.insert(
        "losses".into(),
        serde_json::json!({"supervised": 1.25, "consistency": 0.5, "relation": 0.125,
                           "total": 2.0, "weight": 0.25, "alpha": 0.5}),
    );
    object.insert("learning_rate".into(), serde_json::json!(0.003));
    std::fs::write(run_dir.join("metrics.jsonl"), format!("{line}\n")).unwrap();

    // It overlays: the past-run list reads its curves under today's names.
    let past = loupe::train::runs::list(&root);
    let old = past.iter().find(|r| r.id == run).unwrap();
    assert!(old.config.is_some(), "the old configuration still loads");
    let series = &old.epochs[0].series;
    assert_eq!(series["loss/ce"], 1.25);
    assert_eq!(series["loss/relation"], 0.125);
    assert_eq!(series["schedule/consistency_weight"], 0.25);
    assert_eq!(series["optimizer/learning_rate"], 0.003);
    assert_eq!(
        series["metric/teacher/accuracy"],
        line["teacher"]["accuracy"].as_f64().unwrap()
    );
    // And it evaluates, from its last checkpoints.
    let evaluated = run_command_json("eval", &root, run);
    assert_eq!(evaluated["selected_on"], "last-epoch");
    assert_eq!(
        evaluated["teacher"]["accuracy"],
        line["teacher"]["accuracy"]
    );
}

/// The run folder `loupe train` made (the only one under `runs/`).
fn only_run(root: &std::path::Path) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(root.join("runs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(runs.len() <= 1, "{runs:?}");
    runs.into_iter().next().unwrap_or_default()
}

#[test]
fn a_signalled_run_finishes_its_record_and_a_killed_one_is_told_apart() {
    for (signal, status) in [
        ("TERM", "stopped"),
        ("INT", "stopped"),
        ("KILL", "unfinished"),
    ] {
        let (_dir, root) = small_demo();
        let root_s = root.to_str().unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
            .args([
                "train",
                root_s,
                "--epochs",
                "10000",
                "--device",
                "flex",
                "--input-size",
                "24",
                "--width",
                "4",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Two epochs recorded, then the signal.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let run_dir = loop {
            let run = only_run(&root);
            // Whole lines only: the run may be writing the next one.
            if loupe::train::runs::recorded_epochs(&run) >= 2 {
                break run;
            }
            assert!(std::time::Instant::now() < deadline, "no epoch in 300 s");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let output = child.wait_with_output().unwrap();
        let stderr = common::stderr(&output);
        let run = run_dir.file_name().unwrap().to_str().unwrap().to_string();
        let recorded = metrics_lines(&run_dir).len();
        if signal != "KILL" {
            assert!(output.status.success(), "{signal}: {stderr}");
            assert!(stderr.contains("stopped by a signal after"), "{stderr}");
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(run_dir.join("summary.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(summary["stopped_early"], true);
            assert_eq!(summary["epochs"], recorded);
        }
        // Listing the project's runs clears what a kill left half-written.
        std::fs::write(run_dir.join(".student_chosen.bpk.99999999.tmp"), b"x").unwrap();
        loupe::train::runs::list(&root);
        let temporaries: Vec<_> = std::fs::read_dir(&run_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(temporaries.is_empty(), "{signal}: {temporaries:?}");
        let eval = run_command_json("eval", &root, &run);
        assert_eq!(eval["status"], status, "{signal}: {eval}");
        assert_eq!(
            eval["epochs"], recorded,
            "{signal}: the epoch reached, not 10000"
        );
    }
}
