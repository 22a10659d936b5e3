//! The operator CLI, run as the real binary against the same storage a server would use.

use crate::harness::{free_port, palisade_binary};
use palisade_core::model::Username;
use palisade_core::ports::UserRepository;
use palisade_store::testing::TestDatabase;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `palisade ARGS` with its configuration in the environment, feeding `stdin`.
pub(crate) fn palisade(
    db: &TestDatabase,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut child = Command::new(palisade_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", db.url())
        .env("PALISADE_DATA_DIR", data_dir)
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The standard output of a command that must have succeeded.
pub(crate) fn succeeded(o: Output) -> String {
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The error output of a command that must have failed with exit code 1.
pub(crate) fn failed(o: Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    stderr(&o)
}

#[tokio::test]
async fn user_add_then_list_shows_the_user_with_an_argon2id_hash() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(
        &db,
        dir.path(),
        &[
            "user",
            "add",
            "Alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created user alice"));
    assert!(
        !stdout(&out).contains("correct horse"),
        "the password is echoed"
    );

    let out = palisade(&db, dir.path(), &["user", "list"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(
        listing.contains("alice") && listing.contains("alice@example.com"),
        "{listing}"
    );
    assert!(!listing.contains("argon2"), "hashes are not listed");

    let store = db.open().await;
    let alice = store
        .find_user_by_username(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        alice
            .password_hash
            .0
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );

    let again = palisade(
        &db,
        dir.path(),
        &["user", "add", "ALICE", "--password-stdin"],
        "another password\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test]
async fn passwd_disable_enable_and_roles_change_what_is_stored() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    ok(palisade(
        &db,
        dir.path(),
        &["user", "add", "bob", "--password-stdin"],
        "first password\n",
    ));
    let store = db.open().await;
    let bob = Username::parse("bob").unwrap();
    let before = store.find_user_by_username(&bob).await.unwrap().unwrap();

    ok(palisade(
        &db,
        dir.path(),
        &["user", "passwd", "bob", "--password-stdin"],
        "second password\n",
    ));
    let after = store.find_user_by_username(&bob).await.unwrap().unwrap();
    assert_ne!(before.password_hash, after.password_hash);

    ok(palisade(&db, dir.path(), &["user", "disable", "bob"], ""));
    assert!(
        store
            .find_user_by_username(&bob)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );
    assert!(ok(palisade(&db, dir.path(), &["user", "list"], "")).contains("disabled"));
    ok(palisade(&db, dir.path(), &["user", "enable", "bob"], ""));
    assert!(
        !store
            .find_user_by_username(&bob)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );

    ok(palisade(&db, dir.path(), &["role", "add", "auditors"], ""));
    ok(palisade(
        &db,
        dir.path(),
        &["role", "grant", "auditors", "bob"],
        "",
    ));
    assert!(ok(palisade(&db, dir.path(), &["user", "list"], "")).contains("auditors"));
    ok(palisade(
        &db,
        dir.path(),
        &["role", "revoke", "auditors", "bob"],
        "",
    ));
    assert!(!ok(palisade(&db, dir.path(), &["user", "list"], "")).contains("auditors"));

    let unknown_role = palisade(&db, dir.path(), &["role", "grant", "nope", "bob"], "");
    assert_eq!(unknown_role.status.code(), Some(1));
    assert!(stderr(&unknown_role).contains("no role named nope"));
}

#[tokio::test]
async fn short_passwords_and_bad_usernames_are_refused_without_side_effects() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let short = palisade(
        &db,
        dir.path(),
        &["user", "add", "carol", "--password-stdin"],
        "short\n",
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr(&short).contains("at least 8 characters"),
        "{}",
        stderr(&short)
    );
    let bad = palisade(
        &db,
        dir.path(),
        &["user", "add", "bad name", "--password-stdin"],
        "long enough\n",
    );
    assert_eq!(bad.status.code(), Some(1));
    // The same email rule as the admin API's (palisade_flow::admin).
    let bad_email = palisade(
        &db,
        dir.path(),
        &[
            "user",
            "add",
            "dave",
            "--email",
            "not-an-email",
            "--password-stdin",
        ],
        "long enough\n",
    );
    assert_eq!(bad_email.status.code(), Some(1));
    assert!(
        stderr(&bad_email).contains("email:"),
        "{}",
        stderr(&bad_email)
    );
    let listing = stdout(&palisade(&db, dir.path(), &["user", "list"], ""));
    assert!(
        !listing.contains("carol") && !listing.contains("bad") && !listing.contains("dave"),
        "{listing}"
    );
}

#[tokio::test]
async fn client_remove_of_an_unknown_client_fails_clearly() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(&db, dir.path(), &["client", "remove", "no-such-client"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no client no-such-client"));
    let list = palisade(&db, dir.path(), &["client", "list"], "");
    assert!(list.status.success());
}

#[tokio::test]
async fn invalid_configuration_exits_2_naming_the_setting() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("PALISADE_ISSUER", "http://id.example.com"),
        ("PALISADE_BIND", "not-an-address"),
        ("PALISADE_DATABASE_URL", "mysql://localhost/x"),
        ("PALISADE_REDIS_URL", "http://localhost"),
        ("PALISADE_DATABASE_POOL_SIZE", "many"),
    ];
    for (var, value) in cases {
        let out = Command::new(palisade_binary())
            .args(["migrate"])
            .env_clear()
            .env("PALISADE_DATABASE_URL", db.url())
            .env("PALISADE_DATA_DIR", dir.path())
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{var}={value}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[tokio::test]
async fn serve_starts_answers_and_stops_gracefully_on_sigterm() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(palisade_binary())
        .env_clear()
        .env("PALISADE_DATABASE_URL", db.url())
        .env("PALISADE_DATA_DIR", dir.path())
        .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
        .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("PALISADE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            assert_eq!(res.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let first = logs
        .lines()
        .find(|l| l.contains("palisade is serving"))
        .unwrap_or_else(|| panic!("{logs}"));
    let line: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert_eq!(line["level"], "INFO");
    assert!(logs.contains("palisade stopped"));
}

#[tokio::test]
async fn a_new_data_directory_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::create().await;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("fresh").join("data");
    let out = palisade(&db, &data_dir, &["keys", "list"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
}

#[tokio::test]
async fn weak_argon2_parameters_need_the_insecure_dev_flag_to_start() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |flag: bool| {
        let mut cmd = Command::new(palisade_binary());
        cmd.arg("migrate")
            .env_clear()
            .env("PALISADE_DATABASE_URL", db.url())
            .env("PALISADE_DATA_DIR", dir.path())
            .env("PALISADE_ARGON2__MEMORY_KIB", "1024")
            .env("PALISADE_ARGON2__ITERATIONS", "1");
        if flag {
            cmd.arg("--insecure-dev");
        }
        cmd.output().unwrap()
    };
    let refused = run(false);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("PALISADE_ARGON2"),
        "{}",
        stderr(&refused)
    );
    let allowed = run(true);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
}
