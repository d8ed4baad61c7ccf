//! One SQL connection over both engines a project can live on: a SQLite file
//! (solo, offline; the default) or a PostgreSQL database (a team). The store
//! writes its SQL once, in the subset both engines read the same way
//! (`?N` placeholders, `ON CONFLICT`, `EXISTS`), and reads every column as a
//! [`Value`]. What differs — placeholders, the id of an insert, how a write
//! transaction is serialised, how a table is looked up — differs here only.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::StoreError;

/// One SQL value, as both engines store it. Booleans are integers 0/1 (what
/// SQLite stores; the PostgreSQL schema declares those columns `BIGINT`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// What can be bound as a parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                // Counts and ids far below i64::MAX; saturate rather than wrap.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u8, u16, usize, u64);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The parameters of one statement: `args![item_id, annotator, value]`.
macro_rules! args {
    () => { &[] as &[$crate::store::db::Value] };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),+] as &[$crate::store::db::Value]
    };
}
pub(crate) use args;

/// A column read back.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
    const EXPECTED: &'static str;
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::Int(v) => <$t>::try_from(*v).ok(),
                    _ => None,
                }
            }
            const EXPECTED: &'static str = "an integer";
        }
    )*};
}
int_from_value!(i64, i32, u32, u8, u16, usize, u64);

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v != 0),
            _ => None,
        }
    }
    const EXPECTED: &'static str = "a boolean";
}
impl FromValue for f64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    const EXPECTED: &'static str = "a number";
}
impl FromValue for f32 {
    fn from_value(value: &Value) -> Option<Self> {
        f64::from_value(value).map(|v| v as f32)
    }
    const EXPECTED: &'static str = "a number";
}
impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
    const EXPECTED: &'static str = "text";
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
    const EXPECTED: &'static str = T::EXPECTED;
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `index` as `T`; a missing column or another type is an error
    /// naming both (a database written by something else).
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, StoreError> {
        let value = self.0.get(index).ok_or_else(|| {
            StoreError::Invalid(format!("the database returned no column {index}"))
        })?;
        T::from_value(value).ok_or_else(|| {
            StoreError::Invalid(format!(
                "the database returned {value:?} in column {index} where {} was expected",
                T::EXPECTED
            ))
        })
    }
}

/// Reads and writes, on an open connection or inside a transaction.
pub trait Sql {
    /// All rows of a query.
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// A statement's changed row count.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError>;
    /// An `INSERT` into a table with an `id` key: the new row's id.
    fn insert(&self, sql: &str, args: &[Value]) -> Result<i64, StoreError>;
    /// Whether a table exists (a project on read-only media may lack later ones).
    fn has_table(&self, name: &str) -> Result<bool, StoreError>;

    /// The first row, if any.
    fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
    /// The first row; none is an error.
    fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Invalid("the database returned no row".into()))
    }
    /// The first column of the first row.
    fn value<T: FromValue>(&self, sql: &str, args: &[Value]) -> Result<T, StoreError> {
        self.query_one(sql, args)?.get(0)
    }
    /// Every row through `read`, each read's outcome kept (callers stop at the first error).
    fn map_rows<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<std::vec::IntoIter<Result<T, StoreError>>, StoreError> {
        let rows = self.query(sql, args)?;
        Ok(rows.iter().map(read).collect::<Vec<_>>().into_iter())
    }
    /// The first row through `read`, if there is one.
    fn row_opt<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query_opt(sql, args)?.as_ref().map(read).transpose()
    }
    /// The first row through `read`; none is an error.
    fn row<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read(&self.query_one(sql, args)?)
    }
}

/// An open connection to a project's database.
pub enum Db {
    Sqlite {
        conn: rusqlite::Connection,
        path: PathBuf,
    },
    /// The client needs `&mut` for every call; reads on a project take `&self`.
    Postgres {
        client: RefCell<postgres::Client>,
        server: String,
        /// Statements prepared on this connection, by SQL: each is parsed
        /// once, then every use is one round trip.
        statements: Statements,
    },
}

/// Prepared statements of one PostgreSQL connection, by their SQL.
pub type Statements = RefCell<std::collections::HashMap<String, postgres::Statement>>;

