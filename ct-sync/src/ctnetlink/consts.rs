//! Numbers from the Linux UAPI headers `netlink.h`, `nfnetlink.h`, `nfnetlink_conntrack.h`,
//! `nf_conntrack_common.h` and `nf_conntrack_tcp.h`, under their kernel names.
#![allow(missing_docs)] // each constant is its kernel namesake

/// `NETLINK_NETFILTER`: the netlink protocol of nfnetlink.
pub const NETLINK_NETFILTER: i32 = 12;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_DCCP: u8 = 33;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;

// struct nlmsghdr
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// In an `NLMSG_ERROR`: the echoed request is only its header (`NETLINK_CAP_ACK`).
pub const NLM_F_CAPPED: u16 = 0x100;

// nfnetlink
pub const NFNETLINK_V0: u8 = 0;
/// Version 1 in a flush request: flush only `nfgen_family` (kernel ≥ 5.x; older kernels flush
/// every family whatever the version).
pub const NFNETLINK_V1: u8 = 1;
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;

pub const NFNLGRP_CONNTRACK_NEW: u32 = 1;
pub const NFNLGRP_CONNTRACK_UPDATE: u32 = 2;
pub const NFNLGRP_CONNTRACK_DESTROY: u32 = 3;

// enum cntl_msg_types
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
pub const IPCTNL_MSG_CT_GET: u8 = 1;
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;

/// `nlmsg_type` of a ctnetlink message `msg` (`NFNL_SUBSYS_CTNETLINK << 8 | msg`).
pub const fn ct_msg_type(msg: u8) -> u16 {
    ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | msg as u16
}

// enum ctattr_type
pub const CTA_TUPLE_ORIG: u16 = 1;
pub const CTA_TUPLE_REPLY: u16 = 2;
pub const CTA_STATUS: u16 = 3;
pub const CTA_PROTOINFO: u16 = 4;
pub const CTA_HELP: u16 = 5;
pub const CTA_NAT_SRC: u16 = 6;
pub const CTA_TIMEOUT: u16 = 7;
pub const CTA_MARK: u16 = 8;
pub const CTA_ID: u16 = 12;
pub const CTA_NAT_DST: u16 = 13;
pub const CTA_TUPLE_MASTER: u16 = 14;
pub const CTA_SEQ_ADJ_ORIG: u16 = 15;
pub const CTA_SEQ_ADJ_REPLY: u16 = 16;
pub const CTA_ZONE: u16 = 18;
pub const CTA_LABELS: u16 = 22;
pub const CTA_SYNPROXY: u16 = 24;

// enum ctattr_tuple
pub const CTA_TUPLE_IP: u16 = 1;
pub const CTA_TUPLE_PROTO: u16 = 2;
pub const CTA_TUPLE_ZONE: u16 = 3;

// enum ctattr_ip
pub const CTA_IP_V4_SRC: u16 = 1;
pub const CTA_IP_V4_DST: u16 = 2;
pub const CTA_IP_V6_SRC: u16 = 3;
pub const CTA_IP_V6_DST: u16 = 4;

// enum ctattr_l4proto
pub const CTA_PROTO_NUM: u16 = 1;
pub const CTA_PROTO_SRC_PORT: u16 = 2;
pub const CTA_PROTO_DST_PORT: u16 = 3;
pub const CTA_PROTO_ICMP_ID: u16 = 4;
pub const CTA_PROTO_ICMP_TYPE: u16 = 5;
pub const CTA_PROTO_ICMP_CODE: u16 = 6;
pub const CTA_PROTO_ICMPV6_ID: u16 = 7;
pub const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
pub const CTA_PROTO_ICMPV6_CODE: u16 = 9;

// enum ctattr_protoinfo
pub const CTA_PROTOINFO_TCP: u16 = 1;
pub const CTA_PROTOINFO_DCCP: u16 = 2;
pub const CTA_PROTOINFO_SCTP: u16 = 3;

// enum ctattr_protoinfo_tcp
pub const CTA_PROTOINFO_TCP_STATE: u16 = 1;
pub const CTA_PROTOINFO_TCP_WSCALE_ORIGINAL: u16 = 2;
pub const CTA_PROTOINFO_TCP_WSCALE_REPLY: u16 = 3;
pub const CTA_PROTOINFO_TCP_FLAGS_ORIGINAL: u16 = 4;
pub const CTA_PROTOINFO_TCP_FLAGS_REPLY: u16 = 5;

// enum ctattr_protoinfo_dccp
pub const CTA_PROTOINFO_DCCP_STATE: u16 = 1;
pub const CTA_PROTOINFO_DCCP_ROLE: u16 = 2;

// enum ctattr_protoinfo_sctp
pub const CTA_PROTOINFO_SCTP_STATE: u16 = 1;
pub const CTA_PROTOINFO_SCTP_VTAG_ORIGINAL: u16 = 2;
pub const CTA_PROTOINFO_SCTP_VTAG_REPLY: u16 = 3;

// enum ctattr_nat
pub const CTA_NAT_V4_MINIP: u16 = 1;
pub const CTA_NAT_V4_MAXIP: u16 = 2;
pub const CTA_NAT_PROTO: u16 = 3;
pub const CTA_NAT_V6_MINIP: u16 = 4;
pub const CTA_NAT_V6_MAXIP: u16 = 5;

// enum ctattr_protonat
pub const CTA_PROTONAT_PORT_MIN: u16 = 1;
pub const CTA_PROTONAT_PORT_MAX: u16 = 2;

// enum ctattr_seqadj
pub const CTA_SEQADJ_CORRECTION_POS: u16 = 1;
pub const CTA_SEQADJ_OFFSET_BEFORE: u16 = 2;
pub const CTA_SEQADJ_OFFSET_AFTER: u16 = 3;

// enum ctattr_synproxy
pub const CTA_SYNPROXY_ISN: u16 = 1;
pub const CTA_SYNPROXY_ITS: u16 = 2;
pub const CTA_SYNPROXY_TSOFF: u16 = 3;

// enum ctattr_help
pub const CTA_HELP_NAME: u16 = 1;

/// `IP_CT_TCP_FLAG_WINDOW_SCALE`.
pub const IP_CT_TCP_FLAG_WINDOW_SCALE: u8 = 0x01;
/// `IP_CT_TCP_FLAG_BE_LIBERAL`: no window checks (what conntrackd commits with unless
/// `TCPWindowTracking`).
pub const IP_CT_TCP_FLAG_BE_LIBERAL: u8 = 0x08;

// enum ip_conntrack_status, the bits the sync form does not name
pub const IPS_TEMPLATE: u32 = 1 << 11;
pub const IPS_UNTRACKED: u32 = 1 << 12;
pub const IPS_HELPER: u32 = 1 << 13;
pub const IPS_OFFLOAD: u32 = 1 << 14;
pub const IPS_HW_OFFLOAD: u32 = 1 << 15;

// errno values the commit distinguishes (Linux numbering)
pub const ENOENT: i32 = 2;
pub const ENOMEM: i32 = 12;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EINVAL: i32 = 22;
pub const ENOBUFS: i32 = 105;
pub const EOPNOTSUPP: i32 = 95;
