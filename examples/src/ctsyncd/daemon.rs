//! The event loop: kernel events, the dedicated link, timers and control requests in; sync
//! datagrams, commits and replies out. One thread (tokio `current_thread`).

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ct_sync::cache::{CtAttrs, CtKey};
use ct_sync::config::{
    AddrMatch, Common, ConntrackdConf, Filter, FilterAction, Mode, SyncSection, Transport,
};
use ct_sync::control::{
    CacheStatsReport, DumpExtras, ExternalStats, InjectReport, InternalStats, LinkReport,
    MessageTracking, QueueReport, QueueStats, ReplyTuple, Request, RuntimeReport, StatsReport,
    TrafficReport, TupleL4, parse_request, write_ct_dump_entry, write_stats, write_stats_cache,
    write_stats_link, write_stats_network, write_stats_process, write_stats_queue,
    write_stats_rsqueue, write_stats_runtime,
};
use ct_sync::ctnetlink::consts::{AF_UNSPEC, EEXIST, ENOENT};
use ct_sync::ctnetlink::{
    self, CommitConfig, CommitOptions, CtMsgKind, DecodeOptions, L4, NlMessage, reply_tuple,
};
use ct_sync::sync::{Command, CtEvent, Origin, SyncConfig, SyncEvent, SyncNode};
use ct_sync::wire::{CtRepr, Op};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::signal::unix::{SignalKind, signal};

use super::kernel::{EventSocket, Read};
use super::transport::{self, Channel, Ready};
use super::{Level, log};
use crate::ctnl::CtnlSocket;

/// How long a control client may take to send its request.
const CONTROL_READ: Duration = Duration::from_secs(1);
/// After a read of the event socket that found events, the next read waits this long, so
/// that a burst is read in batches of many datagrams per wake-up instead of one wake-up (and
/// two context switches) for every few events. The first event after a quiet spell is read
/// at once; the delay only spaces the reads within a burst. The event buffer
/// (`NetlinkBufferSize`) holds far more than a millisecond of events. During the wait the
/// socket is out of the reactor's epoll set ([`EventSocket::unwatch`]): registered, each event
/// the kernel queues would wake the thread (about 5,000 wake-ups a second in a burst).
pub(super) const EVENT_BATCH_WAIT: Duration = Duration::from_millis(1);

/// conntrackd's scheduling (`set_scheduler` at start-up): `Scheduler { Type RR|FIFO;
/// Priority N }` when configured, otherwise — by default — `SCHED_RR` at the highest priority,
/// so that the event socket is read before it overruns even on a busy machine. A failure is
/// logged and the daemon goes on with the system's scheduler, as conntrackd does.
fn set_scheduler(conf: &ConntrackdConf) {
    let configured = conf.general.scheduler.as_ref().and_then(|(ty, prio)| {
        match ty.to_ascii_uppercase().as_str() {
            "RR" => Some((libc::SCHED_RR, *prio)),
            "FIFO" => Some((libc::SCHED_FIFO, *prio)),
            _ => None,
        }
    });
    let (policy, prio) = match configured {
        Some((policy, prio)) => (policy, libc::c_int::try_from(prio).unwrap_or(99)),
        None => (libc::SCHED_RR, super::sys::max_priority(libc::SCHED_RR)),
    };
    if let Err(e) = super::sys::set_scheduler(policy, prio) {
        log!(
            Level::Warning,
            "scheduler configuration failed: {e}. Continuing with system default scheduler."
        );
    }
}

/// Runs the daemon until `-k` or SIGTERM / SIGINT; returns the exit code.
pub(super) fn run(conf: ConntrackdConf) -> i32 {
    set_scheduler(&conf);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log!(Level::Error, "can't start the event loop: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let lock = PathBuf::from(&conf.general.lock_file);
        if let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            log!(
                Level::Error,
                "lockfile `{}' exists, perhaps conntrackd already running? ({e})",
                lock.display()
            );
            return 1;
        }
        let code = match Daemon::start(conf) {
            Ok((mut d, listener)) => {
                let code = d.run(listener).await;
                let _ = std::fs::remove_file(&d.conf.general.unix_path);
                code
            }
            Err(e) => {
                log!(Level::Error, "{e}");
                1
            }
        };
        let _ = std::fs::remove_file(&lock);
        code
    })
}

/// `-s runtime`'s counters kept by the daemon.
#[derive(Debug, Default)]
struct Runtime {
    events_received: u64,
    events_filtered: u64,
    catch_event_failed: u32,
    netlink_overrun: u32,
    flush_kernel_table: u32,
    resync_kernel_table: u32,
    local_read_failed: u32,
    local_unknown_request: u32,
}

