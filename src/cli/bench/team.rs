//! `loupe bench team`: several graders labeling one project at once — labels
//! per second, commit latency (median, p99), the time for a label to reach
//! another client, and how long *Next* takes to claim an item while every
//! client works through the queue — on PostgreSQL (`--postgres URL` of an
//! empty database, as its admin) next to the same load on a SQLite folder.

use std::path::Path;
use std::time::{Duration, Instant};

use super::common::{percentile, within};
use crate::store::postgres::{ChangeListener, Role};
use crate::store::{AddOutcome, Pool, Project, Schema};

#[derive(Debug, clap::Args)]
pub struct TeamArgs {
    /// Clients labeling at once (each its own connection and login).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Labels in all, shared out between the clients.
    #[arg(long, default_value_t = 2000)]
    pub labels: usize,
    /// An empty database, as its admin (`scripts/postgres-setup.sh` makes
    /// one); without it only SQLite is measured.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Items the clients then work through with *Next* (claim, label), one
    /// item each per claim, labels per item 1.
    #[arg(long, default_value_t = 2000)]
    pub claims: usize,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// What one engine did under the load.
struct Figures {
    engine: &'static str,
    labels_per_second: f64,
    commit_median: Duration,
    commit_p99: Duration,
    /// From commit to another client's knowing (LISTEN/NOTIFY on PostgreSQL;
    /// polling the file every 50 ms, as a window would, on SQLite).
    appear_median: Duration,
    appear_p99: Duration,
    claim_median: Duration,
    claim_p99: Duration,
}

const ITEMS: usize = 200;
const APPEAR_SAMPLES: usize = 40;
const STAGES: [&str; 4] = ["Normal", "Stage 1", "Stage 2", "Stage 3"];

pub fn run(args: &TeamArgs) -> anyhow::Result<()> {
    let clients = within("--clients", args.clients, 1..=64)?;
    let labels = within("--labels", args.labels, 1..=1_000_000)?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("loupe-bench-team-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(scratch.path());
    let mut rows = Vec::new();

    // SQLite: one folder, every client its own connection to the file.
    let folder = scratch.path().join("folder");
    let mut admin = Project::create(&folder, &Schema::rop())?;
    let ids = add_items(&mut admin, &scratch.path().join("images"), ITEMS)?;
    let names: Vec<String> = (0..clients).map(|c| format!("grader{c}")).collect();
    let open_folder = |_: &str| Project::open(&folder).map_err(anyhow::Error::from);
    let (rate, commits) = load(&open_folder, &names, &ids, labels)?;
    let appear = appear_by_polling(&folder, &ids)?;
    let queue = add_items(&mut admin, &scratch.path().join("queue"), args.claims)?;
    let claims = claim_through(&mut admin, &open_folder, &names, &queue)?;
    rows.push(figures("SQLite (one file)", rate, commits, appear, claims));

    if let Some(url) = &args.postgres {
        let images = scratch.path().join("share");
        let mut admin =
            crate::store::postgres::init(url, &Schema::rop(), &images, &images.join(".loupe"))?;
        let ids = add_items(&mut admin, &images, ITEMS)?;
        let suffix = std::process::id();
        let names: Vec<String> = (0..clients).map(|c| format!("bench{suffix}_{c}")).collect();
        for name in &names {
            admin.create_user(name, Role::Annotator, "bench")?;
        }
        let locator = crate::store::postgres::Locator::parse(url)?;
        let url_of = |name: &str| {
            let mut l = locator.clone();
            l.user = Some(name.to_string());
            l.password = Some("bench".into());
            url_for(&l)
        };
        let open =
            |name: &str| Project::open(Path::new(&url_of(name))).map_err(anyhow::Error::from);
        let (rate, commits) = load(&open, &names, &ids, labels)?;
        let appear = appear_by_notification(url, &url_of(&names[0]), &ids)?;
        let queue = add_items(&mut admin, &images.join("queue"), args.claims)?;
        let claims = claim_through(&mut admin, &open, &names, &queue)?;
        rows.push(figures(
            "PostgreSQL (LISTEN/NOTIFY)",
            rate,
            commits,
            appear,
            claims,
        ));
    }
    report(&rows, clients, labels, args.json);
    Ok(())
}

/// The bench's scratch folder, removed when done.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A URL naming everything the locator holds (the bench's own logins).
fn url_for(l: &crate::store::postgres::Locator) -> String {
    let credentials = match (&l.user, &l.password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (Some(u), None) => format!("{u}@"),
        _ => String::new(),
    };
    let (host, query) = if l.host.starts_with('/') {
        (
            "localhost".to_string(),
            format!("?host={}&port={}", l.host, l.port),
        )
    } else {
        (format!("{}:{}", l.host, l.port), String::new())
    };
    format!("postgres://{credentials}{host}/{}{query}", l.database)
}

fn add_items(project: &mut Project, folder: &Path, count: usize) -> anyhow::Result<Vec<i64>> {
    std::fs::create_dir_all(folder)?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let path = folder.join(format!("i{i:04}.png"));
        std::fs::write(&path, format!("bench image {} {i}", folder.display()))?;
        let (AddOutcome::Added(id) | AddOutcome::Duplicate(id)) =
            project.add_item(&path, Pool::Unlabeled)?;
        ids.push(id);
    }
    Ok(ids)
}

/// All clients at once, each committing its share one label at a time.
/// Returns labels per second and every commit's latency.
fn load(
    open: &(dyn Fn(&str) -> anyhow::Result<Project> + Sync),
    names: &[String],
    ids: &[i64],
    labels: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let per_client = labels.div_ceil(names.len());
    let (latencies, seconds) = each_client(open, names, &|c, project, name| {
        let mut own = Vec::with_capacity(per_client);
        for k in 0..per_client {
            let id = ids[(k * 7 + c) % ids.len()];
            let at = Instant::now();
            project.set_label(id, name, "stage", Some(STAGES[(k + c) % 4]))?;
            own.push(at.elapsed());
        }
        Ok(own)
    })?;
    Ok((latencies.len() as f64 / seconds, latencies))
}

/// Every client presses *Next* and labels what it is handed, all at once,
/// until `queue` is done (labels per item 1); returns each claim's latency.
fn claim_through(
    admin: &mut Project,
    open: &(dyn Fn(&str) -> anyhow::Result<Project> + Sync),
    names: &[String],
    queue: &[i64],
) -> anyhow::Result<Vec<Duration>> {
    admin.set_queue_settings(crate::store::queue::QueueSettings {
        labels_per_item: Some(1),
        lease_seconds: crate::store::queue::DEFAULT_LEASE_SECONDS,
    })?;
    let (claims, _) = each_client(open, names, &|_, project, name| {
        let mut own = Vec::new();
        loop {
            let at = Instant::now();
            let Some((id, _)) = project.claim_next_item(name, queue)? else {
                return Ok(own);
            };
            own.push(at.elapsed());
            project.set_label(id, name, "stage", Some(STAGES[own.len() % 4]))?;
        }
    })?;
    Ok(claims)
}

/// Opens a connection per client (before the clock starts), runs `work`
/// (client index, its project, its name) on every client at once, and
/// gathers the durations each measured, with the seconds the work took.
fn each_client(
    open: &(dyn Fn(&str) -> anyhow::Result<Project> + Sync),
    names: &[String],
    work: &(dyn Fn(usize, &mut Project, &str) -> anyhow::Result<Vec<Duration>> + Sync),
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let mut projects = names
        .iter()
        .map(|n| open(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let all = std::thread::scope(|scope| {
        let handles: Vec<_> = projects
            .iter_mut()
            .zip(names)
            .enumerate()
            .map(|(c, (project, name))| scope.spawn(move || work(c, project, name)))
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            all.extend(
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a client panicked"))??,
            );
        }
        anyhow::Ok(all)
    })?;
    Ok((all, started.elapsed().as_secs_f64()))
}

/// SQLite has no notifications: a second connection polls the newest
/// annotation id every 50 ms, as a window could.
fn appear_by_polling(folder: &Path, ids: &[i64]) -> anyhow::Result<Vec<Duration>> {
    let mut writer = Project::open(folder)?;
    let reader = Project::open(folder)?;
    let newest = |p: &Project| p.history(ids[0]).map(|h| h.len());
    let mut out = Vec::with_capacity(APPEAR_SAMPLES);
    for k in 0..APPEAR_SAMPLES {
        let before = newest(&reader)?;
        let at = Instant::now();
        writer.set_label(ids[0], "writer", "stage", Some(STAGES[k % 4]))?;
        while newest(&reader)? == before {
            std::thread::sleep(Duration::from_millis(50));
        }
        out.push(at.elapsed());
    }
    Ok(out)
}

/// PostgreSQL: a listener (as the window runs one) on the admin's URL; a
/// grader writes, the time until the listener knows is measured.
fn appear_by_notification(
    admin_url: &str,
    writer_url: &str,
    ids: &[i64],
) -> anyhow::Result<Vec<Duration>> {
    let listener = ChangeListener::start(admin_url, None)?;
    let mut writer = Project::open(Path::new(writer_url))?;
    let name = writer.annotator(None)?;
    std::thread::sleep(Duration::from_millis(300));
    listener.take_changed();
    let mut out = Vec::with_capacity(APPEAR_SAMPLES);
    for k in 0..APPEAR_SAMPLES {
        let at = Instant::now();
        writer.set_label(ids[0], &name, "stage", Some(STAGES[k % 4]))?;
        while !listener.take_changed() {
            if at.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("a label did not reach the listener within 10 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        out.push(at.elapsed());
    }
    Ok(out)
}

fn figures(
    engine: &'static str,
    rate: f64,
    mut commits: Vec<Duration>,
    mut appear: Vec<Duration>,
    mut claims: Vec<Duration>,
) -> Figures {
    commits.sort();
    appear.sort();
    claims.sort();
    Figures {
        engine,
        labels_per_second: rate,
        commit_median: percentile(&commits, 0.5),
        commit_p99: percentile(&commits, 0.99),
        appear_median: percentile(&appear, 0.5),
        appear_p99: percentile(&appear, 0.99),
        claim_median: percentile(&claims, 0.5),
        claim_p99: percentile(&claims, 0.99),
    }
}

fn report(rows: &[Figures], clients: usize, labels: usize, json: bool) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|f| {
                serde_json::json!({
                    "engine": f.engine,
                    "clients": clients,
                    "labels": labels,
                    "labels_per_second": f.labels_per_second,
                    "commit_ms_median": ms(f.commit_median),
                    "commit_ms_p99": ms(f.commit_p99),
                    "appear_ms_median": ms(f.appear_median),
                    "appear_ms_p99": ms(f.appear_p99),
                    "claim_ms_median": ms(f.claim_median),
                    "claim_ms_p99": ms(f.claim_p99),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    println!("{clients} clients, {labels} labels in all, one machine");
    println!(
        "| engine | labels/s | commit median | commit p99 | appears elsewhere, median | p99 | Next (claim) median | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for f in rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.1} ms | {:.1} ms | {:.2} ms | {:.2} ms |",
            f.engine,
            f.labels_per_second,
            ms(f.commit_median),
            ms(f.commit_p99),
            ms(f.appear_median),
            ms(f.appear_p99),
            ms(f.claim_median),
            ms(f.claim_p99)
        );
    }
}
