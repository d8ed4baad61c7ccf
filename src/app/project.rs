//! An open project in the window: its items with their current labels,
//! the browser's filter and order, the selected item, and undo/redo.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::store::{ADJUDICATOR, Item, Pool, Prediction, Project, Remark, StoreError};

/// One item as the browser and labeling panel see it.
#[derive(Clone, Debug)]
pub struct ItemRow {
    pub item: Item,
    /// annotator → field → value.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    pub remarks: BTreeMap<String, Remark>,
    /// The file is not where the project says; its labels are kept.
    pub missing: bool,
    /// The case's name, when the item is a case.
    pub case: Option<String>,
}

impl ItemRow {
    /// The target value training would use: adjudicated, else agreed, else `None`.
    pub fn consensus(&self, field: &str) -> Option<&str> {
        crate::store::consensus(&self.labels, field)
    }

    /// Annotators (not the adjudicator) gave different values for `field`.
    pub fn disagrees(&self, field: &str) -> bool {
        let mut values = self
            .labels
            .iter()
            .filter(|(a, _)| a.as_str() != ADJUDICATOR)
            .filter_map(|(_, f)| f.get(field));
        match values.next() {
            Some(first) => values.any(|v| v != first),
            None => false,
        }
    }

    pub fn is_unsure(&self) -> bool {
        self.remarks.values().any(|r| r.unsure)
    }

    /// The name the browser and panel show: a case's name, or the file's.
    pub fn file_name(&self) -> &str {
        if let Some(case) = &self.case {
            return case;
        }
        self.item.path.rsplit('/').next().unwrap_or(&self.item.path)
    }
}

/// Which items the browser lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrowserFilter {
    pub pool: Option<Pool>,
    /// Consensus target value; `Some("")` means items without one.
    pub class: Option<String>,
    pub annotator: Option<String>,
    pub unsure: bool,
    pub disagreement: bool,
    pub missing: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    #[default]
    Name,
    /// Newest first.
    Date,
    /// Most uncertain model prediction first (active learning).
    Uncertainty,
}

/// How uncertainty is measured for active learning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UncertaintyMeasure {
    /// Predictive entropy of the model's probabilities.
    #[default]
    Entropy,
    /// Epistemic entropy from Monte-Carlo dropout passes.
    McDropout,
    /// Student–teacher disagreement.
    Disagreement,
}

impl UncertaintyMeasure {
    pub const ALL: [UncertaintyMeasure; 3] = [Self::Entropy, Self::McDropout, Self::Disagreement];

    pub fn name(self) -> &'static str {
        match self {
            Self::Entropy => "predictive entropy",
            Self::McDropout => "MC-dropout entropy",
            Self::Disagreement => "student–teacher disagreement",
        }
    }

    pub fn of(self, prediction: &Prediction) -> Option<f64> {
        match self {
            Self::Entropy => Some(prediction.entropy),
            Self::McDropout => prediction.mc_dropout_entropy,
            Self::Disagreement => prediction.disagreement,
        }
    }
}

/// A label as it was before and after one change, for undo and redo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelChange {
    pub item_id: i64,
    pub annotator: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The open project.
