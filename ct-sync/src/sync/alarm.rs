//! ALARM (`sync-alarm.c`): every internal object is re-sent at a random interval; external
//! objects expire when not refreshed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use super::{Core, Hdr, Obj, Verdict};
use crate::cache::Status;

/// xorshift64*: a tiny seeded generator for the refresh jitter (no `rand` dependency).
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[derive(Debug)]
pub(crate) struct Alarm {
    /// Internal objects' refresh deadlines (entries whose deadline no longer matches the
    /// object's timer are stale and skipped).
    refresh: BinaryHeap<Reverse<(Instant, Obj)>>,
    /// External objects' expiry deadlines, in order (the timeout is the same for all).
    expiry: VecDeque<(Instant, Obj)>,
    rng: XorShift,
    refresh_secs: u64,
    cache_timeout: Duration,
}

impl Alarm {
    pub(crate) fn new(refresh_time: Duration, cache_timeout: Duration, seed: u64) -> Self {
        Self {
            refresh: BinaryHeap::new(),
            expiry: VecDeque::new(),
            rng: XorShift::new(seed),
            refresh_secs: refresh_time.as_secs().max(1),
            cache_timeout,
        }
    }

    /// `random() % RefreshTime + 1` seconds plus `(random() % 5 + 1) * 200000 − 1` µs.
    fn refresh_interval(&mut self) -> Duration {
        let secs = self.rng.next() % self.refresh_secs + 1;
        let micros = (self.rng.next() % 5 + 1) * 200_000 - 1;
        Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    /// The object was created or updated: schedule its next refresh.
    pub(crate) fn arm_refresh(&mut self, core: &mut Core, obj: Obj, now: Instant) {
        let at = now + self.refresh_interval();
        set_timer(core, obj, Some(at), false);
        self.refresh.push(Reverse((at, obj)));
        if self.refresh.len() > 2 * (core.internal.ct.len() + core.internal.exp.len()) + 1024 {
            let heap = std::mem::take(&mut self.refresh);
            self.refresh = heap
                .into_iter()
                .filter(|Reverse((at, o))| timer(core, *o, false) == Some(*at))
                .collect();
        }
    }

    /// The object is DEAD: no more refreshes.
    pub(crate) fn disarm(&mut self, core: &mut Core, obj: Obj) {
        set_timer(core, obj, None, false);
    }

    /// An external object was created or updated: it expires `CacheTimeout` from now.
    pub(crate) fn arm_expiry(&mut self, core: &mut Core, obj: Obj, now: Instant) {
        let at = now + self.cache_timeout;
        set_timer(core, obj, Some(at), true);
        self.expiry.push_back((at, obj));
        if self.expiry.len() > 2 * (core.external.ct.len() + core.external.exp.len()) + 1024 {
            self.expiry
                .retain(|(at, o)| timer(core, *o, true) == Some(*at));
        }
    }

    /// `alarm_recv`: a message with any flag is ignored; numbers are only counted.
    pub(crate) fn recv(&mut self, core: &mut Core, h: &Hdr) -> Verdict {
        if !h.flags.is_empty() {
            return Verdict::Ctl;
        }
        core.track(h.seq);
        core.rx.update(h.seq);
        Verdict::Data
    }

    pub(crate) fn on_timeout(&mut self, core: &mut Core, now: Instant) {
        while let Some(&Reverse((at, obj))) = self.refresh.peek() {
            if at > now {
                break;
            }
            self.refresh.pop();
            let live = timer(core, obj, false) == Some(at)
                && status(core, obj).is_some_and(|s| s != Status::Dead);
            if live {
                self.arm_refresh(core, obj, now);
                core.enqueue(obj);
            }
        }
        while let Some(&(at, obj)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            if timer(core, obj, true) == Some(at) {
                match obj {
                    Obj::Ct(h) => {
                        core.external.ct.remove(h);
                    }
                    Obj::Exp(h) => {
                        core.external.exp.remove(h);
                    }
                }
            }
        }
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let r = self.refresh.peek().map(|Reverse((at, _))| *at);
        let e = self.expiry.front().map(|(at, _)| *at);
        match (r, e) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn timer(core: &Core, obj: Obj, external: bool) -> Option<Instant> {
    let caches = if external {
        &core.external
    } else {
        &core.internal
    };
    match obj {
        Obj::Ct(h) => caches.ct.entry(h).and_then(|e| e.timer),
        Obj::Exp(h) => caches.exp.entry(h).and_then(|e| e.timer),
    }
}

fn set_timer(core: &mut Core, obj: Obj, at: Option<Instant>, external: bool) {
    let caches = if external {
        &mut core.external
    } else {
        &mut core.internal
    };
    let t = match obj {
        Obj::Ct(h) => caches.ct.entry_mut(h).map(|e| &mut e.timer),
        Obj::Exp(h) => caches.exp.entry_mut(h).map(|e| &mut e.timer),
    };
    if let Some(t) = t {
        *t = at;
    }
}

fn status(core: &Core, obj: Obj) -> Option<Status> {
    match obj {
        Obj::Ct(h) => core.internal.ct.entry(h).map(|e| e.status()),
        Obj::Exp(h) => core.internal.exp.entry(h).map(|e| e.status()),
    }
}
