//! The window and the command line write to one project at the same time
//! without corruption or lost labels; bad input is refused whole, naming the line.

mod common;

use std::io::Write;
use std::process::Stdio;

use loupe::app::ProjectSession;
use loupe::store::{Pool, Project, Schema};

fn project_with_items(root: &std::path::Path, n: usize) -> Vec<i64> {
    let mut project = Project::create(root, &Schema::rop()).unwrap();
    (0..n)
        .map(|i| {
            let file = root.join(format!("img{i:03}.png"));
            std::fs::write(&file, format!("image {i}")).unwrap();
            match project.add_item(&file, Pool::Unlabeled).unwrap() {
                loupe::store::AddOutcome::Added(id) => id,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn window_and_two_cli_processes_label_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let ids = project_with_items(&root, 60);
    let stages = ["Normal", "Stage 1", "Stage 2", "Stage 3"];

    let mut children = Vec::new();
    for (n, annotator) in ["cli-a", "cli-b"].iter().enumerate() {
        let mut child = common::spawn_label_stdin(&root, annotator, Stdio::piped());
        let mut lines = String::new();
        for (k, id) in ids.iter().enumerate() {
            lines.push_str(&format!("{id} stage={} zone=II\n", stages[(k + n) % 4]));
        }
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
        children.push(child);
    }
    // Meanwhile the window's session labels every item too.
    let mut session = ProjectSession::open(&root).unwrap();
    for (k, id) in ids.iter().enumerate() {
        session
            .set_label(*id, "window", "stage", Some(stages[(k + 2) % 4]))
            .unwrap();
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).lines().count(),
            ids.len(),
            "every line confirmed"
        );
    }

    let project = Project::open(&root).unwrap();
    for (k, id) in ids.iter().enumerate() {
        let labels = project.current_labels(*id).unwrap();
        assert_eq!(labels["cli-a"]["stage"], stages[k % 4]);
        assert_eq!(labels["cli-b"]["stage"], stages[(k + 1) % 4]);
        assert_eq!(labels["window"]["stage"], stages[(k + 2) % 4]);
        assert_eq!(project.history(*id).unwrap().len(), 5, "2 + 2 + 1 entries");
    }
    let integrity: String = rusqlite::Connection::open(root.join("loupe.sqlite"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn bad_labels_are_refused_whole_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let ids = project_with_items(&root, 3);

    // stdin: the second line has a bad second assignment; its first must not land.
    let mut child = common::spawn_label_stdin(&root, "ana", Stdio::piped());
    let input = format!(
        "{} stage=Normal\n{} zone=I stage=Stage 8\n999 stage=Normal\n{} colour=red\n",
        ids[0], ids[1], ids[2]
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("ok {}", ids[0])
    );
    assert!(
        stderr.contains("line 2") && stderr.contains("\"Stage 8\" is not a value of \"stage\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3") && stderr.contains("no item \"999\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4") && stderr.contains("colour=red"),
        "{stderr}"
    );
    let project = Project::open(&root).unwrap();
    assert!(
        project.current_labels(ids[1]).unwrap().is_empty(),
        "nothing half-applied"
    );
    drop(project);

    // An import whose CSV has a bad value imports nothing.
    let images = dir.path().join("more");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("a.png"), "a").unwrap();
    std::fs::write(images.join("b.png"), "b").unwrap();
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "a.png,stage=Normal\nb.png,stage=Stage 12\n").unwrap();
    let output = common::loupe(&[
        "import",
        root.to_str().unwrap(),
        images.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("labels line 2"),
        "{}",
        common::stderr(&output)
    );
    assert_eq!(
        Project::open(&root).unwrap().items().unwrap().len(),
        3,
        "nothing imported"
    );
    std::fs::write(&labels, "a.png,stage=Normal\n\"b.png,stage=Stage 1\n").unwrap();
    let output = common::loupe(&[
        "import",
        root.to_str().unwrap(),
        images.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("line"),
        "{}",
        common::stderr(&output)
    );
}
