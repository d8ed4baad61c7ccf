//! A team on one PostgreSQL project: both engines keep the same rules, the
//! server enforces the roles, several `loupe label --stdin` clients label at
//! once (killed, or with the server restarted under them) without losing a
//! confirmed label, a folder project is pushed with its history, and bad
//! servers get one clear message each. Every test starts its own throwaway
//! server (Unix socket only).

mod common;
#[path = "common/postgres_server.rs"]
mod postgres_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{loupe, run_ok, stderr, write_png};
use egui_kittest::kittest::Queryable;
use loupe::store::postgres::Role;
use loupe::store::{Pool, Project, Schema};
use postgres_server::PostgresServer;

/// Four grey images under `images`.
fn images(images: &Path) -> Vec<std::path::PathBuf> {
    (0..4u8)
        .map(|i| {
            let path = images.join(format!("eye{i}.png"));
            write_png(&path, 40 + i * 30);
            path
        })
        .collect()
}

/// The rules every engine must keep, run on the project as `admin`, with
/// `ana` and `ben` labeling through `as_user` (their own connection on
/// PostgreSQL, the same folder on SQLite).
fn store_rules(
    admin: &mut Project,
    files: &[std::path::PathBuf],
    as_user: &dyn Fn(&str) -> Project,
) {
    let ids: Vec<i64> = files
        .iter()
        .map(|f| match admin.add_item(f, Pool::Unlabeled).unwrap() {
            loupe::store::AddOutcome::Added(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    // The same file again is a duplicate, not a second item.
    assert!(matches!(
        admin.add_item(&files[0], Pool::Unlabeled).unwrap(),
        loupe::store::AddOutcome::Duplicate(id) if id == ids[0]
    ));
    admin.set_test(ids[3], true).unwrap();

    let mut ana = as_user("ana");
    let mut ben = as_user("ben");
    ana.set_label(ids[0], "ana", "stage", Some("Stage 2"))
        .unwrap();
    ana.set_label(ids[0], "ana", "stage", Some("Stage 3"))
        .unwrap();
    ben.set_label(ids[0], "ben", "stage", Some("Stage 3"))
        .unwrap();
    ana.set_label(ids[1], "ana", "stage", Some("Stage 1"))
        .unwrap();
    ben.set_label(ids[1], "ben", "stage", Some("Normal"))
        .unwrap();
    ana.set_label(ids[2], "ana", "stage", Some("Normal"))
        .unwrap();
    ana.set_label(ids[2], "ana", "stage", None).unwrap();
    // A value outside the schema is refused, naming the field's values.
    let error = ana
        .set_label(ids[2], "ana", "stage", Some("Stage 9"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("Stage 5"), "{error}");
    ana.set_remark(
        ids[1],
        "ana",
        &loupe::store::Remark {
            unsure: true,
            note: "haze".into(),
        },
    )
    .unwrap();

    // Read back through a fresh connection: latest per annotator, consensus
    // (agreement → value, disagreement → none), pools moved by the labels.
    let fresh = as_user("ana");
    assert_eq!(
        fresh.consensus(ids[0], "stage").unwrap().as_deref(),
        Some("Stage 3")
    );
    assert_eq!(fresh.consensus(ids[1], "stage").unwrap(), None);
    assert_eq!(fresh.consensus(ids[2], "stage").unwrap(), None);
    let pools: Vec<Pool> = ids.iter().map(|id| fresh.item(*id).unwrap().pool).collect();
    assert_eq!(
        pools,
        [Pool::Labeled, Pool::Labeled, Pool::Unlabeled, Pool::Test]
    );
    let history: Vec<Option<String>> = fresh
        .history(ids[0])
        .unwrap()
        .into_iter()
        .filter(|a| a.annotator == "ana")
        .map(|a| a.value)
        .collect();
    assert_eq!(
        history,
        [Some("Stage 2".to_string()), Some("Stage 3".to_string())]
    );
    assert!(fresh.remarks(ids[1]).unwrap()["ana"].unsure);
    let all = fresh.all_current_labels().unwrap();
    assert_eq!(all[&ids[1]]["ben"]["stage"], "Normal");
    assert!(!all.contains_key(&ids[2]));

    // A reviewer's adjudication decides a disagreement.
    admin
        .set_label(ids[1], loupe::store::ADJUDICATOR, "stage", Some("Stage 1"))
        .unwrap();
    assert_eq!(
        as_user("ben")
            .consensus(ids[1], "stage")
            .unwrap()
            .as_deref(),
        Some("Stage 1")
    );

    // Predictions: the newest per item.
    admin
        .set_predictions(&[loupe::store::Prediction {
            item_id: ids[2],
            run: "r1".into(),
            probabilities: vec![0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
            entropy: 1.5,
            mc_dropout_entropy: None,
            disagreement: Some(0.25),
        }])
        .unwrap();
    let predictions = as_user("ben").predictions().unwrap();
    assert_eq!(predictions[&ids[2]].disagreement, Some(0.25));
    assert_eq!(predictions[&ids[2]].probabilities[0], 0.5);

    // The CSV export reads the same from both engines (paths relative to
    // the images root).
    let csv = loupe::store::export::to_csv(&as_user("ana")).unwrap();
    assert!(csv.contains("eye0.png") && csv.contains("Stage 3"), "{csv}");
}

#[test]
fn both_engines_keep_the_same_rules() {
    // SQLite: a folder, every name written through the one file.
    let folder = tempfile::tempdir().unwrap();
    let files = images(&folder.path().join("images"));
    let mut admin = Project::create(folder.path(), &Schema::rop()).unwrap();
    store_rules(&mut admin, &files, &|_| {
        Project::open(folder.path()).unwrap()
    });
    let sqlite_csv = loupe::store::export::to_csv(&admin).unwrap();

    // PostgreSQL: the admin and two annotators, each on their own connection.
    let server = PostgresServer::start();
    let url = server.database_for("team", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    let files = images(&share.path().join("images"));
    let mut admin = loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    admin.create_user("ana", Role::Annotator, "ana-pw").unwrap();
    admin.create_user("ben", Role::Annotator, "ben-pw").unwrap();
    let server_ref = &server;
    store_rules(&mut admin, &files, &|user| {
        Project::open(Path::new(&server_ref.url(
            user,
            &format!("{user}-pw"),
            "team",
        )))
        .unwrap()
    });
    let postgres_csv = loupe::store::export::to_csv(&admin).unwrap();
    // The same rows but for the label times.
    let without_times = |csv: &str| -> Vec<String> {
        csv.lines()
            .map(|l| {
                l.split(',')
                    .filter(|c| !c.starts_with("20"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    assert_eq!(
        without_times(&sqlite_csv).len(),
        without_times(&postgres_csv).len()
    );
    assert_eq!(
        without_times(&sqlite_csv)
            .iter()
            .map(|l| l.replace("images/", ""))
            .collect::<Vec<_>>(),
        without_times(&postgres_csv)
            .iter()
            .map(|l| l.replace("images/", ""))
            .collect::<Vec<_>>()
    );
}

/// The server's refusal of an annotator's write.
fn refused(result: Result<(), loupe::store::StoreError>) -> String {
    let error = result.expect_err("the server refuses").to_string();
    assert!(
        error.contains("refused by the server") || error.contains("row-level security"),
        "{error}"
    );
    error
}

#[test]
fn roles_are_enforced_by_the_server() {
    let server = PostgresServer::start();
    let url = server.database_for("clinic", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    let files = images(share.path());
    let mut admin = loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    admin.create_user("ana", Role::Annotator, "ana-pw").unwrap();
    admin
        .create_user("rita", Role::Reviewer, "rita-pw")
        .unwrap();
    let id = match admin.add_item(&files[0], Pool::Unlabeled).unwrap() {
        loupe::store::AddOutcome::Added(id) => id,
        other => panic!("{other:?}"),
    };
    let open = |user: &str| {
        Project::open(Path::new(&server.url(
            user,
            &format!("{user}-pw"),
            "clinic",
        )))
        .unwrap()
    };
    let mut ana = open("ana");
    assert_eq!(ana.user(), Some("ana"));
    assert_eq!(ana.roles().unwrap(), [Role::Annotator]);
    // Her own label is fine and moves the item to labeled (through the
    // server's pool function: she may not move items herself).
    ana.set_label(id, "ana", "stage", Some("Stage 1")).unwrap();
    assert_eq!(ana.item(id).unwrap().pool, Pool::Labeled);
    // Someone else's label, an adjudication, a pool change, the schema's
    // paint labels, a new item, a new user: the server refuses each.
    refused(ana.set_label(id, "rita", "stage", Some("Stage 2")));
    refused(ana.set_label(id, loupe::store::ADJUDICATOR, "stage", Some("Stage 2")));
    refused(ana.set_test(id, true));
    refused(ana.set_paint_labels(&[loupe::store::schema::PaintLabel::new(1, "ridge")]));
    refused(ana.add_item(&files[1], Pool::Unlabeled).map(|_| ()));
    let error = ana
        .create_user("mallory", Role::Admin, "pw")
        .unwrap_err()
        .to_string();
    assert!(error.contains("creating user"), "{error}");
    // Nothing she tried is there.
    let labels = admin.current_labels(id).unwrap();
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["ana"]);
    assert_eq!(admin.items().unwrap().len(), 1);
    // The reviewer adjudicates; the CLI names the connection's user as the
    // annotator and refuses another name.
    let mut rita = open("rita");
    rita.set_label(id, loupe::store::ADJUDICATOR, "stage", Some("Stage 2"))
        .unwrap();
    assert_eq!(
        admin.consensus(id, "stage").unwrap().as_deref(),
        Some("Stage 2")
    );
    assert_eq!(rita.annotator(None).unwrap(), "rita");
    assert!(rita.annotator(Some("ana")).is_err());
    let rita_url = server.url("rita", "rita-pw", "clinic");
    let out = loupe(&[
        "label",
        &rita_url,
        &id.to_string(),
        "stage=Stage 3",
        "--annotator",
        "ana",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("database user \"rita\""),
        "{}",
        stderr(&out)
    );
}

/// Starts `loupe label URL --stdin` (the annotator is the URL's user).
fn spawn_client(url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["label", url, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A team server with `clients` annotators and `items` images; returns the
/// server, the share (kept alive), the annotators' URLs and the item ids.
fn team(
    clients: usize,
    items: usize,
) -> (PostgresServer, tempfile::TempDir, Vec<String>, Vec<i64>) {
    let server = PostgresServer::start();
    let url = server.database_for("team", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    let mut admin = loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..items {
        let path = share.path().join(format!("i{i:03}.png"));
        std::fs::write(&path, format!("image {i}")).unwrap();
        match admin.add_item(&path, Pool::Unlabeled).unwrap() {
            loupe::store::AddOutcome::Added(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let urls = (0..clients)
        .map(|c| {
            let name = format!("grader{c}");
            admin.create_user(&name, Role::Annotator, "pw").unwrap();
            server.url(&name, "pw", "team")
        })
        .collect();
    (server, share, urls, ids)
}

const STAGES: [&str; 6] = [
    "Normal", "Stage 1", "Stage 2", "Stage 3", "Stage 4", "Stage 5",
];

#[test]
fn clients_label_the_same_items_at_once_and_nothing_confirmed_is_lost() {
    let (server, _share, urls, ids) = team(4, 20);
    // Each client labels every item twice (the second value is its latest),
    // all four at once; every `ok` must be in the database.
    let handles: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(c, url)| {
            let url = url.clone();
            let ids = ids.clone();
            std::thread::spawn(move || {
                let mut child = spawn_client(&url);
                let mut stdin = child.stdin.take().unwrap();
                let writer = std::thread::spawn(move || {
                    for round in 0..2 {
                        for id in &ids {
                            let stage = STAGES[(c + round + *id as usize) % 6];
                            writeln!(stdin, "{id} stage={stage}").unwrap();
                        }
                    }
                });
                let oks = BufReader::new(child.stdout.take().unwrap())
                    .lines()
                    .map_while(Result::ok)
                    .filter(|l| l.starts_with("ok "))
                    .count();
                writer.join().unwrap();
                let status = child.wait().unwrap();
                assert!(status.success());
                oks
            })
        })
        .collect();
    let oks: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(oks, vec![40; 4]);
    let admin = Project::open(Path::new(&server.url("lead", "lead-pw", "team"))).unwrap();
    let labels = admin.all_current_labels().unwrap();
    for (c, _) in urls.iter().enumerate() {
        for id in &ids {
            let latest = STAGES[(c + 1 + *id as usize) % 6];
            assert_eq!(
                labels[id][&format!("grader{c}")]["stage"],
                latest,
                "item {id} grader{c}"
            );
        }
    }
    let rows: i64 = server
        .psql("team", "SELECT count(*) FROM annotations")
        .parse()
        .unwrap();
    assert_eq!(rows, 4 * 40);
}

#[test]
fn a_killed_client_loses_nothing_it_confirmed() {
    let (server, _share, urls, ids) = team(1, 200);
    let mut child = spawn_client(&urls[0]);
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let writer = std::thread::spawn(move || {
        for id in &ids {
            if writeln!(stdin, "{id} stage=Stage 2").is_err() {
                break;
            }
        }
    });
    let mut confirmed = Vec::new();
    let mut line = String::new();
    while confirmed.len() < 60 && out.read_line(&mut line).unwrap() > 0 {
        confirmed.push(
            line.trim()
                .trim_start_matches("ok ")
                .parse::<i64>()
                .unwrap(),
        );
        line.clear();
    }
    // kill -9 in the middle of its stream of commits.
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = writer.join();
    let admin = Project::open(Path::new(&server.url("lead", "lead-pw", "team"))).unwrap();
    let labels = admin.all_current_labels().unwrap();
    for id in &confirmed {
        assert_eq!(
            labels[id]["grader0"]["stage"], "Stage 2",
            "confirmed item {id} lost"
        );
    }
}

#[test]
fn clients_ride_out_a_server_restart() {
    let (server, _share, urls, ids) = team(2, 40);
    let clients: Vec<_> = urls.iter().map(|u| spawn_client(u)).collect();
    let mut inputs = Vec::new();
    let mut readers = Vec::new();
    for mut child in clients {
        inputs.push(child.stdin.take().unwrap());
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        readers.push((child, BufReader::new(stdout), stderr));
    }
    let send = |inputs: &mut Vec<std::process::ChildStdin>, range: std::ops::Range<usize>| {
        for input in inputs.iter_mut() {
            for id in &ids[range.clone()] {
                writeln!(input, "{id} stage=Stage 1").unwrap();
            }
            input.flush().unwrap();
        }
    };
    send(&mut inputs, 0..20);
    let mut confirmed: Vec<BTreeMap<i64, ()>> = vec![BTreeMap::new(); readers.len()];
    for (c, (_, reader, _)) in readers.iter_mut().enumerate() {
        for _ in 0..20 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            confirmed[c].insert(line.trim().trim_start_matches("ok ").parse().unwrap(), ());
        }
    }
    // The server goes down and comes back while the clients hold connections.
    server.stop();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.start_again();
    send(&mut inputs, 20..40);
    drop(inputs);
    for (c, (mut child, reader, mut errors)) in readers.into_iter().enumerate() {
        for line in reader.lines().map_while(Result::ok) {
            confirmed[c].insert(line.trim().trim_start_matches("ok ").parse().unwrap(), ());
        }
        let status = child.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut errors, &mut text).unwrap();
        assert!(status.success(), "client {c}: {text}");
        assert!(
            text.contains("reconnect"),
            "client {c} said nothing of the restart: {text}"
        );
        assert_eq!(confirmed[c].len(), 40, "client {c}: {text}");
    }
    let admin = Project::open(Path::new(&server.url("lead", "lead-pw", "team"))).unwrap();
    let labels = admin.all_current_labels().unwrap();
    for id in &ids {
        for c in 0..2 {
            assert_eq!(labels[id][&format!("grader{c}")]["stage"], "Stage 1");
        }
    }
}

#[test]
fn a_folder_project_is_pushed_with_its_history() {
    let folder = tempfile::tempdir().unwrap();
    let files = images(&folder.path().join("images"));
    run_ok(&[
        "project",
        "init",
        folder.path().to_str().unwrap(),
        "--schema",
        "rop",
    ]);
    run_ok(&[
        "import",
        folder.path().to_str().unwrap(),
        folder.path().join("images").to_str().unwrap(),
    ]);
    let dir = folder.path().to_str().unwrap();
    let first = common::item_id(folder.path(), "eye0.png");
    run_ok(&[
        "label",
        dir,
        &first.to_string(),
        "stage=Stage 1",
        "--annotator",
        "ana",
    ]);
    run_ok(&[
        "label",
        dir,
        &first.to_string(),
        "stage=Stage 2",
        "--annotator",
        "ana",
    ]);
    let server = PostgresServer::start();
    let url = server.database_for("moved", "lead", "lead-pw");
    let out = run_ok(&["project", "push", dir, "--postgres", &url]);
    assert!(out.contains("rows copied"), "{out}");
    assert!(!out.contains("lead-pw"), "the password was printed: {out}");
    let pushed = Project::open(Path::new(&url)).unwrap();
    let history: Vec<_> = pushed
        .history(first)
        .unwrap()
        .into_iter()
        .map(|a| a.value)
        .collect();
    assert_eq!(history, [Some("Stage 1".into()), Some("Stage 2".into())]);
    assert_eq!(pushed.items().unwrap().len(), files.len());
    assert!(pushed.resolve(&pushed.item(first).unwrap()).is_file());
    // Again: nothing new. A label added in the folder: only it is copied.
    let again = run_ok(&["project", "push", dir, "--postgres", &url]);
    assert!(again.contains(": 0 rows copied"), "{again}");
    run_ok(&[
        "label",
        dir,
        &first.to_string(),
        "stage=Stage 3",
        "--annotator",
        "ana",
    ]);
    let third = run_ok(&["project", "push", dir, "--postgres", &url]);
    assert!(third.contains(": 1 rows copied"), "{third}");
    // Work made on the server since: a further push is refused, not merged.
    run_ok(&["label", &url, &first.to_string(), "stage=Normal"]);
    run_ok(&[
        "label",
        dir,
        &first.to_string(),
        "stage=Stage 4",
        "--annotator",
        "ana",
    ]);
    let out = loupe(&["project", "push", dir, "--postgres", &url]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("work of its own"), "{}", stderr(&out));
}

#[test]
fn bad_servers_get_one_clear_message_each() {
    let server = PostgresServer::start();
    let url = server.database_for("real", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    server.psql("postgres", "CREATE DATABASE empty OWNER lead");
    let cases = [
        // Nobody listens on this socket folder.
        (
            "postgres://lead:lead-pw@localhost/real?host=/nonexistent-loupe-socket".to_string(),
            "cannot reach the server",
        ),
        (server.url("lead", "wrong", "real"), "wrong password"),
        (server.url("lead", "lead-pw", "nosuchdb"), "does not exist"),
        (
            server.url("lead", "lead-pw", "empty"),
            "not a Loupe project",
        ),
        (
            "postgres://lead@localhost/real?sslmode=sometimes".to_string(),
            "sslmode",
        ),
    ];
    for (url, expected) in cases {
        let started = std::time::Instant::now();
        let out = loupe(&["stats", &url]);
        assert!(!out.status.success(), "{url}");
        let text = stderr(&out);
        assert!(text.contains(expected), "{url}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(started.elapsed().as_secs() < 30, "{url} hung");
        assert!(!text.contains("lead-pw"), "a password in a message: {text}");
    }
    // A database written by a newer Loupe is refused, naming the versions.
    server.psql(
        "real",
        "UPDATE meta SET value = '99' WHERE key = 'postgres_layout'",
    );
    let out = loupe(&["stats", &url]);
    assert!(stderr(&out).contains("newer Loupe"), "{}", stderr(&out));
}

#[test]
fn the_setup_script_makes_a_database_an_admin_can_init() {
    let server = PostgresServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres-setup.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["screening", "lead"])
        .env("PGHOST", server.socket_dir())
        .env("PGPORT", server.port.to_string())
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", postgres_server::SUPERUSER_PASSWORD)
        .env("LOUPE_ADMIN_PASSWORD", "lead-pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = server.url("lead", "lead-pw", "screening");
    let share = tempfile::tempdir().unwrap();
    let out = run_ok(&[
        "project",
        "init",
        "--postgres",
        &url,
        "--images",
        share.path().to_str().unwrap(),
        "--schema",
        "rop-exam",
    ]);
    assert!(out.contains("admin lead"), "{out}");
    // The admin is no superuser: only what the script granted.
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'lead'"
        ),
        "f"
    );
    let out = run_ok(&["project", "user", &url, "ana", "--role", "annotator"]);
    assert!(out.contains("created annotator ana with password"), "{out}");
}

#[test]
fn an_open_window_shows_others_work_within_a_second() {
    let (server, _share, urls, ids) = team(1, 3);
    let lead = server.url("lead", "lead-pw", "team");
    let mut window = loupe::app::ProjectSession::open(Path::new(&lead)).unwrap();
    assert!(window.is_shared());
    // The window's own label is not an outside change.
    window
        .set_label(ids[0], "lead", "stage", Some("Stage 1"))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(!window.take_remote_changes().unwrap());
    // A grader on another workstation labels the same item.
    let mut grader = Project::open(Path::new(&urls[0])).unwrap();
    let started = std::time::Instant::now();
    grader
        .set_label(ids[0], "grader0", "stage", Some("Stage 3"))
        .unwrap();
    while !window.take_remote_changes().unwrap() {
        assert!(
            started.elapsed().as_millis() < 1000,
            "not seen within a second"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let row = window.row(ids[0]).unwrap();
    // Both labels stand: the window's is not overwritten, the grader's is shown.
    assert_eq!(row.labels["lead"]["stage"], "Stage 1");
    assert_eq!(row.labels["grader0"]["stage"], "Stage 3");
}

/// The zone-marks export of a project with marks by `lead` on `B.png` and
/// `a.png` (in that order of adding), paths only.
fn exported_paths(project: &mut Project, images: &Path, annotator: &str) -> Vec<String> {
    let marks = loupe::rop::zones::ZoneMarks {
        disc_centre: loupe::rop::zones::Point { x: 10.0, y: 10.0 },
        fovea_centre: loupe::rop::zones::Point { x: 30.0, y: 10.0 },
        disc_diameter_px: None,
    };
    for name in ["B.png", "a.png"] {
        let path = images.join(name);
        if !path.exists() {
            write_png(&path, if name == "a.png" { 30 } else { 200 });
        }
        let id = match project.add_item(&path, Pool::Unlabeled).unwrap() {
            loupe::store::AddOutcome::Added(id) | loupe::store::AddOutcome::Duplicate(id) => id,
        };
        project.set_zone_marks(id, annotator, Some(&marks)).unwrap();
    }
    let csv = loupe::store::zone_marks::to_zone_marks_csv(project).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| {
            let path = l.split(',').next().unwrap();
            Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn text_is_ordered_by_code_point_whatever_the_server_collates() {
    let server = PostgresServer::start();
    server.psql(
        "postgres",
        "CREATE ROLE lead LOGIN CREATEROLE PASSWORD 'lead-pw'",
    );
    // An ICU English collation puts "a" before "B"; SQLite and Rust do not.
    server.psql(
        "postgres",
        "CREATE DATABASE team OWNER lead TEMPLATE template0 LOCALE_PROVIDER icu \
         ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    );
    assert_eq!(
        server.psql(
            "team",
            "SELECT string_agg(x, ',' ORDER BY x) FROM (VALUES ('B'), ('a')) v(x)"
        ),
        "a,B",
        "the test server's collation is not the one this test needs"
    );
    let folder = tempfile::tempdir().unwrap();
    let mut solo = Project::create(&folder.path().join("solo"), &Schema::rop()).unwrap();
    let solo_order = exported_paths(&mut solo, folder.path(), "lead");
    assert_eq!(solo_order, ["B.png", "a.png"]);

    let share = tempfile::tempdir().unwrap();
    let url = server.url("lead", "lead-pw", "team");
    let mut team = loupe::store::postgres::init(
        &url,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    assert_eq!(exported_paths(&mut team, share.path(), "lead"), solo_order);
    // Every text column of a new project orders by code point.
    assert_eq!(
        server.psql(
            "team",
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' \
             AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'"
        ),
        "0"
    );
    // A project made before its columns were created in code-point order:
    // the store's ordering says so itself.
    server.psql(
        "team",
        "ALTER TABLE items ALTER COLUMN path TYPE TEXT COLLATE \"default\"",
    );
    let mut team = Project::open(Path::new(&url)).unwrap();
    assert_eq!(exported_paths(&mut team, share.path(), "lead"), solo_order);
}

#[test]
fn the_window_asks_for_a_password_and_keeps_it_nowhere() {
    let (server, _share, _urls, _ids) = team(1, 2);
    // The URL a grader types: no password in it, none in PGPASSWORD or a
    // .pgpass (the test machine has neither).
    let url = format!(
        "postgres://lead@localhost/team?host={}&port={}",
        server.socket_dir().display(),
        server.port
    );
    // The setup above connected as lead with the password, in this process,
    // which remembers it for later connections: forget it, as a fresh
    // Loupe would not know it.
    loupe::store::postgres::Locator::parse(&url)
        .unwrap()
        .forget_typed_password();
    let data_dir = tempfile::tempdir().unwrap();
    let mut window = common::window_on(Path::new(&url), data_dir.path().to_path_buf());
    window.get_by_label_contains("asks for the password of lead, database team on /");
    assert!(window.state().state().session.is_none());

    window.get_by_label("Password").type_text("not-it");
    window.run();
    common::press(&mut window, "Connect");
    window.run();
    window.get_by_label_contains("refused that password");
    assert!(window.state().state().session.is_none());

    window.get_by_label("Password").type_text("lead-pw");
    window.run();
    common::press(&mut window, "Connect");
    window.run();
    assert!(window.state().state().password_prompt.is_none());
    let session = window
        .state()
        .state()
        .session
        .as_ref()
        .expect("the project opened");
    assert_eq!(session.project.user(), Some("lead"));
    window.get_by_label_contains("online as lead");
    // Every later connection of this run finds it (the change listener is
    // one); no URL and no file carries it.
    assert_eq!(session.project.root(), Path::new(&url));
    drop(window);
    for entry in walk(data_dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("lead-pw"),
            "{} holds the password",
            entry.display()
        );
        assert!(
            !text.contains("not-it"),
            "{} holds a typed password",
            entry.display()
        );
    }
    let settings = std::fs::read_to_string(data_dir.path().join("settings.json")).unwrap();
    assert!(
        settings.contains("postgres://lead@localhost/team"),
        "{settings}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs loupe as a workstation that mounts the share at `mount` (`None`:
/// where `init` saw it).
fn on_workstation(mount: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loupe"));
    command.args(args);
    if let Some(mount) = mount {
        command
            .env("LOUPE_IMAGES_ROOT", mount)
            .env("LOUPE_FILES_ROOT", mount.join(".loupe"));
    }
    command.output().unwrap()
}

#[test]
fn two_workstations_paint_and_train_at_once_and_see_each_others_work() {
    let server = PostgresServer::start();
    let lead = server.database_for("team", "lead", "lead-pw");
    let share = tempfile::tempdir().unwrap();
    // The second workstation mounts the same share somewhere else.
    let elsewhere = tempfile::tempdir().unwrap();
    let mount = elsewhere.path().join("mnt-rop");
    std::os::unix::fs::symlink(share.path(), &mount).unwrap();
    let mut admin = loupe::store::postgres::init(
        &lead,
        &Schema::rop(),
        share.path(),
        &share.path().join(".loupe"),
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..12u8 {
        let path = share.path().join(format!("eye{i}.png"));
        image::GrayImage::from_fn(16, 16, |x, y| {
            image::Luma([(x as u8 * 9).wrapping_add(y as u8 * 3).wrapping_add(i * 20)])
        })
        .save(&path)
        .unwrap();
        match admin.add_item(&path, Pool::Unlabeled).unwrap() {
            loupe::store::AddOutcome::Added(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
        let stage = if i % 2 == 0 { "Normal" } else { "Stage 2" };
        admin
            .set_label(ids[i as usize], "lead", "stage", Some(stage))
            .unwrap();
        if i >= 8 {
            admin.set_test(ids[i as usize], true).unwrap();
        }
    }
    for name in ["ana", "ben"] {
        admin.create_user(name, Role::Annotator, "pw").unwrap();
    }
    let ana = server.url("ana", "pw", "team");
    let ben = server.url("ben", "pw", "team");
    let item = ids[0].to_string();

    // ana paints from both workstations at once, ben from the second: ten
    // one-voxel dabs each, on rows of their own.
    let strokes: Vec<(String, Option<std::path::PathBuf>, u32)> = vec![
        (ana.clone(), None, 0),
        (ana.clone(), Some(mount.clone()), 1),
        (ben.clone(), Some(mount.clone()), 2),
    ];
    let changed: Vec<usize> = std::thread::scope(|scope| {
        let painters: Vec<_> = strokes
            .iter()
            .map(|(url, mount, row)| {
                let item = item.clone();
                scope.spawn(move || {
                    (0..10)
                        .map(|x| {
                            let at = format!("{},{},0", x + 3, row * 4 + 2);
                            let out = on_workstation(
                                mount.as_deref(),
                                &[
                                    "paint",
                                    url,
                                    &item,
                                    "--at",
                                    &at,
                                    "--radius-mm",
                                    "0.5",
                                    "--json",
                                ],
                            );
                            assert!(out.status.success(), "{}", stderr(&out));
                            let json: serde_json::Value =
                                serde_json::from_slice(&out.stdout).unwrap();
                            json["changed_voxels"].as_u64().unwrap() as usize
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        painters.into_iter().map(|p| p.join().unwrap()).collect()
    });
    assert!(changed.iter().all(|&c| c >= 10), "{changed:?}");
    // Every stroke is in its painter's map, whichever workstation sent it;
    // the newest row names the file as it is.
    let case = loupe::volume::load(&share.path().join("eye0.png")).unwrap();
    let maps = admin.label_maps(ids[0]).unwrap();
    let voxels = |who: &str| {
        let record = maps.iter().find(|m| m.annotator == who).unwrap();
        let map = admin.read_label_map(record, &case).unwrap();
        let count = map.iter().filter(|&&v| v == 1).count();
        assert_eq!(
            record.labeled_voxels as usize, count,
            "{who}'s row and file differ"
        );
        count
    };
    assert_eq!(voxels("ana"), changed[0] + changed[1]);
    assert_eq!(voxels("ben"), changed[2]);
    assert_eq!(
        server.psql(
            "team",
            "SELECT count(*) FROM label_maps WHERE annotator = 'ana'"
        ),
        "20"
    );
    // The second workstation reads the same maps through its own mount.
    let out = on_workstation(
        Some(&mount),
        &["paint", &ben, &item, "--annotator", "ben", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("\"voxels\":{}", changed[2])),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Both workstations train at once: two runs, each whole, seen by both.
    let train = |mount: Option<std::path::PathBuf>| {
        let lead = lead.clone();
        std::thread::spawn(move || {
            on_workstation(
                mount.as_deref(),
                &[
                    "train",
                    &lead,
                    "--method",
                    "supervised",
                    "--epochs",
                    "1",
                    "--device",
                    "flex",
                    "--input-size",
                    "16",
                    "--width",
                    "4",
                    "--json",
                ],
            )
        })
    };
    // A window open on the project (its runs table) looks at the runs folder.
    let mut window_runs = loupe::app::training::Training::default();
    assert!(!window_runs.notice_runs_of_others(Path::new(&lead), true));
    let runs = [train(None), train(Some(mount.clone()))];
    for run in runs {
        let out = run.join().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let seen_here = loupe::train::runs::list(Path::new(&lead));
    assert_eq!(
        seen_here.len(),
        2,
        "{:?}",
        seen_here.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    assert_ne!(seen_here[0].id, seen_here[1].id);
    assert!(
        seen_here
            .iter()
            .all(|r| r.summary.is_some() && r.epochs.len() == 1)
    );
    let folders: Vec<_> = std::fs::read_dir(mount.join(".loupe/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    // A run made on one workstation is evaluated and predicted from on the
    // other (its checkpoint read through the other mount).
    for command in ["eval", "predict"] {
        let out = on_workstation(
            Some(&mount),
            &[
                command,
                &lead,
                "--run",
                &seen_here[0].id,
                "--device",
                "flex",
                "--json",
            ],
        );
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(json.is_object(), "{command}: {json}");
    }
    assert!(
        server
            .psql("team", "SELECT count(*) FROM predictions")
            .parse::<i64>()
            .unwrap()
            >= 4,
        "predictions stored for the test pool"
    );
    assert!(window_runs.notice_runs_of_others(Path::new(&lead), true));
    assert_eq!(window_runs.past_runs.len(), 2);
    // Nothing new since: the table is not read again.
    assert!(!window_runs.notice_runs_of_others(Path::new(&lead), true));
}
