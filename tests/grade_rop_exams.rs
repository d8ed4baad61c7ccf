//! ROP screening graded as ophthalmologists grade it: a cohort of infants,
//! exams and eyes imported from an exams CSV (all or nothing, every bad row
//! named by line and column), exported back exactly, eyes graded from the
//! command line and standard input, and the eye grades exported with their
//! derived ETROP flags.

mod common;

use std::io::Write;
use std::path::Path;

use common::{loupe, run_ok, stderr, write_png};

const HEADER: &str =
    "infant,exam_date,eye,field,path,quality,ga_weeks,birth_weight_g,birth_date,sex,device";

/// A `rop-exam` project in `dir/p` and a cohort folder `dir/cohort` with
/// `count` distinct photographs `img0.png`….
fn setup(dir: &Path, count: usize) -> std::path::PathBuf {
    let root = dir.join("p");
    run_ok(&[
        "project",
        "init",
        root.to_str().unwrap(),
        "--schema",
        "rop-exam",
    ]);
    for k in 0..count {
        write_png(&dir.join(format!("cohort/img{k}.png")), 10 + k as u8);
    }
    root
}

/// Two infants: A born 2026-01-10 at 26+3 (two exams, both eyes), B with
/// no birth details (one exam, one eye).
fn cohort_csv() -> String {
    [
        HEADER,
        "A,2026-02-20,OD,posterior pole,img0.png,good,26+3,850,2026-01-10,F,RetCam 3",
        "A,2026-02-20,OD,temporal,img1.png,poor,26+3,850,2026-01-10,F,RetCam 3",
        "A,2026-02-20,OS,posterior pole,img2.png,adequate,26+3,850,2026-01-10,F,RetCam 3",
        "A,2026-03-06,OD,nasal,img3.png,good,26+3,850,2026-01-10,F,",
        "B,2026-03-01,OS,other,img4.png,,,,,,",
    ]
    .join("\n")
        + "\n"
}

/// [`setup`] with [`cohort_csv`] imported; the project's folder.
fn imported_cohort(dir: &Path) -> std::path::PathBuf {
    let root = setup(dir, 5);
    let csv = dir.join("cohort/exams.csv");
    std::fs::write(&csv, cohort_csv()).unwrap();
    assert!(import(&root, &csv).status.success());
    root
}

fn import(root: &Path, csv: &Path) -> std::process::Output {
    loupe(&[
        "import",
        root.to_str().unwrap(),
        "--exams",
        csv.to_str().unwrap(),
    ])
}

fn export(root: &Path, format: &str) -> String {
    run_ok(&["export", root.to_str().unwrap(), "--format", format])
}

#[test]
fn an_exams_csv_imports_whole_and_exports_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = setup(dir.path(), 5);
    let csv = dir.path().join("cohort/exams.csv");
    std::fs::write(&csv, cohort_csv()).unwrap();
    let out = import(&root, &csv);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("imported 5 exam images (5 new files"),
        "{said}"
    );
    assert!(said.contains("2 new infants, 3 new exams"), "{said}");
    // The export holds the same rows, with absolute paths, sorted by
    // infant, date, eye and field; importing it elsewhere and exporting
    // again gives the same text.
    let exported = export(&root, "exams");
    let cohort = std::fs::canonicalize(dir.path().join("cohort")).unwrap();
    let expected: String = cohort_csv()
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.splitn(6, ',').collect();
            if cells[0] == "infant" {
                return format!("{line}\n");
            }
            let path = cohort.join(cells[4]);
            format!(
                "{},{},{},{},{},{}\n",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                path.display(),
                cells[5]
            )
        })
        .collect();
    assert_eq!(exported, expected);
    let again = dir.path().join("again");
    run_ok(&[
        "project",
        "init",
        again.to_str().unwrap(),
        "--schema",
        "rop-exam",
    ]);
    let file = dir.path().join("exported.csv");
    std::fs::write(&file, &exported).unwrap();
    let out = import(&again, &file);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(export(&again, "exams"), exported);
    // Importing the same CSV again changes nothing.
    let out = import(&root, &csv);
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 unchanged"));
    assert_eq!(export(&root, "exams"), exported);
}

