//! Who works on what next: leases on items and eyes, and the review queue.
//!
//! *Next item* claims an item for its annotator with a lease (an expiry in
//! the database's own clock, so workstations whose clocks differ agree),
//! renewed while the item is open; other annotators are handed other items
//! until it expires. A project setting says how many different annotators
//! label each item ([`QueueSettings::labels_per_item`]): 1 on a team project
//! unless set (each item goes to one person), every annotator on a folder
//! project (one person, or graders taking turns for an agreement study).
//! Leases steer what the queues hand out; they never refuse a label.
//!
//! A claim is one write transaction, and write transactions are serialised
//! on both engines (SQLite `BEGIN IMMEDIATE`, PostgreSQL one advisory lock:
//! `Db::write`), so two clients claiming at once see each
//! other's leases: the read-then-write needs no `SELECT … FOR UPDATE SKIP
//! LOCKED`, which would also need a row per item to lock.
//!
//! A lease is one row per unit and annotator, its expiry moved on renewal
//! (it steers work and is not part of any history, so it is not kept);
//! verdicts are append-only, like every other history.
//!
//! Reviewers work through the *review queue*: items whose annotators
//! disagree (and no adjudication settles it) or that an annotator flagged
//! unsure, oldest first, until each current label on them has a verdict.
//! Accepting a label settles the disagreement (the label becomes the
//! adjudicated one); rejecting it, with a reason, returns the item to its
//! annotator's queue until they label it again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::db::{Sql, Tx, Value, args};
use super::exams::EyeRef;
use super::{ADJUDICATOR, Project, StoreError, annotator_name};
use crate::rop::exam::Eye;

/// The tables of the queues (made with the store's later tables; on
/// PostgreSQL by `init`, or by the admin's first open of an older project).
pub(crate) const QUEUE_SQL: &str = "
CREATE TABLE IF NOT EXISTS leases (
    unit TEXT NOT NULL,
    annotator TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (unit, annotator)
);
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_ms);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    label_id INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS reviews_by_item ON reviews (item_id, annotator, id);
CREATE TABLE IF NOT EXISTS synced (
    uid TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
";

/// How long a lease lasts unless the project says otherwise.
pub const DEFAULT_LEASE_SECONDS: u32 = 600;
/// The longest lease a project may set (a working day).
pub const MAX_LEASE_SECONDS: u32 = 12 * 3600;
/// The most annotators an item may be meant for.
pub const MAX_LABELS_PER_ITEM: u32 = 100;
/// The longest reason a rejection may give, in characters.
pub const REASON_MAX_CHARS: usize = 500;

/// The queue's project settings (`meta` keys `labels_per_item`,
/// `lease_seconds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// How many different annotators label each item (and grade each eye);
    /// `None`: every annotator labels everything.
    pub labels_per_item: Option<u32>,
    pub lease_seconds: u32,
}

/// What a queue hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkUnit {
    Item(i64),
    /// An eye at an exam (ROP screening projects): `(exam id, eye)`.
    Eye(i64, Eye),
}

impl WorkUnit {
    /// The lease table's key: `item:12`, `eye:34:OD`.
    fn key(self) -> String {
        match self {
            WorkUnit::Item(id) => format!("item:{id}"),
            WorkUnit::Eye(exam, eye) => format!("eye:{exam}:{}", eye.name()),
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        let mut parts = key.split(':');
        match (parts.next()?, parts.next()?, parts.next()) {
            ("item", id, None) => id.parse().ok().map(WorkUnit::Item),
            ("eye", exam, Some(eye)) => {
                Some(WorkUnit::Eye(exam.parse().ok()?, Eye::parse(eye).ok()?))
            }
            _ => None,
        }
    }

    fn is_eye(self) -> bool {
        matches!(self, WorkUnit::Eye(..))
    }
}

/// A unit handed to an annotator.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub unit: WorkUnit,
    /// When the lease ends, milliseconds since 1970 by the database's clock.
    pub expires_ms: i64,
    /// How long it runs from the claim (what a renewal adds again).
    pub lease_ms: i64,
    /// Set when a reviewer rejected the annotator's label on it: the reason.
    pub returned: Option<String>,
}

