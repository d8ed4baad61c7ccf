//! The project store: one folder with `loupe.sqlite` (WAL mode) holding
//! items, pools and the append-only annotation history. Every label is
//! committed with `synchronous = FULL` before the call returns: once a
//! caller is told a label is set, a crash or power cut cannot lose it.

pub mod agreement;
pub mod cases;
pub mod crops;
pub mod csv;
pub(crate) mod db;
pub mod exams;
pub mod export;
pub mod eye_review;
pub mod import;
pub mod label_maps;
pub mod names;
pub mod offline;
pub mod offline_tables;
pub mod postgres;
pub mod postgres_tls;
pub mod push;
pub mod queue;
pub mod schema;
pub mod split;
pub mod zone_marks;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use db::{Db, Sql, Tx, args};
use sha2::{Digest, Sha256};

pub use schema::{Field, Schema};

/// The database file inside a project folder.
pub const DATABASE_FILE: &str = "loupe.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("project database error ({source}): {}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("project database error on {server}: {message}")]
    Postgres { server: String, message: String },
    /// The server wants a password Loupe does not have (`wrong: false`), or
    /// refused the one given: the window asks for one.
    #[error("project database error on {server}: {}", password_problem(*.wrong))]
    Password { server: String, wrong: bool },
    /// Reading or writing: the path and the system's reason.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a Loupe project (no {DATABASE_FILE}): {}", .0.display())]
    NotAProject(PathBuf),
    #[error("a Loupe project already exists: {}", .0.display())]
    AlreadyExists(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

fn password_problem(wrong: bool) -> &'static str {
    if wrong {
        "wrong password or user"
    } else {
        "the server asks for a password (none in the URL, PGPASSWORD or ~/.pgpass; the window \
         asks for it)"
    }
}

/// Which pool an item is in: exactly one at any time.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Has a target label: used for the supervised part of training.
    Labeled,
    /// No target label yet: what semi-supervised training learns from.
    Unlabeled,
    /// Held out for evaluation; never trained on.
    Test,
}

impl Pool {
    pub const ALL: [Pool; 3] = [Pool::Labeled, Pool::Unlabeled, Pool::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Labeled => "labeled",
            Pool::Unlabeled => "unlabeled",
            Pool::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// An image or volume in the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    /// As stored: relative to the project folder when inside it, else absolute.
    pub path: String,
    /// SHA-256 of the file's bytes, hex.
    pub content_hash: String,
    pub pool: Pool,
    pub added_at: String,
}

/// One entry of the annotation history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Annotation {
    pub item_id: i64,
    pub annotator: String,
    pub field: String,
    /// `None` clears the field.
    pub value: Option<String>,
    pub created_at: String,
}

/// What happened to a file offered for import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    Added(i64),
    /// The same bytes are already in the project, as this item.
    Duplicate(i64),
}

/// An item's current labels: annotator → field → value.
pub type Labels = BTreeMap<String, BTreeMap<String, String>>;

/// What [`Project::merge_labels`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merge {
    pub applied: usize,
    /// Offered values the annotator's current label already had.
    pub unchanged: usize,
    /// (field, the annotator's newer label kept, the value offered).
    pub kept: Vec<(String, Option<String>, String)>,
}