#[test]
fn bad_exam_rows_are_refused_by_line_and_column_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let root = setup(dir.path(), 3);
    let good = "A,2026-02-20,OD,posterior pole,img0.png,good,26+3,850,2026-01-10,F,";
    let cases = [
        (
            "A,2026-02-20,OS,temporal,missing.png,,26+3,850,2026-01-10,F,",
            "line 3, column path: no file",
        ),
        (
            "A,2026-02-20,OS,temporal,img0.png,,26+3,850,2026-01-10,F,",
            "line 3, column path:",
        ),
        (
            "A,2026-02-20,OU,temporal,img1.png,,26+3,850,2026-01-10,F,",
            "line 3, column eye: \"OU\" is not an eye",
        ),
        (
            "A,2026-02-20,OS,periphery,img1.png,,26+3,850,2026-01-10,F,",
            "line 3, column field: \"periphery\" is not a retinal field",
        ),
        (
            "C,2025-12-01,OS,nasal,img1.png,,26+3,850,2026-01-10,F,",
            "line 3, column exam_date: 2025-12-01 is before the birth date 2026-01-10",
        ),
        (
            // Born at 26+3 and examined 244 days later: 429 days, 61+2 weeks.
            "C,2026-09-11,OS,nasal,img1.png,,26+3,850,2026-01-10,F,",
            "line 3, column exam_date: postmenstrual age 61+2 weeks",
        ),
        (
            "C,2026-02-30,OS,nasal,img1.png,,,,,,",
            "line 3, column exam_date: 2026-02-30: month 2 of 2026 has no day 30",
        ),
        (
            "A,2026-02-20,OS,nasal,img1.png,,27,850,2026-01-10,F,",
            "line 3: infant \"A\" has other birth details",
        ),
        (
            "A,2026-02-20,OS,nasal,img1.png,blurry,26+3,850,2026-01-10,F,",
            "line 3, column quality: \"blurry\" is not an image quality",
        ),
    ];
    for (bad, expected) in cases {
        let csv = dir.path().join("cohort/bad.csv");
        std::fs::write(&csv, format!("{HEADER}\n{good}\n{bad}\n")).unwrap();
        let out = import(&root, &csv);
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(stderr(&out).contains(expected), "{bad}: {}", stderr(&out));
        assert_eq!(
            export(&root, "exams"),
            format!("{HEADER}\n"),
            "{bad}: nothing imported"
        );
    }
    // The same bytes under two names are one image: refused too.
    std::fs::copy(
        dir.path().join("cohort/img0.png"),
        dir.path().join("cohort/copy.png"),
    )
    .unwrap();
    let csv = dir.path().join("cohort/bad.csv");
    std::fs::write(
        &csv,
        format!("{HEADER}\n{good}\nA,2026-02-20,OS,nasal,copy.png,,26+3,850,2026-01-10,F,\n"),
    )
    .unwrap();
    let out = import(&root, &csv);
    assert!(
        stderr(&out).contains("holds the same image as line 2"),
        "{}",
        stderr(&out)
    );
    // A column the CSV should not have, and a required one missing.
    std::fs::write(&csv, "infant,exam_date,eye,field,path,colour\n").unwrap();
    assert!(stderr(&import(&root, &csv)).contains("column \"colour\" is not an exams column"));
    std::fs::write(&csv, "infant,exam_date,eye,path\n").unwrap();
    assert!(stderr(&import(&root, &csv)).contains("no column \"field\""));
    // An image already placed cannot move to another eye.
    std::fs::write(&csv, format!("{HEADER}\n{good}\n")).unwrap();
    assert!(import(&root, &csv).status.success());
    std::fs::write(
        &csv,
        format!("{HEADER}\nA,2026-02-20,OS,posterior pole,img0.png,good,26+3,850,2026-01-10,F,\n"),
    )
    .unwrap();
    let out = import(&root, &csv);
    assert!(
        stderr(&out).contains("already placed in another exam, eye"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eyes_are_graded_by_flag_and_stdin_and_export_their_etrop_flags() {
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let r = root.to_str().unwrap();
    // Zone I stage 3 without plus: Type 1.
    let said = run_ok(&[
        "grade",
        r,
        "A/2026-02-20/OD",
        "zone=I",
        "stage=3",
        "extent=1,2,3",
        "--annotator",
        "ana",
    ]);
    assert!(
        said.contains("type 1 yes, type 2 no, referral-warranted yes"),
        "{said}"
    );
    // Regraded: the newest counts, the first stays in the history.
    run_ok(&[
        "grade",
        r,
        "A/2026-02-20/OD",
        "zone=II",
        "stage=2",
        "extent=2,3",
        "plus=pre-plus",
        "--annotator",
        "ana",
    ]);
    // Refusals name the problem.
    for (args, expected) in [
        (
            vec!["A/2026-02-21/OD", "stage=1"],
            "no exam of infant \"A\" on 2026-02-21",
        ),
        (vec!["A/2026-02-20/OU", "stage=1"], "\"OU\" is not an eye"),
        (vec!["A/2026-02-20/OS", "stage=6"], "\"6\" is not a stage"),
        (vec!["A/2026-02-20/OS", "extent=3"], "needs a stage"),
        (
            vec!["A/2026-02-20/OS", "colour=red"],
            "not an eye-grade field",
        ),
    ] {
        let mut all = vec!["grade", r];
        all.extend(args.iter().copied());
        all.extend(["--annotator", "ana"]);
        let out = loupe(&all);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Standard input: `ok EYE` per durable grade, errors by line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["grade", r, "--annotator", "ben", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"A/2026-02-20/OD zone=II stage=3 extent=2,3,4 plus=plus\n\
              A/2026-02-20/OS zone=III stage=2 extent=9\n\
              B/2026-03-01/OS stage=9\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok A/2026-02-20/OD\nok A/2026-02-20/OS\n"
    );
    assert!(
        stderr(&out).contains("error line 3 (B/2026-03-01/OS)"),
        "{}",
        stderr(&out)
    );
    let grades = export(&root, "eye-grades");
    let rows: Vec<Vec<String>> = grades
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(
        rows[0].join(","),
        "infant,exam_date,eye,annotator,zone,notch,stage,extent,plus,arop,ungradable,type1,type2,\
         referral_warranted,graded_at,after_treatment"
    );
    // Extents hold commas: read the rows by the CSV's quoting instead.
    let parsed: Vec<Vec<String>> = csv_rows(&grades);
    let row = |eye: &str, annotator: &str| {
        parsed
            .iter()
            .find(|r| r[2] == eye && r[3] == annotator && r[0] == "A")
            .cloned()
            .unwrap_or_else(|| panic!("no row {eye} {annotator}: {grades}"))
    };
    // ana's newest: zone II stage 2 pre-plus — no flag at all.
    let ana = row("OD", "ana");
    assert_eq!(
        &ana[4..14],
        [
            "II", "no", "2", "2,3", "pre-plus", "no", "", "no", "no", "no"
        ]
    );
    // ben: zone II stage 3 with plus — Type 1, referral.
    let ben = row("OD", "ben");
    assert_eq!(
        &ben[4..14],
        [
            "II", "no", "3", "2,3,4", "plus", "no", "", "yes", "no", "yes"
        ]
    );
    // Zone III stage 2: nothing.
    assert_eq!(&row("OS", "ben")[11..14], ["no", "no", "no"]);
    assert_eq!(
        parsed.len(),
        4,
        "header + one row per eye and grader: {grades}"
    );
}

/// CSV rows by the csv crate's reading (quoted cells with commas).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn the_exam_view_grades_an_eye_and_shows_its_type_1_flag() {
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Exams").click();
    harness.run();
    // Born 2026-01-10 at 26+3, examined 41 days later: 32+2.
    harness
        .get_by_label_contains("2026-02-20 · PMA 32+2 · OD — · OS —")
        .click();
    harness.run();
    harness.get_by_label_contains("Infant A — exam of 2026-02-20");
    // The right eye's form comes first: zone I, then stage 3.
    harness.get_all_by_label("I").next().unwrap().click();
    harness.run();
    harness.get_all_by_label("3").next().unwrap().click();
    harness.run();
    let annotator = harness.state().state().settings.annotator.clone();
    let project = loupe::store::Project::open(&root).unwrap();
    let grades = project.eye_grades().unwrap();
    assert_eq!(grades.len(), 1, "{grades:?}");
    assert_eq!(grades[0].eye.to_string(), "A/2026-02-20/OD");
    assert_eq!(grades[0].annotator, annotator);
    assert_eq!(grades[0].grade.get("zone").unwrap(), "I");
    assert_eq!(grades[0].grade.get("stage").unwrap(), "3");
    // Zone I stage 3: Type 1, flagged in the form and on the timeline.
    harness.get_by_label_contains("Treat: ETROP Type 1: yes");
    harness.get_by_label_contains("OD 3 Type 1");
    // The history keeps the first click's grade (zone I, no stage).
    assert_eq!(project.eye_grade_history().unwrap().len(), 2);
    // The next exam of the same infant shows this grade as the previous one.
    harness.get_by_label("Next exam").click();
    harness.run();
    // Both eyes show their previous grade: the right eye's is ours.
    assert_eq!(
        harness
            .get_all_by_label_contains("Previous exam 2026-02-20:")
            .count(),
        2
    );
    harness.get_by_label_contains(&format!(
        "Previous exam 2026-02-20: {annotator}: zone I, stage 3, no plus"
    ));
}

#[test]
fn graders_agreement_is_computed_per_eye_field_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let r = root.to_str().unwrap();
    // Four eyes; ana and ben agree but on the second exam's right eye
    // (stage 3 against 2).
    for (annotator, late_stage) in [("ana", "3"), ("ben", "2")] {
        for (eye, grade) in [
            ("A/2026-02-20/OD", vec!["zone=II", "stage=1", "extent=9"]),
            ("A/2026-02-20/OS", vec!["zone=II", "stage=2", "extent=3"]),
            ("A/2026-03-06/OD", vec!["zone=II", "extent=9"]),
            ("B/2026-03-01/OS", vec![]),
        ] {
            let mut args = vec!["grade", r, eye];
            args.extend(grade);
            let stage = format!("stage={late_stage}");
            if eye == "A/2026-03-06/OD" {
                args.push(&stage);
            }
            args.extend(["--annotator", annotator]);
            run_ok(&args);
        }
    }
    let stats: serde_json::Value = serde_json::from_str(&run_ok(&["stats", r, "--json"])).unwrap();
    let field = |name: &str| {
        stats["eyes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == name)
            .cloned()
            .unwrap()
    };
    // Stages (none, 1, 2, 3) against (none, 1, 2, 2), quadratic weights by
    // hand: observed 1/4, expected 32/16 — kappa 1 − 0.25/2 = 0.875.
    let stage = field("stage");
    assert_eq!(stage["pairs"][0]["items"], 4);
    assert!((stage["pairs"][0]["kappa"].as_f64().unwrap() - 0.875).abs() < 1e-12);
    assert_eq!(
        stage["disagreements"],
        serde_json::json!(["A/2026-03-06/OD"])
    );
    // Referral-warranted: ana's stage 3 refers, ben's stage 2 does not;
    // agreement 3/4 is what chance gives (ben never refers): kappa 0.
    let referral = field("referral_warranted");
    assert_eq!(referral["pairs"][0]["kappa"].as_f64().unwrap(), 0.0);
    // Every eye in zone II where a zone is given: kappa undefined.
    let zone = field("zone");
    assert_eq!(zone["pairs"][0]["items"], 3);
    assert!(zone["pairs"][0]["kappa"].is_null());
    let text = run_ok(&["stats", r]);
    assert!(
        text.contains("eyes: stage: ana vs ben: quadratic-weighted kappa 0.875 over 4 eyes"),
        "{text}"
    );
}

#[test]
fn the_exam_view_grades_the_active_eye_with_hotkeys() {
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let mut harness = common::window_on(&root, dir.path().join("data"));
    use egui_kittest::kittest::Queryable;
    harness.get_by_label("Exams").click();
    harness.run();
    // The first exam opens with the window; L picks the left eye, then
    // stage 2, zone II, plus: ETROP Type 1.
    for key in [egui::Key::L, egui::Key::Num2, egui::Key::E, egui::Key::D] {
        harness.key_press(key);
        harness.run();
    }
    let project = loupe::store::Project::open(&root).unwrap();
    let grades = project.eye_grades().unwrap();
    assert_eq!(grades.len(), 1, "{grades:?}");
    assert_eq!(grades[0].eye.to_string(), "A/2026-02-20/OS");
    let g = &grades[0].grade;
    assert_eq!(
        [g.get("stage"), g.get("zone"), g.get("plus")].map(Option::unwrap),
        ["2", "II", "plus"]
    );
    assert_eq!(g.type1(), Some(true));
    assert_eq!(project.eye_grade_history().unwrap().len(), 3);
    // The image labels were not touched: the keys were the exam view's.
    assert!(project.all_current_labels().unwrap().is_empty());
    // → moves to the next exam.
    harness.key_press(egui::Key::ArrowRight);
    harness.run();
    harness.get_by_label_contains("Infant A — exam of 2026-03-06");
}

#[test]
fn a_disputed_eye_is_adjudicated_in_the_window_and_from_the_command_line() {
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let r = root.to_str().unwrap();
    let eye = "A/2026-02-20/OD";
    run_ok(&[
        "grade",
        r,
        eye,
        "zone=II",
        "stage=3",
        "extent=8,9",
        "plus=plus",
        "--annotator",
        "ana",
    ]);
    run_ok(&[
        "grade",
        r,
        eye,
        "zone=II",
        "stage=2",
        "extent=8,9",
        "--annotator",
        "ben",
    ]);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Exams").click();
    harness.run();
    harness.get_by_label("Graders disagree on stage, plus");
    harness.get_by_label("Adjudicate as ana").click();
    harness.run();
    harness.get_by_label("Adjudicated: zone II, stage 3 (8,9), plus");
    let project = loupe::store::Project::open(&root).unwrap();
    let adjudicated = |project: &loupe::store::Project| {
        project
            .eye_grades()
            .unwrap()
            .into_iter()
            .find(|g| g.annotator == "adjudicated")
            .map(|g| g.grade)
    };
    let settled = adjudicated(&project).expect("an adjudicated grade");
    assert_eq!(settled.get("stage").unwrap(), "3");
    assert_eq!(settled.type1(), Some(true));
    // The command line adjudicates too; the newest adjudication stands.
    let out = run_ok(&[
        "grade",
        r,
        eye,
        "zone=II",
        "stage=2",
        "extent=8,9",
        "--adjudicate",
    ]);
    assert!(out.contains("type 1 no"), "{out}");
    assert_eq!(adjudicated(&project).unwrap().get("stage").unwrap(), "2");
    // Not both a grader and the adjudicator at once.
    let both = loupe(&[
        "grade",
        r,
        eye,
        "stage=1",
        "--adjudicate",
        "--annotator",
        "ana",
    ]);
    assert!(!both.status.success());
    // The export carries the adjudication as its own annotator; agreement
    // stays between the graders (one pair, ana vs ben).
    let rows = csv_rows(&export(&root, "eye-grades"));
    let annotators: Vec<&str> = rows[1..].iter().map(|row| row[3].as_str()).collect();
    assert_eq!(annotators, ["adjudicated", "ana", "ben"]);
    let stats: serde_json::Value = serde_json::from_str(&run_ok(&["stats", r, "--json"])).unwrap();
    for field in stats["eyes"].as_array().unwrap() {
        assert_eq!(field["pairs"].as_array().unwrap().len(), 1, "{field}");
    }
}

#[test]
fn a_grader_marks_disc_and_fovea_on_the_posterior_pole_and_the_zones_are_kept() {
    use egui_kittest::kittest::Queryable;
    use loupe::app::LabelingCommand;
    use loupe::volume::slice::Plane;
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let pole = common::item_id(&root, "img0.png");
    let temporal = common::item_id(&root, "img1.png");
    let mut harness = common::window_on(&root, dir.path().join("data"));
    // With the exam view open (the viewer stays beside it, uncovered).
    harness.get_by_label("Exams").click();
    harness.run();
    harness.get_by_label("Screening exams");
    harness.state_mut().apply(LabelingCommand::SelectItem(pole));
    harness.run();
    let annotator = harness.state().state().settings.annotator.clone();
    assert_eq!(
        harness
            .state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .zones
            .as_ref()
            .unwrap()
            .marks,
        None
    );
    // Image pixel → screen point, as the view draws the 8×8 photograph now
    // (the side panel's width, and so the view, may change between clicks).
    let screen = |harness: &egui_kittest::Harness<'static, loupe::ui::LoupeApp>, x: f64, y: f64| {
        let rect = harness.state().view_rect(Plane::Axial).unwrap();
        let ppp = harness.ctx.pixels_per_point();
        let size_px = [
            (rect.width() * ppp).round() as f64,
            (rect.height() * ppp).round() as f64,
        ];
        let document = harness.state().state().document.as_ref().unwrap();
        let px = document
            .geometry(Plane::Axial, size_px)
            .pixel_at([x, y, 0.0]);
        rect.min + egui::vec2(px[0] as f32 / ppp, px[1] as f32 / ppp)
    };
    harness.get_by_label("Mark disc and fovea").click();
    harness.run();
    harness.get_by_label("Click the centre of the optic disc");
    // Disc centre, foveal centre 3 px to its right, the disc's edge 1 px below it.
    for (x, y) in [(2.0, 3.0), (5.0, 3.0), (2.0, 4.0)] {
        let at = screen(&harness, x, y);
        harness.hover_at(at);
        harness.run_steps(1);
        harness.drag_at(at);
        harness.run_steps(1);
        harness.drop_at(at);
        harness.run_steps(30);
    }
    let stored = loupe::store::Project::open(&root)
        .unwrap()
        .zone_marks(pole, &annotator)
        .unwrap()
        .expect("marks saved");
    let near = |a: f64, b: f64| (a - b).abs() < 0.02;
    assert!(
        near(stored.disc_centre.x, 2.0) && near(stored.disc_centre.y, 3.0),
        "{stored:?}"
    );
    assert!(
        near(stored.fovea_centre.x, 5.0) && near(stored.fovea_centre.y, 3.0),
        "{stored:?}"
    );
    assert!(near(stored.disc_diameter_px.unwrap(), 2.0), "{stored:?}");
    // Zone I: twice the disc–fovea distance; posterior II two diameters beyond.
    let circles = stored.circles().unwrap();
    assert!(
        near(circles.zone1_radius_px, 6.0)
            && near(circles.posterior_zone2_radius_px.unwrap(), 10.0)
    );
    harness.get_by_label("disc–fovea 3.0 px, zone I radius 6.0 px");
    // Z hides and shows the zones.
    let shown = |h: &egui_kittest::Harness<'static, loupe::ui::LoupeApp>| {
        h.state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .zones
            .as_ref()
            .unwrap()
            .shown
    };
    harness.key_press(egui::Key::Z);
    harness.run();
    assert!(!shown(&harness));
    harness.key_press(egui::Key::Z);
    harness.run();
    assert!(shown(&harness));
    // A temporal field has no zone overlay; back on the pole the marks are read again.
    harness
        .state_mut()
        .apply(LabelingCommand::SelectItem(temporal));
    harness.run();
    assert!(
        harness
            .state()
            .state()
            .document
            .as_ref()
            .unwrap()
            .zones
            .is_none()
    );
    harness.state_mut().apply(LabelingCommand::SelectItem(pole));
    harness.run();
    let overlay = harness
        .state()
        .state()
        .document
        .as_ref()
        .unwrap()
        .zones
        .clone()
        .unwrap();
    assert_eq!(overlay.marks, Some(stored));
    // Another grader's marks are their own.
    assert_eq!(
        loupe::store::Project::open(&root)
            .unwrap()
            .zone_marks(pole, "someone else")
            .unwrap(),
        None
    );
}

