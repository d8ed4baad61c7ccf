//! `loupe demo DIR --task rop|thyroid|volumes|lung|bone|brain-tumour|rop-exams`: write a ready
//! demo project.

use std::path::PathBuf;

use crate::demo::{self, DemoOptions, DemoTask};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the new project.
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value = "rop")]
    pub task: DemoTask,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of synthetic images or cases (default 300; 40 brain-tumour cases).
    #[arg(long, conflicts_with = "infants")]
    pub count: Option<usize>,
    /// `--task rop-exams`: the number of infants (default 60; each has
    /// 1–4 exams of two eyes with 3–5 photographs).
    #[arg(long)]
    pub infants: Option<usize>,
    /// Edge of the square images in pixels (default 256), of the lung
    /// demo's CT volumes in voxels (default 40), or of the bone demo's CT
    /// slices in pixels (default 64), or of the brain-tumour demo's MRI
    /// volumes in voxels (default 64).
    #[arg(long)]
    pub size: Option<usize>,
    /// Fraction of the training images that start labeled (default 0.15;
    /// 0.5 of brain-tumour cases; of rop-exams eyes outside the test pool,
    /// the share graded, 0.75; benchmarks use 1.0 for the fully supervised
    /// bound).
    #[arg(long)]
    pub labeled_fraction: Option<f64>,
    /// Write into a folder that already holds other files (they are left as they are).
    #[arg(long)]
    pub force: bool,
    /// `--task volumes`: write the CT phantom as a DICOM series (one file per slice) and import it.
    #[arg(long)]
    pub dicom: bool,
    /// `--task bone`: SD in HU of a vertebra's trabecular bone about what
    /// its density says (default 0: the CT decides the label; 60 HU is one
    /// T-score unit, so no slice fixes the label).
    #[arg(long, value_name = "HU")]
    pub ct_hu_spread: Option<f64>,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if args.dicom && args.task != DemoTask::Volumes {
        anyhow::bail!("--dicom writes the volumes demo's CT as DICOM: use it with --task volumes");
    }
    if args.ct_hu_spread.is_some() && args.task != DemoTask::Bone {
        anyhow::bail!("--ct-hu-spread blurs the bone demo's CT: use it with --task bone");
    }
    if args.infants.is_some() && args.task != DemoTask::RopExams {
        anyhow::bail!("--infants sets the screening demo's cohort: use it with --task rop-exams");
    }
    if args.count.is_some() && args.task == DemoTask::RopExams {
        anyhow::bail!("--task rop-exams counts infants: use --infants, not --count");
    }
    let options = DemoOptions {
        seed: args.seed,
        count: args
            .count
            .or(args.infants)
            .unwrap_or(args.task.default_count()),
        size: args.size.unwrap_or(args.task.default_size()),
        labeled_fraction: args
            .labeled_fraction
            .unwrap_or(args.task.default_labeled_fraction()),
        force: args.force,
        dicom: args.dicom,
        bone_ct_hu_spread: args.ct_hu_spread.unwrap_or(0.0),
        ..DemoOptions::new(args.task)
    };
    let summary = demo::write_demo(&args.dir, &options, |done, total| {
        if done == total || done % 25 == 0 {
            eprint!("\rgenerating {done}/{total}");
        }
    })?;
    eprintln!();
    println!(
        "{} demo in {}: {} items — {} labeled, {} unlabeled, {} test{}",
        args.task.name(),
        summary.root.display(),
        summary.items,
        summary.labeled,
        summary.unlabeled,
        summary.test,
        match args.task {
            DemoTask::Volumes => "",
            DemoTask::BrainTumour => " (ground truth in ground_truth/<case>_labels.nii.gz)",
            DemoTask::RopExams => {
                " (exams in exams.csv, truth per eye in ground_truth_eyes.csv, graded by \
                 grader-a and grader-b)"
            }
            _ => " (ground truth in ground_truth.csv)",
        }
    );
    Ok(())
}
