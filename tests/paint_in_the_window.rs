//! A clinician paints in the window: brush, eraser, fill, polygon, undo,
//! redo and interpolation on the MNI volume and on a photo, driven by the
//! mouse and keys; every stroke end is checked against the NIfTI saved in
//! the project, voxel by voxel.

mod common;

use std::path::{Path, PathBuf};

use common::run_ok;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::{LabelingCommand, Launch, PaintCommand, ViewerCommand, WindowCommand};
use loupe::store::Project;
use loupe::ui::LoupeApp;
use loupe::volume::{self, slice::Plane};

/// The photo: 120 × 90 RGB, background 30, a bright "lesion" (200) at
/// columns 40..70, rows 20..45.
const PHOTO: [u32; 2] = [120, 90];
const LESION: (std::ops::Range<u32>, std::ops::Range<u32>) = (40..70, 20..45);

fn project(dir: &Path) -> (PathBuf, i64, i64) {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    std::fs::copy(
        assets.join("mni152_t1.nii.gz"),
        images.join("mni152_t1.nii.gz"),
    )
    .unwrap();
    std::fs::copy(assets.join("retina.jpg"), images.join("retina.jpg")).unwrap();
    let photo = image::RgbImage::from_fn(PHOTO[0], PHOTO[1], |x, y| {
        let v = if LESION.0.contains(&x) && LESION.1.contains(&y) {
            200
        } else {
            30
        };
        image::Rgb([v, v, v])
    });
    photo.save(images.join("nodule.png")).unwrap();
    let root = dir.join("project");
    run_ok(&[
        "project",
        "init",
        root.to_str().unwrap(),
        "--schema",
        "thyroid",
    ]);
    run_ok(&["import", root.to_str().unwrap(), images.to_str().unwrap()]);
    let id = |name: &str| common::item_id(&root, name);
    (root.clone(), id("mni152_t1.nii.gz"), id("nodule.png"))
}

fn harness(root: &Path, data_dir: &Path) -> Harness<'static, LoupeApp> {
    let (root, data_dir) = (root.to_path_buf(), data_dir.to_path_buf());
    Harness::builder()
        .with_max_steps(400)
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |cc| LoupeApp::new(cc, Launch::Project(root), data_dir))
}

/// The map `annotator` saved for `item`, read from its NIfTI file.
fn saved(root: &Path, item: i64, annotator: &str) -> Vec<u8> {
    let project = Project::open(root).unwrap();
    let record = project
        .label_maps(item)
        .unwrap()
        .into_iter()
        .find(|r| r.annotator == annotator)
        .expect("a saved map");
    match volume::load(&root.join(&record.file)).unwrap().data {
        volume::VoxelData::U8(v) => v,
        other => panic!("stored as {:?}", other.sample_type()),
    }
}

/// The continuous voxel position under a screen point, as the view maps it.
fn voxel_under(harness: &Harness<'static, LoupeApp>, plane: Plane, pos: egui::Pos2) -> [f64; 3] {
    let rect = harness.state().view_rect(plane).expect("the view is drawn");
    let ppp = harness.ctx.pixels_per_point();
    let size_px = [
        (rect.width() * ppp).round().max(1.0) as f64,
        (rect.height() * ppp).round().max(1.0) as f64,
    ];
    let local = (pos - rect.min) * ppp;
    let document = harness.state().state().document.as_ref().unwrap();
    document
        .geometry(plane, size_px)
        .voxel_at(local.x as f64, local.y as f64)
}

/// Draws until the view's rectangle stays put over several frames: thumbnails
/// and panels arriving from other threads can still move it by a fraction of
/// a pixel (slow under a loaded machine), which would move the voxel under a
/// point computed before.
fn steady_layout(harness: &mut Harness<'static, LoupeApp>, plane: Plane) {
    // A thumbnail arriving later can move the view by a few points between
    // aiming and clicking (seen once on CI, with tests in parallel): wait
    // for the browser's thumbnails first.
    for _ in 0..500 {
        if harness.state().thumbnails_pending() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.run_steps(2);
    }
    let mut last = harness.state().view_rect(plane);
    for _ in 0..60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.run_steps(3);
        let now = harness.state().view_rect(plane);
        if now == last {
            return;
        }
        last = now;
    }
}