pub struct ProjectSession {
    pub project: Project,
    pub rows: Vec<ItemRow>,
    pub selected: Option<i64>,
    pub filter: BrowserFilter,
    pub sort: SortOrder,
    pub auto_advance: bool,
    undo: Vec<LabelChange>,
    redo: Vec<LabelChange>,
    /// Agreement figures, computed on request (`None` until then or after changes).
    pub agreement: Option<crate::store::export::Stats>,
    /// The newest model prediction per item.
    pub predictions: BTreeMap<i64, Prediction>,
    pub uncertainty: UncertaintyMeasure,
    /// Every row's index in the browser's sort order: kept until the rows
    /// are re-read or the order or predictions change (a label changes
    /// neither a path, a date nor a prediction, so a key press keeps it).
    sorted: RefCell<Option<Arc<Vec<usize>>>>,
    /// The browser's list (`sorted`, filtered) and the pool/class counts:
    /// kept until a row or the filter changes, so a frame does not redo
    /// them over every item.
    listed: RefCell<Option<Arc<Vec<usize>>>>,
    counts: RefCell<Option<BTreeMap<Pool, BTreeMap<String, usize>>>>,
    /// The project's cases: names, files by role, records.
    pub cases: super::cases::CaseIndex,
    /// The modality role the viewer shows for a case (`None`: the first
    /// role the case has).
    pub shown_role: Option<String>,
    /// The record column the browser shows under each case.
    pub shown_column: Option<String>,
    /// Screening exams: infants, exams, eyes, their photographs and grades.
    pub exams: super::exams::ExamsView,
    /// On a team project: what others write, announced by the server.
    changes: Option<crate::store::postgres::ChangeListener>,
    /// The lease held, the review queue, an offline copy's sync.
    pub team: super::team::Team,
    /// The newest map with labeled voxels of each item that has one (its
    /// file, relative to the project's files, and when it was saved): what
    /// a volume's thumbnail is centred on.
    pub lesion_maps: BTreeMap<i64, (String, String)>,
    /// Why a reviewer returned the item the queue just handed out, if they did.
    returned_reason: Option<String>,
}

