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
mod team;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
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
    /// Train a method (supervised, mean teacher, distillation, segmentation, …) on a project's pools, as the window does.
    Train(Box<train::TrainArgs>),
    /// Store a saved run's predictions (probabilities, uncertainty) for the unlabeled and test pools.
    Predict(train::RunArgs),
    /// A saved run's test-pool metrics for student and teacher.
    Eval(train::EvalArgs),
    /// Which record columns a saved tabular run leans on: Shapley values of
    /// one case (`--item`), or each column's permutation importance and mean
    /// |Shapley| on the test pool.
    Explain(train::ExplainArgs),
    /// Print benchmark tables.
    Bench(bench::BenchArgs),
    /// Write a demo project from a seed (ROP, ROP exams, thyroid, volumes, lung, bone, brain tumour).
    Demo(demo::DemoArgs),
    /// Create a project (folder or PostgreSQL), push one to a server, manage users and settings.
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
    /// Claim the next item (or `--eye`) to label: a lease others are not handed it under.
    Next(team::NextArgs),
    /// The review queue (disagreements, flagged items), or a verdict on one label.
    Review(team::ReviewArgs),
    /// Take claimed items offline: a folder project to label without the server.
    Checkout(team::CheckoutArgs),
    /// Push what was labeled in an offline copy back to its project.
    Sync(team::SyncArgs),
}

/// The command-line reference (`docs/cli.md`) as the CLI's own definitions
/// write it: every command and subcommand with its full help, at 100
/// columns. `tests/the_command_line_reference_is_the_cli.rs` keeps the file
/// equal to it, so the reference cannot drift from the program.
pub fn reference_markdown() -> String {
    use clap::CommandFactory;
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from the CLI's own definitions (`loupe::cli::reference_markdown`); \
         `LOUPE_WRITE_DOCS=1 cargo test --test the_command_line_reference_is_the_cli` \
         rewrites it. Wherever a command takes a project folder `DIR`, a \
         `postgres://…` URL works in its place (see the team guide).\n",
    );
    let mut root = Cli::command().term_width(100).max_term_width(100);
    root.build();
    reference_section(&root, "loupe", &mut out);
    out
}

/// One command's section, then its subcommands'.
fn reference_section(command: &clap::Command, path: &str, out: &mut String) {
    let mut command = command.clone();
    let help = command.render_long_help().to_string();
    out.push_str(&format!(
        "\n## `{path}`\n\n```text\n{}\n```\n",
        help.trim_end()
    ));
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        reference_section(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Parses the arguments and runs; the window when no subcommand is given.
pub fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and succeed, as clap does.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("error: {}", parse_error_line(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// `loupe export … | head`: the reader went away. Rust ignores SIGPIPE, so
/// the write fails and `print!` panics; a closed pipe is the end of the
/// output, not a crash: the process ends quietly with the status a shell
/// gives one that SIGPIPE ended (141). Every other panic is reported as before.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// An error and its causes on one line, a cause left out when the line
/// already says it (an error that shows its source would repeat it).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// An argument error as one line (status 1, like every other refusal):
/// clap's message — what is wrong, the missing arguments or possible
/// values, its tip — joined, without `error:` and the usage block.
fn parse_error_line(rendered: &str) -> String {
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = message.join(" ");
    let joined = joined.strip_prefix("error:").unwrap_or(&joined).trim();
    format!("{joined} (see loupe --help)")
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
        Some(CliCommand::Train(args)) => train::run(&args).context("cannot train"),
        Some(CliCommand::Predict(args)) => train::predict(&args).context("cannot predict"),
        Some(CliCommand::Eval(args)) => train::eval(&args).context("cannot evaluate the run"),
        Some(CliCommand::Explain(args)) => train::explain(&args).context("cannot explain"),
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
        Some(CliCommand::Next(args)) => team::next(&args).context("cannot claim"),
        Some(CliCommand::Review(args)) => team::review(&args),
        Some(CliCommand::Checkout(args)) => {
            team::checkout(&args).context("cannot take work offline")
        }
        Some(CliCommand::Sync(args)) => team::sync(&args).context("cannot sync"),
    }
}