/// An active lease: who holds which unit.
struct Lease {
    unit: WorkUnit,
    annotator: String,
}

/// The queue's own order of items, where no list or model chooses one
/// (`loupe next`, work taken offline): unlabeled items first, then labeled
/// ones (open while the project asks for more labels per item than they
/// have), then the test pool; by id within each.
pub fn queue_order(items: &[super::Item]) -> Vec<i64> {
    let mut ordered: Vec<&super::Item> = items.iter().collect();
    ordered.sort_by_key(|i| {
        (
            i.pool != super::Pool::Unlabeled,
            i.pool == super::Pool::Test,
            i.id,
        )
    });
    ordered.iter().map(|i| i.id).collect()
}

/// The database's clock, in milliseconds since 1970: every workstation's
/// leases are measured by the same clock.
fn database_now_ms(tx: &Tx) -> Result<i64, StoreError> {
    let sql = match tx {
        Tx::Sqlite { .. } => "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Tx::Postgres { .. } => {
            "SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"
        }
    };
    tx.value(sql, args![])
}

/// The leases running at `now_ms` (an index on the expiry finds them).
fn active_leases(tx: &Tx, now_ms: i64) -> Result<Vec<Lease>, StoreError> {
    let rows = tx.query(
        "SELECT unit, annotator FROM leases WHERE expires_ms > ?1",
        args![now_ms],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let key: String = row.get(0)?;
        if let Some(unit) = WorkUnit::from_key(&key) {
            out.push(Lease {
                unit,
                annotator: row.get(1)?,
            });
        }
    }
    Ok(out)
}

