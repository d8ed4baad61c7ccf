//! A clinician crops thyroid ultrasound exports to the image sector:
//! `loupe crop` reports Otsu's threshold and the largest component's box,
//! the window draws the same box, dragging an edge corrects it durably, and
//! training uses the corrected box.

mod common;

use std::path::Path;

use common::{item_id, loupe, run_ok, stderr};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::{LabelingCommand, Launch, WindowCommand};
use loupe::store::Project;
use loupe::ui::LoupeApp;
use loupe::volume::slice::Plane;

/// 40×30 grey: background 0, a "sector" of 120 at x 8..32, y 5..27, a text
/// block of 250 at x 1..5, y 1..3 (smaller), and a dark hole inside the sector.
fn frame(path: &Path) {
    let image = image::GrayImage::from_fn(40, 30, |x, y| {
        let v = if (8..32).contains(&x) && (5..27).contains(&y) {
            if (15..18).contains(&x) && (10..12).contains(&y) {
                5
            } else {
                120
            }
        } else if (1..5).contains(&x) && (1..3).contains(&y) {
            250
        } else {
            0
        };
        image::Luma([v])
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

#[test]
fn loupe_crop_reports_threshold_component_and_margin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("frame.png");
    frame(&file);
    let out = run_ok(&["crop", file.to_str().unwrap(), "--margin", "3", "--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // Histogram 0 ×~650 and 5 ×6 | 120 ×522 | 250 ×8: Otsu puts 0 and 5 below
    // (t = 5, the last value of the lower class), so the sector (its hole
    // aside) and the text are foreground, and the sector is larger.
    assert_eq!(json["threshold"], 5);
    assert_eq!(json["bbox"], serde_json::json!([8, 5, 31, 26]));
    assert_eq!(json["crop"], serde_json::json!([5, 2, 34, 29]));
    assert_eq!(json["pixels"], 24 * 22 - 6);
    assert_eq!(json["width"], 40);
    assert_eq!(json["height"], 30);
    let text = run_ok(&["crop", file.to_str().unwrap()]);
    assert!(text.contains("Otsu threshold 5"), "{text}");

    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(8, 8, image::Luma([40u8]))
        .save(&blank)
        .unwrap();
    let output = loupe(&["crop", blank.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no pixel is brighter"),
        "{}",
        stderr(&output)
    );
    let output = loupe(&["crop", file.to_str().unwrap(), "--margin", "99999"]);
    assert!(
        stderr(&output).contains("--margin 99999"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_window_draws_the_same_box_and_a_dragged_edge_is_kept_and_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    frame(&images.join("frame.png"));
    let root = dir.path().join("thyroid");
    let root_s = root.to_str().unwrap();
    run_ok(&["project", "init", root_s, "--schema", "thyroid"]);
    run_ok(&["import", root_s, images.to_str().unwrap()]);
    let id = item_id(&root, "frame.png");
    let margin = Project::open(&root)
        .unwrap()
        .schema()
        .crop
        .unwrap()
        .margin_px;
    let cli: serde_json::Value = serde_json::from_str(
        run_ok(&[
            "crop",
            images.join("frame.png").to_str().unwrap(),
            "--margin",
            &margin.to_string(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();

    let data_dir = dir.path().join("data");
    let launch_root = root.clone();
    let mut harness = Harness::builder()
        .with_max_steps(400)
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |cc| LoupeApp::new(cc, Launch::Project(launch_root), data_dir));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness.state_mut().apply(LabelingCommand::SelectItem(id));
    harness.run();
    // An ultrasound frame gets brightness/contrast, not CT presets.
    harness.get_by_label("Brightness / contrast");
    assert!(harness.query_by_label("CT lung").is_none());
    let document = harness.state().state().document.as_ref().unwrap();
    assert!(!document.hounsfield);
    let overlay = document.crop.clone().expect("the thyroid schema crops");
    let automatic = overlay.automatic.clone().unwrap();
    assert_eq!(
        serde_json::json!(automatic),
        cli["crop"],
        "window = loupe crop"
    );
    harness.get_by_label(&format!(
        "Crop (automatic): x {}–{}, y {}–{}",
        automatic[0], automatic[2], automatic[1], automatic[3]
    ));

    // Drag the right edge (x1) from its place to pixel column 24.
    let rect = harness.state().view_rect(Plane::Axial).unwrap();
    let ppp = harness.ctx.pixels_per_point();
    let size_px = [
        (rect.width() * ppp).round() as f64,
        (rect.height() * ppp).round() as f64,
    ];
    let geometry = document.geometry(Plane::Axial, size_px);
    let screen = |x: f64, y: f64| {
        let px = geometry.pixel_at([x, y, 0.0]);
        rect.min + egui::vec2(px[0] as f32 / ppp, px[1] as f32 / ppp)
    };
    let from = screen(automatic[2] as f64 + 0.5, 15.0);
    let to = screen(24.5, 15.0);
    harness.hover_at(from);
    harness.run_steps(1);
    harness.drag_at(from);
    harness.run_steps(1);
    for s in 1..=8 {
        harness.hover_at(from + (to - from) * (s as f32 / 8.0));
        harness.run_steps(1);
    }
    harness.drop_at(to);
    harness.run_steps(3);
    let corrected = [automatic[0], automatic[1], 24, automatic[3]];
    assert_eq!(
        Project::open(&root).unwrap().crop(id).unwrap(),
        Some(corrected)
    );
    harness.get_by_label(&format!(
        "Crop (corrected): x {}–24, y {}–{}",
        corrected[0], corrected[1], corrected[3]
    ));

    // Training's decoding uses the corrected box: the same pixels as cutting it by hand
    // (and not those of the automatic box).
    let setting = Project::open(&root).unwrap().schema().crop;
    let decoded = loupe::train::data::decode(
        &images.join("frame.png"),
        16,
        loupe::render::cpu::middle_axial_slice,
        setting.map(|s| (s, Some(corrected))),
    )
    .unwrap();
    let by_hand = {
        // The frame as training rasterises it (automatic window), cut by hand.
        let volume = loupe::volume::load(&images.join("frame.png")).unwrap();
        let (w, h, rgba) = loupe::render::cpu::middle_axial_slice(&volume);
        let img = image::RgbaImage::from_raw(w as u32, h as u32, rgba).unwrap();
        let [x0, y0, x1, y1] = corrected;
        let cut = image::imageops::crop_imm(&img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
        image::imageops::resize(&cut, 16, 16, image::imageops::FilterType::Triangle)
    };
    for (i, p) in by_hand.pixels().enumerate() {
        let expected = p.0[0] as f32 / 127.5 - 1.0;
        assert!((decoded[i] - expected).abs() < 1e-6, "pixel {i}");
    }
    let automatic_decoded = loupe::train::data::decode(
        &images.join("frame.png"),
        16,
        loupe::render::cpu::middle_axial_slice,
        setting.map(|s| (s, None)),
    )
    .unwrap();
    assert_ne!(automatic_decoded, decoded);

    // "Use automatic crop" drops the correction (history keeps both rows).
    harness.get_by_label("Use automatic crop").click();
    harness.run();
    assert_eq!(Project::open(&root).unwrap().crop(id).unwrap(), None);
}
