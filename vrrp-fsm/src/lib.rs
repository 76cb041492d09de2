//! A Sans-IO VRRP virtual router: the state machine of RFC 5798 / RFC 9568 (VRRPv3, IPv4 and
//! IPv6) and RFC 3768 (VRRPv2), with keepalived's behaviour where keepalived differs from the
//! RFC (each such option is named after its keepalived keyword).
//!
//! A [`VirtualRouter`] owns no socket, thread or clock: received adverts, timer expiries and
//! commands go in with the current time (`handle_*`), adverts to send, events to act on and
//! the next deadline come out (`poll_*`). The adverts are built with [`vrrp_proto`], which
//! also decodes what the daemon receives. A [`SyncGroup`] keeps several routers in the same
//! state (keepalived's `vrrp_sync_group`).
//!
//! | piece | what |
//! |---|---|
//! | [`Config`] | RFC parameters and keepalived options, validated ([`ConfigError`]) |
//! | [`VirtualRouter`] | Initialize / Backup / Master / Fault, timers in nanoseconds |
//! | [`Command`] | tracking priority, fault on/off, shutdown, switchover / step-down |
//! | [`Event`] | state changes with reason and peer, VIPs to add / remove, GARP / NA bursts, drops |
//! | [`Counters`] | RFC 6527-style statistics |
//! | [`SyncGroup`] | members change state together |
//! | [`track`] | `track_script` / `track_interface`: rise / fall, weights, FAULT |
//! | `sim` (feature `sim`) | a deterministic multi-router simulator |
//! | [`keepalived`] | keepalived.conf reader (the VRRP subset) |
//!
//! # The driver loop
//!
//! The daemon owns the I/O; this is its whole contract with the state machine (the socket
//! and timer calls are stand-ins):
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use vrrp_fsm::{Config, Event, VirtualRouter};
//! use vrrp_proto::{IpChecks, VirtualAddrs};
//!
//! # fn recv_until(_deadline: Option<Instant>) -> Option<Vec<u8>> { None }
//! # fn send(_src: IpAddr, _dst: IpAddr, _ttl: u8, _msg: &[u8]) {}
//! # fn apply(_e: &Event) {}
//! let mut config = Config::new(
//!     51,
//!     IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
//!     VirtualAddrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1)]),
//! );
//! config.priority = 200;
//! let mut vr = VirtualRouter::new(config, Instant::now())?;
//! let mut buf = Vec::new();
//! loop {
//!     // 1. Send what the state machine wants sent (IP protocol 112, TTL 255).
//!     while let Some(t) = vr.poll_transmit(&mut buf) {
//!         send(t.src, t.dst, vrrp_proto::TTL, &buf[..t.len]);
//!     }
//!     // 2. Act on events: add / remove VIPs, send GARPs / NAs, log state changes.
//!     while let Some(e) = vr.poll_event() {
//!         apply(&e);
//!     }
//!     // 3. Wait for a packet or the next deadline, and feed it in.
//!     match recv_until(vr.poll_timeout()) {
//!         Some(datagram) => match vrrp_proto::decode_ipv4(&datagram, &IpChecks::default()) {
//!             Ok(rx) => vr.handle_received(Instant::now(), &rx),
//!             Err(e) => vr.record_malformed(&e),
//!         },
//!         None => vr.handle_timeout(Instant::now()),
//!     }
//! }
//! # Ok::<(), vrrp_fsm::ConfigError>(())
//! ```
//!
//! # Behaviour in brief
//!
//! * Start-up: the owner (priority 255) goes Master at once; everybody else starts in Backup
//!   with a full Master_Down_Interval (keepalived's `state MASTER` does not change that for a
//!   non-owner; see [`InitialState`]). `startup_delay` (keepalived `vrrp_startup_delay`) holds
//!   every Master_Down timer until the delay has passed.
//! * Backup: a priority-0 advert sets the Master_Down timer to Skew_Time; an advert of at
//!   least our priority (or any advert without preemption) resets it to
//!   Master_Down_Interval and teaches Master_Adver_Interval (VRRPv3); a lower-priority advert
//!   is discarded when preempting, so the timer runs out and we take over (after
//!   `preempt_delay`, keepalived's way). Skew_Time and Master_Down_Interval are computed in
//!   nanoseconds ([`timers`]).
//! * Master: a higher priority, or an equal priority from a higher primary address, makes it
//!   Backup; a priority-0 advert is answered at once; a lower-priority advert is answered at
//!   once too (RFC 9568) unless `lower_prio_no_advert`.
//! * Dropped adverts (wrong VRID, version, TTL, authentication, VRRPv2 interval, address list
//!   …) are counted and reported, never returned as errors. An address-list mismatch drops
//!   the advert whatever its priority, as keepalived does (RFC 5798 only says "MAY verify").
//! * Manual switchover: see [`Command`].

pub mod config;
pub mod event;
pub mod group;
pub mod keepalived;
pub mod router;
#[cfg(feature = "sim")]
pub mod sim;
pub mod timers;
pub mod track;

pub use config::{Config, ConfigError, InitialState};
pub use event::{
    AnnounceTrigger, Command, Counters, DropReason, Event, Peer, Reason, RejectReason, RxMeta,
    State, Transmit,
};
pub use group::{GroupEvent, SyncGroup, SyncGroupError};
pub use router::{EVENT_QUEUE_CAP, VirtualRouter};
