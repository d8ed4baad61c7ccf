//! Work taken offline, and synced back.
//!
//! `loupe checkout` claims items for an annotator (leases as long as a day's
//! work) and writes an *offline copy*: an ordinary folder project holding
//! those items' files, their labels and remarks as they were, and where it
//! came from. It opens in the window and the CLI like any folder, with no
//! server. `loupe sync` (and the window, by itself, whenever the server
//! answers) pushes the labels and remarks written in it since.
//!
//! A sync is one transaction on the server and idempotent: each row written
//! offline has a uid (the copy's random id, the table, the row's local id)
//! recorded in the server's `synced` table in the same transaction, so a
//! row is added once however often a sync is run or cut short — a sync the
//! server died in is done again whole by the next one. Rows keep the time
//! they were written offline; on the server they are appended to the
//! history, so consensus, agreement and disagreements are computed as for
//! labels written there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::db::{Sql, args};
use super::label_maps::MapFile;
use super::names::ExportFolder;
use super::offline_tables::{CarriedTables, SYNCED_TABLES};
use super::queue::WorkUnit;
use super::{ADJUDICATOR, Project, StoreError, postgres};

/// The `meta` keys of an offline copy.
const OF: &str = "offline_of";
const ANNOTATOR: &str = "offline_annotator";
const COPY_ID: &str = "offline_id";
const LABELS_SYNCED_TO: &str = "offline_labels_synced_to";
const REMARKS_SYNCED_TO: &str = "offline_remarks_synced_to";
/// Set in a copy the window made by itself when its server went away: it
/// goes back to the server once everything in it is synced.
const FALLBACK: &str = "offline_fallback";
/// The table of painted maps (their files go with their rows).
const MAPS: &str = "label_maps";

/// How long work taken offline stays claimed unless asked: a working day.
pub const DEFAULT_OFFLINE_HOURS: u32 = 8;

/// What a checkout wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckoutReport {
    pub items: usize,
    pub folder: PathBuf,
    /// When the leases end, milliseconds since 1970 by the server's clock.
    pub expires_ms: i64,
}

/// Where an offline copy came from and what waits to go back.
#[derive(Clone, Debug, PartialEq)]
pub struct OfflineCopy {
    /// The project it came from: a folder, or a URL without its password.
    pub of: String,
    pub annotator: String,
    pub labels_waiting: usize,
    pub remarks_waiting: usize,
    /// Made by the window when its server went away ([`fallback_copy`]).
    pub fallback: bool,
    /// Eye grades, zone marks, record edits and slice picks written in the
    /// copy, waiting.
    pub grades_waiting: usize,
    /// Label maps painted (saved) in the copy, waiting.
    pub maps_waiting: usize,
}

