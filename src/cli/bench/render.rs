//! `loupe bench render`: the viewer's upload, frame times while scrolling,
//! the CPU reference per slice, the numpy peer, and painting.

use std::time::{Duration, Instant};

use std::path::Path;

use super::common::{percentile, within};
use crate::synth::phantom;
use crate::volume::{self, nifti};

/// The viewer: upload, frame time of three views while scrolling, CPU reference per slice, numpy peer.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Edge of the generated int16 cube.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Frames timed per volume.
    #[arg(long, default_value_t = 30)]
    pub frames: usize,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let RenderArgs { size, frames } = args;

    render(
        within("--size", *size, 8..=1024)?,
        within("--frames", *frames, 3..=10_000)?,
    )
}

fn paint_steps(
    render_state: &egui_wgpu::RenderState,
    renderer: &mut crate::render::gpu::SliceRenderer,
    volume: &crate::volume::Volume,
    steps: usize,
) -> anyhow::Result<()> {
    use crate::paint::{self, BrushShape, Grid, PaintOver, PlaneFrame, StrokeBuilder, VoxelBox};
    use crate::render::cpu::{Interpolation, WindowLevel};
    use crate::render::gpu::{GpuLabels, GpuVolume, SliceParams};
    use crate::render::view::ViewSpec;
    use crate::volume::CanonicalGrid;
    use crate::volume::slice::Plane;

    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let shape = volume.spatial_shape();
    let grid = Grid::new(shape, [0, 1, 2].map(|a| volume.pixdim[a]));
    let mut map_volume =
        crate::store::label_maps::map_volume(volume, vec![0u8; grid.voxel_count()]);
    let started = Instant::now();
    let gpu_labels = GpuLabels::upload(gpu, queue, &map_volume);
    let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
    let full_upload = started.elapsed();
    let gpu_volume = GpuVolume::upload(gpu, queue, volume, 0)?;
    let mut counts = paint::count_labels(match &map_volume.data {
        crate::volume::VoxelData::U8(v) => v,
        _ => &[],
    });
    let mut stroke = StrokeBuilder::default();
    let k = shape[2] / 2;
    let mut step_times = Vec::new();
    let mut frame_times = Vec::new();
    let canonical_grid = CanonicalGrid::new(&volume.world_from_voxel);
    let canonical = canonical_grid.shape(shape);
    let mut touched = 0usize;
    for step in 0..steps {
        let at = [
            (shape[0] / 4 + step * 2 % (shape[0] / 2)) as f64,
            (shape[1] / 2) as f64,
            k as f64,
        ];
        let frame = PlaneFrame::across(2, at);
        let started = Instant::now();
        let voxels = paint::brush(&grid, &frame, at, 5.0, BrushShape::Disk)?;
        let crate::volume::VoxelData::U8(map) = &mut map_volume.data else {
            anyhow::bail!("label map is not uint8");
        };
        let changed: Option<VoxelBox> = paint::apply(
            map,
            &grid,
            &voxels,
            1 + (step % 3) as u8,
            PaintOver::All,
            &mut stroke,
            &mut counts,
        );
        if let Some(b) = changed {
            touched += b.size().iter().product::<usize>();
            gpu_labels.write_box(queue, &map_volume, b.min, b.size());
        }
        queue.submit([]);
        let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
        step_times.push(started.elapsed());

        let started = Instant::now();
        for plane in Plane::ALL {
            let spec = ViewSpec {
                focus: canonical.map(|n| (n as f64 - 1.0) / 2.0),
                ..ViewSpec::new(plane, canonical.map(|n| (n / 2) as f64))
            };
            let params = SliceParams {
                geometry: spec.geometry(
                    &canonical_grid,
                    shape,
                    [volume.pixdim[0], volume.pixdim[1], volume.pixdim[2]],
                    [512.0, 512.0],
                ),
                size_px: [512, 512],
                window: WindowLevel {
                    center: 40.0,
                    width: 400.0,
                },
                interpolation: Interpolation::Linear,
                scaling: volume.scaling,
                overlay: Some((0.5, false)),
            };
            renderer.render_offscreen(gpu, queue, &gpu_volume, Some(&gpu_labels), &params)?;
        }
        frame_times.push(started.elapsed());
    }
    step_times.sort();
    frame_times.sort();
    // What a stroke end costs: the whole map gzipped and written atomically
    // (temporary file, fsync, rename), as the window and `loupe paint` save it.
    let save_path = std::env::temp_dir().join("loupe-bench-render/paint_labels.nii.gz");
    let started = Instant::now();
    let bytes = crate::volume::nifti::encode_nifti1(&map_volume, true)?;
    crate::durable::write_atomic(&save_path, &bytes)?;
    let save = started.elapsed();
    let _ = std::fs::remove_file(&save_path);
    println!();
    println!(
        "Painting a {}×{}×{} label map (5 mm disk brush, {steps} steps):",
        shape[0], shape[1], shape[2]
    );
    println!("| what | median ms | p95 ms |");
    println!("|---|---:|---:|");
    println!(
        "| brush step: voxels + map edit + edited box to the GPU ({} voxels per box on average) | {:.2} | {:.2} |",
        touched / steps.max(1),
        percentile(&step_times, 0.5).as_secs_f64() * 1e3,
        percentile(&step_times, 0.95).as_secs_f64() * 1e3,
    );
    println!(
        "| whole map uploaded again (what a step would cost without box writes) | {:.1} | |",
        full_upload.as_secs_f64() * 1e3
    );
    println!(
        "| stroke end: the whole map gzipped and written atomically ({:.1} MB on disk) | {:.1} | |",
        bytes.len() as f64 / 1e6,
        save.as_secs_f64() * 1e3
    );
    println!(
        "| tri-planar frame with the overlay (three 512² views, read back) | {:.1} | {:.1} |",
        percentile(&frame_times, 0.5).as_secs_f64() * 1e3,
        percentile(&frame_times, 0.95).as_secs_f64() * 1e3,
    );
    Ok(())
}

