//! A user opens images and volumes in the window, moves through slices, and
//! sees a clear message (with the open image kept) when a file is broken.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::document::Layout;
use loupe::app::{Launch, ViewerCommand};
use loupe::render::cpu::WindowLevel;
use loupe::ui::LoupeApp;
use loupe::volume::slice::{Convention, Plane};

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
fn a_volume_opens_on_its_middle_slices_in_three_views() {
    let path = common::shared_data().join("nifti/mni152_t1.nii.gz");
    let mut harness = harness_with(Some(path));
    harness.run();
    let document = harness
        .state()
        .state()
        .document
        .as_ref()
        .expect("document open");
    // MNI152 is RAS with 197 × 233 × 189 voxels; the crosshair starts in the middle.
    assert_eq!(document.slice_count(Plane::Axial), 189);
    assert_eq!(document.slice_index(Plane::Axial), 94);
    assert_eq!(document.layout, Layout::TriPlanar);
    for plane in Plane::ALL {
        harness.get_by_role_and_label(egui::accesskit::Role::Slider, plane.name());
    }
    assert!(
        harness
            .query_all_by_label_contains("mni152_t1.nii.gz")
            .count()
            >= 1,
        "file name shown"
    );

    // Slices move, the layout and convention switch, presets set the window.
    harness.state_mut().apply(ViewerCommand::StepSlice {
        plane: Plane::Axial,
        delta: 1,
    });
    harness.get_by_label("Sagittal").click();
    harness.get_by_label("Neurological").click();
    // An MRI is not in Hounsfield units: no CT presets; a typed window instead.
    assert!(harness.query_by_label("CT bone").is_none());
    harness
        .state_mut()
        .apply(ViewerCommand::SetWindow(WindowLevel {
            center: 400.0,
            width: 1000.0,
        }));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.slice_index(Plane::Axial), 95);
    assert_eq!(document.layout, Layout::Single(Plane::Sagittal));
    assert_eq!(document.convention, Convention::Neurological);
    assert_eq!(
        (document.window.center, document.window.width),
        (400.0, 1000.0)
    );

    // A click's voxel becomes the crosshair in all views.
    harness
        .state_mut()
        .apply(ViewerCommand::ClickVoxel([10.0, 20.0, 30.0]));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.crosshair, [10.0, 20.0, 30.0]);
    assert_eq!(document.slice_index(Plane::Coronal), 20);
    let readout = document.readout(document.crosshair_voxel()).unwrap();
    assert!(
        readout.starts_with("voxel (10, 20, 30) · RAS (-88.0, -114.0, -42.0) mm"),
        "{readout}"
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
    assert_eq!(
        document.layout,
        Layout::Single(Plane::Axial),
        "a photo gets one view"
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.nii");
    std::fs::write(&broken, b"not a volume").unwrap();
    harness.state_mut().apply(ViewerCommand::Open(broken));
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
    harness.state_mut().apply(ViewerCommand::SetTime(5));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.time, 5);
    // The readout shows the scaled value (slope 0.0754, intercept 3100.76) at that time point.
    let readout = document.readout(document.crosshair_voxel()).unwrap();
    let value: f64 = readout
        .rsplit(" · ")
        .next()
        .unwrap()
        .strip_suffix(" a.u.")
        .expect("an MRI value in arbitrary units")
        .parse()
        .unwrap();
    assert!(value > 600.0 && value < 5600.0, "{readout}");
}
