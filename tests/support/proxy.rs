//! A TCP proxy for fault injection between the scanner and Dovecot: it can
//! cut a connection after N bytes from the server, or answer a client's
//! body fetch with Exchange's throttling reply and hang up. Connections past
//! the faulty ones pass through untouched.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Close the n-th connection (0-based, per entry) after this many bytes
    /// from the server.
    CutAfter(Vec<usize>),
    /// For the first `times` connections, answer the first `UID FETCH ...
    /// BODY.PEEK[]` with `NO Request is throttled. Suggested Backoff Time: ms`
    /// and `* BYE`, then close. Plaintext IMAP only.
    Throttle { times: usize, backoff_ms: u64 },
    /// For the first `times` connections, pass the first client command
    /// containing `pattern` to the server, give the server time to carry it
    /// out, then close both ends without relaying its answer: the client
    /// cannot know whether it happened. Plaintext IMAP only.
    DropAfterCommand { pattern: String, times: usize },
    /// For the first `times` connections, take `uid` out of every body
    /// fetch's UID set before the server sees it, so the reply lacks it as
    /// a server that withholds a message's content would. Plaintext only.
    Withhold { uid: u32, times: usize },
    /// For the first `times` connections, answer the first client command
    /// containing `pattern` with `TAG NO reply` instead of passing it on.
    /// Plaintext only.
    Refuse {
        pattern: String,
        reply: String,
        times: usize,
    },
    /// On every connection, answer the first client command containing
    /// `pattern` with these bytes first (before the server sees it), as an
    /// untagged reply. Plaintext only.
    Inject { pattern: String, reply: Vec<u8> },
    /// For the first `times` connections, pass the first client command
    /// containing `pattern` to the server, then relay nothing more either
    /// way and keep the connection open, as a client killed in the middle
    /// of its run would see it; [`Proxy::stalled`] is set then.
    StallAfterCommand { pattern: String, times: usize },
    /// On every connection, render every message the server sends (each
    /// literal of a reply) anew, as Exchange Online does: headers
    /// refolded, a single-part body re-encoded as base64, a multipart
    /// boundary renamed. Plaintext only.
    Rerender,
}

pub struct Proxy {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    /// Set when a [`Fault::StallAfterCommand`] connection reached its
    /// command.
    pub stalled: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    pub fn start(target_port: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stall_flag = stalled.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let fault = fault.clone();
                let stall_flag = stall_flag.clone();
                thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                        return;
                    };
                    match fault {
                        Fault::CutAfter(cuts) => relay(client, server, cuts.get(n).copied()),
                        Fault::Throttle { times, backoff_ms } if n < times => {
                            throttle(client, server, backoff_ms)
                        }
                        Fault::Throttle { .. } => relay(client, server, None),
                        Fault::DropAfterCommand { pattern, times } if n < times => {
                            drop_after(client, server, &pattern)
                        }
                        Fault::DropAfterCommand { .. } => relay(client, server, None),
                        Fault::Withhold { uid, times } if n < times => {
                            withhold(client, server, uid)
                        }
                        Fault::Withhold { .. } => relay(client, server, None),
                        Fault::Inject { pattern, reply } => {
                            inject(client, server, &pattern, &reply)
                        }
                        Fault::Refuse {
                            pattern,
                            reply,
                            times,
                        } if n < times => refuse(client, server, &pattern, &reply),
                        Fault::Refuse { .. } => relay(client, server, None),
                        Fault::StallAfterCommand { pattern, times } if n < times => {
                            stall_after(client, server, &pattern, &stall_flag)
                        }
                        Fault::StallAfterCommand { .. } => relay(client, server, None),
                        Fault::Rerender => rerender(client, server),
                    }
                });
            }
        });
        Proxy {
            port,
            connections,
            stalled,
        }
    }
}

