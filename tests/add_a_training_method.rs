//! A researcher adds a training method: its spec with one declared setting
//! and its step, registered in one line — the code a file in
//! `src/train/methods/` holds. With no other code changed, the training
//! panel shows the setting's widget, `loupe train` takes its flag and
//! `--set`, the run's `config.json` records the value, and the step reads it.

mod common;

use std::sync::Once;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use clap::Parser;
use egui_kittest::kittest::{NodeT, Queryable};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::train::config::IMAGE_MODALITY;
use loupe::train::events::Scalars;
use loupe::train::spec::{Method, MethodSpec, Setting, SettingKind, Task, TeacherUse};
use loupe::train::step::{Batch, Declaration, Models, StepContext, Stepper, TrainingMethod};

/// ε of the label smoothing: the method's one setting.
const SMOOTHING: Setting = Setting {
    name: "smoothing",
    section: "label-smoothing",
    flag: "smoothing",
    title: "Smoothing ε",
    help: "Weight of the cross-entropy against the uniform distribution",
    group: "Label smoothing",
    kind: SettingKind::Number {
        default: 0.1,
        range: 0.0..=0.5,
        speed: 0.01,
    },
    legacy: "",
};

static SPEC: MethodSpec = MethodSpec {
    name: "label-smoothing",
    title: "Label smoothing (test)",
    task: Task::Classify,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &[
        "loss/ce",
        "loss/smoothing",
        "loss/total",
        "schedule/epsilon",
    ],
    modalities: &[IMAGE_MODALITY],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[SMOOTHING],
};

struct LabelSmoothing;

impl TrainingMethod for LabelSmoothing {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let epsilon = context.config.number(&SMOOTHING);
        let student = models.student;
        let (logits, _) = student.forward(batch.labeled.clone());
        let ce = loupe::train::losses::cross_entropy(logits.clone(), batch.labels.clone());
        let smoothing = log_softmax(logits, 1).neg().mean();
        let total = ce.clone().mul_scalar(1.0 - epsilon) + smoothing.clone().mul_scalar(epsilon);
        let value = |t: &burn::tensor::Tensor<1>| t.clone().into_scalar::<f32>() as f64;
        let values = Scalars::from([
            ("loss/ce".to_string(), value(&ce)),
            ("loss/smoothing".to_string(), value(&smoothing)),
            ("loss/total".to_string(), value(&total)),
            ("schedule/epsilon".to_string(), epsilon),
        ]);
        let grads = GradientsParams::from_grads(total.backward(), &student);
        let student = optimizer.step(context.learning_rate, student, grads);
        (
            Models {
                student,
                teacher: None,
            },
            values,
        )
    }
}

/// The one registering line (once per test process).
fn method() -> Method {
    static REGISTER: Once = Once::new();
    let method = Method::of(&SPEC);
    REGISTER.call_once(|| {
        loupe::train::methods::register(Declaration {
            method,
            build: || Stepper::Classify(Box::new(LabelSmoothing)),
        })
        .unwrap()
    });
    method
}

fn thyroid_demo(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("thyroid");
    write_demo(
        &root,
        &DemoOptions {
            count: 16,
            size: 32,
            ..DemoOptions::new(DemoTask::Thyroid)
        },
        |_, _| {},
    )
    .unwrap();
    root
}

/// `loupe train ROOT ARGS…` in this process (where the method is registered).
fn train(root: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["loupe", "train", root.to_str().unwrap()];
    argv.extend_from_slice(&["--device", "flex", "--epochs", "1"]);
    argv.extend_from_slice(&["--input-size", "16", "--width", "2"]);
    argv.extend_from_slice(args);
    loupe::cli::run(loupe::cli::Cli::try_parse_from(argv)?)
}

/// The run's `config.json` and its first epoch's series, for the newest run.
fn newest_run(root: &std::path::Path) -> (serde_json::Value, serde_json::Value) {
    let runs = loupe::train::runs::list(root);
    let id = &runs.last().expect("a run").id;
    let dir = root.join("runs").join(id);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let config = serde_json::from_str(&read("config.json")).unwrap();
    let first = read("metrics.jsonl").lines().next().unwrap().to_string();
    (config, serde_json::from_str(&first).unwrap())
}

#[test]
fn its_flag_and_set_reach_config_json_and_the_step() {
    method();
    let dir = tempfile::tempdir().unwrap();
    let root = thyroid_demo(dir.path());
    train(
        &root,
        &["--method", "label-smoothing", "--smoothing", "0.25"],
    )
    .unwrap();
    let (config, epoch) = newest_run(&root);
    assert_eq!(config["method"], "label-smoothing");
    assert_eq!(config["settings"]["label-smoothing"]["smoothing"], 0.25);
    assert_eq!(
        epoch["series"]["schedule/epsilon"], 0.25,
        "the step read it"
    );

    train(
        &root,
        &["--method", "label-smoothing", "--set", "smoothing=0.3"],
    )
    .unwrap();
    assert_eq!(
        newest_run(&root).0["settings"]["label-smoothing"]["smoothing"],
        0.3
    );

    // Not given: the declared default, recorded with the run.
    train(&root, &["--method", "label-smoothing"]).unwrap();
    assert_eq!(
        newest_run(&root).0["settings"]["label-smoothing"]["smoothing"],
        0.1
    );

    // Refused by the declaration: out of range, another method's flag, an unknown name.
    let refused = |args: &[&str]| format!("{:#}", train(&root, args).unwrap_err());
    let range = refused(&["--method", "label-smoothing", "--smoothing", "0.9"]);
    assert!(
        range.contains("Smoothing ε 0.9 must be between 0 and 0.5"),
        "{range}"
    );
    let other = refused(&["--method", "label-smoothing", "--alpha", "0.3"]);
    assert!(
        other.contains(
            "--alpha is not a setting of method label-smoothing (it is of cross-modal-kd)"
        ),
        "{other}"
    );
    let unknown = refused(&["--method", "label-smoothing", "--set", "gamma=2"]);
    assert!(
        unknown
            .contains("method label-smoothing has no setting \"gamma\" (its settings: smoothing)"),
        "{unknown}"
    );
    // And the flag is the method's only: supervised takes no --smoothing.
    let supervised = refused(&["--method", "supervised", "--smoothing", "0.2"]);
    assert!(
        supervised.contains("not a setting of method supervised"),
        "{supervised}"
    );
}

#[test]
fn its_setting_is_a_widget_in_the_panel() {
    let method = method();
    let dir = tempfile::tempdir().unwrap();
    let root = thyroid_demo(dir.path());
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Training").click();
    harness.run();
    assert_eq!(harness.query_all_by_label("Smoothing ε").count(), 0);
    common::press(&mut harness, "Label smoothing (test)");
    assert_eq!(harness.state().state().training.config.method, method);
    // A drag value named by the declaration's title, at its default, in
    // the declaration's group.
    let widget = harness.get_by_role_and_label(egui::accesskit::Role::SpinButton, "Smoothing ε");
    assert_eq!(widget.accesskit_node().numeric_value(), Some(0.1));
    harness.get_by_label("Label smoothing");
    // Another method's settings replace it.
    common::press(&mut harness, "Mean teacher + SRC");
    assert_eq!(harness.query_all_by_label("Smoothing ε").count(), 0);
    let ema = harness.get_by_role_and_label(egui::accesskit::Role::SpinButton, "EMA decay");
    assert_eq!(ema.accesskit_node().numeric_value(), Some(0.99));
}
