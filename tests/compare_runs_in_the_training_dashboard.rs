//! A researcher reads the training dashboard: runs listed as a sortable
//! table, any past run's confusion matrix and ROC (AUC per class, classes
//! without positives said, not drawn), runs compared curve by curve, a run
//! deleted after a confirmation; the wheel scrolls the panel rather than
//! panning a plot; Start, Pause and Stop never move; methods the project
//! cannot feed are greyed.

mod common;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use loupe::app::TrainingCommand;
use loupe::app::training::{RunColumn, TrainingStatus};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::ui::LoupeApp;

/// A thyroid demo of `count` images of `size` px at `root`.
fn thyroid_demo(root: &std::path::Path, count: usize, size: usize) {
    write_demo(
        root,
        &DemoOptions {
            count,
            size,
            ..DemoOptions::new(DemoTask::Thyroid)
        },
        |_, _| {},
    )
    .unwrap();
}

/// A thyroid demo of 40 images with a supervised run (2 epochs) and a
/// mean-teacher run (3 epochs) trained by `loupe train`.
fn project_with_two_runs(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("thyroid");
    thyroid_demo(&root, 40, 48);
    for (method, epochs) in [("supervised", "2"), ("mean-teacher", "3")] {
        common::run_ok(&[
            "train",
            root.to_str().unwrap(),
            "--method",
            method,
            "--epochs",
            epochs,
            "--device",
            "flex",
            "--input-size",
            "16",
            "--width",
            "4",
        ]);
    }
    root
}

/// Draws frames until the window's run has `status` (at most about 10 s).
fn wait_for(harness: &mut Harness<'static, LoupeApp>, status: TrainingStatus) {
    for _ in 0..500 {
        harness.step();
        if harness
            .state()
            .state()
            .training
            .run
            .as_ref()
            .map(|r| &r.status)
            == Some(&status)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run();
}

fn open_dashboard(dir: &std::path::Path) -> Harness<'static, LoupeApp> {
    let mut harness = common::window_on(&dir.join("thyroid"), dir.join("data"));
    harness.get_by_label("Training").click();
    harness.run();
    harness
}

#[test]
fn runs_are_a_sortable_table_and_any_past_run_shows_its_confusion_and_roc() {
    let dir = tempfile::tempdir().unwrap();
    project_with_two_runs(dir.path());
    let mut harness = open_dashboard(dir.path());
    // A header per column.
    for column in RunColumn::ALL {
        harness.get_by_role_and_label(Role::Button, column.title());
    }
    let rows = harness.state().state().training.run_rows();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].id.ends_with("mean-teacher"),
        "newest first: {rows:?}"
    );
    assert_eq!(rows[0].epochs, 3);
    assert_eq!(rows[1].epochs, 2);
    assert_eq!(rows[0].method, "Mean teacher + SRC");
    assert_eq!(rows[0].status, "finished");
    // Sorted by a column by clicking its header, then the other way.
    // The table scrolls sideways to the column, as a hand would scroll it.
    harness
        .get_by_role_and_label(Role::Button, "Epochs")
        .scroll_to_me();
    harness.run();
    harness
        .get_by_role_and_label(Role::Button, "Epochs")
        .click();
    harness.run();
    let order: Vec<usize> = harness
        .state()
        .state()
        .training
        .run_rows()
        .iter()
        .map(|r| r.epochs)
        .collect();
    assert_eq!(order, [3, 2], "most epochs first");
    // (The pointer rests a frame first: the header's tooltip, up since
    // the first click, would take a click sent in the same frame.)
    harness
        .get_by_role_and_label(Role::Button, "Epochs")
        .hover();
    harness.run();
    harness
        .get_by_role_and_label(Role::Button, "Epochs")
        .click();
    harness.run();
    assert_eq!(
        harness.state().state().training.run_rows()[0].epochs,
        2,
        "clicked again: the other way round"
    );

    // Click the supervised run's row: its reported metrics, past as it is.
    let supervised = rows[1].clone();
    // (Both runs may have started within one second: then the cell of the
    // supervised run's row, in the table's order.)
    let row = harness
        .state()
        .state()
        .training
        .run_rows()
        .iter()
        .position(|r| r.id == supervised.id)
        .unwrap();
    let cell = |harness: &Harness<'static, LoupeApp>| {
        let cells: Vec<_> = harness.query_all_by_label(&supervised.started).collect();
        let index = if cells.len() > 1 { row } else { 0 };
        cells[index].rect()
    };
    // Scrolled back to the first column (the sort left it at Epochs).
    {
        let cells: Vec<_> = harness.query_all_by_label(&supervised.started).collect();
        cells[if cells.len() > 1 { row } else { 0 }].scroll_to_me();
    }
    harness.run();
    let at = cell(&harness).center();
    harness.event(egui::Event::PointerMoved(at));
    harness.run();
    for pressed in [true, false] {
        harness.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::default(),
        });
    }
    harness.run();
    assert_eq!(
        harness.state().state().training.selected.as_deref(),
        Some(supervised.id.as_str())
    );
    let past = harness
        .state()
        .state()
        .training
        .past_runs
        .iter()
        .find(|r| r.id == supervised.id)
        .unwrap()
        .clone();
    let summary = past.summary.as_ref().expect("the run ended");
    harness.get_by_label_contains("Confusion (student");
    harness.get_by_label_contains("ROC per class");
    let classes = loupe::store::Schema::thyroid()
        .target_field()
        .values
        .clone();
    for (c, class) in classes.iter().enumerate() {
        let positives: usize = summary.student.confusion[c].iter().sum();
        if positives == 0 {
            harness.get_by_label(&format!("{class}: no positives in the test pool"));
        } else {
            let auc = summary.student.auc_per_class[c].expect("an AUC where there are positives");
            harness.get_by_label(&format!("{class} · AUC {auc:.3}"));
        }
    }
}