impl OfflineCopy {
    /// Everything written in the copy that the server does not have yet.
    pub fn waiting(&self) -> usize {
        self.labels_waiting + self.remarks_waiting + self.grades_waiting + self.maps_waiting
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub labels: usize,
    pub remarks: usize,
    /// Eye grades and zone marks.
    pub grades: usize,
    /// Edits of cases' records and slice picks.
    pub case_edits: usize,
    /// Painted label maps (file and row).
    pub maps: usize,
    /// Offline labels older than the same annotator's later label of the
    /// same field on the server: kept in the history, the later one current.
    pub older: usize,
    /// Rows the server already had (an earlier sync, cut short after its commit).
    pub already: usize,
}

/// Claims up to `count` items of `server` for `annotator` for `hours` and
/// writes them, with their files, labels and remarks, as a folder project at
/// `destination` (new or empty; it appears complete or not at all).
pub fn checkout(
    server: &mut Project,
    annotator: Option<&str>,
    destination: &Path,
    count: usize,
    hours: u32,
) -> Result<CheckoutReport, StoreError> {
    let annotator = server.annotator(annotator)?;
    let items = server.items()?;
    let order: Vec<WorkUnit> = super::queue::queue_order(&items)
        .into_iter()
        .map(WorkUnit::Item)
        .collect();
    let claims = server.claim_many(&annotator, &order, count, hours.saturating_mul(3600))?;
    let Some(expires_ms) = claims.iter().map(|c| c.expires_ms).max() else {
        return Err(StoreError::Invalid(format!(
            "nothing is left for {annotator} to take offline"
        )));
    };
    let claimed: BTreeSet<i64> = claims
        .iter()
        .filter_map(|c| match c.unit {
            WorkUnit::Item(id) => Some(id),
            WorkUnit::Eye(..) => None,
        })
        .collect();
    // A screening project's eyes go whole: every photograph of each exam
    // a claimed photograph belongs to (the others are not claimed).
    let tables = CarriedTables::read(server)?;
    let claimed = tables.whole_exams(&claimed);
    let labels = server.all_current_labels()?;
    let remarks = server.all_remarks()?;
    // Each painter's current map of the copied items goes along, so
    // painting goes on from it offline.
    let mut maps = Vec::new();
    for (item, records) in server.all_label_maps()? {
        if claimed.contains(&item) {
            for r in records {
                maps.push(MapFile::read(server.files_root(), &r)?);
            }
        }
    }
    let folder = ExportFolder::create(destination)?;
    let mut local = Project::create(folder.path(), server.schema())?;
    let mut rows = Vec::new();
    let mut case_files = BTreeMap::new();
    for item in items.iter().filter(|i| claimed.contains(&i.id)) {
        match tables.case_files(item.id) {
            Some(files) => {
                let (stored, by_role) = copy_case_files(server, item, files, &folder)?;
                rows.push((item, stored));
                case_files.insert(item.id, by_role);
            }
            None => rows.push((item, copy_item_files(server, item, &folder)?)),
        }
    }
    let of = offline_of(server.root());
    let carried = Carried {
        labels: &labels,
        remarks: &remarks,
        tables: &tables,
        case_files: &case_files,
        maps: &maps,
    };
    write_copy(&mut local, &rows, &carried, &of, &annotator, false)?;
    drop(local);
    folder.finish()?;
    Ok(CheckoutReport {
        items: rows.len(),
        folder: destination.to_path_buf(),
        expires_ms,
    })
}

/// An item's labels and remarks as the copy starts with them, by item.
type LabelsByItem = BTreeMap<i64, super::Labels>;
type RemarksByItem = BTreeMap<i64, BTreeMap<String, super::Remark>>;

/// Writes the copy's items (each with the path it reads its file from),
/// their labels and remarks, and the copy's record: where it came from, for
/// whom, its id, and that everything written so far is the server's.
/// What a new copy starts with besides its items.
struct Carried<'a> {
    labels: &'a LabelsByItem,
    remarks: &'a RemarksByItem,
    tables: &'a CarriedTables,
    /// Each copied case's files as the copy stores them, by role.
    case_files: &'a BTreeMap<i64, BTreeMap<String, String>>,
    /// Painted maps of the copied items (their files go into the copy).
    maps: &'a [MapFile],
}

