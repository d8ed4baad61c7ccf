//! A clinician asks which answers of a questionnaire a model leans on: for
//! one case (Shapley values that add up to its prediction) and over the
//! test pool (permutation importance).

mod common;

#[test]
fn a_case_is_explained_by_its_record_and_the_values_add_up_to_its_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lung");
    let root_str = root.to_str().unwrap();
    common::run_ok(&[
        "demo",
        root_str,
        "--task",
        "lung",
        "--count",
        "40",
        "--size",
        "16",
        "--seed",
        "5",
        "--labeled-fraction",
        "0.6",
    ]);
    let trained = common::run_ok(&[
        "train",
        root_str,
        "--method",
        "supervised",
        "--modality",
        "tabular",
        "--epochs",
        "3",
        "--device",
        "flex",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(trained.lines().last().unwrap()).unwrap();
    let run = summary["run"].as_str().unwrap();

    // A test case: its explanation and the probability the run stored for it.
    let project = loupe::store::Project::open(&root).unwrap();
    let predictions = project.predictions().unwrap();
    let names = project.case_names().unwrap();
    let (id, name) = names
        .iter()
        .find(|(id, _)| project.item(**id).unwrap().pool == loupe::store::Pool::Test)
        .unwrap();
    let out = common::run_ok(&["explain", root_str, "--run", run, "--item", name, "--json"]);
    let e: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let features = e["features"].as_array().unwrap();
    let columns: Vec<&str> = features
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let schema = loupe::demo::lung_schema();
    let expected: Vec<&str> = schema.tabular.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        columns, expected,
        "one player per column, missing flags not players"
    );
    let sum: f64 = features.iter().map(|f| f["shap"].as_f64().unwrap()).sum();
    let (base, prediction) = (
        e["base"].as_f64().unwrap(),
        e["prediction"].as_f64().unwrap(),
    );
    assert!(
        (sum - (prediction - base)).abs() < 1e-5,
        "{sum} vs {}",
        prediction - base
    );
    // f is the probability of "yes" the run stored for this case.
    let stored = predictions[id].probabilities[1] as f64;
    assert!(
        (prediction - stored).abs() < 1e-5,
        "{prediction} vs {stored}"
    );
    let record = project.record(*id).unwrap();
    let smoking = features.iter().find(|f| f["name"] == "smoking").unwrap();
    assert_eq!(
        smoking["value"].as_str(),
        record.get("smoking").map(String::as_str)
    );

    // The global table: every column, importance with its spread.
    let out = common::run_ok(&[
        "explain",
        root_str,
        "--run",
        run,
        "--repeats",
        "3",
        "--json",
    ]);
    let table: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = table["features"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    // Mean |SHAP| is the mean over the test cases of their own explanations.
    let test_cases: Vec<&String> = names
        .iter()
        .filter(|(id, _)| {
            project.item(**id).unwrap().pool == loupe::store::Pool::Test
                && project.consensus(**id, "cancer").unwrap().is_some()
        })
        .map(|(_, name)| name)
        .collect();
    let mut abs_sum = vec![0.0; expected.len()];
    for name in &test_cases {
        let out = common::run_ok(&["explain", root_str, "--run", run, "--item", name, "--json"]);
        let e: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        for (sum, f) in abs_sum.iter_mut().zip(e["features"].as_array().unwrap()) {
            *sum += f["shap"].as_f64().unwrap().abs();
        }
    }
    for (row, sum) in rows.iter().zip(&abs_sum) {
        let mean = sum / test_cases.len() as f64;
        let reported = row["mean_abs_shap"].as_f64().unwrap();
        assert!(
            (reported - mean).abs() < 1e-6,
            "{}: {reported} vs {mean}",
            row["name"]
        );
        assert!(row["importance_mean"].is_number() && row["importance_sd"].is_number());
    }
    assert!(
        rows.iter()
            .any(|r| r["mean_abs_shap"].as_f64().unwrap() > 0.0),
        "a trained model leans on some column"
    );
}

#[test]
fn only_runs_on_the_record_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lung");
    let root_str = root.to_str().unwrap();
    common::run_ok(&[
        "demo", root_str, "--task", "lung", "--count", "24", "--size", "16",
    ]);
    let trained = common::run_ok(&[
        "train",
        root_str,
        "--method",
        "supervised",
        "--modality",
        "ct",
        "--input-size",
        "16",
        "--width",
        "2",
        "--epochs",
        "1",
        "--device",
        "flex",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(trained.lines().last().unwrap()).unwrap();
    let out = common::loupe(&[
        "explain",
        root_str,
        "--run",
        summary["run"].as_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("explanations are of runs on the tabular record"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn the_window_explains_the_selected_case_with_the_newest_tabular_run() {
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lung");
    let root_str = root.to_str().unwrap();
    common::run_ok(&[
        "demo", root_str, "--task", "lung", "--count", "24", "--size", "16",
    ]);
    common::run_ok(&[
        "train",
        root_str,
        "--method",
        "supervised",
        "--modality",
        "tabular",
        "--epochs",
        "2",
        "--device",
        "flex",
    ]);
    let mut harness = common::window_on(&root, dir.path().join("data"));
    harness.get_by_label("Explain").click();
    wait_for_the_explanation(&mut harness);
    let state = harness.state().state();
    let shown = state
        .explanations
        .shown
        .as_ref()
        .expect("an explanation arrived");
    assert_eq!(
        Some(shown.item_id),
        state.session.as_ref().unwrap().selected
    );
    assert_eq!(
        shown.columns.len(),
        loupe::demo::lung_schema().tabular.len()
    );
    let sum: f64 = shown.columns.iter().map(|c| c.1).sum();
    assert!((sum - (shown.prediction - shown.base)).abs() < 1e-5);
    harness.get_by_label_contains("= base");

    // Over the test pool: every column's importance, with its spread.
    harness.get_by_label("Importance").click();
    wait_for_the_explanation(&mut harness);
    let (run, columns) = harness
        .state()
        .state()
        .explanations
        .global
        .clone()
        .expect("importance arrived");
    assert!(run.ends_with("supervised"));
    assert_eq!(columns.len(), loupe::demo::lung_schema().tabular.len());
    assert!(
        columns
            .iter()
            .all(|c| c.importance_sd >= 0.0 && c.mean_abs_shap >= 0.0)
    );
    harness.get_by_label_contains("test pool: accuracy lost");
}

/// Draws frames until the window's explanation has arrived (at most about 10 s).
fn wait_for_the_explanation(harness: &mut egui_kittest::Harness<'static, loupe::ui::LoupeApp>) {
    for _ in 0..1000 {
        harness.step();
        if !harness.state().state().explanations.is_pending() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    harness.run();
}

#[test]
fn permutation_repeats_are_bounded() {
    for repeats in ["0", "1001"] {
        let out = common::loupe(&["explain", "nowhere", "--run", "r", "--repeats", repeats]);
        assert!(!out.status.success());
        let said = common::stderr(&out);
        assert!(
            said.contains("--repeats") && said.contains("1..=1000"),
            "{said}"
        );
    }
}
