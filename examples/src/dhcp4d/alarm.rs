//! A timer that is registered with tokio's timer wheel as rarely as possible.
//!
//! Registering a deadline earlier than the wheel's next one wakes tokio's driver (a `write`
//! to its eventfd, then an extra `epoll_wait` turn): done once per lease update or per read,
//! as a fresh `timeout()` around each, that is two system calls per lease update on each
//! server. An [`Alarm`] keeps one registration and moves it only when it must fire
//! *earlier*; a deadline that moved later is left to fire early, and the owner, which
//! re-checks its real deadlines whenever the alarm fires, arms it again. So an idle timeout
//! of 30 s costs one registration per 30 s, not one per read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// A deadline for a `select!` loop: [`arm`](Self::arm) it for the earliest moment
/// something is due, await [`fired`](Self::fired), then look at what is actually due.
#[derive(Debug)]
pub(crate) struct Alarm {
    sleep: Pin<Box<Sleep>>,
    /// When the registration fires; `None`: not armed (it fired, or never was armed).
    armed: Option<Instant>,
}

impl Default for Alarm {
    fn default() -> Self {
        Self::new()
    }
}

impl Alarm {
    /// An alarm that is not armed.
    pub(crate) fn new() -> Self {
        // Never polled before `arm` resets it.
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        Self {
            sleep: Box::pin(tokio::time::sleep_until(far)),
            armed: None,
        }
    }

    /// Makes the alarm fire no later than `at`. A registration that fires earlier is kept
    /// (no new one is made).
    pub(crate) fn arm(&mut self, at: Instant) {
        if self.armed.is_none_or(|a| a > at) {
            self.sleep.as_mut().reset(at.into());
            self.armed = Some(at);
        }
    }

    /// When the alarm fires, if it is armed.
    #[cfg(test)]
    pub(crate) const fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// Completes when the armed moment is reached (never, while not armed); the alarm is
    /// then disarmed. Cancel-safe: dropping the future leaves the alarm as it was.
    pub(crate) fn fired(&mut self) -> Fired<'_> {
        Fired(self)
    }
}

/// The future of [`Alarm::fired`].
#[derive(Debug)]
pub(crate) struct Fired<'a>(&'a mut Alarm);

impl Future for Fired<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let alarm = &mut *self.get_mut().0;
        if alarm.armed.is_none() {
            return Poll::Pending;
        }
        match alarm.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                alarm.armed = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_at_the_earliest_armed_moment_and_only_when_armed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut a = Alarm::new();
            // Not armed: never fires.
            let idle = tokio::time::timeout(Duration::from_millis(20), a.fired()).await;
            assert!(idle.is_err(), "an alarm that is not armed fired");
            let t0 = Instant::now();
            a.arm(t0 + Duration::from_millis(300));
            // Earlier wins; later is ignored.
            a.arm(t0 + Duration::from_millis(30));
            a.arm(t0 + Duration::from_millis(500));
            assert_eq!(a.armed(), Some(t0 + Duration::from_millis(30)));
            tokio::time::timeout(Duration::from_secs(5), a.fired())
                .await
                .expect("the alarm fires");
            let took = t0.elapsed();
            assert!(
                took >= Duration::from_millis(30) && took < Duration::from_millis(300),
                "fired after {took:?}"
            );
            assert_eq!(a.armed(), None, "disarmed once fired");
            let again = tokio::time::timeout(Duration::from_millis(20), a.fired()).await;
            assert!(
                again.is_err(),
                "a fired alarm fired again without being armed"
            );
        });
    }
}
