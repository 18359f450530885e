//! Maildir++ trees: INBOX in `cur/` and `new/`, other folders as `.A.B/`
//! (`A/B`), flags after `:2,` in the file name, the file's modification time
//! as the received date (what Dovecot uses as INTERNALDATE).
//!
//! Listing is cheap and done by one thread; reading and stat-ing each file is
//! left to the workers so both cores stay busy.

use super::{Content, Job};
use crate::model::MessageMeta;
use chrono::{DateTime, Utc};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A folder of the tree, by display name and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub dir: PathBuf,
}

/// Lists the folders of a Maildir++ tree, INBOX first, the rest by name.
pub fn folders(root: &Path) -> io::Result<Vec<Folder>> {
    folders_and_skipped(root).map(|(folders, _)| folders)
}

/// The folders, and what looked like a folder but was not read (and why).
pub fn folders_and_skipped(root: &Path) -> io::Result<(Vec<Folder>, Vec<String>)> {
    let mut skipped = Vec::new();
    let meta = fs::metadata(root)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a directory",
        ));
    }
    let is_maildir = |dir: &Path| dir.join("cur").is_dir() || dir.join("new").is_dir();
    let mut out = Vec::new();
    if is_maildir(root) {
        out.push(Folder {
            name: "INBOX".into(),
            dir: root.to_path_buf(),
        });
    }
    let mut others = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let file_name = entry.file_name();
        // A name that is not UTF-8 is still a folder: read under a lossy name.
        let name = file_name.to_string_lossy();
        let Some(stripped) = name.strip_prefix('.') else {
            continue;
        };
        if stripped.is_empty() || stripped == "." {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            // Not followed (it may lead out of the tree, or in a circle),
            // and not passed over in silence.
            skipped.push(format!(
                "folder {} is a symbolic link; not followed",
                stripped.replace('.', "/")
            ));
            continue;
        }
        if !kind.is_dir() {
            continue;
        }
        let dir = entry.path();
        if !is_maildir(&dir) {
            continue;
        }
        let display = stripped
            .split('.')
            .map(super::utf7::decode)
            .collect::<Vec<_>>()
            .join("/");
        others.push(Folder { name: display, dir });
    }
    if out.is_empty() && others.is_empty() && skipped.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no Maildir folders here (expected cur/ and new/, or .Folder/ subdirectories)",
        ));
    }
    others.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(others);
    Ok((out, skipped))
}

/// What says a folder's files are as they were: the modification times of
/// its `cur/` and `new/` (a file added, removed or renamed for a flag
/// changes them). `None` when either changed within the last two seconds
/// before `now`, too recently to tell a later change in the same tick from
/// this one; the folder is then listed every time until it settles.
pub fn folder_stamp(folder: &Folder, now: std::time::SystemTime) -> Option<String> {
    let settled = now.checked_sub(std::time::Duration::from_secs(2))?;
    let mut parts = Vec::with_capacity(2);
    for sub in ["cur", "new"] {
        match fs::metadata(folder.dir.join(sub)) {
            Ok(meta) => {
                let modified = meta.modified().ok()?;
                if modified > settled {
                    return None;
                }
                let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
                parts.push(since.as_nanos().to_string());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => parts.push("-".into()),
            Err(_) => return None,
        }
    }
    Some(parts.join(":"))
}

/// Message files of one folder, sorted by name for a stable order.
pub fn message_files(folder: &Folder) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let dir = folder.dir.join(sub);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            files.push(entry.path());
        }
    }
    // Byte order equals component order here (one folder, plain file
    // names) and costs a fraction of `Path`'s component-wise comparison.
    files.sort_unstable_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(files)
}

/// Whether a Maildir file name carries the flagged (`F`) flag.
pub fn flagged(file_name: &str) -> bool {
    file_name
        .rsplit_once(":2,")
        .is_some_and(|(_, flags)| flags.contains('F'))
}