/// An open project.
pub struct Project {
    /// How the project was named: its folder, or its `postgres://` URL.
    root: PathBuf,
    /// Where painted maps, runs and exports are written: the folder itself,
    /// or a PostgreSQL project's files root on the share.
    files_root: PathBuf,
    /// What stored relative image paths are relative to.
    images_root: PathBuf,
    db: Db,
    schema: Schema,
    /// A PostgreSQL project's connection user: the only annotator it may write as.
    user: Option<String>,
}

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    pool TEXT NOT NULL CHECK (pool IN ('labeled', 'unlabeled', 'test')),
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS annotations_by_item ON annotations (item_id, annotator, field, id);
CREATE TABLE IF NOT EXISTS remarks (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    unsure INTEGER NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    run TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    entropy REAL NOT NULL,
    mc_dropout_entropy REAL,
    disagreement REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
";

/// The one insert of an item: a duplicate (the same identity already in
/// the project) is reported, not inserted. Called inside a write
/// transaction, so of two imports at once the second sees the first.
pub(crate) fn insert_item(
    tx: &Tx,
    stored_path: &str,
    identity: &str,
    pool: Pool,
) -> Result<AddOutcome, StoreError> {
    if let Some(row) = tx.query_opt(
        "SELECT id FROM items WHERE content_hash = ?1",
        args![identity],
    )? {
        return Ok(AddOutcome::Duplicate(row.get(0)?));
    }
    let id = tx.insert(
        "INSERT INTO items (path, content_hash, pool) VALUES (?1, ?2, ?3)",
        args![stored_path, identity, pool.as_str()],
    )?;
    Ok(AddOutcome::Added(id))
}

/// Indexes and tables added after format 1 (painted label maps): made when
/// missing, but a project that cannot be written (read-only media) opens
/// without them.
const LATER_INDEXES_SQL: &str = "
CREATE INDEX IF NOT EXISTS predictions_by_item ON predictions (item_id, id);
CREATE INDEX IF NOT EXISTS remarks_by_item ON remarks (item_id, annotator, id);
CREATE TABLE IF NOT EXISTS label_maps (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    file TEXT NOT NULL,
    labeled_voxels INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS label_maps_by_item ON label_maps (item_id, annotator, id);
CREATE TABLE IF NOT EXISTS crops (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    x0 INTEGER, y0 INTEGER, x1 INTEGER, y1 INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS crops_by_item ON crops (item_id, id);
CREATE TABLE IF NOT EXISTS cases (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS case_files (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    role TEXT NOT NULL,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_files_by_item ON case_files (item_id, role, id);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    column_name TEXT NOT NULL,
    value TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS records_by_item ON records (item_id, column_name, id);
CREATE TABLE IF NOT EXISTS slice_picks (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    role TEXT NOT NULL,
    annotator TEXT NOT NULL,
    slices TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS slice_picks_by_item ON slice_picks (item_id, role, id);
";

/// The store's format: 2 hashes `.hdr`/`.img` pairs over both files.
const FORMAT: &str = "2";

/// A model's opinion of an item, from a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    pub item_id: i64,
    pub run: String,
    /// Class probabilities in the target field's value order.
    pub probabilities: Vec<f32>,
    /// Predictive entropy of `probabilities` (nats).
    pub entropy: f64,
    /// Epistemic (mutual-information) entropy from Monte-Carlo dropout passes.
    pub mc_dropout_entropy: Option<f64>,
    /// Total-variation distance between student and teacher probabilities.
    pub disagreement: Option<f64>,
}

/// An annotator's "unsure" flag and free-text note on an item.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Remark {
    pub unsure: bool,
    pub note: String,
}

/// Reserved annotator name for a reviewer's adjudicated label.
pub const ADJUDICATOR: &str = "adjudicated";

/// Who CSV labels are recorded for when the CSV names no annotator (the
/// window and the CLI alike).
pub const IMPORT_ANNOTATOR: &str = "import";

/// Longest annotator name, in characters.
pub const ANNOTATOR_NAME_MAX_CHARS: usize = 64;

/// The one rule for annotator names, wherever a name comes from (the
/// window, `--annotator`, a CSV's `annotator` column, settings): surrounding
/// spaces are dropped, so `"ana "` is `"ana"`; empty names, control
/// characters, names over [`ANNOTATOR_NAME_MAX_CHARS`] and the reserved
/// [`ADJUDICATOR`] (in any case) are refused, naming the problem.
pub fn annotator_name(raw: &str) -> Result<String, StoreError> {
    let name = raw.trim();
    let quoted = crate::user_file::shown(name);
    if name.is_empty() {
        return Err(StoreError::Invalid("annotator name is empty".into()));
    }
    if name.eq_ignore_ascii_case(ADJUDICATOR) {
        return Err(StoreError::Invalid(format!(
            "annotator name {quoted} is reserved for adjudicated labels (set them in the window's label table)"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "annotator name {quoted} contains a control character"
        )));
    }
    if name.chars().count() > ANNOTATOR_NAME_MAX_CHARS {
        return Err(StoreError::Invalid(format!(
            "annotator name {quoted} is longer than {ANNOTATOR_NAME_MAX_CHARS} characters"
        )));
    }
    // An annotator's painted maps and exports are files named after them:
    // a name that cannot name a file is refused here, for labels alike.
    names::safe_file_name(name).map_err(|_| {
        StoreError::Invalid(format!(
            "annotator name {quoted} cannot name a file (\".\", \"..\" or reserved on Windows, \
             such as CON)"
        ))
    })?;
    Ok(name.to_string())
}

impl Project {
    /// Creates a project in `root` (created if missing) with `schema`.
    pub fn create(root: &Path, schema: &Schema) -> Result<Self, StoreError> {
        schema
            .validate_new()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        std::fs::create_dir_all(root).map_err(|source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let db = root.join(DATABASE_FILE);
        if db.exists() {
            return Err(StoreError::AlreadyExists(root.to_path_buf()));
        }
        let conn = connect(&db)?;
        let schema_json =
            serde_json::to_string(schema).map_err(|e| StoreError::Invalid(e.to_string()))?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1), ('format', ?2)",
            args![schema_json, FORMAT],
        )?;
        Ok(Self {
            root: root.to_path_buf(),
            files_root: root.to_path_buf(),
            images_root: root.to_path_buf(),
            db: conn,
            schema: schema.clone(),
            user: None,
        })
    }

    /// Opens the project in `root`: a folder, or a `postgres://` URL
    /// ([`postgres::Locator`]).
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        if let Some(locator) = postgres::Locator::from_path(root) {
            return postgres::open(&locator?, root);
        }
        if !is_project(root) {
            return Err(StoreError::NotAProject(root.to_path_buf()));
        }
        let db = root.join(DATABASE_FILE);
        let conn = connect(&db)?;
        let schema_json: String =
            conn.value("SELECT value FROM meta WHERE key = 'schema'", args![])?;
        let schema = Schema::from_json(&schema_json)
            .map_err(|e| StoreError::Invalid(format!("{e}: {}", db.display())))?;
        let mut project = Self {
            root: root.to_path_buf(),
            files_root: root.to_path_buf(),
            images_root: root.to_path_buf(),
            db: conn,
            schema,
            user: None,
        };
        // A project on read-only media still opens (its pairs keep the old
        // identity until it is opened where it can be written).
        if let Err(e) = project.upgrade() {
            log::warn!(
                "project {} not upgraded to format {FORMAT}: {e}",
                root.display()
            );
        }
        Ok(project)
    }

    /// Brings a project written by an older Loupe to [`FORMAT`]: format 1
    /// identified `.hdr`/`.img` pairs by the header alone; their identity is
    /// recomputed over both files where the files are present (an item
    /// whose files are missing keeps its old hash until *Find moved files*
    /// finds it by its header and gives it the new one).
    fn upgrade(&mut self) -> Result<(), StoreError> {
        let format: Option<String> = self
            .db
            .query_opt("SELECT value FROM meta WHERE key = 'format'", args![])?
            .map(|r| r.get(0))
            .transpose()?;
        if format.as_deref() == Some(FORMAT) {
            return Ok(());
        }
        let pairs: Vec<(i64, String)> = self
            .items()?
            .into_iter()
            .filter(|i| {
                let path = i.path.to_ascii_lowercase();
                path.ends_with(".hdr") || path.ends_with(".hdr.gz")
            })
            .filter_map(|i| {
                let hash = content_hash(&self.resolve(&i)).ok()?;
                Some((i.id, hash))
            })
            .collect();
        self.write(|tx| {
            for (id, hash) in &pairs {
                tx.execute(
                    "UPDATE items SET content_hash = ?1 WHERE id = ?2",
                    args![hash, id],
                )?;
            }
            set_meta(tx, "format", FORMAT)
        })
    }

    /// How the project was named (its folder or its URL): what
    /// [`Project::open`] takes to open it again.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The project's name for titles: its folder's name, or a team
    /// project's database (user@server, no password).
    pub fn title(&self) -> String {
        match postgres::Locator::from_path(&self.root) {
            // Short enough for the browser's heading: the socket folder or
            // host, not the whole URL.
            Some(Ok(l)) => {
                let place = if l.host.starts_with('/') {
                    "this machine"
                } else {
                    l.host.as_str()
                };
                format!("{} (team, {place})", l.database)
            }
            _ => self
                .root
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        }
    }

    /// Where the project's own files go (painted maps, runs, exports): the
    /// folder of a SQLite project, the files root on the share of a
    /// PostgreSQL one.
    pub fn files_root(&self) -> &Path {
        &self.files_root
    }

    /// The database user of a PostgreSQL project (every label it writes is
    /// theirs); `None` on SQLite.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether the project lives on PostgreSQL.
    pub fn is_shared(&self) -> bool {
        self.db.is_postgres()
    }

    /// Whether a PostgreSQL project's connection is gone (server restarted):
    /// the caller reopens the project.
    pub fn connection_lost(&self) -> bool {
        match &self.db {
            Db::Postgres { client, .. } => client.try_borrow().map_or(false, |c| c.is_closed()),
            Db::Sqlite { .. } => false,
        }
    }

    /// Who writes: on PostgreSQL the connection's user (the default; another
    /// name is refused, the server would refuse it too), on SQLite the name
    /// given, which is then required.
    pub fn annotator(&self, given: Option<&str>) -> Result<String, StoreError> {
        match (&self.user, given) {
            (Some(user), None) => Ok(user.clone()),
            (Some(user), Some(given)) => {
                let given = annotator_name(given)?;
                if &given == user {
                    Ok(given)
                } else {
                    Err(StoreError::Invalid(format!(
                        "on a team project you work as your database user {user:?}, not {given:?}"
                    )))
                }
            }
            (None, Some(given)) => annotator_name(given),
            (None, None) => Err(StoreError::Invalid(
                "say who labels: --annotator NAME".into(),
            )),
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Whether a table added after format 1 exists (a project on read-only
    /// media may lack it: [`LATER_INDEXES_SQL`] could not make it).
    pub(crate) fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        self.db.has_table(name)
    }

    /// Adds a file (not copied; referenced by path and content hash). The
    /// duplicate check and the insert are one transaction, so of two imports
    /// of the same file at once the second reports a duplicate.
    pub fn add_item(&mut self, file: &Path, pool: Pool) -> Result<AddOutcome, StoreError> {
        let hash = content_hash(file)?;
        self.add_item_with_identity(file, &hash, pool)
    }

    /// Adds an item whose identity the caller computed (a DICOM series:
    /// [`series_identity`]), referenced by `path` (a folder, or `FOLDER#UID`).
    pub fn add_item_with_identity(
        &mut self,
        path: &Path,
        identity: &str,
        pool: Pool,
    ) -> Result<AddOutcome, StoreError> {
        let stored = self.stored_path(path);
        self.write(|tx| insert_item(tx, &stored, identity, pool))
    }

    /// Offers `annotator`'s `values` for an item, from an import made at
    /// `labeled_at` (when known): the rule of [`import::import`] — a value
    /// never replaces a newer label by the same annotator for the same
    /// field. One transaction.
    pub fn merge_labels(
        &mut self,
        item_id: i64,
        annotator: &str,
        values: &BTreeMap<String, String>,
        labeled_at: Option<&str>,
    ) -> Result<Merge, StoreError> {
        let offered = self.offered_labels(annotator, values)?;
        let target = self.schema.target.clone();
        self.write(|tx| merge_offered(tx, item_id, annotator, offered, labeled_at, &target))
    }

    /// Labels checked and spelled by the schema, ready for [`merge_offered`].
    pub(crate) fn offered_labels(
        &self,
        annotator: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        check_stored_annotator(annotator)?;
        let mut offered = Vec::with_capacity(values.len());
        for (field, value) in values {
            let canonical = self
                .canonical_value(field, Some(value))?
                .unwrap_or_else(|| value.clone());
            offered.push((field.clone(), canonical));
        }
        Ok(offered)
    }

    /// Relative to the project folder when inside it, so a moved folder still opens.
    fn stored_path(&self, file: &Path) -> String {
        // A series of a folder (`FOLDER#UID`): the folder is stored like a file, the selector kept.
        let (file, selector) = crate::volume::dicom::split_selector(file);
        let suffix = selector.map(|s| format!("#{s}")).unwrap_or_default();
        self.stored_file_path(&file) + &suffix
    }

    fn stored_file_path(&self, file: &Path) -> String {
        let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let root =
            std::fs::canonicalize(&self.images_root).unwrap_or_else(|_| self.images_root.clone());
        match absolute.strip_prefix(&root) {
            Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
            Err(_) => absolute.to_string_lossy().into_owned(),
        }
    }

    /// Where an item's file is on disk now.
    pub fn resolve(&self, item: &Item) -> PathBuf {
        let stored = Path::new(&item.path);
        if stored.is_absolute() {
            stored.to_path_buf()
        } else {
            self.images_root.join(stored)
        }
    }

    /// All items, by id.
    pub fn items(&self) -> Result<Vec<Item>, StoreError> {
        self.db
            .query(
                &format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY id"),
                args![],
            )?
            .iter()
            .map(item_from_row)
            .collect()
    }

    /// One item by id: one indexed row, whatever the project's size.
    pub fn item(&self, id: i64) -> Result<Item, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"),
                args![id],
            )?
            .as_ref()
            .map(item_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::Invalid(format!("no item with id {id}")))
    }

    /// An item by id, or by its path (as stored, or as given on the command line).
    pub fn find_item(&self, key: &str) -> Result<Item, StoreError> {
        if let Ok(id) = key.parse::<i64>()
            && let Ok(item) = self.item(id)
        {
            return Ok(item);
        }
        let items = self.items()?;
        let stored = self.stored_path(Path::new(key));
        items
            .into_iter()
            .find(|i| i.path == key || i.path == stored)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "no item {} in project {}",
                    crate::user_file::shown(key),
                    self.root.display()
                ))
            })
    }

    /// Records `annotator`'s value for `field` (`None` clears it) and, for
    /// the target field, moves the item between the labeled and unlabeled
    /// pools. Durable on disk when this returns.
    pub fn set_label(
        &mut self,
        item_id: i64,
        annotator: &str,
        field: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_labels(item_id, annotator, &[(field, value)])
    }

    /// Several fields of one item at once: all are checked first and written
    /// in one transaction, so a bad value leaves nothing half-applied.
    pub fn set_labels(
        &mut self,
        item_id: i64,
        annotator: &str,
        assignments: &[(&str, Option<&str>)],
    ) -> Result<(), StoreError> {
        check_stored_annotator(annotator)?;
        let mut checked = Vec::with_capacity(assignments.len());
        for &(field, value) in assignments {
            checked.push((field, self.canonical_value(field, value)?));
        }
        let touches_target = checked.iter().any(|(f, _)| *f == self.schema.target);
        let target = self.schema.target.clone();
        self.write(|tx| {
            let exists: bool = tx.value(
                "SELECT EXISTS (SELECT 1 FROM items WHERE id = ?1)",
                args![item_id],
            )?;
            if !exists {
                return Err(StoreError::Invalid(format!("no item with id {item_id}")));
            }
            for (field, value) in &checked {
                tx.execute(
                    "INSERT INTO annotations (item_id, annotator, field, value) VALUES (?1, ?2, ?3, ?4)",
                    args![item_id, annotator, field, value],
                )?;
            }
            if touches_target {
                refresh_pool(tx, item_id, &target)?;
            }
            Ok(())
        })
    }

    /// Runs `work` in one write transaction and commits it (durable on
    /// return; serialised with every other writer, on both engines).
    fn write<T>(
        &mut self,
        work: impl FnOnce(&Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.write(work)
    }

    /// The schema's spelling of a value, or an error naming the field and its values.
    fn canonical_value(
        &self,
        field: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let schema_field = self.schema.field(field).ok_or_else(|| {
            StoreError::Invalid(format!(
                "field {field:?} is not in schema {:?}",
                self.schema.name
            ))
        })?;
        let Some(v) = value else { return Ok(None) };
        schema_field
            .value_index(v)
            .map(|i| Some(schema_field.values[i].clone()))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{v:?} is not a value of {field:?} (one of: {})",
                    schema_field.values.join(", ")
                ))
            })
    }

    /// Checks a value without writing anything.
    pub fn check_value(&self, field: &str, value: &str) -> Result<(), StoreError> {
        self.canonical_value(field, Some(value)).map(|_| ())
    }

    /// Puts an item into the test pool, or takes it out (back to labeled or
    /// unlabeled by its target labels).
    pub fn set_test(&mut self, item_id: i64, in_test: bool) -> Result<(), StoreError> {
        let target = self.schema.target.clone();
        self.write(|tx| {
            let pool = if in_test { Pool::Test } else { Pool::Unlabeled };
            let changed = tx.execute(
                "UPDATE items SET pool = ?1 WHERE id = ?2",
                args![pool.as_str(), item_id],
            )?;
            if changed == 0 {
                return Err(StoreError::Invalid(format!("no item with id {item_id}")));
            }
            if !in_test {
                refresh_pool(tx, item_id, &target)?;
            }
            Ok(())
        })
    }

    /// [`Project::current_labels`] of every item at once: one indexed scan
    /// instead of a query per item (opening 100 000 items). Items without
    /// labels are absent.
    pub fn all_current_labels(&self) -> Result<BTreeMap<i64, Labels>, StoreError> {
        let rows = self.db.query(
            "SELECT item_id, annotator, field, value FROM annotations
             WHERE id IN (SELECT max(id) FROM annotations GROUP BY item_id, annotator, field)",
            args![],
        )?;
        let mut out: BTreeMap<i64, Labels> = BTreeMap::new();
        for row in rows {
            let (item, annotator, field, value): (i64, String, String, Option<String>) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
            if let Some(value) = value {
                out.entry(item)
                    .or_default()
                    .entry(annotator)
                    .or_default()
                    .insert(field, value);
            }
        }
        Ok(out)
    }

    /// When each annotator last labeled each item (their newest history
    /// entry), by (item, annotator): the export's `labeled_at`.
    pub fn all_labeled_at(&self) -> Result<BTreeMap<(i64, String), String>, StoreError> {
        self.db
            .query(
                "SELECT item_id, annotator, max(created_at) FROM annotations GROUP BY item_id, annotator",
                args![],
            )?
            .iter()
            .map(|r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .collect()
    }

    /// [`Project::remarks`] of every item at once.
    pub fn all_remarks(&self) -> Result<BTreeMap<i64, BTreeMap<String, Remark>>, StoreError> {
        let rows = self.db.query(
            "SELECT item_id, annotator, unsure, note FROM remarks
             WHERE id IN (SELECT max(id) FROM remarks GROUP BY item_id, annotator)",
            args![],
        )?;
        let mut out: BTreeMap<i64, BTreeMap<String, Remark>> = BTreeMap::new();
        for r in rows {
            let remark = Remark {
                unsure: r.get(2)?,
                note: r.get(3)?,
            };
            out.entry(r.get(0)?).or_default().insert(r.get(1)?, remark);
        }
        Ok(out)
    }

    /// Every annotator's current value per field for an item (latest entry
    /// wins; cleared fields are absent).
    pub fn current_labels(
        &self,
        item_id: i64,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
        let rows = self.db.query(
            "SELECT annotator, field, value FROM annotations a
             WHERE item_id = ?1 AND id = (SELECT max(id) FROM annotations b
                 WHERE b.item_id = a.item_id AND b.field = a.field AND b.annotator = a.annotator)",
            args![item_id],
        )?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            let (annotator, field, value): (String, String, Option<String>) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            if let Some(value) = value {
                out.entry(annotator).or_default().insert(field, value);
            }
        }
        Ok(out)
    }

    /// Records an annotator's unsure flag and note (append-only; the latest counts).
    pub fn set_remark(
        &mut self,
        item_id: i64,
        annotator: &str,
        remark: &Remark,
    ) -> Result<(), StoreError> {
        check_stored_annotator(annotator)?;
        self.db.execute(
            "INSERT INTO remarks (item_id, annotator, unsure, note) VALUES (?1, ?2, ?3, ?4)",
            args![item_id, annotator, remark.unsure, remark.note],
        )?;
        Ok(())
    }

    /// Each annotator's latest remark on an item.
    pub fn remarks(&self, item_id: i64) -> Result<BTreeMap<String, Remark>, StoreError> {
        self.db
            .query(
                "SELECT annotator, unsure, note FROM remarks
                 WHERE id IN (SELECT max(id) FROM remarks WHERE item_id = ?1 GROUP BY annotator)",
                args![item_id],
            )?
            .iter()
            .map(|r| {
                let remark = Remark {
                    unsure: r.get(1)?,
                    note: r.get(2)?,
                };
                Ok((r.get(0)?, remark))
            })
            .collect()
    }

    /// Finds items whose file is missing among the files under `folder`, by
    /// content hash, and points them there; `progress(done, total)` after
    /// each file looked at. Returns how many were found.
    pub fn relocate_missing(
        &mut self,
        folder: &Path,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<usize, StoreError> {
        let mut missing: std::collections::HashMap<String, i64> = self
            .items()?
            .into_iter()
            .filter(|i| !crate::volume::source_exists(&self.resolve(i)))
            .map(|i| (i.content_hash, i.id))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let files = import::collect_files(&[folder.to_path_buf()])?.files;
        let mut found = 0;
        for (done, file) in files.iter().enumerate() {
            progress(done, files.len());
            // An unreadable file is simply not the one sought.
            let Ok(hash) = content_hash(file) else {
                continue;
            };
            // Projects from format 1 identified a pair by its header alone.
            let legacy = || {
                let mut hasher = Sha256::new();
                hash_file(file, &mut hasher).ok()?;
                let hex: String = hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                missing.contains_key(&hex).then_some(hex)
            };
            let key = if missing.contains_key(&hash) {
                Some(hash.clone())
            } else {
                legacy()
            };
            let Some(id) = key.and_then(|k| missing.remove(&k)) else {
                continue;
            };
            self.relink(id, file, &hash)?;
            found += 1;
            if missing.is_empty() {
                break;
            }
        }
        // A DICOM series (an item named by its folder or FOLDER#UID) is
        // found by its identity, the series UID and its files' contents,
        // among the series under `folder`.
        if !missing.is_empty() {
            let dicom_files: Vec<PathBuf> = files
                .iter()
                .filter(|f| crate::volume::dicom::is_dicom_file(f))
                .cloned()
                .collect();
            let series = import::dicom_items(&dicom_files).items;
            for (path, identity) in series {
                let Some(id) = identity.as_ref().and_then(|i| missing.remove(i)) else {
                    continue;
                };
                self.relink(id, &path, identity.as_deref().unwrap_or_default())?;
                found += 1;
            }
        }
        progress(files.len(), files.len());
        Ok(found)
    }

    /// Points item `id` at `path` (a file, a series folder or `FOLDER#UID`).
    fn relink(&mut self, id: i64, path: &Path, identity: &str) -> Result<(), StoreError> {
        let stored = self.stored_path(path);
        self.write(|tx| {
            tx.execute(
                "UPDATE items SET path = ?1, content_hash = ?2 WHERE id = ?3",
                args![stored, identity, id],
            )
        })?;
        Ok(())
    }

    /// Stores a run's predictions (one transaction; the newest per item counts).
    pub fn set_predictions(&mut self, predictions: &[Prediction]) -> Result<(), StoreError> {
        self.write(|tx| {
            for p in predictions {
                let probabilities = serde_json::to_string(&p.probabilities).map_err(|e| StoreError::Invalid(e.to_string()))?;
                tx.execute(
                    "INSERT INTO predictions (item_id, run, probabilities, entropy, mc_dropout_entropy, disagreement) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![p.item_id, p.run, probabilities, p.entropy, p.mc_dropout_entropy, p.disagreement],
                )?;
            }
            Ok(())
        })
    }

    /// The newest prediction of every item that has one.
    pub fn predictions(&self) -> Result<BTreeMap<i64, Prediction>, StoreError> {
        let rows = self.db.query(
            "SELECT item_id, run, probabilities, entropy, mc_dropout_entropy, disagreement FROM predictions
             WHERE id IN (SELECT max(id) FROM predictions GROUP BY item_id)",
            args![],
        )?;
        let mut out = BTreeMap::new();
        for r in rows {
            let probabilities: String = r.get(2)?;
            let p = Prediction {
                item_id: r.get(0)?,
                run: r.get(1)?,
                probabilities: serde_json::from_str(&probabilities).unwrap_or_default(),
                entropy: r.get(3)?,
                mc_dropout_entropy: r.get(4)?,
                disagreement: r.get(5)?,
            };
            out.insert(p.item_id, p);
        }
        Ok(out)
    }

    /// The full history of an item, oldest first.
    pub fn history(&self, item_id: i64) -> Result<Vec<Annotation>, StoreError> {
        self.db
            .query(
                "SELECT item_id, annotator, field, value, created_at FROM annotations WHERE item_id = ?1 ORDER BY id",
                args![item_id],
            )?
            .iter()
            .map(|r| {
                Ok(Annotation {
                    item_id: r.get(0)?,
                    annotator: r.get(1)?,
                    field: r.get(2)?,
                    value: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .collect()
    }

    /// The value training uses for a field: the adjudicated one if a reviewer
    /// set it, else the annotators' value when they all agree, else `None`.
    pub fn consensus(&self, item_id: i64, field: &str) -> Result<Option<String>, StoreError> {
        let labels = self.current_labels(item_id)?;
        Ok(consensus(&labels, field).map(str::to_string))
    }
}

/// The consensus rule, once for the store and the window: the adjudicated
/// value if a reviewer set one, else the annotators' value when they all
/// agree, else `None`. `labels` is annotator → field → value.
pub fn consensus<'a>(
    labels: &'a BTreeMap<String, BTreeMap<String, String>>,
    field: &str,
) -> Option<&'a str> {
    if let Some(value) = labels.get(ADJUDICATOR).and_then(|f| f.get(field)) {
        return Some(value);
    }
    let mut values = labels
        .iter()
        .filter(|(annotator, _)| annotator.as_str() != ADJUDICATOR)
        .filter_map(|(_, fields)| fields.get(field));
    let first = values.next()?;
    values.all(|v| v == first).then_some(first.as_str())
}

/// The columns [`item_from_row`] reads, in its order.
const ITEM_COLUMNS: &str = "id, path, content_hash, pool, added_at";

/// An item from a row of [`ITEM_COLUMNS`].
fn item_from_row(r: &db::Row) -> Result<Item, StoreError> {
    let pool: String = r.get(3)?;
    Ok(Item {
        id: r.get(0)?,
        path: r.get(1)?,
        content_hash: r.get(2)?,
        // The table's CHECK constraint allows only the three pools.
        pool: Pool::parse(&pool).unwrap_or(Pool::Unlabeled),
        added_at: r.get(4)?,
    })
}

/// Callers pass names through [`annotator_name`]; a name that would read
/// differently after it (untrimmed, reserved) is refused at the store too, so
/// no path can split one person in two. The adjudicator's name is the
/// store's own.
fn check_stored_annotator(annotator: &str) -> Result<(), StoreError> {
    if annotator == ADJUDICATOR || annotator_name(annotator)? == annotator {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "annotator name {annotator:?} has surrounding spaces"
        )))
    }
}

