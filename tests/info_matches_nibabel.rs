//! `loupe info --json` agrees with nibabel on every shared NIfTI file, field by field.

mod common;

use serde_json::Value;

fn close(actual: f64, expected: f64, relative: f64, absolute: f64) -> bool {
    (actual - expected).abs() <= absolute + relative * expected.abs()
}

/// nibabel's dtype strings (`>i2`, `float64`, a structured RGB dtype) as Loupe's names.
fn normalised_dtype(nibabel: &str) -> String {
    if nibabel.contains("('R', 'u1')") {
        return "uint8".into();
    }
    let code = nibabel.trim_start_matches(['<', '>', '=', '|']);
    match code {
        "u1" => "uint8",
        "i1" => "int8",
        "u2" => "uint16",
        "i2" => "int16",
        "u4" => "uint32",
        "i4" => "int32",
        "u8" => "uint64",
        "i8" => "int64",
        "f4" => "float32",
        "f8" => "float64",
        other => other,
    }
    .to_string()
}

#[test]
fn every_shared_nifti_file_matches_nibabel() {
    let dir = common::shared_data().join("nifti");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .unwrap();
    let files = expected["files"].as_array().expect("files");
    assert!(
        files.len() >= 13,
        "expected.json lists {} files",
        files.len()
    );

    for entry in files {
        let name = entry["file"].as_str().unwrap();
        let path = dir.join(name);
        let mut args = vec![
            "info".to_string(),
            "--json".to_string(),
            path.display().to_string(),
        ];
        for voxel in entry["voxels"].as_array().unwrap() {
            let index: Vec<String> = voxel["index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.to_string())
                .collect();
            args.push("--voxel".into());
            args.push(index.join(","));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = common::loupe(&args);
        assert!(
            output.status.success(),
            "{name}: {}",
            common::stderr(&output)
        );
        let out = common::stdout(&output);
        assert_eq!(
            out.trim().lines().count(),
            1,
            "{name}: exactly one JSON object"
        );
        let got: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));

        assert_eq!(got["shape"], entry["shape"], "{name}: shape");
        assert_eq!(got["datatype"], entry["datatype"], "{name}: datatype");
        assert_eq!(
            got["dtype"].as_str().unwrap(),
            normalised_dtype(entry["dtype"].as_str().unwrap()),
            "{name}: dtype"
        );
        assert_eq!(got["endianness"], entry["endianness"], "{name}: endianness");
        assert_eq!(got["axcodes"], entry["axcodes"], "{name}: axcodes");

        for (got_p, want_p) in got["pixdim"]
            .as_array()
            .unwrap()
            .iter()
            .zip(entry["pixdim"].as_array().unwrap())
        {
            assert!(
                close(
                    got_p.as_f64().unwrap(),
                    want_p.as_f64().unwrap(),
                    1e-6,
                    1e-9
                ),
                "{name}: pixdim"
            );
        }
        assert_eq!(
            got["pixdim"].as_array().unwrap().len(),
            entry["pixdim"].as_array().unwrap().len(),
            "{name}: pixdim"
        );

        let got_affine = got["world_from_voxel"].as_array().unwrap();
        for (r, row) in entry["affine"].as_array().unwrap().iter().enumerate() {
            for (c, want) in row.as_array().unwrap().iter().enumerate() {
                let actual = got_affine[r][c].as_f64().unwrap();
                // expected.json rounds the affine to 6 decimals.
                assert!(
                    close(actual, want.as_f64().unwrap(), 0.0, 2e-6),
                    "{name}: world_from_voxel[{r}][{c}] = {actual}, nibabel {want}"
                );
            }
        }

        for field in ["scl_slope", "scl_inter"] {
            match entry[field].as_f64() {
                None => assert!(
                    got[field].is_null(),
                    "{name}: {field} should be null, got {}",
                    got[field]
                ),
                Some(want) => assert!(
                    close(got[field].as_f64().unwrap(), want, 1e-12, 1e-12),
                    "{name}: {field}"
                ),
            }
        }

        match entry.get("stats") {
            None => assert!(got.get("stats").is_none(), "{name}: RGB data has no stats"),
            Some(stats) => {
                for field in ["min", "max", "mean"] {
                    let (actual, want) = (
                        got["stats"][field].as_f64().unwrap(),
                        stats[field].as_f64().unwrap(),
                    );
                    assert!(
                        close(actual, want, 1e-9, 1e-9),
                        "{name}: stats.{field} = {actual}, nibabel {want}"
                    );
                }
            }
        }

        let got_voxels = got["voxels"].as_array().unwrap();
        let want_voxels = entry["voxels"].as_array().unwrap();
        assert_eq!(got_voxels.len(), want_voxels.len(), "{name}: voxel count");
        for (got_v, want_v) in got_voxels.iter().zip(want_voxels) {
            assert_eq!(got_v["index"], want_v["index"], "{name}: voxel order");
            if let Some(rgb) = want_v.get("rgb") {
                let got_rgb: Vec<u64> = got_v["rgb"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as u64)
                    .collect();
                let want_rgb: Vec<u64> = rgb
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(got_rgb, want_rgb, "{name}: rgb at {}", want_v["index"]);
            } else {
                let (actual, want) = (
                    got_v["value"].as_f64().unwrap(),
                    want_v["value"].as_f64().unwrap(),
                );
                assert!(
                    close(actual, want, 1e-9, 1e-9),
                    "{name}: value at {} = {actual}, nibabel {want}",
                    want_v["index"]
                );
            }
        }
    }
}

#[test]
fn text_output_names_the_same_facts() {
    let path = common::shared_data().join("nifti/anatomical.nii");
    let output = common::loupe(&["info", path.to_str().unwrap(), "--voxel", "28,26,12"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = common::stdout(&output);
    for fact in [
        "33 × 41 × 25",
        "int16",
        "byte order >",
        "LAS",
        "[28,26,12] = 6188",
    ] {
        assert!(text.contains(fact), "text output lacks {fact:?}:\n{text}");
    }
}

#[test]
fn voxel_outside_the_shape_is_an_error() {
    let path = common::shared_data().join("nifti/standard.nii.gz");
    let output = common::loupe(&["info", "--json", path.to_str().unwrap(), "--voxel", "4,0,0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("outside the image's shape [4, 5, 7]"),
        "{}",
        common::stderr(&output)
    );
    let output = common::loupe(&["info", "--json", path.to_str().unwrap(), "--voxel", "1,2"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stderr(&output).contains("2 indices given"));
}
