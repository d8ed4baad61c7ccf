//! A researcher asks where a CPU training step goes: `loupe bench profile`
//! names each op kind with its time, on Loupe's kernels and, with
//! `--burn-kernels`, on Burn's, and `loupe bench training` each phase of the
//! trainer's step, in JSON shapes a script can read.

mod common;

fn profile(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench",
        "profile",
        "--input-size",
        "32",
        "--width",
        "4",
        "--batch",
        "2",
        "--repeats",
        "1",
        "--threads",
        "1",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = common::run_ok(&args);
    serde_json::from_str(out.lines().last().expect("a JSON line")).expect("JSON")
}

#[test]
fn the_profile_names_every_op_on_either_kernels() {
    for (extra, kernels) in [(&[][..], "loupe"), (&["--burn-kernels"][..], "burn")] {
        let value = profile(extra);
        assert_eq!(value["kernels"], kernels);
        assert_eq!(value["threads"], 1);
        assert_eq!(value["batch"], 2);
        let ops: Vec<&str> = value["ops"]
            .as_array()
            .expect("ops")
            .iter()
            .map(|op| op["op"].as_str().expect("op name"))
            .collect();
        assert_eq!(
            ops,
            [
                "convolution forward",
                "convolution backward",
                "group norm forward",
                "group norm backward",
                "ReLU / residual sum, fwd + bwd",
                "augmentation",
                "Adam update (all parameters)",
            ]
        );
        // Stem, 16 block convolutions and 3 projections; a norm after each.
        assert_eq!(value["ops"][0]["count"], 20);
        assert_eq!(value["ops"][2]["count"], 20);
        assert!(value["step_ms"].as_f64().expect("step") > 0.0);
        let rates = &value["conv3x3_64_16x32x32_forward_gflops"];
        assert!(rates["burn"].as_f64().expect("Burn's rate") > 0.0);
        assert!(rates["loupe"].as_f64().expect("Loupe's rate") > 0.0);
    }
}

#[test]
fn bad_thread_counts_are_refused_by_name() {
    let out = common::loupe(&["bench", "profile", "--threads", "0", "--json"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("threads"),
        "{}",
        common::stderr(&out)
    );
}

/// `loupe bench training` says where each CPU step goes, phase by phase, and
/// which matrix-product kernels the CPU got (the wgpu rows are left out by
/// naming a backend this build lacks; the PyTorch peer is skipped with a note
/// where torch is missing).
#[test]
fn the_training_bench_traces_each_phase_of_the_cpu_step() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args([
            "bench",
            "training",
            "--networks",
            "resnet18",
            "--input-size",
            "32",
            "--width",
            "4",
            "--batch",
            "4",
            "--steps",
            "3",
            "--threads",
            "1",
            "--python",
            "/nonexistent/python",
            "--json",
        ])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(value["matrix_simd"].as_str().is_some_and(|s| !s.is_empty()));
    let rows = value["rows"].as_array().expect("rows");
    let traced: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["device"] == "flex (CPU), Loupe's kernels")
        .collect();
    assert_eq!(traced.len(), 2, "supervised and mean teacher");
    for row in traced {
        assert_eq!(row["network"], "resnet18");
        let phases = row["phases_ms"].as_object().expect("phases");
        let names: Vec<&str> = phases.keys().map(String::as_str).collect();
        let mut expected = vec![
            "batch: images to tensors",
            "augmentation",
            "forward (student)",
            "loss terms",
            "loss read-backs",
            "backward",
            "gradients to parameters",
            "optimizer (Adam)",
            "trainer bookkeeping",
        ];
        if row["method"] == "mean-teacher" {
            expected.extend(["forward (teacher)", "teacher EMA update"]);
        }
        let (mut names, mut expected) = (names, expected);
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(names, expected, "{}", row["method"]);
        // The phases cover the step: their sum (a mean) is near the median step.
        let sum: f64 = phases.values().map(|v| v.as_f64().unwrap()).sum();
        let step = row["ms_per_step"].as_f64().unwrap();
        assert!(
            sum > 0.5 * step && sum < 2.0 * step,
            "phases {sum} ms, step {step} ms"
        );
        // Loupe's kernels report their share of the phases: the convolutions
        // both ways, the fused group norm and augmentation; never more than
        // the phases hold.
        let kernels = row["kernels_ms"].as_object().expect("kernels");
        for kernel in [
            "conv2d forward",
            "conv2d input gradient",
            "conv2d weight gradient",
            "group norm forward",
            "group norm backward",
            "augmentation",
        ] {
            assert!(kernels.contains_key(kernel), "{kernel}: {kernels:?}");
        }
        let in_kernels: f64 = kernels.values().map(|v| v.as_f64().unwrap()).sum();
        assert!(
            in_kernels > 0.0 && in_kernels <= sum,
            "{in_kernels} of {sum} ms"
        );
    }
    assert!(
        common::stderr(&out).contains("PyTorch peer, resnet18 supervised: not measured"),
        "{}",
        common::stderr(&out)
    );
}

/// `--networks` names the rows; a name it does not know is refused with the
/// ones it does.
#[test]
fn an_unknown_network_is_refused_by_name() {
    let out = common::loupe(&["bench", "training", "--networks", "resnet18,vgg16"]);
    assert!(!out.status.success());
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains("vgg16") && stderr.contains("unet3d"),
        "{stderr}"
    );
}
