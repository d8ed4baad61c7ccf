//! Team work from the command line: `loupe next` claims the next item (or
//! eye) with a lease, `loupe review` lists the review queue and records
//! verdicts, `loupe checkout` takes claimed work offline and `loupe sync`
//! brings it back; `loupe project settings` sets labels per item and the
//! lease time.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::store::Project;
use crate::store::queue::{QueueSettings, Verdict};

#[derive(Debug, clap::Args)]
pub struct NextArgs {
    /// The project (a folder or a `postgres://` URL).
    pub dir: PathBuf,
    /// Who works (on a team project: the login, the default).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Claim the next eye at an exam to grade (ROP screening projects).
    #[arg(long)]
    pub eye: bool,
    /// The most uncertain item (by the newest predictions' entropy) first.
    #[arg(long, conflicts_with = "eye")]
    pub most_uncertain: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    pub dir: PathBuf,
    /// The item (id or path) or eye (`INFANT/EXAM_DATE/OD|OS`) to give a
    /// verdict on (without it: list the queue).
    pub item: Option<String>,
    /// Accept this annotator's label (it becomes the adjudicated one where they disagree).
    #[arg(
        long,
        value_name = "ANNOTATOR",
        requires = "item",
        conflicts_with = "reject"
    )]
    pub accept: Option<String>,
    /// Reject this annotator's label (with --reason); the item returns to their queue.
    #[arg(long, value_name = "ANNOTATOR", requires_all = ["item", "reason"])]
    pub reject: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
    /// Who reviews (on a team project: the login, the default).
    #[arg(long)]
    pub reviewer: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckoutArgs {
    /// The project to take work from.
    pub dir: PathBuf,
    /// The offline copy: a new or empty folder.
    #[arg(long)]
    pub to: PathBuf,
    /// How many items to claim (1–10000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub items: u32,
    /// How long they stay claimed (1–12).
    #[arg(long, default_value_t = crate::store::offline::DEFAULT_OFFLINE_HOURS,
          value_parser = clap::value_parser!(u32).range(1..=12))]
    pub hours: u32,
    #[arg(long)]
    pub annotator: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The offline copy.
    pub dir: PathBuf,
}

pub fn next(args: &NextArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let annotator = project.annotator(args.annotator.as_deref())?;
    if args.eye {
        let order = project.eyes_in_order()?;
        if order.is_empty() {
            bail!("{} has no exams with photographs", args.dir.display());
        }
        let claim = project.claim_next_eye(&annotator, &order)?;
        return print_claim(args, claim.map(|(eye, c)| (eye.to_string(), None, c)));
    }
    let items = project.items()?;
    let mut order = crate::store::queue::queue_order(&items);
    if args.most_uncertain {
        let predictions = project.predictions()?;
        order.retain(|id| predictions.contains_key(id));
        if order.is_empty() {
            bail!("no item has a model prediction yet: train a run and predict first");
        }
        order.sort_by(|a, b| predictions[b].entropy.total_cmp(&predictions[a].entropy));
    }
    let claim = project.claim_next_item(&annotator, &order)?;
    let claim = claim.map(|(id, c)| {
        let path = items.iter().find(|i| i.id == id).map(|i| i.path.clone());
        (id.to_string(), path, c)
    });
    print_claim(args, claim)
}

fn print_claim(
    args: &NextArgs,
    claim: Option<(String, Option<String>, crate::store::queue::Claim)>,
) -> anyhow::Result<()> {
    let Some((name, path, claim)) = claim else {
        if args.json {
            println!("{}", serde_json::json!({ "unit": null }));
        } else {
            println!("nothing left");
        }
        return Ok(());
    };
    if args.json {
        let doc = serde_json::json!({
            "unit": name,
            "path": path,
            "expires_ms": claim.expires_ms,
            "returned": claim.returned,
        });
        println!("{doc}");
        return Ok(());
    }
    let mut line = name;
    if let Some(path) = path {
        line += &format!(" {path}");
    }
    if let Some(reason) = claim.returned {
        line += &format!(" (returned by a reviewer: {reason})");
    }
    println!("{line}");
    Ok(())
}

