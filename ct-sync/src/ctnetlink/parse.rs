//! Reading what the kernel sends on a ctnetlink socket: acks and errors, the end of a dump,
//! and conntrack messages (dump entries and NEW / UPDATE / DESTROY events) as [`CtRepr`].

extern crate alloc;

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::build::{L4, Tuple};
use super::consts::*;
use super::error::ParseError;
use super::nla::{NFGENMSG_LEN, NlMsgIter, NlaIter, RawNlMsg, exact, get_be16, get_be32, get_u8};
use crate::wire::ct::{LABELS_MAX_WORDS, status};
use crate::wire::{AttrStr, CtRepr, NatSeqAdj, Pair, Synproxy};

/// How kernel conntracks are turned into the sync form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// `TCPWindowTracking on`: keep the TCP window scales (conntrackd sends them only then).
    pub tcp_window_tracking: bool,
}

/// What a conntrack message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtMsgKind {
    /// `IPCTNL_MSG_CT_NEW` with `NLM_F_CREATE | NLM_F_EXCL`: a new conntrack
    /// (`NFNLGRP_CONNTRACK_NEW`).
    New,
    /// `IPCTNL_MSG_CT_NEW` without them: a changed conntrack (`NFNLGRP_CONNTRACK_UPDATE`).
    Update,
    /// `IPCTNL_MSG_CT_DELETE`: a destroyed conntrack (`NFNLGRP_CONNTRACK_DESTROY`).
    Destroy,
    /// An entry of a dump (`NLM_F_MULTI`; the kernel sends them as `IPCTNL_MSG_CT_NEW`) or
    /// `IPCTNL_MSG_CT_GET`, the answer to a get.
    Get,
}

/// A conntrack message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtMessage {
    /// New, update, destroy or dump entry.
    pub kind: CtMsgKind,
    /// `nlmsg_seq` (0 for events; the request's for dump entries).
    pub seq: u32,
    /// `nlmsg_pid`: for events, the port id of the netlink socket whose request caused it (0
    /// when packets did). Compare with your own socket's port id to suppress echoes of your
    /// own commits (conntrackd's origin check).
    pub pid: u32,
    /// `nfgen_family`.
    pub family: u8,
    /// `CTA_ID`, the kernel's conntrack id.
    pub id: Option<u32>,
    /// `CTA_TUPLE_REPLY`, as received.
    pub reply: Option<Tuple>,
    /// The conntrack in the sync form; NAT addresses and ports derived from the reply tuple.
    pub ct: CtRepr,
}

/// One message received on a ctnetlink socket.
// Conntracks are most of what arrives; boxing them would allocate per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NlMessage {
    /// `NLMSG_ERROR`: the answer to request `seq`; `errno` 0 is an acknowledgement, otherwise
    /// the positive error number (`EEXIST`, `ENOENT`, ...).
    Error {
        /// The request's `nlmsg_seq`.
        seq: u32,
        /// 0 (ack) or a positive errno.
        errno: i32,
    },
    /// `NLMSG_DONE`: the end of the dump requested with `seq`.
    Done {
        /// The dump request's `nlmsg_seq`.
        seq: u32,
    },
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// A conntrack: dump entry or event.
    Conntrack(CtMessage),
    /// Anything else (`NLMSG_NOOP`, expectations, other subsystems): skipped.
    Other {
        /// `nlmsg_type`.
        ty: u16,
        /// `nlmsg_seq`.
        seq: u32,
    },
}

/// Decodes every netlink message of a received datagram. The walk stops at the first framing
/// error; a conntrack message whose attributes are malformed yields its error and the walk
/// goes on.
pub fn messages(
    datagram: &[u8],
    opts: DecodeOptions,
) -> impl Iterator<Item = Result<NlMessage, ParseError>> + '_ {
    NlMsgIter::new(datagram).map(move |m| m.and_then(|m| decode(&m, &opts)))
}

