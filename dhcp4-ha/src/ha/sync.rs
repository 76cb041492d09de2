//! Merging the leases fetched during a synchronisation into the local store, as Kea does: a
//! lease whose address has none is added; one newer (`cltt`) than the local lease replaces
//! it; others are skipped as stale.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::lease::{Lease4, LeaseStore};
use crate::server::{Origin, Server};

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Leases added (no local lease for the address).
    pub added: usize,
    /// Local leases replaced by newer ones.
    pub updated: usize,
    /// Fetched leases not newer than the local one (`HA_LEASE_SYNC_STALE_LEASE4_SKIP`).
    pub skipped: usize,
    /// Leases the server refused (unknown subnet, address outside it, …), with the reason.
    pub failed: Vec<(Ipv4Addr, String)>,
}

/// Merges `leases` (one [`HaEvent::LeasesFetched`](super::HaEvent::LeasesFetched) page)
/// into `server`, with origin [`Origin::Partner`] (so the changes are not sent back).
pub fn merge_leases<S: LeaseStore>(server: &mut Server<S>, leases: &[Lease4]) -> MergeOutcome {
    let mut out = MergeOutcome::default();
    for l in leases {
        let existing = server.lease(l.addr).map(|e| e.cltt);
        match existing {
            Some(cltt) if cltt >= l.cltt => {
                out.skipped += 1;
                continue;
            }
            _ => {}
        }
        match server.update_lease(l.clone(), true, Origin::Partner) {
            Ok(_) if existing.is_some() => out.updated += 1,
            Ok(_) => out.added += 1,
            Err(e) => out.failed.push((l.addr, e.to_string())),
        }
    }
    out
}