/// Who has labeled each of `units` (all of one kind): a current target
/// label, or a current eye grade; the adjudicated label left out.
fn labelers(
    tx: &Tx,
    units: &[WorkUnit],
    target: &str,
) -> Result<HashMap<WorkUnit, BTreeSet<String>>, StoreError> {
    let mut out: HashMap<WorkUnit, BTreeSet<String>> = HashMap::new();
    if units.first().is_some_and(|u| u.is_eye()) {
        // Eyes are few (two per exam): one pass over the grades.
        if !tx.has_table("eye_grades")? {
            return Ok(out);
        }
        for row in tx.query(
            "SELECT DISTINCT exam_id, eye, annotator FROM eye_grades WHERE annotator <> ?1",
            args![ADJUDICATOR],
        )? {
            let eye: String = row.get(1)?;
            if let Ok(eye) = Eye::parse(&eye) {
                out.entry(WorkUnit::Eye(row.get(0)?, eye))
                    .or_default()
                    .insert(row.get(2)?);
            }
        }
        return Ok(out);
    }
    let ids: Vec<Value> = units
        .iter()
        .filter_map(|u| match u {
            WorkUnit::Item(id) => Some(Value::Int(*id)),
            WorkUnit::Eye(..) => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let placeholders: Vec<String> = (3..3 + ids.len()).map(|k| format!("?{k}")).collect();
    let mut values = vec![
        Value::Text(target.to_string()),
        Value::Text(ADJUDICATOR.into()),
    ];
    values.extend(ids);
    // The candidates' rows only (the item index), grouped: a pair counts
    // when its newest row is also its newest row with a value.
    let sql = format!(
        "SELECT item_id, annotator FROM annotations
         WHERE field = ?1 AND annotator <> ?2 AND item_id IN ({})
         GROUP BY item_id, annotator
         HAVING max(id) = max(CASE WHEN value IS NOT NULL THEN id END)",
        placeholders.join(", ")
    );
    for row in tx.query(&sql, &values)? {
        out.entry(WorkUnit::Item(row.get(0)?))
            .or_default()
            .insert(row.get(1)?);
    }
    Ok(out)
}

/// Items a reviewer returned to `annotator` (their newest label there was
/// rejected and they have not labeled it since), oldest rejection first,
/// with the reason.
fn returned_items(tx: &impl Sql, annotator: &str) -> Result<Vec<(i64, String)>, StoreError> {
    if !tx.has_table("reviews")? {
        return Ok(Vec::new());
    }
    tx.map_rows(
        "SELECT r.item_id, r.reason FROM reviews r
         WHERE r.annotator = ?1 AND r.verdict = 'reject'
           AND r.id = (SELECT max(id) FROM reviews s
                       WHERE s.item_id = r.item_id AND s.annotator = r.annotator)
           AND r.label_id >= (SELECT coalesce(max(id), 0) FROM annotations a
                              WHERE a.item_id = r.item_id AND a.annotator = r.annotator)
         ORDER BY r.id",
        args![annotator],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?
    .collect()
}

/// Sets `annotator`'s lease on `unit` to end at `expires_ms` (0: let go).
fn set_lease(tx: &Tx, unit: WorkUnit, annotator: &str, expires_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO leases (unit, annotator, expires_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (unit, annotator) DO UPDATE SET expires_ms = excluded.expires_ms",
        args![unit.key(), annotator, expires_ms],
    )?;
    Ok(())
}

/// How many candidates a claim looks at per query: it stops at the first
/// chunk that holds what it needs, so a claim costs about the same in a
/// project of any size.
const CLAIM_CHUNK: usize = 256;

/// What a claim asks for.
struct ClaimRequest<'a> {
    annotator: &'a str,
    /// The candidates in the order the queue prefers them (all of one kind).
    order: &'a [WorkUnit],
    /// How many units to claim (offline work takes several).
    count: usize,
    /// Let go of the annotator's other leases of the same kind (*Next*
    /// moves on; taking work offline keeps them).
    release_others: bool,
    lease_ms: i64,
}

impl Project {
    /// The queue settings, defaults filled in.
    pub fn queue_settings(&self) -> Result<QueueSettings, StoreError> {
        let labels_per_item = match super::meta(&self.db, "labels_per_item")?.as_deref() {
            Some("all") => None,
            Some(n) => Some(n.parse().map_err(|_| {
                StoreError::Invalid(format!(
                    "the project's labels_per_item {n:?} is not a number"
                ))
            })?),
            None if self.is_shared() => Some(1),
            None => None,
        };
        let lease_seconds = match super::meta(&self.db, "lease_seconds")? {
            Some(s) => s.parse().map_err(|_| {
                StoreError::Invalid(format!("the project's lease_seconds {s:?} is not a number"))
            })?,
            None => DEFAULT_LEASE_SECONDS,
        };
        Ok(QueueSettings {
            labels_per_item,
            lease_seconds,
        })
    }

    /// Sets the queue settings (an admin's on a team project: the server
    /// refuses others).
    pub fn set_queue_settings(&mut self, settings: QueueSettings) -> Result<(), StoreError> {
        if let Some(n) = settings.labels_per_item
            && !(1..=MAX_LABELS_PER_ITEM).contains(&n)
        {
            return Err(StoreError::Invalid(format!(
                "labels per item must be 1–{MAX_LABELS_PER_ITEM} or all, not {n}"
            )));
        }
        if !(1..=MAX_LEASE_SECONDS).contains(&settings.lease_seconds) {
            return Err(StoreError::Invalid(format!(
                "a lease lasts 1 s to {} h, not {} s",
                MAX_LEASE_SECONDS / 3600,
                settings.lease_seconds
            )));
        }
        let labels = settings
            .labels_per_item
            .map_or("all".to_string(), |n| n.to_string());
        self.write(|tx| {
            super::set_meta(tx, "labels_per_item", &labels)?;
            super::set_meta(tx, "lease_seconds", &settings.lease_seconds.to_string())
        })
    }

    /// Claims the first item of `order` (item ids, the queue's preferred
    /// order) that `annotator` should label next, and lets go of their other
    /// item leases: an item a reviewer returned to them comes first; then
    /// one they have not labeled, that fewer than the project's labels per
    /// item have labeled or hold. The item's id and the claim; `None` when
    /// nothing is left.
    pub fn claim_next_item(
        &mut self,
        annotator: &str,
        order: &[i64],
    ) -> Result<Option<(i64, Claim)>, StoreError> {
        let order: Vec<WorkUnit> = order.iter().map(|&id| WorkUnit::Item(id)).collect();
        let claim = self
            .claim_units(annotator, &order, 1, true, None)?
            .into_iter()
            .next();
        Ok(claim.and_then(|c| match c.unit {
            WorkUnit::Item(id) => Some((id, c)),
            WorkUnit::Eye(..) => None,
        }))
    }

    /// [`Project::claim_next_item`] for eyes at exams, in `order`: the
    /// next eye `annotator` has not graded and few enough graders hold.
    pub fn claim_next_eye(
        &mut self,
        annotator: &str,
        order: &[EyeRef],
    ) -> Result<Option<(EyeRef, Claim)>, StoreError> {
        let ids = self.exam_ids()?;
        let units: Vec<WorkUnit> = order
            .iter()
            .filter_map(|e| {
                let exam = ids.get(&(e.infant.clone(), e.exam_date.to_string()))?;
                Some(WorkUnit::Eye(*exam, e.eye))
            })
            .collect();
        let Some(claim) = self
            .claim_units(annotator, &units, 1, true, None)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let eye = units
            .iter()
            .position(|u| *u == claim.unit)
            .and_then(|k| order.get(k))
            .cloned()
            .ok_or_else(|| StoreError::Invalid("a claimed eye is not in the order".into()))?;
        Ok(Some((eye, claim)))
    }

    /// Every eye with photographs, by infant, exam date, then right before left.
    pub fn eyes_in_order(&self) -> Result<Vec<EyeRef>, StoreError> {
        let eyes: BTreeSet<EyeRef> = self
            .exam_images()?
            .into_values()
            .map(|(eye, _, _)| eye)
            .collect();
        Ok(eyes.into_iter().collect())
    }

    /// Exam ids by (infant, exam date).
    fn exam_ids(&self) -> Result<HashMap<(String, String), i64>, StoreError> {
        if !self.has_table("exams")? {
            return Ok(HashMap::new());
        }
        let rows = self.db.query(
            "SELECT e.id, i.name, e.exam_date FROM exams e JOIN infants i ON i.id = e.infant_id",
            args![],
        )?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            out.insert((row.get(1)?, row.get(2)?), row.get(0)?);
        }
        Ok(out)
    }

    /// Claims up to `count` units of `order` at once, keeping the
    /// annotator's other leases (work taken offline).
    pub fn claim_many(
        &mut self,
        annotator: &str,
        order: &[WorkUnit],
        count: usize,
        lease_seconds: u32,
    ) -> Result<Vec<Claim>, StoreError> {
        self.claim_units(annotator, order, count, false, Some(lease_seconds))
    }

    fn claim_units(
        &mut self,
        annotator: &str,
        order: &[WorkUnit],
        count: usize,
        release_others: bool,
        lease_seconds: Option<u32>,
    ) -> Result<Vec<Claim>, StoreError> {
        let annotator = annotator_name(annotator)?;
        let settings = self.queue_settings()?;
        let target = self.schema.target.clone();
        let request = ClaimRequest {
            annotator: &annotator,
            order,
            count,
            release_others,
            lease_ms: i64::from(
                lease_seconds
                    .unwrap_or(settings.lease_seconds)
                    .min(MAX_LEASE_SECONDS),
            ) * 1000,
        };
        self.write(|tx| claim_in(tx, &request, settings.labels_per_item, &target))
    }

    /// Extends `annotator`'s lease on `unit` by the project's lease time
    /// from now (the window does it while the unit is open). A lease that
    /// has run out is taken again; nothing is refused.
    pub fn renew_lease(&mut self, annotator: &str, unit: WorkUnit) -> Result<i64, StoreError> {
        let lease_ms = i64::from(self.queue_settings()?.lease_seconds) * 1000;
        self.write(|tx| {
            let expires_ms = database_now_ms(tx)? + lease_ms;
            set_lease(tx, unit, annotator, expires_ms)?;
            Ok(expires_ms)
        })
    }

    /// Items a reviewer returned to `annotator`, oldest first, with the reason.
    pub fn returned_items(&self, annotator: &str) -> Result<Vec<(i64, String)>, StoreError> {
        returned_items(&self.db, annotator)
    }
}

/// The claim itself, inside the write transaction that serialises it with
/// every other writer.
fn claim_in(
    tx: &Tx,
    request: &ClaimRequest,
    labels_per_item: Option<u32>,
    target: &str,
) -> Result<Vec<Claim>, StoreError> {
    let now = database_now_ms(tx)?;
    let me = request.annotator;
    let eyes = request.order.first().is_some_and(|u| u.is_eye());
    let leases = active_leases(tx, now)?;
    let mut held_by_others: HashMap<WorkUnit, usize> = HashMap::new();
    let mut mine: Vec<WorkUnit> = Vec::new();
    for lease in &leases {
        if lease.unit.is_eye() != eyes {
            continue;
        }
        if lease.annotator == me {
            mine.push(lease.unit);
        } else {
            *held_by_others.entry(lease.unit).or_default() += 1;
        }
    }
    let in_order: BTreeSet<WorkUnit> = request.order.iter().copied().collect();
    let mut picked: Vec<Claim> = Vec::new();
    let returned: Vec<(WorkUnit, String)> = if eyes {
        returned_eyes(tx, me)?
    } else {
        returned_items(tx, me)?
            .into_iter()
            .map(|(item, reason)| (WorkUnit::Item(item), reason))
            .collect()
    };
    {
        for (unit, reason) in returned {
            if picked.len() < request.count && in_order.contains(&unit) {
                picked.push(Claim {
                    unit,
                    expires_ms: now + request.lease_ms,
                    lease_ms: request.lease_ms,
                    returned: Some(reason),
                });
            }
        }
    }
    let chunks: Vec<&[WorkUnit]> = if eyes {
        vec![request.order]
    } else {
        request.order.chunks(CLAIM_CHUNK).collect()
    };
    for chunk in chunks {
        if picked.len() >= request.count {
            break;
        }
        let labelers = labelers(tx, chunk, target)?;
        for &unit in chunk {
            if picked.len() >= request.count {
                break;
            }
            if picked.iter().any(|c| c.unit == unit) {
                continue;
            }
            let done_by = labelers.get(&unit);
            if done_by.is_some_and(|who| who.contains(me)) {
                continue;
            }
            let open = labels_per_item.is_none_or(|n| {
                let held = held_by_others.get(&unit).copied().unwrap_or(0);
                done_by.map_or(0, BTreeSet::len) + held < n as usize
            });
            if open {
                picked.push(Claim {
                    unit,
                    expires_ms: now + request.lease_ms,
                    lease_ms: request.lease_ms,
                    returned: None,
                });
            }
        }
    }
    if request.release_others {
        for unit in mine
            .iter()
            .filter(|u| !picked.iter().any(|c| c.unit == **u))
        {
            set_lease(tx, *unit, me, 0)?;
        }
    }
    for claim in &picked {
        set_lease(tx, claim.unit, me, claim.expires_ms)?;
    }
    Ok(picked)
}

/// Eyes a reviewer returned to `annotator` that they have not graded again
/// since, oldest first, with the reason (the claim hands them out first).
fn returned_eyes(tx: &Tx, annotator: &str) -> Result<Vec<(WorkUnit, String)>, StoreError> {
    if !tx.has_table("eye_reviews")? {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "SELECT r.exam_id, r.eye, r.reason FROM eye_reviews r \
         WHERE r.annotator = ?1 AND r.verdict = 'reject' \
           AND r.id = (SELECT max(id) FROM eye_reviews n WHERE n.exam_id = r.exam_id \
                       AND n.eye = r.eye AND n.annotator = r.annotator) \
           AND NOT EXISTS (SELECT 1 FROM eye_grades g WHERE g.exam_id = r.exam_id \
                       AND g.eye = r.eye AND g.annotator = r.annotator \
                       AND g.created_at > r.created_at) \
         ORDER BY r.id",
        args![annotator],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let eye: String = row.get(1)?;
        let unit = WorkUnit::from_key(&format!("eye:{}:{eye}", row.get::<i64>(0)?))
            .ok_or_else(|| StoreError::Invalid(format!("eye_reviews holds eye {eye:?}")))?;
        out.push((unit, row.get(2)?));
    }
    Ok(out)
}

/// A verdict's reason, trimmed: required to reject, one line, bounded.
pub(crate) fn check_reason(verdict: Verdict, reason: &str) -> Result<String, StoreError> {
    let reason = reason.trim();
    if verdict == Verdict::Reject && reason.is_empty() {
        return Err(StoreError::Invalid(
            "say why the label is rejected (a reason is required)".into(),
        ));
    }
    if reason.chars().count() > REASON_MAX_CHARS || reason.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "a reason is one line of at most {REASON_MAX_CHARS} characters"
        )));
    }
    Ok(reason.to_string())
}