/// Whether `dir` holds a Loupe project (its database file) or names one on
/// PostgreSQL (a `postgres://` URL; opening it tells whether it is one): the
/// one check the window, the picker, the demo writer and the benchmarks use.
pub fn is_project(dir: &Path) -> bool {
    dir.to_str().is_some_and(postgres::is_url) || dir.join(DATABASE_FILE).is_file()
}

/// The files roots of the PostgreSQL projects this process opened, by URL.
static FILES_ROOTS: std::sync::Mutex<BTreeMap<PathBuf, PathBuf>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Where the project named `root` keeps its files (runs, maps): the folder
/// itself, or a PostgreSQL project's files root (as this process last opened
/// it; opened now if it has not been).
pub fn files_root(root: &Path) -> Result<PathBuf, StoreError> {
    if !root.to_str().is_some_and(postgres::is_url) {
        return Ok(root.to_path_buf());
    }
    let known = FILES_ROOTS.lock().ok().and_then(|m| m.get(root).cloned());
    match known {
        Some(known) => Ok(known),
        None => Project::open(root).map(|p| p.files_root().to_path_buf()),
    }
}

/// [`Project::merge_labels`] inside a write transaction: checked labels
/// (from [`Project::offered_labels`]) merged by the import's rule.
pub(crate) fn merge_offered(
    tx: &Tx,
    item_id: i64,
    annotator: &str,
    offered: Vec<(String, String)>,
    labeled_at: Option<&str>,
    target: &str,
) -> Result<Merge, StoreError> {
    let mut merge = Merge::default();
    let mut touches_target = false;
    for (field, value) in offered {
        let current: Option<(Option<String>, String)> = tx
            .query_opt(
                "SELECT value, created_at FROM annotations
                 WHERE item_id = ?1 AND annotator = ?2 AND field = ?3
                 ORDER BY id DESC LIMIT 1",
                args![item_id, annotator, field],
            )?
            .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        let write = match &current {
            None => true,
            Some((Some(existing), _)) if *existing == value => {
                merge.unchanged += 1;
                continue;
            }
            Some((_, created_at)) => labeled_at.is_some_and(|t| t > created_at.as_str()),
        };
        if !write {
            merge.kept.push((field, current.and_then(|c| c.0), value));
            continue;
        }
        tx.execute(
            "INSERT INTO annotations (item_id, annotator, field, value) VALUES (?1, ?2, ?3, ?4)",
            args![item_id, annotator, field, value],
        )?;
        touches_target |= field == target;
        merge.applied += 1;
    }
    if touches_target {
        refresh_pool(tx, item_id, target)?;
    }
    Ok(merge)
}