#[test]
fn compared_runs_are_drawn_beside_the_shown_one_and_a_run_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = project_with_two_runs(dir.path());
    let mut harness = open_dashboard(dir.path());
    let rows = harness.state().state().training.run_rows();
    let (newest, oldest) = (rows[0].id.clone(), rows[1].id.clone());
    harness.get_by_label(&format!("Compare {newest}")).click();
    harness.run();
    // The pointer moves there first, as a hand would: the first box's
    // tooltip, still up, would take a click sent in the same frame.
    harness.get_by_label(&format!("Compare {oldest}")).hover();
    harness.run();
    harness.get_by_label(&format!("Compare {oldest}")).click();
    harness.run();
    assert_eq!(
        harness.state().state().training.compare,
        [newest.clone(), oldest.clone()]
    );
    // The first compared run is shown, the other drawn beside it in the
    // same plots, named in the legend, and their final metrics side by side.
    harness.get_by_label_contains(&format!("Run {newest}"));
    let oldest_short = format!("supervised {}", &rows[1].started[11..16]);
    // (In the test pool's legend, and the validation split's further down.)
    assert!(
        harness
            .query_all_by_label(&format!("{oldest_short} · student/accuracy"))
            .count()
            >= 1
    );
    harness.get_by_label("Final test metrics");

    // A legend entry switches its series off and on.
    harness
        .query_all_by_label("student/accuracy")
        .next()
        .unwrap()
        .scroll_to_me();
    harness.run();
    harness
        .query_all_by_label("student/accuracy")
        .next()
        .unwrap()
        .hover();
    harness.run();
    harness
        .query_all_by_label("student/accuracy")
        .next()
        .unwrap()
        .click();
    harness.run();
    assert!(
        harness
            .state()
            .state()
            .training
            .curves
            .hidden
            .contains("metric/student/accuracy")
    );

    // Delete asks first, then removes the run's folder and its row.
    let delete_buttons: Vec<_> = harness.query_all_by_label("Delete").collect();
    assert_eq!(delete_buttons.len(), 2);
    let runs_dir = root.join("runs");
    harness
        .state_mut()
        .apply(TrainingCommand::SortRuns(RunColumn::Started));
    harness.run();
    // Oldest first now: the first Delete button is the supervised run's.
    harness.query_all_by_label("Delete").next().unwrap().hover();
    harness.run();
    harness.query_all_by_label("Delete").next().unwrap().click();
    harness.run();
    harness.get_by_label_contains(&format!("Delete run {oldest}?"));
    assert!(
        runs_dir.join(&oldest).is_dir(),
        "nothing deleted before the confirmation"
    );
    harness.get_by_label("Delete run").click();
    harness.run();
    assert!(!runs_dir.join(&oldest).exists());
    assert!(runs_dir.join(&newest).is_dir());
    let rows = harness.state().state().training.run_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(harness.state().state().training.compare, [newest]);
}

