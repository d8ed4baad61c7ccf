//! Project subcommands: `project init`, `import`, `label`, `export`, `stats`.
//! They work on the same SQLite store as the window.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::store::import::{self, ImportOptions, LabelTable};
use crate::store::{Project, Schema, annotator_name, export};

#[derive(Debug, clap::Subcommand)]
pub enum ProjectCommand {
    /// Create a project folder (or, with --postgres, a team project on a
    /// PostgreSQL server) with a label schema.
    Init {
        /// The project folder (omit with --postgres).
        #[arg(required_unless_present = "postgres", conflicts_with = "postgres")]
        dir: Option<PathBuf>,
        /// `rop`, `rop-exam` (ROP screening graded per eye and exam), `thyroid`, or a JSON schema file.
        #[arg(long)]
        schema: String,
        /// A `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL of an empty
        /// database: the project goes there and USER becomes its admin.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// The images root on the share, as this workstation mounts it
        /// (others set LOUPE_IMAGES_ROOT); with --postgres.
        #[arg(long, value_name = "ROOT", requires = "postgres")]
        images: Option<PathBuf>,
        /// Where painted maps and runs go on the share (default IMAGES/.loupe;
        /// others set LOUPE_FILES_ROOT); with --postgres.
        #[arg(long, value_name = "ROOT", requires = "postgres")]
        files: Option<PathBuf>,
    },
    /// Copy a project folder, with its whole history, into a PostgreSQL
    /// project (created if the database is empty). Run again, it copies what
    /// was added since; it refuses a server project with work of its own.
    Push {
        dir: PathBuf,
        #[arg(long, value_name = "URL")]
        postgres: String,
        /// The images root on the share (default: the project folder).
        #[arg(long, value_name = "ROOT")]
        images: Option<PathBuf>,
        /// The files root on the share (default IMAGES/.loupe).
        #[arg(long, value_name = "ROOT")]
        files: Option<PathBuf>,
    },
    /// Show or set how many annotators label each item and how long a
    /// claim lasts (on a team project: admins only).
    Settings {
        dir: PathBuf,
        /// A number (1–100), or `all`: every annotator labels every item.
        #[arg(long, value_name = "N|all")]
        labels_per_item: Option<String>,
        /// How long a claimed item stays claimed without being renewed
        /// (default 600: ten minutes; at most 43200: twelve hours).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=43200))]
        lease_seconds: Option<u32>,
    },
    /// Create a team member's database login (admins only).
    User {
        /// The project's URL (as its admin).
        url: String,
        /// The new login: the name their labels carry.
        name: String,
        #[arg(long, value_parser = crate::store::postgres::Role::parse)]
        role: crate::store::postgres::Role,
        /// Read the password from standard input's first line (else a
        /// random one is made and printed once).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The project folder.
    pub dir: PathBuf,
    /// Files or folders (walked recursively) of PNG/JPEG/TIFF/BMP/NIfTI.
    #[arg(required_unless_present_any = ["label_maps", "cases", "exams"])]
    pub paths: Vec<PathBuf>,
    /// A cases CSV: `case`, one column per modality role with a path
    /// (relative to the CSV; empty when the case has none), one per tabular
    /// column, label columns, optionally `pool`. Every row is checked
    /// before anything is written.
    #[arg(long, value_name = "CASES.csv")]
    pub cases: Option<PathBuf>,
    /// A screening exams CSV: `infant`, `exam_date` (YYYY-MM-DD), `eye`
    /// (OD/OS), `field`, `path` (relative to the CSV), optionally
    /// `quality`, `ga_weeks` (26 or 26+3), `birth_weight_g`, `birth_date`,
    /// `sex`, `device`. Every row is checked first; all or nothing.
    #[arg(long, value_name = "EXAMS.csv")]
    pub exams: Option<PathBuf>,
    /// A folder of `<case>_labels.nii.gz` maps (as `export --format
    /// nifti-labels` writes them), brought in as `--annotator`'s maps,
    /// matched by case name; all or nothing.
    #[arg(long, value_name = "FOLDER")]
    pub label_maps: Option<PathBuf>,
    /// Existing labels: `path,field=value,…` lines or a table with a `path` column.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Fraction of new items held out as the test pool (stratified by label;
    /// with --exams, of the CSV's infants, each held out whole).
    #[arg(long, default_value_t = 0.0)]
    pub test_fraction: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Annotator recorded for CSV labels that name none.
    #[arg(long, default_value = crate::store::IMPORT_ANNOTATOR)]
    pub annotator: String,
    /// Accept CSV rows by the reserved `adjudicated` annotator (restoring an
    /// export's adjudications); refused without it.
    #[arg(long)]
    pub adjudications: bool,
}

#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    pub dir: PathBuf,
    /// Item id or path (omit with --stdin).
    pub item: Option<String>,
    /// FIELD=VALUE pairs (an empty value clears the field).
    pub assignments: Vec<String>,
    /// Who labels (on a PostgreSQL project: the connection's user, the default;
    /// another name is refused).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Read `ITEM FIELD=VALUE…` lines; print `ok ITEM` once each is durable on disk.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Folders,
    /// Painted label maps: `OUT/<annotator>/<case>_labels.nii.gz`.
    NiftiLabels,
    /// One row per case: `case`, a path per modality role, the tabular
    /// record, the labels (consensus) and `pool` — what `import --cases` reads.
    Cases,
    /// One row per exam image: what `import --exams` reads.
    Exams,
    /// One row per exam, eye and grader: the newest grade and its ETROP flags.
    EyeGrades,
    /// One row per image and grader: disc and fovea marks, disc diameter
    /// and the zone circles they draw (image pixels).
    ZoneMarks,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Output file (csv, json; default standard output) or folder (folders, nifti-labels).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn project(command: &ProjectCommand) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Init {
            dir,
            schema,
            postgres,
            images,
            files,
        } => {
            let schema = read_schema(schema)?;
            match (dir, postgres) {
                (_, Some(url)) => {
                    let images = images.clone().context("--postgres needs --images ROOT")?;
                    let files = files.clone().unwrap_or_else(|| images.join(".loupe"));
                    let project = crate::store::postgres::init(url, &schema, &images, &files)?;
                    println!(
                        "created {} project on {} (admin {}; images {}, files {})",
                        schema.name,
                        crate::store::postgres::redact(url),
                        project.user().unwrap_or_default(),
                        images.display(),
                        files.display()
                    );
                }
                (Some(dir), None) => {
                    Project::create(dir, &schema)?;
                    println!("created {} project in {}", schema.name, dir.display());
                }
                (None, None) => bail!("give a project folder or --postgres URL"),
            }
            Ok(())
        }
        ProjectCommand::Push {
            dir,
            postgres,
            images,
            files,
        } => {
            let images = images.clone().unwrap_or_else(|| dir.clone());
            let files = files.clone().unwrap_or_else(|| images.join(".loupe"));
            let report = crate::store::push::push(dir, postgres, &images, &files)?;
            println!("{report}");
            Ok(())
        }
        ProjectCommand::Settings {
            dir,
            labels_per_item,
            lease_seconds,
        } => super::team::settings(dir, labels_per_item.as_deref(), *lease_seconds),
        ProjectCommand::User {
            url,
            name,
            role,
            password_stdin,
        } => {
            let password = if *password_stdin {
                use crate::user_file::{Line, MAX_LINE_BYTES, next_line};
                let mut number = 0;
                match next_line(&mut std::io::stdin().lock(), &mut number, MAX_LINE_BYTES)? {
                    Some(Line::Text(line)) => line.trim_end_matches(['\r', '\n']).to_string(),
                    _ => bail!("--password-stdin: no password line on standard input"),
                }
            } else {
                crate::store::postgres::random_password()
            };
            let mut project = Project::open(Path::new(url))?;
            project.create_user(name, *role, &password)?;
            if *password_stdin {
                println!("created {} {name}", role.as_str());
            } else {
                println!("created {} {name} with password {password}", role.as_str());
            }
            Ok(())
        }
    }
}

