//! A researcher presses Start in the training panel: the run goes on in the
//! background while the window keeps drawing, and its curves and metrics
//! arrive — for any method, by the names it reports.

mod common;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::TrainingCommand;
use loupe::app::training::TrainingRun;
use loupe::app::training::TrainingStatus;
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::train::config::ChoiceRule;
use loupe::train::config::{DeviceKind, IMAGE_MODALITY, TrainConfig};
use loupe::train::device::flex;
use loupe::train::events::Scalars;
use loupe::train::presets::Preset;
use loupe::train::spec::{Method, MethodSpec, Task, TeacherUse};
use loupe::train::step::{Batch, Declaration, Models, StepContext, Stepper, TrainingMethod};
use loupe::ui::LoupeApp;

/// A thyroid demo of `count` images opened in the window, training panel shown.
fn window_with_training_panel(
    dir: &std::path::Path,
    count: usize,
    size: usize,
) -> Harness<'static, LoupeApp> {
    write_thyroid_demo(dir, count, size);
    open_training_panel(dir)
}

/// A thyroid demo of `count` images in `dir/thyroid`.
fn write_thyroid_demo(dir: &std::path::Path, count: usize, size: usize) -> std::path::PathBuf {
    let root = dir.join("thyroid");
    write_demo(
        &root,
        &DemoOptions {
            count,
            size,
            ..DemoOptions::new(DemoTask::Thyroid)
        },
        |_, _| {},
    )
    .unwrap();
    root
}

/// The window on `dir/thyroid`, training panel shown.
fn open_training_panel(dir: &std::path::Path) -> Harness<'static, LoupeApp> {
    let mut harness = common::window_on(&dir.join("thyroid"), dir.join("data"));
    common::press(&mut harness, "Training");
    harness
}

/// Draws frames until the window's run ends (at most about 12 s); the frames drawn.
fn draw_until_the_run_ends(harness: &mut Harness<'static, LoupeApp>) -> usize {
    let mut frames = 0;
    for _ in 0..600 {
        harness.step();
        frames += 1;
        let run = harness.state().state().training.run.as_ref();
        if !run.expect("a run started").is_active() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run();
    frames
}

#[test]
fn training_from_the_panel_reports_curves_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 40, 48);
    let config = TrainConfig {
        method: loupe::train::methods::mean_teacher::METHOD,
        input_size: 16,
        width: 4,
        epochs: 2,
        ..TrainConfig::default()
    };
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(config)));
    harness.run();
    common::press(&mut harness, "CPU (flex)");
    assert!(harness.state().state().training.on_cpu);
    harness.get_by_label("Start").click();
    let frames = draw_until_the_run_ends(&mut harness);
    let state = harness.state().state();
    let training = state.training.run.as_ref().unwrap();
    assert_eq!(
        training.status,
        TrainingStatus::Finished,
        "{:?}",
        training.status
    );
    assert!(frames > 1, "the window kept drawing while training ran");
    assert_eq!(training.epochs.len(), 2);
    assert!(!training.steps.is_empty());
    assert!(
        training.epochs[1].teacher.is_some(),
        "teacher metrics for mean teacher"
    );
    assert!(
        state
            .training
            .past_runs
            .iter()
            .any(|r| Some(&r.id) == training.run.as_ref()),
        "the run is listed for overlays"
    );
    harness.get_by_label_contains("Confusion");

    // Active learning: predictions arrived; U selects the most uncertain unlabeled item.
    let session = state.session.as_ref().unwrap();
    assert!(
        !session.predictions.is_empty(),
        "the run stored predictions"
    );
    let best = session
        .rows
        .iter()
        .filter(|r| r.item.pool == loupe::store::Pool::Unlabeled)
        .filter_map(|r| {
            session
                .predictions
                .get(&r.item.id)
                .map(|p| (r.item.id, p.entropy))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    harness.key_press(egui::Key::U);
    harness.run();
    let session = harness.state().state().session.as_ref().unwrap();
    assert_eq!(session.selected, Some(best));
    assert!(
        session.predictions[&best].mc_dropout_entropy.is_some(),
        "MC-dropout passes ran"
    );
    assert!(
        session.predictions[&best].disagreement.is_some(),
        "student and teacher compared"
    );
    harness.get_by_label_contains("Model suggests:");
}

#[test]
fn presets_fill_in_the_measured_settings_and_keep_the_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 8, 32);
    common::press(&mut harness, "Supervised");
    common::press(&mut harness, "Fundus on CPU");
    let config = harness.state().state().training.config.clone();
    assert_eq!(
        config,
        TrainConfig {
            method: loupe::train::methods::supervised::METHOD,
            ..Preset::FundusOnCpu.config()
        }
    );
    common::press(&mut harness, "Method reference");
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.augmentation.rotation_degrees, 10.0);
    assert_eq!(config.method, loupe::train::methods::supervised::METHOD);
    assert_eq!(
        config,
        TrainConfig {
            method: loupe::train::methods::supervised::METHOD,
            ..TrainConfig::default()
        }
    );
}

