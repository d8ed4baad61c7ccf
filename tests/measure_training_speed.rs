//! A researcher asks where a CPU training step goes: `loupe bench profile`
//! names each op kind with its time, on Loupe's kernels and, with
//! `--burn-kernels`, on Burn's, in a JSON shape a script can read.

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
