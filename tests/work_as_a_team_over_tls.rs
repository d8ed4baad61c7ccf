//! A team project on a server reached over the network with TLS: each
//! `sslmode` means what it means to libpq (`require` encrypts, `verify-ca`
//! checks the chain, `verify-full` the host name too), a client certificate
//! logs a grader in without a password, and each way a certificate can be
//! wrong gets its own message. The server (tests/common/postgres_server.rs)
//! listens on 127.0.0.1 with the certificates of `tests/fixtures/tls` and
//! refuses TCP without TLS, so every command that works here went over TLS.

mod common;
#[path = "common/postgres_server.rs"]
mod postgres_server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use postgres_server::PostgresServer;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// Runs loupe with a HOME of its own (no `~/.postgresql`, no `.pgpass`) and
/// no PG* variables, so only the URL decides.
fn loupe_in(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loupe"));
    command.args(args).env("HOME", home);
    for variable in [
        "PGPASSWORD",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
    ] {
        command.env_remove(variable);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = loupe_in(home, args, "");
    assert!(
        out.status.success(),
        "loupe {args:?}: {}",
        common::stderr(&out)
    );
    common::stdout(&out)
}

fn refused(home: &Path, args: &[&str]) -> String {
    let out = loupe_in(home, args, "");
    assert!(
        !out.status.success(),
        "loupe {args:?} should have been refused: {}",
        common::stdout(&out)
    );
    common::stderr(&out)
}

#[test]
fn each_sslmode_checks_what_libpq_checks() {
    let server = PostgresServer::start_with_tls();
    // The database and its admin as the setup script makes them.
    server.database_for("team", "lead", "lead-pw");
    let home = tempfile::tempdir().unwrap();
    let share = tempfile::tempdir().unwrap();
    let ca = fixture("ca.crt");
    let ca = ca.to_str().unwrap();
    let verify_full = |host: &str, root: &str| {
        server.tcp_url(
            "lead",
            "lead-pw",
            host,
            "team",
            &format!("sslmode=verify-full&sslrootcert={root}"),
        )
    };

    // The project is made over verified TLS (TCP without TLS is refused by
    // the server's pg_hba, so this could not have worked in the clear).
    let out = ok(
        home.path(),
        &[
            "project",
            "init",
            "--postgres",
            &verify_full("localhost", ca),
            "--images",
            share.path().to_str().unwrap(),
            "--schema",
            "rop",
        ],
    );
    assert!(out.contains("admin lead"), "{out}");
    let stats = ok(home.path(), &["stats", &verify_full("localhost", ca)]);
    assert!(
        stats.contains("0 items") || stats.contains("items: 0"),
        "{stats}"
    );

    // Without TLS the server says no, and the message says why.
    let clear = server.tcp_url("lead", "lead-pw", "localhost", "team", "sslmode=disable");
    let error = refused(home.path(), &["stats", &clear]);
    assert!(error.contains("no encryption"), "{error}");

    // require: encrypted, the certificate not checked (no root file here).
    let require = server.tcp_url("lead", "lead-pw", "localhost", "team", "sslmode=require");
    ok(home.path(), &["stats", &require]);
    // prefer (the default) takes TLS when offered.
    let default = server.tcp_url("lead", "lead-pw", "localhost", "team", "");
    ok(home.path(), &["stats", &default]);

    // A root that did not sign the server's certificate.
    let other = fixture("other-ca.crt");
    let error = refused(
        home.path(),
        &["stats", &verify_full("localhost", other.to_str().unwrap())],
    );
    assert!(error.contains("not signed by a trusted root"), "{error}");
    assert!(!error.contains("lead-pw"), "{error}");
    // require with a root file named: checked as verify-ca (libpq's rule).
    let require_other = server.tcp_url(
        "lead",
        "lead-pw",
        "localhost",
        "team",
        &format!("sslmode=require&sslrootcert={}", other.display()),
    );
    let error = refused(home.path(), &["stats", &require_other]);
    assert!(error.contains("not signed by a trusted root"), "{error}");

    // The certificate names localhost, not 127.0.0.1: verify-full refuses
    // the address, verify-ca (chain only) accepts it.
    let error = refused(home.path(), &["stats", &verify_full("127.0.0.1", ca)]);
    assert!(error.contains("does not name this host"), "{error}");
    let verify_ca = server.tcp_url(
        "lead",
        "lead-pw",
        "127.0.0.1",
        "team",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    ok(home.path(), &["stats", &verify_ca]);

    // verify-* without any root file: said before connecting.
    let no_root = server.tcp_url(
        "lead",
        "lead-pw",
        "localhost",
        "team",
        "sslmode=verify-full",
    );
    let error = refused(home.path(), &["stats", &no_root]);
    assert!(
        error.contains("root.crt") && error.contains("does not exist"),
        "{error}"
    );
    // ~/.postgresql/root.crt is where libpq looks by default; so does Loupe.
    std::fs::create_dir_all(home.path().join(".postgresql")).unwrap();
    std::fs::copy(fixture("ca.crt"), home.path().join(".postgresql/root.crt")).unwrap();
    ok(home.path(), &["stats", &no_root]);
    // …and with it there, require checks the chain too.
    std::fs::copy(
        fixture("other-ca.crt"),
        home.path().join(".postgresql/root.crt"),
    )
    .unwrap();
    let error = refused(home.path(), &["stats", &require]);
    assert!(error.contains("not signed by a trusted root"), "{error}");
}

#[test]
fn a_client_certificate_logs_a_grader_in_without_a_password() {
    let server = PostgresServer::start_with_tls();
    // The database and its admin as the setup script makes them.
    server.database_for("team", "lead", "lead-pw");
    let home = tempfile::tempdir().unwrap();
    let share = tempfile::tempdir().unwrap();
    let ca = fixture("ca.crt");
    let root = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let admin = server.tcp_url("lead", "lead-pw", "localhost", "team", &root);
    ok(
        home.path(),
        &[
            "project",
            "init",
            "--postgres",
            &admin,
            "--images",
            share.path().to_str().unwrap(),
            "--schema",
            "rop",
        ],
    );
    let image = share.path().join("eye.png");
    common::write_png(&image, 90);
    ok(home.path(), &["import", &admin, image.to_str().unwrap()]);
    ok(
        home.path(),
        &["project", "user", &admin, "carla", "--role", "annotator"],
    );

    // carla has a certificate (CN=carla) and no password: the server's
    // pg_hba takes the certificate as her login.
    let with_certificate = server.tcp_url(
        "carla",
        "",
        "localhost",
        "team",
        &format!(
            "{root}&sslcert={}&sslkey={}",
            fixture("carla.crt").display(),
            fixture("carla.key").display()
        ),
    );
    let out = loupe_in(
        home.path(),
        &["label", &with_certificate, "--stdin"],
        &format!("{} stage=Stage 2\n", image.display()),
    );
    assert!(
        out.status.success() && common::stdout(&out).starts_with("ok "),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let export = ok(home.path(), &["export", &admin, "--format", "csv"]);
    assert!(
        export.contains("carla") && export.contains("Stage 2"),
        "{export}"
    );

    // Without the certificate there is nothing to log in with.
    let without = server.tcp_url("carla", "", "localhost", "team", &root);
    let error = refused(home.path(), &["stats", &without]);
    assert!(error.contains("certificate"), "{error}");
    // A named certificate file that is not there is said by name.
    let missing = server.tcp_url(
        "carla",
        "",
        "localhost",
        "team",
        &format!("{root}&sslcert=/nowhere/carla.crt&sslkey=/nowhere/carla.key"),
    );
    let error = refused(home.path(), &["stats", &missing]);
    assert!(error.contains("/nowhere/carla.crt"), "{error}");
}
