//! A project on PostgreSQL, for a team on several workstations: the URL rule
//! (libpq's forms), connecting (password from the URL, `PGPASSWORD` or
//! `.pgpass`; TLS through rustls; bounded connect timeout), the schema as
//! PostgreSQL spells it, and the roles the server enforces:
//!
//! * `annotator` — writes rows under their own database user only (row-level
//!   security on every table with an `annotator` column);
//! * `reviewer` — also writes the adjudicated label and accepts or rejects;
//! * `admin` — imports, pools, schema, users; owns the tables.
//!
//! Pools move through one SECURITY DEFINER function, so an annotator's label
//! moves its item to *labeled* without the right to move items at all.
//! Every insert of shared work notifies channel [`CHANGES_CHANNEL`], so other
//! windows see it within a second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::db::{Db, Sql, args, describe_error};
use super::{Project, Schema, StoreError};

/// The version of the PostgreSQL layout this Loupe writes; a database with a
/// newer one is refused (it was written by a newer Loupe).
pub const POSTGRES_LAYOUT_VERSION: i64 = 3;

/// The channel every shared write notifies (payload: the table's name).
pub const CHANGES_CHANNEL: &str = "loupe_changes";

/// How long a connection attempt may take before it is reported.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a shared project lives, parsed from
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/socket/dir&port=N&sslmode=…]`.
/// As in libpq, `host=` and `port=` in the query override the authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locator {
    pub user: Option<String>,
    pub password: Option<String>,
    /// A host name, an address, or (starting with `/`) a Unix socket folder.
    pub host: String,
    pub port: u16,
    pub database: String,
    pub ssl_mode: SslMode,
    /// `sslrootcert`, `sslcert`, `sslkey` as named in the URL.
    pub tls_files: TlsFiles,
    pub connect_timeout: Duration,
}

pub use super::postgres_tls::{SslMode, TlsFiles};

/// Whether a project name is a PostgreSQL URL (the scheme decides).
pub fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl Locator {
    /// `Some` when `path` is a URL (then parsed), `None` for a folder.
    pub fn from_path(path: &Path) -> Option<Result<Self, StoreError>> {
        let text = path.to_str()?;
        is_url(text).then(|| Self::parse(text))
    }

    /// Parses a URL; an error names the part that is wrong.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::Invalid(format!("{}: {why}", redact(url)));
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or_else(|| bad("not a postgres:// URL"))?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = main.split_once('/').unwrap_or((main, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (
                    Some(decode(u).map_err(|e| bad(&e))?),
                    Some(decode(p).map_err(|e| bad(&e))?),
                ),
                None => (Some(decode(c).map_err(|e| bad(&e))?), None),
            },
            None => (None, None),
        };
        let (mut host, mut port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_matches(['[', ']']).to_string(),
                p.parse::<u16>()
                    .map_err(|_| bad(&format!("port {p:?} is not a number")))?,
            ),
            _ => (host_port.trim_matches(['[', ']']).to_string(), 5432),
        };
        let mut locator = Locator {
            user: user.filter(|u| !u.is_empty()),
            password,
            host: String::new(),
            port,
            database: decode(database).map_err(|e| bad(&e))?,
            // As libpq: the environment's mode unless the URL names one.
            ssl_mode: match std::env::var("PGSSLMODE") {
                Ok(mode) => SslMode::parse(&mode).map_err(|e| bad(&format!("PGSSLMODE: {e}")))?,
                Err(_) => SslMode::Prefer,
            },
            tls_files: TlsFiles::default(),
            connect_timeout: CONNECT_TIMEOUT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(&format!("{pair:?} is not KEY=VALUE")))?;
            let value = decode(value).map_err(|e| bad(&e))?;
            match key {
                "host" => host = value,
                "port" => {
                    port = value
                        .parse()
                        .map_err(|_| bad(&format!("port {value:?} is not a number")))?
                }
                "user" => locator.user = Some(value),
                "password" => locator.password = Some(value),
                "dbname" => locator.database = value,
                "sslmode" => locator.ssl_mode = SslMode::parse(&value).map_err(|e| bad(&e))?,
                "sslrootcert" => locator.tls_files.root_cert = Some(PathBuf::from(value)),
                "sslcert" => locator.tls_files.client_cert = Some(PathBuf::from(value)),
                "sslkey" => locator.tls_files.client_key = Some(PathBuf::from(value)),
                "connect_timeout" => {
                    let seconds: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .ok_or_else(|| bad("connect_timeout is not 1-600 seconds"))?;
                    locator.connect_timeout = Duration::from_secs(seconds);
                }
                "application_name" => {}
                other => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }
        if host.is_empty() {
            host = "localhost".into();
        }
        if locator.database.is_empty() {
            return Err(bad("no database name (postgres://USER@HOST/DATABASE)"));
        }
        locator.host = host;
        locator.port = port;
        Ok(locator)
    }

    /// The URL without its password, for messages and logs.
    pub fn display(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        if self.host.starts_with('/') {
            format!(
                "postgres://{user}/{}?host={}&port={}",
                self.database, self.host, self.port
            )
        } else {
            format!(
                "postgres://{user}{}:{}/{}",
                self.host, self.port, self.database
            )
        }
    }

    /// The password: the URL's, else `PGPASSWORD`, else the first matching
    /// line of `PGPASSFILE` or `~/.pgpass` (`host:port:db:user:password`,
    /// `*` matching anything), as libpq looks it up.
    fn password(&self, user: &str) -> Option<String> {
        if let Some(p) = &self.password {
            return Some(p.clone());
        }
        if let Some(p) = typed_passwords().get(&self.login_key(user)) {
            return Some(p.clone());
        }
        if let Ok(p) = std::env::var("PGPASSWORD") {
            return Some(p);
        }
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
        // A password file is small; a huge or special one is not read.
        let text = crate::user_file::read_text(
            &file,
            crate::user_file::MAX_CREDENTIAL_BYTES,
            "password file",
        )
        .ok()?;
        let port = self.port.to_string();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(pgpass_fields)
            .find(|f| {
                f.len() == 5
                    && [&self.host, &port, &self.database, user]
                        .iter()
                        .zip(f)
                        .all(|(want, have)| have == "*" || have == *want)
            })
            .map(|f| f[4].clone())
    }
}

/// Passwords typed in the window (or given in a URL that connected), for
/// this run of Loupe only (never written anywhere): every connection to the same login — the window's,
/// the change listener's, a training run's, a sync's — finds it here, as
/// it would find `PGPASSWORD`, so no URL carrying it is ever passed around.
fn typed_passwords() -> std::sync::MutexGuard<'static, BTreeMap<String, String>> {
    static TYPED: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    TYPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Locator {
    /// The login a password belongs to: user, server and database.
    fn login_key(&self, user: &str) -> String {
        format!("{user}@{}:{}/{}", self.host, self.port, self.database)
    }

    /// The user this locator logs in as (the URL's, else `PGUSER`, else `USER`).
    pub fn effective_user(&self) -> Option<String> {
        self.user
            .clone()
            .or_else(|| std::env::var("PGUSER").ok())
            .or_else(|| std::env::var("USER").ok())
    }

    /// Keeps a password typed for this login until Loupe quits (or it is
    /// forgotten after the server refuses it).
    pub fn remember_typed_password(&self, password: &str) {
        if let Some(user) = self.effective_user() {
            typed_passwords().insert(self.login_key(&user), password.to_string());
        }
    }

    /// Drops a typed password the server refused.
    pub fn forget_typed_password(&self) {
        if let Some(user) = self.effective_user() {
            typed_passwords().remove(&self.login_key(&user));
        }
    }
}

/// One `.pgpass` line's fields (`\:` and `\\` escaped).
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().map(|f| f.push(next));
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => {
                fields.last_mut().map(|f| f.push(c));
            }
        }
    }
    fields
}

/// Percent-decoding of a URL part.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape at {:?}", &text[i..]))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a percent escape is not UTF-8".to_string())
}

/// A URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{credentials}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = tail
        .split('&')
        .map(|p| {
            if p.starts_with("password=") || p.contains("?password=") {
                p.split_once("password=")
                    .map(|(a, _)| format!("{a}password=***"))
                    .unwrap_or_default()
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{scheme}://{authority}/{tail}")
}

/// A URL with any password left out (what may be saved in settings).
pub fn without_password(url: &str) -> String {
    redact(url)
        .replace(":***@", "@")
        .replace("&password=***", "")
        .replace("?password=***&", "?")
        .replace("?password=***", "")
}

/// Connects, with the locator's timeout; the error says which of the usual
/// causes it is (unreachable, wrong password, no such database).
pub fn connect(locator: &Locator) -> Result<postgres::Client, StoreError> {
    let server = locator.display();
    let user = locator.effective_user().ok_or_else(|| {
        StoreError::Invalid(format!("{server}: no user (postgres://USER@HOST/DATABASE)"))
    })?;
    let mut config = postgres::Config::new();
    config
        .user(&user)
        .dbname(&locator.database)
        .port(locator.port)
        .connect_timeout(locator.connect_timeout)
        .application_name("loupe");
    if locator.host.starts_with('/') {
        config.host_path(&locator.host);
    } else {
        config.host(&locator.host);
    }
    if let Some(password) = locator.password(&user) {
        config.password(password);
    }
    // libpq never uses TLS on a Unix socket (the kernel carries it); rustls
    // could not name a socket folder as a server anyway.
    let result = match locator.ssl_mode {
        _ if locator.host.starts_with('/') => config.connect(postgres::NoTls),
        SslMode::Disable => config.connect(postgres::NoTls),
        mode => {
            config.ssl_mode(if mode == SslMode::Prefer {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            });
            config.connect(super::postgres_tls::connector(mode, &locator.tls_files)?)
        }
    };
    if result.is_ok()
        && let Some(password) = &locator.password
    {
        // Later connections of this run to the same login (the change
        // listener, a training run, a sync of a fallback copy) are given
        // URLs without the password: they find it here.
        locator.remember_typed_password(password);
    }
    result.map_err(|e| {
        let wrong_password = e
            .as_db_error()
            .is_some_and(|db| *db.code() == postgres::error::SqlState::INVALID_PASSWORD);
        let missing = std::error::Error::source(&e)
            .is_some_and(|source| source.to_string().contains("password missing"));
        if wrong_password || missing {
            return StoreError::Password {
                server: server.clone(),
                wrong: wrong_password,
            };
        }
        let message = match super::postgres_tls::describe_tls_failure(&format!("{e} {e:?}")) {
            // The server was reached: say what TLS found, with its words.
            Some(meaning) => match std::error::Error::source(&e) {
                Some(source) => format!("{meaning} ({source})"),
                None => format!("{meaning} ({e})"),
            },
            None => describe_error(&e),
        };
        StoreError::Postgres {
            server: server.clone(),
            message,
        }
    })
}

/// The store's SQLite schema as PostgreSQL spells it: identity keys, 64-bit
/// integers (ids and 0/1 flags bind the same on both engines), doubles, and
/// the same text timestamps (`2026-12-03T12:00:00.000Z`, ordered as text).
pub fn postgres_ddl(sqlite: &str) -> String {
    sqlite
        .replace(
            "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            "DEFAULT (to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
        )
        .replace("id INTEGER PRIMARY KEY,", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,")
        .replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
        .replace("INTEGER", "BIGINT")
        .replace("REAL", "DOUBLE PRECISION")
        // Code-point order for every text column, as SQLite's (see db.rs).
        .replace(" TEXT", " TEXT COLLATE \"C\"")
}

/// Every table of the store, parents first (the order push copies them in).
pub const TABLES: [&str; 18] = [
    "meta",
    "items",
    "annotations",
    "remarks",
    "predictions",
    "label_maps",
    "crops",
    "cases",
    "case_files",
    "records",
    "slice_picks",
    "infants",
    "exams",
    "exam_images",
    "eye_grades",
    "zone_marks",
    "reviews",
    "eye_reviews",
];

/// Tables whose rows are one person's work: row-level security keeps each
/// annotator to their own name.
const PERSONAL_TABLES: [&str; 8] = [
    "annotations",
    "remarks",
    "label_maps",
    "crops",
    "records",
    "slice_picks",
    "eye_grades",
    "zone_marks",
];

/// The group roles of a database: `(annotator, reviewer, admin)`. Roles are
/// server-wide, so each project's are named after its database.
pub fn group_roles(database: &str) -> (String, String, String) {
    (
        format!("{database}_annotator"),
        format!("{database}_reviewer"),
        format!("{database}_admin"),
    )
}

/// An SQL identifier, quoted.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal (standard_conforming_strings: only `'` is special).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Roles, grants, row-level security, the pool function and the change
/// notifications: run once by [`init`] as the project's admin.
fn roles_sql(database: &str, admin: &str) -> String {
    let (annotator, reviewer, admin_group) = group_roles(database);
    let (qa, qr, qg) = (
        quote_identifier(&annotator),
        quote_identifier(&reviewer),
        quote_identifier(&admin_group),
    );
    let mut sql = String::new();
    for role in [&annotator, &reviewer, &admin_group] {
        sql += &format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit}) THEN \
             CREATE ROLE {id} NOLOGIN; END IF; END $$;\n",
            lit = quote_literal(role),
            id = quote_identifier(role)
        );
    }
    sql += &format!(
        "GRANT {qa} TO {qr}; GRANT {qr} TO {qg}; GRANT {qg} TO {admin_id};\n\
         GRANT CONNECT ON DATABASE {db} TO {qa};\n\
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {qa};\n\
         GRANT ALL ON ALL TABLES IN SCHEMA public TO {qg};\n\
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {qa};\n\
         GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {qg};\n\
         GRANT INSERT ON predictions TO {qa};\n\
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n",
        admin_id = quote_identifier(admin),
        db = quote_identifier(database),
    );
    let (is_admin, is_reviewer) = (member_of(&admin_group), member_of(&reviewer));
    for table in PERSONAL_TABLES {
        // The adjudicated label is a reviewer's; any other row is its
        // writer's own. Admins (and the owner, who bypasses RLS) may write
        // any name: push copies a whole history.
        let adjudicator = if table == "annotations" || table == "eye_grades" {
            format!(
                " OR (annotator = {} AND {is_reviewer})",
                quote_literal(super::ADJUDICATOR)
            )
        } else {
            String::new()
        };
        sql += &format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
             CREATE POLICY read_all ON {table} FOR SELECT USING (true);\n\
             CREATE POLICY write_own ON {table} FOR INSERT WITH CHECK \
             (annotator = current_user OR {is_admin}{adjudicator});\n\
             CREATE POLICY admin_all ON {table} FOR ALL USING ({is_admin}) WITH CHECK ({is_admin});\n\
             GRANT INSERT ON {table} TO {qa};\n"
        );
    }
    sql += &queue_roles_sql(database);
    sql += &eye_review_roles_sql(database);
    sql += &format!(
        "CREATE FUNCTION loupe_refresh_pool(item BIGINT, target TEXT) RETURNS void
         LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
           UPDATE items SET pool = CASE WHEN
             EXISTS (SELECT 1 FROM label_maps WHERE item_id = item)
             OR EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = item AND a.field = target
                 AND a.value IS NOT NULL AND a.id = (SELECT max(id) FROM annotations b
                 WHERE b.item_id = a.item_id AND b.field = a.field AND b.annotator = a.annotator))
             THEN 'labeled' ELSE 'unlabeled' END
           WHERE id = item AND pool <> 'test';
         $$;
         REVOKE ALL ON FUNCTION loupe_refresh_pool(BIGINT, TEXT) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION loupe_refresh_pool(BIGINT, TEXT) TO {qa};
         CREATE FUNCTION loupe_notify() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_notify({channel}, TG_TABLE_NAME); RETURN NULL; END $$;\n",
        channel = quote_literal(CHANGES_CHANNEL),
    );
    for table in TABLES.iter().filter(|t| **t != "meta") {
        sql += &format!(
            "CREATE TRIGGER notify_changes AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION loupe_notify();\n"
        );
    }
    sql
}

