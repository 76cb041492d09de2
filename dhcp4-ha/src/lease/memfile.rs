//! Kea's memfile lease file (`kea-leases4.csv`), byte-compatible with Kea 2.2.
//!
//! ```text
//! address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
//! 198.18.0.10,00:0c:01:02:03:04,01:00:0c:01:02:03:04,3600,1795445362,1,0,0,,0,
//! 198.18.0.10,00:0c:01:02:03:04,01:00:0c:01:02:03:04,0,1795441762,1,0,0,,0,
//! ```
//!
//! * Kea 2.2 writes schema 2.1 (the header above); files of schema 1.0 (up to `hostname`), 2.0
//!   (`state`), 2.1 (`user_context`) and 3.0 (`pool_id`, Kea 2.3.8+) are read.
//! * The file is an append-only log: every change appends the lease, a delete appends it with
//!   `valid_lifetime` 0 (and `expire` = the old cltt). On load the last row of an address wins
//!   and a `valid_lifetime` 0 row removes the address ([`load`]).
//! * `hostname` and `user_context` escape `,` and `&` as `&#x2c` and `&#x26`.
//! * LFC compaction ([`compact`]) writes the surviving leases under a fresh header; the file
//!   names Kea uses around it are in [`LfcFiles`].

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{Lease4, LeaseState, LeaseStore, MAX_CLIENT_ID_LEN, MAX_HWADDR_LEN};

/// The columns of each schema, in order.
const COLUMNS: [&str; 12] = [
    "address",
    "hwaddr",
    "client_id",
    "valid_lifetime",
    "expire",
    "subnet_id",
    "fqdn_fwd",
    "fqdn_rev",
    "hostname",
    "state",
    "user_context",
    "pool_id",
];

/// Longest line accepted (a user context can be long, but not unbounded).
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// At most this many row errors are kept in a [`LoadReport`] (the rest are only counted).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// A lease file schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Schema {
    /// 1.0: up to `hostname` (9 columns).
    V1_0,
    /// 2.0: adds `state`.
    V2_0,
    /// 2.1: adds `user_context` (what Kea 1.4 to 2.3.7, and so Kea 2.2, write).
    V2_1,
    /// 3.0: adds `pool_id` (Kea 2.3.8 and later).
    V3_0,
}

impl Schema {
    /// What Kea 2.2 writes.
    pub const KEA_2_2: Self = Self::V2_1;

    /// Number of columns.
    pub const fn columns(self) -> usize {
        match self {
            Self::V1_0 => 9,
            Self::V2_0 => 10,
            Self::V2_1 => 11,
            Self::V3_0 => 12,
        }
    }

    fn from_columns(n: usize) -> Option<Self> {
        match n {
            9 => Some(Self::V1_0),
            10 => Some(Self::V2_0),
            11 => Some(Self::V2_1),
            12 => Some(Self::V3_0),
            _ => None,
        }
    }

    /// The header line (without the newline).
    pub fn header(self) -> String {
        COLUMNS[..self.columns()].join(",")
    }
}

/// Why a line of a lease file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease file line {line}: {kind}")]
pub struct RowError {
    /// Line number, from 1 (the header is line 1).
    pub line: usize,
    /// What is wrong.
    pub kind: RowErrorKind,
}

/// What is wrong with a lease file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowErrorKind {
    /// The header is not one of the known schemas.
    #[error("unknown header '{0}'")]
    BadHeader(String),
    /// The file is empty (no header).
    #[error("empty lease file (no header)")]
    Empty,
    /// A row has another number of columns than the header.
    #[error("{found} columns, the header has {expected}")]
    ColumnCount {
        /// Columns in the header.
        expected: usize,
        /// Columns in the row.
        found: usize,
    },
    /// A line longer than [`MAX_LINE_LEN`].
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    /// A column does not parse.
    #[error("invalid {column} '{value}'")]
    BadValue {
        /// The column name.
        column: &'static str,
        /// The text (truncated to 64 bytes).
        value: String,
    },
    /// `expire` is earlier than `valid_lifetime` allows (cltt would be negative).
    #[error("expire {expire} is smaller than valid_lifetime {valid}")]
    ExpireBeforeLifetime {
        /// The expire column.
        expire: u64,
        /// The valid_lifetime column.
        valid: u32,
    },
    /// Neither hardware address nor client identifier, and the lease is not declined.
    #[error("lease has neither hwaddr nor client_id")]
    NoIdentifier,
}

fn bad(column: &'static str, value: &str) -> RowErrorKind {
    let mut v = value.to_owned();
    if v.len() > 64 {
        let mut cut = 64;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
    }
    RowErrorKind::BadValue { column, value: v }
}

