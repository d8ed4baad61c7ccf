//! `loupe grade`: one grader's ICROP3 grade of an eye at a screening exam,
//! `loupe grade DIR INFANT/EXAM_DATE/OD|OS FIELD=VALUE… --annotator NAME`,
//! or `EYE FIELD=VALUE…` lines on standard input (`--stdin`, `ok EYE`
//! printed once each grade is on disk); `--adjudicate` instead of
//! `--annotator` records the adjudicated grade. Fields not given take their
//! defaults (stage `none`, plus `none`, `notch` and `arop` `no`, no zone,
//! no extent): each call records a whole grade. `loupe report DIR --infant
//! ID --out FILE.html` writes an infant's screening report.

use std::path::PathBuf;

use anyhow::Context;

use crate::rop::grade::{EyeGrade, flag_word};
use crate::store::Project;
use crate::store::exams::EyeRef;

#[derive(Debug, clap::Args)]
pub struct GradeArgs {
    pub dir: PathBuf,
    /// The eye: `INFANT/EXAM_DATE/OD|OS` (omit with --stdin).
    pub eye: Option<String>,
    /// FIELD=VALUE pairs: zone (I, posterior-II, II, III), notch (yes/no),
    /// stage (none, 1, 2, 3, 4A, 4B, 5A, 5B, 5C), extent (clock hours,
    /// e.g. 1,2,3), plus (none, pre-plus, plus), arop (yes/no), ungradable
    /// (a reason), after_treatment (regression, reactivation,
    /// persistent-avascular-retina).
    pub assignments: Vec<String>,
    /// Who grades (required unless --adjudicate; on a team project the
    /// login, the default).
    #[arg(long, conflicts_with = "adjudicate")]
    pub annotator: Option<String>,
    /// Record the adjudicated grade: the eye's consensus from then on,
    /// whatever the graders said (exported as annotator `adjudicated`).
    #[arg(long)]
    pub adjudicate: bool,
    /// Read `EYE FIELD=VALUE…` lines; print `ok EYE` once each is durable on disk.
    #[arg(long)]
    pub stdin: bool,
}

/// The grade `assignments` describe, every other field at its default.
fn grade_of(assignments: &[&str]) -> anyhow::Result<EyeGrade> {
    let mut grade = EyeGrade::default();
    for assignment in assignments {
        let (field, value) = assignment
            .split_once('=')
            .with_context(|| format!("{assignment:?} is not FIELD=VALUE"))?;
        grade.set(field, value).map_err(anyhow::Error::msg)?;
    }
    Ok(grade)
}

fn apply(
    project: &mut Project,
    eye: &str,
    assignments: &[&str],
    annotator: Option<&str>,
) -> anyhow::Result<EyeGrade> {
    let eye = EyeRef::parse(eye).map_err(anyhow::Error::msg)?;
    let grade = grade_of(assignments)?;
    match annotator {
        Some(annotator) => project.grade_eye(&eye, annotator, &grade)?,
        None => project.adjudicate_eye(&eye, &grade)?,
    }
    Ok(grade)
}

/// `type 1 yes, type 2 no, referral-warranted yes`.
fn flags(grade: &EyeGrade) -> String {
    format!(
        "type 1 {}, type 2 {}, referral-warranted {}",
        flag_word(grade.type1()),
        flag_word(grade.type2()),
        flag_word(grade.referral_warranted())
    )
}

pub fn grade(args: &GradeArgs) -> anyhow::Result<()> {
    // `None`: the adjudicator (clap keeps --annotator and --adjudicate
    // apart; on a team project the login grades when neither is given).
    let mut project = Project::open(&args.dir)?;
    let annotator = match (args.annotator.as_deref(), args.adjudicate) {
        (_, true) => None,
        (given, false) => Some(project.annotator(given).map_err(|e| match given {
            None if project.user().is_none() => {
                anyhow::anyhow!("say who grades: --annotator NAME (or --adjudicate)")
            }
            _ => e.into(),
        })?),
    };
    let annotator = annotator.as_deref();
    if !args.stdin {
        let eye = args
            .eye
            .as_deref()
            .context("give INFANT/EXAM_DATE/OD|OS FIELD=VALUE… or --stdin")?;
        let assignments: Vec<&str> = args.assignments.iter().map(String::as_str).collect();
        let grade = apply(&mut project, eye, &assignments, annotator)?;
        println!("graded {eye}: {}", flags(&grade));
        return Ok(());
    }
    super::project::each_stdin_line(|eye, assignments| {
        apply(&mut project, eye, assignments, annotator).map(drop)
    })
}

/// `loupe zones DIR ITEM --disc X,Y --fovea X,Y [--disc-diameter PX]
/// --annotator NAME` (or `--clear`): one grader's optic disc and foveal
/// centres on a posterior-pole photograph, in image pixels (x right, y
/// down), as the window's zone overlay places them.
#[derive(Debug, clap::Args)]
pub struct ZonesArgs {
    pub dir: PathBuf,
    /// Item id or path.
    pub item: String,
    /// The optic disc's centre, `X,Y` in image pixels.
    #[arg(long, required_unless_present = "clear")]
    pub disc: Option<String>,
    /// The fovea's centre, `X,Y` in image pixels.
    #[arg(long, required_unless_present = "clear")]
    pub fovea: Option<String>,
    /// The optic disc's diameter in pixels (draws posterior zone II).
    #[arg(long)]
    pub disc_diameter: Option<f64>,
    /// Forget this grader's marks on the image.
    #[arg(long, conflicts_with_all = ["disc", "fovea", "disc_diameter"])]
    pub clear: bool,
    /// Who marks (on a team project: the database user, the default).
    #[arg(long)]
    pub annotator: Option<String>,
}

fn point(option: &str, text: &str) -> anyhow::Result<crate::rop::zones::Point> {
    let parsed = text
        .split_once(',')
        .and_then(|(x, y)| Some((x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?)))
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (x, y) = parsed.with_context(|| format!("{option} {text:?} is not X,Y in pixels"))?;
    Ok(crate::rop::zones::Point { x, y })
}

pub fn zones(args: &ZonesArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let annotator = project.annotator(args.annotator.as_deref())?;
    let item = project.find_item(&args.item)?;
    let marks = match (&args.disc, &args.fovea) {
        (Some(disc), Some(fovea)) if !args.clear => Some(crate::rop::zones::ZoneMarks {
            disc_centre: point("--disc", disc)?,
            fovea_centre: point("--fovea", fovea)?,
            disc_diameter_px: args.disc_diameter,
        }),
        _ => None,
    };
    project.set_zone_marks(item.id, &annotator, marks.as_ref())?;
    match marks.map(|m| m.circles()) {
        Some(Ok(c)) => println!(
            "{}: zone I radius {:.1} px{}",
            item.path,
            c.zone1_radius_px,
            c.posterior_zone2_radius_px
                .map_or(String::new(), |r| format!(
                    ", posterior zone II radius {r:.1} px"
                ))
        ),
        _ => println!("{}: zone marks cleared", item.path),
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    pub dir: PathBuf,
    /// The infant's id, as in the exams CSV.
    #[arg(long)]
    pub infant: String,
    /// The HTML file to write (refused if it exists, unless --replace).
    #[arg(long, value_name = "FILE.html")]
    pub out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    pub replace: bool,
}

/// `loupe report`: one infant's screening report as a self-contained HTML file.
pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let html = crate::app::report::infant_report(&args.dir, &args.infant)?;
    crate::app::report::write_report(&args.out, &html, args.replace)?;
    println!("wrote {} ({} KiB)", args.out.display(), html.len() / 1024);
    Ok(())
}