fn read_schema(schema: &str) -> anyhow::Result<Schema> {
    Ok(match Schema::builtin(schema) {
        Some(builtin) => builtin,
        None => {
            let text = crate::user_file::read_text(
                Path::new(schema),
                crate::user_file::MAX_JSON_BYTES,
                "JSON file",
            )?;
            Schema::from_json(&text).with_context(|| format!("schema file {schema}"))?
        }
    })
}

pub fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    if let Some(folder) = &args.label_maps {
        if !args.paths.is_empty() || args.labels.is_some() {
            bail!("--label-maps imports maps only; import files and CSV labels in a separate call");
        }
        let report = crate::store::label_maps::import(&mut project, folder, &args.annotator)?;
        println!(
            "imported {} label maps for {} ({} identical to the current ones)",
            report.imported,
            annotator_name(&args.annotator)?,
            report.unchanged
        );
        return Ok(());
    }
    if let Some(csv) = &args.exams {
        if !args.paths.is_empty() || args.labels.is_some() || args.cases.is_some() {
            bail!(
                "--exams imports the images its CSV names; import other files in a separate call"
            );
        }
        crate::store::split::check_test_fraction("--test-fraction", args.test_fraction)
            .map_err(anyhow::Error::msg)?;
        let exams = crate::store::exams::ExamsCsv::read(csv)?;
        let report = project.import_exams(&exams)?;
        if args.test_fraction > 0.0 {
            // Whole infants of this CSV, so none is trained and tested on.
            let names = exams.rows.iter().map(|r| r.infant.name.clone()).collect();
            let mut rng = crate::rng::Rng::new(args.seed);
            let tested =
                crate::store::exams::draw_test_infants(names, args.test_fraction, &mut rng);
            let moved = project.hold_out_infants(&tested)?;
            println!(
                "held out {} infants ({moved} photographs) as the test pool",
                tested.len()
            );
        }
        println!(
            "imported {} exam images ({} new files, {} already in the project placed, {} \
             unchanged); {} new infants, {} new exams",
            exams.rows.len(),
            report.images_added,
            report.images_placed,
            report.unchanged,
            report.infants_added,
            report.exams_added
        );
        return Ok(());
    }
    if let Some(csv) = &args.cases {
        if !args.paths.is_empty() || args.labels.is_some() {
            bail!(
                "--cases imports the cases its CSV names; import other files and labels in a separate call"
            );
        }
        let rows = crate::store::cases::read_cases(csv, &project)?;
        let options = ImportOptions {
            annotator: annotator_name(&args.annotator)?,
            ..ImportOptions::default()
        };
        let report =
            crate::store::cases::import_cases(&mut project, &rows, &options, |done, total| {
                if done == total || done % 50 == 0 {
                    eprint!("\rimporting {done}/{total}");
                }
            })?;
        eprintln!();
        for line in report.shared_files.iter().chain(&report.cases_kept) {
            println!("{line}");
        }
        println!(
            "imported {} cases ({} in the test pool, {} already in the project), {} labels ({} already there){}",
            report.added,
            report.test,
            report.duplicates.len(),
            report.labels_applied,
            report.labels_unchanged,
            if report.cases_kept.is_empty() {
                String::new()
            } else {
                format!(", {} values kept from the project", report.cases_kept.len())
            }
        );
        return Ok(());
    }
    let labels = match &args.labels {
        Some(path) => Some(LabelTable::read(path, &project)?),
        None => None,
    };
    let options = ImportOptions {
        test_fraction: args.test_fraction,
        seed: args.seed,
        annotator: annotator_name(&args.annotator)?,
        adjudications: args.adjudications,
    };
    let report = import::import(
        &mut project,
        &args.paths,
        labels.as_ref(),
        &options,
        |done, total| {
            if done == total || done % 50 == 0 {
                eprint!("\rimporting {done}/{total}");
            }
        },
    )?;
    eprintln!();
    for (file, existing) in &report.duplicates {
        println!(
            "duplicate (same bytes as item {existing}): {}",
            file.display()
        );
    }
    for path in &report.unmatched_labels {
        println!("label row matches no imported file: {path}");
    }
    for (path, why) in &report.skipped {
        println!("skipped {}: {why}", path.display());
    }
    for (path, why) in &report.not_in_exams {
        println!("not placed in an exam {}: {why}", path.display());
    }
    if report.placed_in_exams > 0 {
        println!(
            "placed {} DICOM photographs in their exams (PatientID, StudyDate, laterality)",
            report.placed_in_exams
        );
    }
    for kept in &report.labels_kept {
        println!(
            "kept newer label (line {}): item {} {} by {}: {} (the CSV's {:?} is older)",
            kept.line,
            kept.item_id,
            kept.field,
            kept.annotator,
            kept.kept
                .as_deref()
                .map_or("cleared".to_string(), |v| format!("{v:?}")),
            kept.offered
        );
    }
    println!(
        "added {} items ({} to the test pool), {} labels ({} already there, {} older than the project's kept), {} duplicates skipped, {} files skipped",
        report.added,
        report.test,
        report.labels_applied,
        report.labels_unchanged,
        report.labels_kept.len(),
        report.duplicates.len(),
        report.skipped.len()
    );
    Ok(())
}

