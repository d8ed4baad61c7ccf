//! A clinician labels a demo project in the window: a key press saves the
//! label at once and moves on; undo and redo; a second annotator disagrees
//! and a reviewer adjudicates.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::project::BrowserFilter;
use loupe::app::{JobCommand, LabelingCommand, Launch, WindowCommand};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::store::{ADJUDICATOR, Pool, Project};
use loupe::ui::LoupeApp;

fn demo_project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rop");
    let options = DemoOptions {
        count: 16,
        size: 64,
        ..DemoOptions::new(DemoTask::Rop)
    };
    write_demo(&root, &options, |_, _| {}).unwrap();
    (dir, root)
}

fn harness(root: &std::path::Path, data_dir: &std::path::Path) -> Harness<'static, LoupeApp> {
    let (root, data_dir) = (root.to_path_buf(), data_dir.to_path_buf());
    Harness::builder()
        // Thumbnails arrive from their own thread and each batch repaints:
        // `run` waits for them to settle, which can take more than 4 frames.
        .with_max_steps(400)
        .with_size(egui::vec2(1300.0, 800.0))
        .build_eframe(move |cc| LoupeApp::new(cc, Launch::Project(root), data_dir))
}

fn stored_stage(root: &std::path::Path, item: i64, annotator: &str) -> Option<String> {
    let project = Project::open(root).unwrap();
    project
        .current_labels(item)
        .unwrap()
        .get(annotator)
        .and_then(|f| f.get("stage"))
        .cloned()
}

#[test]
fn a_key_press_saves_the_label_and_moves_on() {
    let (dir, root) = demo_project();
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness.run();
    let session = harness
        .state()
        .state()
        .session
        .as_ref()
        .expect("project open");
    let first = session.selected.expect("an item is selected");
    assert!(
        harness.state().state().document.is_some(),
        "its image is shown"
    );
    harness.get_by_label("3 Stage 2");

    harness.key_press(egui::Key::Num3);
    harness.run();
    // Durable: another connection sees it at once, and the item is labeled.
    assert_eq!(
        stored_stage(&root, first, "ana").as_deref(),
        Some("Stage 2")
    );
    let session = harness.state().state().session.as_ref().unwrap();
    assert_eq!(session.row(first).unwrap().item.pool, Pool::Labeled);
    assert_ne!(session.selected, Some(first), "auto-advanced");

    // Undo restores the previous (absent) label and goes back to the item; redo reapplies.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run();
    assert_eq!(stored_stage(&root, first, "ana"), None);
    assert_eq!(
        harness.state().state().session.as_ref().unwrap().selected,
        Some(first)
    );
    assert_eq!(
        harness
            .state()
            .state()
            .session
            .as_ref()
            .unwrap()
            .row(first)
            .unwrap()
            .item
            .pool,
        Pool::Unlabeled
    );
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    harness.run();
    assert_eq!(
        stored_stage(&root, first, "ana").as_deref(),
        Some("Stage 2")
    );

    // Buttons do the same as keys; J and K move through the list.
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(first));
    harness.run();
    harness.get_by_label("2 Stage 1").click();
    harness.run();
    assert_eq!(
        stored_stage(&root, first, "ana").as_deref(),
        Some("Stage 1")
    );
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(first));
    harness.run();
    harness.key_press(egui::Key::J);
    harness.run();
    let after_j = harness.state().state().session.as_ref().unwrap().selected;
    assert_ne!(after_j, Some(first));
    harness.key_press(egui::Key::K);
    harness.run();
    assert_eq!(
        harness.state().state().session.as_ref().unwrap().selected,
        Some(first)
    );

    // A zone hotkey (W = II) sets a non-target field without moving on.
    harness.key_press(egui::Key::W);
    harness.run();
    let project = Project::open(&root).unwrap();
    assert_eq!(project.current_labels(first).unwrap()["ana"]["zone"], "II");
    assert_eq!(
        harness.state().state().session.as_ref().unwrap().selected,
        Some(first)
    );
}

