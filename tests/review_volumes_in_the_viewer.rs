//! A clinic reviews the volumes demo: the MNI brain opens in three linked
//! views with its lesion label map drawn over it; oblique planes, overlays
//! and the CT phantom with a CT window preset.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::document::OverlaySettings;
use loupe::app::{Command, Launch};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::ui::LoupeApp;
use loupe::volume::slice::Plane;

#[test]
fn the_volumes_demo_opens_with_its_label_map() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("volumes");
    let summary = write_demo(&root, &DemoOptions::new(DemoTask::Volumes), |_, _| {}).unwrap();
    assert_eq!(summary.items, 2, "the label map is an overlay, not an item");

    let data_dir = dir.path().join("data");
    let launch = Launch::Project(root.clone());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 850.0))
        .build_eframe(move |cc| LoupeApp::new(cc, launch, data_dir));
    harness.run();
    let document = harness
        .state()
        .state()
        .document
        .as_ref()
        .expect("the brain is shown");
    assert!(document.volume.path.ends_with("mni152_t1.nii.gz"));
    assert!(
        document.labels.is_some(),
        "mni152_t1_labels.nii.gz is drawn over it"
    );
    harness.get_by_label("Outline only").click();
    harness.run();
    assert!(
        harness
            .state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .overlay
            .outline
    );

    // An oblique plane draws something other than the orthogonal one.
    let orthogonal = harness
        .state()
        .state()
        .document
        .as_ref()
        .unwrap()
        .render_cpu(Plane::Axial, [160, 160]);
    harness.state_mut().apply(Command::SetTilt {
        plane: Plane::Axial,
        tilt: [0.5, 0.0],
    });
    let oblique = harness
        .state()
        .state()
        .document
        .as_ref()
        .unwrap()
        .render_cpu(Plane::Axial, [160, 160]);
    assert_ne!(orthogonal, oblique);
    harness.state_mut().apply(Command::ResetView(Plane::Axial));
    let reset = harness
        .state()
        .state()
        .document
        .as_ref()
        .unwrap()
        .render_cpu(Plane::Axial, [160, 160]);
    assert_eq!(orthogonal, reset);

    // The CT phantom, with the lung window.
    harness.key_press(egui::Key::ArrowLeft);
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert!(
        document.volume.path.ends_with("ct_phantom_128.nii.gz"),
        "{}",
        document.volume.path.display()
    );
    harness.get_by_label("CT lung").click();
    harness.run();
    let window = harness.state().state().document.as_ref().unwrap().window;
    assert_eq!((window.center, window.width), (-500.0, 1400.0));
}

#[test]
fn label_overlays_show_lesions_where_the_map_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("volumes");
    write_demo(&root, &DemoOptions::new(DemoTask::Volumes), |_, _| {}).unwrap();
    let mut document = loupe::app::Document::open(&root.join("images/mni152_t1.nii.gz")).unwrap();
    let labels = document
        .labels
        .clone()
        .expect("label map found beside the image");
    // Put the crosshair on a labeled voxel, then every view through it shows label colour.
    let shape = labels.spatial_shape();
    let voxel = (0..labels.voxel_count())
        .find(|&v| labels.value_at(v).is_some_and(|l| l > 0.0))
        .expect("lesions exist");
    let index = [
        voxel % shape[0],
        (voxel / shape[0]) % shape[1],
        voxel / (shape[0] * shape[1]),
    ];
    document.click(index.map(|v| v as f64));
    for plane in Plane::ALL {
        let with_labels = document.render_cpu(plane, [200, 200]);
        document.set_overlay(OverlaySettings {
            visible: false,
            ..document.overlay
        });
        let plain = document.render_cpu(plane, [200, 200]);
        document.set_overlay(OverlaySettings {
            visible: true,
            ..document.overlay
        });
        assert_ne!(with_labels, plain, "{plane:?}: the lesion is drawn");
    }
    let readout = document.readout(document.crosshair_voxel()).unwrap();
    assert!(readout.contains("label"), "{readout}");
}
