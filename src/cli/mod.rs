//! The command line: `loupe [PATH]` opens the window; subcommands script the
//! same library without one. Errors print one line and exit with status 1.

mod bench;
mod convert;
mod crop;
mod demo;
mod doctor;
mod grade;
mod info;
mod paint;
mod project;
mod render;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Loupe: label medical images and train models on them, live, in one window.
#[derive(Debug, Parser)]
#[command(name = "loupe", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// An image or volume to open in the window.
    pub path: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Describe an image or volume: shape, type, affine, axis codes, statistics, voxel values.
    Info(info::InfoArgs),
    /// Write an image, volume or DICOM series as NIfTI (`--out FILE.nii.gz`).
    Convert(convert::ConvertArgs),
    /// List GPU adapters and limits, and run a small Burn training step on the shared device.
    Doctor,
    /// Draw one slice to an 8-bit grey PNG with the CPU reference renderer.
    Render(render::RenderArgs),
    /// Train on a project's pools (supervised or mean teacher + SRC), as the window does.
    Train(Box<train::TrainArgs>),
    /// Store a saved run's predictions (probabilities, uncertainty) for the unlabeled and test pools.
    Predict(train::RunArgs),
    /// A saved run's test-pool metrics for student and teacher.
    Eval(train::RunArgs),
    /// Which record columns a saved tabular run leans on: Shapley values of
    /// one case (`--item`), or each column's permutation importance and mean
    /// |Shapley| on the test pool.
    Explain(train::ExplainArgs),
    /// Print benchmark tables.
    Bench(bench::BenchArgs),
    /// Write a demo project (synthetic ROP fundus or thyroid ultrasound).
    Demo(demo::DemoArgs),
    /// Create a project.
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Import files and folders into a project.
    Import(project::ImportArgs),
    /// Set labels from the command line or standard input.
    Label(project::LabelArgs),
    /// Grade an eye at a screening exam (ICROP3), from the command line or standard input.
    Grade(grade::GradeArgs),
    /// Mark the optic disc and fovea on a posterior-pole photograph (ICROP3 zones I and posterior II).
    Zones(grade::ZonesArgs),
    /// An infant's screening report: exams in order, each eye's grades and flags, thumbnails (one HTML file).
    Report(grade::ReportArgs),
    /// Export labels as CSV, JSON, class folders, or painted label maps as NIfTI.
    Export(project::ExportArgs),
    /// The thyroid method's automatic crop of an image: Otsu threshold, largest connected component, box.
    Crop(crop::CropArgs),
    /// Paint one stroke on an item's label map (brush, eraser, fill, interpolation), or show its volumes.
    Paint(paint::PaintArgs),
    /// Items per pool and class, annotators and agreement.
    Stats(project::StatsArgs),
}

/// Parses the arguments and runs; the window when no subcommand is given.
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs parsed arguments (what `main` does after parsing; tests call it
/// in-process with arguments parsed by `Cli::try_parse_from`).
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::ui::run(cli.path),
        Some(CliCommand::Info(args)) => info::run(&args),
        Some(CliCommand::Convert(args)) => convert::run(&args),
        Some(CliCommand::Doctor) => doctor::run(),
        Some(CliCommand::Render(args)) => render::run(&args),
        Some(CliCommand::Train(args)) => train::run(&args),
        Some(CliCommand::Predict(args)) => train::predict(&args),
        Some(CliCommand::Eval(args)) => train::eval(&args),
        Some(CliCommand::Explain(args)) => train::explain(&args),
        Some(CliCommand::Bench(args)) => bench::run(&args),
        Some(CliCommand::Demo(args)) => demo::run(&args),
        Some(CliCommand::Project(command)) => project::project(&command),
        Some(CliCommand::Import(args)) => project::import(&args),
        Some(CliCommand::Label(args)) => project::label(&args),
        Some(CliCommand::Grade(args)) => grade::grade(&args),
        Some(CliCommand::Zones(args)) => grade::zones(&args),
        Some(CliCommand::Report(args)) => grade::report(&args),
        Some(CliCommand::Export(args)) => project::export(&args),
        Some(CliCommand::Paint(args)) => paint::run(&args),
        Some(CliCommand::Crop(args)) => crop::run(&args),
        Some(CliCommand::Stats(args)) => project::stats(&args),
    }
}