/// The screen point showing a voxel position.
fn screen_of(harness: &Harness<'static, LoupeApp>, plane: Plane, voxel: [f64; 3]) -> egui::Pos2 {
    let rect = harness.state().view_rect(plane).unwrap();
    let ppp = harness.ctx.pixels_per_point();
    let size_px = [
        (rect.width() * ppp).round() as f64,
        (rect.height() * ppp).round() as f64,
    ];
    let document = harness.state().state().document.as_ref().unwrap();
    let px = document.geometry(plane, size_px).pixel_at(voxel);
    rect.min + egui::vec2(px[0] as f32 / ppp, px[1] as f32 / ppp)
}

/// Voxel-by-voxel equality, reporting how many and which voxels differ (not the maps).
#[track_caller]
fn assert_maps(got: &[u8], expected: &[u8], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: sizes");
    let wrong: Vec<(usize, u8, u8)> = (0..got.len())
        .filter(|&i| got[i] != expected[i])
        .map(|i| (i, got[i], expected[i]))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: {} voxels differ (index, got, expected), first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(12)]
    );
}

fn click(harness: &mut Harness<'static, LoupeApp>, pos: egui::Pos2) {
    harness.hover_at(pos);
    harness.run_steps(1);
    harness.drag_at(pos);
    harness.run_steps(1);
    harness.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    settle(harness);
}

/// Lets egui's double-click window pass, as it does between a person's clicks
/// (two clicks in quick succession are a double click, even on two widgets).
fn settle(harness: &mut Harness<'static, LoupeApp>) {
    harness.run_steps(30);
}

fn drag(harness: &mut Harness<'static, LoupeApp>, from: egui::Pos2, to: egui::Pos2) {
    harness.hover_at(from);
    harness.run_steps(1);
    harness.drag_at(from);
    harness.run_steps(1);
    for s in 1..=10 {
        harness.hover_at(from + (to - from) * (s as f32 / 10.0));
        harness.run_steps(1);
    }
    harness.drop_at(to);
    settle(harness);
}

/// Clicks the screen point showing `voxel` (in the frame just drawn) and
/// returns the voxel the view has under that point.
fn click_voxel(
    harness: &mut Harness<'static, LoupeApp>,
    plane: Plane,
    voxel: [f64; 3],
) -> [usize; 3] {
    harness.run();
    steady_layout(harness, plane);
    let pos = screen_of(harness, plane, voxel);
    let under = voxel_under(harness, plane, pos);
    click(harness, pos);
    under.map(|x| x.round() as usize)
}

fn crosshair_voxel(harness: &Harness<'static, LoupeApp>) -> [usize; 3] {
    let document = harness.state().state().document.as_ref().unwrap();
    document.crosshair_voxel().map(|v| v.round() as usize)
}