/// Whether the session's login belongs to the group role `group`.
fn member_of(group: &str) -> String {
    format!(
        "pg_has_role(current_user, {}, 'MEMBER')",
        quote_literal(group)
    )
}

/// The rules of a verdicts table (`reviews`, `eye_reviews`): everyone
/// reads; a verdict is a reviewer's, under their own login; admins do all.
fn verdict_policies_sql(table: &str, is_reviewer: &str, is_admin: &str) -> String {
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY read_all ON {table} FOR SELECT USING (true);\n\
         CREATE POLICY review_own ON {table} FOR INSERT WITH CHECK \
         ((reviewer = current_user AND {is_reviewer}) OR {is_admin});\n\
         CREATE POLICY admin_all ON {table} FOR ALL USING ({is_admin}) WITH CHECK ({is_admin});\n"
    )
}

/// Row-level security of the queue tables (layout 2): a lease is its
/// holder's own row; a verdict is a reviewer's, under their own login; the
/// record of synced offline work takes any annotator's uids.
fn queue_roles_sql(database: &str) -> String {
    let (annotator, reviewer, admin_group) = group_roles(database);
    let qa = quote_identifier(&annotator);
    let (is_admin, is_reviewer) = (member_of(&admin_group), member_of(&reviewer));
    format!(
        "GRANT SELECT, INSERT ON leases, reviews, synced TO {qa};\n\
         GRANT UPDATE (expires_ms) ON leases TO {qa};\n\
         GRANT ALL ON leases, reviews, synced TO {qg};\n\
         ALTER TABLE leases ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY read_all ON leases FOR SELECT USING (true);\n\
         CREATE POLICY write_own ON leases FOR INSERT WITH CHECK (annotator = current_user OR {is_admin});\n\
         CREATE POLICY renew_own ON leases FOR UPDATE USING (annotator = current_user OR {is_admin}) \
         WITH CHECK (annotator = current_user OR {is_admin});\n{verdicts}",
        qg = quote_identifier(&admin_group),
        verdicts = verdict_policies_sql("reviews", &is_reviewer, &is_admin),
    )
}

