//! `loupe bench labeling`: importing many images, label commit latency,
//! the window's work per label key press, the browser's redraw time.

use std::time::{Duration, Instant};

use super::common::{percentile, within};

/// Importing many images, label commit latency, the window's work per
/// label key press, and the browser's redraw time.
#[derive(Debug, clap::Args)]
pub struct LabelingArgs {
    /// Number of generated images.
    #[arg(long, default_value_t = 5000)]
    pub items: usize,
    /// Labels committed one by one for the latency figures.
    #[arg(long, default_value_t = 500)]
    pub labels: usize,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LabelingArgs) -> anyhow::Result<()> {
    let LabelingArgs {
        items,
        labels,
        json,
    } = args;

    labeling(
        within("--items", *items, 1..=1_000_000)?,
        within("--labels", *labels, 1..=100_000)?,
        *json,
    )
}

fn labeling(items: usize, labels: usize, json: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join("loupe-bench-labeling");
    let (root, mut project, import_time, added) = import_generated(&dir, items)?;
    let ids: Vec<i64> = project.items()?.iter().map(|i| i.id).collect();
    let stages = ["Normal", "Stage 1", "Stage 2", "Stage 3"];
    let mut latencies = Vec::with_capacity(labels);
    for k in 0..labels {
        let started = Instant::now();
        project.set_label(ids[k % ids.len()], "bench", "stage", Some(stages[k % 4]))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    drop(project);

    let started = Instant::now();
    let mut session = crate::app::ProjectSession::open(&root)?;
    let open_time = started.elapsed();
    let key_presses = key_press_times(&mut session, &ids, labels.min(300))?;
    let frames = crate::ui::browser_frame_times(&session, 60);
    let mut steady: Vec<Duration> = frames[10..].to_vec();
    steady.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let commit_median = percentile(&latencies, 0.5);
    let press_median = percentile(&key_presses, 0.5);
    let figures = serde_json::json!({
        "items": session.rows.len(),
        "import_seconds": import_time.as_secs_f64(),
        "import_items_per_second": added as f64 / import_time.as_secs_f64(),
        "open_project_seconds": open_time.as_secs_f64(),
        "commit_ms_median": ms(commit_median),
        "commit_ms_p99": ms(percentile(&latencies, 0.99)),
        "key_press_ms_median": ms(press_median),
        "key_press_ms_p99": ms(percentile(&key_presses, 0.99)),
        "key_press_without_commit_ms_median": ms(press_median.saturating_sub(commit_median)),
        "redraw_ms_first": ms(frames[0]),
        "redraw_ms_median": ms(percentile(&steady, 0.5)),
        "redraw_ms_p95": ms(percentile(&steady, 0.95)),
    });
    if json {
        println!("{figures}");
        return Ok(());
    }
    let n = session.rows.len();
    println!("| measure ({n} items) | value |");
    println!("|---|---:|");
    println!(
        "| import {} generated 64×64 PNGs | {:.2} s ({:.0} items/s) |",
        added,
        import_time.as_secs_f64(),
        added as f64 / import_time.as_secs_f64()
    );
    println!(
        "| open the project in the window (every row read) | {:.2} s |",
        open_time.as_secs_f64()
    );
    println!(
        "| label commit latency (store, fsync), median of {labels} | {:.2} ms |",
        ms(commit_median)
    );
    println!(
        "| label commit latency, p99 | {:.2} ms |",
        ms(percentile(&latencies, 0.99))
    );
    println!(
        "| key press in the window (commit + re-read + advance), median of {} | {:.2} ms |",
        key_presses.len(),
        ms(press_median)
    );
    println!(
        "| key press, p99 | {:.2} ms |",
        ms(percentile(&key_presses, 0.99))
    );
    println!(
        "| key press without the commit, median | {:.2} ms |",
        ms(press_median.saturating_sub(commit_median))
    );
    println!("| redraw: browser frame, first | {:.1} ms |", ms(frames[0]));
    println!(
        "| redraw: browser frame, steady median (frames 10–59) | {:.2} ms |",
        ms(percentile(&steady, 0.5))
    );
    println!(
        "| redraw: browser frame, steady p95 | {:.2} ms |",
        ms(percentile(&steady, 0.95))
    );
    println!(
        "(redraw: CPU time of the egui pass and tessellation, thumbnails drawn on their own thread; project in {})",
        root.display()
    );
    Ok(())
}

/// `items` random 64² grey PNGs imported into a new ROP project under
/// `dir`: (project folder, project, import time, items added).
fn import_generated(
    dir: &std::path::Path,
    items: usize,
) -> anyhow::Result<(std::path::PathBuf, crate::store::Project, Duration, usize)> {
    use crate::rng::Rng;
    use crate::store::import::{self, ImportOptions};
    use crate::store::{Project, Schema};

    let _ = std::fs::remove_dir_all(dir);
    let images = dir.join("images");
    std::fs::create_dir_all(&images)?;
    let mut rng = Rng::new(5);
    for i in 0..items {
        let pixels: Vec<u8> = (0..64 * 64)
            .map(|_| (rng.next_u64() & 0xff) as u8)
            .collect();
        image::save_buffer(
            images.join(format!("img{i:06}.png")),
            &pixels,
            64,
            64,
            image::ExtendedColorType::L8,
        )?;
    }
    let root = dir.join("project");
    let mut project = Project::create(&root, &Schema::rop())?;
    let started = Instant::now();
    let report = import::import(
        &mut project,
        std::slice::from_ref(&images),
        None,
        &ImportOptions {
            test_fraction: 0.2,
            ..Default::default()
        },
        |_, _| {},
    )?;
    let import_time = started.elapsed();

    Ok((root, project, import_time, report.added))
}

/// The window's side of `presses` label key presses: the session applies
/// the command (commit, re-read of that item, auto-advance), timed whole;
/// sorted.
fn key_press_times(
    session: &mut crate::app::ProjectSession,
    ids: &[i64],
    presses: usize,
) -> anyhow::Result<Vec<Duration>> {
    let stages = ["Normal", "Stage 1", "Stage 2", "Stage 3"];
    let mut key_presses = Vec::with_capacity(presses);
    for k in 0..presses {
        let id = ids[(k * 7919) % ids.len()];
        session
            .apply(crate::app::LabelingCommand::SelectItem(id), "reader")
            .map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        session
            .apply(
                crate::app::LabelingCommand::SetLabel {
                    field: "stage".into(),
                    value: Some(stages[(k + 1) % 4].into()),
                },
                "reader",
            )
            .map_err(anyhow::Error::msg)?;
        key_presses.push(started.elapsed());
    }
    key_presses.sort();
    Ok(key_presses)
}
