//! A team shares work through queues: `next` claims an item with a lease so
//! two annotators are not handed the same one (on a folder and on a real
//! PostgreSQL server), a lease runs out, labels per item sends an item to N
//! people, reviewers accept or reject labels (a rejection returns the item
//! to its annotator), and work taken offline on two workstations syncs back
//! once — also when the server dies during a sync.

mod common;
#[path = "common/postgres_server.rs"]
#[allow(dead_code)]
mod postgres_server;

use std::collections::BTreeSet;
use std::path::Path;

use common::{loupe, run_ok, stderr, stdout, write_png};
use egui_kittest::kittest::Queryable;
use loupe::store::postgres::Role;
use loupe::store::queue::{QueueSettings, Verdict};
use loupe::store::{ADJUDICATOR, Pool, Project, Remark, Schema};
use postgres_server::PostgresServer;

/// A team project on `server` (database `queue`, admin `lead`) with
/// `items` items, annotators `ana`, `ben`, `carl` and reviewer `rita`
/// (password: the name + `-pw`); returns the share (kept alive) and the item ids.
fn team_project(server: &PostgresServer, items: usize) -> (tempfile::TempDir, Vec<i64>) {
    let url = server.database_for("queue", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    let mut admin = loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    for (name, role) in [
        ("ana", Role::Annotator),
        ("ben", Role::Annotator),
        ("carl", Role::Annotator),
        ("rita", Role::Reviewer),
    ] {
        admin
            .create_user(name, role, &format!("{name}-pw"))
            .unwrap();
    }
    drop(admin);
    // Real files for the few items a test opens; rows alone for the many
    // a claim test hands out (added as an import would, in one statement).
    let few = items.min(8);
    let mut admin = Project::open(Path::new(&url)).unwrap();
    for i in 0..few {
        let path = share.path().join(format!("eye{i}.png"));
        write_png(&path, 20 + i as u8 * 20);
        admin.add_item(&path, Pool::Unlabeled).unwrap();
    }
    if items > few {
        server.psql(
            "queue",
            &format!(
                "INSERT INTO items (path, content_hash, pool) SELECT 'bulk' || g || '.png', \
                 md5(g::text), 'unlabeled' FROM generate_series({few}, {}) g",
                items - 1
            ),
        );
    }
    let ids = admin.items().unwrap().iter().map(|i| i.id).collect();
    (share, ids)
}

fn url(server: &PostgresServer, user: &str) -> String {
    server.url(user, &format!("{user}-pw"), "queue")
}

fn open(server: &PostgresServer, user: &str) -> Project {
    Project::open(Path::new(&url(server, user))).unwrap()
}

/// Two annotators press *Next* and label what they are handed, at once,
/// until nothing is left; returns what each was handed.
/// `pause` after each label, as a person takes a moment: SQLite's write
/// lock is not fair, and on a loaded machine one tight loop could take it
/// 300 times in a row (seen once: 0 and 300 items) — which tests the lock,
/// not the queue.
fn claim_everything_at_once(
    open_as: &(dyn Fn(&str) -> Project + Sync),
    ids: &[i64],
    pause: std::time::Duration,
) -> Vec<Vec<i64>> {
    // Both open their project first and start pressing together: opening
    // takes long enough that one could otherwise label everything alone.
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let start = &start;
        let handles: Vec<_> = ["ana", "ben"]
            .into_iter()
            .map(|who| {
                scope.spawn(move || {
                    let mut project = open_as(who);
                    start.wait();
                    let mut handed: Vec<i64> = Vec::new();
                    // As the window asks: the list from after the item just done.
                    let order_after = |last: Option<&i64>| -> Vec<i64> {
                        let start = last
                            .and_then(|l| ids.iter().position(|i| i == l))
                            .map_or(0, |p| p + 1);
                        ids[start..].iter().chain(&ids[..start]).copied().collect()
                    };
                    while let Some((id, _)) = project
                        .claim_next_item(who, &order_after(handed.last()))
                        .unwrap()
                    {
                        handed.push(id);
                        project
                            .set_label(id, who, "stage", Some("Stage 1"))
                            .unwrap();
                        std::thread::sleep(pause);
                    }
                    handed
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_each_item_once(handed: &[Vec<i64>], ids: &[i64]) {
    let all: Vec<i64> = handed.iter().flatten().copied().collect();
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), ids.len(), "an item was handed out twice");
    assert_eq!(distinct, ids.iter().copied().collect::<BTreeSet<_>>());
    // Both were handed work: the claims really ran side by side.
    assert!(
        handed.iter().all(|h| !h.is_empty()),
        "{:?}",
        handed.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn two_clients_pressing_next_at_once_are_never_handed_the_same_item() {
    // On PostgreSQL: 10 000 claims by two logins on their own connections.
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 10_000);
    let started = std::time::Instant::now();
    let handed =
        claim_everything_at_once(&|who| open(&server, who), &ids, std::time::Duration::ZERO);
    eprintln!("10 000 claims and labels: {:?}", started.elapsed());
    assert_each_item_once(&handed, &ids);
    // On a folder (labels per item set to 1): the same rule.
    let dir = tempfile::tempdir().unwrap();
    let mut project = Project::create(dir.path(), &Schema::rop()).unwrap();
    let mut ids = Vec::new();
    for i in 0..300u32 {
        let path = dir.path().join(format!("i{i}.png"));
        std::fs::write(&path, format!("image {i}")).unwrap();
        if let loupe::store::AddOutcome::Added(id) =
            project.add_item(&path, Pool::Unlabeled).unwrap()
        {
            ids.push(id);
        }
    }
    project
        .set_queue_settings(QueueSettings {
            labels_per_item: Some(1),
            lease_seconds: 600,
        })
        .unwrap();
    let handed = claim_everything_at_once(
        &|_| Project::open(dir.path()).unwrap(),
        &ids,
        std::time::Duration::from_millis(1),
    );
    assert_each_item_once(&handed, &ids);
}

#[test]
fn a_lease_runs_out_and_labels_per_item_sends_an_item_to_several() {
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 4);
    let first = |user: &str| -> String {
        let line = run_ok(&["next", &url(&server, user)]);
        line.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // Only the admin sets the queue; an annotator is refused by the server.
    let out = loupe(&[
        "project",
        "settings",
        &url(&server, "ana"),
        "--lease-seconds",
        "2",
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let shown = run_ok(&[
        "project",
        "settings",
        &url(&server, "lead"),
        "--lease-seconds",
        "2",
    ]);
    assert_eq!(shown.trim(), "labels per item: 1; lease: 2 s");
    // ana's client claims item 1 and goes away without labeling it.
    assert_eq!(first("ana"), ids[0].to_string());
    assert_eq!(first("ben"), ids[1].to_string());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // The lease ran out: carl is handed item 1; ana's own claim is renewed on asking.
    assert_eq!(first("carl"), ids[0].to_string());
    // Two labels per item: ana is handed carl's item too, carl moves on.
    run_ok(&[
        "project",
        "settings",
        &url(&server, "lead"),
        "--labels-per-item",
        "2",
        "--lease-seconds",
        "600",
    ]);
    assert_eq!(first("ana"), ids[0].to_string());
    assert_eq!(first("ben"), ids[1].to_string());
    assert_eq!(
        first("carl"),
        ids[0].to_string(),
        "carl still holds item 1: asking again renews it"
    );
    let mut carl = open(&server, "carl");
    carl.set_label(ids[0], "carl", "stage", Some("Stage 1"))
        .unwrap();
    // Item 1 is labeled by carl and held by ana: two, full. Item 2 has one holder.
    assert_eq!(first("carl"), ids[1].to_string());
    let json = run_ok(&["next", &url(&server, "rita"), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["unit"], ids[2].to_string(), "{json}");
    assert!(doc["expires_ms"].as_i64().unwrap() > 0);
    // Leases never refuse a label: ben labels item 1 though two hold it.
    let mut ben = open(&server, "ben");
    ben.set_label(ids[0], "ben", "stage", Some("Stage 2"))
        .unwrap();
    // A bad setting is refused with the rule.
    let out = loupe(&[
        "project",
        "settings",
        &url(&server, "lead"),
        "--labels-per-item",
        "0",
    ]);
    assert!(
        stderr(&out).contains("labels per item must be 1–100 or all"),
        "{}",
        stderr(&out)
    );
}

/// `loupe review` as `user`.
fn review(server: &PostgresServer, user: &str, args: &[&str]) -> std::process::Output {
    let url = url(server, user);
    let mut all = vec!["review", url.as_str()];
    all.extend_from_slice(args);
    loupe(&all)
}

#[test]
fn reviewers_accept_or_reject_and_a_rejected_label_returns_to_its_annotator() {
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 4);
    let (mut ana, mut ben) = (open(&server, "ana"), open(&server, "ben"));
    // Item 3 disagrees first, then item 1; item 2 is flagged unsure by ana.
    ana.set_label(ids[2], "ana", "stage", Some("Stage 3"))
        .unwrap();
    ben.set_label(ids[2], "ben", "stage", Some("Stage 4"))
        .unwrap();
    ana.set_label(ids[0], "ana", "stage", Some("Stage 1"))
        .unwrap();
    ben.set_label(ids[0], "ben", "stage", Some("Stage 2"))
        .unwrap();
    ana.set_label(ids[1], "ana", "stage", Some("Stage 1"))
        .unwrap();
    ana.set_remark(
        ids[1],
        "ana",
        &Remark {
            unsure: true,
            note: "blurred".into(),
        },
    )
    .unwrap();
    ben.set_label(ids[3], "ben", "stage", Some("Normal"))
        .unwrap();
    let queue = ana.review_queue().unwrap();
    let order: Vec<i64> = queue.iter().map(|e| e.item_id).collect();
    assert_eq!(
        order,
        [ids[2], ids[0], ids[1]],
        "oldest first; item 4 needs no review"
    );
    assert_eq!(queue[0].disagreements, ["stage"]);
    assert_eq!(queue[0].waiting, ["ana", "ben"]);
    assert_eq!(
        queue[2].flagged,
        [("ana".to_string(), "blurred".to_string())]
    );
    let listed = stdout(&review(&server, "rita", &[]));
    assert!(
        listed
            .lines()
            .next()
            .unwrap()
            .starts_with(&format!("{} since ", ids[2])),
        "{listed}"
    );
    assert!(listed.contains("flagged by ana: blurred"), "{listed}");
    // An annotator may not give verdicts: the server refuses.
    let out = review(
        &server,
        "ana",
        &[&ids[0].to_string(), "--reject", "ben", "--reason", "no"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("permission") || stderr(&out).contains("policy"),
        "{}",
        stderr(&out)
    );
    // A rejection needs a reason.
    let out = loupe(&[
        "review",
        &url(&server, "rita"),
        &ids[0].to_string(),
        "--reject",
        "ana",
    ]);
    assert!(!out.status.success());
    // rita rejects ana's label of item 1: it returns to ana's queue, first, with the reason.
    let said = stdout(&review(
        &server,
        "rita",
        &[
            &ids[0].to_string(),
            "--reject",
            "ana",
            "--reason",
            "look at the ridge again",
        ],
    ));
    assert_eq!(
        said.trim(),
        format!("rejected ana's label of item {}", ids[0])
    );
    let next = run_ok(&["next", &url(&server, "ana")]);
    assert!(next.starts_with(&format!("{} ", ids[0])), "{next}");
    assert!(
        next.contains("returned by a reviewer: look at the ridge again"),
        "{next}"
    );
    // Still waiting for ben's verdict; ana relabels, agreeing: nothing to review there.
    ana.set_label(ids[0], "ana", "stage", Some("Stage 2"))
        .unwrap();
    assert!(ana.returned_items("ana").unwrap().is_empty());
    let order: Vec<i64> = ana
        .review_queue()
        .unwrap()
        .iter()
        .map(|e| e.item_id)
        .collect();
    assert_eq!(order, [ids[2], ids[1]]);
    // rita accepts ben's label of item 3: it becomes the adjudicated label.
    let mut rita = open(&server, "rita");
    rita.review_label(ids[2], "ben", "rita", Verdict::Accept, "")
        .unwrap();
    assert_eq!(
        rita.consensus(ids[2], "stage").unwrap().as_deref(),
        Some("Stage 4")
    );
    assert_eq!(
        rita.current_labels(ids[2]).unwrap()[ADJUDICATOR]["stage"],
        "Stage 4"
    );
    // Accepting the flagged label empties the queue; verdicts are append-only rows.
    rita.review_label(ids[1], "ana", "rita", Verdict::Accept, "fine")
        .unwrap();
    assert!(rita.review_queue().unwrap().is_empty());
    assert_eq!(
        server.psql(
            "queue",
            "SELECT string_agg(verdict || ':' || annotator, ',' ORDER BY id) FROM reviews"
        ),
        "reject:ana,accept:ben,accept:ana"
    );
    // A rejection may not be forged under another reviewer's name.
    assert!(
        rita.review_label(ids[3], "ben", "lead", Verdict::Reject, "x")
            .is_err()
    );
}

/// An offline copy's labels, written as its annotator in the window would.
fn label_offline(copy: &Path, annotator: &str, labels: &[(i64, &str)]) {
    let mut project = Project::open(copy).unwrap();
    for (id, stage) in labels {
        project
            .set_label(*id, annotator, "stage", Some(stage))
            .unwrap();
    }
}

/// `loupe sync COPY` as `ana`… whose password comes from `PGPASSWORD`
/// (the copy keeps the URL without it).
fn sync_as(copy: &Path, password: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["sync", copy.to_str().unwrap()])
        .env("PGPASSWORD", password)
        .output()
        .unwrap()
}

fn synced_line(copy: &Path, password: &str) -> String {
    let out = sync_as(copy, password);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn offline_work_on_two_workstations_syncs_back_once() {
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 6);
    run_ok(&[
        "project",
        "settings",
        &url(&server, "lead"),
        "--labels-per-item",
        "2",
    ]);
    let mut ben = open(&server, "ben");
    ben.set_label(ids[0], "ben", "stage", Some("Stage 1"))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let (copy_ana, copy_carl) = (work.path().join("ana"), work.path().join("carl"));
    let said = run_ok(&[
        "checkout",
        &url(&server, "ana"),
        "--to",
        copy_ana.to_str().unwrap(),
        "--items",
        "6",
    ]);
    assert!(said.starts_with("took 6 items offline"), "{said}");
    run_ok(&[
        "checkout",
        &url(&server, "carl"),
        "--to",
        copy_carl.to_str().unwrap(),
        "--items",
        "6",
    ]);
    // The copy is a folder project with the items' files and labels as they were.
    let copy = Project::open(&copy_ana).unwrap();
    let copied: Vec<i64> = copy.items().unwrap().iter().map(|i| i.id).collect();
    // All six (labels per item 2; ben's item 1 comes last in the queue, still open).
    assert_eq!(copied, ids);
    assert!(
        copy.resolve(&copy.items().unwrap()[0])
            .starts_with(&copy_ana)
    );
    assert_eq!(
        copy.current_labels(ids[0]).unwrap()["ben"]["stage"],
        "Stage 1"
    );
    drop(copy);
    // Both work offline on the same items (two labels per item).
    label_offline(
        &copy_ana,
        "ana",
        &[
            (ids[0], "Stage 1"),
            (ids[1], "Stage 2"),
            (ids[1], "Stage 3"),
        ],
    );
    label_offline(
        &copy_carl,
        "carl",
        &[(ids[1], "Stage 4"), (ids[2], "Normal")],
    );
    let rows = |sql: &str| server.psql("queue", sql);
    assert_eq!(
        rows("SELECT count(*) FROM annotations"),
        "1",
        "nothing reaches the server before a sync"
    );
    assert_eq!(
        synced_line(&copy_ana, "ana-pw"),
        format!(
            "synced 3 labels and 0 remarks to {}",
            loupe::store::postgres::without_password(&url(&server, "ana"))
        )
    );
    assert_eq!(
        synced_line(&copy_carl, "carl-pw")
            .split(" to ")
            .next()
            .unwrap(),
        "synced 2 labels and 0 remarks"
    );
    // Both histories are there, consensus as on one machine.
    let lead = open(&server, "lead");
    let labels = lead.current_labels(ids[1]).unwrap();
    assert_eq!(
        (
            labels["ana"]["stage"].as_str(),
            labels["carl"]["stage"].as_str()
        ),
        ("Stage 3", "Stage 4")
    );
    assert_eq!(
        lead.consensus(ids[0], "stage").unwrap().as_deref(),
        Some("Stage 1")
    );
    assert_eq!(
        lead.consensus(ids[1], "stage").unwrap(),
        None,
        "a disagreement, as on one machine"
    );
    assert_eq!(lead.item(ids[2]).unwrap().pool, Pool::Labeled);
    assert_eq!(
        rows("SELECT count(*) FROM annotations WHERE annotator = 'ana'"),
        "3",
        "history kept whole"
    );
    // A second sync changes nothing.
    assert!(synced_line(&copy_ana, "ana-pw").starts_with("synced 0 labels"));
    // A sync whose answer was lost (the copy does not know it got through)
    // is done again: nothing is doubled.
    let conn = rusqlite::Connection::open(copy_ana.join("loupe.sqlite")).unwrap();
    conn.execute(
        "UPDATE meta SET value = '1' WHERE key = 'offline_labels_synced_to'",
        [],
    )
    .unwrap();
    drop(conn);
    let again = synced_line(&copy_ana, "ana-pw");
    assert!(
        again.contains("synced 0 labels") && again.contains("(3 were there already)"),
        "{again}"
    );
    assert_eq!(rows("SELECT count(*) FROM annotations"), "6");
    // Work by another name in the copy is refused, naming it; nothing goes.
    label_offline(&copy_ana, "mallory", &[(ids[2], "Stage 5")]);
    label_offline(&copy_ana, "ana", &[(ids[2], "Stage 5")]);
    let out = sync_as(&copy_ana, "ana-pw");
    assert!(
        stderr(&out).contains("\"mallory\"") && stderr(&out).contains("nothing was synced"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rows("SELECT count(*) FROM annotations"), "6");
}

#[test]
fn a_sync_the_server_dies_in_is_completed_by_the_next() {
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 3000);
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("ana");
    run_ok(&[
        "checkout",
        &url(&server, "ana"),
        "--to",
        copy.to_str().unwrap(),
        "--items",
        "8",
    ]);
    let mut local = Project::open(&copy).unwrap();
    let offline: Vec<i64> = local.items().unwrap().iter().map(|i| i.id).collect();
    assert_eq!(offline, &ids[..8]);
    // 8 items × 250 changes of mind: 2000 rows to sync.
    const STAGES: [&str; 4] = ["Normal", "Stage 1", "Stage 2", "Stage 3"];
    for round in 0..250 {
        for id in &offline {
            local
                .set_label(
                    *id,
                    "ana",
                    "stage",
                    Some(STAGES[(round + *id as usize) % 4]),
                )
                .unwrap();
        }
    }
    drop(local);
    let sync = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["sync", copy.to_str().unwrap()])
        .env("PGPASSWORD", "ana-pw")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    server.stop();
    let first = sync.wait_with_output().unwrap();
    server.start_again();
    let second = synced_line(&copy, "ana-pw");
    let rows: i64 = server
        .psql("queue", "SELECT count(*) FROM annotations")
        .parse()
        .unwrap();
    assert_eq!(
        rows,
        2000,
        "first: {} {} / second: {second}",
        stdout(&first),
        stderr(&first)
    );
    assert_eq!(server.psql("queue", "SELECT count(*) FROM synced"), "2000");
    let local = Project::open(&copy).unwrap();
    let server_labels = open(&server, "lead").all_current_labels().unwrap();
    for id in &offline {
        assert_eq!(
            server_labels[id]["ana"],
            local.current_labels(*id).unwrap()["ana"],
            "item {id}"
        );
    }
    assert!(synced_line(&copy, "ana-pw").starts_with("synced 0 labels"));
}

type Window = egui_kittest::Harness<'static, loupe::ui::LoupeApp>;

fn window(root: &Path) -> (Window, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (common::window_on(root, data.path().to_path_buf()), data)
}

fn selected(window: &Window) -> Option<i64> {
    window.state().state().session.as_ref().unwrap().selected
}

/// Steps the window until `done` holds (at most `seconds`).
fn step_until(window: &mut Window, seconds: u64, done: impl Fn(&Window) -> bool) {
    let started = std::time::Instant::now();
    while !done(window) {
        assert!(
            started.elapsed().as_secs() < seconds,
            "not within {seconds} s"
        );
        window.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_window_claims_reviews_and_syncs() {
    use loupe::app::LabelingCommand;
    let server = PostgresServer::start();
    let (_share, ids) = team_project(&server, 6);
    // Two windows open on the team project: each is handed its own item
    // (the first open item after the list's first, as a window has always opened).
    let (ana_window, _a) = window(Path::new(&url(&server, "ana")));
    assert_eq!(selected(&ana_window), Some(ids[1]));
    let (mut ben_window, _b) = window(Path::new(&url(&server, "ben")));
    assert_eq!(selected(&ben_window), Some(ids[2]));
    // Next in ben's window, from item 3 on, wrapping, then past ana's item 2.
    for expected in [ids[3], ids[4], ids[5], ids[0], ids[2]] {
        ben_window.state_mut().apply(LabelingCommand::NextUnlabeled);
        ben_window.run();
        assert_eq!(selected(&ben_window), Some(expected));
    }
    assert_eq!(
        server.psql(
            "queue",
            "SELECT unit FROM leases WHERE annotator = 'ana' AND expires_ms > 0"
        ),
        format!("item:{}", ids[1])
    );
    // ana and ben disagree on item 1; rita rejects ana's label in her window.
    open(&server, "ana")
        .set_label(ids[0], "ana", "stage", Some("Stage 1"))
        .unwrap();
    open(&server, "ben")
        .set_label(ids[0], "ben", "stage", Some("Stage 2"))
        .unwrap();
    let (mut rita_window, _r) = window(Path::new(&url(&server, "rita")));
    rita_window.get_by_label("Review").click();
    rita_window.run();
    rita_window
        .get_by_label_contains("disagree on stage")
        .click();
    rita_window.run();
    assert_eq!(selected(&rita_window), Some(ids[0]));
    rita_window
        .get_by_label("Reason (needed to reject)")
        .click();
    rita_window.run();
    rita_window
        .get_by_label("Reason (needed to reject)")
        .type_text("check the ridge");
    rita_window.run();
    rita_window
        .get_all_by_label("Reject")
        .next()
        .unwrap()
        .click();
    rita_window.run();
    assert!(
        rita_window.state().state().notice.is_none(),
        "{:?}",
        rita_window.state().state().notice
    );
    assert_eq!(
        server.psql(
            "queue",
            "SELECT verdict || ':' || annotator || ':' || reviewer || ':' || reason FROM reviews"
        ),
        "reject:ana:rita:check the ridge"
    );
    // An offline copy in the window: the status bar counts what waits, and Sync now pushes it.
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("carl");
    run_ok(&[
        "checkout",
        &url(&server, "carl"),
        "--to",
        copy.to_str().unwrap(),
        "--items",
        "1",
    ]);
    // SAFETY: set before the window's sync thread starts; nothing else reads it concurrently.
    unsafe { std::env::set_var("PGPASSWORD", "carl-pw") };
    let (mut carl_window, _c) = window(&copy);
    let carl_item = selected(&carl_window).unwrap();
    carl_window.state_mut().apply(LabelingCommand::SetLabel {
        field: "stage".into(),
        value: Some("Stage 3".into()),
    });
    carl_window.run();
    carl_window.get_by_label_contains("1 label wait to sync");
    carl_window.get_by_label("Sync now").click();
    step_until(&mut carl_window, 30, |w| {
        w.state()
            .state()
            .session
            .as_ref()
            .unwrap()
            .team
            .offline
            .as_ref()
            .unwrap()
            .labels_waiting
            == 0
    });
    carl_window.run();
    carl_window.get_by_label_contains("online: synced 1 labels");
    assert_eq!(
        open(&server, "lead").current_labels(carl_item).unwrap()["carl"]["stage"],
        "Stage 3"
    );
}

fn session(window: &Window) -> &loupe::app::ProjectSession {
    window.state().state().session.as_ref().unwrap()
}

/// The window on a folder project as `annotator` (settings in its own data folder).
fn folder_window(root: &Path, annotator: &str) -> (Window, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("settings.json"),
        format!("{{\"annotator\": \"{annotator}\", \"recent_projects\": []}}"),
    )
    .unwrap();
    (common::window_on(root, data.path().to_path_buf()), data)
}

#[test]
fn windows_on_a_shared_folder_claim_what_next_hands_out_once_labels_per_item_is_set() {
    use loupe::app::LabelingCommand;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rop");
    let r = root.to_str().unwrap();
    run_ok(&["project", "init", r, "--schema", "rop"]);
    for i in 0..4 {
        let path = work.path().join(format!("eye{i}.png"));
        write_png(&path, 30 + i * 30);
        run_ok(&["import", r, path.to_str().unwrap()]);
    }
    let ids: Vec<i64> = Project::open(&root)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    // By default (every grader labels every item) a folder window walks the
    // list and claims nothing: two graders open on the same item.
    let (ana, _a) = folder_window(&root, "ana");
    let (ben, _b) = folder_window(&root, "ben");
    assert_eq!(
        (selected(&ana), selected(&ben)),
        (Some(ids[1]), Some(ids[1]))
    );
    drop((ana, ben));
    let leases = || -> i64 {
        let db = rusqlite::Connection::open(root.join("loupe.sqlite")).unwrap();
        db.query_row(
            "SELECT count(*) FROM leases WHERE expires_ms > 0",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    assert_eq!(
        leases(),
        0,
        "a folder window without a queue claims nothing"
    );

    // One label per item: each window is handed an item of its own, and
    // Next goes on past what the other holds.
    run_ok(&["project", "settings", r, "--labels-per-item", "1"]);
    let (ana, _a) = folder_window(&root, "ana");
    let (mut ben, _b) = folder_window(&root, "ben");
    assert_eq!(selected(&ana), Some(ids[1]));
    assert_eq!(selected(&ben), Some(ids[2]));
    for expected in [ids[3], ids[0], ids[2]] {
        ben.state_mut().apply(LabelingCommand::NextUnlabeled);
        ben.run();
        assert_eq!(
            selected(&ben),
            Some(expected),
            "never ana's item {}",
            ids[1]
        );
    }
    assert_eq!(leases(), 2, "one lease each, ben's earlier ones let go");
    let out = run_ok(&["next", r, "--annotator", "carl"]);
    assert!(
        !out.starts_with(&format!("{} ", ids[1])) && !out.starts_with(&format!("{} ", ids[2])),
        "the command line's queue sees the windows' claims: {out}"
    );
}

#[test]
fn a_window_that_loses_its_server_works_offline_and_comes_back() {
    use loupe::app::LabelingCommand;
    let server = PostgresServer::start();
    let (_share, _ids) = team_project(&server, 4);
    let (mut ana, data) = window(Path::new(&url(&server, "ana")));
    let first = selected(&ana).unwrap();
    let label = |value: &str| LabelingCommand::SetLabel {
        field: "stage".into(),
        value: Some(value.into()),
    };

    // ana painted the item from the command line; the window hears of it.
    run_ok(&[
        "paint",
        &url(&server, "ana"),
        &first.to_string(),
        "--at",
        "2,2,0",
    ]);
    step_until(&mut ana, 10, |w| !session(w).team.standby_maps.is_empty());
    // The server goes away; the label given at that moment is not lost: the
    // window writes what it holds as a fallback copy and labels there.
    server.stop();
    ana.state_mut().apply(label("Stage 2"));
    ana.run();
    let copy = session(&ana)
        .team
        .offline
        .clone()
        .expect("working on a fallback copy");
    assert!(copy.fallback);
    assert_eq!(copy.labels_waiting, 1);
    assert!(session(&ana).project.root().starts_with(data.path()));
    assert_eq!(session(&ana).rows.len(), 4, "every item the window held");
    assert_eq!(
        session(&ana).project.label_maps(first).unwrap().len(),
        1,
        "ana's map came along from the share"
    );
    assert_eq!(
        session(&ana).row(first).unwrap().labels["ana"]["stage"],
        "Stage 2",
        "the label went to the item shown when the server went away"
    );
    ana.get_by_label_contains("1 label wait to sync");
    ana.get_by_label_contains("The server stopped answering");
    // Work goes on: the label moved the window to the next item, labeled
    // offline too.
    let second = selected(&ana).unwrap();
    assert_ne!(second, first);
    ana.state_mut().apply(label("Stage 1"));
    ana.run();
    ana.get_by_label_contains("2 labels wait to sync");
    let shown = selected(&ana);

    // The server is back: the copy syncs by itself and the window returns
    // to the team project, on the same item, with both labels there once.
    server.start_again();
    step_until(&mut ana, 40, |w| session(w).is_shared());
    ana.run();
    assert_eq!(selected(&ana), shown, "back on the item shown offline");
    ana.get_by_label_contains("Back online: 2 labels synced");
    ana.get_by_label_contains("online as ana");
    let lead = open(&server, "lead");
    assert_eq!(
        lead.current_labels(first).unwrap()["ana"]["stage"],
        "Stage 2"
    );
    assert_eq!(
        lead.current_labels(second).unwrap()["ana"]["stage"],
        "Stage 1"
    );
    assert_eq!(
        server.psql(
            "queue",
            "SELECT count(*) FROM annotations WHERE annotator = 'ana'"
        ),
        "2"
    );

    // Silent without anything written: the window falls back by itself.
    server.stop();
    step_until(&mut ana, 20, |w| session(w).team.offline.is_some());
    assert!(!session(&ana).is_shared());
    server.start_again();
    step_until(&mut ana, 40, |w| session(w).is_shared());
    assert_eq!(
        server.psql(
            "queue",
            "SELECT count(*) FROM annotations WHERE annotator = 'ana'"
        ),
        "2",
        "nothing doubled by going offline and back"
    );
}

/// A screening (`rop-exam`) team project on `server`, database
/// `screening`, admin `lead`: the demo's two infants pushed there. Returns
/// the admin's URL and the work folder (kept alive).
fn screening_team(server: &PostgresServer) -> (String, tempfile::TempDir) {
    let lead = server.database_for("screening", "lead", "lead-pw");
    let work = tempfile::tempdir().unwrap();
    let demo = work.path().join("demo");
    run_ok(&[
        "demo",
        demo.to_str().unwrap(),
        "--task",
        "rop-exams",
        "--infants",
        "2",
        "--size",
        "64",
    ]);
    run_ok(&[
        "project",
        "push",
        demo.to_str().unwrap(),
        "--postgres",
        &lead,
    ]);
    (lead, work)
}

/// The eye of item `item` in `project`, as `INFANT/DATE/EYE`.
fn eye_of(project: &Project, item: i64) -> String {
    let (eye, _, _) = project.exam_images().unwrap().remove(&item).unwrap();
    eye.to_string()
}

#[test]
fn eyes_are_graded_offline_and_their_grades_sync_back_once() {
    let server = PostgresServer::start();
    let (lead, work) = screening_team(&server);
    let mut admin = Project::open(Path::new(&lead)).unwrap();
    admin.create_user("ana", Role::Annotator, "ana-pw").unwrap();
    let ana = server.url("ana", "ana-pw", "screening");
    let server_images = admin.exam_images().unwrap();

    // One photograph claimed: the copy holds its whole exam (both eyes,
    // every field), the infants and exams, and the grades given so far.
    let copy = work.path().join("ana-copy");
    run_ok(&[
        "checkout",
        &ana,
        "--to",
        copy.to_str().unwrap(),
        "--items",
        "1",
    ]);
    let local = Project::open(&copy).unwrap();
    let local_images = local.exam_images().unwrap();
    let (item, (eye, _, _)) = local_images.iter().next().unwrap();
    let exam = (eye.infant.clone(), eye.exam_date);
    let in_exam = |e: &loupe::store::exams::EyeRef| (e.infant.clone(), e.exam_date) == exam;
    let whole_exam: Vec<i64> = server_images
        .iter()
        .filter(|(_, (e, _, _))| in_exam(e))
        .map(|(id, _)| *id)
        .collect();
    assert!(whole_exam.len() >= 6, "two eyes of three fields or more");
    assert_eq!(local_images.keys().copied().collect::<Vec<_>>(), whole_exam);
    let server_grades = admin.eye_grades().unwrap();
    let exam_grades = server_grades.iter().filter(|g| in_exam(&g.eye)).count();
    assert!(exam_grades > 0, "the demo's graders graded the exam");
    assert_eq!(
        local.eye_grades().unwrap().len(),
        exam_grades,
        "the graders' current grades of the exam came along"
    );
    drop(local);

    // ana grades an eye and marks the disc and fovea, offline.
    let eye = eye_of(&admin, *item);
    run_ok(&[
        "grade",
        copy.to_str().unwrap(),
        &eye,
        "zone=II",
        "stage=2",
        "extent=3,4",
        "plus=none",
        "--annotator",
        "ana",
    ]);
    run_ok(&[
        "zones",
        copy.to_str().unwrap(),
        &item.to_string(),
        "--disc",
        "20,30",
        "--fovea",
        "40,32",
        "--annotator",
        "ana",
    ]);
    let waiting = loupe::store::offline::offline_copy(&Project::open(&copy).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((waiting.grades_waiting, waiting.waiting()), (2, 2));

    let out = sync_as(&copy, "ana-pw");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(and 2 eye grades or zone marks)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let count = |table: &str| {
        server.psql(
            "screening",
            &format!("SELECT count(*) FROM {table} WHERE annotator = 'ana'"),
        )
    };
    assert_eq!(
        (count("eye_grades"), count("zone_marks")),
        ("1".into(), "1".into())
    );
    let graded = admin
        .eye_grades()
        .unwrap()
        .into_iter()
        .find(|g| g.annotator == "ana")
        .unwrap();
    assert_eq!(graded.eye.to_string(), eye);
    // Again: nothing doubled.
    let again = sync_as(&copy, "ana-pw");
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("synced 0 labels"));
    assert_eq!(
        (count("eye_grades"), count("zone_marks")),
        ("1".into(), "1".into())
    );
}

#[test]
fn eye_disagreements_wait_for_a_reviewer_and_a_rejected_grade_returns_its_eye() {
    let server = PostgresServer::start();
    let (lead, _work) = screening_team(&server);
    {
        let mut admin = Project::open(Path::new(&lead)).unwrap();
        admin.create_user("ana", Role::Annotator, "ana-pw").unwrap();
        admin.create_user("ben", Role::Annotator, "ben-pw").unwrap();
        admin
            .create_user("rita", Role::Reviewer, "rita-pw")
            .unwrap();
    }
    let as_user = |user: &str| server.url(user, &format!("{user}-pw"), "screening");
    // A project made before eye verdicts (layout 2): graders are told to
    // ask the admin; the admin's first open brings it up to date.
    server.psql(
        "screening",
        "DROP TABLE eye_reviews; UPDATE meta SET value = '2' WHERE key = 'postgres_layout'",
    );
    let refused = loupe(&["review", &as_user("ana")]);
    assert!(
        stderr(&refused).contains("its admin opens it once"),
        "{}",
        stderr(&refused)
    );
    run_ok(&["stats", &lead]);
    // An eye whose demo grades are cleared (as the superuser, for the
    // test): ana and ben are its only graders.
    let eye = Project::open(Path::new(&lead))
        .unwrap()
        .eyes_in_order()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    server.psql(
        "screening",
        &format!(
            "DELETE FROM eye_grades g USING exams e, infants i WHERE g.exam_id = e.id \
             AND e.infant_id = i.id AND i.name = '{}' AND e.exam_date = '{}' AND g.eye = '{}'",
            eye.infant,
            eye.exam_date,
            eye.eye.name()
        ),
    );
    let eye = eye.to_string();

    // ana and ben grade the eye differently: it waits for a reviewer.
    for (who, stage) in [("ana", "stage=2"), ("ben", "stage=3")] {
        run_ok(&[
            "grade",
            &as_user(who),
            &eye,
            "zone=II",
            stage,
            "extent=3,4",
            "plus=none",
        ]);
    }
    let listed: serde_json::Value =
        serde_json::from_str(&run_ok(&["review", &as_user("rita"), "--json"])).unwrap();
    let entry = listed["eyes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eye"] == eye.as_str())
        .unwrap_or_else(|| panic!("{eye} not in {listed}"))
        .clone();
    assert!(
        entry["disputed"]
            .as_array()
            .unwrap()
            .contains(&"stage".into()),
        "{entry}"
    );
    for who in ["ana", "ben"] {
        assert!(
            entry["waiting"].as_array().unwrap().contains(&who.into()),
            "{entry}"
        );
    }
    assert!(listed["items"].is_array());
    let text = run_ok(&["review", &as_user("rita")]);
    assert!(text.contains(&format!("{eye} since ")), "{text}");

    // An annotator's verdict is refused by the server itself.
    let out = loupe(&["review", &as_user("ana"), &eye, "--accept", "ana"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused by the server"),
        "{}",
        stderr(&out)
    );

    // rita rejects ana's grade in her window's review queue: the eye opens
    // in the exam view, each waiting grader's grade beside its verdicts.
    let (mut rita, _data) = window(Path::new(&as_user("rita")));
    rita.get_by_label("Review").click();
    rita.run();
    rita.get_by_label_contains(&format!("{eye} — graders disagree on"))
        .click();
    rita.run();
    let exams = &session(&rita).exams;
    assert!(exams.shown);
    assert_eq!(
        exams
            .open_exam()
            .map(|x| x.eye_ref(exams.active_eye).to_string()),
        Some(eye.clone())
    );
    assert!(
        rita.get_all_by_label_contains("stage: 3").count() >= 1,
        "ben's grade shown"
    );
    rita.get_all_by_label("Reason (needed to reject)")
        .next()
        .unwrap()
        .click();
    rita.run();
    rita.get_all_by_label("Reason (needed to reject)")
        .next()
        .unwrap()
        .type_text("look at the temporal field");
    rita.run();
    rita.get_all_by_label("Reject").next().unwrap().click();
    rita.run();
    assert!(
        rita.state().state().notice.is_none(),
        "{:?}",
        rita.state().state().notice
    );
    assert_eq!(
        server.psql(
            "screening",
            "SELECT verdict || ':' || annotator || ':' || reason FROM eye_reviews"
        ),
        "reject:ana:look at the temporal field"
    );
    drop(rita);
    // ana's next eye is that one, with the reason.
    let next: serde_json::Value =
        serde_json::from_str(&run_ok(&["next", &as_user("ana"), "--eye", "--json"])).unwrap();
    assert_eq!(next["unit"], eye.as_str(), "{next}");
    assert_eq!(next["returned"], "look at the temporal field");
    // Once ana grades it again it is no longer returned.
    run_ok(&[
        "grade",
        &as_user("ana"),
        &eye,
        "zone=II",
        "stage=3",
        "extent=3,4",
        "plus=none",
    ]);
    let next: serde_json::Value =
        serde_json::from_str(&run_ok(&["next", &as_user("ana"), "--eye", "--json"])).unwrap();
    assert_ne!(next["unit"], eye.as_str(), "{next}");

    // Accepting ben's grade adjudicates the eye: it leaves the queue.
    run_ok(&["review", &as_user("rita"), &eye, "--accept", "ben"]);
    let project = Project::open(Path::new(&lead)).unwrap();
    let adjudicated = project
        .eye_grades()
        .unwrap()
        .into_iter()
        .find(|g| g.eye.to_string() == eye && g.annotator == ADJUDICATOR)
        .expect("the adjudicated grade");
    assert_eq!(adjudicated.grade.stage.name(), "3");
    assert!(
        project
            .eye_review_queue()
            .unwrap()
            .iter()
            .all(|e| e.eye.to_string() != eye)
    );
    assert_eq!(
        server.psql(
            "screening",
            "SELECT string_agg(verdict || ':' || annotator || ':' || reviewer, ',' ORDER BY id) FROM eye_reviews"
        ),
        "reject:ana:rita,accept:ben:rita"
    );
}

#[test]
fn label_maps_painted_offline_sync_back_with_their_files() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("volumes");
    let s = source.to_str().unwrap();
    run_ok(&["demo", s, "--task", "volumes"]);
    let items = Project::open(&source).unwrap().items().unwrap();
    let first = loupe::store::queue::queue_order(&items)[0].to_string();
    // ben painted the item before it was taken offline: his map goes along.
    run_ok(&["paint", s, &first, "--at", "2,2,2", "--annotator", "ben"]);
    let copy = work.path().join("ana-copy");
    let c = copy.to_str().unwrap();
    run_ok(&[
        "checkout",
        s,
        "--to",
        c,
        "--items",
        "1",
        "--annotator",
        "ana",
    ]);
    let local = Project::open(&copy).unwrap();
    let carried = local.label_maps(first.parse().unwrap()).unwrap();
    assert_eq!(carried.len(), 1, "ben's map came along");
    assert!(local.files_root().join(&carried[0].file).is_file());
    drop(local);

    // ana paints offline, twice; the copy says what waits.
    let painted: usize = ["3,3,2", "5,3,2"]
        .iter()
        .map(|at| {
            let out = run_ok(&[
                "paint",
                c,
                &first,
                "--at",
                at,
                "--annotator",
                "ana",
                "--json",
            ]);
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            json["changed_voxels"].as_u64().unwrap() as usize
        })
        .sum();
    assert!(painted > 0);
    let waiting = loupe::store::offline::offline_copy(&Project::open(&copy).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((waiting.maps_waiting, waiting.waiting()), (2, 2));

    let out = run_ok(&["sync", c]);
    assert!(out.contains("(and 2 label maps)"), "{out}");
    // The source has ana's map as painted offline: its file and its row.
    let source_project = Project::open(&source).unwrap();
    let maps = source_project.label_maps(first.parse().unwrap()).unwrap();
    let ana = maps
        .iter()
        .find(|m| m.annotator == "ana")
        .expect("ana's map");
    assert_eq!(ana.labeled_voxels as usize, painted);
    let item = source_project.find_item(&first).unwrap();
    let case = loupe::volume::load(&source_project.resolve(&item)).unwrap();
    let voxels = source_project.read_label_map(ana, &case).unwrap();
    assert_eq!(voxels.iter().filter(|&&v| v != 0).count(), painted);
    // Again: nothing doubled.
    let again = run_ok(&["sync", c]);
    assert!(
        again.starts_with("synced 0 labels and 0 remarks to"),
        "{again}"
    );
    assert_eq!(
        source_project
            .label_maps(first.parse().unwrap())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_offline_label_older_than_a_later_one_on_the_server_does_not_replace_it() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("rop");
    let s = source.to_str().unwrap();
    run_ok(&["demo", s, "--task", "rop", "--count", "12", "--size", "32"]);
    let copy = work.path().join("ana-copy");
    let c = copy.to_str().unwrap();
    run_ok(&[
        "checkout",
        s,
        "--to",
        c,
        "--items",
        "2",
        "--annotator",
        "ana",
    ]);
    let ids: Vec<i64> = Project::open(&copy)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let (early, only_offline) = (ids[0], ids[1]);
    // Offline first (10:00, say), then on the project itself later (11:00).
    label_offline(
        &copy,
        "ana",
        &[(early, "Stage 2"), (only_offline, "Stage 1")],
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut project = Project::open(&source).unwrap();
    project
        .set_label(early, "ana", "stage", Some("Stage 3"))
        .unwrap();
    drop(project);

    let out = run_ok(&["sync", c]);
    assert!(out.starts_with("synced 2 labels"), "{out}");
    assert!(
        out.contains("1 of them older than your later label"),
        "{out}"
    );
    let project = Project::open(&source).unwrap();
    // The later label stays current; the offline one is in the history.
    assert_eq!(
        project.current_labels(early).unwrap()["ana"]["stage"],
        "Stage 3"
    );
    assert_eq!(
        project.current_labels(only_offline).unwrap()["ana"]["stage"],
        "Stage 1"
    );
    let history: Vec<String> = project
        .history(early)
        .unwrap()
        .into_iter()
        .filter(|h| h.annotator == "ana")
        .filter_map(|h| h.value)
        .collect();
    assert!(history.contains(&"Stage 2".to_string()), "{history:?}");
    assert_eq!(history.last().map(String::as_str), Some("Stage 3"));
}

/// A cases schema: a CT (here a DICOM series folder) and a PET (NIfTI)
/// per case, and a record.
const CASES_SCHEMA: &str = r#"{
  "name": "staging",
  "fields": [{"name": "cancer", "values": ["no", "yes"]}],
  "target": "cancer",
  "modalities": ["ct", "pet"],
  "tabular": [
    {"name": "age", "type": "number", "unit": "years", "min": 18, "max": 110},
    {"name": "cough", "type": "yes-no"}
  ]
}"#;

#[test]
fn a_cases_project_goes_offline_with_its_files_records_and_slice_picks() {
    let server = PostgresServer::start();
    let lead = server.database_for("staging", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(CASES_SCHEMA).unwrap();
    let mut admin =
        loupe::store::postgres::init(&lead, &schema, share.path(), &share.path().join(".loupe"))
            .unwrap();
    admin.create_user("ana", Role::Annotator, "ana-pw").unwrap();
    // Case A: a CT series (one DICOM file per slice, in a folder) and a
    // PET; case B: a PET alone.
    let ct = loupe::synth::phantom::ct_phantom(12, 1);
    let series = share.path().join("A_ct");
    let slices = loupe::volume::dicom::write::write_ct_series(
        &ct,
        &series,
        1,
        loupe::volume::dicom::write::Encoding::ExplicitLittle,
    )
    .unwrap();
    let pet = |name: &str, seed| {
        let path = share.path().join(name);
        loupe::volume::nifti::write_nifti1(&loupe::synth::phantom::ct_phantom(10, seed), &path)
            .unwrap();
        path
    };
    let a = admin
        .add_case(
            "A",
            &[
                ("ct".into(), series.clone()),
                ("pet".into(), pet("A_pet.nii.gz", 2)),
            ],
            Pool::Unlabeled,
        )
        .unwrap();
    let b = admin
        .add_case(
            "B",
            &[("pet".into(), pet("B_pet.nii.gz", 3))],
            Pool::Unlabeled,
        )
        .unwrap();
    let (loupe::store::AddOutcome::Added(a), loupe::store::AddOutcome::Added(b)) = (a, b) else {
        panic!("two new cases")
    };
    let record = |age: &str| {
        [
            ("age".to_string(), Some(age.to_string())),
            ("cough".into(), Some("no".into())),
        ]
        .into_iter()
        .collect()
    };
    admin.set_record(a, "lead", &record("61")).unwrap();
    admin.set_record(b, "lead", &record("70")).unwrap();
    admin
        .set_slice_pick(a, "ct", "lead", Some(&[5, 6]))
        .unwrap();

    // ana takes both cases offline: each case's files are in the copy, read
    // from there, with the record and slice picks as the server has them.
    let ana = server.url("ana", "ana-pw", "staging");
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("ana-copy");
    let out = run_ok(&[
        "checkout",
        &ana,
        "--to",
        copy.to_str().unwrap(),
        "--items",
        "2",
    ]);
    assert!(out.starts_with("took 2 items offline"), "{out}");
    let mut local = Project::open(&copy).unwrap();
    let case_a = local.case(a).unwrap().unwrap();
    assert_eq!(case_a.files.keys().collect::<Vec<_>>(), ["ct", "pet"]);
    for (role, path) in &case_a.files {
        assert!(
            path.starts_with(&copy),
            "{role} is read from the copy: {}",
            path.display()
        );
        let server_file = &admin.case(a).unwrap().unwrap().files[role];
        assert_eq!(
            loupe::volume::load(path).unwrap().data,
            loupe::volume::load(server_file).unwrap().data,
            "{role} is the same volume"
        );
    }
    let dicom_files = std::fs::read_dir(&case_a.files["ct"]).unwrap().count();
    assert_eq!(dicom_files, slices, "the whole series came along");
    assert_eq!(case_a.record, admin.record(a).unwrap());
    assert_eq!(local.case(b).unwrap().unwrap().files.len(), 1);
    assert_eq!(
        local.slice_picks("ct").unwrap(),
        admin.slice_picks("ct").unwrap()
    );
    let item_a = local
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.id == a)
        .unwrap();
    assert!(
        loupe::volume::load(&local.resolve(&item_a)).is_ok(),
        "the case opens as an item"
    );

    // ana corrects a record, picks other slices and labels, offline.
    local.set_record(a, "ana", &record("63")).unwrap();
    local.set_slice_pick(a, "ct", "ana", Some(&[4])).unwrap();
    local.set_label(a, "ana", "cancer", Some("yes")).unwrap();
    let waiting = loupe::store::offline::offline_copy(&local)
        .unwrap()
        .unwrap();
    assert_eq!((waiting.grades_waiting, waiting.waiting()), (2, 3));
    drop(local);

    let synced = synced_line(&copy, "ana-pw");
    assert!(
        synced.starts_with("synced 1 labels and 0 remarks (and 2 record edits or slice picks)"),
        "{synced}"
    );
    assert_eq!(admin.record(a).unwrap()["age"], "63");
    assert_eq!(
        admin.record_history(a).unwrap().last().unwrap().annotator,
        "ana"
    );
    assert_eq!(admin.slice_picks("ct").unwrap()[&a], vec![4]);
    let history = admin.record_history(a).unwrap().len();
    // Again: nothing doubled.
    let again = synced_line(&copy, "ana-pw");
    assert!(
        again.starts_with("synced 0 labels and 0 remarks to"),
        "{again}"
    );
    assert_eq!(admin.record_history(a).unwrap().len(), history);
    assert_eq!(
        server.psql(
            "staging",
            "SELECT count(*) FROM slice_picks WHERE annotator = 'ana'"
        ),
        "1"
    );

    // A fallback copy (the window's, when the server goes away) points at
    // the case files on the share, and its record edits sync the same way.
    let tables = loupe::store::offline_tables::CarriedTables::read(&admin).unwrap();
    let items = admin.items().unwrap();
    let labels = admin.all_current_labels().unwrap();
    let remarks = admin.all_remarks().unwrap();
    let (none, no_remarks) = (Default::default(), Default::default());
    let held: Vec<loupe::store::offline::HeldItem> = items
        .iter()
        .map(|item| loupe::store::offline::HeldItem {
            item,
            file: admin.resolve(item),
            labels: labels.get(&item.id).unwrap_or(&none),
            remarks: remarks.get(&item.id).unwrap_or(&no_remarks),
        })
        .collect();
    let fallback = work.path().join("fallback");
    loupe::store::offline::fallback_copy(
        &fallback,
        Path::new(&ana),
        &schema,
        "ana",
        &held,
        &tables,
        &[],
    )
    .unwrap();
    let mut local = Project::open(&fallback).unwrap();
    assert_eq!(
        local.case(a).unwrap().unwrap().files,
        admin.case(a).unwrap().unwrap().files
    );
    assert_eq!(local.record(a).unwrap()["age"], "63");
    local.set_record(b, "ana", &record("71")).unwrap();
    drop(local);
    let synced = synced_line(&fallback, "ana-pw");
    assert!(
        synced.contains("(and 1 record edits or slice picks)"),
        "{synced}"
    );
    assert_eq!(admin.record(b).unwrap()["age"], "71");
}