#[test]
fn brush_undo_redo_and_interpolation_on_the_mni_volume_are_saved_voxel_by_voxel() {
    let dir = tempfile::tempdir().unwrap();
    let (root, mni, _) = project(dir.path());
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness.state_mut().apply(LabelingCommand::SelectItem(mni));
    harness.run();
    let shape = [197usize, 233, 189];
    let index = |v: [usize; 3]| v[0] + shape[0] * (v[1] + shape[1] * v[2]);

    // The view's layout changes with the panel (a tool's settings appear), so
    // every click is aimed at a voxel in the frame just drawn.
    let k = crosshair_voxel(&harness)[2];
    let p = [90.0, 110.0, k as f64];
    let r = [110.0, 135.0, k as f64];

    // Brush (Alt+B), the smallest radius: one click paints exactly the voxel under it.
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::B);
    harness.run();
    harness.state_mut().apply(PaintCommand::SetRadius(0.1));
    let at_p = click_voxel(&mut harness, Plane::Axial, p);
    assert_eq!(at_p, [90, 110, k]);
    let mut expected = vec![0u8; shape.iter().product()];
    expected[index(at_p)] = 1;
    assert_maps(&saved(&root, mni, "ana"), &expected, "one voxel of label 1");

    // A drag with a 3 mm brush: one stroke, on the slice, saved when released.
    harness.state_mut().apply(PaintCommand::SetRadius(3.0));
    harness.run();
    let from = screen_of(&harness, Plane::Axial, p);
    drag(&mut harness, from, from + egui::vec2(40.0, 0.0));
    let after_drag = saved(&root, mni, "ana");
    let painted: Vec<usize> = (0..after_drag.len())
        .filter(|&i| after_drag[i] == 1)
        .collect();
    assert!(painted.len() > 40, "{} voxels", painted.len());
    assert!(
        painted.iter().all(|&i| i / (shape[0] * shape[1]) == k),
        "on the axial slice"
    );
    let document = harness.state().state().document.as_ref().unwrap();
    assert_maps(
        document.label_voxels().unwrap(),
        &after_drag,
        "file = window",
    );
    assert_eq!(harness.state().state().painting.undo_levels(), 2);

    // Ctrl+Z takes the drag back (the file too); Ctrl+Y paints it again.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run();
    assert_maps(&saved(&root, mni, "ana"), &expected, "undone");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    harness.run();
    assert_maps(&saved(&root, mni, "ana"), &after_drag, "redone");

    // Label 2 (Alt+2) at r on this slice and 4 slices up, then interpolate axially.
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::Num2);
    harness.run();
    assert_eq!(harness.state().state().painting.active_label, 2);
    harness.state_mut().apply(PaintCommand::SetRadius(0.1));
    let at_r = click_voxel(&mut harness, Plane::Axial, r);
    let slice = harness
        .state()
        .state()
        .document
        .as_ref()
        .unwrap()
        .slice_index(Plane::Axial);
    harness.state_mut().apply(ViewerCommand::SetSlice {
        plane: Plane::Axial,
        index: slice + 4,
    });
    harness.run();
    let top = click_voxel(&mut harness, Plane::Axial, [r[0], r[1], (k + 4) as f64]);
    assert_eq!(
        top,
        [at_r[0], at_r[1], at_r[2] + 4],
        "the same spot, 4 slices up"
    );
    let mut expected = after_drag.clone();
    expected[index(at_r)] = 2;
    expected[index(top)] = 2;
    assert_maps(
        &saved(&root, mni, "ana"),
        &expected,
        "two slices of label 2",
    );
    harness.get_by_label("Interpolate axial").click();
    harness.run();
    for dk in 1..4 {
        expected[index([at_r[0], at_r[1], at_r[2] + dk])] = 2;
    }
    assert_maps(
        &saved(&root, mni, "ana"),
        &expected,
        "the column between is filled",
    );
    // The panel shows the live volume: 5 voxels of 1 mm³ of label 2.
    harness.get_by_label("5 vox · 0.005 mL");

    // A restart shows the saved map again (and another annotator starts empty).
    drop(harness);
    let mut harness = self::harness(&root, &dir.path().join("data"));
    harness.run();
    harness.state_mut().apply(LabelingCommand::SelectItem(mni));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    assert_maps(
        document.label_voxels().unwrap(),
        &expected,
        "after a restart",
    );
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ben".into()));
    harness.run();
    assert!(
        harness
            .state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .label_voxels()
            .is_none()
    );
}