/// Row-level security of the eye verdicts (layout 3), as of item verdicts.
fn eye_review_roles_sql(database: &str) -> String {
    let (annotator, reviewer, admin_group) = group_roles(database);
    format!(
        "GRANT SELECT, INSERT ON eye_reviews TO {qa};\n\
         GRANT ALL ON eye_reviews TO {qg};\n{verdicts}",
        qa = quote_identifier(&annotator),
        qg = quote_identifier(&admin_group),
        verdicts = verdict_policies_sql(
            "eye_reviews",
            &member_of(&reviewer),
            &member_of(&admin_group)
        ),
    )
}

/// Brings a project made by an older Loupe to this layout: layout 1 (before
/// the queues) gets the queue tables, their rules and change notifications;
/// layout 2 (before eye verdicts) the eye verdicts' table and rules. Only
/// its admin may; anyone else is told to ask them.
fn upgrade_layout(db: &mut Db, locator: &Locator, from: i64) -> Result<(), StoreError> {
    let server = locator.display();
    let notify = |table: &str| {
        format!(
            "CREATE TRIGGER notify_changes AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION loupe_notify();\n"
        )
    };
    let mut sql = String::new();
    if from < 2 {
        sql += &postgres_ddl(super::queue::QUEUE_SQL);
        sql += &queue_roles_sql(&locator.database);
        sql += &notify("reviews");
    }
    if from < 3 {
        sql += &postgres_ddl(super::eye_review::EYE_REVIEWS_SQL);
        sql += &eye_review_roles_sql(&locator.database);
        sql += &notify("eye_reviews");
    }
    db.write(|tx| {
        tx.batch(&sql)?;
        super::set_meta(tx, "postgres_layout", &POSTGRES_LAYOUT_VERSION.to_string())
    })
    .map_err(|e| {
        let missing = if from < 2 {
            "without work queues"
        } else {
            "without eye verdicts in the review queue"
        };
        StoreError::Invalid(format!(
            "{server} was made by an older Loupe (layout {from}, {missing}); its admin \
             opens it once with this Loupe to add them ({e})"
        ))
    })
}

