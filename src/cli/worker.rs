//! `worker`: take queued scan jobs from the shared store until stopped
//! (SIGTERM, SIGINT) or, with `--until-idle`, until none is left.

use crate::*;
use mailhygiene::store::prelude::*;
use mailhygiene::workers;

pub(crate) fn worker_command(args: &WorkerArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let Some(config) = config else {
        return Err(usage(
            "a worker needs the configuration file that names the mailboxes and their accounts (--config FILE)",
        ));
    };
    let named = resolve_sources(&[], None, Some(&config))?;
    let options = ScanOptions {
        render: Rendering {
            rules: config.rules.clone(),
            as_of: None,
            format: Format::Text,
            output: None,
            min_confidence: 0.0,
            lang: None,
        },
        rule_2032: Rule2032Arg::Auto,
        max_message_size: config.max_message_bytes.unwrap_or(150 << 20),
        fingerprint_key_file: args
            .fingerprint_key_file
            .clone()
            .or_else(|| config.fingerprint_key_file.clone()),
    };
    let (engine, _) = build_engine(&options, KeyFile::MustExist)?;
    let imap = imap_settings(&args.connections, Some(&config), &engine, false, false)?;
    check_plaintext(&args.connections, &named)?;
    let url = store_url(None, Some(&config))?;
    let open_options = open_options(&url, Some(&config), Lock::Reading);
    let (mut first, connector) = open_shared(&url, Some(&config))?;
    let audit_key = engine.audit_key();
    first.set_audit_key(audit_key.clone());
    let open = || {
        let mut store = mailhygiene::store::open_postgres_session(&connector, &open_options)?;
        store.set_audit_key(audit_key.clone());
        Ok(store)
    };
    let pool = thread_pool(args.connections.threads)?;
    let settings = workers::WorkerSettings {
        lease: args
            .lease
            .or(config.lease)
            .unwrap_or(workers::DEFAULT_LEASE),
        until_idle: args.until_idle,
        idle_wait: std::time::Duration::from_millis(100),
        holder: mailhygiene::store::postgres::process_name(),
        keep_years: config
            .keep_years
            .unwrap_or(mailhygiene::history::KEEP_YEARS),
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("listening for signals")?;
    }
    let worked = workers::work(
        &connector,
        first,
        &open,
        &workers::Scanning {
            engine: &engine,
            named: &named,
            pool: &pool,
            progress: &Silent,
            imap: &imap,
        },
        &settings,
        &stop,
    )
    .map_err(stateful_error)?;
    eprintln!(
        "mailhygiene: worker stopped: {} jobs done ({} mailboxes failed, {} leases lost), {} messages read",
        worked.jobs, worked.failed, worked.lost, worked.messages
    );
    Ok(0)
}