#[test]
fn the_choice_rule_and_xception_depth_are_set_in_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 8, 32);
    assert_eq!(
        harness.state().state().training.config.choose_by,
        ChoiceRule::WindowedAuc,
        "a new run chooses by the 5-epoch mean AUC"
    );
    harness.get_by_label("best accuracy").scroll_to_me();
    harness.run();
    common::press(&mut harness, "best accuracy");
    assert_eq!(
        harness.state().state().training.config.choose_by,
        ChoiceRule::Accuracy
    );
    // Xception's own flows, one click away once the model is Xception.
    assert!(harness.query_by_label("Xception's own").is_none());
    harness.get_by_label("Xception").scroll_to_me();
    harness.run();
    let hide_before = harness.get_by_label("Hide").rect();
    common::press(&mut harness, "Xception");
    harness.get_by_label("Xception's own").scroll_to_me();
    harness.run();
    // Its settings fit the settings column: it keeps its width (the block
    // counts on one line once pushed it wider, and the buttons above with it).
    let hide_after = harness.get_by_label("Hide").rect();
    assert_eq!(hide_after.right(), hide_before.right(), "the column grew");
    common::press(&mut harness, "Xception's own");
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.xception.depth(), [3, 8, 2]);
    config.validate().unwrap();
    // The dilation's control: offered once the downsampling is learnable.
    assert!(harness.query_by_label("1 (control)").is_none());
    harness.get_by_label("dilated downsampling").scroll_to_me();
    harness.run();
    common::press(&mut harness, "dilated downsampling");
    harness.get_by_label("1 (control)").scroll_to_me();
    harness.run();
    common::press(&mut harness, "1 (control)");
    let config = harness.state().state().training.config.clone();
    assert!(config.xception.dilated);
    assert_eq!(config.xception.down_dilation, 1);
    config.validate().unwrap();
}

/// A method the panel has never heard of: cross-entropy with label
/// smoothing (ε = 0.1), reporting its terms under its own names.
struct LabelSmoothing;

static LABEL_SMOOTHING: MethodSpec = MethodSpec {
    name: "label-smoothing",
    title: "Label smoothing",
    task: Task::Classify,
    keeps_teacher: false,
    uses_unlabeled: false,
    series: &["loss/ce", "loss/smoothing", "loss/total"],
    modalities: &[IMAGE_MODALITY],
    teacher_roles: &[],
    teacher_use: TeacherUse::None,
    settings: &[],
};

/// Registers `spec` (once per test process) with its step.
fn registered(spec: &'static MethodSpec, build: fn() -> Stepper) -> Method {
    let method = Method::of(spec);
    // Another test of this file may have registered it already.
    let _ = loupe::train::methods::register(Declaration { method, build });
    method
}