#[test]
fn the_screening_demo_writes_a_cohort_its_eye_truth_and_two_graders() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |name: &str| {
        let root = dir.path().join(name);
        let r = root.to_str().unwrap().to_string();
        run_ok(&[
            "demo",
            &r,
            "--task",
            "rop-exams",
            "--infants",
            "6",
            "--size",
            "32",
            "--seed",
            "3",
        ]);
        root
    };
    let root = demo("a");
    let rows = csv_rows(&std::fs::read_to_string(root.join("exams.csv")).unwrap());
    assert_eq!(rows[0].join(","), HEADER);
    let project = loupe::store::Project::open(&root).unwrap();
    assert_eq!(project.items().unwrap().len(), rows.len() - 1);
    // Every eye: 3–5 fields, the posterior pole and temporal among them.
    let mut eyes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for row in &rows[1..] {
        eyes.entry(format!("{}/{}/{}", row[0], row[1], row[2]))
            .or_default()
            .push(row[3].clone());
    }
    for (eye, fields) in &eyes {
        assert!((3..=5).contains(&fields.len()), "{eye}: {fields:?}");
        assert!(fields.contains(&"posterior pole".to_string()), "{eye}");
        assert!(fields.contains(&"temporal".to_string()), "{eye}");
    }
    // One truth row per eye; its flags are the ETROP rules applied to it.
    let truth = csv_rows(&std::fs::read_to_string(root.join("ground_truth_eyes.csv")).unwrap());
    assert_eq!(
        truth[0].join(","),
        "infant,exam_date,eye,zone,stage,extent,plus,type1,type2,referral_warranted"
    );
    assert_eq!(truth.len() - 1, eyes.len());
    // This cohort (seed 3) holds Type 1 and Type 2 eyes, so a swapped flag shows.
    for column in [7, 8] {
        assert!(
            truth[1..].iter().any(|row| row[column] == "yes"),
            "column {column}"
        );
    }
    for row in &truth[1..] {
        assert!(eyes.contains_key(&format!("{}/{}/{}", row[0], row[1], row[2])));
        let mut grade = loupe::rop::grade::EyeGrade::default();
        for (k, field) in ["zone", "stage", "extent", "plus"].iter().enumerate() {
            grade.set(field, &row[3 + k]).unwrap();
        }
        let flag = |f: Option<bool>| loupe::rop::grade::flag_text(f).to_string();
        assert_eq!(
            [&row[7], &row[8], &row[9]].map(String::as_str),
            [
                flag(grade.type1()),
                flag(grade.type2()),
                flag(grade.referral_warranted())
            ]
            .each_ref()
            .map(String::as_str),
            "{row:?}"
        );
    }
    // Two graders, some eyes graded by both; the reading panel's
    // adjudications only in the test pool, and only where graders differ.
    let grades = project.eye_grades().unwrap();
    assert!(!grades.is_empty());
    assert!(
        grades
            .iter()
            .all(|g| ["grader-a", "grader-b", "adjudicated"].contains(&g.annotator.as_str()))
    );
    let places = project.exam_images().unwrap();
    let test_eyes: std::collections::BTreeSet<_> = project
        .items()
        .unwrap()
        .iter()
        .filter(|i| i.pool == loupe::store::Pool::Test)
        .map(|i| places[&i.id].0.clone())
        .collect();
    assert!(!test_eyes.is_empty());
    for eye in &test_eyes {
        let of = |who: &str| grades.iter().find(|g| &g.eye == eye && g.annotator == who);
        let (a, b) = (of("grader-a").unwrap(), of("grader-b").unwrap());
        assert_eq!(of("adjudicated").is_some(), a.grade != b.grade, "{eye}");
    }
    assert!(
        grades
            .iter()
            .filter(|g| g.annotator == "adjudicated")
            .all(|g| test_eyes.contains(&g.eye))
    );
    let both = grades
        .iter()
        .filter(|g| g.annotator == "grader-a")
        .filter(|a| {
            grades
                .iter()
                .any(|b| b.annotator == "grader-b" && b.eye == a.eye)
        })
        .count();
    assert!(both > 0);
    // Importing the demo's own CSV again changes nothing.
    let again = import(&root, &root.join("exams.csv"));
    assert!(again.status.success(), "{}", stderr(&again));
    // The same seed writes the same cohort, byte for byte.
    let other = demo("b");
    for name in ["exams.csv", "ground_truth_eyes.csv", &rows[1][4]] {
        assert_eq!(
            std::fs::read(root.join(name)).unwrap(),
            std::fs::read(other.join(name)).unwrap(),
            "{name}"
        );
    }
    // Counts are infants here, and bounded.
    let r = dir.path().join("c");
    let r = r.to_str().unwrap();
    let counted = loupe(&["demo", r, "--task", "rop-exams", "--count", "5"]);
    assert!(
        stderr(&counted).contains("--infants"),
        "{}",
        stderr(&counted)
    );
    let none = loupe(&["demo", r, "--task", "rop-exams", "--infants", "0"]);
    assert!(
        stderr(&none).contains("--infants 0 must be between 1 and 1000"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn zone_marks_are_set_from_the_command_line_and_exported_with_their_circles() {
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let r = root.to_str().unwrap();
    let pole = common::item_id(&root, "img0.png").to_string();
    let out = run_ok(&[
        "zones",
        r,
        &pole,
        "--disc",
        "2,3",
        "--fovea",
        "5,3",
        "--disc-diameter",
        "2",
        "--annotator",
        "ben",
    ]);
    assert!(
        out.contains("zone I radius 6.0 px, posterior zone II radius 10.0 px"),
        "{out}"
    );
    run_ok(&[
        "zones",
        r,
        &pole,
        "--disc",
        "1.5,1",
        "--fovea",
        "1.5,5",
        "--annotator",
        "ana",
    ]);
    let rows = csv_rows(&export(&root, "zone-marks"));
    assert_eq!(
        rows[0].join(","),
        "path,annotator,disc_x,disc_y,fovea_x,fovea_y,disc_diameter_px,zone1_radius_px,posterior_zone2_radius_px,marked_at"
    );
    let cells: Vec<&[String]> = rows[1..].iter().map(|row| &row[1..9]).collect();
    assert_eq!(
        cells,
        [
            ["ana", "1.50", "1.00", "1.50", "5.00", "", "8.00", ""]
                .map(String::from)
                .as_slice(),
            [
                "ben", "2.00", "3.00", "5.00", "3.00", "2.00", "6.00", "10.00"
            ]
            .map(String::from)
            .as_slice(),
        ]
    );
    // Cleared marks leave the export; bad points are named.
    run_ok(&["zones", r, &pole, "--clear", "--annotator", "ana"]);
    assert_eq!(csv_rows(&export(&root, "zone-marks")).len(), 2);
    let bad = loupe(&[
        "zones",
        r,
        &pole,
        "--disc",
        "2",
        "--fovea",
        "5,3",
        "--annotator",
        "ana",
    ]);
    assert!(
        stderr(&bad).contains("--disc \"2\" is not X,Y in pixels"),
        "{}",
        stderr(&bad)
    );
    let same = loupe(&[
        "zones",
        r,
        &pole,
        "--disc",
        "2,3",
        "--fovea",
        "2,3",
        "--annotator",
        "ana",
    ]);
    assert!(
        stderr(&same).contains("at least a pixel apart"),
        "{}",
        stderr(&same)
    );
}

#[test]
fn dicom_photographs_are_grouped_into_exams_by_patient_date_and_laterality() {
    let dir = tempfile::tempdir().unwrap();
    let root = setup(dir.path(), 0);
    let photos = dir.path().join("archive");
    std::fs::create_dir_all(&photos).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom/screening");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, photos.join(path.file_name().unwrap())).unwrap();
    }
    let r = root.to_str().unwrap();
    let out = run_ok(&["import", r, photos.to_str().unwrap()]);
    assert!(
        out.contains("placed 4 DICOM photographs in their exams"),
        "{out}"
    );
    assert!(
        out.contains("no_laterality.dcm: laterality \"\" is neither R nor L"),
        "{out}"
    );
    assert!(
        out.contains("bad_date.dcm: StudyDate \"2026-02-20\" is not a date as YYYYMMDD"),
        "{out}"
    );
    let rows = csv_rows(&export(&root, "exams"));
    let placed: Vec<String> = rows[1..]
        .iter()
        .map(|row| {
            let file = Path::new(&row[4])
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            format!("{} {} {} {} {file}", row[0], row[1], row[2], row[3])
        })
        .collect();
    assert_eq!(
        placed,
        [
            "ROP-7 2026-02-20 OD other rop7_0220_od_a.dcm",
            "ROP-7 2026-02-20 OD other rop7_0220_od_b.dcm",
            "ROP-7 2026-02-20 OS other rop7_0220_os.dcm",
            "ROP-7 2026-03-06 OD other rop7_0306_od.dcm",
        ]
    );
    // All six are items; importing again places nothing twice.
    let project = loupe::store::Project::open(&root).unwrap();
    assert_eq!(project.items().unwrap().len(), 6);
    let again = run_ok(&["import", r, photos.to_str().unwrap()]);
    assert!(!again.contains("in their exams"), "{again}");
    assert_eq!(csv_rows(&export(&root, "exams")).len(), 5);
    // A project that does not grade exams imports them as plain images.
    let plain = dir.path().join("plain");
    run_ok(&[
        "project",
        "init",
        plain.to_str().unwrap(),
        "--schema",
        "rop",
    ]);
    let out = run_ok(&["import", plain.to_str().unwrap(), photos.to_str().unwrap()]);
    assert!(!out.contains("exam"), "{out}");
}

#[test]
fn agreement_opens_with_one_click_and_closes_with_the_next() {
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let root = imported_cohort(dir.path());
    let r = root.to_str().unwrap();
    for annotator in ["ana", "ben"] {
        run_ok(&[
            "grade",
            r,
            "A/2026-02-20/OD",
            "stage=1",
            "zone=II",
            "extent=9",
            "--annotator",
            annotator,
        ]);
    }
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Agreement").click();
    harness.run();
    // One click shows the figures, no header to expand first.
    harness.get_by_label("Agreement between annotators");
    harness.get_by_label_contains("eyes, stage: ana vs ben");
    harness.get_by_label("Agreement").click();
    harness.run();
    assert!(
        harness
            .query_by_label("Agreement between annotators")
            .is_none()
    );
}

#[test]
fn an_exams_import_holds_out_whole_infants_as_its_test_pool() {
    let dir = tempfile::tempdir().unwrap();
    let root = setup(dir.path(), 5);
    let csv = dir.path().join("cohort/exams.csv");
    std::fs::write(&csv, cohort_csv()).unwrap();
    let r = root.to_str().unwrap();
    let c = csv.to_str().unwrap();
    let refused = loupe(&["import", r, "--exams", c, "--test-fraction", "0.9"]);
    assert!(stderr(&refused).contains("--test-fraction 0.9 must be between"));
    let out = run_ok(&[
        "import",
        r,
        "--exams",
        c,
        "--test-fraction",
        "0.5",
        "--seed",
        "4",
    ]);
    // Half of two infants: one, whole (A has four photographs, B one).
    let project = loupe::store::Project::open(&root).unwrap();
    let places = project.exam_images().unwrap();
    let items = project.items().unwrap();
    let tested: std::collections::BTreeSet<String> = items
        .iter()
        .filter(|i| i.pool == loupe::store::Pool::Test)
        .map(|i| places[&i.id].0.infant.clone())
        .collect();
    assert_eq!(tested.len(), 1, "{out}");
    let infant = tested.first().unwrap();
    let photos = places.values().filter(|p| &p.0.infant == infant).count();
    let test_items = items
        .iter()
        .filter(|i| i.pool == loupe::store::Pool::Test)
        .count();
    assert_eq!(test_items, photos);
    assert!(
        out.contains(&format!("held out 1 infants ({photos} photographs)")),
        "{out}"
    );
}
