//! Reviewing a case's maps: what the label overlay shows — the annotator's
//! own map (paintable), another annotator's map (the reference included),
//! a run's predicted map, or the prediction against the case's newest map
//! in one BraTS region, voxel by voxel: where both agree, what the run
//! missed and what it added, in three colours, with the case's Dice per
//! region. Everything but one's own map is a read-only overlay.

use std::path::{Path, PathBuf};

use crate::store::{Project, label_maps};
use crate::train::metrics::BRATS_REGIONS;
use crate::train::segmentation::prediction_file;

/// What the overlay of a case shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MapView {
    /// The annotator's own map.
    #[default]
    Own,
    /// Another annotator's map of the case (the reference's, say).
    Annotator(String),
    /// A segmentation run's predicted map (`runs/<run>/predictions/<case>`).
    Prediction(String),
    /// A run's prediction against the case's truth in region `region`
    /// (an index into BraTS's WT, TC, ET).
    Versus { run: String, region: usize },
}

/// Codes of a comparison map, drawn in the overlay palette's first three
/// colours (red, green, yellow).
pub mod versus_code {
    /// In the truth only: the run missed it.
    pub const MISSED: u8 = 1;
    /// In both.
    pub const AGREED: u8 = 2;
    /// In the prediction only: a false alarm.
    pub const ADDED: u8 = 3;
}

/// The comparison legend, in the palette's colours.
pub const VERSUS_LEGEND: &str =
    "green: both · red: missed (truth only) · yellow: added (prediction only)";

/// Voxel-wise comparison of `predicted` and `truth` (label values) in `region`.
pub fn versus(predicted: &[u8], truth: &[u8], region: &[u8]) -> Vec<u8> {
    predicted
        .iter()
        .zip(truth)
        .map(|(p, t)| match (region.contains(p), region.contains(t)) {
            (true, true) => versus_code::AGREED,
            (false, true) => versus_code::MISSED,
            (true, false) => versus_code::ADDED,
            (false, false) => 0,
        })
        .collect()
}

/// Where run `run` wrote its prediction of case `case`.
pub fn prediction_path(root: &Path, run: &str, case: &str) -> Result<PathBuf, String> {
    let dir = crate::train::runs::run_dir(root, run).map_err(|e| e.to_string())?;
    prediction_file(&dir, case).map_err(|e| e.to_string())
}

/// The overlay `view` asks for on item `item_id` (shown as `case`, whose
/// image `grid` is): label values and a note on what they are, or `None`
/// for the annotator's own map.
pub fn overlay(
    project: &Project,
    view: &MapView,
    item_id: i64,
    case: &str,
    grid: &crate::volume::Volume,
) -> Result<Option<(Vec<u8>, String)>, String> {
    let (run, region) = match view {
        MapView::Own => return Ok(None),
        MapView::Annotator(name) => {
            let maps = project.label_maps(item_id).map_err(|e| e.to_string())?;
            let record = maps
                .iter()
                .find(|r| &r.annotator == name)
                .ok_or_else(|| format!("{name} has no map of {case}"))?;
            let voxels = project
                .read_label_map(record, grid)
                .map_err(|e| e.to_string())?;
            return Ok(Some((voxels, format!("{name}'s map (read-only)"))));
        }
        MapView::Prediction(run) => (run, None),
        MapView::Versus { run, region } => (run, Some(*region)),
    };
    let path = prediction_path(project.root(), run, case)?;
    if !path.is_file() {
        return Err(format!(
            "run {run} wrote no prediction of {case} (loupe predict --run {run} writes them)"
        ));
    }
    let map = crate::volume::load(&path).map_err(|e| e.to_string())?;
    if let Some(why) = label_maps::grid_mismatch(&map, grid) {
        return Err(format!(
            "run {run}'s prediction of {case} does not fit it: {why}"
        ));
    }
    let predicted = label_maps::label_voxels(&map)?;
    let maps = project.label_maps(item_id).map_err(|e| e.to_string())?;
    let truth = match label_maps::newest(&maps) {
        Some(record) => Some((
            record.annotator.clone(),
            project
                .read_label_map(record, grid)
                .map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let dice = truth
        .as_ref()
        .map(|(annotator, truth)| dice_note(annotator, &predicted, truth))
        .unwrap_or_default();
    let Some(region) = region else {
        return Ok(Some((
            predicted,
            format!("prediction of run {run} (read-only){dice}"),
        )));
    };
    let (name, values) = BRATS_REGIONS
        .get(region)
        .copied()
        .ok_or_else(|| format!("no region {region}"))?;
    let (annotator, truth) =
        truth.ok_or_else(|| format!("{case} has no label map to compare the prediction with"))?;
    Ok(Some((
        versus(&predicted, &truth, values),
        format!(
            "run {run} vs {annotator}'s map, {} (read-only){dice}",
            name.to_uppercase()
        ),
    )))
}

/// ` · Dice vs ana's map: WT 0.912 · TC 0.874 · ET 0.801` for one case.
fn dice_note(annotator: &str, predicted: &[u8], truth: &[u8]) -> String {
    let dice = crate::train::metrics::case_dice(predicted, truth);
    let regions: Vec<String> = BRATS_REGIONS
        .iter()
        .zip(dice)
        .map(|((name, _), d)| format!("{} {d:.3}", name.to_uppercase()))
        .collect();
    format!(" · Dice vs {annotator}'s map: {}", regions.join(" · "))
}

/// The centre of the largest lesion of the newest map anyone saved of a
/// case, as a voxel index: where the case opens when the map it shows has
/// none (the annotator's own map, when it has a lesion, is shown already).
pub fn lesion_voxel(
    project: &Project,
    item_id: i64,
    grid: &crate::volume::Volume,
) -> Option<[usize; 3]> {
    let maps = project.label_maps(item_id).ok()?;
    let record = label_maps::newest(&maps).filter(|r| r.labeled_voxels > 0)?;
    let voxels = project.read_label_map(record, grid).ok()?;
    let shape = grid.spatial_shape();
    crate::paint::lesion_centre(&voxels, [shape[0], shape[1], shape[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_dice_is_said_per_region() {
        // WT {1,2,4}: prediction 4 voxels, truth 3, both 3 → 2·3/7 = 0.857;
        // TC {1,4}: 2 and 2, both 1 → 0.5; ET {4}: 1 and 1, none shared → 0.
        let truth = [0u8, 1, 4, 2, 0];
        let predicted = [4u8, 1, 2, 2, 0];
        assert_eq!(
            dice_note("ana", &predicted, &truth),
            " · Dice vs ana's map: WT 0.857 · TC 0.500 · ET 0.000"
        );
    }

    #[test]
    fn a_comparison_marks_agreement_misses_and_additions() {
        let truth = [0u8, 1, 4, 2, 0];
        let predicted = [4u8, 1, 2, 2, 0];
        // Tumour core {1, 4}: voxel 0 added, 1 agreed, 2 missed, 3 and 4 outside.
        assert_eq!(
            versus(&predicted, &truth, &[1, 4]),
            [
                versus_code::ADDED,
                versus_code::AGREED,
                versus_code::MISSED,
                0,
                0
            ]
        );
    }
}
