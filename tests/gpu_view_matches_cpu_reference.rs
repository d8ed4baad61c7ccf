//! The WGSL viewer draws what the CPU reference renderer draws: every view
//! rendered through wgpu (llvmpipe in CI) differs from the reference by less
//! than one grey level on average.

mod common;

use loupe::render::cpu::{self, Interpolation, LabelOverlay, RenderOptions, WindowLevel};
use loupe::render::device;
use loupe::render::gpu::{GpuLabels, GpuVolume, SliceParams, SliceRenderer};
use loupe::render::view::{ViewGeometry, ViewSpec};
use loupe::volume::slice::{Convention, Plane};
use loupe::volume::{self, CanonicalGrid, Volume, VoxelData};

fn mean_abs_diff(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let mut sum = 0u64;
    let mut max = 0u8;
    for (x, y) in a.iter().zip(b) {
        let d = x.abs_diff(*y);
        sum += d as u64;
        max = max.max(d);
    }
    (sum as f64 / a.len() as f64, max)
}

struct Case {
    name: String,
    geometry: ViewGeometry,
    size: [u32; 2],
    interpolation: Interpolation,
    time: usize,
    overlay: Option<(f32, bool)>,
}

fn cases_for(volume: &Volume, name: &str) -> Vec<Case> {
    let grid = CanonicalGrid::new(&volume.world_from_voxel);
    let shape = volume.spatial_shape();
    let canonical = grid.shape(shape);
    let mut cases = Vec::new();
    let time = volume.time_points() / 2;
    for plane in Plane::ALL {
        let k = canonical[plane.normal_axis()] / 2;
        let (geometry, w, h) =
            ViewGeometry::orthogonal_slice(&grid, shape, plane, k, Convention::Radiological);
        cases.push(Case {
            name: format!("{name} {} slice", plane.name()),
            geometry,
            size: [w as u32, h as u32],
            interpolation: Interpolation::Nearest,
            time,
            overlay: None,
        });
        // An interactive view: zoomed, panned, true aspect, both interpolations.
        let centre = canonical.map(|n| (n as f64 - 1.0) / 2.0);
        let mut spec = ViewSpec::new(plane, centre);
        spec.zoom = 1.7;
        spec.pan = [13.0, -7.0];
        spec.convention = Convention::Neurological;
        let spacing = [volume.pixdim[0], volume.pixdim[1], volume.pixdim[2]];
        let size = [223u32, 157u32];
        let geometry = spec.geometry(&grid, shape, spacing, [size[0] as f64, size[1] as f64]);
        for interpolation in [Interpolation::Nearest, Interpolation::Linear] {
            cases.push(Case {
                name: format!("{name} {} view {interpolation:?}", plane.name()),
                geometry,
                size,
                interpolation,
                time,
                overlay: None,
            });
        }
        // Oblique: the plane tilted about both screen axes.
        spec.tilt = [0.35, -0.2];
        let geometry = spec.geometry(&grid, shape, spacing, [size[0] as f64, size[1] as f64]);
        cases.push(Case {
            name: format!("{name} {} oblique", plane.name()),
            geometry,
            size,
            interpolation: Interpolation::Linear,
            time,
            overlay: None,
        });
    }
    cases
}

