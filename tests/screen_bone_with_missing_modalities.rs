//! A researcher screens the bone demo for osteoporosis (METHODS.md §4):
//! image classifiers on CT slices, a learned slice policy whose picks a
//! clinician can override, the tabular teacher, the multimodal baseline
//! and KDAMM with both teachers — from the command line — and explains
//! the fused model's record.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use egui_kittest::kittest::Queryable;
use loupe::store::Project;

/// A small bone demo: 40 cases, 32 slices of 16² each.
fn bone_demo(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("bone");
    common::run_ok(&[
        "demo",
        root.to_str().unwrap(),
        "--task",
        "bone",
        "--count",
        "40",
        "--size",
        "16",
        "--seed",
        "4",
        "--labeled-fraction",
        "0.6",
    ]);
    root
}

/// A one-epoch run at width 2 on 16-pixel slices.
fn train_json(root: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--epochs", "1", "--width", "2", "--input-size", "16"];
    all.extend_from_slice(args);
    common::train_json(root, &all)
}

fn run_of(value: &serde_json::Value) -> String {
    value["run"].as_str().unwrap().to_string()
}

/// The series names a run's metrics file recorded.
fn recorded_series(root: &Path, run: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("runs").join(run).join("metrics.jsonl")).unwrap();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|r| {
            r["series"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_bone_demo_has_its_missing_modalities_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let root = bone_demo(dir.path());
    let truth = std::fs::read_to_string(root.join("ground_truth.csv")).unwrap();
    let rows: Vec<Vec<&str>> = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 40);
    // case, osteoporosis, t_score, has_ct, has_labs, vertebra_slices, seed
    let no_ct = rows.iter().filter(|r| r[3] == "no").count();
    let no_labs = rows.iter().filter(|r| r[4] == "no").count();
    assert!(
        no_ct > 0 && no_labs > 0,
        "{no_ct} without CT, {no_labs} without labs"
    );
    assert!(
        rows.iter().all(|r| !(r[3] == "no" && r[4] == "no")),
        "never both missing"
    );
    let project = Project::open(&root).unwrap();
    let files = project.all_case_files().unwrap();
    let records = project.all_records().unwrap();
    let names = project.case_names().unwrap();
    for (id, name) in &names {
        let row = rows.iter().find(|r| r[0] == name).unwrap();
        assert_eq!(
            files.get(id).is_some_and(|f| f.contains_key("ct")),
            row[3] == "yes"
        );
        let record = &records[id];
        assert_eq!(record.contains_key("vitamin_d"), row[4] == "yes", "{name}");
        assert!(record.contains_key("age") && record.contains_key("sex"));
        assert!(record.len() <= 12);
    }
}

