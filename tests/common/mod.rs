//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// The shared real data: `../shared/data` relative to the repository root.
pub fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// Runs the `loupe` binary with arguments.
pub fn loupe(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .output()
        .expect("the loupe binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `loupe label ROOT --annotator NAME --stdin` with piped stdin and
/// stdout (and stderr as given).
pub fn spawn_label_stdin(
    root: &Path,
    annotator: &str,
    stderr: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args([
            "label",
            root.to_str().unwrap(),
            "--annotator",
            annotator,
            "--stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the loupe binary runs")
}

/// Runs loupe, which must succeed; its standard output.
pub fn run_ok(args: &[&str]) -> String {
    let output = loupe(args);
    assert!(
        output.status.success(),
        "loupe {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// An 8×8 grey PNG of one shade (folders made as needed).
pub fn write_png(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(8, 8, image::Luma([shade]))
        .save(path)
        .unwrap();
}

/// The id of the project's item whose stored path ends with `name`.
pub fn item_id(root: &Path, name: &str) -> i64 {
    loupe::store::Project::open(root)
        .unwrap()
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.path.ends_with(name))
        .unwrap_or_else(|| panic!("no item named {name}"))
        .id
}

/// The window on the project at `root` (settings in `data_dir`), drawn until
/// it settles. Thumbnails arrive from their own thread and each batch
/// repaints: settling can take more than egui_kittest's default 4 frames.
pub fn window_on(
    root: &Path,
    data_dir: PathBuf,
) -> egui_kittest::Harness<'static, loupe::ui::LoupeApp> {
    let launch = loupe::app::Launch::Project(root.to_path_buf());
    let mut harness = egui_kittest::Harness::builder()
        .with_max_steps(400)
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |cc| loupe::ui::LoupeApp::new(cc, launch, data_dir));
    harness.run();
    harness
}

/// Steps the window until its training run (started already) ends — at
/// most `limit` steps of 20 ms — and checks that it finished.
pub fn wait_for_training(
    harness: &mut egui_kittest::Harness<'static, loupe::ui::LoupeApp>,
    limit: usize,
) {
    for _ in 0..limit {
        harness.step();
        let run = harness.state().state().training.run.as_ref();
        if !run.expect("a run started").is_active() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.run();
    let run = harness.state().state().training.run.as_ref().unwrap();
    assert_eq!(
        run.status,
        loupe::app::training::TrainingStatus::Finished,
        "{:?}",
        run.status
    );
}

/// `loupe train ROOT --device flex --json --seed 2 ARGS…`, which must
/// succeed: its JSON summary.
pub fn train_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--json",
        "--seed",
        "2",
    ];
    all.extend_from_slice(args);
    let out = run_ok(&all);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

/// Clicks the widget labeled `label` as a hand would: scrolled into view
/// first (the training dashboard's columns scroll), then the pointer rests
/// on it for a frame (a tooltip still up from the last click would take a
/// click sent in the same frame), then the click.
pub fn press(harness: &mut egui_kittest::Harness<'static, loupe::ui::LoupeApp>, label: &str) {
    use egui_kittest::kittest::Queryable;
    harness.get_by_label(label).scroll_to_me();
    harness.run();
    harness.get_by_label(label).hover();
    harness.run();
    harness.get_by_label(label).click();
    harness.run();
}
