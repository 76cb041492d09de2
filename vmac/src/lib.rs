//! Virtual MAC (macvlan) management over netlink: a stub that the vmac issue fills.