#[test]
fn gpu_views_match_the_cpu_reference() {
    let render_state =
        device::headless_render_state().expect("a wgpu adapter (install mesa-vulkan-drivers)");
    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let mut renderer = SliceRenderer::new(gpu, queue);
    let data = common::shared_data();
    let files = [
        "nifti/mni152_t1.nii.gz",
        "nifti/anatomical.nii",
        "nifti/edge_qform_oblique_f64.nii",
        "nifti/functional.nii",
        "nifti/edge_lps_u16.nii.gz",
        "nifti/edge_rgb24.nii",
        "fundus/retina.jpg",
    ];
    let mut checked = 0;
    for file in files {
        let volume = volume::load(&data.join(file)).unwrap();
        let window = if volume.channels == 1 {
            let stats = volume.stats().unwrap();
            WindowLevel::from_range(stats.min, stats.max * 0.8)
        } else {
            WindowLevel {
                center: 120.0,
                width: 200.0,
            }
        };
        let mut uploaded: Option<(usize, GpuVolume)> = None;
        for case in cases_for(&volume, file) {
            if uploaded.as_ref().is_none_or(|(t, _)| *t != case.time) {
                uploaded = Some((
                    case.time,
                    GpuVolume::upload(gpu, queue, &volume, case.time).unwrap(),
                ));
            }
            let gpu_volume = &uploaded.as_ref().unwrap().1;
            let params = SliceParams {
                geometry: case.geometry,
                size_px: case.size,
                window,
                interpolation: case.interpolation,
                scaling: volume.scaling,
                overlay: case.overlay,
            };
            let gpu_pixels = renderer
                .render_offscreen(gpu, queue, gpu_volume, None, &params)
                .unwrap();
            let options = RenderOptions {
                window,
                interpolation: case.interpolation,
                time: case.time,
            };
            let cpu_pixels = cpu::render_view(
                &volume,
                &case.geometry,
                case.size[0] as usize,
                case.size[1] as usize,
                &options,
                None,
            );
            let (mean, max) = mean_abs_diff(&gpu_pixels, &cpu_pixels);
            assert!(
                mean < 1.0,
                "{}: mean |GPU − CPU| = {mean:.3} (max {max})",
                case.name
            );
            let distinct: std::collections::BTreeSet<u8> = cpu_pixels.iter().copied().collect();
            assert!(
                distinct.len() > 8,
                "{}: the view shows an image, not a flat colour",
                case.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 70, "{checked} views compared");
}

#[test]
fn label_overlays_match_including_outlines() {
    let render_state = device::headless_render_state().expect("a wgpu adapter");
    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let mut renderer = SliceRenderer::new(gpu, queue);
    let brain = volume::load(&common::shared_data().join("nifti/mni152_t1.nii.gz")).unwrap();
    // Labels: 1 where bright, 2 where mid-grey, 0 elsewhere — on the brain's own grid.
    let VoxelData::U8(values) = &brain.data else {
        panic!("MNI is uint8")
    };
    let labels_data: Vec<u8> = values
        .iter()
        .map(|&v| {
            if v > 150 {
                1
            } else if v > 80 {
                2
            } else {
                0
            }
        })
        .collect();
    let labels = Volume {
        data: VoxelData::U8(labels_data),
        scaling: None,
        ..brain.clone()
    };
    let gpu_volume = GpuVolume::upload(gpu, queue, &brain, 0).unwrap();
    let gpu_labels = GpuLabels::upload(gpu, queue, &labels);
    let grid = CanonicalGrid::new(&brain.world_from_voxel);
    let window = WindowLevel {
        center: 100.0,
        width: 200.0,
    };
    for (plane, outline) in [
        (Plane::Axial, false),
        (Plane::Coronal, true),
        (Plane::Sagittal, true),
    ] {
        let k = grid.shape(brain.spatial_shape())[plane.normal_axis()] / 2;
        let (geometry, w, h) = ViewGeometry::orthogonal_slice(
            &grid,
            brain.spatial_shape(),
            plane,
            k,
            Convention::Radiological,
        );
        let params = SliceParams {
            geometry,
            size_px: [w as u32, h as u32],
            window,
            interpolation: Interpolation::Nearest,
            scaling: None,
            overlay: Some((0.5, outline)),
        };
        let gpu_pixels = renderer
            .render_offscreen(gpu, queue, &gpu_volume, Some(&gpu_labels), &params)
            .unwrap();
        let options = RenderOptions {
            window,
            interpolation: Interpolation::Nearest,
            time: 0,
        };
        let overlay = LabelOverlay {
            labels: &labels,
            opacity: 0.5,
            outline,
        };
        let cpu_pixels = cpu::render_view(&brain, &geometry, w, h, &options, Some(overlay));
        let (mean, max) = mean_abs_diff(&gpu_pixels, &cpu_pixels);
        assert!(
            mean < 1.0,
            "{plane:?} outline={outline}: mean {mean:.3} max {max}"
        );
        // The overlay really is drawn: pixels differ from the plain image.
        let plain = cpu::render_view(&brain, &geometry, w, h, &options, None);
        assert!(
            mean_abs_diff(&plain, &cpu_pixels).0 > 1.0,
            "overlay visible"
        );
    }
}

#[test]
fn a_painted_box_written_into_the_label_texture_draws_like_the_whole_map() {
    use loupe::paint::{self, BrushShape, Grid, PaintOver, PlaneFrame, StrokeBuilder};
    let render_state = device::headless_render_state().expect("a wgpu adapter");
    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let mut renderer = SliceRenderer::new(gpu, queue);
    let brain = volume::load(&common::shared_data().join("nifti/mni152_t1.nii.gz")).unwrap();
    let shape = brain.spatial_shape();
    let mut map = vec![0u8; shape.iter().product()];
    let as_volume = |map: &[u8]| Volume {
        data: VoxelData::U8(map.to_vec()),
        scaling: None,
        ..brain.clone()
    };
    let gpu_volume = GpuVolume::upload(gpu, queue, &brain, 0).unwrap();
    // Uploaded empty, then only the painted boxes are written.
    let gpu_labels = GpuLabels::upload(gpu, queue, &as_volume(&map));
    let grid = Grid::new(shape, [1.0; 3]);
    let centre = [98.0, 120.0, 94.0];
    let frame = PlaneFrame {
        point: centre,
        step_u: [1.0, 0.0, 0.0],
        step_v: [0.0, 1.0, 0.0],
    };
    let mut stroke = StrokeBuilder::default();
    let mut counts = paint::count_labels(&map);
    for (offset, label, shape_kind) in [(0.0, 1, BrushShape::Sphere), (15.0, 2, BrushShape::Disk)] {
        let at = [centre[0] + offset, centre[1], centre[2]];
        let voxels = paint::brush(&grid, &frame, at, 8.0, shape_kind).unwrap();
        let changed = paint::apply(
            &mut map,
            &grid,
            &voxels,
            label,
            PaintOver::All,
            &mut stroke,
            &mut counts,
        )
        .expect("something painted");
        gpu_labels.write_box(queue, &as_volume(&map), changed.min, changed.size());
    }
    let canonical_grid = CanonicalGrid::new(&brain.world_from_voxel);
    let canonical_k = loupe::render::view::canonical_from_voxel(&canonical_grid, shape, centre)[2];
    let (geometry, w, h) = ViewGeometry::orthogonal_slice(
        &canonical_grid,
        shape,
        Plane::Axial,
        canonical_k as usize,
        Convention::Radiological,
    );
    let window = WindowLevel {
        center: 100.0,
        width: 200.0,
    };
    let params = SliceParams {
        geometry,
        size_px: [w as u32, h as u32],
        window,
        interpolation: Interpolation::Nearest,
        scaling: None,
        overlay: Some((0.7, false)),
    };
    let gpu_pixels = renderer
        .render_offscreen(gpu, queue, &gpu_volume, Some(&gpu_labels), &params)
        .unwrap();
    let options = RenderOptions {
        window,
        interpolation: Interpolation::Nearest,
        time: 0,
    };
    let labels = as_volume(&map);
    let overlay = LabelOverlay {
        labels: &labels,
        opacity: 0.7,
        outline: false,
    };
    let cpu_pixels = cpu::render_view(&brain, &geometry, w, h, &options, Some(overlay));
    let (mean, max) = mean_abs_diff(&gpu_pixels, &cpu_pixels);
    assert!(mean < 1.0, "mean {mean:.3} max {max}");
    // Every painted voxel of the slice (one pixel each) is coloured on the GPU, and no other pixel.
    let plain = cpu::render_view(&brain, &geometry, w, h, &options, None);
    let coloured = plain
        .chunks(4)
        .zip(gpu_pixels.chunks(4))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 2))
        .count();
    let k = centre[2] as usize;
    let painted_on_slice = (0..shape[0] * shape[1])
        .filter(|&v| map[v + shape[0] * shape[1] * k] != 0)
        .count();
    assert!(painted_on_slice > 300, "{painted_on_slice}");
    assert_eq!(coloured, painted_on_slice);
}