#[test]
fn slice_policy_kdamm_and_an_override_train_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = bone_demo(dir.path());
    // 1. An image classifier on random slices, and the tabular teacher.
    let random = train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--modality",
            "ct",
            "--slices",
            "random",
        ],
    );
    let tabular = train_json(&root, &["--method", "supervised", "--modality", "tabular"]);
    // 2. The slice policy on it: its curves and its picks for every case with a CT.
    let policy = train_json(
        &root,
        &["--method", "slice-policy", "--teacher", &run_of(&random)],
    );
    let policy_run = run_of(&policy);
    let series = recorded_series(&root, &policy_run);
    for name in [
        "policy/reward",
        "policy/entropy",
        "policy/baseline",
        "loss/total",
    ] {
        assert!(series.iter().any(|s| s == name), "{name} not in {series:?}");
    }
    let picks = loupe::train::slices::read_picks(&root.join("runs").join(&policy_run)).unwrap();
    let project = Project::open(&root).unwrap();
    let with_ct: BTreeMap<i64, String> = project
        .case_names()
        .unwrap()
        .into_iter()
        .filter(|(id, _)| {
            project
                .all_case_files()
                .unwrap()
                .get(id)
                .is_some_and(|f| f.contains_key("ct"))
        })
        .collect();
    assert_eq!(picks.len(), with_ct.len(), "one pick per case with a CT");
    for slices in picks.values() {
        assert_eq!(slices.len(), 3);
        assert!(
            slices.windows(2).all(|w| w[0] < w[1]) && slices[2] < 32,
            "{slices:?}"
        );
    }
    // 3. A clinician overrides one case; policy slices then read the override.
    let (&case, name) = with_ct.iter().next().unwrap();
    drop(project);
    let mut project = Project::open(&root).unwrap();
    project
        .set_slice_pick(case, "ct", "ana", Some(&[1, 2, 30]))
        .unwrap();
    let config = loupe::train::config::TrainConfig {
        modalities: vec!["ct".into()],
        input_size: 16,
        slices: Some(loupe::train::config::SliceConfig {
            selection: loupe::train::config::SliceSelection::Policy,
            policy: Some(policy_run.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let data =
        loupe::train::data::load_for(&project, &config, loupe::app::training::RASTERIZE).unwrap();
    let (pixels, shape) = [&data.labeled, &data.unlabeled, &data.test]
        .iter()
        .find_map(|images| {
            let k = images.ids.iter().position(|&id| id == case)?;
            let n = images.sample_len();
            Some((images.pixels[k * n..(k + 1) * n].to_vec(), images.shape))
        })
        .unwrap();
    assert_eq!(shape, [3, 16, 16]);
    let path = &project.all_case_files().unwrap()[&case]["ct"];
    let (_, series) = loupe::train::data::decode_series(path, 16).unwrap();
    assert_eq!(
        pixels,
        loupe::train::data::take_slices(&series, 16, &[1, 2, 30]),
        "case {name}"
    );
    drop(project);
    // 4. The image teacher on the policy's slices, the baseline, and KDAMM.
    let image = train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--modality",
            "ct",
            "--slices",
            "policy",
            "--policy",
            &policy_run,
        ],
    );
    let multimodal = train_json(
        &root,
        &[
            "--method",
            "multimodal",
            "--slices",
            "policy",
            "--policy",
            &policy_run,
        ],
    );
    assert!(multimodal["student"]["auc"].is_number());
    let teachers = format!("{},{}", run_of(&image), run_of(&tabular));
    let kdamm = train_json(
        &root,
        &[
            "--method",
            "kdamm",
            "--teachers",
            &teachers,
            "--slices",
            "policy",
            "--policy",
            &policy_run,
        ],
    );
    let kdamm_run = run_of(&kdamm);
    let series = recorded_series(&root, &kdamm_run);
    for name in ["loss/ce", "loss/kd_image", "loss/kd_tabular", "loss/total"] {
        assert!(series.iter().any(|s| s == name), "{name} not in {series:?}");
    }
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("runs").join(&kdamm_run).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["method"], "kdamm");
    assert_eq!(config["modalities"], serde_json::json!(["ct", "tabular"]));
    // Two teachers of one modality are refused by name.
    let same = format!("{},{}", run_of(&image), run_of(&random));
    let out = common::loupe(&[
        "train",
        root.to_str().unwrap(),
        "--device",
        "flex",
        "--epochs",
        "1",
        "--width",
        "2",
        "--input-size",
        "16",
        "--method",
        "kdamm",
        "--teachers",
        &same,
    ]);
    let refused = common::stderr(&out);
    assert!(
        !out.status.success() && refused.contains("both read slices"),
        "{refused}"
    );
    // 5. The fused model's record explained: local accuracy holds.
    let out = common::run_ok(&[
        "explain",
        root.to_str().unwrap(),
        "--run",
        &kdamm_run,
        "--item",
        name,
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let features = e["features"].as_array().unwrap();
    assert_eq!(
        features.len(),
        12,
        "the record's twelve columns are the players"
    );
    let sum: f64 = features.iter().map(|f| f["shap"].as_f64().unwrap()).sum();
    let gap = e["prediction"].as_f64().unwrap() - e["base"].as_f64().unwrap();
    assert!((sum - gap).abs() < 1e-4, "Σ SHAP {sum} vs f − E f {gap}");
}

/// Runs the window's configured training to its end; the names of the
/// series its steps reported to the window.
fn train_in_window(
    harness: &mut egui_kittest::Harness<'static, loupe::ui::LoupeApp>,
    epochs: usize,
) -> std::collections::BTreeSet<String> {
    use loupe::app::TrainingCommand;
    let mut short = harness.state().state().training.config.clone();
    short.epochs = epochs;
    short.width = 2;
    short.input_size = 16;
    harness
        .state_mut()
        .apply(TrainingCommand::SetConfig(Box::new(short)));
    harness.run();
    harness.get_by_label("Start").click();
    common::wait_for_training(harness, 3000);
    let run = harness.state().state().training.run.as_ref().unwrap();
    run.steps
        .iter()
        .flat_map(|(_, s)| s.keys().cloned())
        .collect()
}

#[test]
fn the_window_trains_the_slice_policy_and_kdamm_with_their_curves() {
    use loupe::train::config::InputKind;
    let dir = tempfile::tempdir().unwrap();
    let root = bone_demo(dir.path());
    let image = run_of(&train_json(
        &root,
        &[
            "--method",
            "supervised",
            "--modality",
            "ct",
            "--slices",
            "middle",
        ],
    ));
    let tabular = run_of(&train_json(
        &root,
        &["--method", "supervised", "--modality", "tabular"],
    ));
    let mut harness = common::window_on(&root, dir.path().join("data"));
    common::press(&mut harness, "Training");
    common::press(&mut harness, "CPU (flex)");
    // The slice policy: choosing it reads the series; its teacher is an image run.
    common::press(&mut harness, "CT slice policy (REINFORCE)");
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.method, loupe::train::methods::slice_policy::METHOD);
    assert_eq!(config.input_kind(), InputKind::Series("ct".into()));
    common::press(&mut harness, "Teacher run");
    common::press(&mut harness, image.as_str());
    assert_eq!(
        harness.state().state().training.config.teachers,
        std::slice::from_ref(&image)
    );
    let series = train_in_window(&mut harness, 1);
    assert!(
        series.contains("policy/reward") && series.contains("policy/entropy"),
        "{series:?}"
    );
    // Its picks reach the case panel and the viewer's slider marks.
    let picks = &harness
        .state()
        .state()
        .session
        .as_ref()
        .unwrap()
        .cases
        .slice_picks;
    assert!(!picks.is_empty() && picks.values().all(|p| p.slices.len() == 3 && !p.overridden));

    // KDAMM: slices and record, one teacher per kind.
    common::press(&mut harness, "KDAMM (distillation, missing modalities)");
    let config = harness.state().state().training.config.clone();
    assert_eq!(config.input_kind(), InputKind::Fusion("ct".into()));
    for (combo, run) in [
        ("Teacher run (slices)", &image),
        ("Teacher run (tabular)", &tabular),
    ] {
        common::press(&mut harness, combo);
        common::press(&mut harness, run.as_str());
    }
    assert_eq!(
        harness.state().state().training.config.teachers,
        [image.clone(), tabular.clone()]
    );
    let series = train_in_window(&mut harness, 1);
    for name in ["loss/ce", "loss/kd_image", "loss/kd_tabular"] {
        assert!(
            series.contains(name),
            "{name} never reached the window: {series:?}"
        );
    }
}