#[test]
fn fill_eraser_polygon_and_undo_on_a_photo_are_saved_pixel_by_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _, photo) = project(dir.path());
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(photo));
    harness.run();
    let [w, h] = PHOTO.map(|n| n as usize);
    let lesion =
        |x: usize, y: usize| LESION.0.contains(&(x as u32)) && LESION.1.contains(&(y as u32));

    // Fill from the lesion's centre: ±50 around 200 takes exactly the lesion.
    harness.get_by_label("Fill").click();
    harness.run();
    let centre = screen_of(&harness, Plane::Axial, [55.0, 32.0, 0.0]);
    click(&mut harness, centre);
    let mut expected: Vec<u8> = (0..w * h).map(|i| lesion(i % w, i / w) as u8).collect();
    assert_maps(
        &saved(&root, photo, "ana"),
        &expected,
        "the lesion, pixel by pixel",
    );

    // The eraser (radius 5 mm = 5 pixels) clears a disk around the click.
    harness.get_by_label("Eraser").click();
    harness.run();
    harness.state_mut().apply(PaintCommand::SetRadius(5.0));
    harness.run();
    let spot = screen_of(&harness, Plane::Axial, [62.3, 35.6, 0.0]);
    let at = voxel_under(&harness, Plane::Axial, spot);
    click(&mut harness, spot);
    let painting = &harness.state().state().painting;
    assert_eq!(painting.tool, loupe::app::painting::Tool::Eraser);
    assert_eq!(painting.undo_levels(), 2, "the erasing is a stroke");
    let before_erase = expected.clone();
    for (i, v) in expected.iter_mut().enumerate() {
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        let nearest = x == at[0].round() && y == at[1].round();
        if (x - at[0]).powi(2) + (y - at[1]).powi(2) <= 25.0 || nearest {
            *v = 0;
        }
    }
    assert_maps(&saved(&root, photo, "ana"), &expected, "the saved map");
    assert!(
        expected.iter().filter(|&&v| v == 1).count()
            < before_erase.iter().filter(|&&v| v == 1).count()
    );

    // Undo (the toolbar's button) restores the lesion.
    harness.get_by_label("Undo stroke").click();
    harness.run();
    assert_maps(&saved(&root, photo, "ana"), &before_erase, "the saved map");

    // A polygon of label 2 ("calcification", the thyroid schema's) in the background, closed with Enter.
    harness.get_by_label("2 calcification").click();
    harness.get_by_label("Polygon").click();
    harness.run();
    let corners_px = [[8.0, 60.0], [30.0, 62.0], [12.0, 85.0]];
    let mut corners = Vec::new();
    harness.run();
    for c in corners_px {
        let pos = screen_of(&harness, Plane::Axial, [c[0], c[1], 0.0]);
        corners.push(voxel_under(&harness, Plane::Axial, pos));
        click(&mut harness, pos);
    }
    harness.key_press(egui::Key::Enter);
    harness.run();
    let inside = |x: f64, y: f64| {
        // Same side of all three edges (the triangle is not degenerate).
        let side =
            |a: [f64; 3], b: [f64; 3]| (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        let s = [
            side(corners[0], corners[1]),
            side(corners[1], corners[2]),
            side(corners[2], corners[0]),
        ];
        s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0)
    };
    let mut expected = before_erase.clone();
    for (i, v) in expected.iter_mut().enumerate() {
        if inside((i % w) as f64, (i / w) as f64) {
            *v = 2;
        }
    }
    let got = saved(&root, photo, "ana");
    assert!(got.iter().filter(|&&v| v == 2).count() > 100);
    assert_maps(&got, &expected, "the triangle, pixel by pixel");
}

#[test]
fn a_brush_stroke_on_a_fundus_photograph_paints_the_disk_under_the_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _, _) = project(dir.path());
    let retina = common::item_id(&root, "retina.jpg");
    let mut harness = harness(&root, &dir.path().join("data"));
    harness.run();
    harness
        .state_mut()
        .apply(WindowCommand::SetAnnotator("ana".into()));
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(retina));
    harness.run();
    let document = harness.state().state().document.as_ref().unwrap();
    let [w, h, _] = document.volume.spatial_shape();
    assert!(document.volume.channels >= 3, "a colour photograph");

    harness.get_by_label("Brush").click();
    harness.run();
    // With a paint tool out, brightness/contrast comes above the (long)
    // paint section, in sight.
    let contrast = harness.get_by_label("Brightness / contrast").rect();
    let paint = harness.get_by_label("Paint label map").rect();
    assert!(contrast.top() < paint.top(), "{contrast:?} above {paint:?}");
    assert!(contrast.bottom() < 900.0, "in the window: {contrast:?}");
    // 6 px: a photo's pixel is 1 "mm".
    harness.state_mut().apply(PaintCommand::SetRadius(6.0));
    harness.run();
    steady_layout(&mut harness, Plane::Axial);
    let target = [w as f64 * 0.4 + 0.3, h as f64 * 0.55 + 0.2, 0.0];
    let pos = screen_of(&harness, Plane::Axial, target);
    let at = voxel_under(&harness, Plane::Axial, pos);
    click(&mut harness, pos);
    let expected: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let nearest = x == at[0].round() && y == at[1].round();
            ((x - at[0]).powi(2) + (y - at[1]).powi(2) <= 36.0 || nearest) as u8
        })
        .collect();
    assert!(expected.iter().filter(|&&v| v == 1).count() > 100);
    assert_maps(
        &saved(&root, retina, "ana"),
        &expected,
        "the disk, pixel by pixel",
    );
    // A classification project: the stroke is an annotation beside the
    // stage, not a label — the photograph stays to be labeled, in the
    // window and in the store.
    harness.run();
    let session = harness.state().state().session.as_ref().unwrap();
    let row = session.rows.iter().find(|r| r.item.id == retina).unwrap();
    assert_eq!(row.item.pool, loupe::store::Pool::Unlabeled);
    let stored = Project::open(&root).unwrap().item(retina).unwrap();
    assert_eq!(stored.pool, loupe::store::Pool::Unlabeled);
}