/// Splits `stage=Stage 1 zone=II` into assignments: a word that does not
/// start a `FIELD=` of the schema continues the previous value, so values
/// may contain spaces.
fn parse_assignments(words: &[&str], fields: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((field, value)) if fields.iter().any(|f| f == field) => {
                if out.iter().any(|(f, _)| f == field) {
                    bail!("{field} is given twice on one line: give each field once");
                }
                out.push((field.to_string(), value.to_string()))
            }
            _ => match out.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(word);
                }
                None => bail!(
                    "{} is not FIELD=VALUE with a field of this project ({})",
                    crate::user_file::shown(word),
                    fields.join(", ")
                ),
            },
        }
    }
    Ok(out)
}

/// Applies `FIELD=VALUE` words to one item, all or nothing.
fn apply(project: &mut Project, item: &str, words: &[&str], annotator: &str) -> anyhow::Result<()> {
    let item = project.find_item(item)?;
    let fields: Vec<String> = project.schema().field_names();
    let assignments = parse_assignments(words, &fields)?;
    if assignments.is_empty() {
        bail!("no FIELD=VALUE given for item {}", item.id);
    }
    let assignments: Vec<(&str, Option<&str>)> = assignments
        .iter()
        .map(|(field, value)| (field.as_str(), Some(value.trim()).filter(|v| !v.is_empty())))
        .collect();
    project.set_labels(item.id, annotator, &assignments)?;
    Ok(())
}