impl ProjectSession {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let project = Project::open(root)?;
        let mut session = Self {
            project,
            rows: Vec::new(),
            selected: None,
            filter: BrowserFilter::default(),
            sort: SortOrder::Name,
            auto_advance: true,
            undo: Vec::new(),
            redo: Vec::new(),
            agreement: None,
            predictions: BTreeMap::new(),
            uncertainty: UncertaintyMeasure::default(),
            sorted: RefCell::new(None),
            listed: RefCell::new(None),
            counts: RefCell::new(None),
            cases: Default::default(),
            shown_role: None,
            shown_column: None,
            exams: Default::default(),
            changes: None,
            team: super::team::Team::default(),
            returned_reason: None,
            lesion_maps: BTreeMap::new(),
        };
        session.team = super::team::Team::opened(&session.project)?;
        session.reload()?;
        if session.project.is_shared() {
            // Without the listener the window still works; it then shows
            // others' work at the next reload.
            match crate::store::postgres::ChangeListener::start(
                &root.to_string_lossy(),
                session.project.backend_pid(),
            ) {
                Ok(listener) => session.changes = Some(listener),
                Err(e) => log::warn!("live updates off: {e}"),
            }
        }
        Ok(session)
    }

    /// Whether the project is on a server where others write (the window
    /// then looks for their work a few times a second).
    pub fn is_shared(&self) -> bool {
        self.project.is_shared()
    }

    /// Whether *Next* claims what it hands out: on a team project, and on a
    /// folder whose labels per item were set to a number (a folder several
    /// graders share); elsewhere it walks the list and writes nothing.
    pub fn uses_queue(&self) -> bool {
        self.project.is_shared()
            || self
                .project
                .queue_settings()
                .is_ok_and(|s| s.labels_per_item.is_some())
    }

    /// On a team project: whether the server answers (`None` elsewhere).
    pub fn online(&self) -> Option<bool> {
        self.changes.as_ref().map(|c| c.online())
    }

    /// Reloads when others wrote since the last call (labels, grades, maps,
    /// runs): their work appears, nothing of this window's is overwritten
    /// (the store is append-only). Returns whether it reloaded.
    pub fn take_remote_changes(&mut self) -> Result<bool, StoreError> {
        match &self.changes {
            Some(changes) if changes.take_changed() => {
                self.reload()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn load_row(&self, item: Item) -> Result<ItemRow, StoreError> {
        let labels = self.project.current_labels(item.id)?;
        let remarks = self.project.remarks(item.id)?;
        Ok(self.row_of(item, labels, remarks))
    }

    fn row_of(
        &self,
        item: Item,
        labels: crate::store::Labels,
        remarks: BTreeMap<String, Remark>,
    ) -> ItemRow {
        let case = self.cases.names.get(&item.id).cloned();
        let missing = match &case {
            // A case lacks a file only where one it names is gone; a role
            // it never had is not an error.
            Some(_) => self
                .cases
                .files
                .get(&item.id)
                .is_some_and(|files| files.values().any(|p| !p.exists())),
            None => !crate::volume::source_exists(&self.project.resolve(&item)),
        };
        ItemRow {
            labels,
            remarks,
            missing,
            case,
            item,
        }
    }

    /// Re-reads every item from the store (after an import): three scans,
    /// not queries per item.
    pub fn reload(&mut self) -> Result<(), StoreError> {
        self.cases = super::cases::CaseIndex::load(&self.project)?;
        let items = self.project.items()?;
        let mut labels = self.project.all_current_labels()?;
        let mut remarks = self.project.all_remarks()?;
        self.rows = items
            .into_iter()
            .map(|item| {
                let labels = labels.remove(&item.id).unwrap_or_default();
                let remarks = remarks.remove(&item.id).unwrap_or_default();
                self.row_of(item, labels, remarks)
            })
            .collect();
        self.agreement = None;
        self.predictions = self.project.predictions()?;
        self.exams.reload(&self.project)?;
        let maps = self.project.all_label_maps()?;
        self.lesion_maps = maps
            .iter()
            .filter_map(|(item, maps)| {
                let newest = crate::store::label_maps::newest(maps)?;
                (newest.labeled_voxels > 0)
                    .then(|| (*item, (newest.file.clone(), newest.saved_at.clone())))
            })
            .collect();
        if self.is_shared() {
            // Kept at hand for a fallback copy, should the server go away.
            self.team.standby_tables =
                crate::store::offline_tables::CarriedTables::read(&self.project)?;
            self.team.standby_maps = maps;
        }
        self.order_changed();
        Ok(())
    }

    /// The rows, their order or the predictions changed: sort again.
    fn order_changed(&mut self) {
        self.sorted.replace(None);
        self.rows_changed();
    }

    /// A row or the filter changed: filter and count again.
    fn rows_changed(&mut self) {
        self.listed.replace(None);
        self.counts.replace(None);
        self.team.labels_changed();
    }

    /// The uncertainty of an item's prediction by the chosen measure.
    pub fn uncertainty_of(&self, id: i64) -> Option<f64> {
        self.predictions
            .get(&id)
            .and_then(|p| self.uncertainty.of(p))
    }

    /// Opens the exam and eye that [`super::exams::ExamsView::eyes_by_uncertainty`] ranks
    /// first for `annotator`; an error says why there is none.
    pub fn most_uncertain_eye(&mut self, annotator: &str) -> Result<(), String> {
        let ranked = self
            .exams
            .eyes_by_uncertainty(annotator, |id| self.uncertainty_of(id));
        let &(exam, eye, _) = ranked
            .first()
            .ok_or("no eye you have not graded has a model prediction yet: train a run first")?;
        self.exams.selected = Some(exam);
        self.exams.active_eye = eye;
        Ok(())
    }

    /// Writes the open exam's infant's report to `path` (replacing a file
    /// there: the save dialog has asked) and remembers where.
    pub fn save_report(&mut self, path: std::path::PathBuf) -> Result<(), String> {
        let infant = &self.exams.open_exam().ok_or("open an exam first")?.infant;
        let html =
            super::report::infant_report(self.project.root(), infant).map_err(|e| e.to_string())?;
        super::report::write_report(&path, &html, true).map_err(|e| e.to_string())?;
        self.exams.saved_report = Some(path);
        Ok(())
    }

    /// Selects the listed item that is most uncertain and has no target label
    /// from `annotator` and is not a test item (on a team project: claims
    /// it, the first of them no one else holds). `false` when none has a prediction.
    pub fn next_most_uncertain(&mut self, annotator: &str) -> Result<bool, StoreError> {
        let target = self.project.schema().target.clone();
        let mut ranked: Vec<(i64, f64)> = self
            .visible()
            .into_iter()
            .filter(|r| r.item.pool != Pool::Test)
            .filter(|r| {
                r.labels
                    .get(annotator)
                    .and_then(|f| f.get(&target))
                    .is_none()
            })
            .filter_map(|r| self.uncertainty_of(r.item.id).map(|u| (r.item.id, u)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let order: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        let pick = self.pick(annotator, &order)?;
        if pick.is_some() {
            self.selected = pick;
        }
        Ok(pick.is_some())
    }

    /// The first of `order` — on a team project, the one the store's queue
    /// hands `annotator` (a claim: others are handed other items while it
    /// is open), which may be an item a reviewer returned to them.
    fn pick(&mut self, annotator: &str, order: &[i64]) -> Result<Option<i64>, StoreError> {
        if !self.uses_queue() {
            return Ok(order.first().copied());
        }
        let Some((id, claim)) = self.project.claim_next_item(annotator, order)? else {
            return Ok(None);
        };
        self.team.hold(&claim, None);
        self.returned_reason = claim.returned.clone();
        Ok(Some(id))
    }

    /// Re-reads one item after a change to it: a few indexed queries, not
    /// the whole project (this runs on every label key press).
    fn reload_item(&mut self, id: i64) -> Result<(), StoreError> {
        let item = self.project.item(id)?;
        let row = self.load_row(item)?;
        if let Ok(index) = self.rows.binary_search_by_key(&id, |r| r.item.id) {
            self.rows[index] = row;
        }
        self.agreement = None;
        self.rows_changed();
        Ok(())
    }

    /// An item's row; `rows` is in id order (as the store lists items).
    pub fn row(&self, id: i64) -> Option<&ItemRow> {
        self.rows
            .binary_search_by_key(&id, |r| r.item.id)
            .ok()
            .map(|index| &self.rows[index])
    }

    pub fn selected_row(&self) -> Option<&ItemRow> {
        self.selected.and_then(|id| self.row(id))
    }

    /// The browser's list: filtered, in the chosen order.
    pub fn visible(&self) -> Vec<&ItemRow> {
        let listed = self.listed.borrow().clone();
        let listed = match listed {
            Some(listed) => listed,
            None => {
                let listed = Arc::new(self.filtered());
                self.listed.replace(Some(listed.clone()));
                listed
            }
        };
        listed.iter().map(|&index| &self.rows[index]).collect()
    }

    /// Indices of the rows the filter keeps, in sort order.
    fn filtered(&self) -> Vec<usize> {
        let target = self.project.schema().target.clone();
        let f = &self.filter;
        self.sorted_indices()
            .iter()
            .copied()
            .filter(|&index| {
                let r = &self.rows[index];
                f.pool.is_none_or(|p| r.item.pool == p)
                    && match &f.class {
                        None => true,
                        Some(c) if c.is_empty() => r.consensus(&target).is_none(),
                        Some(c) => r.consensus(&target) == Some(c.as_str()),
                    }
                    && f.annotator
                        .as_ref()
                        .is_none_or(|a| r.labels.contains_key(a))
                    && (!f.unsure || r.is_unsure())
                    && (!f.disagreement
                        || self
                            .project
                            .schema()
                            .fields
                            .iter()
                            .any(|field| r.disagrees(&field.name)))
                    && (!f.missing || r.missing)
            })
            .collect()
    }

    /// Every row's index in the chosen order.
    fn sorted_indices(&self) -> Arc<Vec<usize>> {
        if let Some(sorted) = self.sorted.borrow().as_ref() {
            return sorted.clone();
        }
        let rows = &self.rows;
        let mut order: Vec<usize> = (0..rows.len()).collect();
        match self.sort {
            // A case sorts by its name, a file by its stored path.
            SortOrder::Name => order.sort_by(|&a, &b| {
                let key = |r: &ItemRow| r.case.clone().unwrap_or_else(|| r.item.path.clone());
                key(&rows[a]).cmp(&key(&rows[b]))
            }),
            SortOrder::Date => order.sort_by(|&a, &b| {
                rows[b]
                    .item
                    .added_at
                    .cmp(&rows[a].item.added_at)
                    .then(rows[b].item.id.cmp(&rows[a].item.id))
            }),
            SortOrder::Uncertainty => {
                let key = |i: usize| {
                    self.uncertainty_of(rows[i].item.id)
                        .unwrap_or(f64::NEG_INFINITY)
                };
                order.sort_by(|&a, &b| {
                    key(b)
                        .total_cmp(&key(a))
                        .then(rows[a].item.id.cmp(&rows[b].item.id))
                })
            }
        }
        let order = Arc::new(order);
        self.sorted.replace(Some(order.clone()));
        order
    }

    /// Moves the selection `delta` places through the browser's list.
    pub fn step(&mut self, delta: i64) {
        let ids: Vec<i64> = self.visible().iter().map(|r| r.item.id).collect();
        if ids.is_empty() {
            return;
        }
        let position = self.selected.and_then(|s| ids.iter().position(|&i| i == s));
        let next = match position {
            Some(p) => (p as i64 + delta).clamp(0, ids.len() as i64 - 1) as usize,
            None => 0,
        };
        self.selected = Some(ids[next]);
    }

    /// Selects the next item of the browser's list (after the current one,
    /// wrapping) that `annotator` has not given a target label; on a team
    /// project the one the queue hands them from there. `false` when none is left.
    pub fn next_unlabeled(&mut self, annotator: &str) -> Result<bool, StoreError> {
        let target = self.project.schema().target.clone();
        let all: Vec<i64> = self.visible().iter().map(|r| r.item.id).collect();
        // After the selected item (with none, after the first: the list's
        // order as the window has always walked it), wrapping.
        let start = self
            .selected
            .and_then(|s| all.iter().position(|&i| i == s))
            .unwrap_or(0)
            + 1;
        let start = start.min(all.len());
        let rotated: Vec<i64> = all[start..].iter().chain(&all[..start]).copied().collect();
        let order: Vec<i64> = if self.uses_queue() {
            // The queue decides (returned items, labels per item, leases).
            rotated
        } else {
            rotated
                .into_iter()
                .filter(|id| {
                    self.row(*id)
                        .and_then(|r| r.labels.get(annotator))
                        .and_then(|f| f.get(&target))
                        .is_none()
                })
                .collect()
        };
        let pick = self.pick(annotator, &order)?;
        if pick.is_some() {
            self.selected = pick;
        }
        Ok(pick.is_some())
    }

    /// Claims the next eye `annotator` has not graded, from after the open
    /// exam (a team project's *Next eye*; a returned one first), and opens its
    /// exam; says why when a reviewer returned it.
    pub fn claim_next_eye(&mut self, annotator: &str) -> Result<Option<String>, String> {
        let exams = &self.exams.exams;
        let start = self.exams.selected.map_or(0, |k| k + 1);
        let order: Vec<crate::store::exams::EyeRef> = (0..exams.len())
            .map(|i| (start + i) % exams.len())
            .flat_map(|k| {
                exams[k]
                    .eyes
                    .iter()
                    .filter(|e| !e.images.is_empty())
                    .map(move |e| exams[k].eye_ref(e.eye))
            })
            .collect();
        let (eye, claim) = self
            .project
            .claim_next_eye(annotator, &order)
            .map_err(|e| e.to_string())?
            .ok_or("every eye with photographs has your grade or enough graders")?;
        let k = exams
            .iter()
            .position(|x| x.infant == eye.infant && x.date == eye.exam_date)
            .ok_or("the claimed exam is not listed")?;
        self.exams.selected = Some(k);
        self.exams.active_eye = eye.eye;
        let returned = claim
            .returned
            .as_ref()
            .map(|reason| format!("a reviewer returned {eye} to you: {reason}"));
        self.team.hold(&claim, Some(eye));
        Ok(returned)
    }

    /// Keeps the held lease while its item (or eye) is what the window shows.
    pub fn keep_lease(&mut self, annotator: &str) -> Result<(), StoreError> {
        let shown_eye = if self.exams.shown {
            self.exams
                .open_exam()
                .map(|exam| exam.eye_ref(self.exams.active_eye))
        } else {
            None
        };
        let shown_item = if self.exams.shown {
            None
        } else {
            self.selected
        };
        self.team
            .keep_lease(&mut self.project, annotator, shown_item, shown_eye.as_ref())
    }

    /// Sets a label on an item (durable when this returns) and records it for undo.
    pub fn set_label(
        &mut self,
        item_id: i64,
        annotator: &str,
        field: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let before = self
            .row(item_id)
            .and_then(|r| r.labels.get(annotator))
            .and_then(|f| f.get(field))
            .cloned();
        self.project.set_label(item_id, annotator, field, value)?;
        let after = self
            .project
            .current_labels(item_id)?
            .get(annotator)
            .and_then(|f| f.get(field))
            .cloned();
        self.undo.push(LabelChange {
            item_id,
            annotator: annotator.to_string(),
            field: field.to_string(),
            before,
            after,
        });
        self.redo.clear();
        self.reload_item(item_id)
    }

    /// Reverts the last label change (by appending the previous value to the history).
    pub fn undo(&mut self) -> Result<Option<i64>, StoreError> {
        let Some(change) = self.undo.pop() else {
            return Ok(None);
        };
        self.project.set_label(
            change.item_id,
            &change.annotator,
            &change.field,
            change.before.as_deref(),
        )?;
        self.reload_item(change.item_id)?;
        let id = change.item_id;
        self.redo.push(change);
        self.selected = Some(id);
        Ok(Some(id))
    }

    pub fn redo(&mut self) -> Result<Option<i64>, StoreError> {
        let Some(change) = self.redo.pop() else {
            return Ok(None);
        };
        self.project.set_label(
            change.item_id,
            &change.annotator,
            &change.field,
            change.after.as_deref(),
        )?;
        self.reload_item(change.item_id)?;
        let id = change.item_id;
        self.undo.push(change);
        self.selected = Some(id);
        Ok(Some(id))
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Moves an item into or out of the test pool.
    pub fn set_test(&mut self, item_id: i64, in_test: bool) -> Result<(), StoreError> {
        self.project.set_test(item_id, in_test)?;
        self.reload_item(item_id)
    }

    pub fn set_remark(
        &mut self,
        item_id: i64,
        annotator: &str,
        remark: &Remark,
    ) -> Result<(), StoreError> {
        self.project.set_remark(item_id, annotator, remark)?;
        self.reload_item(item_id)
    }

    /// The file the viewer opens for `row`: the item's file, or for a case
    /// the file of the shown modality; `Err` says which modality the case
    /// lacks.
    pub fn shown_file(&self, row: &ItemRow) -> Result<std::path::PathBuf, String> {
        let Some(case) = &row.case else {
            return Ok(self.project.resolve(&row.item));
        };
        let roles = &self.project.schema().modalities;
        match self
            .cases
            .shown(row.item.id, roles, self.shown_role.as_deref())
        {
            super::cases::Shown::File { path, .. } => Ok(path),
            super::cases::Shown::Missing { role: Some(role) } => Err(format!(
                "case {case} has no {role} (its record and labels are shown)"
            )),
            super::cases::Shown::Missing { role: None } => Err(format!(
                "case {case} has no {} (its record and labels are shown)",
                if roles.is_empty() {
                    "images".to_string()
                } else {
                    roles.join(" or ")
                }
            )),
        }
    }

    /// Items per pool, and per pool the consensus target classes.
    pub fn counts(&self) -> BTreeMap<Pool, BTreeMap<String, usize>> {
        if let Some(counts) = self.counts.borrow().as_ref() {
            return counts.clone();
        }
        let counts = self.count_rows();
        self.counts.replace(Some(counts.clone()));
        counts
    }

    fn count_rows(&self) -> BTreeMap<Pool, BTreeMap<String, usize>> {
        let target = self.project.schema().target.clone();
        let mut out: BTreeMap<Pool, BTreeMap<String, usize>> =
            Pool::ALL.iter().map(|p| (*p, BTreeMap::new())).collect();
        for row in &self.rows {
            let class = row.consensus(&target).unwrap_or("(none)").to_string();
            *out.entry(row.item.pool)
                .or_default()
                .entry(class)
                .or_default() += 1;
        }
        out
    }

    /// Every annotator who labeled something (adjudications aside).
    pub fn annotators(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| r.labels.keys().cloned())
            .filter(|a| a != ADJUDICATOR)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What the app must do after a labeling command, beyond the session itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelingOutcome {
    /// The selection changed: show the selected item's file.
    pub show_selected: bool,
    /// Something to tell the user.
    pub info: Option<String>,
}

impl LabelingOutcome {
    fn show() -> Self {
        Self {
            show_selected: true,
            info: None,
        }
    }

    fn shown_with(text: String) -> Self {
        Self {
            show_selected: true,
            info: Some(text),
        }
    }

    fn info(text: &str) -> Self {
        Self {
            show_selected: false,
            info: Some(text.to_string()),
        }
    }
}

impl ProjectSession {
    /// Shows the item the queue handed out, saying why when a reviewer returned it.
    fn returned_outcome(&mut self) -> LabelingOutcome {
        match self.returned_reason.take() {
            Some(reason) => LabelingOutcome::shown_with(format!(
                "a reviewer returned this item to you: {reason}"
            )),
            None => LabelingOutcome::show(),
        }
    }

    /// Applies a labeling command as `annotator` (the owner of
    /// [`LabelingCommand`]s); an error is for the user, and nothing saved is lost.
    pub fn apply(
        &mut self,
        command: LabelingCommand,
        annotator: &str,
    ) -> Result<LabelingOutcome, String> {
        let error = |e: StoreError| e.to_string();
        let selected = self.selected;
        match command {
            LabelingCommand::SelectItem(id) => {
                self.selected = Some(id);
                Ok(LabelingOutcome::show())
            }
            LabelingCommand::StepItem(delta) => {
                self.step(delta);
                Ok(LabelingOutcome::show())
            }
            LabelingCommand::NextUnlabeled => {
                Ok(if self.next_unlabeled(annotator).map_err(error)? {
                    self.returned_outcome()
                } else {
                    LabelingOutcome::info("every listed item has your label")
                })
            }
            LabelingCommand::NextMostUncertain => {
                Ok(if self.next_most_uncertain(annotator).map_err(error)? {
                    LabelingOutcome::show()
                } else {
                    LabelingOutcome::info(
                        "no predictions yet: train a model (or run loupe predict) first",
                    )
                })
            }
            LabelingCommand::SetUncertainty(measure) => {
                self.uncertainty = measure;
                self.order_changed();
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::SetLabel { field, value } => {
                self.label_and_advance(&field, value, annotator)
            }
            LabelingCommand::Adjudicate { field, value } => {
                self.label_and_advance(&field, value, ADJUDICATOR)
            }
            LabelingCommand::SetRemark(_)
            | LabelingCommand::SetCrop { .. }
            | LabelingCommand::SetTest(_)
            | LabelingCommand::SetRecord { .. }
            | LabelingCommand::SetSlicePick(_) => {
                if let Some(id) = selected {
                    self.edit_item(id, command, annotator).map_err(error)?;
                }
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::Undo | LabelingCommand::Redo => {
                let changed = if command == LabelingCommand::Undo {
                    self.undo()
                } else {
                    self.redo()
                }
                .map_err(error)?;
                Ok(LabelingOutcome {
                    show_selected: changed.is_some(),
                    info: None,
                })
            }
            LabelingCommand::SetFilter(filter) => {
                self.filter = filter;
                self.rows_changed();
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::SetSort(sort) => {
                self.sort = sort;
                self.order_changed();
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::SetAutoAdvance(on) => {
                self.auto_advance = on;
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::ShowColumn(column) => {
                self.shown_column = column;
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::ShowModality(role) => {
                self.shown_role = role;
                Ok(LabelingOutcome::show())
            }
            LabelingCommand::ComputeAgreement => {
                self.agreement = Some(crate::store::export::stats(&self.project).map_err(error)?);
                Ok(LabelingOutcome::default())
            }
            LabelingCommand::HideAgreement => {
                self.agreement = None;
                Ok(LabelingOutcome::default())
            }
        }
    }

    /// An edit of item `id` as `annotator`: its remark, crop box, pool,
    /// record value or slice pick (each kept append-only by the store).
    fn edit_item(
        &mut self,
        id: i64,
        command: LabelingCommand,
        annotator: &str,
    ) -> Result<(), StoreError> {
        match command {
            LabelingCommand::SetRemark(remark) => {
                self.set_remark(id, annotator, &remark)?;
            }
            LabelingCommand::SetCrop { crop, image_size } => {
                if let Some(b) = crop {
                    crate::store::crops::check_crop(b, image_size[0], image_size[1])?;
                }
                self.project.set_crop(id, annotator, crop)?;
            }
            LabelingCommand::SetTest(in_test) => {
                self.set_test(id, in_test)?;
            }
            LabelingCommand::SetRecord { column, value } => {
                let values = BTreeMap::from([(column, value)]);
                self.project.set_record(id, annotator, &values)?;
                self.cases.records.insert(id, self.project.record(id)?);
            }
            LabelingCommand::SetSlicePick(slices) => {
                if let Some(role) = self.project.schema().modalities.first().cloned() {
                    self.project
                        .set_slice_pick(id, &role, annotator, slices.as_deref())?;
                    self.cases.slice_picks =
                        super::cases::CaseIndex::load_slice_picks(&self.project)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets a label on the selected item as `annotator` (the adjudicator
    /// for a reviewer's value) and, for a target label with auto-advance
    /// on, moves to the next listed item.
    fn label_and_advance(
        &mut self,
        field: &str,
        value: Option<String>,
        annotator: &str,
    ) -> Result<LabelingOutcome, String> {
        let Some(id) = self.selected else {
            return Ok(LabelingOutcome::default());
        };
        // The list as it was, so advancing works even when the label moves the item out of a filter.
        let order: Vec<i64> = self.visible().iter().map(|r| r.item.id).collect();
        self.set_label(id, annotator, field, value.as_deref())
            .map_err(|e| e.to_string())?;
        let is_target = field == self.project.schema().target;
        if is_target && value.is_some() && self.auto_advance && annotator != ADJUDICATOR {
            let after = order.iter().position(|&i| i == id).map_or(0, |p| p + 1);
            if let Some(&next) = order.get(after) {
                self.selected = Some(next);
                return Ok(LabelingOutcome::show());
            }
        }
        Ok(LabelingOutcome::default())
    }
}

/// Browsing and labeling the open project; applied by [`super::ProjectSession::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum LabelingCommand {
    SelectItem(i64),
    /// Previous (−1) or next (+1) item of the browser's list.
    StepItem(i64),
    NextUnlabeled,
    /// Active learning: the unlabeled item the model is least sure of.
    NextMostUncertain,
    SetUncertainty(UncertaintyMeasure),
    /// Set (or clear) a field of the selected item as the current annotator.
    SetLabel {
        field: String,
        value: Option<String>,
    },
    /// A reviewer's final value for a field of the selected item.
    Adjudicate {
        field: String,
        value: Option<String>,
    },
    SetRemark(Remark),
    /// Correct the selected image's crop box (`None`: back to the automatic
    /// one); `image_size` is the shown image's width and height, to check it.
    SetCrop {
        crop: Option<[u32; 4]>,
        image_size: [u32; 2],
    },
    /// Put the selected item into the test pool (true) or back into training (false).
    SetTest(bool),
    Undo,
    Redo,
    SetFilter(BrowserFilter),
    SetSort(SortOrder),
    SetAutoAdvance(bool),
    ComputeAgreement,
    /// Close the agreement shown.
    HideAgreement,
    /// Set (or clear, `None`) a column of the selected case's record as the
    /// current annotator.
    SetRecord {
        column: String,
        value: Option<String>,
    },
    /// Show this modality of a case in the viewer (`None`: its first).
    ShowModality(Option<String>),
    /// Override the slices a 2-D model reads of the selected case's series
    /// (`None`: withdraw the override, the slice policy's pick holds).
    SetSlicePick(Option<Vec<usize>>),
    /// Show this record column under each case in the browser (`None`: none).
    ShowColumn(Option<String>),
}