/// A write transaction: serialised with every other writer on the project
/// (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: one transaction-scoped advisory
/// lock), so a read-then-write sees every earlier commit, on both engines.
pub enum Tx<'a> {
    Sqlite {
        tx: rusqlite::Transaction<'a>,
        path: &'a Path,
    },
    Postgres {
        tx: RefCell<postgres::Transaction<'a>>,
        server: &'a str,
        statements: &'a Statements,
    },
}

/// The advisory lock key every PostgreSQL write transaction takes ("LOUP").
const WRITE_LOCK_KEY: i64 = 0x4c4f_5550;

impl Db {
    /// Runs `work` in one write transaction and commits it: durable on return
    /// (SQLite `synchronous = FULL`; PostgreSQL's commit is on the server's WAL).
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                // IMMEDIATE takes the write lock up front, so a second process
                // waits (busy timeout) instead of failing on a read-to-write upgrade.
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| sqlite_error(path, e))?;
                let tx = Tx::Sqlite { tx, path };
                let out = work(&tx)?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres {
                client,
                server,
                statements,
            } => {
                let client = client.get_mut();
                let mut tx = client
                    .transaction()
                    .map_err(|e| postgres_error(server, e))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])
                    .map_err(|e| postgres_error(server, e))?;
                let tx = Tx::Postgres {
                    tx: RefCell::new(tx),
                    server,
                    statements,
                };
                let out = work(&tx)?;
                tx.commit()?;
                Ok(out)
            }
        }
    }

    /// Runs several statements (schema creation); no parameters.
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { conn, path } => conn.execute_batch(sql).map_err(|e| sqlite_error(path, e)),
            Db::Postgres { client, server, .. } => client
                .borrow_mut()
                .batch_execute(sql)
                .map_err(|e| postgres_error(server, e)),
        }
    }

    /// Which engine, for messages and engine-specific statements.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres { .. })
    }
}

impl Sql for Db {
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                sqlite_query(conn, sql, args).map_err(|e| sqlite_error(path, e))
            }
            Db::Postgres {
                client,
                server,
                statements,
            } => postgres_query(&mut *client.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                sqlite_execute(conn, sql, args).map_err(|e| sqlite_error(path, e))
            }
            Db::Postgres {
                client,
                server,
                statements,
            } => postgres_execute(&mut *client.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn insert(&self, sql: &str, args: &[Value]) -> Result<i64, StoreError> {
        match self {
            Db::Sqlite { conn, path } => sqlite_execute(conn, sql, args)
                .map(|_| conn.last_insert_rowid())
                .map_err(|e| sqlite_error(path, e)),
            Db::Postgres {
                client,
                server,
                statements,
            } => postgres_insert(&mut *client.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let sql = if self.is_postgres() {
            POSTGRES_HAS_TABLE
        } else {
            SQLITE_HAS_TABLE
        };
        self.value(sql, args![name])
    }
}

impl Tx<'_> {
    /// Commits: durable on return.
    fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite { tx, path } => tx.commit().map_err(|e| sqlite_error(path, e)),
            Tx::Postgres { tx, server, .. } => tx
                .into_inner()
                .commit()
                .map_err(|e| postgres_error(server, e)),
        }
    }

    /// Runs several statements inside the transaction; no parameters.
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite { tx, path } => tx.execute_batch(sql).map_err(|e| sqlite_error(path, e)),
            Tx::Postgres { tx, server, .. } => tx
                .borrow_mut()
                .batch_execute(sql)
                .map_err(|e| postgres_error(server, e)),
        }
    }
}