/// The part of a Maildir file name that stays when the message moves from
/// `new/` to `cur/` or its flags change: everything before the `:`.
pub fn unique_name(file_name: &str) -> &str {
    file_name.split(':').next().unwrap_or(file_name)
}

/// A folder's message files by their unique name (see [`unique_name`]),
/// from `cur/` and `new/`; a missing subdirectory is an empty one.
pub fn files_by_key(dir: &Path) -> io::Result<std::collections::HashMap<String, PathBuf>> {
    let mut out = std::collections::HashMap::new();
    for sub in ["cur", "new"] {
        let entries = match std::fs::read_dir(dir.join(sub)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot list {}: {e}", dir.join(sub).display()),
                ));
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            out.insert(unique_name(&name).to_string(), entry.path());
        }
    }
    Ok(out)
}

/// Builds the job for one file. The file is not touched here: stat and read
/// happen together in a worker ([`read`]), so the single listing thread only
/// walks directories.
pub fn job(folder: &str, path: PathBuf) -> Job {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = MessageMeta {
        flagged: flagged(&file_name),
        local_key: Some(unique_name(&file_name).to_string()),
        // `to_string_lossy` is what `display` writes, without the
        // formatting machinery, for every message listed.
        ..MessageMeta::local(folder, 0, path.to_string_lossy().into_owned())
    };
    Job {
        meta,
        content: Content::File(path),
    }
}

/// Reads a message file into `buffer` (reused across messages), filling in
/// its size and received time from the open file. `Ok(false)` means it is
/// larger than `max_bytes` and was not read.
pub fn read(
    path: &Path,
    meta: &mut MessageMeta,
    max_bytes: u64,
    buffer: &mut Vec<u8>,
) -> io::Result<bool> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let stat = file.metadata()?;
    meta.size = stat.len();
    meta.received = stat.modified().ok().map(DateTime::<Utc>::from);
    if stat.len() > max_bytes {
        return Ok(false);
    }
    // Maildir files are written once and renamed into place, so the size
    // from fstat is the size: reads of at most that many bytes into room
    // reserved for them, which ends without read_to_end's extra read to meet
    // the end of the file, and without zeroing the buffer first. A file
    // that shrank meanwhile is read to its end.
    buffer.clear();
    buffer.reserve_exact(stat.len() as usize);
    file.take(stat.len()).read_to_end(buffer)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_file_names() {
        assert!(flagged("1700000000.M1P2.host:2,FS"));
        assert!(!flagged("1700000000.M1P2.host:2,S"));
        assert!(!flagged("1700000000.M1P2.host"));
        assert!(!flagged("F:1,F"));
    }

    #[test]
    fn folder_names_follow_maildir_plus_plus() {
        let root = tempfile::tempdir().expect("tempdir");
        for dir in [
            "cur",
            "new",
            "tmp",
            ".Prosjekter.2024/cur",
            ".S&APg-ppelpost/new",
            ".notmail",
        ] {
            fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        let names: Vec<String> = folders(root.path())
            .expect("lists")
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, vec!["INBOX", "Prosjekter/2024", "Søppelpost"]);
    }

    #[test]
    fn symlinked_and_non_utf8_folders_are_not_passed_over() {
        use std::os::unix::ffi::OsStrExt;
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(root.path().join(".Arkiv/cur")).expect("mkdir");
        std::os::unix::fs::symlink(root.path().join(".Arkiv"), root.path().join(".Lenke"))
            .expect("symlink");
        let odd = root
            .path()
            .join(std::ffi::OsStr::from_bytes(b".Gammel\xff"))
            .join("cur");
        fs::create_dir_all(&odd).expect("mkdir");
        let (found, skipped) = folders_and_skipped(root.path()).expect("lists");
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["Arkiv", "Gammel\u{fffd}"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("Lenke") && skipped[0].contains("symbolic link"));
    }

    #[test]
    fn a_missing_root_is_an_error() {
        assert!(folders(Path::new("/nonexistent/maildir")).is_err());
    }
}
