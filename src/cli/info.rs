//! `loupe info`: what a file holds, as text or one JSON object.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::volume::{self, Volume};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The image or volume.
    pub file: PathBuf,
    /// A voxel to print, as I,J,K[,T] (one index per dimension); repeatable.
    #[arg(long = "voxel", value_name = "I,J,K[,T]")]
    pub voxels: Vec<String>,
    /// A DICOM series with a missing slice or a gantry tilt: resample it onto a regular grid instead of refusing it.
    #[arg(long)]
    pub resample: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let volume = volume::load_with(
        &args.file,
        volume::dicom::ReadOptions {
            resample: args.resample,
        },
    )?;
    if let Some(problem) = volume.dicom.as_ref().and_then(|d| d.resampled.as_ref()) {
        eprintln!("notice: resampled onto a regular grid: {problem}");
    }
    let voxels = args
        .voxels
        .iter()
        .map(|text| parse_index(text, &volume))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let description = describe(&volume, &voxels);
    if args.json {
        println!("{}", serde_json::to_string(&description)?);
    } else {
        print!("{}", as_text(&description));
    }
    Ok(())
}

/// Parses `I,J,K[,T]` and checks it against the volume's shape.
fn parse_index(text: &str, volume: &Volume) -> anyhow::Result<Vec<usize>> {
    let index = text
        .split(',')
        .map(|part| part.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!("--voxel {text}: expected non-negative integers separated by commas")
        })?;
    if index.len() != volume.shape.len() {
        bail!(
            "--voxel {text}: {} indices given but the image has {} dimensions {:?}",
            index.len(),
            volume.shape.len(),
            volume.shape
        );
    }
    if volume.linear_index(&index).is_none() {
        bail!(
            "--voxel {text}: outside the image's shape {:?}",
            volume.shape
        );
    }
    Ok(index)
}

/// The JSON description `loupe info --json` prints.
pub fn describe(volume: &Volume, voxels: &[Vec<usize>]) -> Value {
    let scaling = volume.scaling;
    let mut out = json!({
        "file": volume.path.display().to_string(),
        "format": volume.format.name(),
        "shape": volume.shape,
        "channels": volume.channels,
        "datatype": volume.datatype,
        "dtype": volume.data.sample_type().name(),
        "endianness": volume.endianness.symbol(),
        "pixdim": volume.pixdim[..volume.shape.len().min(4)],
        "world_from_voxel": volume.world_from_voxel.0,
        "axcodes": volume.world_from_voxel.axcodes().map(|c| c.map(String::from)),
        "scl_slope": scaling.map(|s| s.slope),
        "scl_inter": scaling.map(|s| s.inter),
    });
    if let Some(stats) = volume
        .stats()
        .or_else(|| volume.dicom.as_ref().and_then(|_| colour_stats(volume)))
    {
        out["stats"] = json!({ "min": stats.min, "max": stats.max, "mean": stats.mean });
        if stats.non_finite > 0 {
            out["stats"]["non_finite"] = json!(stats.non_finite);
        }
    }
    let voxel_entries: Vec<Value> = voxels
        .iter()
        .map(|index| {
            if volume.channels == 1 {
                json!({ "index": index, "value": volume.value(index) })
            } else {
                let channels = volume.channels_at(index).unwrap_or_default();
                json!({
                    "index": index,
                    "value": channels,
                    "rgb": channels.iter().take(3).collect::<Vec<_>>(),
                })
            }
        })
        .collect();
    out["voxels"] = Value::Array(voxel_entries);
    if let Some(dicom) = &volume.dicom {
        out["dicom"] = json!({
            "modality": dicom.modality,
            "sop_class": dicom.sop_class,
            "transfer_syntax": dicom.transfer_syntax,
            "transfer_syntax_name": volume::dicom::syntax::name(&dicom.transfer_syntax),
            "series_uid": dicom.series_uid,
            "series_description": dicom.series_description,
            "frames": dicom.frames,
            "files": dicom.files,
            "laterality": dicom.laterality,
            "patient_id": dicom.patient_id,
            "study_date": dicom.study_date,
            "body_part": dicom.body_part,
            "photometric": dicom.photometric,
            "window": dicom.window.map(|(c, w)| json!({"center": c, "width": w})),
            "resampled": dicom.resampled,
        });
    }
    out
}

