//! Screenshots of Loupe's main screens for `docs/screens/`, at 1600×1000
//! and 1280×720: the real window (egui on wgpu, the viewer's own render
//! pass included) driven by its controls' names, as the UI tests drive it,
//! on demo projects written from their seeds. `docs/screens/take.sh` runs
//! it; it needs a wgpu adapter (Mesa's llvmpipe will do).
//!
//! `cargo run --example screens -- OUT_DIR [NAME…]` (all screens when no
//! name is given: rop, thyroid, volumes, brain-tumour, lung, review-eyes, training).

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use loupe::app::painting::{PaintCommand, Tool};
use loupe::app::training::TrainingStatus;
use loupe::app::{LabelingCommand, Launch, TrainingCommand, WindowCommand};
use loupe::demo::{DemoOptions, DemoTask, write_demo};
use loupe::train::config::TrainConfig;
use loupe::ui::LoupeApp;

const SIZES: [(f32, f32); 2] = [(1600.0, 1000.0), (1280.0, 720.0)];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "docs/screens".into()));
    let wanted: Vec<String> = args.collect();
    let want = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    std::fs::create_dir_all(&out)?;
    let work = tempfile::tempdir()?;
    let demo = |task: DemoTask, count: usize, size: usize| -> anyhow::Result<PathBuf> {
        let root = work.path().join(format!("{task:?}").to_lowercase());
        if !root.exists() {
            // 0: the demo's own default.
            let mut options = DemoOptions::new(task);
            if count > 0 {
                options.count = count;
            }
            if size > 0 {
                options.size = size;
            }
            write_demo(&root, &options, |_, _| {})?;
        }
        Ok(root)
    };
    for (width, height) in SIZES {
        let size = format!("{}x{}", width as u32, height as u32);
        let shot = |name: &str| out.join(format!("{name}-{size}.png"));
        let data = work.path().join(format!("data-{size}"));
        let open = |root: &Path| window(root, data.clone(), width, height);
        if want("rop") {
            let mut h = open(&demo(DemoTask::Rop, 120, 256)?);
            select_first(&mut h);
            save(&mut h, &shot("rop"))?;
        }
        if want("thyroid") {
            let mut h = open(&demo(DemoTask::Thyroid, 60, 256)?);
            select_first(&mut h);
            save(&mut h, &shot("thyroid"))?;
        }
        if want("volumes") {
            let mut h = open(&demo(DemoTask::Volumes, 0, 0)?);
            h.state_mut()
                .apply(WindowCommand::SetAnnotator("ana".into()));
            select_first(&mut h);
            h.state_mut().apply(PaintCommand::SetTool(Tool::Brush));
            h.run();
            save(&mut h, &shot("volumes-painting"))?;
        }
        if want("brain-tumour") {
            let mut h = open(&demo(DemoTask::BrainTumour, 8, 0)?);
            select_first_labeled(&mut h);
            h.state_mut().apply(WindowCommand::ShowMap(
                loupe::app::review::MapView::Annotator(loupe::demo::DEMO_ANNOTATOR.into()),
            ));
            settle(&mut h);
            save(&mut h, &shot("brain-tumour-review"))?;
        }
        if want("lung") {
            let mut h = open(&demo(DemoTask::Lung, 40, 32)?);
            let mut config = h.state().state().training.config.clone();
            config.method = loupe::train::methods::supervised::METHOD;
            config.modalities = vec![loupe::train::config::TABULAR_MODALITY.into()];
            config.fit_to_modality();
            config.epochs = 20;
            train(&mut h, config, None);
            h.get_by_label("Training").click();
            h.run();
            select_first(&mut h);
            h.get_by_label("Explain").click();
            wait(&mut h, |h| h.state().state().explanations.shown.is_some());
            save(&mut h, &shot("lung-explanation"))?;
        }
        if want("review-eyes") {
            // The review queue's eyes: one chosen, open in the exam view.
            let mut h = open(&demo(DemoTask::RopExams, 0, 0)?);
            h.get_by_label("Review").click();
            h.run();
            h.get_all_by_label_contains("graders disagree on")
                .next()
                .ok_or_else(|| anyhow::anyhow!("no eye waits for review in the demo"))?
                .click();
            settle(&mut h);
            save(&mut h, &shot("review-eyes"))?;
        }
        if want("training") {
            let mut h = open(&demo(DemoTask::Rop, 120, 256)?);
            let config = TrainConfig {
                method: loupe::train::methods::mean_teacher::METHOD,
                input_size: 32,
                width: 4,
                epochs: 200,
                ..h.state().state().training.config.clone()
            };
            // During: a few epochs in, curves still growing.
            train(&mut h, config, Some(4));
            save(&mut h, &shot("training-during"))?;
            h.get_by_label("Stop").click();
            wait(&mut h, |h| {
                h.state()
                    .state()
                    .training
                    .run
                    .as_ref()
                    .is_some_and(|r| !r.is_active())
            });
            let config = TrainConfig {
                epochs: 6,
                ..h.state().state().training.config.clone()
            };
            train(&mut h, config, None);
            // After: two runs in the table, the older compared.
            let older = h.state().state().training.run_rows()[1].id.clone();
            h.state_mut().apply(TrainingCommand::Compare {
                run: older,
                on: true,
            });
            h.run();
            save(&mut h, &shot("training-after"))?;
        }
    }
    Ok(())
}

