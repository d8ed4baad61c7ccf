//! ROP models at the eye level: a run on the screening demo trains on its
//! eyes' reference stages and reports eye-level metrics that the test
//! recomputes from the run's stored predictions and the graders' grades
//! (most severe gradable photograph; referral = max P(stage ≥ 3)); the
//! attention pooling and `loupe eval` report alike; eye labels are refused
//! where a project has no eyes; an infant's report holds its exams in order
//! and its photographs, escapes what users typed and is never overwritten
//! silently.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{loupe, run_ok, stderr, train_json, write_png};

/// A small screening demo: 14 infants (4 held out whole for testing).
fn demo(dir: &Path) -> PathBuf {
    let root = dir.join("screening");
    run_ok(&[
        "demo",
        root.to_str().unwrap(),
        "--task",
        "rop-exams",
        "--infants",
        "14",
        "--size",
        "48",
        "--seed",
        "5",
    ]);
    root
}

/// The stage's level: none 0, 1–3, 4A/4B 4, 5A–5C 5.
fn level(stage: &str) -> usize {
    match stage {
        "none" => 0,
        s => s[..1].parse().unwrap(),
    }
}

/// The e-ROP rule: zone I ROP, stage 3 or worse, or plus.
fn referral(zone: &str, stage: &str, plus: &str) -> bool {
    plus == "plus" || level(stage) >= 3 || (level(stage) > 0 && zone == "I")
}

/// Every test eye's reference (stage level, referral): the adjudicated
/// grade, else the graders' (who then agree on everything).
fn test_eye_truth(db: &rusqlite::Connection) -> BTreeMap<(i64, String), (usize, bool)> {
    let mut newest: BTreeMap<(i64, String, String), (String, String, String)> = BTreeMap::new();
    let mut rows = db
        .prepare(
            "SELECT exam_id, eye, annotator, COALESCE(zone, ''), stage, plus FROM eye_grades \
             ORDER BY id",
        )
        .unwrap();
    let grades = rows
        .query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?),
                (r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .unwrap();
    for g in grades {
        let (key, grade) = g.unwrap();
        newest.insert(key, grade);
    }
    let mut truth = BTreeMap::new();
    for ((exam, eye, annotator), (zone, stage, plus)) in &newest {
        let key = (*exam, eye.clone());
        let value = (level(stage), referral(zone, stage, plus));
        if annotator == "adjudicated" {
            truth.insert(key, value);
        } else {
            truth.entry(key).or_insert(value);
        }
    }
    truth
}

