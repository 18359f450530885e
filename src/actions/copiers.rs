//! The edges of a handover: reading the leaver's messages as stored (IMAP
//! EXAMINE and `BODY.PEEK[]`, or Maildir files) and putting copies into
//! the successor's mailbox (IMAP APPEND with the original date and flags)
//! or a Maildir export.

use super::ActionError;
use crate::handover::{Kept, Origin, Target};
use crate::imap::write::{Original, WriteSession};
use crate::imap::{Credentials, Folder, ImapOptions, ImapUrl, ListedFolder, run_guarded};
use crate::source::maildir;
use crate::store::CaseRow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One IMAP mailbox on a runtime of its own, for synchronous callers.
pub struct ImapMailbox {
    runtime: tokio::runtime::Runtime,
    session: WriteSession,
    folders: Vec<ListedFolder>,
}

impl ImapMailbox {
    pub fn open(
        url: &ImapUrl,
        credentials: &Credentials,
        opts: &ImapOptions,
    ) -> Result<ImapMailbox, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the IMAP runtime: {e}"))?;
        let mut session = run_guarded(&runtime, WriteSession::open(url, credentials, opts))
            .map_err(|e| e.to_string())?;
        let folders = run_guarded(&runtime, session.folders()).map_err(|e| e.to_string())?;
        Ok(ImapMailbox {
            runtime,
            session,
            folders,
        })
    }

    fn folder(&self, name: &str) -> Option<Folder> {
        self.folders
            .iter()
            .find(|f| f.folder.name == name)
            .map(|f| f.folder.clone())
    }

    pub fn logout(self) {
        let ImapMailbox {
            runtime, session, ..
        } = self;
        runtime.block_on(session.logout());
    }
}

impl Origin for ImapMailbox {
    fn originals(
        &mut self,
        folder: &str,
        rows: &[&CaseRow],
    ) -> Result<HashMap<String, Original>, ActionError> {
        let Some(f) = self.folder(folder) else {
            return Ok(HashMap::new());
        };
        let session = &mut self.session;
        let validity =
            run_guarded(&self.runtime, session.examine(&f)).map_err(ActionError::from)?;
        // Only UIDs of the same UIDVALIDITY mean the same messages.
        let wanted: HashMap<u32, &str> = rows
            .iter()
            .filter_map(|r| {
                let (v, u) = r.key.split_once(':')?;
                (v.parse::<u32>().ok()? == validity).then_some((u.parse().ok()?, r.key.as_str()))
            })
            .collect();
        let uids: Vec<u32> = wanted.keys().copied().collect();
        let originals =
            run_guarded(&self.runtime, session.originals(&uids)).map_err(ActionError::from)?;
        Ok(originals
            .into_iter()
            .filter_map(|o| Some((wanted.get(&o.uid)?.to_string(), o)))
            .collect())
    }
}

impl Target for ImapMailbox {
    fn prepare(&mut self, folder: &str) -> Result<(), ActionError> {
        if self.folder(folder).is_some() {
            return Ok(());
        }
        // `/` separates levels in our names; the server has its own
        // separator, which a name must not otherwise hold.
        let delimiter = self
            .folders
            .iter()
            .map(|f| f.delimiter.as_str())
            .find(|d| !d.is_empty())
            .unwrap_or("/")
            .to_string();
        if delimiter != "/" && folder.contains(delimiter.as_str()) {
            return Err(ActionError::Refused(format!(
                "the folder name {folder} holds the server's hierarchy separator `{delimiter}`: choose another with --folder"
            )));
        }
        let server_name = crate::source::utf7::encode(folder).replace('/', &delimiter);
        let session = &mut self.session;
        run_guarded(&self.runtime, session.create(&server_name)).map_err(ActionError::from)?;
        self.folders =
            run_guarded(&self.runtime, self.session.folders()).map_err(ActionError::from)?;
        self.folder(folder)
            .map(|_| ())
            .ok_or_else(|| ActionError::Refused(format!("cannot create the folder {folder}")))
    }