/// Min, max and mean over every sample of a colour image (all channels).
fn colour_stats(volume: &Volume) -> Option<volume::Stats> {
    if volume.channels == 1 || volume.data.is_empty() {
        return None;
    }
    let (min, max) = volume.data.min_max_f64();
    let sum: f64 = (0..volume.data.len())
        .map(|i| volume.data.get_f64(i).unwrap_or(0.0))
        .sum();
    Some(volume::Stats {
        min,
        max,
        mean: sum / volume.data.len() as f64,
        non_finite: 0,
    })
}

/// `loupe info`'s text report, one line per field in print order; kept
/// whole so the report reads top to bottom as it prints.
fn as_text(description: &Value) -> String {
    let mut text = String::new();
    let field = |text: &mut String, name: &str, value: String| {
        text.push_str(&format!("{name:<17}{value}\n"))
    };
    let list = |value: &Value| {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" × ")
            })
            .unwrap_or_default()
    };
    let plain = |value: &Value| match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    };
    field(&mut text, "file", plain(&description["file"]));
    field(&mut text, "format", plain(&description["format"]));
    field(
        &mut text,
        "shape",
        format!(
            "{} ({} channel(s))",
            list(&description["shape"]),
            description["channels"]
        ),
    );
    field(
        &mut text,
        "datatype",
        format!(
            "{} ({}, byte order {})",
            plain(&description["datatype"]),
            plain(&description["dtype"]),
            plain(&description["endianness"])
        ),
    );
    field(&mut text, "voxel size", list(&description["pixdim"]));
    if let Some(rows) = description["world_from_voxel"].as_array() {
        for (i, row) in rows.iter().enumerate() {
            let cells: Vec<String> = row
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|v| format!("{:>11.6}", v.as_f64().unwrap_or(f64::NAN)))
                        .collect()
                })
                .unwrap_or_default();
            field(
                &mut text,
                if i == 0 { "world_from_voxel" } else { "" },
                cells.join(" "),
            );
        }
    }
    let axcodes: Vec<String> = description["axcodes"]
        .as_array()
        .map(|codes| codes.iter().map(plain).collect())
        .unwrap_or_default();
    field(&mut text, "axis codes", axcodes.join(""));
    field(
        &mut text,
        "scaling",
        match (&description["scl_slope"], &description["scl_inter"]) {
            (Value::Null, _) => "none".into(),
            (slope, inter) => format!("value = stored × {slope} + {inter}"),
        },
    );
    if let Some(stats) = description.get("stats") {
        field(
            &mut text,
            "min / max / mean",
            format!("{} / {} / {}", stats["min"], stats["max"], stats["mean"]),
        );
    }
    for voxel in description["voxels"].as_array().into_iter().flatten() {
        let value = voxel
            .get("value")
            .or_else(|| voxel.get("rgb"))
            .cloned()
            .unwrap_or(Value::Null);
        field(
            &mut text,
            "voxel",
            format!("{} = {}", voxel["index"], plain(&value)),
        );
    }
    if let Some(dicom) = description.get("dicom") {
        for (name, key) in [
            ("modality", "modality"),
            ("transfer syntax", "transfer_syntax_name"),
            ("series", "series_uid"),
            ("description", "series_description"),
            ("frames", "frames"),
            ("laterality", "laterality"),
            ("patient", "patient_id"),
            ("study date", "study_date"),
            ("body part", "body_part"),
        ] {
            let value = plain(&dicom[key]);
            if !value.is_empty() {
                field(&mut text, name, value);
            }
        }
    }
    text
}