#[test]
fn annotators_disagree_and_a_reviewer_adjudicates() {
    let (dir, root) = demo_project();
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(LabelingCommand::SetAutoAdvance(false));
    let item = harness
        .state()
        .state()
        .session
        .as_ref()
        .unwrap()
        .selected
        .unwrap();
    for (annotator, stage) in [("ana", "Stage 1"), ("ben", "Stage 3")] {
        harness
            .state_mut()
            .apply(WindowCommand::SetAnnotator(annotator.into()));
        harness.state_mut().apply(LabelingCommand::SetLabel {
            field: "stage".into(),
            value: Some(stage.into()),
        });
    }
    harness
        .state_mut()
        .apply(LabelingCommand::SetFilter(BrowserFilter {
            disagreement: true,
            ..Default::default()
        }));
    harness.run();
    let session = harness.state().state().session.as_ref().unwrap();
    let listed: Vec<i64> = session.visible().iter().map(|r| r.item.id).collect();
    assert_eq!(listed, vec![item], "the disagreement filter lists the item");
    harness.get_by_label("Annotators disagree on stage.");

    harness
        .get_by_role_and_label(egui::accesskit::Role::Button, "Stage 3")
        .click();
    harness.run();
    assert_eq!(
        stored_stage(&root, item, ADJUDICATOR).as_deref(),
        Some("Stage 3")
    );
    let project = Project::open(&root).unwrap();
    assert_eq!(
        project.consensus(item, "stage").unwrap().as_deref(),
        Some("Stage 3"),
        "adjudication is what training uses"
    );

    harness.state_mut().apply(LabelingCommand::ComputeAgreement);
    harness.run();
    let stats = harness
        .state()
        .state()
        .session
        .as_ref()
        .unwrap()
        .agreement
        .clone()
        .expect("agreement computed");
    assert!(
        stats.annotators.contains(&"ana".to_string())
            && stats.annotators.contains(&"ben".to_string())
    );
}

#[test]
fn a_missing_file_is_shown_as_missing_and_keeps_its_labels() {
    let (dir, root) = demo_project();
    let mut project = Project::open(&root).unwrap();
    let item = project
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.pool == Pool::Unlabeled)
        .unwrap();
    project
        .set_label(item.id, "ana", "stage", Some("Normal"))
        .unwrap();
    let moved = dir.path().join("elsewhere");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::rename(project.resolve(&item), moved.join("moved.png")).unwrap();
    drop(project);

    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(item.id));
    harness.run();
    let state = harness.state().state();
    assert!(
        state
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("missing")),
        "{:?}",
        state.notice
    );
    assert!(
        state
            .session
            .as_ref()
            .unwrap()
            .row(item.id)
            .unwrap()
            .missing
    );
    assert_eq!(
        stored_stage(&root, item.id, "ana").as_deref(),
        Some("Normal")
    );

    harness
        .state_mut()
        .apply(JobCommand::FindMovedFiles { folder: moved });
    finish_job(&mut harness);
    let state = harness.state().state();
    assert!(
        !state
            .session
            .as_ref()
            .unwrap()
            .row(item.id)
            .unwrap()
            .missing
    );
    assert!(state.document.is_some());
}

#[test]
fn importing_in_the_window_runs_in_the_background_and_reports_duplicates() {
    let (dir, root) = demo_project();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    for i in 0..5 {
        image::GrayImage::from_pixel(8, 8, image::Luma([i * 40]))
            .save(incoming.join(format!("new{i}.png")))
            .unwrap();
    }
    // A file the project already has.
    let existing = Project::open(&root).unwrap().items().unwrap()[0].clone();
    std::fs::copy(root.join(&existing.path), incoming.join("again.png")).unwrap();

    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    let before = harness.state().state().session.as_ref().unwrap().rows.len();
    harness.state_mut().apply(JobCommand::Import {
        paths: vec![incoming],
        labels: None,
        test_fraction: 0.0,
        adjudications: false,
    });
    finish_job(&mut harness);
    let state = harness.state().state();
    assert!(state.job.is_none(), "import finished");
    assert_eq!(state.session.as_ref().unwrap().rows.len(), before + 5);
    let notice = state.notice.as_ref().expect("a report");
    assert!(
        notice.text.contains("Imported 5 items") && notice.text.contains("1 duplicates"),
        "{}",
        notice.text
    );
}

