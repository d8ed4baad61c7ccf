//! Exporting labels (CSV, JSON, class folders) and summarising a project
//! (pool and class counts, annotators, agreement).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::agreement::unit_agreement;
use super::names::{EXPORT_COLUMNS, ExportFolder, file_name_for};
use super::{ADJUDICATOR, Pool, Project, StoreError, csv};

/// One row per item and annotator: `id,path,pool,annotator,<fields…>,labeled_at`.
/// Items nobody labeled get one row with an empty annotator.
pub fn to_csv(project: &Project) -> Result<String, StoreError> {
    let fields: Vec<String> = project.schema().field_names();
    let [id, path, pool, annotator, labeled_at] = EXPORT_COLUMNS;
    let mut header: Vec<String> = [id, path, pool, annotator].map(String::from).to_vec();
    header.extend(fields.iter().cloned());
    header.push(labeled_at.into());
    let mut out = csv::line(&header);
    let mut all_labels = project.all_current_labels()?;
    let labeled_at = project.all_labeled_at()?;
    for item in project.items()? {
        let labels = all_labels.remove(&item.id).unwrap_or_default();
        let prefix = [
            item.id.to_string(),
            item.path.clone(),
            item.pool.as_str().to_string(),
        ];
        if labels.is_empty() {
            let mut row: Vec<String> = prefix.to_vec();
            row.push(String::new());
            row.extend(fields.iter().map(|_| String::new()));
            row.push(String::new());
            out.push_str(&csv::line(&row));
        }
        for (annotator, values) in &labels {
            let mut row: Vec<String> = prefix.to_vec();
            row.push(annotator.clone());
            row.extend(
                fields
                    .iter()
                    .map(|f| values.get(f).cloned().unwrap_or_default()),
            );
            row.push(
                labeled_at
                    .get(&(item.id, annotator.clone()))
                    .cloned()
                    .unwrap_or_default(),
            );
            out.push_str(&csv::line(&row));
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct JsonItem {
    id: i64,
    path: String,
    content_hash: String,
    pool: Pool,
    labels: BTreeMap<String, BTreeMap<String, String>>,
    history: Vec<super::Annotation>,
}

/// Every item with its current labels per annotator and full history.
pub fn to_json(project: &Project) -> Result<String, StoreError> {
    let mut items = Vec::new();
    for item in project.items()? {
        items.push(JsonItem {
            labels: project.current_labels(item.id)?,
            history: project.history(item.id)?,
            id: item.id,
            path: item.path,
            content_hash: item.content_hash,
            pool: item.pool,
        });
    }
    let doc = serde_json::json!({ "schema": project.schema(), "items": items });
    serde_json::to_string_pretty(&doc).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Copies each item with a consensus target label to
/// `<out>/<label>/<id>_<file name>` (a `.hdr` with its `.img`). Labels
/// become folder names through [`file_name_for`]; all or nothing into a new
/// or empty `out` ([`ExportFolder`]). Returns how many items were written.
pub fn to_folders(project: &Project, out: &Path) -> Result<usize, StoreError> {
    let target = project.schema().target.clone();
    let folder = ExportFolder::create(out)?;
    let mut written = 0;
    for item in project.items()? {
        let Some(label) = project.consensus(item.id, &target)? else {
            continue;
        };
        let class = PathBuf::from(file_name_for(&label)?);
        super::copy_source(
            &folder,
            &class,
            &format!("{}_", item.id),
            &project.resolve(&item),
        )?;
        written += 1;
    }
    folder.finish()?;
    Ok(written)
}

/// Agreement between annotators on one field.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FieldAgreement {
    pub field: String,
    pub ordinal: bool,
    /// Cohen's kappa per annotator pair (quadratic-weighted for ordinal fields), over items both labeled.
    pub pairs: Vec<PairKappa>,
    /// Fleiss' kappa when more than two annotators labeled the field.
    pub fleiss: Option<f64>,
    /// Items where the annotators' current values differ.
    pub disagreements: Vec<i64>,
}

pub use super::agreement::PairKappa;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stats {
    pub items: usize,
    pub pools: BTreeMap<String, usize>,
    /// Per pool, items per consensus target class (`"(none)"` when unlabeled or disputed).
    pub classes: BTreeMap<String, BTreeMap<String, usize>>,
    pub annotators: Vec<String>,
    pub agreement: Vec<FieldAgreement>,
    /// Per annotator pair, the mean of the fields' kappas (those defined).
    pub overall: Vec<PairKappa>,
    /// Painted label maps: Dice per label per annotator pair.
    pub label_maps: Vec<super::label_maps::MapAgreement>,
    /// Screening exams: agreement per eye-level field and derived flag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eyes: Vec<super::exams::EyeFieldAgreement>,
}

pub fn stats(project: &Project) -> Result<Stats, StoreError> {
    let schema = project.schema().clone();
    let items = project.items()?;
    let mut pools: BTreeMap<String, usize> = Pool::ALL
        .iter()
        .map(|p| (p.as_str().to_string(), 0))
        .collect();
    let mut classes: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut labels_by_item = Vec::new();
    let mut annotators = BTreeSet::new();
    let mut all_labels = project.all_current_labels()?;
    for item in &items {
        *pools.entry(item.pool.as_str().into()).or_default() += 1;
        let labels = all_labels.remove(&item.id).unwrap_or_default();
        let class = super::consensus(&labels, &schema.target)
            .unwrap_or("(none)")
            .to_string();
        *classes
            .entry(item.pool.as_str().into())
            .or_default()
            .entry(class)
            .or_default() += 1;
        annotators.extend(labels.keys().filter(|a| a.as_str() != ADJUDICATOR).cloned());
        labels_by_item.push((item.id, labels));
    }
    let annotators: Vec<String> = annotators.into_iter().collect();
    let mut agreement = Vec::new();
    for field in &schema.fields {
        let units: Vec<BTreeMap<String, usize>> = labels_by_item
            .iter()
            .map(|(_, labels)| {
                labels
                    .iter()
                    .filter(|(annotator, _)| annotator.as_str() != ADJUDICATOR)
                    .filter_map(|(annotator, values)| {
                        let value = values.get(&field.name)?;
                        Some((annotator.clone(), field.value_index(value)?))
                    })
                    .collect()
            })
            .collect();
        let found = unit_agreement(&units, &annotators, field.values.len(), field.ordinal);
        agreement.push(FieldAgreement {
            field: field.name.clone(),
            ordinal: field.ordinal,
            pairs: found.pairs,
            fleiss: found.fleiss,
            disagreements: found
                .disagreeing
                .into_iter()
                .map(|k| labels_by_item[k].0)
                .collect(),
        });
    }
    let mut overall = Vec::new();
    for (a, first) in annotators.iter().enumerate() {
        for second in &annotators[a + 1..] {
            let per_field: Vec<&PairKappa> = agreement
                .iter()
                .flat_map(|f| f.pairs.iter())
                .filter(|p| &p.annotators[0] == first && &p.annotators[1] == second)
                .collect();
            let kappas: Vec<f64> = per_field.iter().filter_map(|p| p.kappa).collect();
            overall.push(PairKappa {
                annotators: [first.clone(), second.clone()],
                items: per_field.iter().map(|p| p.items).max().unwrap_or(0),
                kappa: (!kappas.is_empty())
                    .then(|| kappas.iter().sum::<f64>() / kappas.len() as f64),
            });
        }
    }
    Ok(Stats {
        overall,
        label_maps: super::label_maps::agreement(project)?,
        eyes: super::exams::eye_agreement(project)?,
        items: items.len(),
        pools,
        classes,
        annotators,
        agreement,
    })
}
