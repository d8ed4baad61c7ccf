//! One wgpu device for drawing and training: set up as the app does it
//! (Mesa llvmpipe in CI), Burn computes gradients on it, and egui renders a
//! frame of the real window with the same device.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::WgpuTestRenderer;
use loupe::app::Launch;
use loupe::render::device;
use loupe::train::device as compute;
use loupe::ui::LoupeApp;

#[test]
fn burn_trains_and_egui_draws_on_one_wgpu_device() {
    let render_state =
        device::headless_render_state().expect("a wgpu adapter (install mesa-vulkan-drivers)");
    let info = render_state.adapter.get_info();
    eprintln!("adapter: {} ({:?})", info.name, info.backend);
    // The app asked for the adapter's full limits, which Burn needs.
    assert_eq!(
        render_state.device.limits().max_storage_buffer_binding_size,
        render_state
            .adapter
            .limits()
            .max_storage_buffer_binding_size
    );

    let path = common::shared_data().join("nifti/mni152_t1.nii.gz");
    let mut harness = Harness::builder()
        .with_size(egui::vec2(900.0, 600.0))
        .renderer(WgpuTestRenderer::from_render_state(render_state.clone()))
        .build_eframe(|cc| {
            LoupeApp::new(cc, Launch::File(path), tempfile::tempdir().unwrap().keep())
        });
    harness.run();

    // The window registered eframe's device with Burn; registering again
    // hands back the same Burn device rather than a second runtime.
    let app_compute = harness
        .state()
        .state()
        .compute
        .clone()
        .expect("compute device");
    assert!(
        app_compute.shares_display_device,
        "{}",
        app_compute.description
    );
    let again = loupe::app::training::display_compute(&render_state).unwrap();
    assert_eq!(again.device, app_compute.device, "registered once");

    // Burn: forward and backward on the shared device.
    let report = compute::smoke_test(&app_compute).expect("burn runs on the shared device");
    assert!(
        report.loss.is_finite() && report.grad_abs_sum > 0.0,
        "{report:?}"
    );

    // egui: a frame of the real window through the same device and queue.
    let frame = harness
        .render()
        .expect("egui renders with the shared device");
    assert_eq!((frame.width(), frame.height()), (900, 600));
    let bright = frame
        .pixels()
        .filter(|p| p.0[0] > 150 && p.0[1] > 150 && p.0[2] > 150)
        .count();
    assert!(
        bright > 2000,
        "the brain slice is drawn ({bright} bright pixels)"
    );
    harness.get_by_label_contains("training runs on the display device");
}
