//! The memfile on disk: loading it at start-up (Kea's file order around LFC), appending the
//! server's lease changes in group commits, and lease file cleanup (LFC) in-process.
//!
//! * **Load**: `F.completed` if it exists, else `F.2` then `F.1`; then `F`
//!   ([`LfcFiles::load_order`]). Each file is replayed with [`memfile::load`]: the last row of
//!   an address wins, a `valid_lifetime` 0 row deletes; invalid rows are skipped and logged.
//! * **Append**: rows are collected for every lease change of a loop turn and written with
//!   one `write(2)` ([`LeaseFile::commit`]), optionally followed by `fdatasync` (`--fsync`);
//!   only then does the daemon release the replies ([`Server::leases_persisted`]). A row is
//!   in the kernel (or on disk with `--fsync`) before its reply leaves.
//! * **LFC** (`lfc-interval` > 0): Kea renames `F` to `F.1` and runs `kea-lfc`, which merges
//!   `F.2` and `F.1` into `F.output`, renames it `F.completed`, removes `F.2` and `F.1` and
//!   renames `F.completed` to `F.2`. dhcp4d keeps every lease in memory, so it does the same
//!   dance in-process, writing `F.output` from its store (which, right after a commit, is
//!   exactly what `F.2` + `F.1` hold): every intermediate state loads to the same leases
//!   with Kea's start-up order, so a crash at any point loses nothing, and a Kea server
//!   started on the files reads them as it reads its own. The compaction runs on the event
//!   loop (≈1 s per million leases, see benches/scripts/dhcp4_perfdhcp.md); no rotation
//!   starts while `F.completed` or `F.1` exists, as in Kea.
//!
//! [`Server::leases_persisted`]: dhcp4_ha::server::Server::leases_persisted

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use dhcp4_ha::lease::memfile::{self, LfcFiles, LoadReport, Schema};
use dhcp4_ha::lease::{LeaseStore as _, MemoryStore};
use dhcp4_ha::server::{ChangeKind, LeaseChange};

/// What loading found, per file.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The leases.
    pub(crate) store: MemoryStore,
    /// (file, report) in load order.
    pub(crate) files: Vec<(String, LoadReport)>,
}

fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

fn ctx(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Loads the lease files around `name` in Kea's order.
pub(crate) fn load(name: &str) -> io::Result<Loaded> {
    let files = LfcFiles::new(name);
    let mut store = MemoryStore::default();
    let mut out = Vec::new();
    for f in files.load_order(exists) {
        let text = fs::read(f).map_err(ctx(format!("read {f}")))?;
        let text = String::from_utf8_lossy(&text);
        if text.trim().is_empty() {
            // An empty file (created, header not yet written) holds no lease.
            out.push((f.to_owned(), LoadReport::default()));
            continue;
        }
        let report = memfile::load(&text, &mut store)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{f}: {e}")))?;
        out.push((f.to_owned(), report));
    }
    Ok(Loaded { store, files: out })
}

/// The lease file the server appends to.
#[derive(Debug)]
pub(crate) struct LeaseFile {
    names: LfcFiles,
    file: File,
    schema: Schema,
    fsync: bool,
    rows: String,
    pending: usize,
    /// Rows written since start.
    pub(crate) written: u64,
}

/// Opens `name` for appending: creates it with Kea 2.2's header if it is missing or empty,
/// keeps the schema of its header otherwise, and ends a torn last row (a crash in the middle
/// of a write) with a newline so that the next row stands on its own line.
fn open_append(name: &str, default: Schema) -> io::Result<(File, Schema)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(name)
        .map_err(ctx(format!("open {name}")))?;
    let len = file.metadata()?.len();
    if len == 0 {
        let mut h = default.header();
        h.push('\n');
        file.write_all(h.as_bytes())?;
        return Ok((file, default));
    }
    let mut head = Vec::new();
    (&file).take(4096).read_to_end(&mut head)?;
    let first = String::from_utf8_lossy(&head);
    let first = first.split('\n').next().unwrap_or_default();
    let schema = memfile::parse_header(first)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}")))?;
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok((file, schema))
}

/// What an LFC run did.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lfc {
    /// Compacted to this many leases.
    Done(usize),
    /// Not started: `F.completed` or `F.1` exists (a compaction is unfinished).
    Busy,
}

impl LeaseFile {
    /// Opens the lease file `name`; `fsync`: `fdatasync` after every commit.
    pub(crate) fn open(name: &str, fsync: bool) -> io::Result<Self> {
        let (file, schema) = open_append(name, Schema::KEA_2_2)?;
        Ok(Self {
            names: LfcFiles::new(name),
            file,
            schema,
            fsync,
            rows: String::with_capacity(64 * 1024),
            pending: 0,
            written: 0,
        })
    }

    /// The file's name.
    pub(crate) fn name(&self) -> &str {
        &self.names.current
    }

    /// Adds the row of one change to the next commit.
    pub(crate) fn push(&mut self, ch: &LeaseChange) {
        match ch.kind {
            ChangeKind::Added | ChangeKind::Updated => {
                memfile::write_row(&ch.lease, self.schema, &mut self.rows);
            }
            ChangeKind::Deleted => {
                memfile::write_delete_row(&ch.lease, self.schema, &mut self.rows)
            }
        }
        self.pending += 1;
    }

    /// Writes the pending rows with one `write` (and `fdatasync` with `--fsync`). Returns how
    /// many rows went out.
    pub(crate) fn commit(&mut self) -> io::Result<usize> {
        if self.pending == 0 {
            return Ok(0);
        }
        let n = self.pending;
        let r = self.file.write_all(self.rows.as_bytes());
        self.rows.clear();
        self.pending = 0;
        r?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.written += n as u64;
        Ok(n)
    }