fn write_copy(
    local: &mut Project,
    rows: &[(&super::Item, String)],
    carried: &Carried<'_>,
    of: &str,
    annotator: &str,
    fallback: bool,
) -> Result<(), StoreError> {
    let (labels, remarks) = (carried.labels, carried.remarks);
    let ids: BTreeSet<i64> = rows.iter().map(|(item, _)| item.id).collect();
    let files_root = local.files_root().to_path_buf();
    let mut map_files = Vec::with_capacity(carried.maps.len());
    for map in carried.maps {
        map_files.push(local.label_map_file(map.item_id, &map.annotator)?);
    }
    local.write(|tx| {
        for (item, stored) in rows {
            tx.execute(
                "INSERT INTO items (id, path, content_hash, pool, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![item.id, stored, item.content_hash, item.pool.as_str(), item.added_at],
            )?;
            for (who, fields) in labels.get(&item.id).into_iter().flatten() {
                for (field, value) in fields {
                    tx.execute(
                        "INSERT INTO annotations (item_id, annotator, field, value) VALUES (?1, ?2, ?3, ?4)",
                        args![item.id, who, field, value],
                    )?;
                }
            }
            for (who, remark) in remarks.get(&item.id).into_iter().flatten() {
                tx.execute(
                    "INSERT INTO remarks (item_id, annotator, unsure, note) VALUES (?1, ?2, ?3, ?4)",
                    args![item.id, who, remark.unsure, remark.note],
                )?;
            }
        }
        carried.tables.write(tx, &ids, carried.case_files)?;
        for (map, relative) in carried.maps.iter().zip(&map_files) {
            map.add_to(tx, &files_root, relative, false)?;
        }
        let maps_to: i64 = tx.value("SELECT coalesce(max(id), 0) FROM label_maps", args![])?;
        super::set_meta(tx, &super::offline_tables::mark_key(MAPS), &maps_to.to_string())?;
        for (key, to) in super::offline_tables::initial_marks(tx)? {
            super::set_meta(tx, &key, &to.to_string())?;
        }
        let labels_to: i64 = tx.value("SELECT coalesce(max(id), 0) FROM annotations", args![])?;
        let remarks_to: i64 = tx.value("SELECT coalesce(max(id), 0) FROM remarks", args![])?;
        super::set_meta(tx, OF, of)?;
        super::set_meta(tx, ANNOTATOR, annotator)?;
        super::set_meta(tx, COPY_ID, &postgres::random_password())?;
        super::set_meta(tx, LABELS_SYNCED_TO, &labels_to.to_string())?;
        super::set_meta(tx, REMARKS_SYNCED_TO, &remarks_to.to_string())?;
        if fallback {
            super::set_meta(tx, FALLBACK, "1")?;
        }
        Ok(())
    })
}

/// One item as a window holds it when its server stops answering.
pub struct HeldItem<'a> {
    pub item: &'a super::Item,
    /// Where this workstation reads its file (on the share).
    pub file: PathBuf,
    pub labels: &'a super::Labels,
    pub remarks: &'a BTreeMap<String, super::Remark>,
}