    fn holds(
        &mut self,
        folder: &str,
        message_id: &str,
        original: &Original,
        _hash: &str,
    ) -> Result<bool, ActionError> {
        let f = self
            .folder(folder)
            .ok_or_else(|| ActionError::Refused(format!("the folder {folder} is gone")))?;
        // A server may store the copy its own way and render new bytes on
        // every fetch (Exchange): what it keeps is compared, never bytes.
        let wanted = Kept::of(&original.bytes, original.internal_date);
        let session = &mut self.session;
        run_guarded(&self.runtime, async {
            session.select(&f).await?;
            let candidates = session
                .candidates(message_id, original.internal_date)
                .await?;
            // Few candidates: usually none, or the one copy made before.
            for chunk in candidates.chunks(20) {
                for (header, date) in session.kept_headers(chunk).await? {
                    if wanted.same_as(&Kept::of(&header, date)) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        })
        .map_err(|e: crate::imap::ImapError| ActionError::from(e))
    }

    fn put(&mut self, folder: &str, original: &Original, _hash: &str) -> Result<(), ActionError> {
        let f = self
            .folder(folder)
            .ok_or_else(|| ActionError::Refused(format!("the folder {folder} is gone")))?;
        let session = &mut self.session;
        run_guarded(
            &self.runtime,
            session.append_original(&f.server_name, original),
        )
        .map_err(ActionError::from)
    }
}

/// A leaver's Maildir++ tree, read-only.
pub struct MaildirOrigin {
    folders: HashMap<String, PathBuf>,
}

impl MaildirOrigin {
    pub fn open(root: &Path) -> Result<MaildirOrigin, String> {
        let folders = maildir::folders(root)
            .map_err(|e| format!("cannot read Maildir {}: {e}", root.display()))?
            .into_iter()
            .map(|f| (f.name, f.dir))
            .collect();
        Ok(MaildirOrigin { folders })
    }
}

/// The flags a Maildir file name carries (`:2,FRS`), as IMAP flags.
fn maildir_flags(name: &str) -> Vec<&'static str> {
    let info = name.rsplit_once(":2,").map_or("", |(_, f)| f);
    let mut flags = Vec::new();
    for (letter, flag) in [
        ('D', "\\Draft"),
        ('F', "\\Flagged"),
        ('R', "\\Answered"),
        ('S', "\\Seen"),
    ] {
        if info.contains(letter) {
            flags.push(flag);
        }
    }
    flags
}

impl Origin for MaildirOrigin {
    fn originals(
        &mut self,
        folder: &str,
        rows: &[&CaseRow],
    ) -> Result<HashMap<String, Original>, ActionError> {
        let Some(dir) = self.folders.get(folder) else {
            return Ok(HashMap::new());
        };
        let files = maildir::files_by_key(dir).map_err(|e| ActionError::Io(e.to_string()))?;
        let mut out = HashMap::new();
        for row in rows {
            let Some(path) = files.get(&row.key) else {
                continue;
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(path)
                .map_err(|e| ActionError::Io(format!("cannot read {}: {e}", path.display())))?;
            let internal_date = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .map(chrono::DateTime::<chrono::Utc>::from);
            out.insert(
                row.key.clone(),
                Original {
                    uid: 0,
                    bytes,
                    internal_date,
                    flags: maildir_flags(&name),
                },
            );
        }
        Ok(out)
    }
}

/// An export as a Maildir++ tree: each copy a file named by its content
/// hash, so a copy already there is found by name.
pub struct MaildirTarget {
    root: PathBuf,
}

impl MaildirTarget {
    pub fn new(root: &Path) -> MaildirTarget {
        MaildirTarget {
            root: root.to_path_buf(),
        }
    }

