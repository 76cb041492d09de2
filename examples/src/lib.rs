//! What hakit's example daemons share.

/// ctnetlink socket glue: dump, events, batched commit.
pub mod ctnl;
pub mod ctsyncd;
pub mod dhcp4d;
pub mod dhcpload;
pub mod lab;
pub mod netns;
mod sys;
pub mod vrrpd;