#[test]
fn the_wheel_over_a_plot_scrolls_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let root = project_with_two_runs(dir.path());
    let _ = root;
    let mut harness = open_dashboard(dir.path());
    let newest = harness.state().state().training.run_rows()[0].id.clone();
    harness
        .state_mut()
        .apply(TrainingCommand::Select(Some(newest)));
    harness.run();
    let title = "Loss terms (per epoch)";
    let before = harness.get_by_label(title).rect();
    let plot = loupe::ui::training::curves::plot_id("loss");
    let bounds = |h: &Harness<'static, LoupeApp>| {
        egui_plot::PlotMemory::load(&h.ctx, plot).map(|m| *m.bounds())
    };
    let plot_before = bounds(&harness).expect("the loss plot was drawn");
    // The pointer over the loss plot, just under its title.
    let over_plot = egui::pos2(before.left() + 120.0, before.bottom() + 60.0);
    harness.event(egui::Event::PointerMoved(over_plot));
    harness.run();
    for _ in 0..3 {
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -80.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::default(),
        });
        harness.run();
    }
    let after = harness.get_by_label(title).rect();
    assert_eq!(
        bounds(&harness),
        Some(plot_before),
        "the plot did not pan under the wheel"
    );
    assert!(
        after.top() < before.top() - 100.0,
        "the curves panel scrolled: title at {} then {}",
        before.top(),
        after.top()
    );
}

#[test]
fn start_pause_and_stop_stay_in_place_and_a_paused_run_shows_no_eta() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("thyroid");
    thyroid_demo(&root, 40, 48);
    let mut harness = open_dashboard(dir.path());
    let config = loupe::train::config::TrainConfig {
        method: loupe::train::methods::supervised::METHOD,
        input_size: 16,
        width: 4,
        epochs: 200,
        ..Default::default()
    };
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(config)));
    harness.state_mut().apply(TrainingCommand::SetOnCpu(true));
    harness.run();
    let places = |harness: &Harness<'static, LoupeApp>| {
        ["Start", "Pause", "Stop"].map(|b| harness.get_by_label(b).rect())
    };
    let idle = places(&harness);
    assert!(
        harness.get_by_label("Pause").accesskit_node().is_disabled(),
        "nothing to pause yet"
    );
    harness.get_by_label("Start").click();
    let running = |h: &Harness<'static, LoupeApp>| {
        h.state()
            .state()
            .training
            .run
            .as_ref()
            .map(|r| r.status.clone())
    };
    wait_for(&mut harness, TrainingStatus::Running);
    assert_eq!(running(&harness), Some(TrainingStatus::Running));
    assert_eq!(
        places(&harness),
        idle,
        "no button moved when the run started"
    );
    // The run is in the table while it goes on.
    let rows = harness.state().state().training.run_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "running");
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, TrainingStatus::Paused);
    assert_eq!(running(&harness), Some(TrainingStatus::Paused));
    let resume = harness.get_by_label("Resume").rect();
    assert_eq!(resume, idle[1], "Resume takes Pause's place");
    let progress = harness.get_by_label_contains("images/s");
    let text = progress.accesskit_node().label().unwrap_or_default();
    assert!(
        text.ends_with(", paused") && !text.contains("ETA"),
        "{text}"
    );
    harness.get_by_label("Stop").click();
    wait_for(&mut harness, TrainingStatus::Stopped);
    assert_eq!(running(&harness), Some(TrainingStatus::Stopped));
}

#[test]
fn methods_the_project_cannot_feed_are_greyed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("thyroid");
    thyroid_demo(&root, 12, 32);
    let harness = open_dashboard(dir.path());
    for offered in ["Supervised", "Mean teacher"] {
        assert!(
            !harness.get_by_label(offered).accesskit_node().is_disabled(),
            "{offered} reads images"
        );
    }
    for method in loupe::train::methods::all() {
        let spec = method.method.spec();
        if ["supervised", "mean-teacher"].contains(&spec.name) {
            continue;
        }
        assert!(
            harness
                .get_by_label(spec.title)
                .accesskit_node()
                .is_disabled(),
            "{} cannot read a thyroid project's images",
            spec.title
        );
    }
}
