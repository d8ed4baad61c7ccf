//! Which axial slices of a CT series a 2-D model reads (METHODS.md §4):
//! the k around the middle, k at random, or a slice policy's picks with a
//! clinician's overrides first. One rule each, used by training,
//! prediction, the viewer's marks and the benchmark. Slices are 0-based
//! axial indices of the series as stored, ascending.

use std::collections::BTreeMap;
use std::path::Path;

use crate::rng::Rng;
use crate::store::{Project, StoreError, csv};

use super::config::{SliceConfig, SliceSelection};

/// A slice-policy run's picks, beside its checkpoints: `case,slices`.
pub const PICKS_FILE: &str = "slices.csv";

/// The `k` slices around the middle of `depth` (the `k` of a shorter
/// series repeat its last slice).
pub fn middle(k: usize, depth: usize) -> Vec<usize> {
    let start = depth.saturating_sub(k) / 2;
    (0..k)
        .map(|i| (start + i).min(depth.saturating_sub(1)))
        .collect()
}

/// `k` distinct slices of `depth` drawn for one case, fixed by the run's
/// seed and the case, ascending.
pub fn random(k: usize, depth: usize, seed: u64, item_id: i64) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ (item_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    random_with(&mut rng, k, depth)
}

/// `k` distinct slices of `depth` from `rng`, ascending (REINFORCE's
/// random comparison draws them afresh every step).
pub fn random_with(rng: &mut Rng, k: usize, depth: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..depth).collect();
    rng.shuffle(&mut all);
    let mut picked: Vec<usize> = all.into_iter().take(k).collect();
    picked.sort_unstable();
    while picked.len() < k {
        picked.push(picked.last().copied().unwrap_or(0));
    }
    picked
}

/// The slices a run with `slices` settings reads of a case's series of
/// `depth` slices; `policy` holds the picks of [`SliceSelection::Policy`]
/// (see [`policy_picks`]). `None`: the policy picked nothing for the case.
pub fn pick(
    slices: &SliceConfig,
    depth: usize,
    seed: u64,
    item_id: i64,
    policy: &BTreeMap<i64, Vec<usize>>,
) -> Option<Vec<usize>> {
    let k = slices.count;
    match slices.selection {
        SliceSelection::Middle => Some(middle(k, depth)),
        SliceSelection::Random => Some(random(k, depth, seed, item_id)),
        SliceSelection::Policy => {
            let chosen = policy.get(&item_id)?;
            // An override may list more or fewer than k: the model reads k.
            let mut fitted: Vec<usize> = chosen
                .iter()
                .map(|&z| z.min(depth.saturating_sub(1)))
                .take(k)
                .collect();
            while fitted.len() < k {
                fitted.push(fitted.last().copied().unwrap_or(0));
            }
            fitted.sort_unstable();
            Some(fitted)
        }
    }
}

/// Writes a policy's picks, by case name, to `dir/slices.csv`.
pub fn write_picks(dir: &Path, picks: &BTreeMap<String, Vec<usize>>) -> Result<(), StoreError> {
    let mut text = csv::line(&["case", "slices"]);
    for (case, slices) in picks {
        text.push_str(&csv::line(&[case.clone(), join(slices)]));
    }
    let path = dir.join(PICKS_FILE);
    std::fs::write(&path, text).map_err(|source| StoreError::Io { path, source })
}

/// Slices as one cell: `"3 4 5"`.
pub fn join(slices: &[usize]) -> String {
    slices
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A policy run's picks by case name (empty when it wrote none).
pub fn read_picks(run_dir: &Path) -> Result<BTreeMap<String, Vec<usize>>, StoreError> {
    let path = run_dir.join(PICKS_FILE);
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let text = csv::read_text(&path)?;
    let rows =
        csv::parse(&text).map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    for (number, cells) in rows.iter().enumerate().skip(1) {
        let (Some(case), Some(slices)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let slices = crate::store::cases::parse_slices(slices).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{} line {}: {slices:?} is not a list of slices",
                path.display(),
                number + 1
            ))
        })?;
        out.insert(case.clone(), slices);
    }
    Ok(out)
}

/// The newest finished slice-policy run of the project at `root` (the
/// newest run folder with picks and a summary; run ids sort by time).
/// Reads no metrics: the window calls it at every project reload.
pub fn latest_policy_run(root: &Path) -> Option<String> {
    let entries = std::fs::read_dir(crate::store::files_root(root).ok()?.join("runs")).ok()?;
    entries
        .flatten()
        .filter(|e| {
            let dir = e.path();
            dir.join(PICKS_FILE).is_file() && dir.join(super::runs::SUMMARY_FILE).is_file()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
}

/// The slices [`SliceSelection::Policy`] reads, by item: a clinician's
/// override where there is one, else the picks of slice-policy run `run`.
pub fn policy_picks(
    project: &Project,
    role: &str,
    run: &str,
) -> Result<BTreeMap<i64, Vec<usize>>, StoreError> {
    let mut picks = run_picks(project, run)?;
    picks.extend(project.slice_picks(role)?);
    Ok(picks)
}

/// Slice-policy run `run`'s own picks, by item (no overrides).
pub fn run_picks(project: &Project, run: &str) -> Result<BTreeMap<i64, Vec<usize>>, StoreError> {
    let dir = super::runs::run_dir(project.root(), run)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let by_name = read_picks(&dir)?;
    Ok(project
        .case_names()?
        .into_iter()
        .filter_map(|(id, name)| by_name.get(&name).map(|s| (id, s.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_and_random_slices_follow_their_rule() {
        assert_eq!(middle(3, 32), vec![14, 15, 16]);
        assert_eq!(middle(2, 5), vec![1, 2]);
        assert_eq!(middle(3, 2), vec![0, 1, 1]);
        let a = random(3, 32, 7, 11);
        assert_eq!(a, random(3, 32, 7, 11), "fixed by seed and case");
        assert_ne!(a, random(3, 32, 7, 12), "another case, other slices");
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a[2] < 32, "{a:?}");
    }

    #[test]
    fn policy_slices_take_the_override_and_fit_k() {
        let settings = SliceConfig {
            selection: SliceSelection::Policy,
            ..SliceConfig::default()
        };
        let policy = BTreeMap::from([(1, vec![20, 5, 9]), (2, vec![40])]);
        assert_eq!(pick(&settings, 32, 1, 1, &policy), Some(vec![5, 9, 20]));
        assert_eq!(pick(&settings, 32, 1, 2, &policy), Some(vec![31, 31, 31]));
        assert_eq!(pick(&settings, 32, 1, 3, &policy), None);
    }
}