/// Steps the window one frame at a time until its background job has ended:
/// the progress bar repaints while a job runs, so the window never settles.
fn finish_job(harness: &mut Harness<'_, LoupeApp>) {
    for _ in 0..500 {
        harness.step();
        if harness.state().state().job.is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run_steps(2);
    assert!(harness.state().state().job.is_none(), "the job finished");
}

#[test]
fn a_corrupt_settings_file_is_reported_not_silently_reset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("settings.json"),
        "{\"annotator\": \"ana\", \"recent_pro",
    )
    .unwrap();
    let state = loupe::app::AppState::new(data.clone());
    let notice = state.notice.as_ref().expect("the problem is shown");
    assert!(
        notice.is_error && notice.text.contains("settings.json is corrupt"),
        "{}",
        notice.text
    );
    assert_eq!(
        std::fs::read_to_string(data.join("settings.json.corrupt")).unwrap(),
        "{\"annotator\": \"ana\", \"recent_pro",
        "kept for the user"
    );
}

#[test]
fn labels_imported_in_the_window_are_recorded_as_the_csv_says_not_as_the_user() {
    let (dir, root) = demo_project();
    let incoming = dir.path().join("incoming");
    common::write_png(&incoming.join("fresh.png"), 3);
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "fresh.png,stage=Stage 2\n").unwrap();
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness.state_mut().apply(JobCommand::Import {
        paths: vec![incoming],
        labels: Some(labels),
        test_fraction: 0.0,
        adjudications: false,
    });
    finish_job(&mut harness);
    let project = Project::open(&root).unwrap();
    let item = project
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.path.ends_with("fresh.png"))
        .unwrap();
    let labels = project.current_labels(item.id).unwrap();
    assert_eq!(
        labels.keys().collect::<Vec<_>>(),
        ["import"],
        "not the window's user"
    );
}

#[test]
fn the_browser_list_and_counts_follow_every_label_filter_and_sort() {
    use loupe::app::ProjectSession;
    use loupe::app::project::SortOrder;

    let (_dir, root) = demo_project();
    let mut session = ProjectSession::open(&root).unwrap();
    let filter = BrowserFilter {
        class: Some("Stage 3".into()),
        ..Default::default()
    };
    session
        .apply(LabelingCommand::SetFilter(filter), "ana")
        .unwrap();
    let before: Vec<i64> = session.visible().iter().map(|r| r.item.id).collect();
    let labeled_before = session.counts()[&Pool::Labeled]
        .get("Stage 3")
        .copied()
        .unwrap_or(0);
    let id = session
        .rows
        .iter()
        .find(|r| r.item.pool == Pool::Unlabeled && r.labels.is_empty())
        .unwrap()
        .item
        .id;
    session
        .apply(LabelingCommand::SelectItem(id), "ana")
        .unwrap();
    session
        .apply(
            LabelingCommand::SetLabel {
                field: "stage".into(),
                value: Some("Stage 3".into()),
            },
            "ana",
        )
        .unwrap();
    let after: Vec<i64> = session.visible().iter().map(|r| r.item.id).collect();
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the new Stage 3 item is listed"
    );
    assert!(after.contains(&id));
    assert_eq!(
        session.counts()[&Pool::Labeled]["Stage 3"],
        labeled_before + 1
    );

    // Names ascending, then dates descending (ties: newest id first).
    session
        .apply(LabelingCommand::SetFilter(BrowserFilter::default()), "ana")
        .unwrap();
    let by_name: Vec<String> = session
        .visible()
        .iter()
        .map(|r| r.item.path.clone())
        .collect();
    let mut sorted = by_name.clone();
    sorted.sort();
    assert_eq!(by_name, sorted);
    session
        .apply(LabelingCommand::SetSort(SortOrder::Date), "ana")
        .unwrap();
    let by_date: Vec<i64> = session.visible().iter().map(|r| r.item.id).collect();
    let mut newest_first: Vec<i64> = session.rows.iter().map(|r| r.item.id).collect();
    newest_first.reverse();
    assert_eq!(by_date, newest_first);
}

