//! The kernel's share of the event path, measured without the daemon: a reader that takes
//! conntrack events from the kernel exactly as the daemon's event loop does (the same
//! non-blocking socket, `recvmmsg` of 64 datagrams per call, read until empty, the next read
//! 1 ms after one that found events, the socket out of the epoll set meanwhile) and throws
//! them away, optionally sending one sync-sized UDP datagram per 19 events
//! as an FTFW sender under load does. Its CPU per event is the floor under the daemon's
//! (`examples/examples/ct_sync_bench.rs --floor`).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use ct_sync::ctnetlink::NlMsgIter;

use super::kernel::{EventSocket, Read};

/// Events per sync datagram: 19 messages of 76 bytes fill a 1471-byte payload.
const EVENTS_PER_DATAGRAM: u64 = 19;
/// The size of such a datagram.
const DATAGRAM_LEN: usize = 1444;

/// What [`event_floor`] measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFloor {
    /// Conntrack event messages read.
    pub events: u64,
    /// Netlink datagrams read.
    pub datagrams: u64,
    /// `recvmmsg` calls that returned data.
    pub reads: u64,
    /// Wake-ups (readiness notifications).
    pub wakeups: u64,
    /// UDP datagrams sent.
    pub sent: u64,
    /// This thread's CPU time (user + kernel) from the first event to the last.
    pub cpu: Duration,
    /// Wall time from the first event to the last.
    pub wall: Duration,
    /// Whether the socket's receive buffer overflowed (events lost).
    pub overrun: bool,
}

/// Reads conntrack events in the current network namespace until `expected` have arrived
/// (or nothing came for `idle`), throwing them away; with `send_to`, sends a
/// `DATAGRAM_LEN`-byte UDP datagram there for every 19 events. `ready` is told once the
/// socket is subscribed. Blocks the calling thread (it runs its own single-threaded tokio
/// runtime, as the daemon does) and moves it to SCHED_RR at the top priority, as the daemon
/// runs.
pub fn event_floor(
    expected: u64,
    bufsize: u32,
    send_to: Option<SocketAddr>,
    idle: Duration,
    ready: Sender<()>,
) -> io::Result<EventFloor> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The daemon's default scheduling (conntrackd's): SCHED_RR at the top priority, so that
    // the reader keeps up with the kernel as the daemon does.
    let rr = libc::SCHED_RR;
    let _ = super::sys::set_scheduler(rr, super::sys::max_priority(rr));
    rt.block_on(async move {
        let mut sock = EventSocket::open(Some(bufsize), false)?;
        let udp = match send_to {
            Some(to) => {
                let s = UdpSocket::bind(("0.0.0.0", 0))?;
                s.connect(to)?;
                Some(s)
            }
            None => None,
        };
        let payload = vec![0u8; DATAGRAM_LEN];
        let _ = ready.send(());
        let mut r = EventFloor::default();
        let mut first: Option<(Instant, Duration)> = None;
        let mut owed = 0u64;
        // As the daemon: after a read that found events, the next read comes 1 ms later
        // (a burst is read in batches), else when the socket becomes readable.
        let mut batch = false;
        while r.events < expected {
            if batch {
                // Out of the epoll set meanwhile, as in the daemon.
                sock.unwatch();
                tokio::time::sleep(super::daemon::EVENT_BATCH_WAIT).await;
            } else {
                match tokio::time::timeout(idle, sock.readable()).await {
                    Ok(res) => res?,
                    Err(_) => break,
                }
            }
            r.wakeups += 1;
            batch = false;
            loop {
                match sock.read()? {
                    Read::Empty => break,
                    Read::Overrun => r.overrun = true,
                    Read::Data(n) => {
                        if first.is_none() {
                            first = Some((Instant::now(), thread_cpu()));
                        }
                        r.reads += 1;
                        batch = true;
                        r.datagrams += n as u64;
                        for i in 0..n {
                            let (d, _) = sock.datagram(i);
                            r.events += NlMsgIter::new(d).count() as u64;
                        }
                    }
                }
            }
            if let Some(u) = &udp {
                let due = r.events / EVENTS_PER_DATAGRAM;
                while owed < due {
                    u.send(&payload)?;
                    owed += 1;
                    r.sent += 1;
                }
            }
        }
        if let Some((t, c)) = first {
            r.wall = t.elapsed();
            r.cpu = thread_cpu().saturating_sub(c);
        }
        Ok(r)
    })
}

/// This thread's run time so far (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}