/// Creates a project in an empty database: tables, roles (the URL's user
/// becomes its admin), the schema. `images_root` and `files_root` are where
/// this workstation sees the share; others map them with
/// `LOUPE_IMAGES_ROOT`/`LOUPE_FILES_ROOT`.
pub fn init(
    url: &str,
    schema: &Schema,
    images_root: &Path,
    files_root: &Path,
) -> Result<Project, StoreError> {
    schema
        .validate_new()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let locator = Locator::parse(url)?;
    let server = locator.display();
    let client = connect(&locator)?;
    let mut db = Db::Postgres {
        client: std::cell::RefCell::new(client),
        server: server.clone(),
        statements: Default::default(),
    };
    if db.has_table("meta")? {
        return Err(StoreError::Invalid(format!(
            "{server} already holds a Loupe project (open it, or push into a new database)"
        )));
    }
    let admin: String = db.value("SELECT current_user::text", args![])?;
    let tables = [
        super::SCHEMA_SQL,
        super::LATER_INDEXES_SQL,
        super::exams::EXAMS_SQL,
        super::zone_marks::ZONE_MARKS_SQL,
        super::queue::QUEUE_SQL,
        super::eye_review::EYE_REVIEWS_SQL,
    ]
    .map(postgres_ddl)
    .join("\n");
    let schema_json =
        serde_json::to_string(schema).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let roles = roles_sql(&locator.database, &admin);
    db.write(|tx| {
        tx.batch(&tables)?;
        tx.batch(&roles)?;
        for (key, value) in [
            ("schema", schema_json.as_str()),
            ("format", super::FORMAT),
            ("postgres_layout", &POSTGRES_LAYOUT_VERSION.to_string()),
            ("images_root", &images_root.to_string_lossy()),
            ("files_root", &files_root.to_string_lossy()),
        ] {
            super::set_meta(tx, key, value)?;
        }
        Ok(())
    })?;
    std::fs::create_dir_all(files_root).map_err(|source| StoreError::Io {
        path: files_root.to_path_buf(),
        source,
    })?;
    drop(db);
    open(&locator, Path::new(url))
}

