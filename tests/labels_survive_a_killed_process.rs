//! Every label `loupe label --stdin` confirms with `ok` is on disk, even when
//! the process is killed (SIGKILL) at a random moment, many times over.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use loupe::store::{Pool, Project, Schema};
use loupe::synth::Rng;

#[test]
fn confirmed_labels_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let mut project = Project::create(&root, &Schema::rop()).unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        let file = root.join(format!("img{i}.png"));
        std::fs::write(&file, format!("fake image {i}")).unwrap();
        if let loupe::store::AddOutcome::Added(id) =
            project.add_item(&file, Pool::Unlabeled).unwrap()
        {
            ids.push(id);
        }
    }
    drop(project);

    let stages = ["Normal", "Stage 1", "Stage 2", "Stage 3"];
    let mut rng = Rng::new(11);
    // The last value each item was confirmed with.
    let mut confirmed: std::collections::BTreeMap<i64, String> = Default::default();
    for round in 0..12 {
        let mut child = common::spawn_label_stdin(&root, "ana", Stdio::null());
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // Send lines from a thread so the kill can land mid-write.
        let lines: Vec<(i64, String)> = (0..60)
            .map(|_| {
                let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
                (id, stages[(rng.next_u64() % 4) as usize].to_string())
            })
            .collect();
        let to_send = lines.clone();
        let writer = std::thread::spawn(move || {
            for (id, stage) in to_send {
                if writeln!(stdin, "{id} stage={stage}").is_err() {
                    break;
                }
            }
        });
        let kill_after = Duration::from_millis(20 + rng.next_u64() % 200);
        let reader = std::thread::spawn(move || {
            let mut oks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ok ") {
                    oks.push(id.parse::<i64>().unwrap());
                }
            }
            oks
        });
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let _ = writer.join();
        let oks = reader.join().unwrap();
        // `ok` lines answer input lines in order: the n-th ok confirms the n-th line.
        for (n, id) in oks.iter().enumerate() {
            assert_eq!(
                *id, lines[n].0,
                "round {round}: ok lines follow input order"
            );
            confirmed.insert(lines[n].0, lines[n].1.clone());
        }
        // Lines after the last `ok` may or may not have landed. An item sent
        // again there must hold its last confirmed value or one of the values
        // sent after it — never an older one, never nothing when it had one.
        let project = Project::open(&root).unwrap();
        let mut unconfirmed: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for (id, stage) in lines.iter().skip(oks.len()) {
            unconfirmed.entry(*id).or_default().push(stage.clone());
        }
        for (id, sent) in unconfirmed {
            let stored = project
                .current_labels(id)
                .unwrap()
                .get("ana")
                .and_then(|f| f.get("stage"))
                .cloned();
            let mut allowed: Vec<Option<String>> = sent.into_iter().map(Some).collect();
            allowed.push(confirmed.get(&id).cloned());
            assert!(
                allowed.contains(&stored),
                "round {round}: item {id} holds {stored:?}, allowed {allowed:?}"
            );
            if let Some(stage) = stored {
                confirmed.insert(id, stage);
            }
        }
    }
    assert!(
        !confirmed.is_empty(),
        "some labels were confirmed before the kills"
    );

    let output = common::loupe(&["export", root.to_str().unwrap(), "--format", "csv"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let rows = loupe::store::csv::parse(&common::stdout(&output)).unwrap();
    let header = &rows[0];
    let id_col = header.iter().position(|c| c == "id").unwrap();
    let stage_col = header.iter().position(|c| c == "stage").unwrap();
    for (id, stage) in &confirmed {
        let row = rows
            .iter()
            .find(|r| r[id_col] == id.to_string())
            .expect("item exported");
        assert_eq!(
            &row[stage_col], stage,
            "item {id}: confirmed label is in the export"
        );
    }
}

/// `loupe import --cases` killed at random moments: every case in the
/// project is whole (its record and label), never half-written, and the
/// project's own cases export imports back.
#[test]
fn a_killed_cases_import_leaves_whole_cases() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"name": "screening", "fields": [{"name": "cancer", "values": ["no", "yes"]}],
            "target": "cancer", "modalities": ["ct"],
            "tabular": [{"name": "age", "type": "number", "min": 18, "max": 110},
                        {"name": "smoking", "type": "category", "values": ["never", "former", "current"]},
                        {"name": "cough", "type": "yes-no"}]}"#,
    )
    .unwrap();
    let root = dir.path().join("project");
    let root_s = root.to_str().unwrap();
    common::run_ok(&[
        "project",
        "init",
        root_s,
        "--schema",
        schema.to_str().unwrap(),
    ]);
    let mut csv = String::from("case,ct,age,smoking,cough,cancer\n");
    for i in 0..400 {
        let ct = loupe::synth::phantom::ct_phantom(4, i);
        let file = dir.path().join(format!("ct{i}.nii"));
        loupe::volume::nifti::write_nifti1(&ct, &file).unwrap();
        let label = ["no", "yes"][i as usize % 2];
        csv.push_str(&format!(
            "c{i:03},ct{i}.nii,{},never,no,{label}\n",
            20 + i % 80
        ));
    }
    let cases = dir.path().join("cases.csv");
    std::fs::write(&cases, &csv).unwrap();
    let mut rng = Rng::new(5);
    let mut imported_before = 0;
    for round in 0..5 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
            .args([
                "import",
                root_s,
                "--cases",
                cases.to_str().unwrap(),
                "--annotator",
                "ana",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.next_u64() % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        let project = Project::open(&root).unwrap();
        let items = project.items().unwrap();
        for item in &items {
            let record = project.record(item.id).unwrap();
            assert_eq!(
                record.len(),
                3,
                "round {round}: item {} has {record:?}",
                item.id
            );
            assert_eq!(project.history(item.id).unwrap().len(), 1, "its label");
            assert_eq!(
                project.case(item.id).unwrap().unwrap().files.len(),
                1,
                "its CT"
            );
        }
        assert!(items.len() >= imported_before, "nothing lost");
        imported_before = items.len();
    }
    assert!(
        imported_before > 0,
        "some cases were imported before the kills"
    );
    // The project's own export imports back, changing nothing.
    let exported = common::run_ok(&["export", root_s, "--format", "cases"]);
    std::fs::write(&cases, &exported).unwrap();
    let again = common::run_ok(&["import", root_s, "--cases", cases.to_str().unwrap()]);
    assert!(again.contains("imported 0 cases"), "{again}");
}
