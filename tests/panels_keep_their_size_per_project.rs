//! A grader widens the browser of one project: that project opens with it
//! next time, another project keeps its own.

mod common;

use loupe::demo::{DemoOptions, DemoTask, write_demo};

fn demo(root: &std::path::Path) {
    write_demo(
        root,
        &DemoOptions {
            count: 12,
            size: 32,
            ..DemoOptions::new(DemoTask::Thyroid)
        },
        |_, _| {},
    )
    .unwrap();
}

#[test]
fn a_resized_panel_is_remembered_for_its_project_only() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    demo(&a);
    demo(&b);
    let data = dir.path().join("data");
    let mut harness = common::window_on(&a, data.clone());
    let before = harness.state().panels_drawn();
    assert!(before.browser_width > 200, "{before:?}");
    assert!(
        harness.state().state().settings.panel_sizes.is_empty(),
        "opening remembers nothing"
    );
    // Drag the browser's right edge 120 points to the right.
    let edge = egui::pos2(before.browser_width as f32 + 0.5, 400.0);
    harness.event(egui::Event::PointerMoved(edge));
    harness.run();
    harness.event(egui::Event::PointerButton {
        pos: edge,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::default(),
    });
    harness.run();
    for step in 1..=6 {
        harness.event(egui::Event::PointerMoved(
            edge + egui::vec2(20.0 * step as f32, 0.0),
        ));
        harness.run();
    }
    harness.event(egui::Event::PointerButton {
        pos: edge + egui::vec2(120.0, 0.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::default(),
    });
    harness.run();
    let widened = harness.state().panels_drawn().browser_width;
    assert!(
        (widened as i64 - before.browser_width as i64 - 120).abs() <= 3,
        "dragged from {} to {widened}",
        before.browser_width
    );
    drop(harness);

    // Project b opens with its own (default) width; a with the one given it.
    let harness = common::window_on(&b, data.clone());
    let b_width = harness.state().panels_drawn().browser_width;
    assert_eq!(b_width, before.browser_width);
    drop(harness);
    let harness = common::window_on(&a, data);
    assert_eq!(harness.state().panels_drawn().browser_width, widened);
}
