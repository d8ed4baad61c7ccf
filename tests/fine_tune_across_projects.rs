//! A researcher pre-trains on one project (the ROP demo, fully labeled) and
//! fine-tunes on another (the thyroid demo): from the command line and from
//! the training panel. The head is new when the classes differ, the early
//! stages can stay frozen for the first epochs, and the run records where
//! it came from.

mod common;

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::TrainingCommand;
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::train::config::TrainConfig;
use loupe::train::inference::load_run;
use loupe::train::models::Classifier;
use loupe::ui::LoupeApp;

fn demo(dir: &Path, name: &str, task: DemoTask, count: usize) -> PathBuf {
    let root = dir.join(name);
    let options = DemoOptions {
        count,
        size: 40,
        labeled_fraction: 1.0,
        ..DemoOptions::new(task)
    };
    write_demo(&root, &options, |_, _| {}).unwrap();
    root
}

/// `loupe train` (supervised) with `args` after the common ones; stdout's JSON.
fn train(root: &Path, args: &[&str]) -> serde_json::Value {
    train_method(root, "supervised", args)
}

fn train_method(root: &Path, method: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--method",
        method,
        "--input-size",
        "24",
        "--json",
    ];
    all.extend_from_slice(args);
    let output = common::loupe(&all);
    assert!(output.status.success(), "{}", common::stderr(&output));
    serde_json::from_str(common::stdout(&output).trim()).unwrap()
}

fn refused(args: &[&str], expected: &str) {
    let output = common::loupe(args);
    assert!(!output.status.success(), "{args:?} was accepted");
    let message = common::stderr(&output);
    assert!(message.contains(expected), "{expected:?} not in: {message}");
}

/// Every float parameter's values, in the order the module visits them.
struct Values(Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}

fn values(model: &Classifier) -> Vec<Vec<f32>> {
    let mut visitor = Values(Vec::new());
    model.visit(&mut visitor);
    visitor.0
}

fn config_of(root: &Path, run: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("runs").join(run).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_run_of_another_project_starts_a_fine_tuning_run_with_a_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let rop = demo(dir.path(), "rop", DemoTask::Rop, 30);
    let thyroid = demo(dir.path(), "thyroid", DemoTask::Thyroid, 30);
    let parent = train(&rop, &["--epochs", "1", "--width", "4"]);
    let parent_run = parent["run"].as_str().unwrap();
    let rop_folder = rop.canonicalize().unwrap();

    // All epochs frozen: the early stages are the parent's, to the bit.
    let frozen = train(
        &thyroid,
        &[
            "--epochs",
            "2",
            "--from",
            parent_run,
            "--from-project",
            rop.to_str().unwrap(),
            "--freeze-early-epochs",
            "2",
        ],
    );
    assert_eq!(frozen["parent"]["run"], parent_run);
    assert_eq!(
        frozen["parent"]["project"],
        rop_folder.to_str().unwrap(),
        "{frozen}"
    );
    let frozen_run = frozen["run"].as_str().unwrap();
    let config = config_of(&thyroid, frozen_run);
    assert_eq!(config["fine_tune_from"], parent_run);
    assert_eq!(
        config["fine_tune_from_project"],
        rop_folder.to_str().unwrap()
    );
    assert_eq!(config["freeze_early_epochs"], 2);
    assert_eq!(
        config["width"], 4,
        "the parent's architecture is kept (the thyroid preset would be 8)"
    );
    let metrics =
        std::fs::read_to_string(thyroid.join("runs").join(frozen_run).join("metrics.jsonl"))
            .unwrap();
    assert!(
        metrics.contains("\"schedule/frozen_early_stages\":1.0"),
        "{metrics}"
    );

    let device = Device::flex();
    let rop_model = load_run(&rop, parent_run, &device).unwrap().student;
    let child = load_run(&thyroid, frozen_run, &device).unwrap().student;
    let rop_classes = loupe::store::Project::open(&rop)
        .unwrap()
        .schema()
        .target_field()
        .values
        .len();
    let thyroid_classes = loupe::store::Project::open(&thyroid)
        .unwrap()
        .schema()
        .target_field()
        .values
        .len();
    assert_ne!(rop_classes, thyroid_classes);
    assert_eq!(rop_model.classes(), rop_classes);
    assert_eq!(child.classes(), thyroid_classes, "a head for this project");
    let early = rop_model.early_param_ids().len();
    let (before, after) = (values(&rop_model), values(&child));
    assert!(early > 4 && early < before.len());
    assert_eq!(before[..early], after[..early], "early stages frozen");
    assert_ne!(
        before[early], after[early],
        "the later stages learned while the early ones were held"
    );

    // Not frozen, and with mean teacher (the method is a setting): the first
    // layer moves too, and the teacher starts as the student with its new head.
    let free = train_method(
        &thyroid,
        "mean-teacher",
        &[
            "--epochs",
            "1",
            "--from",
            parent_run,
            "--from-project",
            rop.to_str().unwrap(),
        ],
    );
    let free_model = load_run(&thyroid, free["run"].as_str().unwrap(), &device)
        .unwrap()
        .student;
    assert_ne!(values(&free_model)[0], before[0]);
    assert!(free["teacher"]["accuracy"].as_f64().is_some(), "{free}");
    let teacher = load_run(&thyroid, free["run"].as_str().unwrap(), &device)
        .unwrap()
        .teacher
        .unwrap();
    assert_eq!(teacher.classes(), thyroid_classes);
}

