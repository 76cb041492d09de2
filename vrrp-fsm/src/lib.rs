//! Sans-IO VRRP virtual router state machine (work in progress).
