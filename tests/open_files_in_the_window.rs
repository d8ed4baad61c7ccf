//! A user opens images and volumes in the window, moves through slices, and
//! sees a clear message (with the open image kept) when a file is broken.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::{Command, Launch};
use loupe::ui::LoupeApp;

/// A file dropped on the window, as the windowing system hands it over.
#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn harness_with(path: Option<std::path::PathBuf>) -> Harness<'static, LoupeApp> {
    let data_dir = tempfile::tempdir().unwrap().keep();
    let launch = path.map_or(Launch::Empty, Launch::File);
    Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_eframe(move |cc| LoupeApp::new(cc, launch, data_dir))
}

#[test]
fn a_volume_opens_on_its_middle_axial_slice() {
    let path = common::shared_data().join("nifti/mni152_t1.nii.gz");
    let mut harness = harness_with(Some(path));
    harness.run();
    let document = harness
        .state()
        .state()
        .document
        .as_ref()
        .expect("document open");
    // MNI152 is RAS with 189 axial slices; the middle one is shown.
    assert_eq!(document.slice_count, 189);
    assert_eq!(document.slice_index, 94);
    assert_eq!((document.slice.width, document.slice.height), (197, 233));
    harness.get_by_role_and_label(egui::accesskit::Role::Slider, "Slice");
    assert!(
        harness
            .query_all_by_label_contains("mni152_t1.nii.gz")
            .count()
            >= 1,
        "file name shown"
    );

    // Arrow keys move through slices.
    harness.key_press(egui::Key::ArrowUp);
    harness.run();
    assert_eq!(
        harness
            .state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .slice_index,
        95
    );
}

#[test]
fn a_dropped_photo_replaces_the_view_and_a_broken_file_keeps_it() {
    let mut harness = harness_with(None);
    harness.run();
    harness.get_by_label("Open an image or volume");

    let photo = common::shared_data().join("fundus/retina.jpg");
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(photo.clone())));
    harness.run();
    let document = harness
        .state()
        .state()
        .document
        .as_ref()
        .expect("photo open");
    assert_eq!(document.volume.channels, 3);
    assert_eq!(document.slice_count, 1);

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.nii");
    std::fs::write(&broken, b"not a volume").unwrap();
    harness.state_mut().apply(Command::Open(broken));
    harness.run();
    let state = harness.state().state();
    assert_eq!(
        state.document.as_ref().unwrap().volume.path,
        photo,
        "the open photo is kept"
    );
    let notice = state.notice.as_ref().expect("an error is shown");
    assert!(
        notice.is_error && notice.text.contains("broken.nii"),
        "{}",
        notice.text
    );
    harness.get_by_label_contains("broken.nii");
    harness.get_by_label("Dismiss").click();
    harness.run();
    assert!(harness.state().state().notice.is_none());
}

#[test]
fn a_4d_volume_has_a_time_slider() {
    let path = common::shared_data().join("nifti/functional.nii");
    let mut harness = harness_with(Some(path));
    harness.run();
    harness.get_by_role_and_label(egui::accesskit::Role::Slider, "Time");
    harness.state_mut().apply(Command::SetTime(5));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.time, 5);
    // Scaled values (slope 0.0754, intercept 3100.76) are what the slice shows.
    assert!(
        document
            .slice
            .values
            .iter()
            .all(|v| *v > 600.0 && *v < 5600.0)
    );
}