/// What woke the loop.
enum Wake {
    Stop(&'static str),
    Kernel(io::Result<()>),
    Channel(io::Result<Ready>),
    Control(io::Result<UnixStream>),
    Timer,
    Busy,
}

/// The daemon's state.
struct Daemon {
    conf: ConntrackdConf,
    sync: SyncSection,
    common: Common,
    node: SyncNode,
    events: EventSocket,
    /// Commits, dumps and flushes; its port id marks our commit's events (`Origin::Commit`).
    ctnl: CtnlSocket,
    /// `DisableExternalCache`: writes received state into the kernel (`Origin::Inject`).
    inject: Option<CtnlSocket>,
    chan: Channel,
    started: Instant,
    rt: Runtime,
    inject_stats: InjectReport,
    commit_opts: CommitOptions,
    decode_opts: DecodeOptions,
    /// Re-dump the kernel table then (after an event overrun).
    overrun_resync_at: Option<Instant>,
    /// Flush the kernel table then (`-t`).
    purge_at: Option<Instant>,
    /// Events may still wait on the event socket.
    kernel_more: bool,
    /// While a burst is read: when the event socket is read next ([`EVENT_BATCH_WAIT`] after
    /// the last read that found events), instead of on readiness.
    kernel_batch_at: Option<Instant>,
    /// Datagrams may still wait on the channel.
    chan_more: bool,
    /// The same for the channel's datagrams (UDP, multicast): while a burst is read, when the
    /// channel is read next, instead of on readiness.
    chan_batch_at: Option<Instant>,
}

fn mode_common(m: &Mode) -> &Common {
    match m {
        Mode::Ftfw(f) => &f.common,
        Mode::Notrack(n) => &n.common,
        Mode::Alarm(a) => &a.common,
    }
}

fn to_reply(ct: &CtRepr) -> Option<ReplyTuple> {
    let t = reply_tuple(ct).ok()?;
    let l4 = match t.l4 {
        L4::Ports(p) => TupleL4::Ports(p),
        L4::Icmp { ty, code, id } => TupleL4::Icmp { ty, code, id },
        L4::None => TupleL4::None,
    };
    Some(ReplyTuple { addrs: t.addrs, l4 })
}

fn addr_matches(m: &AddrMatch, a: IpAddr) -> bool {
    let bits = |a: IpAddr| -> (u128, u8) {
        match a {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let (x, lx) = bits(a);
    let (y, ly) = bits(m.addr);
    if lx != ly {
        return false;
    }
    let p = u32::from(m.prefix.min(ly));
    if p == 0 {
        return true;
    }
    let shift = u32::from(ly) - p;
    (x >> shift) == (y >> shift)
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        "ICMPV6" | "IPV6-ICMP" => 58,
        "SCTP" => 132,
        "DCCP" => 33,
        "UDPLITE" => 136,
        "GRE" => 47,
        _ => return None,
    })
}

fn tcp_state_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "NONE" => 0,
        "SYN_SENT" => 1,
        "SYN_RECV" => 2,
        "ESTABLISHED" => 3,
        "FIN_WAIT" => 4,
        "CLOSE_WAIT" => 5,
        "LAST_ACK" => 6,
        "TIME_WAIT" => 7,
        "CLOSE" | "CLOSED" => 8,
        "SYN_SENT2" => 9,
        _ => return None,
    })
}

/// Whether two states of one conntrack differ only in the seconds they have left.
fn same_but_timeout(a: &CtRepr, b: &CtRepr) -> bool {
    CtRepr {
        timeout: b.timeout,
        ..a.clone()
    } == *b
}

/// conntrackd's userspace filter (`Filter { Protocol; Address; State }`): whether `ct` is
/// synced. Addresses are matched against the original source and destination.
fn filter_pass(f: &Filter, ct: &CtRepr) -> bool {
    let decide = |action: FilterAction, hit: bool| match action {
        FilterAction::Accept => hit,
        FilterAction::Ignore => !hit,
    };
    if let Some((action, names)) = &f.protocol {
        let p = ct.l4proto.unwrap_or(0);
        let hit = names.iter().any(|n| proto_number(n) == Some(p));
        if !decide(*action, hit) {
            return false;
        }
    }
    if let Some((action, list)) = &f.address
        && let Some(addrs) = ct.orig_addrs()
    {
        let hit = list
            .iter()
            .any(|m| addr_matches(m, addrs.src) || addr_matches(m, addrs.dst));
        if !decide(*action, hit) {
            return false;
        }
    }
    if let Some((action, names)) = &f.state
        && let Some(s) = ct.tcp_state
    {
        let hit = names.iter().any(|n| tcp_state_number(n) == Some(s));
        if !decide(*action, hit) {
            return false;
        }
    }
    true
}