impl Sql for Tx<'_> {
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Tx::Sqlite { tx, path } => {
                sqlite_query(tx, sql, args).map_err(|e| sqlite_error(path, e))
            }
            Tx::Postgres {
                tx,
                server,
                statements,
            } => postgres_query(&mut *tx.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite { tx, path } => {
                sqlite_execute(tx, sql, args).map_err(|e| sqlite_error(path, e))
            }
            Tx::Postgres {
                tx,
                server,
                statements,
            } => postgres_execute(&mut *tx.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn insert(&self, sql: &str, args: &[Value]) -> Result<i64, StoreError> {
        match self {
            Tx::Sqlite { tx, path } => sqlite_execute(tx, sql, args)
                .map(|_| tx.last_insert_rowid())
                .map_err(|e| sqlite_error(path, e)),
            Tx::Postgres {
                tx,
                server,
                statements,
            } => postgres_insert(&mut *tx.borrow_mut(), statements, sql, args)
                .map_err(|e| postgres_error(server, e)),
        }
    }
    fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let sql = match self {
            Tx::Sqlite { .. } => SQLITE_HAS_TABLE,
            Tx::Postgres { .. } => POSTGRES_HAS_TABLE,
        };
        self.value(sql, args![name])
    }
}

const SQLITE_HAS_TABLE: &str =
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)";
/// A catalog lookup by name (the search path's schema), not a query of
/// `information_schema`, whose views take milliseconds to plan.
const POSTGRES_HAS_TABLE: &str = "SELECT to_regclass(?1) IS NOT NULL";

fn sqlite_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn postgres_error(server: &str, source: postgres::Error) -> StoreError {
    StoreError::Postgres {
        server: server.to_string(),
        message: describe_error(&source),
    }
}

/// One line for a client error: the server's own message where it sent one
/// (with what it means for a Loupe user), else what went wrong on the way.
pub fn describe_error(error: &postgres::Error) -> String {
    use postgres::error::SqlState;
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let meaning = if *code == SqlState::INVALID_PASSWORD {
            "wrong password or user"
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            "this user may not log in here"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "no such database"
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            "refused by the server: your role may not do this"
        } else if *code == SqlState::UNIQUE_VIOLATION {
            "already there"
        } else {
            ""
        };
        return if meaning.is_empty() {
            db.message().to_string()
        } else {
            format!("{meaning} ({})", db.message())
        };
    }
    if error.is_closed() {
        return "the connection to the server was lost".into();
    }
    let text = error.to_string();
    let source = std::error::Error::source(error)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if text.contains("timeout") || source.contains("timed out") {
        format!("cannot reach the server: no answer within the connect timeout ({source})")
    } else if source.is_empty() {
        text
    } else {
        format!("cannot reach the server ({source})")
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
        }))
    }
}

fn sqlite_query(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
) -> rusqlite::Result<Vec<Row>> {
    let mut statement = conn.prepare_cached(sql)?;
    let columns = statement.column_count();
    let rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
    sqlite_rows(rows, columns)
}

/// Every row of a SQLite result as [`Value`]s.
pub(crate) fn sqlite_rows(mut rows: rusqlite::Rows, columns: usize) -> rusqlite::Result<Vec<Row>> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                // The store writes no blobs; one read back is another program's.
                ValueRef::Blob(_) => Value::Null,
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

fn sqlite_execute(conn: &rusqlite::Connection, sql: &str, args: &[Value]) -> rusqlite::Result<u64> {
    let mut statement = conn.prepare_cached(sql)?;
    statement
        .execute(rusqlite::params_from_iter(args.iter()))
        .map(|n| n as u64)
}

/// Text ordered in the store's SQL is ordered by code point on both engines
/// (what SQLite's default does and what Rust's `sort` does), whatever the
/// server's collation: the store writes `COLLATE BINARY`, which PostgreSQL
/// spells `COLLATE "C"`. (A server in `en_US` would otherwise put `a.png`
/// before `B.png` in an export that SQLite orders the other way.)
const BINARY_ORDER: (&str, &str) = ("COLLATE BINARY", "COLLATE \"C\"");

/// The store's SQL as PostgreSQL reads it: `?N` (and bare `?`) placeholders
/// as `$N`, outside quoted text, and [`BINARY_ORDER`].
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quoted = false;
    let mut next_bare = 1;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push('$');
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    digits = next_bare.to_string();
                    next_bare += 1;
                }
                out.push_str(&digits);
            }
            _ => out.push(c),
        }
    }
    if out.contains(BINARY_ORDER.0) {
        out = out.replace(BINARY_ORDER.0, BINARY_ORDER.1);
    }
    out
}