pub fn review(args: &ReviewArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let Some(item) = args.item.as_deref() else {
        let queue = project.review_queue()?;
        let eyes = project.eye_review_queue()?;
        if args.json {
            let eyes: Vec<serde_json::Value> = eyes
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "eye": e.eye.to_string(),
                        "disputed": e.disputed,
                        "waiting": e.waiting,
                        "since": e.since,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"items": queue, "eyes": eyes}))?
            );
            return Ok(());
        }
        if queue.is_empty() && eyes.is_empty() {
            println!("nothing to review");
        }
        for entry in &eyes {
            println!(
                "{} since {}: graders disagree on {}; waiting: {}",
                entry.eye,
                entry.since,
                entry.disputed.join(", "),
                entry.waiting.join(", ")
            );
        }
        for entry in queue {
            let mut why = Vec::new();
            if !entry.disagreements.is_empty() {
                why.push(format!("disagree on {}", entry.disagreements.join(", ")));
            }
            for (who, note) in &entry.flagged {
                why.push(format!(
                    "flagged by {who}{}",
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(": {note}")
                    }
                ));
            }
            println!(
                "{} since {}: {}; waiting: {}",
                entry.item_id,
                entry.since,
                why.join("; "),
                entry.waiting.join(", ")
            );
        }
        return Ok(());
    };
    if args.reviewer.is_none() && project.user().is_none() {
        bail!("say who reviews: --reviewer NAME");
    }
    let reviewer = project.annotator(args.reviewer.as_deref())?;
    let (annotator, verdict) = match (&args.accept, &args.reject) {
        (Some(a), None) => (a, Verdict::Accept),
        (None, Some(a)) => (a, Verdict::Reject),
        _ => bail!("give --accept ANNOTATOR or --reject ANNOTATOR --reason TEXT"),
    };
    let reason = args.reason.as_deref().unwrap_or("");
    let done = if verdict == Verdict::Accept {
        "accepted"
    } else {
        "rejected"
    };
    // An eye is named INFANT/DATE/OD|OS; anything else is an item.
    if let Ok(eye) = crate::store::exams::EyeRef::parse(item)
        && project.exam_images()?.values().any(|(e, _, _)| *e == eye)
    {
        project.review_eye(&eye, annotator, &reviewer, verdict, reason)?;
        println!("{done} {annotator}'s grade of {eye}");
        return Ok(());
    }
    let item = project.find_item(item)?;
    project.review_label(item.id, annotator, &reviewer, verdict, reason)?;
    println!("{done} {annotator}'s label of item {}", item.id);
    Ok(())
}

pub fn checkout(args: &CheckoutArgs) -> anyhow::Result<()> {
    let mut project = Project::open(&args.dir)?;
    let report = crate::store::offline::checkout(
        &mut project,
        args.annotator.as_deref(),
        &args.to,
        args.items as usize,
        args.hours,
    )?;
    println!(
        "took {} items offline into {} (claimed for {} h); label them there, then: loupe sync {}",
        report.items,
        report.folder.display(),
        args.hours,
        report.folder.display()
    );
    Ok(())
}

/// What a sync pushed besides labels and remarks: ` (and …)`, or nothing.
fn synced_besides_labels(report: &crate::store::offline::SyncReport) -> String {
    let parts: Vec<String> = [
        (report.grades, "eye grades or zone marks"),
        (report.maps, "label maps"),
        (report.case_edits, "record edits or slice picks"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, what)| format!("{count} {what}"))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (and {})", parts.join(", "))
    }
}

pub fn sync(args: &SyncArgs) -> anyhow::Result<()> {
    let (copy, report) = crate::store::offline::sync_folder(&args.dir)?;
    println!(
        "synced {} labels and {} remarks{} to {}{}",
        report.labels,
        report.remarks,
        synced_besides_labels(&report),
        crate::store::postgres::redact(&copy.of),
        if report.already > 0 {
            format!(" ({} were there already)", report.already)
        } else {
            String::new()
        }
    );
    if report.older > 0 {
        println!(
            "{} of them older than your later label of the same item there: kept in the \
             history, your later label stays current",
            report.older
        );
    }
    Ok(())
}

/// `loupe project settings DIR [--labels-per-item N|all] [--lease-seconds S]`.
pub fn settings(
    dir: &Path,
    labels_per_item: Option<&str>,
    lease_seconds: Option<u32>,
) -> anyhow::Result<()> {
    let mut project = Project::open(dir)?;
    let mut settings = project.queue_settings()?;
    if labels_per_item.is_some() || lease_seconds.is_some() {
        if let Some(text) = labels_per_item {
            settings.labels_per_item =
                match text {
                    "all" => None,
                    n => Some(n.parse().with_context(|| {
                        format!("--labels-per-item: {n:?} is not a number or all")
                    })?),
                };
        }
        if let Some(seconds) = lease_seconds {
            settings.lease_seconds = seconds;
        }
        project.set_queue_settings(settings)?;
    }
    let QueueSettings {
        labels_per_item,
        lease_seconds,
    } = project.queue_settings()?;
    println!(
        "labels per item: {}; lease: {lease_seconds} s",
        labels_per_item.map_or("all".into(), |n| n.to_string()),
    );
    Ok(())
}