/// A reviewer's verdict on one annotator's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject,
}

impl Verdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
        }
    }
}

/// Why an item waits for a reviewer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReviewEntry {
    pub item_id: i64,
    /// Fields whose annotators disagree, no adjudication settling them.
    pub disagreements: Vec<String>,
    /// Annotators who flagged the item unsure, with their note.
    pub flagged: Vec<(String, String)>,
    /// Annotators whose current label has no verdict yet.
    pub waiting: Vec<String>,
    /// When the oldest label without a verdict was given (database time).
    pub since: String,
}

/// One current label's place in the history: its newest row.
struct LabelVersion {
    label_id: i64,
    created_at: String,
}

impl Project {
    /// The review queue, oldest first: items with a disagreement no
    /// adjudication settles, or flagged unsure, that still have a current
    /// label without a verdict.
    pub fn review_queue(&self) -> Result<Vec<ReviewEntry>, StoreError> {
        let labels = self.all_current_labels()?;
        let remarks = self.all_remarks()?;
        let versions = self.label_versions()?;
        let reviewed = self.reviewed_labels()?;
        let fields: Vec<String> = self.schema.fields.iter().map(|f| f.name.clone()).collect();
        let mut entries = Vec::new();
        let items: BTreeSet<i64> = labels.keys().chain(remarks.keys()).copied().collect();
        for item in items {
            let item_labels = labels.get(&item);
            let disagreements: Vec<String> = fields
                .iter()
                .filter(|field| {
                    let Some(by) = item_labels else { return false };
                    if by.get(ADJUDICATOR).and_then(|f| f.get(*field)).is_some() {
                        return false;
                    }
                    let values: BTreeSet<&String> = by
                        .iter()
                        .filter(|(who, _)| who.as_str() != ADJUDICATOR)
                        .filter_map(|(_, f)| f.get(*field))
                        .collect();
                    values.len() > 1
                })
                .cloned()
                .collect();
            let flagged: Vec<(String, String)> = remarks
                .get(&item)
                .into_iter()
                .flatten()
                .filter(|(_, r)| r.unsure)
                .map(|(who, r)| (who.clone(), r.note.clone()))
                .collect();
            if disagreements.is_empty() && flagged.is_empty() {
                continue;
            }
            let mut waiting: Vec<(&String, &LabelVersion)> = versions
                .get(&item)
                .into_iter()
                .flatten()
                .filter(|(who, _)| who.as_str() != ADJUDICATOR)
                .filter(|(who, v)| {
                    reviewed
                        .get(&(item, (*who).clone()))
                        .is_none_or(|&last| last < v.label_id)
                })
                .collect();
            if waiting.is_empty() {
                continue;
            }
            waiting.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at));
            entries.push(ReviewEntry {
                item_id: item,
                disagreements,
                flagged,
                since: waiting[0].1.created_at.clone(),
                waiting: waiting.iter().map(|(who, _)| (*who).clone()).collect(),
            });
        }
        entries.sort_by(|a, b| a.since.cmp(&b.since).then(a.item_id.cmp(&b.item_id)));
        Ok(entries)
    }

    /// Each annotator's newest annotation row of each item.
    fn label_versions(&self) -> Result<BTreeMap<i64, BTreeMap<String, LabelVersion>>, StoreError> {
        let rows = self.db.query(
            "SELECT a.item_id, a.annotator, a.id, a.created_at FROM annotations a
             WHERE a.id IN (SELECT max(id) FROM annotations GROUP BY item_id, annotator)",
            args![],
        )?;
        let mut out: BTreeMap<i64, BTreeMap<String, LabelVersion>> = BTreeMap::new();
        for row in rows {
            out.entry(row.get(0)?).or_default().insert(
                row.get(1)?,
                LabelVersion {
                    label_id: row.get(2)?,
                    created_at: row.get(3)?,
                },
            );
        }
        Ok(out)
    }

    /// The newest label row each (item, annotator) has a verdict on.
    fn reviewed_labels(&self) -> Result<HashMap<(i64, String), i64>, StoreError> {
        if !self.has_table("reviews")? {
            return Ok(HashMap::new());
        }
        let rows = self.db.query(
            "SELECT item_id, annotator, max(label_id) FROM reviews GROUP BY item_id, annotator",
            args![],
        )?;
        let mut out = HashMap::new();
        for row in rows {
            out.insert((row.get(0)?, row.get(1)?), row.get(2)?);
        }
        Ok(out)
    }

    /// Records `reviewer`'s verdict on `annotator`'s current label of
    /// `item_id` (append-only). Accepting it also makes its values the
    /// adjudicated label of every field the annotators disagree on; a
    /// rejection needs a reason and returns the item to the annotator.
    pub fn review_label(
        &mut self,
        item_id: i64,
        annotator: &str,
        reviewer: &str,
        verdict: Verdict,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reviewer = annotator_name(reviewer)?;
        let reason = check_reason(verdict, reason)?;
        let reason = reason.as_str();
        let labels = self.current_labels(item_id)?;
        let theirs = labels.get(annotator).cloned().ok_or_else(|| {
            StoreError::Invalid(format!(
                "{} has no label on item {item_id}",
                crate::user_file::shown(annotator)
            ))
        })?;
        let settles: Vec<(String, String)> = if verdict == Verdict::Accept {
            theirs
                .iter()
                .filter(|(field, value)| {
                    labels.iter().any(|(who, f)| {
                        who != ADJUDICATOR && f.get(*field).is_some_and(|v| v != *value)
                    })
                })
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let target = self.schema.target.clone();
        self.write(|tx| {
            let label_id: i64 = tx.value(
                "SELECT coalesce(max(id), 0) FROM annotations WHERE item_id = ?1 AND annotator = ?2",
                args![item_id, annotator],
            )?;
            tx.execute(
                "INSERT INTO reviews (item_id, annotator, label_id, reviewer, verdict, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![item_id, annotator, label_id, reviewer, verdict.as_str(), reason],
            )?;
            for (field, value) in &settles {
                tx.execute(
                    "INSERT INTO annotations (item_id, annotator, field, value) VALUES (?1, ?2, ?3, ?4)",
                    args![item_id, ADJUDICATOR, field, value],
                )?;
            }
            if settles.iter().any(|(f, _)| *f == target) {
                super::refresh_pool(tx, item_id, &target)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_keys_round_trip() {
        for unit in [
            WorkUnit::Item(12),
            WorkUnit::Eye(34, Eye::Left),
            WorkUnit::Eye(1, Eye::Right),
        ] {
            assert_eq!(WorkUnit::from_key(&unit.key()), Some(unit));
        }
        assert_eq!(WorkUnit::Eye(34, Eye::Left).key(), "eye:34:OS");
        assert_eq!(WorkUnit::from_key("item:x"), None);
        assert_eq!(WorkUnit::from_key("eye:3"), None);
    }
}