/// Mann–Whitney AUC (ties half).
fn auc(scores: &[(f64, bool)]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (p, _) in scores.iter().filter(|s| s.1) {
        for (q, _) in scores.iter().filter(|s| !s.1) {
            pairs += 1.0;
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

#[test]
fn an_eye_level_run_reports_what_its_predictions_roll_up_to() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let db = rusqlite::Connection::open(root.join("loupe.sqlite")).unwrap();
    // The test pool is whole infants.
    let mixed: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM (SELECT e.infant_id FROM exam_images m \
             JOIN exams e ON e.id = m.exam_id JOIN items i ON i.id = m.item_id \
             GROUP BY e.infant_id HAVING COUNT(DISTINCT i.pool = 'test') > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mixed, 0, "an infant on both sides of the test split");
    let summary = train_json(&root, &["--method", "supervised", "--epochs", "2"]);
    let eye = &summary["eye"];
    assert_eq!(eye["pooling"], "max");
    let run = summary["run"].as_str().unwrap();
    // Recompute from the stored test predictions of gradable photographs.
    let truth = test_eye_truth(&db);
    let mut rows = db
        .prepare(
            "SELECT m.exam_id, m.eye, p.probabilities FROM predictions p \
             JOIN exam_images m ON m.item_id = p.item_id JOIN items i ON i.id = p.item_id \
             WHERE p.run = ?1 AND i.pool = 'test' AND COALESCE(m.quality, '') != 'ungradable'",
        )
        .unwrap();
    let mut eyes: BTreeMap<(i64, String), (usize, f64)> = BTreeMap::new();
    let predictions = rows
        .query_map([run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap();
    for row in predictions {
        let (exam, which, text) = row.unwrap();
        let p: Vec<f64> = serde_json::from_str(&text).unwrap();
        let stage = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        let score: f64 = p[3..].iter().sum();
        let entry = eyes.entry((exam, which)).or_insert((0, 0.0));
        entry.0 = entry.0.max(stage);
        entry.1 = entry.1.max(score);
    }
    let scored: Vec<((usize, f64), (usize, bool))> = eyes
        .iter()
        .filter_map(|(key, &prediction)| Some((prediction, *truth.get(key)?)))
        .collect();
    assert!(scored.len() >= 10, "{} test eyes", scored.len());
    assert_eq!(eye["eyes"], scored.len());
    let referrals = scored.iter().filter(|(_, t)| t.1).count();
    assert_eq!(eye["referral_eyes"], referrals);
    let correct = scored.iter().filter(|(p, t)| p.0 == t.0).count();
    let accuracy = correct as f64 / scored.len() as f64;
    assert!((eye["accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-9);
    let ranked: Vec<(f64, bool)> = scored.iter().map(|(p, t)| (p.1, t.1)).collect();
    assert!(
        referrals > 0 && referrals < scored.len(),
        "{referrals} referrals"
    );
    {
        let expected = auc(&ranked);
        let got = eye["referral_auc"].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-6, "AUC {got} vs {expected}");
    }
    // `loupe eval` reports the same eyes of the saved run.
    let evaluated = run_ok(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        run,
        "--device",
        "flex",
        "--json",
    ]);
    let evaluated: serde_json::Value =
        serde_json::from_str(evaluated.lines().last().unwrap()).unwrap();
    assert_eq!(evaluated["eye"]["eyes"], eye["eyes"]);
    assert_eq!(evaluated["eye"]["accuracy"], eye["accuracy"]);
    // The attention pooling reports under its name, over the same eyes.
    let attention = train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--epochs",
            "1",
            "--eye-pooling",
            "attention",
        ],
    );
    assert_eq!(attention["eye"]["pooling"], "attention");
    assert_eq!(attention["eye"]["eyes"], eye["eyes"]);
    // `eval` refits the pooling on the same labeled photographs of the same
    // checkpoint: the same referral AUC.
    let attention_run = attention["run"].as_str().unwrap();
    let refit = run_ok(&[
        "eval",
        root.to_str().unwrap(),
        "--run",
        attention_run,
        "--device",
        "flex",
        "--json",
    ]);
    let refit: serde_json::Value = serde_json::from_str(refit.lines().last().unwrap()).unwrap();
    assert_eq!(refit["eye"]["pooling"], "attention");
    let (trained, evaluated) = (
        attention["eye"]["referral_auc"].as_f64().unwrap(),
        refit["eye"]["referral_auc"].as_f64().unwrap(),
    );
    assert!(
        (trained - evaluated).abs() < 1e-6,
        "{trained} vs {evaluated}"
    );
    // Image labels on this project: nothing is labeled, so nothing trains.
    let images = loupe(&[
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--epochs",
        "1",
        "--label-source",
        "images",
    ]);
    assert!(!images.status.success());
}

#[test]
fn eye_labels_are_refused_where_a_project_has_no_stage_target() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("thyroid");
    let r = root.to_str().unwrap();
    run_ok(&[
        "demo", r, "--task", "thyroid", "--count", "12", "--size", "32",
    ]);
    let out = loupe(&[
        "train",
        r,
        "--device",
        "flex",
        "--epochs",
        "1",
        "--label-source",
        "eyes",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("eye labels need a target field \"stage\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_infant_s_report_holds_its_exams_in_order_and_its_photographs() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path());
    let r = root.to_str().unwrap();
    let exams = std::fs::read_to_string(root.join("exams.csv")).unwrap();
    let rows: Vec<Vec<&str>> = exams
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let infant = rows[0][0];
    let mut dates: Vec<&str> = rows
        .iter()
        .filter(|r| r[0] == infant)
        .map(|r| r[1])
        .collect();
    dates.dedup();
    let photos = rows.iter().filter(|r| r[0] == infant).count();
    let out = dir.path().join("report.html");
    let o = out.to_str().unwrap();
    run_ok(&["report", r, "--infant", infant, "--out", o]);
    let html = std::fs::read_to_string(&out).unwrap();
    let at: Vec<usize> = dates
        .iter()
        .map(|d| html.find(&format!("Exam of {d}")).expect("every exam"))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "exams out of order");
    assert_eq!(html.matches("<img ").count(), photos);
    assert!(html.contains("@page { size: A4"));
    // Never overwritten silently; on purpose with --replace.
    let again = loupe(&["report", r, "--infant", infant, "--out", o]);
    assert!(!again.status.success() && stderr(&again).contains("exists"));
    run_ok(&["report", r, "--infant", infant, "--out", o, "--replace"]);
    let unknown = loupe(&["report", r, "--infant", "nobody", "--out", o, "--replace"]);
    assert!(stderr(&unknown).contains("no infant \"nobody\""));
}

#[test]
fn a_report_escapes_what_users_typed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let r = root.to_str().unwrap();
    run_ok(&["project", "init", r, "--schema", "rop-exam"]);
    write_png(&dir.path().join("cohort/a.png"), 40);
    let csv = dir.path().join("cohort/exams.csv");
    std::fs::write(
        &csv,
        "infant,exam_date,eye,field,path,quality\n\
         <script>x&y</script>,2026-02-20,OD,temporal,a.png,good\n",
    )
    .unwrap();
    run_ok(&["import", r, "--exams", csv.to_str().unwrap()]);
    run_ok(&[
        "grade",
        r,
        "<script>x&y</script>/2026-02-20/OD",
        "stage=1",
        "zone=II",
        "--annotator",
        "<b>dr</b>",
    ]);
    let out = dir.path().join("r.html");
    run_ok(&[
        "report",
        r,
        "--infant",
        "<script>x&y</script>",
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("&lt;script&gt;x&amp;y&lt;/script&gt;"));
    assert!(!html.contains("<script>") && !html.contains("<b>dr"));
    assert!(html.contains("&lt;b&gt;dr&lt;/b&gt;"));
}

#[test]
fn the_exam_view_opens_the_most_uncertain_eye_not_graded_yet() {
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let r = root.to_str().unwrap();
    run_ok(&["project", "init", r, "--schema", "rop-exam"]);
    for k in 0..5 {
        write_png(
            &dir.path().join(format!("cohort/img{k}.png")),
            20 + 10 * k as u8,
        );
    }
    let csv = dir.path().join("cohort/exams.csv");
    std::fs::write(
        &csv,
        "infant,exam_date,eye,field,path,quality\n\
         A,2026-02-20,OD,posterior pole,img0.png,good\n\
         A,2026-02-20,OD,temporal,img1.png,poor\n\
         A,2026-02-20,OS,posterior pole,img2.png,good\n\
         B,2026-03-01,OS,temporal,img3.png,good\n\
         B,2026-03-01,OD,temporal,img4.png,ungradable\n",
    )
    .unwrap();
    run_ok(&["import", r, "--exams", csv.to_str().unwrap()]);
    // Entropies: A/OD 0.3 and 0.4, A/OS 0.2, B/OS 0.6, B/OD's ungradable 1.5.
    let entropy = [0.3, 0.4, 0.2, 0.6, 1.5];
    let mut project = loupe::store::Project::open(&root).unwrap();
    let predictions: Vec<loupe::store::Prediction> = (0..5)
        .map(|k| loupe::store::Prediction {
            item_id: common::item_id(&root, &format!("img{k}.png")),
            run: "r".into(),
            probabilities: vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            entropy: entropy[k],
            mc_dropout_entropy: None,
            disagreement: None,
        })
        .collect();
    project.set_predictions(&predictions).unwrap();
    drop(project);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    // A screening project trains on its eye grades.
    assert_eq!(
        harness.state().state().training.config.label_source,
        loupe::train::eyes::LabelSource::Eyes
    );
    common::press(&mut harness, "Exams");
    common::press(&mut harness, "Most uncertain eye");
    // B's left eye (0.6); its right eye's 1.5 is an ungradable photograph.
    harness.get_by_label_contains("Infant B — exam of 2026-03-01");
    let active = |h: &egui_kittest::Harness<'static, loupe::ui::LoupeApp>| {
        let exams = &h.state().state().session.as_ref().unwrap().exams;
        (exams.selected, exams.active_eye)
    };
    assert_eq!(active(&harness), (Some(1), loupe::rop::exam::Eye::Left));
    // Once the grader has graded B/OS, the next is A/OD (its poor 0.4).
    let annotator = harness.state().state().settings.annotator.clone();
    run_ok(&[
        "grade",
        r,
        "B/2026-03-01/OS",
        "stage=none",
        "--annotator",
        &annotator,
    ]);
    drop(harness);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    common::press(&mut harness, "Exams");
    common::press(&mut harness, "Most uncertain eye");
    harness.get_by_label_contains("Infant A — exam of 2026-02-20");
    assert_eq!(active(&harness), (Some(0), loupe::rop::exam::Eye::Right));
}
