//! A clinic reviews the volumes demo: the MNI brain opens in three linked
//! views with its lesion label map drawn over it; oblique planes, overlays
//! and the CT phantom with a CT window preset.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::document::OverlaySettings;
use loupe::app::{Launch, ViewerCommand};
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
    harness.state_mut().apply(ViewerCommand::SetTilt {
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
    harness
        .state_mut()
        .apply(ViewerCommand::ResetView(Plane::Axial));
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

#[test]
fn volumes_of_one_case_show_side_by_side_on_the_gpu() {
    use loupe::volume::{self, VoxelData};
    let dir = tempfile::tempdir().unwrap();
    let t1_path = common::shared_data().join("nifti/mni152_t1.nii.gz");
    let t1 = volume::load(&t1_path).unwrap();
    // A "T2-like" companion: inverted contrast inside the head, on the same grid.
    let VoxelData::U8(values) = &t1.data else {
        panic!("uint8")
    };
    let inverted: Vec<u8> = values
        .iter()
        .map(|&v| if v > 10 { 255 - v } else { 0 })
        .collect();
    let t2 = volume::Volume {
        data: VoxelData::U8(inverted),
        ..t1.clone()
    };
    let t2_path = dir.path().join("t2like.nii.gz");
    volume::nifti::write_nifti1(&t2, &t2_path).unwrap();
    let wrong_path = dir.path().join("small.nii.gz");
    volume::nifti::write_nifti1(&loupe::synth::phantom::ct_phantom(16, 1), &wrong_path).unwrap();

    let render_state = loupe::render::device::headless_render_state().expect("a wgpu adapter");
    let data_dir = dir.path().join("data");
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1200.0, 600.0))
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(
            render_state,
        ))
        .build_eframe(move |cc| LoupeApp::new(cc, Launch::File(t1_path), data_dir));
    harness.run();
    harness
        .state_mut()
        .apply(ViewerCommand::AddCompanion(wrong_path));
    harness.run();
    assert!(
        harness
            .state()
            .state()
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("not on the open volume's grid"))
    );
    harness
        .state_mut()
        .apply(ViewerCommand::AddCompanion(t2_path));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_eq!(document.case_volumes().len(), 2);
    assert_eq!(
        document.layout,
        loupe::app::document::Layout::SideBySide(Plane::Axial)
    );
    assert_ne!(
        document.render_cpu_of(0, Plane::Axial, [100, 100]),
        document.render_cpu_of(1, Plane::Axial, [100, 100])
    );

    // Both volumes are drawn through the GPU in one frame, each in its own view.
    let frame = harness.render().expect("frame");
    let bright_in = |x0: u32, x1: u32| {
        (x0..x1)
            .flat_map(|x| (0..frame.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| frame.get_pixel(x, y).0[0] > 150)
            .count()
    };
    let views_width = frame.width() - 320; // the controls panel is on the right
    assert!(bright_in(0, views_width / 2) > 1000, "left view drawn");
    assert!(
        bright_in(views_width / 2, views_width) > 1000,
        "right view drawn"
    );
}