#[test]
fn a_wrong_parent_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let thyroid = demo(dir.path(), "thyroid", DemoTask::Thyroid, 20);
    let root = thyroid.to_str().unwrap();
    let not_a_project = dir.path().join("empty");
    std::fs::create_dir(&not_a_project).unwrap();
    let common_args = ["train", root, "--device", "flex", "--epochs", "1"];
    let with = |extra: &[&str]| -> Vec<String> {
        common_args
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |extra: &[&str], expected: &str| {
        let args = with(extra);
        refused(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            expected,
        );
    };
    run(
        &[
            "--from",
            "1-supervised",
            "--from-project",
            not_a_project.to_str().unwrap(),
        ],
        "is not a Loupe project",
    );
    run(&["--from-project", root], "--from <RUN>");
    let rop = demo(dir.path(), "rop", DemoTask::Rop, 20);
    run(
        &[
            "--from",
            "no-such-run",
            "--from-project",
            rop.to_str().unwrap(),
        ],
        "no run no-such-run",
    );
    run(
        &[
            "--from",
            "../escape",
            "--from-project",
            rop.to_str().unwrap(),
        ],
        "is not a run id",
    );
}

/// The window on `root`, training panel shown.
fn window(dir: &Path, root: &Path) -> Harness<'static, LoupeApp> {
    let mut harness = common::window_on(root, dir.join("data"));
    common::press(&mut harness, "Training");
    harness
}

#[test]
fn the_panel_starts_from_another_projects_run_and_shows_the_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let rop = demo(dir.path(), "rop", DemoTask::Rop, 20);
    let thyroid = demo(dir.path(), "thyroid", DemoTask::Thyroid, 20);
    let parent = train(&rop, &["--epochs", "1", "--width", "3"]);
    let parent_run = parent["run"].as_str().unwrap().to_string();

    let mut harness = window(dir.path(), &thyroid);
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(TrainConfig {
            method: loupe::train::methods::supervised::METHOD,
            input_size: 16,
            epochs: 1,
            ..TrainConfig::default()
        })));
    harness.run();
    // Clicks on different widgets within egui's double-click time: let it pass.
    let settle = |harness: &mut Harness<'static, LoupeApp>| harness.run_steps(30);
    harness.get_by_label("CPU (flex)").click();
    settle(&mut harness);
    // The settings scroll: bring each widget into view before using it.
    let scroll_to = |harness: &mut Harness<'static, LoupeApp>, label: &str| {
        harness.get_by_label(label).scroll_to_me();
        harness.run_steps(30);
    };
    scroll_to(&mut harness, "A run of another project");
    harness.get_by_label("A run of another project").click();
    settle(&mut harness);
    scroll_to(&mut harness, "Project folder");
    harness.get_by_label("Project folder").click();
    settle(&mut harness);
    harness
        .get_by_label("Project folder")
        .type_text(rop.to_str().unwrap());
    settle(&mut harness);
    scroll_to(&mut harness, "Use");
    harness.get_by_label("Use").click();
    settle(&mut harness);
    let config = &harness.state().state().training.config;
    assert_eq!(config.fine_tune_from.as_deref(), Some(parent_run.as_str()));
    assert_eq!(
        config.fine_tune_from_project.as_deref(),
        Some(rop.canonicalize().unwrap().to_str().unwrap())
    );
    assert_eq!(config.width, 3, "the parent's architecture");
    harness.get_by_label("Freeze early stages (epochs)");

    harness.get_by_label("Start").click();
    settle(&mut harness);
    assert!(
        harness.state().state().training.run.is_some(),
        "{:?}",
        harness.state().state().notice.as_ref().map(|n| &n.text)
    );
    common::wait_for_training(&mut harness, 600);
    harness.get_by_label(&format!(
        "Started from rop / {parent_run} ({} classes: new head)",
        loupe::store::Project::open(&rop)
            .unwrap()
            .schema()
            .target_field()
            .values
            .len()
    ));

    // Choosing the open project itself is refused with a reason.
    harness.state_mut().apply(TrainingCommand::FineTuneFrom {
        project: Some(thyroid.clone()),
        run: None,
    });
    let notice = harness
        .state()
        .state()
        .notice
        .as_ref()
        .map(|n| n.text.clone());
    assert!(
        notice
            .as_deref()
            .is_some_and(|m| m.contains("is the open project")),
        "{notice:?}"
    );
}