/// Decodes one netlink message.
pub fn decode(msg: &RawNlMsg<'_>, opts: &DecodeOptions) -> Result<NlMessage, ParseError> {
    match msg.ty {
        NLMSG_ERROR => {
            let e = msg
                .payload
                .get(..4)
                .ok_or(ParseError::ShortError {
                    len: msg.payload.len(),
                })
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))?;
            Ok(NlMessage::Error {
                seq: msg.seq,
                errno: e.checked_neg().unwrap_or(i32::MAX),
            })
        }
        NLMSG_DONE => Ok(NlMessage::Done { seq: msg.seq }),
        NLMSG_OVERRUN => Ok(NlMessage::Overrun),
        ty if ty >> 8 == u16::from(NFNL_SUBSYS_CTNETLINK) => {
            let kind = match (ty & 0xff) as u8 {
                // Dump entries come as CT_NEW (or CT_GET) with NLM_F_MULTI; events never.
                IPCTNL_MSG_CT_NEW | IPCTNL_MSG_CT_GET if msg.flags & NLM_F_MULTI != 0 => {
                    CtMsgKind::Get
                }
                IPCTNL_MSG_CT_NEW if msg.flags & (NLM_F_CREATE | NLM_F_EXCL) != 0 => CtMsgKind::New,
                IPCTNL_MSG_CT_NEW => CtMsgKind::Update,
                IPCTNL_MSG_CT_DELETE => CtMsgKind::Destroy,
                IPCTNL_MSG_CT_GET => CtMsgKind::Get,
                _ => return Ok(NlMessage::Other { ty, seq: msg.seq }),
            };
            decode_ct(msg, kind, opts).map(NlMessage::Conntrack)
        }
        ty => Ok(NlMessage::Other { ty, seq: msg.seq }),
    }
}