/// Writes a *fallback copy* at `destination` (new or empty): what a team
/// window holds in memory when its server stops answering — every item,
/// pointing at its file where this workstation sees it (nothing is copied:
/// the share usually outlives the database's network), with the labels and
/// remarks the window showed. It syncs like a checkout's copy; it holds no
/// claims (the server could not be asked), so consensus settles any item
/// someone else labeled meanwhile.
pub fn fallback_copy(
    destination: &Path,
    of: &Path,
    schema: &super::Schema,
    annotator: &str,
    held: &[HeldItem<'_>],
    tables: &CarriedTables,
    maps: &[MapFile],
) -> Result<PathBuf, StoreError> {
    super::check_stored_annotator(annotator)?;
    let folder = ExportFolder::create(destination)?;
    let mut local = Project::create(folder.path(), schema)?;
    let rows: Vec<(&super::Item, String)> = held
        .iter()
        .map(|h| (h.item, h.file.to_string_lossy().into_owned()))
        .collect();
    let labels: LabelsByItem = held.iter().map(|h| (h.item.id, h.labels.clone())).collect();
    let remarks: RemarksByItem = held
        .iter()
        .map(|h| (h.item.id, h.remarks.clone()))
        .collect();
    // A case's files stay where this workstation reads them, like items'.
    let case_files: BTreeMap<i64, BTreeMap<String, String>> = held
        .iter()
        .filter_map(|h| {
            let files = tables.case_files(h.item.id)?;
            let stored = files
                .iter()
                .map(|(role, (path, _))| (role.clone(), path.to_string_lossy().into_owned()))
                .collect();
            Some((h.item.id, stored))
        })
        .collect();
    let carried = Carried {
        labels: &labels,
        remarks: &remarks,
        tables,
        case_files: &case_files,
        maps,
    };
    write_copy(
        &mut local,
        &rows,
        &carried,
        &offline_of(of),
        annotator,
        true,
    )?;
    drop(local);
    folder.finish()?;
    Ok(destination.to_path_buf())
}

/// How the copy names its origin: a URL without its password (the password
/// comes from `PGPASSWORD` or `.pgpass` at sync), or the folder, absolute.
fn offline_of(root: &Path) -> String {
    let text = root.to_string_lossy();
    if postgres::is_url(&text) {
        postgres::without_password(&text)
    } else {
        std::path::absolute(root)
            .unwrap_or_else(|_| root.to_path_buf())
            .to_string_lossy()
            .into_owned()
    }
}

/// Copies what an item names (a file, a `.hdr` with its `.img`, a DICOM
/// series folder) to `images/<id>_<name>` in the copy; returns its stored path.
fn copy_item_files(
    server: &Project,
    item: &super::Item,
    folder: &ExportFolder,
) -> Result<String, StoreError> {
    copy_into_images(folder, &format!("{}_", item.id), &server.resolve(item))
}

/// [`super::copy_source`] into the copy's `images/`, as a stored path.
fn copy_into_images(
    folder: &ExportFolder,
    prefix: &str,
    source: &Path,
) -> Result<String, StoreError> {
    let stored = super::copy_source(folder, Path::new("images"), prefix, source)?;
    Ok(stored.to_string_lossy().replace('\\', "/"))
}

/// Copies a case's files to `images/<id>_<role>_<name>` in the copy:
/// returns the item's stored path (the copy of the file it names) and each
/// role's stored path.
fn copy_case_files(
    server: &Project,
    item: &super::Item,
    files: &super::cases::CaseFiles,
    folder: &ExportFolder,
) -> Result<(String, BTreeMap<String, String>), StoreError> {
    let own = server.resolve(item);
    let mut by_role = BTreeMap::new();
    let mut item_path = None;
    for (role, (path, _)) in files {
        let stored = copy_into_images(folder, &format!("{}_{role}_", item.id), path)?;
        if *path == own || item_path.is_none() {
            item_path = Some(stored.clone());
        }
        by_role.insert(role.clone(), stored);
    }
    let item_path = match item_path {
        Some(path) => path,
        None => copy_item_files(server, item, folder)?,
    };
    Ok((item_path, by_role))
}

/// Where `local` came from and what waits to sync; `None` when it is not an
/// offline copy.
pub fn offline_copy(local: &Project) -> Result<Option<OfflineCopy>, StoreError> {
    let (Some(of), Some(annotator)) = (
        super::meta(&local.db, OF)?,
        super::meta(&local.db, ANNOTATOR)?,
    ) else {
        return Ok(None);
    };
    let (labels_to, remarks_to) = synced_to(local)?;
    let labels_waiting: i64 = local.db.value(
        "SELECT count(*) FROM annotations WHERE id > ?1",
        args![labels_to],
    )?;
    let remarks_waiting: i64 = local.db.value(
        "SELECT count(*) FROM remarks WHERE id > ?1",
        args![remarks_to],
    )?;
    Ok(Some(OfflineCopy {
        of,
        annotator,
        labels_waiting: usize::try_from(labels_waiting).unwrap_or(0),
        remarks_waiting: usize::try_from(remarks_waiting).unwrap_or(0),
        fallback: super::meta(&local.db, FALLBACK)?.is_some(),
        grades_waiting: grades_waiting(local)?,
        maps_waiting: usize::try_from(local.db.value::<i64>(
            "SELECT count(*) FROM label_maps WHERE id > ?1",
            args![table_mark(local, MAPS)?],
        )?)
        .unwrap_or(0),
    }))
}

/// Eye grades, zone marks, record edits and slice picks written in the copy since its last sync.
fn grades_waiting(local: &Project) -> Result<usize, StoreError> {
    let mut waiting = 0;
    for table in SYNCED_TABLES {
        if !local.has_table(table)? {
            continue;
        }
        let to = table_mark(local, table)?;
        let count: i64 = local.db.value(
            &format!("SELECT count(*) FROM {table} WHERE id > ?1"),
            args![to],
        )?;
        waiting += usize::try_from(count).unwrap_or(0);
    }
    Ok(waiting)
}

/// The copy's last row of `table` the server has.
fn table_mark(local: &Project, table: &str) -> Result<i64, StoreError> {
    Ok(
        super::meta(&local.db, &super::offline_tables::mark_key(table))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

/// The last annotation and remark rows of the copy the server has:
/// everything after them waits to sync.
fn synced_to(local: &Project) -> Result<(i64, i64), StoreError> {
    let mark = |key: &str| -> Result<i64, StoreError> {
        Ok(super::meta(&local.db, key)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    };
    Ok((mark(LABELS_SYNCED_TO)?, mark(REMARKS_SYNCED_TO)?))
}

/// `local`'s offline copy record, or an error saying it is not one.
fn require_copy(local: &Project) -> Result<OfflineCopy, StoreError> {
    offline_copy(local)?.ok_or_else(|| {
        StoreError::Invalid(format!(
            "{} is not an offline copy (made by `loupe checkout`)",
            local.root().display()
        ))
    })
}

/// A row written offline, as it goes to the server.
struct OfflineRow {
    local_id: i64,
    item_id: i64,
    annotator: String,
    /// Annotations: field and value; remarks: unsure (0/1) and note.
    first: crate::store::db::Value,
    second: crate::store::db::Value,
    created_at: String,
}

fn offline_rows(local: &Project, table: &str, after: i64) -> Result<Vec<OfflineRow>, StoreError> {
    let columns = if table == "annotations" {
        "field, value"
    } else {
        "unsure, note"
    };
    let rows = local.db.query(
        &format!(
            "SELECT id, item_id, annotator, {columns}, created_at FROM {table} WHERE id > ?1 ORDER BY id"
        ),
        args![after],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(OfflineRow {
            local_id: row.get(0)?,
            item_id: row.get(1)?,
            annotator: row.get(2)?,
            first: row.0[3].clone(),
            second: row.0[4].clone(),
            created_at: row.get(5)?,
        });
    }
    Ok(out)
}

/// Pushes what was written in the offline copy `local` since its last sync
/// to `server`, in one transaction; then notes locally how far it got.
pub fn sync(local: &mut Project, server: &mut Project) -> Result<SyncReport, StoreError> {
    let copy = require_copy(local)?;
    sync_copy(local, server, &copy)
}

/// [`sync`] of a copy already read.
fn sync_copy(
    local: &mut Project,
    server: &mut Project,
    copy: &OfflineCopy,
) -> Result<SyncReport, StoreError> {
    let (labels_to, remarks_to) = synced_to(local)?;
    let copy_id = super::meta(&local.db, COPY_ID)?.ok_or_else(|| {
        StoreError::Invalid(format!(
            "{}: the offline copy has no id",
            local.root().display()
        ))
    })?;
    let labels = offline_rows(local, "annotations", labels_to)?;
    let remarks = offline_rows(local, "remarks", remarks_to)?;
    check_rows(local, server, copy, labels.iter().chain(&remarks))?;
    let mut grades = Vec::new();
    for table in SYNCED_TABLES {
        let rows = super::offline_tables::waiting_rows(local, table, table_mark(local, table)?)?;
        if let Some((id, who, _)) = rows.iter().find(|(_, who, _)| *who != copy.annotator) {
            return Err(StoreError::Invalid(format!(
                "the offline copy holds {table} by {} (row {id}); only {}'s work syncs — nothing was synced",
                crate::user_file::shown(who),
                copy.annotator
            )));
        }
        grades.push((table, rows));
    }
    let maps = waiting_maps(local, server, copy)?;
    let server_files = server.files_root().to_path_buf();
    let labels_its_item = server.schema().targets_label_maps();
    let target = server.schema().target.clone();
    let report = server.write(|tx| {
        let mut report = SyncReport::default();
        for (local_id, map, relative) in &maps {
            if first_sync(tx, &copy_id, MAPS, *local_id)? {
                map.add_to(tx, &server_files, relative, labels_its_item)?;
                report.maps += 1;
            } else {
                report.already += 1;
            }
        }
        for (table, rows) in &grades {
            for (local_id, _, values) in rows {
                if first_sync(tx, &copy_id, table, *local_id)? {
                    super::offline_tables::push_row(tx, table, values)?;
                    if super::offline_tables::is_case_table(table) {
                        report.case_edits += 1;
                    } else {
                        report.grades += 1;
                    }
                } else {
                    report.already += 1;
                }
            }
        }
        let mut pools = BTreeSet::new();
        for (table, rows) in [("annotations", &labels), ("remarks", &remarks)] {
            for row in rows.iter() {
                if !first_sync(tx, &copy_id, table, row.local_id)? {
                    report.already += 1;
                    continue;
                }
                // The annotator's newest label of this field on the server,
                // when it was given after this offline one.
                let later = if table == "annotations" {
                    later_label_on_server(tx, row)?
                } else {
                    None
                };
                let columns = if table == "annotations" {
                    report.labels += 1;
                    if row.first == crate::store::db::Value::Text(target.clone()) {
                        pools.insert(row.item_id);
                    }
                    "field, value"
                } else {
                    report.remarks += 1;
                    "unsure, note"
                };
                tx.execute(
                    &format!(
                        "INSERT INTO {table} (item_id, annotator, {columns}, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5)"
                    ),
                    &[
                        crate::store::db::ToValue::to_value(&row.item_id),
                        crate::store::db::ToValue::to_value(&row.annotator),
                        row.first.clone(),
                        row.second.clone(),
                        crate::store::db::ToValue::to_value(&row.created_at),
                    ],
                )?;
                if let Some((value, created_at)) = later {
                    // The history keeps the offline label; the later one stays
                    // current (the newest row is current), restated as given.
                    tx.execute(
                        "INSERT INTO annotations (item_id, annotator, field, value, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        &[
                            crate::store::db::ToValue::to_value(&row.item_id),
                            crate::store::db::ToValue::to_value(&row.annotator),
                            row.first.clone(),
                            value,
                            crate::store::db::ToValue::to_value(&created_at),
                        ],
                    )?;
                    report.older += 1;
                }
            }
        }
        for item in pools {
            super::refresh_pool(tx, item, &target)?;
        }
        Ok(report)
    })?;
    let last = |rows: &[OfflineRow], from: i64| rows.last().map_or(from, |r| r.local_id);
    let (labels_to, remarks_to) = (last(&labels, labels_to), last(&remarks, remarks_to));
    local.write(|tx| {
        if let Some((last, _, _)) = maps.last() {
            super::set_meta(
                tx,
                &super::offline_tables::mark_key(MAPS),
                &last.to_string(),
            )?;
        }
        for (table, rows) in &grades {
            if let Some((last, _, _)) = rows.last() {
                super::set_meta(
                    tx,
                    &super::offline_tables::mark_key(table),
                    &last.to_string(),
                )?;
            }
        }
        super::set_meta(tx, LABELS_SYNCED_TO, &labels_to.to_string())?;
        super::set_meta(tx, REMARKS_SYNCED_TO, &remarks_to.to_string())
    })?;
    Ok(report)
}

/// Records a row of the copy as synced (its uid: the copy, the table, its
/// local id); whether it was new — `false` when an earlier sync took it.
fn first_sync(
    tx: &super::db::Tx,
    copy_id: &str,
    table: &str,
    local_id: i64,
) -> Result<bool, StoreError> {
    let uid = format!("{copy_id}:{table}:{local_id}");
    Ok(tx.execute(
        "INSERT INTO synced (uid) VALUES (?1) ON CONFLICT (uid) DO NOTHING",
        args![uid],
    )? == 1)
}

/// The annotator's newest label of the offline row's item and field on the
/// server — value and time — when it was given after the offline row.
fn later_label_on_server(
    tx: &super::db::Tx,
    row: &OfflineRow,
) -> Result<Option<(crate::store::db::Value, String)>, StoreError> {
    let newest = tx.query_opt(
        "SELECT value, created_at FROM annotations WHERE item_id = ?1 AND annotator = ?2 \
         AND field = ?3 ORDER BY id DESC LIMIT 1",
        &[
            crate::store::db::ToValue::to_value(&row.item_id),
            crate::store::db::ToValue::to_value(&row.annotator),
            row.first.clone(),
        ],
    )?;
    let Some(newest) = newest else {
        return Ok(None);
    };
    let created_at: String = newest.get(1)?;
    Ok((created_at > row.created_at).then(|| (newest.0[0].clone(), created_at)))
}

/// The maps painted in the copy since its last sync: (local id, the map
/// with its file's bytes, where the server keeps that painter's map of
/// that item). Only the copy's annotator's maps go.
fn waiting_maps(
    local: &Project,
    server: &Project,
    copy: &OfflineCopy,
) -> Result<Vec<(i64, MapFile, String)>, StoreError> {
    let rows = local.db.query(
        "SELECT id, item_id, annotator, file, labeled_voxels, created_at FROM label_maps \
         WHERE id > ?1 ORDER BY id",
        args![table_mark(local, MAPS)?],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, item, annotator): (i64, i64, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        if annotator != copy.annotator {
            return Err(StoreError::Invalid(format!(
                "the offline copy holds a label map by {} (row {id}); only {}'s work syncs — \
                 nothing was synced",
                crate::user_file::shown(&annotator),
                copy.annotator
            )));
        }
        let record = super::label_maps::LabelMapRecord {
            item_id: item,
            annotator,
            file: row.get(3)?,
            labeled_voxels: row.get(4)?,
            saved_at: row.get(5)?,
        };
        let map = MapFile::read(local.files_root(), &record)?;
        let relative = server.label_map_file(item, &map.annotator)?;
        out.push((id, map, relative));
    }
    Ok(out)
}

/// Before anything is written: every row is the copy's annotator's, and each
/// item is the same file on the server (same id, same content hash).
fn check_rows<'a>(
    local: &Project,
    server: &Project,
    copy: &OfflineCopy,
    rows: impl Iterator<Item = &'a OfflineRow>,
) -> Result<(), StoreError> {
    let server_hashes: BTreeMap<i64, String> = server
        .items()?
        .into_iter()
        .map(|i| (i.id, i.content_hash))
        .collect();
    let local_hashes: BTreeMap<i64, String> = local
        .items()?
        .into_iter()
        .map(|i| (i.id, i.content_hash))
        .collect();
    for row in rows {
        if row.annotator != copy.annotator || row.annotator == ADJUDICATOR {
            return Err(StoreError::Invalid(format!(
                "the offline copy holds work by {} (row {}); only {}'s work syncs — nothing was synced",
                crate::user_file::shown(&row.annotator),
                row.local_id,
                copy.annotator
            )));
        }
        if server_hashes.get(&row.item_id) != local_hashes.get(&row.item_id) {
            return Err(StoreError::Invalid(format!(
                "item {} of the offline copy is not the same file on {}; nothing was synced",
                row.item_id, copy.of
            )));
        }
    }
    Ok(())
}

/// Opens an offline copy's project, then where it came from (a URL's
/// password from `PGPASSWORD` or `.pgpass`), and syncs.
pub fn sync_folder(local_root: &Path) -> Result<(OfflineCopy, SyncReport), StoreError> {
    let mut local = Project::open(local_root)?;
    let copy = require_copy(&local)?;
    let mut server = Project::open(Path::new(&copy.of))?;
    let report = sync_copy(&mut local, &mut server, &copy)?;
    Ok((copy, report))
}