impl Daemon {
    fn start(conf: ConntrackdConf) -> Result<(Self, tokio::net::UnixListener), String> {
        let sync = conf
            .sync
            .clone()
            .ok_or("no Sync section: only the sync mode is implemented")?;
        let common = mode_common(&sync.mode).clone();
        let chan_conf = sync
            .channels
            .get(sync.default)
            .ok_or("Sync: no dedicated link (UDP, Multicast or TCP) configured")?
            .clone();
        if sync.channels.len() > 1 {
            log!(
                Level::Warning,
                "{} dedicated links configured: only the default one is used",
                sync.channels.len()
            );
        }
        if sync.expectation_sync.is_some() {
            log!(
                Level::Warning,
                "ExpectationSync is not implemented: expectations are not synced"
            );
        }
        if let Mode::Notrack(n) = &sync.mode
            && n.disable_internal_cache
        {
            log!(
                Level::Warning,
                "DisableInternalCache is not implemented: the internal cache is used"
            );
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mtu = transport::mtu(chan_conf.interface.as_deref());
        let seed = now_unix ^ u64::from(std::process::id()).rotate_left(32);
        let mut cfg =
            SyncConfig::from_conf(&conf, mtu, now_unix as u32, seed).ok_or("no Sync section")?;
        // FTFW: no state message before the HELLO handshake is over, so that a burst at
        // start-up (or while the peer restarts) is not lost for good under loss.
        cfg.hold_until_handshake = true;
        let now = Instant::now();
        let mut node = SyncNode::new(cfg, now);

        let g = &conf.general;
        let events = EventSocket::open(g.netlink_buffer_size, g.netlink_events_reliable)
            .map_err(|e| format!("can't open netlink handler: {e}"))?;
        log!(
            Level::Notice,
            "netlink event socket buffer size has been set to {} bytes",
            events.bufsize
        );
        let mut ctnl =
            CtnlSocket::open().map_err(|e| format!("can't create handler to commit: {e}"))?;
        let inject = if common.disable_external_cache {
            log!(Level::Notice, "disabling external cache");
            Some(CtnlSocket::open().map_err(|e| format!("can't open injection handler: {e}"))?)
        } else {
            None
        };
        let chan =
            Channel::open(&chan_conf).map_err(|e| format!("can't open channel socket: {e}"))?;
        let listener = super::control::bind(&g.unix_path)
            .map_err(|e| format!("can't open unix socket `{}': {e}", g.unix_path))?;

        let commit_opts = CommitOptions {
            commit_timeout: common
                .commit_timeout
                .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            tcp_window_tracking: sync.tcp_window_tracking,
        };
        let decode_opts = DecodeOptions {
            tcp_window_tracking: sync.tcp_window_tracking,
        };
        // The start-up dump into the internal cache.
        let filter = &g.filter;
        ctnl.dump(AF_UNSPEC, decode_opts, |m| {
            if filter_pass(filter, &m.ct) {
                node.populate(now, m.ct);
            }
        })
        .map_err(|e| format!("can't dump the kernel conntrack table: {e}"))?;
        if common.startup_resync
            && let Err(e) = node.handle_command(now, Command::RequestResync)
        {
            log!(Level::Warning, "StartupResync: {e}");
        }
        log!(
            Level::Notice,
            "initialization completed: {} mode, {} transport on {}, {} entries from the kernel",
            node.mode_name(),
            match chan_conf.transport {
                Transport::Udp => "UDP",
                Transport::Multicast => "multicast",
                Transport::Tcp => "TCP",
            },
            chan.ifname(),
            node.internal().ct.len()
        );
        log!(Level::Notice, "-- starting in console mode --");
        Ok((
            Self {
                conf,
                sync,
                common,
                node,
                events,
                ctnl,
                inject,
                chan,
                started: now,
                rt: Runtime::default(),
                inject_stats: InjectReport::default(),
                commit_opts,
                decode_opts,
                overrun_resync_at: None,
                purge_at: None,
                kernel_more: true,
                kernel_batch_at: None,
                chan_more: true,
                chan_batch_at: None,
            },
            listener,
        ))
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.node.poll_timeout(),
            self.overrun_resync_at,
            self.purge_at,
            self.kernel_batch_at,
            self.chan_batch_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    async fn run(&mut self, listener: tokio::net::UnixListener) -> i32 {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log!(Level::Error, "can't install signal handlers");
            return 1;
        };
        loop {
            let deadline = self.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let busy = self.kernel_more || self.chan_more;
            let wake = tokio::select! {
                biased;
                _ = term.recv() => Wake::Stop("SIGTERM"),
                _ = int.recv() => Wake::Stop("SIGINT"),
                r = self.events.readable(), if !self.kernel_more && self.kernel_batch_at.is_none() => {
                    Wake::Kernel(r)
                }
                r = self.chan.ready(), if !self.chan_more && self.chan_batch_at.is_none() => {
                    Wake::Channel(r)
                }
                r = listener.accept() => Wake::Control(r.map(|(s, _)| s)),
                () = sleep => Wake::Timer,
                () = std::future::ready(()), if busy => Wake::Busy,
            };
            match wake {
                Wake::Stop(sig) => {
                    log!(Level::Notice, "---- shutdown received ({sig}) ----");
                    self.log_queue();
                    return 0;
                }
                Wake::Kernel(r) => {
                    if let Err(e) = r {
                        log!(Level::Error, "netlink event socket: {e}");
                        return 1;
                    }
                    self.kernel_more = true;
                }
                Wake::Channel(Ok(Ready::Read)) => self.chan_more = true,
                Wake::Channel(Ok(Ready::Write | Ready::Connection)) => {}
                Wake::Channel(Err(e)) => log!(Level::Error, "dedicated link: {e}"),
                Wake::Control(Ok(stream)) => {
                    if let Some(code) = self.control(stream).await {
                        return code;
                    }
                }
                Wake::Control(Err(e)) => log!(Level::Error, "unix socket accept: {e}"),
                Wake::Timer | Wake::Busy => {}
            }
            let limit = self.conf.general.event_iteration_limit.max(1);
            if self.kernel_batch_at.is_some_and(|t| t <= Instant::now()) {
                self.kernel_batch_at = None;
                self.kernel_more = true;
            }
            if self.kernel_more {
                let (more, got) = self.read_kernel(limit);
                self.kernel_more = more;
                if !more && got > 0 {
                    self.kernel_batch_at = Some(Instant::now() + EVENT_BATCH_WAIT);
                    // Otherwise every event queued meanwhile wakes the thread for nothing.
                    self.events.unwatch();
                }
            }
            if self.chan_batch_at.is_some_and(|t| t <= Instant::now()) {
                self.chan_batch_at = None;
                self.chan_more = true;
            }
            if self.chan_more {
                let now = Instant::now();
                let node = &mut self.node;
                let mut got = 0u32;
                self.chan_more = self.chan.receive(limit, |d| {
                    got += 1;
                    node.handle_datagram(now, d);
                });
                if !self.chan_more && got > 0 && self.chan.is_dgram() {
                    // As for the event socket: the rest of a burst is read on a beat, and
                    // the datagrams arriving meanwhile wake nobody.
                    self.chan_batch_at = Some(Instant::now() + EVENT_BATCH_WAIT);
                    self.chan.unwatch_rx();
                }
            }
            self.timers(Instant::now());
            self.drain_events();
            self.pump(Instant::now());
        }
    }

    /// Reads up to `limit` event datagrams; returns whether more may wait, and how many
    /// datagrams were read.
    fn read_kernel(&mut self, limit: u32) -> (bool, u32) {
        let now = Instant::now();
        let commit_pid = self.ctnl.portid();
        let inject_pid = self.inject.as_ref().map(CtnlSocket::portid);
        let mut got = 0;
        while got < limit {
            let n = match self.events.read() {
                Ok(Read::Data(n)) => n,
                Ok(Read::Empty) => return (false, got),
                Ok(Read::Overrun) => {
                    self.overrun(now);
                    continue;
                }
                Err(e) => {
                    log!(Level::Error, "netlink event socket: {e}");
                    return (false, got);
                }
            };
            got = got.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            for i in 0..n {
                let (d, truncated) = self.events.datagram(i);
                if truncated {
                    self.rt.catch_event_failed += 1;
                    continue;
                }
                for m in ctnetlink::messages(d, self.decode_opts) {
                    let m = match m {
                        Ok(NlMessage::Conntrack(m)) => m,
                        Ok(_) => continue,
                        Err(_) => {
                            self.rt.catch_event_failed += 1;
                            continue;
                        }
                    };
                    self.rt.events_received += 1;
                    if !filter_pass(&self.conf.general.filter, &m.ct) {
                        self.rt.events_filtered += 1;
                        continue;
                    }
                    let origin = if m.pid != 0 && m.pid == commit_pid {
                        Origin::Commit
                    } else if m.pid != 0 && Some(m.pid) == inject_pid {
                        Origin::Inject
                    } else {
                        Origin::NotMe
                    };
                    let ev = match m.kind {
                        CtMsgKind::New => CtEvent::New(m.ct),
                        CtMsgKind::Update => CtEvent::Update(m.ct),
                        CtMsgKind::Destroy => CtEvent::Destroy(m.ct),
                        CtMsgKind::Get => continue,
                    };
                    self.node.handle_kernel_event(now, ev, origin);
                }
            }
        }
        (true, got)
    }

    /// An event overrun: grow the buffer (up to `NetlinkBufferSizeMaxGrowth`) and schedule a
    /// re-dump of the kernel table after `NetlinkOverrunResync`.
    fn overrun(&mut self, now: Instant) {
        self.rt.netlink_overrun += 1;
        log!(
            Level::Warning,
            "netlink event socket buffer overrun: events lost"
        );
        if let Some(max) = self.conf.general.netlink_buffer_size_max_growth
            && self.events.bufsize < max
        {
            let new = self.events.bufsize.saturating_mul(2).min(max);
            match self.events.resize(new) {
                Ok(()) => log!(
                    Level::Notice,
                    "netlink event socket buffer size has been doubled to {new} bytes"
                ),
                Err(e) => log!(
                    Level::Error,
                    "can't grow the netlink event socket buffer: {e}"
                ),
            }
        } else {
            log!(
                Level::Warning,
                "maximum netlink socket buffer size has been reached; consider raising \
                 NetlinkBufferSizeMaxGrowth"
            );
        }
        if let Some(d) = self.conf.general.netlink_overrun_resync
            && self.overrun_resync_at.is_none()
        {
            self.overrun_resync_at = Some(now + d);
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        if self.overrun_resync_at.is_some_and(|t| t <= now) {
            self.overrun_resync_at = None;
            log!(
                Level::Notice,
                "resync with master conntrack table (after overrun)"
            );
            self.resync_kernel(now, true);
        }
        if self.purge_at.is_some_and(|t| t <= now) {
            self.purge_at = None;
            self.rt.flush_kernel_table += 1;
            log!(Level::Notice, "flushing kernel conntrack table (scheduled)");
            self.flush_kernel();
            let _ = self.node.handle_command(now, Command::FlushInternal);
        }
    }

    fn flush_kernel(&mut self) {
        if let Err(e) = self.ctnl.flush(AF_UNSPEC) {
            log!(Level::Error, "can't flush the kernel conntrack table: {e}");
        }
    }

    /// Dumps the kernel table into the internal cache. `send`: entries that differ from the
    /// cache are sent and cached entries the kernel no longer has are deleted (recovery after
    /// lost events); otherwise the entries are only loaded (`-R`).
    fn resync_kernel(&mut self, now: Instant, send: bool) {
        self.rt.resync_kernel_table += 1;
        let mut dumped = Vec::new();
        let filter = &self.conf.general.filter;
        if let Err(e) = self.ctnl.dump(AF_UNSPEC, self.decode_opts, |m| {
            if filter_pass(filter, &m.ct) {
                dumped.push(m.ct);
            }
        }) {
            log!(Level::Error, "can't dump the kernel conntrack table: {e}");
            return;
        }
        if !send {
            for ct in dumped {
                self.node.populate(now, ct);
            }
            return;
        }
        let mut seen = HashSet::with_capacity(dumped.len());
        for ct in dumped {
            let Some(key) = CtKey::of(&ct) else { continue };
            seen.insert(key);
            let same = self
                .node
                .internal()
                .ct
                .get(&key)
                .is_some_and(|e| e.repr() == ct);
            if !same {
                self.node
                    .handle_kernel_event(now, CtEvent::Update(ct), Origin::NotMe);
            }
        }
        let gone: Vec<CtRepr> = self
            .node
            .internal()
            .ct
            .dump()
            .filter(|(k, _)| !seen.contains(*k))
            .map(|(_, e)| e.repr())
            .collect();
        for ct in gone {
            self.node
                .handle_kernel_event(now, CtEvent::Destroy(ct), Origin::NotMe);
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.node.poll_event() {
            match ev {
                SyncEvent::PeerHello { seq } => {
                    log!(
                        Level::Notice,
                        "peer says hello (seq {seq}): tracking its sequence afresh"
                    );
                }
                SyncEvent::HelloBack => log!(Level::Notice, "peer answered our hello"),
                SyncEvent::ResyncRequested => {
                    log!(
                        Level::Notice,
                        "resync requested by the peer: sending bulk update"
                    );
                }
                SyncEvent::InjectCt { op, ct } => self.inject(op, &ct),
                SyncEvent::MessagesLost { .. }
                | SyncEvent::NackReceived { .. }
                | SyncEvent::Malformed(_)
                | SyncEvent::InjectExp { .. } => {}
            }
        }
    }

    /// `DisableExternalCache`: writes one received conntrack into the kernel as conntrackd's
    /// `external_inject` does.
    fn inject(&mut self, op: Op, ct: &CtRepr) {
        let Some(sock) = self.inject.as_mut() else {
            return;
        };
        let opts = self.commit_opts;
        let mut req = |kind: u8| -> i32 {
            let mut built = true;
            let r = sock.request(|b, seq| {
                let r = match kind {
                    0 => ctnetlink::write_create(b, seq, ct, &opts, true),
                    1 => ctnetlink::write_update(b, seq, ct, &opts, true),
                    _ => ctnetlink::write_delete(b, seq, ct, true),
                };
                built = r.is_ok();
            });
            match r {
                Ok(e) if built => e,
                Ok(_) => libc::EINVAL,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            }
        };
        let s = &mut self.inject_stats;
        match op {
            Op::New => {
                let mut e = req(0);
                if e == EEXIST {
                    req(2);
                    e = req(0);
                }
                if e == 0 {
                    s.created += 1;
                } else {
                    s.create_failed += 1;
                }
            }
            Op::Update => {
                let mut e = req(1);
                if e == ENOENT {
                    e = req(0);
                } else if e != 0 {
                    req(2);
                    e = req(0);
                }
                if e == 0 {
                    s.updated += 1;
                } else {
                    s.update_failed += 1;
                }
            }
            Op::Destroy => {
                if req(2) == 0 {
                    s.destroyed += 1;
                } else {
                    s.destroy_failed += 1;
                }
            }
        }
    }

    /// Moves datagrams from the sync node to the channel and writes what the socket takes.
    fn pump(&mut self, now: Instant) {
        loop {
            while self.chan.wants_more() {
                match self.node.poll_transmit(now) {
                    Some(d) => self.chan.push(d),
                    None => break,
                }
            }
            let before = self.chan.queued();
            let node = &mut self.node;
            self.chan.flush(|d| node.recycle(d));
            if self.chan.queued() == before || self.node.tx_len() == 0 {
                break;
            }
        }
        if self.chan.queued() > 0 {
            // The socket is full: the writable branch of `Channel::ready` takes over.
        }
    }

    // -----------------------------------------------------------------------------------
    // Control requests

    async fn control(&mut self, mut s: UnixStream) -> Option<i32> {
        let mut buf = [0u8; 4];
        match tokio::time::timeout(CONTROL_READ, s.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => {
                self.rt.local_read_failed += 1;
                return None;
            }
        }
        let req = match parse_request(&buf) {
            Ok(r) => r,
            Err(e) => {
                self.rt.local_unknown_request += 1;
                log!(Level::Error, "{e}");
                return None;
            }
        };
        let now = Instant::now();
        let mut text = String::new();
        match req {
            Request::AllCommit | Request::CtCommit => {
                if req == Request::AllCommit {
                    log!(Level::Notice, "committing all external caches");
                } else {
                    log!(Level::Notice, "committing conntrack cache");
                }
                let left = self.commit();
                // The reply (nothing) comes now that the commit is done: closing tells the
                // client, which blocks until then.
                let _ = s.shutdown().await;
                if left {
                    self.resync_after_commit(Instant::now());
                }
            }
            Request::ExpCommit => log!(Level::Notice, "committing expectation cache"),
            Request::AllFlushCache | Request::CtFlushCache => {
                self.purge_at = None;
                log!(Level::Notice, "flushing caches");
                let _ = self.node.handle_command(now, Command::FlushInternal);
                let _ = self.node.handle_command(now, Command::FlushExternal);
            }
            Request::CtFlushInternalCache => {
                self.purge_at = None;
                log!(Level::Notice, "flushing internal cache");
                let _ = self.node.handle_command(now, Command::FlushInternal);
            }
            Request::CtFlushExternalCache => {
                log!(Level::Notice, "flushing external cache");
                let _ = self.node.handle_command(now, Command::FlushExternal);
            }
            Request::AllFlushMaster | Request::CtFlushMaster => {
                self.rt.flush_kernel_table += 1;
                log!(Level::Notice, "flushing kernel conntrack table");
                self.flush_kernel();
            }
            Request::ExpFlushMaster => {}
            Request::AllResyncMaster | Request::CtResyncMaster => {
                log!(Level::Notice, "resync with master conntrack table");
                self.resync_kernel(now, false);
            }
            Request::ExpResyncMaster => {}
            Request::RequestDump => {
                log!(Level::Notice, "request resync");
                if let Err(e) = self.node.handle_command(now, Command::RequestResync) {
                    log!(Level::Error, "{e}");
                }
            }
            Request::SendBulk => {
                log!(Level::Notice, "sending bulk update");
                if let Err(e) = self.node.handle_command(now, Command::SendBulk) {
                    log!(Level::Error, "{e}");
                }
            }
            Request::ResetTimers => {
                if self.purge_at.is_none() {
                    let d = self.common.purge_timeout;
                    log!(
                        Level::Notice,
                        "flushing conntrack table in {} secs",
                        d.as_secs()
                    );
                    self.purge_at = Some(now + d);
                }
            }
            Request::Kill => {
                log!(Level::Notice, "---- shutdown received ----");
                self.log_queue();
                return Some(0);
            }
            Request::Stats => write_stats(&self.stats_report(), &mut text),
            Request::StatsNetwork => {
                write_stats_network(&self.node.stats().report(self.chan.report()), &mut text);
            }
            Request::StatsCache => write_stats_cache(
                &CacheStatsReport {
                    internal: self.internal_stats(),
                    external: self.external_stats(),
                },
                &mut text,
            ),
            Request::StatsRuntime => write_stats_runtime(&self.runtime_report(), &mut text),
            Request::StatsLink => {
                let link = LinkReport {
                    kind: self.chan.kind(),
                    ifname: self.chan.ifname().to_owned(),
                    status: transport::link_status(self.chan.ifname()),
                    active: true,
                    counters: self.chan.counters(),
                };
                write_stats_link(&[link], &mut text);
            }
            Request::StatsRsqueue => {
                let entries: Vec<_> = self.node.rs_queue().collect();
                write_stats_rsqueue(&entries, &mut text);
            }
            Request::StatsQueue => write_stats_queue(&self.queue_report(), &mut text),
            Request::StatsProcess => write_stats_process(&[], &mut text),
            Request::CtDumpInternal => self.dump(true, &mut text),
            Request::CtDumpExternal => self.dump(false, &mut text),
            Request::CtDumpInternalXml | Request::CtDumpExternalXml => {
                log!(Level::Warning, "XML dumps are not implemented");
            }
            Request::ExpStats
            | Request::ExpDumpInternal
            | Request::ExpDumpExternal
            | Request::ExpDumpInternalXml
            | Request::ExpDumpExternalXml
            | Request::DebugInfo => {}
        }
        // Large replies (dumps) are written while the loop goes on.
        tokio::spawn(async move {
            let _ = s.write_all(text.as_bytes()).await;
            let _ = s.shutdown().await;
        });
        None
    }

    fn log_queue(&self) {
        if self.chan.queued() > 0 || self.chan.out_bytes_peak > 0 {
            log!(
                Level::Notice,
                "send queue: {} bytes waiting, {} bytes at most",
                self.chan.queued_bytes(),
                self.chan.out_bytes_peak
            );
        }
    }

    /// `-c`: the external cache into the kernel, masters first, in large batches. Returns
    /// whether the event socket left the NEW and UPDATE groups for the commit (and joined
    /// them again): then [`resync_after_commit`](Self::resync_after_commit) reads the table
    /// back in their place.
    fn commit(&mut self) -> bool {
        self.purge_at = None;
        // The cache's compact forms, each decoded when its create is written; the planner
        // writes the masters first.
        let entries: Vec<&CtAttrs> = self
            .node
            .external()
            .ct
            .dump()
            .map(|(_, e)| e.attrs())
            .collect();
        let cfg = CommitConfig {
            options: self.commit_opts,
            ..CommitConfig::default()
        };
        // Without listeners the kernel builds no NEW event per created conntrack: the commit
        // runs about twice as fast, and the events our own commit causes are not synced
        // anyway (`Origin::Commit`).
        let left = match self.events.set_new_update_groups(false) {
            Ok(()) => true,
            Err(e) => {
                log!(
                    Level::Warning,
                    "can't leave the event groups for the commit: {e}"
                );
                let _ = self.events.set_new_update_groups(true);
                false
            }
        };
        match self.ctnl.commit(&entries, cfg) {
            Ok(r) => {
                log!(
                    Level::Notice,
                    "Committed {} new entries",
                    r.stats.created + r.stats.replaced
                );
                if r.stats.failed > 0 {
                    log!(
                        Level::Error,
                        "{} entries can't be committed",
                        r.stats.failed
                    );
                    for f in r.failures.iter().take(5) {
                        log!(
                            Level::Error,
                            "commit of {:?} failed ({:?}): {:?}",
                            entries.get(f.entry).and_then(|c| c.repr().orig_addrs()),
                            f.op,
                            f.error
                        );
                    }
                }
                log!(
                    Level::Notice,
                    "commit has taken {}.{:06} seconds",
                    r.elapsed.as_secs(),
                    r.elapsed.subsec_micros()
                );
            }
            Err(e) => log!(Level::Error, "commit failed: {e}"),
        }
        if left && let Err(e) = self.events.set_new_update_groups(true) {
            log!(Level::Error, "can't join the event groups again: {e}");
        }
        left
    }

    /// After a commit without NEW / UPDATE events: reads the kernel table into the internal
    /// cache. The entries the commit wrote (those of the external cache) go in as the
    /// commit's own events would have (`Origin::Commit`: cached, not sent); any other entry
    /// created or changed meanwhile (timeouts aside) is sent, as its event would have been.
    fn resync_after_commit(&mut self, now: Instant) {
        let started = Instant::now();
        let mut dumped = Vec::new();
        let filter = &self.conf.general.filter;
        if let Err(e) = self.ctnl.dump(AF_UNSPEC, self.decode_opts, |m| {
            if filter_pass(filter, &m.ct) {
                dumped.push(m.ct);
            }
        }) {
            log!(Level::Error, "can't dump the kernel conntrack table: {e}");
            return;
        }
        let n = dumped.len();
        for ct in dumped {
            let Some(key) = CtKey::of(&ct) else { continue };
            if self
                .node
                .internal()
                .ct
                .get(&key)
                .is_some_and(|e| same_but_timeout(&e.repr(), &ct))
            {
                continue;
            }
            if self.node.external().ct.get(&key).is_some() {
                self.node
                    .handle_kernel_event(now, CtEvent::New(ct), Origin::Commit);
            } else {
                self.node
                    .handle_kernel_event(now, CtEvent::Update(ct), Origin::NotMe);
            }
        }
        log!(
            Level::Notice,
            "internal cache updated from {n} kernel entries after the commit in {}.{:06} seconds",
            started.elapsed().as_secs(),
            started.elapsed().subsec_micros()
        );
    }

    fn internal_stats(&self) -> InternalStats {
        InternalStats::Cache(self.node.internal().ct.report())
    }

    fn external_stats(&self) -> ExternalStats {
        if self.common.disable_external_cache {
            ExternalStats::Inject(self.inject_stats)
        } else {
            ExternalStats::Cache(self.node.external().ct.report())
        }
    }

    fn stats_report(&self) -> StatsReport {
        let s = self.node.stats();
        StatsReport {
            internal: self.internal_stats(),
            external: self.external_stats(),
            traffic: TrafficReport::default(),
            channel: self.chan.report(),
            tracking: MessageTracking {
                malformed: s.malformed,
                lost: s.lost,
            },
        }
    }

    fn runtime_report(&self) -> RuntimeReport {
        RuntimeReport {
            uptime_secs: self.started.elapsed().as_secs(),
            events_received: self.rt.events_received,
            events_filtered: self.rt.events_filtered,
            events_unknown_type: 0,
            catch_event_failed: self.rt.catch_event_failed,
            dump_unknown_type: 0,
            netlink_overrun: self.rt.netlink_overrun,
            flush_kernel_table: self.rt.flush_kernel_table,
            resync_kernel_table: self.rt.resync_kernel_table,
            netlink_buffer_size: self.events.bufsize,
            child_process_failed: 0,
            child_process_segfault: 0,
            child_process_termsig: 0,
            select_failed: 0,
            wait_failed: 0,
            local_read_failed: self.rt.local_read_failed,
            local_unknown_request: self.rt.local_unknown_request,
        }
    }

    fn queue_report(&self) -> QueueReport {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let mut queues = vec![
            QueueStats {
                name: "txqueue".into(),
                current: n(self.node.tx_len()),
                max: i32::MAX as u32,
                enospc_errors: 0,
            },
            QueueStats {
                name: "errorq".into(),
                current: n(self.chan.queued()),
                max: u32::MAX,
                enospc_errors: 0,
            },
        ];
        if let Mode::Ftfw(f) = &self.sync.mode {
            queues.push(QueueStats {
                name: "rsqueue".into(),
                current: n(self.node.rs_len()),
                max: f.resend_queue_size,
                enospc_errors: 0,
            });
        }
        QueueReport {
            allocated_nodes: 0,
            queues,
        }
    }

    /// `-i` / `-e`: one line per live entry.
    fn dump(&self, internal: bool, out: &mut String) {
        let now = Instant::now();
        let cache = if internal {
            &self.node.internal().ct
        } else {
            &self.node.external().ct
        };
        out.reserve(cache.len() * 160);
        for (_, e) in cache.dump() {
            let ct = e.repr();
            let extras = DumpExtras {
                reply: if internal { to_reply(&ct) } else { None },
                use_count: None,
                expires_in: None,
                active_since: i64::try_from(now.saturating_duration_since(e.created()).as_secs())
                    .unwrap_or(i64::MAX),
            };
            write_ct_dump_entry(&ct, &extras, out);
        }
    }
}