/// Opens a PostgreSQL project; `root` is the URL as the user gave it (what
/// [`Project::root`] returns, to open it again).
pub fn open(locator: &Locator, root: &Path) -> Result<Project, StoreError> {
    let server = locator.display();
    let client = connect(locator)?;
    let mut db = Db::Postgres {
        client: std::cell::RefCell::new(client),
        server: server.clone(),
        statements: Default::default(),
    };
    if !db.has_table("meta")? {
        return Err(StoreError::Invalid(format!(
            "{server} is not a Loupe project (no meta table; create one with \
             `loupe project init --postgres URL`)"
        )));
    }
    let layout: i64 = super::meta(&db, "postgres_layout")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if layout > POSTGRES_LAYOUT_VERSION {
        return Err(StoreError::Invalid(format!(
            "{server} was written by a newer Loupe (layout {layout}; this Loupe reads up to \
             {POSTGRES_LAYOUT_VERSION}): update Loupe on this workstation"
        )));
    }
    if layout < POSTGRES_LAYOUT_VERSION {
        upgrade_layout(&mut db, locator, layout)?;
    }
    let meta = |key: &str| super::meta(&db, key);
    let schema_json = meta("schema")?.ok_or_else(|| {
        StoreError::Invalid(format!("{server} is not a Loupe project (no schema)"))
    })?;
    let schema = Schema::from_json(&schema_json)
        .map_err(|e| StoreError::Invalid(format!("{e}: {server}")))?;
    let mapped = |variable: &str, key: &str| -> Result<PathBuf, StoreError> {
        match std::env::var_os(variable) {
            Some(v) => Ok(PathBuf::from(v)),
            None => meta(key)?
                .map(PathBuf::from)
                .ok_or_else(|| StoreError::Invalid(format!("{server}: no {key} (set {variable})"))),
        }
    };
    let images_root = mapped("LOUPE_IMAGES_ROOT", "images_root")?;
    let files_root = mapped("LOUPE_FILES_ROOT", "files_root")?;
    let user: String = db.value("SELECT current_user::text", args![])?;
    if let Ok(mut known) = super::FILES_ROOTS.lock() {
        known.insert(root.to_path_buf(), files_root.clone());
    }
    Ok(Project {
        root: root.to_path_buf(),
        files_root,
        images_root,
        db,
        schema,
        user: Some(user),
    })
}