pub fn label(args: &LabelArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let annotator = project.annotator(args.annotator.as_deref())?;
    if !args.stdin {
        let item = args
            .item
            .as_deref()
            .context("give ITEM FIELD=VALUE… or --stdin")?;
        let assignments: Vec<&str> = args.assignments.iter().map(String::as_str).collect();
        return apply(&mut project, item, &assignments, &annotator);
    }
    each_stdin_line(|item, assignments| {
        reconnecting(&mut project, |project| {
            apply(project, item, assignments, &annotator)
        })
    })
}

/// How long a client waits for a restarted server before giving up.
const RECONNECT_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `work`; when it fails because the server connection was lost (a
/// restart), says so, reopens the project every second for up to
/// [`RECONNECT_FOR`] and runs it again. Applying a line twice after a commit
/// whose answer was lost appends the same label again: the history shows
/// both, the current label is the same.
pub fn reconnecting(
    project: &mut Project,
    mut work: impl FnMut(&mut Project) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Err(error) = work(project) else {
        return Ok(());
    };
    if !project.connection_lost() {
        return Err(error);
    }
    eprintln!("lost the server connection ({error:#}); reconnecting…");
    let deadline = std::time::Instant::now() + RECONNECT_FOR;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        match Project::open(project.root()) {
            Ok(reopened) => {
                *project = reopened;
                eprintln!("reconnected to {}", project.root().display());
                return work(project);
            }
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(e).context("the server did not come back");
            }
            Err(_) => {}
        }
    }
}

