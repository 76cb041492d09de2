//! What hakit's example daemons share.

pub mod netns;
pub mod vrrpd;
