#![allow(dead_code)]
//! A throwaway PostgreSQL server for the team tests: Debian's `postgresql`
//! binaries, `initdb` into a fresh folder, listening on a Unix socket only
//! (no TCP), password authentication, stopped (fast) when dropped. As root
//! (CI) the server runs as the `postgres` system user, which PostgreSQL
//! requires. [`PostgresServer::start_with_tls`] also listens on 127.0.0.1
//! with the certificates of `tests/fixtures/tls` and refuses TCP without TLS.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The superuser's password in every test server.
pub const SUPERUSER_PASSWORD: &str = "super-secret";

pub struct PostgresServer {
    pub dir: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    as_postgres_user: bool,
    /// Set by [`PostgresServer::start_with_tls`]: TLS on 127.0.0.1:`port`.
    tls: bool,
}

fn find_bin() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|b| b.join("initdb").is_file())
        .expect("PostgreSQL server binaries (Debian package postgresql; .ci/run installs it)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PostgresServer {
    /// Starts a new server; panics with the server log if it does not start.
    pub fn start() -> Self {
        Self::start_configured(false)
    }

    /// A server that also listens on 127.0.0.1 (a free port) with TLS:
    /// `server.crt` (for the name `localhost`), client certificates checked
    /// against `ca.crt`; the login `carla` by certificate only, everyone
    /// else by password, and TCP without TLS refused.
    pub fn start_with_tls() -> Self {
        Self::start_configured(true)
    }

    fn start_configured(tls: bool) -> Self {
        let bin = find_bin();
        let as_postgres_user = is_root();
        let base = tempfile::Builder::new()
            .prefix("loupe-pg-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        let dir = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        let password_file = base.join("pw");
        std::fs::write(&password_file, SUPERUSER_PASSWORD).unwrap();
        if as_postgres_user {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres", base.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = if tls {
            // A free TCP port: the kernel picks one, the listener lets it go.
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        } else {
            5432
        };
        let server = Self {
            dir,
            socket_dir,
            port,
            bin,
            as_postgres_user,
            tls,
        };
        server.run(
            "initdb",
            &[
                "-D",
                server.dir.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--pwfile",
                password_file.to_str().unwrap(),
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        if tls {
            server.install_tls();
        }
        server.start_again();
        server
    }

    /// Copies the fixture certificates into the data folder (the key readable
    /// by the server's user only, as PostgreSQL demands) and writes pg_hba.
    fn install_tls(&self) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        for name in ["server.crt", "server.key", "ca.crt"] {
            let to = self.dir.join(name);
            std::fs::copy(fixtures.join(name), &to).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            if self.as_postgres_user {
                let status = Command::new("chown")
                    .args(["postgres:postgres", to.to_str().unwrap()])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
        std::fs::write(
            self.dir.join("pg_hba.conf"),
            "local all all scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n\
             hostssl all carla 127.0.0.1/32 cert\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
    }

    /// A URL over TCP to `host` (`localhost` or `127.0.0.1`) with `query`
    /// (`sslmode=…&sslrootcert=…`) appended; no password when it is empty.
    pub fn tcp_url(&self, user: &str, password: &str, host: &str, db: &str, query: &str) -> String {
        let credentials = if password.is_empty() {
            user.to_string()
        } else {
            format!("{user}:{password}")
        };
        format!("postgres://{credentials}@{host}:{}/{db}?{query}", self.port)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(program)
                .args(args);
            command
        } else {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program, args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server (after [`PostgresServer::stop`]); waits until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-k {} -p {} -c max_connections=60 -c fsync=on",
            self.socket_dir.display(),
            self.port
        );
        if self.tls {
            options += " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=server.crt \
                        -c ssl_key_file=server.key -c ssl_ca_file=ca.crt";
        } else {
            options += " -c listen_addresses=''";
        }
        let log = self.dir.parent().unwrap().join("server.log");
        let out = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    self.dir.to_str().unwrap(),
                    "-o",
                    &options,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "server did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: open sessions are ended, as in a restart).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.dir.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// A URL for `user`:`password` on database `db`, through the socket.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{password}@localhost/{db}?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// Runs SQL as the superuser on database `db` (psql, as a client would).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(format!(
                "host={} port={} user=postgres dbname={db}",
                self.socket_dir.display(),
                self.port
            ))
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A database owned by a new ordinary role `admin` (LOGIN CREATEROLE,
    /// not a superuser): what `scripts/postgres-setup.sh` makes. Returns the
    /// admin's URL.
    pub fn database_for(&self, db: &str, admin: &str, password: &str) -> String {
        self.psql(
            "postgres",
            &format!("CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{password}'"),
        );
        self.psql("postgres", &format!("CREATE DATABASE {db} OWNER {admin}"));
        self.url(admin, password, db)
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    self.dir.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .output();
        if let Some(base) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}
