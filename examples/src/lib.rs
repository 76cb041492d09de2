//! What hakit's example daemons share.