    /// Runs lease file cleanup from `store` (call right after [`commit`](Self::commit), so
    /// that the store is what the files hold).
    pub(crate) fn lfc(&mut self, store: &MemoryStore) -> io::Result<Lfc> {
        if exists(&self.names.finish) || exists(&self.names.previous) {
            return Ok(Lfc::Busy);
        }
        self.commit()?;
        let n = self.names.clone();
        fs::rename(&n.current, &n.previous)
            .map_err(ctx(format!("rename {} to {}", n.current, n.previous)))?;
        let (file, schema) = open_append(&n.current, self.schema)?;
        self.file = file;
        self.schema = schema;
        let text = memfile::compact(store.iter(), self.schema);
        {
            let mut out = File::create(&n.output).map_err(ctx(format!("create {}", n.output)))?;
            out.write_all(text.as_bytes())?;
            out.sync_all()?;
        }
        fs::rename(&n.output, &n.finish)?;
        for f in [&n.copy, &n.previous] {
            match fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ctx(format!("remove {f}"))(e)),
            }
        }
        fs::rename(&n.finish, &n.copy)?;
        Ok(Lfc::Done(store.len()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dhcp4_ha::lease::{Lease4, LeaseStore as _};
    use dhcp4_ha::server::Origin;

    use super::*;

    fn lease(i: u8) -> Lease4 {
        let mut l = Lease4::new(Ipv4Addr::new(192, 0, 2, i));
        l.hwaddr = vec![2, 0, 0, 0, 0, i];
        l.valid_lifetime = 3600;
        l.cltt = 1_800_000_000;
        l.subnet_id = 1;
        l
    }

    fn change(seq: u64, kind: ChangeKind, l: Lease4) -> LeaseChange {
        LeaseChange {
            seq,
            kind,
            lease: l,
            origin: Origin::Dhcp,
        }
    }

    fn tmp(tag: &str) -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("hkd4-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("leases4.csv").to_str().unwrap().to_owned();
        (dir, f)
    }

    #[test]
    fn commit_appends_rows_and_load_replays_them() {
        let (dir, f) = tmp("commit");
        let mut lf = LeaseFile::open(&f, false).unwrap();
        lf.push(&change(1, ChangeKind::Added, lease(10)));
        lf.push(&change(2, ChangeKind::Added, lease(11)));
        lf.push(&change(3, ChangeKind::Deleted, lease(10)));
        assert_eq!(lf.commit().unwrap(), 3);
        assert_eq!(lf.commit().unwrap(), 0, "nothing pending");
        let text = fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().count(), 4, "header and three rows: {text}");
        assert!(text.starts_with(&Schema::KEA_2_2.header()));
        let loaded = load(&f).unwrap();
        assert_eq!(loaded.store.len(), 1);
        assert!(loaded.store.get(Ipv4Addr::new(192, 0, 2, 11)).is_some());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn torn_last_row_is_ended_before_appending() {
        let (dir, f) = tmp("torn");
        let mut text = Schema::KEA_2_2.header();
        text.push('\n');
        memfile::write_row(&lease(10), Schema::KEA_2_2, &mut text);
        text.push_str("192.0.2.11,02:00:00:0"); // a crash in the middle of a write
        fs::write(&f, &text).unwrap();
        let mut lf = LeaseFile::open(&f, true).unwrap();
        lf.push(&change(1, ChangeKind::Added, lease(12)));
        lf.commit().unwrap();
        let loaded = load(&f).unwrap();
        assert_eq!(
            loaded.store.len(),
            2,
            "rows 10 and 12; the torn row is skipped"
        );
        assert_eq!(loaded.files[0].1.invalid, 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn lfc_does_keas_file_dance() {
        let (dir, f) = tmp("lfc");
        let mut lf = LeaseFile::open(&f, false).unwrap();
        let mut store = MemoryStore::default();
        for i in 10..20 {
            lf.push(&change(u64::from(i), ChangeKind::Added, lease(i)));
            store.upsert(lease(i));
        }
        lf.push(&change(30, ChangeKind::Deleted, lease(10)));
        store.remove(Ipv4Addr::new(192, 0, 2, 10));
        lf.commit().unwrap();
        let Lfc::Done(n) = lf.lfc(&store).unwrap() else {
            panic!("LFC did not run")
        };
        assert_eq!(n, 9);
        let names = LfcFiles::new(&f);
        assert!(exists(&names.copy) && !exists(&names.previous) && !exists(&names.finish));
        assert_eq!(fs::read_to_string(&names.copy).unwrap().lines().count(), 10);
        assert_eq!(
            fs::read_to_string(&f).unwrap().lines().count(),
            1,
            "F restarts"
        );
        // Rows after the rotation go to the new F; loading F.2 then F gives the whole state.
        lf.push(&change(31, ChangeKind::Deleted, lease(11)));
        lf.commit().unwrap();
        let loaded = load(&f).unwrap();
        assert_eq!(loaded.store.len(), 8);
        // An unfinished compaction (F.1 left by a crash) blocks the next one; loading still
        // sees everything (F.2, F.1, F).
        fs::write(&names.previous, Schema::KEA_2_2.header() + "\n").unwrap();
        assert!(matches!(lf.lfc(&store).unwrap(), Lfc::Busy));
        assert_eq!(load(&f).unwrap().store.len(), 8);
        fs::remove_dir_all(dir).unwrap();
    }
}
