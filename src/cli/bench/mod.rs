//! `loupe bench`: one file per bench, each with its options and its `run`;
//! what they share (option checks, timing, parallel runs, mean ± sd, the
//! table and JSON report) in `common`.

mod common;
mod conv3d;
mod dicom_io;
mod findings;
mod io;
mod kd;
mod kdamm;
mod label_efficiency;
mod labeling;
mod profile;
mod protokd;
mod render;
mod report;
mod team;
mod thyroid;
mod training;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchKind,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchKind {
    /// Volume loading against the time only to gunzip (or read) the same file.
    Io(io::IoArgs),
    /// The viewer: upload, frame time of three views while scrolling, CPU reference per slice, numpy peer.
    Render(render::RenderArgs),
    /// Training throughput: images/s of one optimizer step on the CPU (flex), on the
    /// wgpu device, and of the same network in PyTorch on the same machine.
    Training(training::TrainingArgs),
    /// Where a supervised step of the default model goes on the CPU (flex):
    /// each kind of op timed alone at every shape the step runs it at.
    Profile(profile::ProfileArgs),
    /// Every 3-D convolution of the 3-D U-Net and the 3-D teacher, timed
    /// by matrix products and by the direct kernels (forward, both
    /// gradients), with the way a training step takes.
    Conv3d(conv3d::Conv3dArgs),
    /// Label efficiency on the ROP demo: supervised, mean teacher and mean
    /// teacher with class-weighted consistency at several labeled fractions
    /// (and pool sizes), paired over demo seeds × training seeds.
    LabelEfficiency(label_efficiency::LabelEfficiencyArgs),
    /// Cross-modal distillation on the lung demo: the CT teacher and the
    /// questionnaire student without KD, with PKT + gradient ratio, with
    /// PKT at a fixed weight, with PKT on raw teacher features. Mean ± sd
    /// over seeds of accuracy, AUC and kappa; CPU seconds per epoch.
    Kd(kd::KdArgs),
    /// METHODS.md §5 on the brain-tumour demo: per training seed the
    /// four-sequence segmentation teacher, and per sequence the unimodal
    /// baseline and the ProtoKD student. Mean ± sd over seeds of test Dice
    /// (WT, TC, ET, mean).
    Protokd(protokd::ProtokdArgs),
    /// METHODS.md §4 on the bone demo: image classifiers on middle, random
    /// and policy slices, the slice policy, the tabular teacher, the
    /// multimodal baseline on complete cases and KDAMM on all cases. Mean ±
    /// sd over seeds of accuracy and AUC.
    Kdamm(kdamm::KdammArgs),
    /// The thyroid method taken apart on the thyroid demo: crop vs whole
    /// frames; xception, + dilated, + dense, both; CE vs CE + focal; from
    /// scratch vs pre-trained on the ROP demo. Mean ± sd over seeds of
    /// accuracy, macro-F1 and per-class sensitivity.
    Thyroid(thyroid::ThyroidArgs),
    /// Importing many images, label commit latency, the window's work per
    /// label key press, and the browser's redraw time.
    Labeling(labeling::LabelingArgs),
    /// Several graders on one project at once: PostgreSQL next to SQLite.
    Team(team::TeamArgs),
}

/// Runs the chosen bench: each bench's file parses its own options.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.which {
        BenchKind::Io(a) => io::run(a),
        BenchKind::Render(a) => render::run(a),
        BenchKind::Training(a) => training::run_throughput(a),
        BenchKind::Profile(a) => profile::run_bench(a),
        BenchKind::Conv3d(a) => conv3d::run(a),
        BenchKind::LabelEfficiency(a) => label_efficiency::run(a),
        BenchKind::Kd(a) => kd::run(a),
        BenchKind::Protokd(a) => protokd::run(a),
        BenchKind::Kdamm(a) => kdamm::run(a),
        BenchKind::Thyroid(a) => thyroid::run(a),
        BenchKind::Labeling(a) => labeling::run(a),
        BenchKind::Team(a) => team::run(a),
    }
}