/// Sets a training item's pool from its labels: labeled when any
/// annotator's current target value is set or a label map of it is saved
/// (what a segmentation run learns from), else unlabeled. Test items stay.
fn refresh_pool(tx: &Tx, item_id: i64, target: &str) -> Result<(), StoreError> {
    if let Tx::Postgres { .. } = tx {
        // Annotators may not move items between pools: the server's own
        // function (SECURITY DEFINER, the same rule) does it for them.
        tx.execute("SELECT loupe_refresh_pool(?1, ?2)", args![item_id, target])?;
        return Ok(());
    }
    let mapped: bool = tx.has_table("label_maps")?
        && tx.value(
            "SELECT EXISTS (SELECT 1 FROM label_maps WHERE item_id = ?1)",
            args![item_id],
        )?;
    let labeled: bool = mapped || tx.value(
        "SELECT EXISTS (
            SELECT 1 FROM annotations a
            WHERE a.item_id = ?1 AND a.field = ?2 AND a.value IS NOT NULL
              AND a.id = (SELECT max(id) FROM annotations b
                          WHERE b.item_id = a.item_id AND b.field = a.field AND b.annotator = a.annotator))",
        args![item_id, target],
    )?;
    let pool = if labeled {
        Pool::Labeled
    } else {
        Pool::Unlabeled
    };
    tx.execute(
        "UPDATE items SET pool = ?1 WHERE id = ?2 AND pool != 'test'",
        args![pool.as_str(), item_id],
    )?;
    Ok(())
}

