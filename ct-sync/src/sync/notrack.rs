//! NOTRACK (`sync-notrack.c`): best effort, ALIVE after 1 s idle, RESYNC honoured.

use std::time::Instant;

use super::{ALIVE_INTERVAL, Core, Hdr, SyncEvent, Verdict};
use crate::wire::Flags;

#[derive(Debug)]
pub(crate) struct Notrack {
    pub(crate) alive_at: Instant,
}

impl Notrack {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            alive_at: now + ALIVE_INTERVAL,
        }
    }

    /// `notrack_recv`: sequence numbers are only counted; every data message is applied.
    pub(crate) fn recv(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        core.track(h.seq);
        let v = if h.is_data() {
            Verdict::Data
        } else if h.is_ctl(Flags::RESYNC) {
            core.bulk();
            core.event(SyncEvent::ResyncRequested);
            Verdict::Ctl
        } else if h.is_ctl(Flags::ALIVE) {
            Verdict::Ctl
        } else {
            Verdict::Bad
        };
        if v != Verdict::Bad {
            core.rx.update(h.seq);
        }
        v
    }

    /// Nothing sent for a second: say ALIVE.
    pub(crate) fn on_timeout(&mut self, core: &mut Core, now: Instant) {
        if now < self.alive_at {
            return;
        }
        core.queue_ctl(Flags::ALIVE, None);
        self.alive_at = now + ALIVE_INTERVAL;
    }
}
