//! Kea-compatible DHCPv4 server and High Availability: a stub that the dhcp4-ha issues fill.