/// One `meta` value, if the project has it (the same statement on both engines).
pub(crate) fn meta(db: &impl Sql, key: &str) -> Result<Option<String>, StoreError> {
    db.row_opt("SELECT value FROM meta WHERE key = ?1", args![key], |r| {
        r.get(0)
    })
}

/// Sets one `meta` row (the same statement on both engines).
pub(crate) fn set_meta(tx: &Tx, key: &str, value: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        args![key, value],
    )?;
    Ok(())
}

fn connect(db: &Path) -> Result<Db, StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: db.to_path_buf(),
        source,
    };
    let mut conn = rusqlite::Connection::open(db).map_err(wrap)?;
    // WAL keeps readers and the writer apart; FULL syncs the WAL at every
    // commit, which is what makes a returned set_label durable.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(wrap)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(wrap)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(wrap)?;
    conn.busy_handler(Some(wait_for_the_writer)).map_err(wrap)?;
    conn.execute_batch(SCHEMA_SQL).map_err(wrap)?;
    if let Err(e) = conn.execute_batch(LATER_INDEXES_SQL) {
        log::warn!(
            "{}: indexes not added ({e}); reads will be slower",
            db.display()
        );
    }
    if let Err(e) = conn.execute_batch(exams::EXAMS_SQL) {
        log::warn!("{}: exam tables not added ({e})", db.display());
    }
    if let Err(e) = conn.execute_batch(zone_marks::ZONE_MARKS_SQL) {
        log::warn!("{}: the zone marks table was not added ({e})", db.display());
    }
    if let Err(e) = conn.execute_batch(queue::QUEUE_SQL) {
        log::warn!("{}: the queue tables were not added ({e})", db.display());
    }
    if let Err(e) = conn.execute_batch(eye_review::EYE_REVIEWS_SQL) {
        log::warn!(
            "{}: the eye reviews table was not added ({e})",
            db.display()
        );
    }
    Ok(Db::Sqlite {
        conn,
        path: db.to_path_buf(),
    })
}

