//! conntrackd-compatible connection-tracking sync: a stub that the ct-sync issue fills.