/// Relays line by line; after forwarding the first client line containing
/// `pattern`, relays nothing more and holds both ends open until the client
/// goes away.
fn stall_after(
    client: TcpStream,
    server: TcpStream,
    pattern: &str,
    stalled: &std::sync::atomic::AtomicBool,
) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hold_down = hold.clone();
    let downstream = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if hold_down.load(Ordering::SeqCst) {
                continue;
            }
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if hold.load(Ordering::SeqCst) {
            continue;
        }
        let hit = line
            .to_ascii_uppercase()
            .contains(&pattern.to_ascii_uppercase());
        if hit {
            hold.store(true, Ordering::SeqCst);
        }
        if s_write.write_all(line.as_bytes()).is_err() {
            break;
        }
        if hit {
            // Give the server time to carry it out before anyone looks.
            thread::sleep(std::time::Duration::from_millis(300));
            stalled.store(true, Ordering::SeqCst);
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Copies both ways; server-to-client stops (and both ends close) after
/// `limit` bytes.
fn relay(client: TcpStream, server: TcpStream, limit: Option<usize>) {
    let (mut c_read, mut s_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let upstream = thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let mut sent = 0usize;
    let mut buf = [0u8; 4096];
    loop {
        let n = match s_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = match limit {
            Some(limit) if sent + n >= limit => {
                let _ = c_write.write_all(&buf[..limit - sent]);
                let _ = c_write.shutdown(Shutdown::Both);
                let _ = s_read.shutdown(Shutdown::Both);
                break;
            }
            _ => n,
        };
        if c_write.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = upstream.join();
}

/// Relays line by line until the client asks for bodies, then throttles.
fn throttle(client: TcpStream, server: TcpStream, backoff_ms: u64) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let downstream = thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
    });
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.to_ascii_uppercase().contains("BODY.PEEK[]") {
            let tag = line.split_whitespace().next().unwrap_or("*").to_string();
            // Stop relaying the server, then answer as Exchange does.
            let _ = server.shutdown(Shutdown::Both);
            let _ = downstream.join();
            let mut c = client;
            let _ = write!(
                c,
                "{tag} NO Request is throttled. Suggested Backoff Time: {backoff_ms} milliseconds\r\n* BYE Connection is closed. 13\r\n"
            );
            let _ = c.shutdown(Shutdown::Both);
            return;
        }
        if s_write.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Relays line by line; after forwarding the first client line containing
/// `pattern`, waits for the server to act, then cuts both ends.
fn drop_after(client: TcpStream, server: TcpStream, pattern: &str) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cut_down = cut.clone();
    let downstream = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cut_down.load(Ordering::SeqCst) {
                break;
            }
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let hit = line
            .to_ascii_uppercase()
            .contains(&pattern.to_ascii_uppercase());
        if hit {
            cut.store(true, Ordering::SeqCst);
        }
        if s_write.write_all(line.as_bytes()).is_err() {
            break;
        }
        if hit {
            thread::sleep(std::time::Duration::from_millis(500));
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Relays line by line, rewriting `TAG UID FETCH set (... BODY.PEEK[])` so
/// the set lacks `uid` (a UID no message has when nothing else is left).
fn withhold(client: TcpStream, server: TcpStream, uid: u32) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let downstream = thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Both);
    });
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let words: Vec<&str> = line.splitn(5, ' ').collect();
        let rewritten = match words.as_slice() {
            [tag, u, fetch, set, items]
                if u.eq_ignore_ascii_case("UID")
                    && fetch.eq_ignore_ascii_case("FETCH")
                    && items.to_ascii_uppercase().contains("BODY.PEEK[]") =>
            {
                let kept: Vec<&str> = set
                    .split(',')
                    .filter(|x| x.parse::<u32>() != Ok(uid))
                    .collect();
                let kept = if kept.is_empty() {
                    "4294967000".to_string()
                } else {
                    kept.join(",")
                };
                format!("{tag} {u} {fetch} {kept} {items}")
            }
            _ => line.clone(),
        };
        if s_write.write_all(rewritten.as_bytes()).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Relays line by line; before forwarding the first client line containing
/// `pattern`, writes `reply` to the client (the server has answered every
/// earlier command, so nothing interleaves).
fn inject(client: TcpStream, server: TcpStream, pattern: &str, reply: &[u8]) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let downstream = thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Both);
    });
    let mut to_client = client.try_clone().expect("clone");
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    let mut done = false;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !done
            && line
                .to_ascii_uppercase()
                .contains(&pattern.to_ascii_uppercase())
        {
            done = true;
            let _ = to_client.write_all(reply);
        }
        if s_write.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Relays line by line; the first client line containing `pattern` is