/// Watches a PostgreSQL project for work written by others: its own
/// connection LISTENs on [`CHANGES_CHANNEL`]; each notification sets a flag
/// the window reads at its next frame (it repaints a few times a second on a
/// team project). Reconnects when the server goes away; ends when dropped.
pub struct ChangeListener {
    changed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Its connection to the server stands (the window's online/offline).
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ChangeListener {
    /// `own_backend`: the process id of the watcher's own connection
    /// ([`Project::backend_pid`]), whose writes the window already shows.
    pub fn start(url: &str, own_backend: Option<i32>) -> Result<Self, StoreError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let locator = Locator::parse(url)?;
        let changed = std::sync::Arc::new(AtomicBool::new(false));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let connected = std::sync::Arc::new(AtomicBool::new(true));
        let mut client = Some(listen(&locator)?);
        let (flag, ended, up) = (changed.clone(), stop.clone(), connected.clone());
        std::thread::Builder::new()
            .name("loupe-changes".into())
            .spawn(move || {
                while !ended.load(Ordering::Relaxed) {
                    let Some(connection) = client.as_mut() else {
                        std::thread::sleep(Duration::from_secs(1));
                        client = listen(&locator).ok();
                        up.store(client.is_some(), Ordering::Relaxed);
                        if client.is_some() {
                            // Whatever happened while away: look again.
                            flag.store(true, Ordering::Relaxed);
                        }
                        continue;
                    };
                    let mut notifications = connection.notifications();
                    let mut lost = false;
                    let mut waiting = notifications.timeout_iter(Duration::from_millis(250));
                    loop {
                        use postgres::fallible_iterator::FallibleIterator;
                        match waiting.next() {
                            Ok(Some(note)) if Some(note.process_id()) != own_backend => {
                                // Said at once, not at the end of the wait.
                                flag.store(true, Ordering::Relaxed);
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(_) => {
                                lost = true;
                                break;
                            }
                        }
                    }
                    drop(waiting);
                    drop(notifications);
                    if lost || connection.is_closed() {
                        client = None;
                        up.store(false, Ordering::Relaxed);
                    }
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the change listener: {e}")))?;
        Ok(Self {
            changed,
            stop,
            connected,
        })
    }

    /// Whether the server answers (as of the listener's last look, within a second).
    pub fn online(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether others wrote since the last call (and clears it).
    pub fn take_changed(&self) -> bool {
        self.changed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn listen(locator: &Locator) -> Result<postgres::Client, StoreError> {
    let mut client = connect(locator)?;
    client
        .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .map_err(|e| super::db::postgres_error(&locator.display(), e))?;
    Ok(client)
}

/// A new user's password when none is given: 18 bytes from the system's
/// random source, URL-safe base64 (24 characters).
pub fn random_password() -> String {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; 18];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom (not Linux or macOS): the clock and the process id, hashed.
        use sha2::{Digest, Sha256};
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&Sha256::digest(seed.as_bytes())[..18]);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A role a team member is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Annotator,
    Reviewer,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "annotator" => Ok(Role::Annotator),
            "reviewer" => Ok(Role::Reviewer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "{other:?} is not a role (annotator, reviewer or admin)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

impl Project {
    /// Creates a database login `name` with `role` on this PostgreSQL
    /// project (the server refuses unless the connection may create roles:
    /// the project's admin).
    pub fn create_user(
        &mut self,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<(), StoreError> {
        let Db::Postgres { server, .. } = &self.db else {
            return Err(StoreError::Invalid(
                "users are PostgreSQL logins: this project is a folder (one workstation)".into(),
            ));
        };
        let server = server.clone();
        let name = super::annotator_name(name)?;
        if password.is_empty() || password.contains('\0') {
            return Err(StoreError::Invalid(
                "the password is empty or holds a NUL".into(),
            ));
        }
        let database = Locator::parse(&self.root.to_string_lossy())?.database;
        let (annotator, reviewer, admin) = group_roles(&database);
        let group = match role {
            Role::Annotator => annotator,
            Role::Reviewer => reviewer,
            Role::Admin => admin,
        };
        let create_role = if role == Role::Admin {
            " CREATEROLE"
        } else {
            ""
        };
        let sql = format!(
            "CREATE ROLE {user} LOGIN{create_role} PASSWORD {password}; GRANT {group} TO {user};",
            user = quote_identifier(&name),
            password = quote_literal(password),
            group = quote_identifier(&group),
        );
        self.db.batch(&sql).map_err(|e| match e {
            StoreError::Postgres { message, .. } => StoreError::Postgres {
                server,
                message: format!("creating user {name:?}: {message}"),
            },
            other => other,
        })
    }

    /// The server process of this connection (`None` on SQLite): a change
    /// listener ignores its notifications.
    pub fn backend_pid(&self) -> Option<i32> {
        if !self.db.is_postgres() {
            return None;
        }
        self.db
            .value::<i32>("SELECT pg_backend_pid()", args![])
            .ok()
    }

    /// The team roles the connection's user holds, most powerful first.
    pub fn roles(&self) -> Result<Vec<Role>, StoreError> {
        let Some(_) = &self.user else {
            return Ok(vec![Role::Admin]);
        };
        let database = Locator::parse(&self.root.to_string_lossy())?.database;
        let (annotator, reviewer, admin) = group_roles(&database);
        let mut roles = Vec::new();
        for (group, role) in [
            (admin, Role::Admin),
            (reviewer, Role::Reviewer),
            (annotator, Role::Annotator),
        ] {
            let member: bool = self.db.value(
                "SELECT pg_has_role(current_user, ?1, 'MEMBER')",
                args![group],
            )?;
            if member {
                roles.push(role);
            }
        }
        Ok(roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_libpq_reads_them() {
        let l = Locator::parse("postgres://ann1:p%40ss@localhost/loupe?host=/tmp/sock&port=5499")
            .unwrap();
        assert_eq!(l.user.as_deref(), Some("ann1"));
        assert_eq!(l.password.as_deref(), Some("p@ss"));
        assert_eq!(
            (l.host.as_str(), l.port, l.database.as_str()),
            ("/tmp/sock", 5499, "loupe")
        );
        let l = Locator::parse("postgresql://bob@db.example:6000/team?sslmode=require").unwrap();
        assert_eq!(
            (l.host.as_str(), l.port, l.ssl_mode),
            ("db.example", 6000, SslMode::Require)
        );
        assert_eq!(l.password, None);
        let l = Locator::parse("postgres://bob@h/team?sslmode=verify-ca&sslrootcert=/etc/ca.pem")
            .unwrap();
        assert_eq!(l.ssl_mode, SslMode::VerifyCa);
        assert_eq!(
            l.tls_files.root_cert.as_deref(),
            Some(Path::new("/etc/ca.pem"))
        );
        for bad in [
            "postgres://u@h",
            "postgres://u@h:notaport/db",
            "postgres://u@h/db?sslmode=maybe",
            "postgres://u@h/db?colour=red",
            "postgres://u@h/db?connect_timeout=0",
            "postgres://u:%zz@h/db",
        ] {
            assert!(Locator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        let error = Locator::parse("postgres://u:secret@h/db?colour=red")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("secret") && error.contains("***"),
            "{error}"
        );
        let l = Locator::parse("postgres://u:secret@h/db").unwrap();
        assert!(!l.display().contains("secret"));
        assert_eq!(
            without_password("postgres://u:secret@h:5433/db?host=/s"),
            "postgres://u@h:5433/db?host=/s"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=secret&port=1"),
            "postgres://u@h/db?port=1"
        );
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(
            pgpass_fields(r"h:5432:db:u:pa\:ss:word"),
            ["h", "5432", "db", "u", "pa:ss:word"]
        );
        assert_eq!(pgpass_fields("*:*:*:u:x"), ["*", "*", "*", "u", "x"]);
    }

    #[test]
    fn the_ddl_becomes_postgres_types() {
        let ddl = postgres_ddl(super::super::SCHEMA_SQL);
        assert!(ddl.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"));
        assert!(!ddl.contains("strftime") && !ddl.contains("INTEGER") && !ddl.contains(" REAL"));
    }
}