    fn dir(&self, folder: &str) -> PathBuf {
        // Maildir++: `.A.B` for folder A/B, names in modified UTF-7 as
        // Dovecot writes them; dots in names become `_`.
        let name: Vec<String> = folder
            .split('/')
            .map(|s| crate::source::utf7::encode(&s.replace('.', "_")))
            .collect();
        self.root.join(format!(".{}", name.join(".")))
    }
}

impl Target for MaildirTarget {
    fn prepare(&mut self, folder: &str) -> Result<(), ActionError> {
        // Another person's mail: folders only its owner can read.
        let dir = self.dir(folder);
        for sub in ["cur", "new", "tmp"] {
            crate::report::create_private_dir(&dir.join(sub)).map_err(|e| {
                ActionError::Io(format!("cannot create {}: {e}", dir.join(sub).display()))
            })?;
        }
        for sub in ["cur", "new", "tmp"] {
            crate::report::create_private_dir(&self.root.join(sub)).map_err(|e| {
                ActionError::Io(format!("cannot create {}: {e}", self.root.display()))
            })?;
        }
        Ok(())
    }

    fn holds(
        &mut self,
        folder: &str,
        _message_id: &str,
        _original: &Original,
        hash: &str,
    ) -> Result<bool, ActionError> {
        let prefix = format!("{}.mailhygiene", &hash[..32.min(hash.len())]);
        let cur = self.dir(folder).join("cur");
        Ok(std::fs::read_dir(&cur)
            .map_err(|e| ActionError::Io(format!("cannot list {}: {e}", cur.display())))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix)))
    }

    fn put(&mut self, folder: &str, original: &Original, hash: &str) -> Result<(), ActionError> {
        use std::io::Write;
        let dir = self.dir(folder);
        let letters: String = [
            ("\\Draft", 'D'),
            ("\\Flagged", 'F'),
            ("\\Answered", 'R'),
            ("\\Seen", 'S'),
        ]
        .iter()
        .filter(|(f, _)| original.flags.contains(f))
        .map(|(_, l)| *l)
        .collect();
        let name = format!("{}.mailhygiene", &hash[..32.min(hash.len())]);
        let tmp = dir.join("tmp").join(&name);
        let mut file = crate::report::create_private(&tmp)
            .map_err(|e| ActionError::Io(format!("cannot write {}: {e}", tmp.display())))?;
        file.write_all(&original.bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| ActionError::Io(format!("cannot write {}: {e}", tmp.display())))?;
        if let Some(date) = original.internal_date {
            let _ = file.set_modified(std::time::SystemTime::from(date));
        }
        drop(file);
        let to = dir.join("cur").join(format!("{name}:2,{letters}"));
        std::fs::rename(&tmp, &to)
            .map_err(|e| ActionError::Io(format!("cannot write {}: {e}", to.display())))
    }
}

/// An export as one mbox file (mboxrd: lines starting with `From ` or
/// `>From ` in a message get one more `>`). Each copy's `From ` line names
/// it by its content hash (`From mailhygiene-HASH DATE`), written with the
/// message, so a copy already there is found even after a crash.
pub struct MboxTarget {
    path: PathBuf,
    present: std::collections::HashSet<String>,
}

impl MboxTarget {
    pub fn new(path: &Path) -> MboxTarget {
        MboxTarget {
            path: path.to_path_buf(),
            present: Default::default(),
        }
    }

    fn marker(hash: &str) -> String {
        format!("mailhygiene-{}", &hash[..32.min(hash.len())])
    }
}