#[test]
fn a_file_that_cannot_be_drawn_is_shown_as_broken_without_stalling_the_window() {
    let (dir, root) = demo_project();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    common::write_png(&incoming.join("garbage.png"), 9);
    let mut project = Project::open(&root).unwrap();
    loupe::store::import::import(
        &mut project,
        &[incoming.clone()],
        None,
        &Default::default(),
        |_, _| {},
    )
    .unwrap();
    drop(project);
    // Damaged on disk after the import (an import refuses such a file).
    std::fs::write(
        incoming.join("garbage.png"),
        b"\x89PNG\r\n\x1a\n not really",
    )
    .unwrap();
    let mut harness = harness(&root, &dir.path().join("data"));
    // Thumbnails are drawn on their own thread; frames go on meanwhile.
    for _ in 0..300 {
        harness.step();
        if harness.query_by_label("broken").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.get_by_label("broken");
}

#[test]
fn adjudications_are_imported_in_the_window_only_when_allowed() {
    let (dir, root) = demo_project();
    let incoming = dir.path().join("incoming");
    common::write_png(&incoming.join("reviewed.png"), 5);
    let labels = dir.path().join("export.csv");
    std::fs::write(
        &labels,
        format!("path,annotator,stage\nreviewed.png,{ADJUDICATOR},Stage 3\n"),
    )
    .unwrap();
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness.get_by_label("Import…").click();
    harness.run();
    harness.get_by_label("Restore adjudicated labels from the CSV");

    let import = |adjudications| JobCommand::Import {
        paths: vec![incoming.clone()],
        labels: Some(labels.clone()),
        test_fraction: 0.0,
        adjudications,
    };
    harness.state_mut().apply(import(false));
    finish_job(&mut harness);
    let notice = harness.state().state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text.contains("Restore adjudicated labels"),
        "{}",
        notice.text
    );
    harness.state_mut().apply(import(true));
    finish_job(&mut harness);
    let project = Project::open(&root).unwrap();
    let item = project
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.path.ends_with("reviewed.png"))
        .unwrap();
    assert_eq!(
        project.consensus(item.id, "stage").unwrap().as_deref(),
        Some("Stage 3")
    );
}

#[test]
fn the_windows_import_names_every_file_it_could_not_decode() {
    let (dir, root) = demo_project();
    let incoming = dir.path().join("incoming");
    common::write_png(&incoming.join("fine.png"), 5);
    common::write_png(&incoming.join("cut.png"), 9);
    let whole = std::fs::read(incoming.join("cut.png")).unwrap();
    std::fs::write(incoming.join("cut.png"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(incoming.join("empty.png"), b"").unwrap();
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness.state_mut().apply(JobCommand::Import {
        paths: vec![incoming.clone()],
        labels: None,
        test_fraction: 0.0,
        adjudications: false,
    });
    finish_job(&mut harness);
    let notice = harness.state().state().notice.clone().unwrap();
    assert!(!notice.is_error, "{}", notice.text);
    for line in [
        "2 files skipped:",
        "cut.png: does not decode",
        "empty.png: does not decode",
    ] {
        assert!(
            notice.text.contains(line),
            "{line:?} not in {}",
            notice.text
        );
    }
    assert!(
        notice.text.starts_with("Imported 1 items"),
        "{}",
        notice.text
    );
}
