//! Kea 2.2-compatible High Availability, Sans-IO: the HA hook's configuration
//! ([`HaConfig`]), the state machine and lease replication ([`HaService`]), failure detection
//! ([`comm`]), the load-balancing hash and query filter ([`hash`]) and the merge of
//! synchronised leases ([`merge_leases`]).
//!
//! A daemon wires one [`HaService`] to one [`Server`](crate::server::Server):
//!
//! 1. Every received query goes through [`HaService::should_serve`] first (Kea's
//!    `buffer4_receive`): out-of-scope queries and everything while the HA state (or a
//!    `dhcp-disable`) turns DHCP off are dropped.
//! 2. The server requires [`Gate::PartnerAcked`](crate::server::Gate::PartnerAcked) as well
//!    as its other gates; every [`LeaseChange`](crate::server::LeaseChange) goes to
//!    [`HaService::lease_changed`], and every [`GateAction`] from [`HaService::poll_gate`] to
//!    `release_gate` / `discard_held`.
//! 3. [`HaService::poll_request`] gives the requests to `POST` to peers (Kea's bytes:
//!    [`Request::to_kea_json`](crate::control::Request::to_kea_json)); their answers go back
//!    through [`answer_from_http`] and [`HaService::handle_response`].
//! 4. Commands received on the HA listener go to [`HaService::handle_command`] (the lease
//!    commands to the server).
//! 5. [`HaEvent::LeasesFetched`] pages are merged with [`merge_leases`]; other events are
//!    logged ([`HaEvent::kea_id`] and `Display` give Kea's message id and text).
//! 6. [`HaService::handle_timeout`] at [`HaService::poll_timeout`].

pub mod comm;
pub mod config;
mod error;
mod event;
pub mod hash;
mod service;
mod state;
mod sync;

pub use config::{HaConfig, HaMode, HaMultiThreading, PeerConfig, PeerUrl, Role, Scheme};
pub use error::{HaConfigError, TransportError};
pub use event::{GateAction, HaEvent, Reason};
pub use hash::{Classified, Placement, QueryFacts, QueryFilter, lb_hash};
pub use service::{
    CommandReply, DEFAULT_MAX_UNACKED_UPDATES, HaCounters, HaService, OutRequest, REQUEST_TIMEOUT,
    RESULT_CONFLICT, answer_from_http, results,
};
pub use state::{HaState, Pausing, UpperName};
pub use sync::{MergeOutcome, merge_leases};
