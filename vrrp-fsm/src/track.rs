//! Tracking: keepalived's `track_script` and `track_interface` turned into an effective
//! priority and a FAULT verdict, without I/O.
//!
//! The daemon runs the scripts and watches the links; this module only counts and sums:
//! * [`ScriptCheck`] counts a `vrrp_script`'s results with keepalived's `rise` / `fall`
//!   hysteresis and reports when the script's status changes;
//! * [`evaluate`] combines the current status of every object an instance tracks, each with
//!   its weight, into the priority to advertise and whether the instance must be in FAULT.
//!   The daemon feeds the result to the router with [`Command::SetPriority`] and
//!   [`Command::FaultOn`] / [`Command::FaultOff`].
//!
//! keepalived's rules, kept here:
//! * weight 0: the object going down puts the instance in FAULT;
//! * a positive weight is added to the priority while the object is up, a negative weight is
//!   added (the priority lowered) while it is down; `reverse` turns the adjustment round;
//! * a script that has not reported yet adjusts nothing;
//! * the address owner's priority (255) is never adjusted, everybody else's is clamped to
//!   1..=254.
//!
//! [`Command::SetPriority`]: crate::Command::SetPriority
//! [`Command::FaultOn`]: crate::Command::FaultOn
//! [`Command::FaultOff`]: crate::Command::FaultOff
//!
//! ```
//! use vrrp_fsm::track::{evaluate, ObjectStatus, ScriptCheck, Tracked};
//! // vrrp_script chk { weight -50 fall 2 rise 2 }
//! let mut chk = ScriptCheck::new(2, 2, false);
//! assert_eq!(chk.record(true), Some(ObjectStatus::Up)); // the first result counts at once
//! assert_eq!(chk.record(false), None); // one failure of two
//! assert_eq!(chk.record(false), Some(ObjectStatus::Down));
//! let v = evaluate(200, [Tracked::new(-50, chk.status())]);
//! assert_eq!((v.priority, v.fault), (150, false));
//! ```

/// Whether a tracked object (script or interface) is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectStatus {
    /// No result yet (a script that has not finished its first run).
    Init,
    /// Up: the script succeeded (enough times), the interface is running.
    Up,
    /// Down: the script failed (enough times), the interface is down.
    Down,
}

/// The `rise` / `fall` hysteresis of one `vrrp_script`, as keepalived counts it.
///
/// The first result after start-up decides at once (unless `init_fail`); after that, `fall`
/// consecutive failures take an up script down and `rise` consecutive successes bring a down
/// script up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCheck {
    rise: u32,
    fall: u32,
    /// keepalived's `result`: 0 ..= rise + fall − 1; up from `rise` on.
    result: u32,
    status: ObjectStatus,
}

impl ScriptCheck {
    /// A check with `rise` and `fall` (values below 1 count as 1). `init_fail`
    /// (keepalived's keyword) starts it down, needing `rise` successes.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        if init_fail {
            Self {
                rise,
                fall,
                result: 0,
                status: ObjectStatus::Down,
            }
        } else {
            Self {
                rise,
                fall,
                result: rise - 1,
                status: ObjectStatus::Init,
            }
        }
    }

    /// The current status.
    pub fn status(&self) -> ObjectStatus {
        self.status
    }

    /// Counts one run's outcome; returns the new status when it changed (the first result
    /// always changes it from [`ObjectStatus::Init`]).
    pub fn record(&mut self, success: bool) -> Option<ObjectStatus> {
        let top = self.rise + self.fall - 1;
        let before = self.status;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = top;
                self.status = ObjectStatus::Up;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
            self.status = ObjectStatus::Down;
        }
        (self.status != before).then_some(self.status)
    }
}

/// One tracked object as an instance sees it: its weight and current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// The weight (0: down means FAULT).
    pub weight: i32,
    /// keepalived's `weight … reverse`: the adjustment is turned round.
    pub reverse: bool,
    /// The object's status.
    pub status: ObjectStatus,
}

impl Tracked {
    /// An object with `weight` (not reversed) and `status`.
    pub fn new(weight: i32, status: ObjectStatus) -> Self {
        Self {
            weight,
            reverse: false,
            status,
        }
    }

    /// What this object adds to the priority now.
    pub fn adjustment(&self) -> i32 {
        let adj = match self.status {
            ObjectStatus::Up if self.weight > 0 => self.weight,
            ObjectStatus::Down if self.weight < 0 => self.weight,
            _ => 0,
        };
        if self.reverse { -adj } else { adj }
    }

    /// Whether this object puts the instance in FAULT now.
    pub fn faults(&self) -> bool {
        self.weight == 0 && self.status == ObjectStatus::Down
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The priority to advertise.
    pub priority: u8,
    /// Whether some weight-0 object is down.
    pub fault: bool,
}

/// Combines the configured priority with the tracked objects.
pub fn evaluate(base: u8, objects: impl IntoIterator<Item = Tracked>) -> Verdict {
    let mut total = i64::from(base);
    let mut fault = false;
    for o in objects {
        fault |= o.faults();
        total += i64::from(o.adjustment());
    }
    let priority = if base == 255 {
        255
    } else {
        // Clamped to 1..=254, so the cast cannot truncate.
        total.clamp(1, 254) as u8
    };
    Verdict { priority, fault }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ObjectStatus::{Down, Init, Up};

    #[test]
    fn first_result_decides_at_once() {
        let mut c = ScriptCheck::new(3, 3, false);
        assert_eq!(c.status(), Init);
        assert_eq!(c.record(false), Some(Down));
        let mut c = ScriptCheck::new(3, 3, false);
        assert_eq!(c.record(true), Some(Up));
    }

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        let mut c = ScriptCheck::new(2, 3, false);
        assert_eq!(c.record(true), Some(Up));
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        // A success in between resets the count.
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(Down));
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(Up));
    }

    #[test]
    fn init_fail_needs_rise_successes() {
        let mut c = ScriptCheck::new(2, 1, true);
        assert_eq!(c.status(), Down);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(Up));
        assert_eq!(c.record(false), Some(Down));
    }

    #[test]
    fn weights_follow_keepalived() {
        let t = |w, s| Tracked::new(w, s);
        assert_eq!(evaluate(100, [t(20, Up)]).priority, 120);
        assert_eq!(evaluate(100, [t(20, Down)]).priority, 100);
        assert_eq!(evaluate(100, [t(-20, Down)]).priority, 80);
        assert_eq!(evaluate(100, [t(-20, Up)]).priority, 100);
        assert_eq!(evaluate(100, [t(-20, Init), t(20, Init)]).priority, 100);
        let rev = Tracked {
            reverse: true,
            ..t(20, Up)
        };
        assert_eq!(evaluate(100, [rev]).priority, 80);
        assert_eq!(evaluate(250, [t(50, Up)]).priority, 254);
        assert_eq!(evaluate(10, [t(-50, Down)]).priority, 1);
        assert_eq!(evaluate(255, [t(-50, Down)]).priority, 255);
        assert!(evaluate(100, [t(0, Down)]).fault);
        assert!(!evaluate(100, [t(0, Init), t(0, Up)]).fault);
    }
}