/// A parameter for the PostgreSQL client: written as the type the server
/// asks for, so one `Value::Int` binds to `BIGINT`, `INTEGER` or `BOOLEAN`.
impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_string().to_sql(ty, out),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => v.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn postgres_params(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| a as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// The statement for `sql` (store spelling), prepared once per connection.
fn prepared(
    client: &mut impl postgres::GenericClient,
    statements: &Statements,
    sql: &str,
) -> Result<postgres::Statement, postgres::Error> {
    if let Some(statement) = statements.borrow().get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(&postgres_placeholders(sql))?;
    statements
        .borrow_mut()
        .insert(sql.to_string(), statement.clone());
    Ok(statement)
}

fn postgres_query(
    client: &mut impl postgres::GenericClient,
    statements: &Statements,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Row>, postgres::Error> {
    let statement = prepared(client, statements, sql)?;
    let rows = client.query(&statement, &postgres_params(args))?;
    rows.iter().map(postgres_row).collect()
}

fn postgres_execute(
    client: &mut impl postgres::GenericClient,
    statements: &Statements,
    sql: &str,
    args: &[Value],
) -> Result<u64, postgres::Error> {
    let statement = prepared(client, statements, sql)?;
    client.execute(&statement, &postgres_params(args))
}

fn postgres_insert(
    client: &mut impl postgres::GenericClient,
    statements: &Statements,
    sql: &str,
    args: &[Value],
) -> Result<i64, postgres::Error> {
    let statement = prepared(client, statements, &format!("{sql} RETURNING id"))?;
    client
        .query_one(&statement, &postgres_params(args))?
        .try_get(0)
}

fn postgres_row(row: &postgres::Row) -> Result<Row, postgres::Error> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(index)?
                .map(|v| Value::Real(v.into()))
        } else {
            // TEXT, VARCHAR, NAME: the store's other columns are all text.
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            postgres_placeholders(
                "SELECT 'a?1' , x FROM t WHERE a = ?1 AND b = ?12 AND c IN (?, ?)"
            ),
            "SELECT 'a?1' , x FROM t WHERE a = $1 AND b = $12 AND c IN ($1, $2)"
        );
        assert_eq!(
            postgres_placeholders("SELECT x FROM t ORDER BY x COLLATE BINARY"),
            "SELECT x FROM t ORDER BY x COLLATE \"C\""
        );
    }

    #[test]
    fn rows_convert_and_name_a_wrong_type() {
        let row = Row(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("x".into()),
            Value::Real(0.5),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert_eq!(row.get::<f64>(3).unwrap(), 0.5);
        let error = row.get::<i64>(2).unwrap_err().to_string();
        assert!(
            error.contains("column 2") && error.contains("integer"),
            "{error}"
        );
        assert!(row.get::<String>(9).is_err());
    }

    #[test]
    fn sqlite_reads_and_writes_through_values() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut db = Db::Sqlite {
            conn,
            path: PathBuf::from(":memory:"),
        };
        db.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, flag INTEGER)")
            .unwrap();
        let id = db
            .write(|tx| {
                tx.insert(
                    "INSERT INTO t (name, score, flag) VALUES (?1, ?2, ?3)",
                    args!["a", 0.25, true],
                )
            })
            .unwrap();
        assert_eq!(id, 1);
        let none: Option<String> = None;
        db.execute(
            "INSERT INTO t (name, score, flag) VALUES (?1, ?2, ?3)",
            args![none, 1.0, false],
        )
        .unwrap();
        let rows = db
            .query("SELECT id, name, score, flag FROM t ORDER BY id", args![])
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<String>(1).unwrap(), "a");
        assert!(rows[0].get::<bool>(3).unwrap());
        assert_eq!(rows[1].get::<Option<String>>(1).unwrap(), None);
        assert!(db.has_table("t").unwrap());
        assert!(!db.has_table("u").unwrap());
        // A failed transaction leaves nothing behind.
        let failed: Result<(), StoreError> = db.write(|tx| {
            tx.execute("INSERT INTO t (name) VALUES ('b')", args![])?;
            Err(StoreError::Invalid("stop".into()))
        });
        assert!(failed.is_err());
        assert_eq!(
            db.value::<i64>("SELECT count(*) FROM t", args![]).unwrap(),
            2
        );
    }
}