fn render(size: usize, frames: usize) -> anyhow::Result<()> {
    use crate::render::cpu::{self, Interpolation, RenderOptions, WindowLevel};
    use crate::render::gpu::{GpuVolume, SliceParams, SliceRenderer};
    use crate::render::view::{ViewGeometry, ViewSpec};
    use crate::volume::CanonicalGrid;
    use crate::volume::slice::{Convention, Plane};

    let dir = std::env::temp_dir().join("loupe-bench-render");
    std::fs::create_dir_all(&dir)?;
    let cube_path = dir.join(format!("phantom_{size}.nii"));
    let cube = phantom::ct_phantom(size, 11);
    nifti::write_nifti1(&cube, &cube_path)?;
    let mut volumes = vec![(format!("generated {size}³ int16"), cube)];
    let mni = Path::new("../shared/data/nifti/mni152_t1.nii.gz");
    if mni.exists() {
        volumes.push(("MNI152 197×233×189 uint8".into(), volume::load(mni)?));
    }
    let render_state =
        crate::render::device::headless_render_state().map_err(|e| anyhow::anyhow!(e))?;
    let (gpu, queue) = (&render_state.device, &render_state.queue);
    let adapter = render_state.adapter.get_info();
    let mut renderer = SliceRenderer::new(gpu, queue);
    let window = WindowLevel {
        center: 40.0,
        width: 400.0,
    };
    let view_px = 512u32;

    println!("GPU: {} ({:?})", adapter.name, adapter.backend);
    println!(
        "| volume | upload ms | tri-planar frame ms, median (p95) | CPU reference ms per 512² slice, median |"
    );
    println!("|---|---:|---:|---:|");
    for (name, volume) in &volumes {
        let started = Instant::now();
        let gpu_volume = GpuVolume::upload(gpu, queue, volume, 0)?;
        let _ = gpu.poll(wgpu::PollType::wait_indefinitely());
        let upload = started.elapsed();
        let grid = CanonicalGrid::new(&volume.world_from_voxel);
        let shape = volume.spatial_shape();
        let canonical = grid.shape(shape);
        let spacing = [volume.pixdim[0], volume.pixdim[1], volume.pixdim[2]];
        let mut times = Vec::with_capacity(frames);
        for frame in 0..frames {
            // Scrolling: the crosshair moves one slice per frame in every view.
            let crosshair = canonical.map(|n| ((n / 4 + frame) % n) as f64);
            let started = Instant::now();
            for plane in Plane::ALL {
                let spec = ViewSpec {
                    focus: canonical.map(|n| (n as f64 - 1.0) / 2.0),
                    ..ViewSpec::new(plane, crosshair)
                };
                let geometry =
                    spec.geometry(&grid, shape, spacing, [view_px as f64, view_px as f64]);
                let params = SliceParams {
                    geometry,
                    size_px: [view_px, view_px],
                    window,
                    interpolation: Interpolation::Linear,
                    scaling: volume.scaling,
                    overlay: None,
                };
                renderer.render_offscreen(gpu, queue, &gpu_volume, None, &params)?;
            }
            times.push(started.elapsed());
        }
        times.sort();
        let mut cpu_times = Vec::new();
        for k in 0..10 {
            let index = (canonical[2] / 3 + k) % canonical[2];
            let (geometry, w, h) = ViewGeometry::orthogonal_slice(
                &grid,
                shape,
                Plane::Axial,
                index,
                Convention::Radiological,
            );
            // Scale the figure to a 512² slice.
            let options = RenderOptions {
                window,
                interpolation: Interpolation::Nearest,
                time: 0,
            };
            let started = Instant::now();
            let pixels = cpu::render_view(volume, &geometry, w, h, &options, None);
            let elapsed = started.elapsed().as_secs_f64() * (512.0 * 512.0) / (w * h) as f64;
            std::hint::black_box(pixels);
            cpu_times.push(Duration::from_secs_f64(elapsed));
        }
        cpu_times.sort();
        println!(
            "| {name} | {:.0} | {:.1} ({:.1}) | {:.2} |",
            upload.as_secs_f64() * 1e3,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            percentile(&cpu_times, 0.5).as_secs_f64() * 1e3,
        );
    }
    println!(
        "(frame: three {view_px}² views, linear interpolation, rendered offscreen and read back, wall time)"
    );
    paint_steps(&render_state, &mut renderer, &volumes[0].1, frames.max(10))?;

    // The peer: the same slicing and windowing in numpy, if it is installed.
    let script = format!(
        "import numpy as np, time\n\
         v = np.fromfile('{}', dtype='<i2', offset=352).reshape(({size},{size},{size}), order='F')\n\
         c, w = 40.0, 400.0\n\
         ts = []\n\
         for k in range(10):\n\
         \x20   t = time.perf_counter()\n\
         \x20   s = v[::-1, ::-1, {size} // 3 + k].T.astype(np.float64)\n\
         \x20   g = np.floor(np.clip((s - (c - w / 2)) / w, 0, 1) * 255 + 0.5).astype(np.uint8)\n\
         \x20   ts.append(time.perf_counter() - t)\n\
         ts.sort()\n\
         print('%.2f' % (ts[len(ts) // 2] * 1e3 * (512 * 512) / ({size} * {size})))\n",
        cube_path.display()
    );
    match std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
    {
        Ok(out) if out.status.success() => println!(
            "numpy peer: {} ms per 512² axial slice (slice + window to uint8), numpy {}",
            String::from_utf8_lossy(&out.stdout).trim(),
            std::process::Command::new("python3")
                .args(["-c", "import numpy; print(numpy.__version__)"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        ),
        _ => println!("numpy peer: not run (python3 with numpy not found)"),
    }
    Ok(())
}
