//! A researcher presses Start in the training panel: the run goes on in the
//! background while the window keeps drawing, and its curves and metrics arrive.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::training::TrainingStatus;
use loupe::app::{Command, Launch};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::train::engine::{Method, TrainConfig};
use loupe::ui::LoupeApp;

/// A thyroid demo of `count` images opened in the window, training panel shown.
fn window_with_training_panel(
    dir: &std::path::Path,
    count: usize,
    size: usize,
) -> Harness<'static, LoupeApp> {
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
    let data_dir = dir.join("data");
    let launch = Launch::Project(root);
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |cc| LoupeApp::new(cc, launch, data_dir));
    harness.run();
    harness.get_by_label("Training").click();
    harness.run();
    harness
}

#[test]
fn training_from_the_panel_reports_curves_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window_with_training_panel(dir.path(), 40, 48);
    let config = TrainConfig {
        method: Method::MeanTeacher,
        input_size: 16,
        width: 4,
        epochs: 2,
        ..TrainConfig::default()
    };
    harness.state_mut().apply(Command::SetTrainConfig(config));
    harness.run();
    harness.get_by_label("CPU (flex)").click();
    harness.run();
    assert!(harness.state().state().train_on_cpu);
    harness.get_by_label("Start").click();
    let mut frames = 0;
    for _ in 0..600 {
        harness.step();
        frames += 1;
        let training = harness
            .state()
            .state()
            .training
            .as_ref()
            .expect("a run started");
        if !training.is_active() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run();
    let state = harness.state().state();
    let training = state.training.as_ref().unwrap();
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
    harness.get_by_label("Supervised").click();
    harness.run();
    harness.get_by_label("Fundus on CPU").click();
    harness.run();
    let config = harness.state().state().train_config.clone();
    assert_eq!(
        config,
        TrainConfig {
            method: Method::Supervised,
            ..TrainConfig::fundus_on_cpu()
        }
    );
    harness.get_by_label("Method reference").click();
    harness.run();
    let config = harness.state().state().train_config.clone();
    assert_eq!(config.augmentation.rotation_degrees, 10.0);
    assert_eq!(config.method, Method::Supervised);
    assert_eq!(
        config,
        TrainConfig {
            method: Method::Supervised,
            ..TrainConfig::default()
        }
    );
}