/// answered with `TAG NO reply` and not passed on.
fn refuse(client: TcpStream, server: TcpStream, pattern: &str, reply: &str) {
    let mut c_write = client.try_clone().expect("clone");
    let mut s_read = server.try_clone().expect("clone");
    let downstream = thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Both);
    });
    let mut to_client = client.try_clone().expect("clone");
    let mut s_write = server.try_clone().expect("clone");
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    let mut done = false;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !done
            && line
                .to_ascii_uppercase()
                .contains(&pattern.to_ascii_uppercase())
        {
            done = true;
            let tag = line.split_whitespace().next().unwrap_or("*");
            let _ = write!(to_client, "{tag} NO {reply}\r\n");
            continue;
        }
        if s_write.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = downstream.join();
}

/// Relays the client as it is; every literal the server sends (`{N}` at
/// the end of a line, then N bytes) is rendered anew and sent with its new
/// length.
fn rerender(client: TcpStream, server: TcpStream) {
    let (mut c_read, mut s_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let upstream = thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let mut reader = BufReader::new(server);
    let mut c_write = client;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let literal = line.strip_suffix(b"}\r\n").and_then(|head| {
            let open = head.iter().rposition(|b| *b == b'{')?;
            let n: usize = std::str::from_utf8(&head[open + 1..]).ok()?.parse().ok()?;
            Some((open, n))
        });
        let Some((open, n)) = literal else {
            if c_write.write_all(&line).is_err() {
                break;
            }
            continue;
        };
        let mut body = vec![0u8; n];
        if reader.read_exact(&mut body).is_err() {
            break;
        }
        let rendered = render_anew(&body);
        let mut out = line[..open].to_vec();
        out.extend_from_slice(format!("{{{}}}\r\n", rendered.len()).as_bytes());
        out.extend_from_slice(&rendered);
        if c_write.write_all(&out).is_err() {
            break;
        }
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = upstream.join();
}

/// A message (or a header block) as a server that stores its own form
/// would give it back.
pub fn render_anew(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (text[..i].to_string(), Some(text[i + 4..].to_string())),
        None => (text.trim_end_matches("\r\n").to_string(), None),
    };
    // Unfold, then fold every header after its first word.
    let mut fields: Vec<String> = Vec::new();
    for l in head.split("\r\n") {
        if l.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str(l);
            }
        } else if !l.is_empty() {
            fields.push(l.to_string());
        }
    }
    let boundary = fields.iter().find_map(|f| {
        let lower = f.to_ascii_lowercase();
        let at = lower.find("boundary=")? + "boundary=".len();
        Some(
            f[at..]
                .trim_matches(|c| c == '"' || c == ';' || c == ' ')
                .to_string(),
        )
    });
    let multipart = boundary.is_some();
    let mut out = String::new();
    for f in &fields {
        if !multipart
            && body.is_some()
            && f.to_ascii_lowercase()
                .starts_with("content-transfer-encoding:")
        {
            continue;
        }
        let f = match &boundary {
            Some(b) => f.replace(b.as_str(), &format!("{b}_r")),
            None => f.clone(),
        };
        match f.split_once(": ") {
            Some((name, value)) if value.contains(' ') => {
                let (a, b) = value.split_once(' ').unwrap_or((value, ""));
                out.push_str(&format!("{name}: {a}\r\n {b}\r\n"));
            }
            Some((name, value)) => out.push_str(&format!("{name}:\r\n {value}\r\n")),
            None => out.push_str(&format!("{f}\r\n")),
        }
    }
    let Some(body) = body else {
        out.push_str("\r\n");
        return out.into_bytes();
    };
    if let Some(b) = &boundary {
        out.push_str("\r\n");
        out.push_str(&body.replace(b.as_str(), &format!("{b}_r")));
    } else {
        use base64::Engine;
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        for chunk in encoded.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}