impl Target for MboxTarget {
    fn prepare(&mut self, _folder: &str) -> Result<(), ActionError> {
        use std::io::BufRead;
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ActionError::Io(format!(
                    "cannot read {}: {e}",
                    self.path.display()
                )));
            }
        };
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.map_err(|e| {
                ActionError::Io(format!("cannot read {}: {e}", self.path.display()))
            })?;
            if let Some(rest) = line.strip_prefix(b"From mailhygiene-") {
                let hash: Vec<u8> = rest
                    .iter()
                    .take_while(|b| b.is_ascii_hexdigit())
                    .copied()
                    .collect();
                self.present
                    .insert(format!("mailhygiene-{}", String::from_utf8_lossy(&hash)));
            }
        }
        Ok(())
    }

    fn holds(
        &mut self,
        _folder: &str,
        _message_id: &str,
        _original: &Original,
        hash: &str,
    ) -> Result<bool, ActionError> {
        Ok(self.present.contains(&MboxTarget::marker(hash)))
    }

    fn put(&mut self, _folder: &str, original: &Original, hash: &str) -> Result<(), ActionError> {
        use std::io::Write;
        let date = original
            .internal_date
            .unwrap_or_else(|| chrono::DateTime::<chrono::Utc>::from(std::time::UNIX_EPOCH));
        let mut out = format!(
            "From {} {}\n",
            MboxTarget::marker(hash),
            date.format("%a %b %e %H:%M:%S %Y")
        )
        .into_bytes();
        for line in original.bytes.split_inclusive(|b| *b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            let quoted = body
                .iter()
                .position(|b| *b != b'>')
                .is_some_and(|i| body[i..].starts_with(b"From "));
            if quoted {
                out.push(b'>');
            }
            out.extend_from_slice(body);
            out.push(b'\n');
        }
        out.push(b'\n');
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = options.open(&self.path).map_err(|e| {
            ActionError::Io(format!(
                "cannot write {} (a symbolic link is not followed): {e}",
                self.path.display()
            ))
        })?;
        // An mbox that existed before is ours to append to, and private
        // from now on.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| {
                    ActionError::Io(format!("cannot make {} private: {e}", self.path.display()))
                })?;
        }
        file.write_all(&out)
            .and_then(|()| file.sync_all())
            .map_err(|e| ActionError::Io(format!("cannot write {}: {e}", self.path.display())))?;
        self.present.insert(MboxTarget::marker(hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_exports_are_quoted_and_found_again() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("export.mbox");
        let original = Original {
            uid: 1,
            bytes: b"Subject: x\r\n\r\nFrom here\r\n>From there\r\nend\r\n".to_vec(),
            internal_date: None,
            flags: Vec::new(),
        };
        let hash = crate::handover::content_hash(&original.bytes);
        let mut t = MboxTarget::new(&path);
        t.prepare("x").expect("prepare");
        assert!(!t.holds("x", "", &original, &hash).expect("holds"));
        t.put("x", &original, &hash).expect("put");
        let text = std::fs::read_to_string(&path).expect("mbox");
        assert!(
            text.starts_with(&format!("From mailhygiene-{} ", &hash[..32])),
            "{text}"
        );
        assert!(text.contains("\n>From here\n>>From there\n"), "{text}");
        // A new run (a new target) finds it in the file.
        let mut again = MboxTarget::new(&path);
        again.prepare("x").expect("prepare");
        assert!(again.holds("x", "", &original, &hash).expect("holds"));
    }

    #[test]
    fn a_maildir_origin_reads_messages_by_key_with_flags() {
        let dir = tempfile::tempdir().expect("dir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(
            dir.path().join("cur/123.abc:2,FS"),
            b"Subject: x\r\n\r\nhei\r\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("new/456.def"), b"Subject: y\r\n\r\n").expect("write");
        let mut origin = MaildirOrigin::open(dir.path()).expect("opens");
        let row = |key: &str| CaseRow {
            folder: "INBOX".into(),
            key: key.into(),
            uid: None,
            message_id: String::new(),
            decision: crate::offboard::Decision::Handover,
            why: String::new(),
        };
        let rows = [row("123.abc"), row("456.def"), row("789.gone")];
        let refs: Vec<&CaseRow> = rows.iter().collect();
        let found = origin.originals("INBOX", &refs).expect("reads");
        assert_eq!(found.len(), 2);
        assert_eq!(found["123.abc"].flags, vec!["\\Flagged", "\\Seen"]);
        assert_eq!(found["123.abc"].bytes, b"Subject: x\r\n\r\nhei\r\n");
        assert!(found["456.def"].flags.is_empty());
        assert!(
            origin
                .originals("Nowhere", &refs)
                .expect("reads")
                .is_empty()
        );
    }

    #[test]
    fn maildir_flags_become_imap_flags() {
        assert_eq!(maildir_flags("123.abc:2,FS"), vec!["\\Flagged", "\\Seen"]);
        assert!(maildir_flags("123.abc").is_empty());
    }
}
