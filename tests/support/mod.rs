pub mod dovecot;
pub mod postgres;
pub mod proxy;
pub mod token_endpoint;

/// Where a CLI test keeps its state, as the arguments that name it:
/// `--state DIR/state.sqlite`, or with `MAILHYGIENE_TEST_STORE=postgresql`
/// `--store URL` of a fresh database on the test process's private
/// PostgreSQL (started once; give the command `PGPASSWORD` =
/// [`postgres::PASSWORD`]). The suites that use it run on both stores.
#[allow(dead_code)]
pub fn store_args(dir: &std::path::Path) -> [String; 2] {
    if std::env::var("MAILHYGIENE_TEST_STORE").as_deref() == Ok("postgresql") {
        static SERVER: std::sync::OnceLock<postgres::Postgres> = std::sync::OnceLock::new();
        let server = SERVER.get_or_init(postgres::Postgres::start);
        let db = server.create_database("cli");
        return ["--store".into(), server.url(&db)];
    }
    [
        "--state".into(),
        dir.join("state.sqlite").display().to_string(),
    ]
}
