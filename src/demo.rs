//! Ready-to-use demo projects: synthetic ROP fundus photographs or thyroid
//! ultrasound frames, with a labeled test pool, about 15 % of the training
//! images labeled and the rest unlabeled. Deterministic in the seed. The
//! generator's ground truth for every image is written apart, to
//! `ground_truth.csv`, for benchmarks — never as labels.

use std::path::{Path, PathBuf};

use crate::store::{Pool, Project, Schema, StoreError, csv};
use crate::synth::{Rng, fundus, ultrasound};

/// Which demo to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoTask {
    Rop,
    Thyroid,
}

impl DemoTask {
    pub fn name(self) -> &'static str {
        match self {
            DemoTask::Rop => "rop",
            DemoTask::Thyroid => "thyroid",
        }
    }
}

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub task: DemoTask,
    pub seed: u64,
    pub count: usize,
    /// Edge of the square images in pixels.
    pub size: usize,
    pub test_fraction: f64,
    /// Fraction of the training images that start labeled.
    pub labeled_fraction: f64,
}

impl DemoOptions {
    pub fn new(task: DemoTask) -> Self {
        Self {
            task,
            seed: 1,
            count: 300,
            size: 256,
            test_fraction: 0.2,
            labeled_fraction: 0.15,
        }
    }
}

/// Who the demo's labels are recorded for.
pub const DEMO_ANNOTATOR: &str = "reference";

/// The real CC0 fundus photograph shipped in `assets/`, added to the ROP demo unlabeled.
const RETINA_JPG: &[u8] = include_bytes!("../assets/retina.jpg");

/// What a demo holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSummary {
    pub root: PathBuf,
    pub items: usize,
    pub labeled: usize,
    pub unlabeled: usize,
    pub test: usize,
}

/// Writes a demo project into `root` (which must not hold a project yet);
/// `progress(done, total)` after each image.
pub fn write_demo(
    root: &Path,
    options: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    let (schema, classes): (Schema, &[&str]) = match options.task {
        DemoTask::Rop => (Schema::rop(), &fundus::STAGES),
        DemoTask::Thyroid => (Schema::thyroid(), &ultrasound::CLASSES),
    };
    let mut project = Project::create(root, &schema)?;
    let images = root.join("images");
    std::fs::create_dir_all(&images).map_err(|source| StoreError::Io {
        path: images.clone(),
        source,
    })?;

    // Classes in turn, so every class is equally common; pools drawn per class.
    let mut rng = Rng::new(options.seed);
    let per_class = options.count.div_ceil(classes.len());
    let mut plan: Vec<(usize, Pool, bool)> = Vec::new(); // (class, pool, labeled)
    for class in 0..classes.len() {
        let n = per_class.min(options.count.saturating_sub(class * per_class));
        let test = (options.test_fraction * n as f64).round() as usize;
        let labeled = ((options.labeled_fraction * (n - test) as f64).round() as usize)
            .max(1)
            .min(n - test);
        for k in 0..n {
            let pool = if k < test {
                Pool::Test
            } else {
                Pool::Unlabeled
            };
            plan.push((class, pool, k < test + labeled));
        }
    }
    // Shuffle so file order says nothing about class or pool.
    for k in (1..plan.len()).rev() {
        let j = (rng.next_u64() % (k as u64 + 1)) as usize;
        plan.swap(k, j);
    }

    let mut truth = csv::line(&["path", schema.target.as_str()]);
    let total = plan.len();
    for (index, &(class, pool, labeled)) in plan.iter().enumerate() {
        let name = format!("{}_{index:04}.png", options.task.name());
        let path = images.join(&name);
        let image_seed = options
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(index as u64);
        let written = match options.task {
            DemoTask::Rop => {
                let image = fundus::generate(class, options.size, image_seed);
                image::save_buffer(
                    &path,
                    &image.rgb,
                    options.size as u32,
                    options.size as u32,
                    image::ExtendedColorType::Rgb8,
                )
            }
            DemoTask::Thyroid => {
                let grey = ultrasound::generate(class, options.size, image_seed);
                image::save_buffer(
                    &path,
                    &grey,
                    options.size as u32,
                    options.size as u32,
                    image::ExtendedColorType::L8,
                )
            }
        };
        written.map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        truth.push_str(&csv::line(&[
            format!("images/{name}"),
            classes[class].to_string(),
        ]));
        if let crate::store::AddOutcome::Added(id) = project.add_item(&path, pool)? {
            if labeled {
                project.set_label(id, DEMO_ANNOTATOR, &schema.target, Some(classes[class]))?;
            }
        }
        progress(index + 1, total);
    }
    if options.task == DemoTask::Rop {
        let retina = images.join("retina_real_cc0.jpg");
        std::fs::write(&retina, RETINA_JPG).map_err(|source| StoreError::Io {
            path: retina.clone(),
            source,
        })?;
        project.add_item(&retina, Pool::Unlabeled)?;
    }
    let truth_path = root.join("ground_truth.csv");
    std::fs::write(&truth_path, truth).map_err(|source| StoreError::Io {
        path: truth_path,
        source,
    })?;

    let items = project.items()?;
    let count = |pool| items.iter().filter(|i| i.pool == pool).count();
    Ok(DemoSummary {
        root: root.to_path_buf(),
        items: items.len(),
        labeled: count(Pool::Labeled),
        unlabeled: count(Pool::Unlabeled),
        test: count(Pool::Test),
    })
}