fn window(root: &Path, data: PathBuf, width: f32, height: f32) -> Harness<'static, LoupeApp> {
    let launch = Launch::Project(root.to_path_buf());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(width, height))
        .with_max_steps(400)
        .wgpu()
        .build_eframe(move |cc| LoupeApp::new(cc, launch, data));
    harness.run();
    harness
}

fn select_first(harness: &mut Harness<'static, LoupeApp>) {
    let first = harness
        .state()
        .state()
        .session
        .as_ref()
        .and_then(|s| s.rows.first())
        .map(|r| r.item.id);
    if let Some(id) = first {
        harness.state_mut().apply(LabelingCommand::SelectItem(id));
    }
    settle(harness);
}

fn select_first_labeled(harness: &mut Harness<'static, LoupeApp>) {
    let labeled = harness
        .state()
        .state()
        .session
        .as_ref()
        .and_then(|s| {
            s.rows
                .iter()
                .find(|r| r.item.pool == loupe::store::Pool::Labeled)
        })
        .map(|r| r.item.id);
    if let Some(id) = labeled {
        harness.state_mut().apply(LabelingCommand::SelectItem(id));
    }
    settle(harness);
}

/// Frames until background work (loading, thumbnails) has landed.
fn settle(harness: &mut Harness<'static, LoupeApp>) {
    for _ in 0..60 {
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    harness.run();
}

fn wait(
    harness: &mut Harness<'static, LoupeApp>,
    done: impl Fn(&Harness<'static, LoupeApp>) -> bool,
) {
    for _ in 0..6000 {
        harness.step();
        if done(harness) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    settle(harness);
}

/// Trains `config` on the CPU from the dashboard: until `epochs` epochs
/// have ended, or to the end.
fn train(harness: &mut Harness<'static, LoupeApp>, config: TrainConfig, epochs: Option<usize>) {
    if !harness.state().state().training.show {
        harness.get_by_label("Training").click();
        harness.run();
    }
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(config)));
    harness.state_mut().apply(TrainingCommand::SetOnCpu(true));
    harness.state_mut().apply(TrainingCommand::Start);
    wait(harness, |h| {
        let Some(run) = h.state().state().training.run.as_ref() else {
            return false;
        };
        match epochs {
            Some(n) => run.epochs.len() >= n || !run.is_active(),
            None => !run.is_active(),
        }
    });
    if let Some(run) = harness.state().state().training.run.as_ref()
        && let TrainingStatus::Failed(why) = &run.status
    {
        eprintln!("training failed: {why}");
    }
}

fn save(harness: &mut Harness<'static, LoupeApp>, path: &Path) -> anyhow::Result<()> {
    harness.run();
    let image = harness
        .render()
        .map_err(|e| anyhow::anyhow!("rendering {}: {e}", path.display()))?;
    image.save(path)?;
    println!("{}", path.display());
    Ok(())
}