/// Escapes `,` and `&` as Kea does (`&#x2c`, `&#x26`), and ASCII control characters the same
/// way so that no value can break a row (Kea reads them back with the same rule).
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ',' | '&' => {
                let _ = write!(out, "&#x{:02x}", c as u32);
            }
            c if c.is_ascii_control() => {
                let _ = write!(out, "&#x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Undoes [`escape`]: every `&#xHH` becomes the byte HH (as Kea reads it); anything else stays.
pub fn unescape(s: &str) -> String {
    if !s.contains("&#x") {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"&#x") && i + 5 <= b.len() {
            let hex = &s[i + 3..i + 5];
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 5;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Colon-separated lower-case hex (`00:0c:01`), Kea's text form of hwaddr and client_id.
pub fn hex_colon(bytes: &[u8], out: &mut String) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// Parses colon-separated hex with one or two digits per group, as Kea accepts it.
pub fn parse_hex_colon(s: &str, max: usize) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 || out.len() == max {
            return None;
        }
        out.push(u8::from_str_radix(part, 16).ok()?);
    }
    Some(out)
}

/// Appends the row for `lease` (with a trailing newline) in `schema`.
pub fn write_row(lease: &Lease4, schema: Schema, out: &mut String) {
    let _ = write!(out, "{},", lease.addr);
    hex_colon(&lease.hwaddr, out);
    out.push(',');
    hex_colon(&lease.client_id, out);
    let _ = write!(
        out,
        ",{},{},{},{},{},",
        lease.valid_lifetime,
        lease.expire(),
        lease.subnet_id,
        u8::from(lease.fqdn_fwd),
        u8::from(lease.fqdn_rev)
    );
    escape(&lease.hostname, out);
    if schema >= Schema::V2_0 {
        let _ = write!(out, ",{}", lease.state.number());
    }
    if schema >= Schema::V2_1 {
        out.push(',');
        if let Some(ctx) = &lease.user_context {
            escape(ctx, out);
        }
    }
    if schema >= Schema::V3_0 {
        let _ = write!(out, ",{}", lease.pool_id);
    }
    out.push('\n');
}

/// Appends the row that deletes `lease` (Kea: the lease with `valid_lifetime` 0, so `expire`
/// is its cltt).
pub fn write_delete_row(lease: &Lease4, schema: Schema, out: &mut String) {
    let mut gone = lease.clone();
    gone.valid_lifetime = 0;
    write_row(&gone, schema, out);
}

/// Parses one data row of a file of `schema`. `line` is used in errors.
pub fn parse_row(text: &str, schema: Schema, line: usize) -> Result<Lease4, RowError> {
    let err = |kind| RowError { line, kind };
    if text.len() > MAX_LINE_LEN {
        return Err(err(RowErrorKind::TooLong(MAX_LINE_LEN)));
    }
    let cols: Vec<&str> = text.split(',').collect();
    if cols.len() != schema.columns() {
        return Err(err(RowErrorKind::ColumnCount {
            expected: schema.columns(),
            found: cols.len(),
        }));
    }
    let addr: Ipv4Addr = cols[0].parse().map_err(|_| err(bad("address", cols[0])))?;
    let hwaddr =
        parse_hex_colon(cols[1], MAX_HWADDR_LEN).ok_or_else(|| err(bad("hwaddr", cols[1])))?;
    let client_id = parse_hex_colon(cols[2], MAX_CLIENT_ID_LEN)
        .ok_or_else(|| err(bad("client_id", cols[2])))?;
    let valid: u32 = cols[3]
        .parse()
        .map_err(|_| err(bad("valid_lifetime", cols[3])))?;
    let expire: u64 = cols[4].parse().map_err(|_| err(bad("expire", cols[4])))?;
    let subnet_id: u32 = cols[5]
        .parse()
        .map_err(|_| err(bad("subnet_id", cols[5])))?;
    let flag = |i: usize, name| match cols[i] {
        "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        v => Err(err(bad(name, v))),
    };
    let fqdn_fwd = flag(6, "fqdn_fwd")?;
    let fqdn_rev = flag(7, "fqdn_rev")?;
    let hostname = unescape(cols[8]);
    let state = if schema >= Schema::V2_0 {
        LeaseState::from_number(cols[9].parse().map_err(|_| err(bad("state", cols[9])))?)
    } else {
        LeaseState::Default
    };
    let user_context = if schema >= Schema::V2_1 && !cols[10].is_empty() {
        let ctx = unescape(cols[10]);
        let t = ctx.trim();
        if !(t.starts_with('{') && t.ends_with('}')) {
            return Err(err(bad("user_context", cols[10])));
        }
        Some(ctx)
    } else {
        None
    };
    let pool_id = if schema >= Schema::V3_0 {
        cols[11]
            .parse()
            .map_err(|_| err(bad("pool_id", cols[11])))?
    } else {
        0
    };
    let cltt = expire
        .checked_sub(u64::from(valid))
        .ok_or_else(|| err(RowErrorKind::ExpireBeforeLifetime { expire, valid }))?;
    if hwaddr.is_empty() && client_id.is_empty() && state != LeaseState::Declined && valid != 0 {
        return Err(err(RowErrorKind::NoIdentifier));
    }
    Ok(Lease4 {
        addr,
        hwaddr,
        client_id,
        valid_lifetime: valid,
        cltt,
        subnet_id,
        fqdn_fwd,
        fqdn_rev,
        hostname,
        state,
        user_context,
        pool_id,
    })
}

/// Reads a header line.
pub fn parse_header(text: &str) -> Result<Schema, RowError> {
    let cols: Vec<&str> = text.trim_end_matches('\r').split(',').collect();
    Schema::from_columns(cols.len())
        .filter(|s| cols[..] == COLUMNS[..s.columns()])
        .ok_or_else(|| RowError {
            line: 1,
            kind: RowErrorKind::BadHeader(text.chars().take(200).collect()),
        })
}

/// What loading a file did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// The file's schema.
    pub schema: Option<Schema>,
    /// Rows read (valid ones).
    pub rows: usize,
    /// Rows that added or replaced a lease.
    pub upserts: usize,
    /// Rows that deleted a lease (`valid_lifetime` 0).
    pub deletes: usize,
    /// Invalid rows (skipped, as Kea skips them).
    pub invalid: usize,
    /// The first [`MAX_REPORTED_ERRORS`] invalid rows.
    pub errors: Vec<RowError>,
}

/// Replays a lease file into `store`: the last row of an address wins, a `valid_lifetime` 0 row
/// removes it. Invalid rows are skipped and reported, as Kea does; a bad header is an error.
/// Call it for each file in Kea's order (see [`LfcFiles::load_order`]).
pub fn load<S: LeaseStore + ?Sized>(text: &str, store: &mut S) -> Result<LoadReport, RowError> {
    let mut lines = text.split('\n');
    let header = lines
        .next()
        .filter(|h| !h.trim().is_empty())
        .ok_or(RowError {
            line: 1,
            kind: RowErrorKind::Empty,
        })?;
    let schema = parse_header(header)?;
    let mut report = LoadReport {
        schema: Some(schema),
        ..LoadReport::default()
    };
    for (i, raw) in lines.enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        match parse_row(line, schema, i + 2) {
            Ok(lease) => {
                report.rows += 1;
                if lease.valid_lifetime == 0 {
                    report.deletes += 1;
                    store.remove(lease.addr);
                } else {
                    report.upserts += 1;
                    store.upsert(lease);
                }
            }
            Err(e) => {
                report.invalid += 1;
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report.errors.push(e);
                }
            }
        }
    }
    Ok(report)
}