impl TrainingMethod for LabelSmoothing {
    fn step(
        &mut self,
        models: Models,
        optimizer: &mut ModuleOptimizer,
        batch: &Batch,
        context: &StepContext,
    ) -> (Models, Scalars) {
        let student = models.student;
        let (logits, _) = student.forward(batch.labeled.clone());
        let ce = loupe::train::losses::cross_entropy(logits.clone(), batch.labels.clone());
        // Cross-entropy against the uniform distribution.
        let smoothing = log_softmax(logits, 1).neg().mean();
        let total = ce.clone().mul_scalar(0.9) + smoothing.clone().mul_scalar(0.1);
        let value = |t: &burn::tensor::Tensor<1>| t.clone().into_scalar::<f32>() as f64;
        let values = Scalars::from([
            ("loss/ce".to_string(), value(&ce)),
            ("loss/smoothing".to_string(), value(&smoothing)),
            ("loss/total".to_string(), value(&total)),
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

#[test]
fn a_new_method_draws_its_curves_with_no_panel_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 40, 48);
    let root = dir.path().join("thyroid");
    let method = registered(&LABEL_SMOOTHING, || {
        Stepper::Classify(Box::new(LabelSmoothing))
    });
    let config = TrainConfig {
        method,
        input_size: 16,
        width: 2,
        epochs: 2,
        ..TrainConfig::default()
    };
    let run = TrainingRun::spawn(root.clone(), config, flex(), 1);
    harness.state_mut().state_mut().training.run = Some(run);
    draw_until_the_run_ends(&mut harness);
    let state = harness.state().state();
    let run = state.training.run.as_ref().unwrap();
    assert_eq!(run.status, TrainingStatus::Finished, "{:?}", run.status);
    let id = run.run.clone().unwrap();
    assert!(id.ends_with("-label-smoothing"), "{id}");
    // The panel drew the method's own series, found by name.
    harness.get_by_label("Loss terms (per step)");
    harness.get_by_label("Test pool (per epoch)");
    // (A legend names a series without its plot's group: `smoothing` in *Loss terms*.)
    for name in ["smoothing", "ce", "student/accuracy"] {
        assert!(
            harness.query_all_by_label(name).count() > 0,
            "the panel shows {name}"
        );
    }
    // And the run's file stores them by name, per epoch: the mean of the steps'.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(root.join("runs").join(&id).join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(lines.len(), 2);
    let steps_per_epoch = run.steps_per_epoch;
    let first_epoch: Vec<f64> = run.steps[..steps_per_epoch]
        .iter()
        .map(|(_, v)| v["loss/smoothing"])
        .collect();
    let mean = first_epoch.iter().sum::<f64>() / steps_per_epoch as f64;
    let stored = lines[0]["series"]["loss/smoothing"].as_f64().unwrap();
    assert!((stored - mean).abs() < 1e-9, "{stored} vs {mean}");
}

#[test]
fn the_window_opens_with_the_preset_for_the_schema_and_device() {
    let dir = tempfile::tempdir().unwrap();
    let harness = window_with_training_panel(dir.path(), 8, 32);
    let state = harness.state().state();
    let device = state.compute.as_ref().unwrap().kind();
    // Under llvmpipe (no real GPU) the panel trains on the CPU with the
    // small preset; the thyroid schema keeps the ±10° rotation …
    let expected = match device {
        DeviceKind::Cpu => Preset::SmallOnCpu,
        DeviceKind::Gpu => Preset::MethodReference,
    };
    assert_eq!(state.training.on_cpu, device == DeviceKind::Cpu);
    // … and the thyroid method's hybrid loss, CE + focal.
    let schema = state.session.as_ref().unwrap().project.schema().clone();
    assert_eq!(state.training.config, expected.config_for(&schema));
    assert_eq!(state.training.config.loss.focal_weight, 1.0);
}

#[test]
fn a_past_run_can_be_reviewed_without_training_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = write_thyroid_demo(dir.path(), 16, 32);
    let config = TrainConfig {
        method: loupe::train::methods::supervised::METHOD,
        input_size: 16,
        width: 2,
        epochs: 2,
        ..TrainConfig::default()
    };
    let (events, _received) = std::sync::mpsc::channel();
    let (_commands, commands) = std::sync::mpsc::channel();
    let summary = loupe::train::run::train(
        &root,
        &config,
        &flex(),
        loupe::app::training::RASTERIZE,
        &events,
        &commands,
    )
    .unwrap();
    let mut harness = open_training_panel(dir.path());
    harness.get_by_label_contains("Click a run in the table to review it");
    harness
        .state_mut()
        .apply(TrainingCommand::Select(Some(summary.run.clone())));
    harness.run();
    harness.get_by_label(&format!("Run {} (per epoch)", summary.run));
    harness.get_by_label("Loss terms (per epoch)");
    assert!(
        harness.query_all_by_label("student/accuracy").count() > 0,
        "the test pool's legend names its series"
    );
}

/// A method that crashes on its first step, as a bug in Burn or in a new
/// method would.
struct Crashes;

static CRASHES: MethodSpec = MethodSpec {
    name: "crashes",
    title: "Crashes",
    series: &["loss/total"],
    ..LABEL_SMOOTHING
};

impl TrainingMethod for Crashes {
    fn step(
        &mut self,
        _models: Models,
        _optimizer: &mut ModuleOptimizer,
        _batch: &Batch,
        _context: &StepContext,
    ) -> (Models, Scalars) {
        panic!("index out of bounds in a kernel")
    }
}

#[test]
fn a_crash_in_training_is_shown_and_a_new_run_can_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 16, 32);
    let root = dir.path().join("thyroid");
    let method = registered(&CRASHES, || Stepper::Classify(Box::new(Crashes)));
    let config = TrainConfig {
        method,
        input_size: 16,
        width: 2,
        epochs: 1,
        ..TrainConfig::default()
    };
    let run = TrainingRun::spawn(root, config, flex(), 1);
    harness.state_mut().state_mut().training.run = Some(run);
    draw_until_the_run_ends(&mut harness);
    let status = harness
        .state()
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .status
        .clone();
    assert_eq!(
        status,
        TrainingStatus::Failed("training crashed: index out of bounds in a kernel".into())
    );
    harness.get_by_label_contains("failed: training crashed: index out of bounds");
    // The panel is not stuck on "Running": Start is there to press again.
    harness.get_by_label("Start").click();
    harness.run_steps(3);
    let status = harness
        .state()
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .status
        .clone();
    assert!(
        matches!(status, TrainingStatus::Starting | TrainingStatus::Running),
        "{status:?}"
    );
    harness.state_mut().apply(TrainingCommand::Stop);
    draw_until_the_run_ends(&mut harness);
}
