//! The DHCPv4 server engine (Sans-IO). So far: address pools ([`pool`]), the allocation that
//! must stay fast with a nearly full /15.

pub mod pool;