fn decode_ct(
    msg: &RawNlMsg<'_>,
    kind: CtMsgKind,
    opts: &DecodeOptions,
) -> Result<CtMessage, ParseError> {
    let family = *msg.payload.first().ok_or(ParseError::Truncated {
        offset: 16,
        what: "nfgenmsg",
    })?;
    let attrs = msg
        .payload
        .get(NFGENMSG_LEN..)
        .ok_or(ParseError::Truncated {
            offset: 16,
            what: "nfgenmsg",
        })?;
    let mut ct = CtRepr::default();
    let mut orig = None;
    let mut reply = None;
    let mut id = None;
    for a in NlaIter::new(attrs) {
        let a = a?;
        let p = a.payload;
        match a.ty {
            CTA_TUPLE_ORIG => orig = Some(parse_tuple(p)?),
            CTA_TUPLE_REPLY => reply = Some(parse_tuple(p)?),
            CTA_STATUS => ct.status = Some(get_be32("CTA_STATUS", p)?),
            CTA_TIMEOUT => ct.timeout = Some(get_be32("CTA_TIMEOUT", p)?),
            CTA_MARK => ct.mark = Some(get_be32("CTA_MARK", p)?),
            CTA_ID => id = Some(get_be32("CTA_ID", p)?),
            CTA_ZONE => ct.zone = Some(get_be16("CTA_ZONE", p)?),
            CTA_PROTOINFO => parse_protoinfo(p, &mut ct, opts)?,
            CTA_HELP => parse_help(p, &mut ct)?,
            CTA_TUPLE_MASTER => {
                let m = parse_tuple(p)?;
                match (m.addrs.src, m.addrs.dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => ct.master_ipv4 = Some(Pair::new(s, d)),
                    (s, d) => ct.master_ipv6 = Some(Pair::new(v6(s), v6(d))),
                }
                ct.master_l4proto = Some(m.l4proto);
                if let L4::Ports(p) = m.l4 {
                    ct.master_port = Some(p);
                }
            }
            CTA_SEQ_ADJ_ORIG | CTA_SEQ_ADJ_REPLY => {
                let (pos, before, after) = parse_seqadj(p)?;
                let s = ct.nat_seq_adj.get_or_insert_with(NatSeqAdj::default);
                if a.ty == CTA_SEQ_ADJ_ORIG {
                    (s.orig_pos, s.orig_before, s.orig_after) = (pos, before, after);
                } else {
                    (s.repl_pos, s.repl_before, s.repl_after) = (pos, before, after);
                }
            }
            CTA_LABELS => {
                let mut words: Vec<u32> = p
                    .chunks_exact(4)
                    .take(LABELS_MAX_WORDS)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                while words.last() == Some(&0) {
                    words.pop();
                }
                ct.labels = (!words.is_empty()).then_some(words);
            }
            CTA_SYNPROXY => {
                let mut s = Synproxy::default();
                for n in NlaIter::new(p) {
                    let n = n?;
                    match n.ty {
                        CTA_SYNPROXY_ISN => s.isn = get_be32("CTA_SYNPROXY_ISN", n.payload)?,
                        CTA_SYNPROXY_ITS => s.its = get_be32("CTA_SYNPROXY_ITS", n.payload)?,
                        CTA_SYNPROXY_TSOFF => {
                            s.tsoff = get_be32("CTA_SYNPROXY_TSOFF", n.payload)?;
                        }
                        _ => {}
                    }
                }
                ct.synproxy = Some(s);
            }
            _ => {}
        }
    }
    let orig = orig.ok_or(ParseError::Missing {
        what: "CTA_TUPLE_ORIG",
    })?;
    match (orig.addrs.src, orig.addrs.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ct.ipv4 = Some(Pair::new(s, d)),
        (s, d) => ct.ipv6 = Some(Pair::new(v6(s), v6(d))),
    }
    ct.l4proto = Some(orig.l4proto);
    match orig.l4 {
        L4::Ports(p) => ct.port = Some(p),
        L4::Icmp { ty, code, id } => {
            ct.icmp_type = Some(ty);
            ct.icmp_code = Some(code);
            ct.icmp_id = Some(id);
        }
        L4::None => {}
    }
    if let Some(r) = &reply {
        derive_nat(&mut ct, &orig, r);
    }
    Ok(CtMessage {
        kind,
        seq: msg.seq,
        pid: msg.pid,
        family,
        id,
        reply,
        ct,
    })
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// The NAT targets conntrackd syncs, from the reply tuple (libnetfilter_conntrack's
/// `NFCT_GOPT_IS_SNAT` / `IS_DNAT` / `IS_SPAT` / `IS_DPAT`): source NAT done and the reply
/// destination differs from the original source → SNAT address (and the reply destination
/// port, if it differs from the original source port → SPAT); likewise DNAT / DPAT with the
/// reply source.
fn derive_nat(ct: &mut CtRepr, orig: &Tuple, reply: &Tuple) {
    let st = ct.status.unwrap_or(0);
    if st & status::SRC_NAT_DONE != 0 {
        if reply.addrs.dst != orig.addrs.src {
            match reply.addrs.dst {
                IpAddr::V4(a) => ct.snat_ipv4 = Some(a),
                IpAddr::V6(a) => ct.snat_ipv6 = Some(a),
            }
        }
        if let (L4::Ports(o), L4::Ports(r)) = (orig.l4, reply.l4)
            && r.dst != o.src
        {
            ct.spat_port = Some(r.dst);
        }
    }
    if st & status::DST_NAT_DONE != 0 {
        if reply.addrs.src != orig.addrs.dst {
            match reply.addrs.src {
                IpAddr::V4(a) => ct.dnat_ipv4 = Some(a),
                IpAddr::V6(a) => ct.dnat_ipv6 = Some(a),
            }
        }
        if let (L4::Ports(o), L4::Ports(r)) = (orig.l4, reply.l4)
            && r.src != o.dst
        {
            ct.dpat_port = Some(r.src);
        }
    }
}

/// Parses the payload of `CTA_TUPLE_ORIG` / `_REPLY` / `_MASTER`.
pub fn parse_tuple(p: &[u8]) -> Result<Tuple, ParseError> {
    let mut src = None;
    let mut dst = None;
    let mut proto = None;
    let (mut sport, mut dport) = (None, None);
    let (mut ity, mut icode, mut iid) = (None, None, None);
    for a in NlaIter::new(p) {
        let a = a?;
        match a.ty {
            CTA_TUPLE_IP => {
                for ip in NlaIter::new(a.payload) {
                    let ip = ip?;
                    match ip.ty {
                        CTA_IP_V4_SRC => {
                            src = Some(IpAddr::V4(Ipv4Addr::from(exact::<4>(
                                "CTA_IP_V4_SRC",
                                ip.payload,
                            )?)));
                        }
                        CTA_IP_V4_DST => {
                            dst = Some(IpAddr::V4(Ipv4Addr::from(exact::<4>(
                                "CTA_IP_V4_DST",
                                ip.payload,
                            )?)));
                        }
                        CTA_IP_V6_SRC => {
                            src = Some(IpAddr::V6(Ipv6Addr::from(exact::<16>(
                                "CTA_IP_V6_SRC",
                                ip.payload,
                            )?)));
                        }
                        CTA_IP_V6_DST => {
                            dst = Some(IpAddr::V6(Ipv6Addr::from(exact::<16>(
                                "CTA_IP_V6_DST",
                                ip.payload,
                            )?)));
                        }
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for l4 in NlaIter::new(a.payload) {
                    let l4 = l4?;
                    let q = l4.payload;
                    match l4.ty {
                        CTA_PROTO_NUM => proto = Some(get_u8("CTA_PROTO_NUM", q)?),
                        CTA_PROTO_SRC_PORT => sport = Some(get_be16("CTA_PROTO_SRC_PORT", q)?),
                        CTA_PROTO_DST_PORT => dport = Some(get_be16("CTA_PROTO_DST_PORT", q)?),
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => {
                            iid = Some(get_be16("CTA_PROTO_ICMP_ID", q)?);
                        }
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            ity = Some(get_u8("CTA_PROTO_ICMP_TYPE", q)?);
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            icode = Some(get_u8("CTA_PROTO_ICMP_CODE", q)?);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (Some(src), Some(dst)) = (src, dst) else {
        return Err(ParseError::Missing {
            what: "CTA_TUPLE_IP source and destination",
        });
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(ParseError::Missing {
            what: "CTA_TUPLE_IP addresses of one family",
        });
    }
    let l4proto = proto.ok_or(ParseError::Missing {
        what: "CTA_PROTO_NUM",
    })?;
    let l4 = match (sport, dport, ity, icode, iid) {
        (Some(s), Some(d), ..) => L4::Ports(Pair::new(s, d)),
        (_, _, Some(ty), Some(code), Some(id)) => L4::Icmp { ty, code, id },
        _ => L4::None,
    };
    Ok(Tuple {
        addrs: Pair::new(src, dst),
        l4proto,
        l4,
    })
}

fn parse_protoinfo(p: &[u8], ct: &mut CtRepr, opts: &DecodeOptions) -> Result<(), ParseError> {
    for a in NlaIter::new(p) {
        let a = a?;
        for f in NlaIter::new(a.payload) {
            let f = f?;
            let q = f.payload;
            match (a.ty, f.ty) {
                (CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE) => {
                    ct.tcp_state = Some(get_u8("CTA_PROTOINFO_TCP_STATE", q)?);
                }
                (CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL)
                    if opts.tcp_window_tracking =>
                {
                    ct.tcp_wscale_orig = Some(get_u8("CTA_PROTOINFO_TCP_WSCALE_ORIGINAL", q)?);
                }
                (CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_WSCALE_REPLY) if opts.tcp_window_tracking => {
                    ct.tcp_wscale_repl = Some(get_u8("CTA_PROTOINFO_TCP_WSCALE_REPLY", q)?);
                }
                (CTA_PROTOINFO_SCTP, CTA_PROTOINFO_SCTP_STATE) => {
                    ct.sctp_state = Some(get_u8("CTA_PROTOINFO_SCTP_STATE", q)?);
                }
                (CTA_PROTOINFO_SCTP, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL) => {
                    ct.sctp_vtag_orig = Some(get_be32("CTA_PROTOINFO_SCTP_VTAG_ORIGINAL", q)?);
                }
                (CTA_PROTOINFO_SCTP, CTA_PROTOINFO_SCTP_VTAG_REPLY) => {
                    ct.sctp_vtag_repl = Some(get_be32("CTA_PROTOINFO_SCTP_VTAG_REPLY", q)?);
                }
                (CTA_PROTOINFO_DCCP, CTA_PROTOINFO_DCCP_STATE) => {
                    ct.dccp_state = Some(get_u8("CTA_PROTOINFO_DCCP_STATE", q)?);
                }
                (CTA_PROTOINFO_DCCP, CTA_PROTOINFO_DCCP_ROLE) => {
                    ct.dccp_role = Some(get_u8("CTA_PROTOINFO_DCCP_ROLE", q)?);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn parse_help(p: &[u8], ct: &mut CtRepr) -> Result<(), ParseError> {
    for a in NlaIter::new(p) {
        let a = a?;
        if a.ty == CTA_HELP_NAME {
            let name = a.payload;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            // The sync form carries the name with its NUL (strlen + 1 bytes).
            ct.helper_name = core::str::from_utf8(&name[..end])
                .ok()
                .filter(|s| !s.is_empty())
                .and_then(AttrStr::new);
        }
    }
    Ok(())
}

fn parse_seqadj(p: &[u8]) -> Result<(u32, u32, u32), ParseError> {
    let (mut pos, mut before, mut after) = (0, 0, 0);
    for a in NlaIter::new(p) {
        let a = a?;
        match a.ty {
            CTA_SEQADJ_CORRECTION_POS => pos = get_be32("CTA_SEQADJ_CORRECTION_POS", a.payload)?,
            CTA_SEQADJ_OFFSET_BEFORE => {
                before = get_be32("CTA_SEQADJ_OFFSET_BEFORE", a.payload)?;
            }
            CTA_SEQADJ_OFFSET_AFTER => after = get_be32("CTA_SEQADJ_OFFSET_AFTER", a.payload)?,
            _ => {}
        }
    }
    Ok((pos, before, after))
}
