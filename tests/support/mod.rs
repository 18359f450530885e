pub mod dovecot;
pub mod postgres;
pub mod proxy;
pub mod token_endpoint;

/// Whether the suites run against PostgreSQL
/// (`MAILHYGIENE_TEST_STORE=postgresql`) rather than SQLite.
#[allow(dead_code)]
pub fn on_postgres() -> bool {
    std::env::var("MAILHYGIENE_TEST_STORE").as_deref() == Ok("postgresql")
}

/// The test process's private PostgreSQL, started once.
#[allow(dead_code)]
pub fn postgres_server() -> &'static postgres::Postgres {
    static SERVER: std::sync::OnceLock<postgres::Postgres> = std::sync::OnceLock::new();
    SERVER.get_or_init(postgres::Postgres::start)
}

/// Where a CLI test keeps its state, as the arguments that name it:
/// `--state DIR/state.sqlite`, or with `MAILHYGIENE_TEST_STORE=postgresql`
/// `--store URL` of a fresh database on the test process's private
/// PostgreSQL (started once; give the command `PGPASSWORD` =
/// [`postgres::PASSWORD`]). The suites that use it run on both stores.
#[allow(dead_code)]
pub fn store_args(dir: &std::path::Path) -> [String; 2] {
    if on_postgres() {
        let server = postgres_server();
        let db = server.create_database("cli");
        return ["--store".into(), server.url(&db)];
    }
    [
        "--state".into(),
        dir.join("state.sqlite").display().to_string(),
    ]
}

/// A copy of the store `store` names (its file beside it, or a database
/// made from it as a template), with `sql` run in it: how the tests
/// tamper with a store without touching the one the run goes on with.
/// The SQL must be valid in both dialects.
#[allow(dead_code)]
pub fn tampered_copy(store: &[String; 2], name: &str, sql: &str) -> [String; 2] {
    if store[0] == "--store" {
        let server = postgres_server();
        let database = store[1].rsplit('/').next().expect("a database name");
        let copy = server.copy_database(database, name);
        server.sql(&copy, sql);
        return ["--store".into(), server.url(&copy)];
    }
    let from = std::path::Path::new(&store[1]);
    let copy = from.with_file_name(format!("{name}.sqlite"));
    std::fs::copy(from, &copy).expect("copy the store");
    let conn = rusqlite::Connection::open(&copy).expect("store");
    conn.execute_batch(sql).expect("tamper");
    ["--state".into(), copy.display().to_string()]
}

/// Command arguments with each `--state PATH` kept (SQLite) or, with
/// `MAILHYGIENE_TEST_STORE=postgresql`, turned into `--store URL` of a
/// database made for that path the first time it is named: a test written
/// with state files runs unchanged on both stores (the same path, the same
/// database, across the test's commands).
#[allow(dead_code)]
pub fn on_test_store<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut out: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    if !on_postgres() {
        return out;
    }
    static DATABASES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    for i in 0..out.len().saturating_sub(1) {
        if out[i] != "--state" {
            continue;
        }
        let path = out[i + 1].clone();
        let mut known = DATABASES.lock().expect("not poisoned");
        let url = match known.iter().find(|(p, _)| *p == path) {
            Some((_, url)) => url.clone(),
            None => {
                let server = postgres_server();
                let url = server.url(&server.create_database("cli"));
                known.push((path, url.clone()));
                url
            }
        };
        out[i] = "--store".into();
        out[i + 1] = url;
    }
    out
}

/// The environment that gives a command a fresh default store: its own
/// state directory (`XDG_STATE_HOME`, SQLite), or with
/// `MAILHYGIENE_TEST_STORE=postgresql` a fresh database named by
/// `MAILHYGIENE_STORE`.
#[allow(dead_code)]
pub fn fresh_default_store(dir: &std::path::Path) -> (&'static str, String) {
    if on_postgres() {
        let server = postgres_server();
        return (
            "MAILHYGIENE_STORE",
            server.url(&server.create_database("cli")),
        );
    }
    ("XDG_STATE_HOME", dir.display().to_string())
}
