//! conntrackd-compatible connection-tracking state sync, Sans-IO, plus a ctnetlink adapter.
//!
//! The goal: a hakit node and a real conntrackd 1.4.7 node sync connection-tracking state with
//! each other in either role (FTFW, NOTRACK and ALARM over UDP, multicast or TCP), and on
//! failover the synced connections are committed into the kernel fast.
//!
//! | piece | status |
//! |---|---|
//! | [`config`] | conntrackd.conf reader (`General`, `Sync` with its modes and transports) |
//! | wire codec, sync modes, caches, ctnetlink | to come (issue 6) |

pub mod config;