/// How long a write waits for another process's write on the same file
/// before it says the project is locked.
const WRITE_WAIT_MS: i32 = 10_000;

/// SQLite's busy handler: retry every 2 ms, up to [`WRITE_WAIT_MS`]. Its
/// built-in timeout backs off to 100 ms sleeps, so a client writing in a
/// loop (two graders pressing *Next* quickly) can keep another waiting
/// past the limit; short, even retries share the file fairly.
fn wait_for_the_writer(attempt: i32) -> bool {
    std::thread::sleep(std::time::Duration::from_millis(2));
    attempt < WRITE_WAIT_MS / 2
}

/// An item's identity: SHA-256 of its file's bytes, hex. For a NIfTI or
/// Analyze `.hdr`/`.img` pair it covers both files (the header's length,
/// the header, then the image): two volumes with byte-identical headers
/// (common for outputs in one space) are different items.
pub fn content_hash(file: &Path) -> Result<String, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let is_pair = [".hdr", ".hdr.gz", ".img", ".img.gz"]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    let mut hasher = Sha256::new();
    if is_pair {
        let (header, data) = crate::volume::nifti::header_and_data_paths(file)
            .map_err(|e| io(file)(std::io::Error::other(e.to_string())))?;
        let header_bytes = std::fs::metadata(&header).map_err(io(&header))?.len();
        hasher.update(b"loupe nifti pair\0");
        hasher.update(header_bytes.to_le_bytes());
        hash_file(&header, &mut hasher)?;
        hash_file(&data, &mut hasher)?;
    } else {
        hash_file(file, &mut hasher)?;
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The identity of what a path names: a file's content hash, or for a
/// DICOM series folder (or `FOLDER#UID`) its [`series_identity`].
pub fn source_identity(path: &Path) -> Result<String, StoreError> {
    use crate::volume::dicom;
    let (target, _) = dicom::split_selector(path);
    if !target.is_dir() {
        return content_hash(path);
    }
    let invalid = |e: crate::volume::VolumeError| StoreError::Invalid(e.to_string());
    let files = dicom::folder_files(&target).map_err(invalid)?;
    let (headers, _) = dicom::read_headers(&files);
    let entries = dicom::series_entries(&target, &headers);
    let entry = match entries.iter().find(|e| e.path == path) {
        Some(entry) => entry,
        None if entries.len() == 1 => &entries[0],
        None => {
            return Err(StoreError::Invalid(format!(
                "{} holds {} DICOM series: name one as FOLDER#SERIES_UID",
                path.display(),
                entries.len()
            )));
        }
    };
    series_identity(&entry.series_uid, &entry.files)
}

/// A DICOM series' identity: its SeriesInstanceUID and the content of each
/// of its files (sorted), so the same series re-imported is a duplicate and
/// a series with one changed file is not.
pub fn series_identity(series_uid: &str, files: &[PathBuf]) -> Result<String, StoreError> {
    let mut hashes = files
        .iter()
        .map(|f| content_hash(f))
        .collect::<Result<Vec<_>, _>>()?;
    hashes.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"loupe dicom series\0");
    hasher.update(series_uid.as_bytes());
    for hash in hashes {
        hasher.update(b"\0");
        hasher.update(hash.as_bytes());
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Copies what `source` names into `folder` under `under`, each top-level
/// name prefixed by `prefix`: a file; a NIfTI `.hdr` with its `.img`; a
/// DICOM series folder (`FOLDER` or `FOLDER#UID`: its DICOM files, the
/// folder's layout kept). Returns the path, relative to the folder, that
/// names the copy as `source` names the original (the `.hdr`, the folder,
/// `FOLDER#UID`). Files are streamed, never held whole.
pub(crate) fn copy_source(
    folder: &names::ExportFolder,
    under: &Path,
    prefix: &str,
    source: &Path,
) -> Result<PathBuf, StoreError> {
    use crate::volume::dicom;
    let prefixed = |path: &Path| -> Result<PathBuf, StoreError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(under.join(names::safe_file_name(&format!("{prefix}{name}"))?))
    };
    let (target, selector) = dicom::split_selector(source);
    if target.is_dir() {
        let top = prefixed(&target)?;
        let files = dicom::folder_files(&target).map_err(|e| StoreError::Invalid(e.to_string()))?;
        for file in files {
            // folder_files lists what lies under `target`: the remainder is
            // made of names read from that folder, never `..`.
            let inside = file.strip_prefix(&target).unwrap_or(&file);
            folder.copy_file(&top.join(inside), &file)?;
        }
        return Ok(match selector {
            Some(selector) => dicom::series_path(&top, &selector),
            None => top,
        });
    }
    let (header, data) = crate::volume::nifti::header_and_data_paths(source)
        .unwrap_or_else(|_| (source.to_path_buf(), source.to_path_buf()));
    let mut files = vec![header.clone()];
    if data != header {
        files.push(data);
    }
    let mut named = None;
    for file in &files {
        let relative = prefixed(file)?;
        folder.copy_file(&relative, file)?;
        if named.is_none() || file == source {
            named = Some(relative);
        }
    }
    named.ok_or_else(|| StoreError::Invalid(format!("{} names no file", source.display())))
}

fn hash_file(file: &Path, hasher: &mut Sha256) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: file.to_path_buf(),
        source,
    };
    let mut reader = std::fs::File::open(file).map_err(io)?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer).map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with_items(n: usize) -> (tempfile::TempDir, Project, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let mut project = Project::create(dir.path(), &Schema::rop()).unwrap();
        let ids = (0..n)
            .map(|i| {
                let file = dir.path().join(format!("img{i}.png"));
                std::fs::write(&file, format!("image {i}")).unwrap();
                match project.add_item(&file, Pool::Unlabeled).unwrap() {
                    AddOutcome::Added(id) => id,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        (dir, project, ids)
    }

    #[test]
    fn a_copied_source_is_named_as_the_original_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("a.png");
        std::fs::write(&photo, b"photo bytes").unwrap();
        // A DICOM series in a subfolder, beside a note and a hidden file
        // that are not part of it.
        let series = dir.path().join("ct");
        let ct = crate::synth::phantom::ct_phantom(4, 1);
        let slices = crate::volume::dicom::write::write_ct_series(
            &ct,
            &series.join("sub"),
            1,
            crate::volume::dicom::write::Encoding::ExplicitLittle,
        )
        .unwrap();
        std::fs::write(series.join("notes.txt"), "not DICOM").unwrap();
        std::fs::write(series.join(".hidden"), "skipped").unwrap();
        let out = dir.path().join("out");
        let folder = names::ExportFolder::create(&out).unwrap();
        let images = Path::new("images");
        let named_photo = copy_source(&folder, images, "7_", &photo).unwrap();
        let selected = crate::volume::dicom::series_path(&series, "1.2.3");
        let named_series = copy_source(&folder, images, "8_", &selected).unwrap();
        folder.finish().unwrap();
        assert_eq!(named_photo, Path::new("images/7_a.png"));
        assert_eq!(
            std::fs::read(out.join(&named_photo)).unwrap(),
            b"photo bytes"
        );
        assert_eq!(named_series, Path::new("images/8_ct#1.2.3"));
        let copied: Vec<_> = std::fs::read_dir(out.join("images/8_ct/sub"))
            .unwrap()
            .collect();
        assert_eq!(copied.len(), slices);
        let top: Vec<String> = std::fs::read_dir(out.join("images/8_ct"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(top, ["sub"], "only the DICOM files go");
    }

    #[test]
    fn target_labels_move_items_between_pools() {
        let (_dir, mut project, ids) = project_with_items(2);
        project
            .set_label(ids[0], "ana", "stage", Some("stage 2"))
            .unwrap();
        project
            .set_label(ids[0], "ana", "zone", Some("II"))
            .unwrap();
        let pools: Vec<Pool> = project.items().unwrap().iter().map(|i| i.pool).collect();
        assert_eq!(pools, vec![Pool::Labeled, Pool::Unlabeled]);
        assert_eq!(
            project.current_labels(ids[0]).unwrap()["ana"]["stage"],
            "Stage 2"
        );
        project.set_label(ids[0], "ana", "stage", None).unwrap();
        assert_eq!(project.items().unwrap()[0].pool, Pool::Unlabeled);
        assert_eq!(
            project.history(ids[0]).unwrap().len(),
            3,
            "history is append-only"
        );
    }

    #[test]
    fn test_pool_items_stay_in_the_test_pool() {
        let (_dir, mut project, ids) = project_with_items(1);
        project.set_test(ids[0], true).unwrap();
        project
            .set_label(ids[0], "ana", "stage", Some("Normal"))
            .unwrap();
        assert_eq!(project.items().unwrap()[0].pool, Pool::Test);
        project.set_test(ids[0], false).unwrap();
        assert_eq!(
            project.items().unwrap()[0].pool,
            Pool::Labeled,
            "out of test, by its label"
        );
        let err = project
            .set_labels(
                ids[0],
                "ana",
                &[("zone", Some("II")), ("stage", Some("Stage 7"))],
            )
            .unwrap_err();
        assert!(err.to_string().contains("Stage 7"));
        assert!(
            !project.current_labels(ids[0]).unwrap()["ana"].contains_key("zone"),
            "nothing half-applied"
        );
    }

    #[test]
    fn duplicates_and_bad_values_are_reported() {
        let (dir, mut project, ids) = project_with_items(1);
        let copy = dir.path().join("copy.png");
        std::fs::copy(dir.path().join("img0.png"), &copy).unwrap();
        assert_eq!(
            project.add_item(&copy, Pool::Unlabeled).unwrap(),
            AddOutcome::Duplicate(ids[0])
        );
        let err = project
            .set_label(ids[0], "ana", "stage", Some("Stage 9"))
            .unwrap_err();
        assert!(
            err.to_string().contains("not a value of \"stage\""),
            "{err}"
        );
        assert!(
            project
                .set_label(ids[0], "ana", "colour", Some("red"))
                .is_err()
        );
        assert!(
            project
                .set_label(999, "ana", "stage", Some("Normal"))
                .is_err()
        );
    }

    #[test]
    fn consensus_prefers_adjudication_then_agreement() {
        let (_dir, mut project, ids) = project_with_items(1);
        project
            .set_label(ids[0], "ana", "stage", Some("Stage 1"))
            .unwrap();
        project
            .set_label(ids[0], "ben", "stage", Some("Stage 2"))
            .unwrap();
        assert_eq!(project.consensus(ids[0], "stage").unwrap(), None);
        project
            .set_label(ids[0], ADJUDICATOR, "stage", Some("Stage 2"))
            .unwrap();
        assert_eq!(
            project.consensus(ids[0], "stage").unwrap().as_deref(),
            Some("Stage 2")
        );
    }

    #[test]
    fn remarks_and_moved_files() {
        let (dir, mut project, ids) = project_with_items(2);
        project
            .set_remark(
                ids[0],
                "ana",
                &Remark {
                    unsure: true,
                    note: "blurry".into(),
                },
            )
            .unwrap();
        assert_eq!(
            project.remarks(ids[0]).unwrap()["ana"],
            Remark {
                unsure: true,
                note: "blurry".into()
            }
        );
        let elsewhere = dir.path().join("moved");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::rename(dir.path().join("img1.png"), elsewhere.join("renamed.png")).unwrap();
        let item = project.items().unwrap()[1].clone();
        assert!(!project.resolve(&item).exists(), "missing, labels kept");
        assert_eq!(project.relocate_missing(&elsewhere, |_, _| {}).unwrap(), 1);
        assert!(project.resolve(&project.items().unwrap()[1]).exists());
    }

    #[test]
    fn reopening_finds_everything() {
        let (dir, mut project, ids) = project_with_items(1);
        project
            .set_label(ids[0], "ana", "plus", Some("plus"))
            .unwrap();
        drop(project);
        let project = Project::open(dir.path()).unwrap();
        assert_eq!(project.schema(), &Schema::rop());
        assert_eq!(
            project.items().unwrap()[0].path,
            "img0.png",
            "relative inside the folder"
        );
        assert_eq!(
            project.current_labels(ids[0]).unwrap()["ana"]["plus"],
            "plus"
        );
        assert!(matches!(
            Project::open(&dir.path().join("nope")),
            Err(StoreError::NotAProject(_))
        ));
    }

    #[test]
    fn two_imports_of_one_file_at_once_report_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        drop(Project::create(dir.path(), &Schema::rop()).unwrap());
        for round in 0..20 {
            let file = dir.path().join(format!("same{round}.png"));
            std::fs::write(&file, format!("bytes {round}")).unwrap();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let outcomes: Vec<AddOutcome> = (0..2)
                .map(|_| {
                    let (root, file, barrier) =
                        (dir.path().to_path_buf(), file.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let mut project = Project::open(&root).unwrap();
                        barrier.wait();
                        project.add_item(&file, Pool::Unlabeled).unwrap()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            let added = outcomes
                .iter()
                .filter(|o| matches!(o, AddOutcome::Added(_)))
                .count();
            assert_eq!(added, 1, "round {round}: {outcomes:?}");
        }
    }

    #[test]
    fn predictions_and_remarks_are_read_through_their_indexes() {
        let (_dir, project, _) = project_with_items(1);
        for (query, index) in [
            (
                "SELECT max(id) FROM predictions GROUP BY item_id",
                "predictions_by_item",
            ),
            (
                "SELECT max(id) FROM remarks WHERE item_id = 1 GROUP BY annotator",
                "remarks_by_item",
            ),
        ] {
            let plan: Vec<String> = project
                .db
                .query(&format!("EXPLAIN QUERY PLAN {query}"), args![])
                .unwrap()
                .iter()
                .map(|r| r.get::<String>(3).unwrap())
                .collect();
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{query}: {plan:?}"
            );
        }
    }

    #[test]
    fn annotator_names_are_trimmed_and_the_reserved_one_refused() {
        assert_eq!(annotator_name("  ana ").unwrap(), "ana");
        for bad in [
            "",
            "   ",
            "Adjudicated",
            "a\tb",
            &"x".repeat(65),
            ".",
            "..",
            "CON",
            "nul.txt",
        ] {
            assert!(annotator_name(bad).is_err(), "{bad:?}");
        }
        let (_dir, mut project, ids) = project_with_items(1);
        let error = project
            .set_label(ids[0], "ana ", "stage", Some("Normal"))
            .unwrap_err();
        assert!(error.to_string().contains("surrounding spaces"), "{error}");
    }

    #[test]
    fn projects_from_format_1_get_pair_identities_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let mut project = Project::create(dir.path(), &Schema::rop()).unwrap();
        std::fs::write(dir.path().join("a.hdr"), b"same header").unwrap();
        std::fs::write(dir.path().join("a.img"), b"voxels of a").unwrap();
        let id = match project
            .add_item(&dir.path().join("a.hdr"), Pool::Unlabeled)
            .unwrap()
        {
            AddOutcome::Added(id) => id,
            other => panic!("{other:?}"),
        };
        let pair_hash = project.item(id).unwrap().content_hash;
        // As format 1 stored it: the header's hash alone.
        let mut header_only = Sha256::new();
        hash_file(&dir.path().join("a.hdr"), &mut header_only).unwrap();
        let header_only: String = header_only
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(header_only, pair_hash);
        project
            .db
            .batch(&format!(
                "UPDATE items SET content_hash = '{header_only}'; UPDATE meta SET value = '1' WHERE key = 'format';"
            ))
            .unwrap();
        drop(project);
        let project = Project::open(dir.path()).unwrap();
        assert_eq!(project.item(id).unwrap().content_hash, pair_hash);
        let format: String = project
            .db
            .value("SELECT value FROM meta WHERE key = 'format'", args![])
            .unwrap();
        assert_eq!(format, FORMAT);
    }

    #[test]
    fn reading_every_item_at_once_agrees_with_reading_each() {
        let (_dir, mut project, ids) = project_with_items(3);
        project
            .set_label(ids[0], "ana", "stage", Some("Stage 1"))
            .unwrap();
        project
            .set_label(ids[0], "ana", "stage", Some("Stage 2"))
            .unwrap();
        project.set_label(ids[0], "ben", "zone", Some("I")).unwrap();
        project
            .set_label(ids[1], "ana", "stage", Some("Normal"))
            .unwrap();
        project.set_label(ids[1], "ana", "stage", None).unwrap();
        project
            .set_label(ids[1], "ana", "plus", Some("plus"))
            .unwrap();
        let remark = |note: &str| Remark {
            unsure: true,
            note: note.into(),
        };
        project.set_remark(ids[2], "ana", &remark("first")).unwrap();
        project
            .set_remark(ids[2], "ana", &remark("second"))
            .unwrap();
        let all = project.all_current_labels().unwrap();
        let remarks = project.all_remarks().unwrap();
        for id in &ids {
            assert_eq!(
                all.get(id).cloned().unwrap_or_default(),
                project.current_labels(*id).unwrap()
            );
            assert_eq!(
                remarks.get(id).cloned().unwrap_or_default(),
                project.remarks(*id).unwrap()
            );
        }
        assert_eq!(all[&ids[0]]["ana"]["stage"], "Stage 2", "the newest value");
        assert!(
            !all[&ids[1]]["ana"].contains_key("stage"),
            "a cleared field is absent"
        );
        assert_eq!(remarks[&ids[2]]["ana"].note, "second");
    }
}
