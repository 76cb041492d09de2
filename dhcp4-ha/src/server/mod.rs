//! The DHCPv4 server engine (Sans-IO), behaving as Kea 2.2's `kea-dhcp4`.
//!
//! * [`Server`]: queries in ([`Server::handle_packet`]), replies ([`Transmit`]) and lease
//!   changes ([`LeaseChange`]) out, lease reclamation on [`Server::handle_timeout`], the
//!   control operations (`lease4-add`/`-update`/`-del`/`-wipe`) and [`stats`];
//! * [`hold`]: the durability hook, replies held until their lease changes are persisted
//!   (and, with HA, acknowledged by the partner);
//! * [`pool`]: the free-address bitmaps behind allocation, fast however full a pool is.

mod engine;
pub mod error;
pub mod event;
pub mod hold;
pub mod pool;
pub mod stats;
mod subnet;

pub use engine::{
    CLIENT_PORT, DEFAULT_DECLINE_PROBATION_PERIOD, DEFAULT_MAX_RECLAIM_LEASES,
    DEFAULT_RECLAIM_TIMER_WAIT_TIME, SERVER_PORT, Server, ServerOptions,
};
pub use error::{ConfigError, LeaseOpError};
pub use event::{ChangeKind, LeaseChange, Origin, RxMeta, Transmit};
pub use hold::{Gate, Gates};
pub use stats::{GlobalStat, StatEntry, StatValue, Statistics, SubnetStat};
pub use subnet::{DEFAULT_T1_PERCENT, DEFAULT_T2_PERCENT};
