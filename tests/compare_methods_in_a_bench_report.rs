//! A researcher compares a method with its controls: a seeded bench gives
//! every run's figures, each arm's mean ± sd and the paired difference of
//! an arm and its baseline with a 95 % interval (`--json` for scripts), and
//! `--report DIR` writes a page with the tables and plots a browser opens.

mod common;

use std::collections::BTreeMap;

/// Runs per (demo seed, training seed) of an arm's metric, from the JSON.
fn runs_of(value: &serde_json::Value, arm: &str, metric: &str) -> BTreeMap<(u64, u64), f64> {
    let arm = value["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .find(|a| a["arm"] == arm)
        .unwrap_or_else(|| panic!("no arm {arm}"));
    arm["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| {
            let pairing = &run["pairing"];
            (
                (
                    pairing["demo_seed"].as_u64().expect("demo seed"),
                    pairing["training_seed"].as_u64().expect("training seed"),
                ),
                run["values"][metric].as_f64().expect("value"),
            )
        })
        .collect()
}

#[test]
fn the_thyroid_bench_pairs_the_dilation_with_its_control_and_writes_a_report() {
    let scratch = std::env::temp_dir().join(format!("loupe-bench-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let report = scratch.join("report");
    let report_arg = report.to_str().expect("utf-8 path");
    let dir = scratch.join("runs");
    let out = common::run_ok(&[
        "bench",
        "thyroid",
        "--count",
        "40",
        "--image-size",
        "64",
        "--input-sizes",
        "32",
        "--seeds",
        "1,2,3",
        "--epochs",
        "2",
        "--arms",
        "xception,xception+dilated,xception+strided",
        "--jobs",
        "2",
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--json",
        "--report",
        report_arg,
    ]);
    let value: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("a JSON line")).expect("JSON");
    assert_eq!(value["bench"], "thyroid");
    // Each arm ran every seed on the one demo.
    let dilated = runs_of(&value, "32 px · xception+dilated", "f1");
    let strided = runs_of(&value, "32 px · xception+strided", "f1");
    let keys: Vec<(u64, u64)> = dilated.keys().copied().collect();
    assert_eq!(keys, [(1, 1), (1, 2), (1, 3)]);
    assert_eq!(strided.len(), 3);
    // The paired difference is the mean of the per-seed differences, and
    // its interval is mean ± t(2) · sd / √3, recomputed from the runs.
    let differences: Vec<f64> = keys.iter().map(|k| dilated[k] - strided[k]).collect();
    let mean = differences.iter().sum::<f64>() / 3.0;
    let sd = (differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let paired = value["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .find(|p| {
            p["arm"] == "32 px · xception+dilated" && p["baseline"] == "32 px · xception+strided"
        })
        .expect("the dilation against its control");
    let f1 = &paired["difference"]["f1"];
    assert_eq!(f1["pairs"], 3);
    assert!(
        (f1["mean"].as_f64().expect("mean") - mean).abs() < 1e-9,
        "{f1}"
    );
    let half = 4.303 * sd / 3f64.sqrt();
    if sd > 0.0 {
        assert!(
            (f1["ci95_high"].as_f64().expect("high") - (mean + half)).abs() < 1e-9,
            "{f1}"
        );
    }
    // Only the comparisons whose two arms ran.
    let comparisons: Vec<(&str, &str)> = value["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .map(|p| {
            (
                p["arm"].as_str().expect("arm"),
                p["baseline"].as_str().expect("baseline"),
            )
        })
        .collect();
    assert_eq!(
        comparisons,
        [
            ("32 px · xception+dilated", "32 px · xception"),
            ("32 px · xception+dilated", "32 px · xception+strided"),
        ]
    );

    // The report: the page with its tables and plots inline, the SVGs
    // beside it, and the folder's index.
    let page = std::fs::read_to_string(report.join("thyroid.html")).expect("the page");
    assert!(page.contains("<h2>Paired differences</h2>"));
    assert!(page.contains("xception+dilated − xception+strided"));
    for metric in ["accuracy", "f1"] {
        for kind in ["runs", "paired", "curve"] {
            let name = format!("thyroid-{metric}-{kind}.svg");
            let svg = std::fs::read_to_string(report.join(&name)).expect(&name);
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(
                page.contains(&format!("id=\"{name}\"")),
                "{name} not on the page"
            );
        }
    }
    // Seconds a run are tabled, not plotted.
    assert!(!report.join("thyroid-seconds-runs.svg").exists());
    let index = std::fs::read_to_string(report.join("index.html")).expect("index");
    assert!(index.contains("href=\"thyroid.html\""));
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_bench_report_goes_only_where_it_is_told_and_says_what_it_wrote() {
    let scratch =
        std::env::temp_dir().join(format!("loupe-bench-report-kd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let report = scratch.join("report");
    let out = common::loupe(&[
        "bench",
        "kd",
        "--seeds",
        "1,2",
        "--count",
        "80",
        "--edge",
        "24",
        "--teacher-epochs",
        "2",
        "--student-epochs",
        "3",
        "--labeled-fractions",
        "0.1,0.25",
        "--dir",
        scratch.join("runs").to_str().expect("utf-8 path"),
        "--report",
        report.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    // The tables: every arm at both fractions, then the paired table whose
    // rows say their shared fraction once.
    assert!(text.contains("10 % · no KD"), "{text}");
    assert!(text.contains("25 % · PKT + grad ratio − no KD"), "{text}");
    assert!(text.contains("wall time"), "{text}");
    assert!(common::stderr(&out).contains("kd.html"));
    let mut written: Vec<String> = std::fs::read_dir(&report)
        .expect("the report folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    written.sort();
    // Three compared metrics × three plots, the page, its JSON and the
    // index: nothing else.
    assert_eq!(written.len(), 12, "{written:?}");
    assert!(written.contains(&"kd.json".to_string()));
    assert!(written.contains(&"kd-auc-curve.svg".to_string()));
    let _ = std::fs::remove_dir_all(&scratch);
}