/// What lease file compaction (Kea's LFC) writes: a fresh header and one row per live lease,
/// in address order.
pub fn compact<'a>(leases: impl IntoIterator<Item = &'a Lease4>, schema: Schema) -> String {
    let mut out = schema.header();
    out.push('\n');
    for l in leases {
        write_row(l, schema, &mut out);
    }
    out
}

/// The file names Kea's lease file cleanup uses around a lease file `F`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfcFiles {
    /// `F`: the file the server appends to.
    pub current: String,
    /// `F.1`: the file being compacted (the server renamed `F` to it).
    pub previous: String,
    /// `F.2`: the result of the last compaction.
    pub copy: String,
    /// `F.output`: compaction in progress.
    pub output: String,
    /// `F.completed`: compaction done, not yet renamed to `F.2`.
    pub finish: String,
    /// `F.pid`: the running compactor.
    pub pid: String,
}

impl LfcFiles {
    /// The names around lease file `name`.
    pub fn new(name: &str) -> Self {
        Self {
            current: name.to_owned(),
            previous: format!("{name}.1"),
            copy: format!("{name}.2"),
            output: format!("{name}.output"),
            finish: format!("{name}.completed"),
            pid: format!("{name}.pid"),
        }
    }

    /// The files to load at start-up, in order, given which exist: `F.completed` if present
    /// (else `F.2` then `F.1`), then `F`. A rotation must not start while `F.completed` or
    /// `F.1` exists.
    pub fn load_order(&self, exists: impl Fn(&str) -> bool) -> Vec<&str> {
        let mut v = Vec::new();
        if exists(&self.finish) {
            v.push(self.finish.as_str());
        } else {
            for f in [&self.copy, &self.previous] {
                if exists(f) {
                    v.push(f.as_str());
                }
            }
        }
        if exists(&self.current) {
            v.push(self.current.as_str());
        }
        v
    }
}

/// The function the `kea_memfile` fuzz target and its corpus replay call: load arbitrary text,
/// and check that compacting what loaded reloads to the same leases.
pub fn fuzz_roundtrip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut store = super::MemoryStore::default();
    if load(&text, &mut store).is_ok() {
        let out = compact(store.iter(), Schema::V3_0);
        let mut again = super::MemoryStore::default();
        let report = load(&out, &mut again).expect("a compacted file loads");
        assert_eq!(report.invalid, 0, "compaction wrote an invalid row");
        assert!(
            store.iter().eq(again.iter()),
            "compaction changed the leases"
        );
    }
}