/// The one `--stdin` loop of `label` and `grade`: each `TARGET FIELD=VALUE…`
/// line is applied; `ok TARGET` is printed only once `apply` returned (the
/// change is on disk), a failure as `error line N (TARGET): …` on standard
/// error, and the command fails at the end when any line did.
pub fn each_stdin_line(
    mut apply: impl FnMut(&str, &[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use crate::user_file::{Line, MAX_LINE_BYTES, next_line};
    let stdout = std::io::stdout();
    let mut failures = 0;
    let mut stdin = std::io::stdin().lock();
    let mut number = 0;
    while let Some(line) = next_line(&mut stdin, &mut number, MAX_LINE_BYTES)? {
        let Line::Text(line) = line else {
            failures += 1;
            eprintln!("error line {number}: not UTF-8 text");
            continue;
        };
        let mut words = line.split_whitespace();
        let Some(target) = words.next() else { continue };
        let assignments: Vec<&str> = words.collect();
        match apply(target, &assignments) {
            Ok(()) => {
                let mut out = stdout.lock();
                writeln!(out, "ok {target}")?;
                out.flush()?;
            }
            Err(error) => {
                failures += 1;
                let target = crate::user_file::cut(target);
                eprintln!("error line {number} ({target}): {error:#}");
            }
        }
    }
    if failures > 0 {
        bail!("{failures} line(s) could not be applied");
    }
    Ok(())
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let project = Project::open(&args.dir)?;
    let text = match args.format {
        ExportFormat::Csv => export::to_csv(&project)?,
        ExportFormat::Json => export::to_json(&project)?,
        ExportFormat::Cases => crate::store::cases::to_cases_csv(&project)?,
        ExportFormat::Exams => crate::store::exams::to_exams_csv(&project)?,
        ExportFormat::EyeGrades => crate::store::exams::to_eye_grades_csv(&project)?,
        ExportFormat::ZoneMarks => crate::store::zone_marks::to_zone_marks_csv(&project)?,
        ExportFormat::Folders => {
            let out = args
                .out
                .as_ref()
                .context("--format folders needs --out FOLDER")?;
            let written = export::to_folders(&project, out)?;
            println!("wrote {written} files into {}", out.display());
            return Ok(());
        }
        ExportFormat::NiftiLabels => {
            let out = args
                .out
                .as_ref()
                .context("--format nifti-labels needs --out FOLDER")?;
            let written = crate::store::label_maps::export(&project, out)?;
            println!("wrote {written} label maps into {}", out.display());
            return Ok(());
        }
    };
    match &args.out {
        Some(path) => crate::durable::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `label 1 0.912, label 2 0.800` (mean Dice per label).
pub fn dice_text(dice: &std::collections::BTreeMap<u8, f64>) -> String {
    if dice.is_empty() {
        return "undefined (nothing painted)".into();
    }
    dice.iter()
        .map(|(label, d)| format!("label {label} {d:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One field's agreement lines: kappa per pair, Fleiss', disagreements.
fn print_agreement(
    name: &str,
    ordinal: bool,
    pairs: &[crate::store::export::PairKappa],
    fleiss: Option<f64>,
    disagreements: usize,
    unit: &str,
) {
    for pair in pairs {
        let kappa = pair
            .kappa
            .map_or("undefined".to_string(), |k| format!("{k:.3}"));
        let kind = if ordinal {
            "quadratic-weighted kappa"
        } else {
            "Cohen's kappa"
        };
        println!(
            "  {name}: {} vs {}: {kind} {kappa} over {} {unit}",
            pair.annotators[0], pair.annotators[1], pair.items
        );
    }
    if let Some(fleiss) = fleiss {
        println!("  {name}: Fleiss' kappa {fleiss:.3}");
    }
    if disagreements > 0 {
        println!("  {name}: {disagreements} {unit} disagree");
    }
}

pub fn stats(args: &StatsArgs) -> anyhow::Result<()> {
    let project = Project::open(&args.dir)?;
    let stats = export::stats(&project)?;
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!("{} items", stats.items);
    for (pool, count) in &stats.pools {
        let classes = stats.classes.get(pool).map(|c| {
            c.iter()
                .map(|(class, n)| format!("{class}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        println!("  {pool:<10} {count:>6}   {}", classes.unwrap_or_default());
    }
    println!(
        "annotators: {}",
        if stats.annotators.is_empty() {
            "none".into()
        } else {
            stats.annotators.join(", ")
        }
    );
    let eyes = stats.eyes.iter().map(|e| {
        (
            format!("eyes: {}", e.field),
            e.ordinal,
            &e.pairs,
            e.fleiss,
            e.disagreements.len(),
            "eyes",
        )
    });
    let fields = stats.agreement.iter().map(|f| {
        (
            f.field.clone(),
            f.ordinal,
            &f.pairs,
            f.fleiss,
            f.disagreements.len(),
            "items",
        )
    });
    for (name, ordinal, pairs, fleiss, disagreements, unit) in fields.chain(eyes) {
        print_agreement(&name, ordinal, pairs, fleiss, disagreements, unit);
    }
    for pair in &stats.overall {
        let kappa = pair
            .kappa
            .map_or("undefined".to_string(), |k| format!("{k:.3}"));
        println!(
            "  overall: {} vs {}: mean kappa {kappa}",
            pair.annotators[0], pair.annotators[1]
        );
    }
    for pair in &stats.label_maps {
        println!(
            "  label maps: {} vs {}: Dice {} over {} items",
            pair.annotators[0],
            pair.annotators[1],
            dice_text(&pair.dice),
            pair.items
        );
    }
    Ok(())
}
