//! ctnetlink requests, written straight into a caller's buffer.
//!
//! Every `write_*` function appends one complete netlink message to a `Vec<u8>` and returns
//! its length; on error the buffer is left as it was. Concatenate as many as fit into one
//! `send` (netlink processes them in order, one by one, within that system call).

extern crate alloc;

use alloc::vec::Vec;
use core::net::IpAddr;

use super::consts::*;
use super::error::BuildError;
use super::nla::NlWriter;
use crate::wire::{CtRepr, Pair, Synproxy, ct::status};

/// The layer-4 part of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    /// Source and destination port (TCP, UDP, SCTP, DCCP, UDP-Lite; GRE keys).
    Ports(Pair<u16>),
    /// ICMP or ICMPv6 type, code and identifier.
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Identifier (host value).
        id: u16,
    },
    /// Only the protocol number.
    None,
}

/// One direction of a conntrack (`struct nf_conntrack_tuple`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Source and destination address (both of one family).
    pub addrs: Pair<IpAddr>,
    /// IP protocol number.
    pub l4proto: u8,
    /// Ports, ICMP fields, or nothing.
    pub l4: L4,
}

impl Tuple {
    /// The address family (`AF_INET` or `AF_INET6`).
    pub fn family(&self) -> u8 {
        if self.addrs.src.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        }
    }
}

/// The reply ICMP type the kernel pairs with `ty` (`invmap` of nf_conntrack_proto_icmp{,v6}.c);
/// other types are kept (the kernel refuses them as conntrack tuples anyway).
pub fn icmp_reply_type(l4proto: u8, ty: u8) -> u8 {
    match (l4proto, ty) {
        (IPPROTO_ICMP, 8) => 0,
        (IPPROTO_ICMP, 0) => 8,
        (IPPROTO_ICMP, 13) => 14,
        (IPPROTO_ICMP, 14) => 13,
        (IPPROTO_ICMP, 15) => 16,
        (IPPROTO_ICMP, 16) => 15,
        (IPPROTO_ICMP, 17) => 18,
        (IPPROTO_ICMP, 18) => 17,
        (IPPROTO_ICMPV6, 128) => 129,
        (IPPROTO_ICMPV6, 129) => 128,
        (IPPROTO_ICMPV6, 139) => 140,
        (IPPROTO_ICMPV6, 140) => 139,
        _ => ty,
    }
}

fn is_icmp(l4proto: u8) -> bool {
    l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6
}

/// The original tuple of `ct`.
pub fn orig_tuple(ct: &CtRepr) -> Result<Tuple, BuildError> {
    let addrs = ct.orig_addrs().ok_or(BuildError::NoAddresses)?;
    let l4proto = ct.l4proto.ok_or(BuildError::NoL4Proto)?;
    let l4 = if is_icmp(l4proto) {
        match (ct.icmp_type, ct.icmp_code, ct.icmp_id) {
            (Some(ty), Some(code), Some(id)) => L4::Icmp { ty, code, id },
            _ => return Err(BuildError::IncompleteIcmp),
        }
    } else if let Some(p) = ct.port {
        L4::Ports(p)
    } else {
        L4::None
    };
    Ok(Tuple { addrs, l4proto, l4 })
}

/// `t` inverted: addresses and ports swapped, ICMP echo types turned into their replies.
fn inverted_tuple(t: &Tuple) -> Tuple {
    let l4 = match t.l4 {
        L4::Ports(p) => L4::Ports(Pair::new(p.dst, p.src)),
        L4::Icmp { ty, code, id } => L4::Icmp {
            ty: icmp_reply_type(t.l4proto, ty),
            code,
            id,
        },
        L4::None => L4::None,
    };
    Tuple {
        addrs: Pair::new(t.addrs.dst, t.addrs.src),
        l4proto: t.l4proto,
        l4,
    }
}

/// The reply tuple the kernel will hold for `ct` once committed: the original tuple inverted,
/// with the source-NAT address and port as the reply destination and the destination-NAT
/// address and port as the reply source (what `nfct_setobjopt(NFCT_SOPT_SETUP_REPLY)` builds
/// for conntrackd's commit).
pub fn reply_tuple(ct: &CtRepr) -> Result<Tuple, BuildError> {
    let o = orig_tuple(ct)?;
    let mut src = o.addrs.dst;
    let mut dst = o.addrs.src;
    let v4 = o.addrs.src.is_ipv4();
    let (snat, dnat) = nat_addrs(ct, v4)?;
    if let Some(a) = snat {
        dst = a;
    }
    if let Some(a) = dnat {
        src = a;
    }
    let l4 = match o.l4 {
        L4::Ports(p) => L4::Ports(Pair::new(
            ct.dpat_port.unwrap_or(p.dst),
            ct.spat_port.unwrap_or(p.src),
        )),
        L4::Icmp { ty, code, id } => L4::Icmp {
            ty: icmp_reply_type(o.l4proto, ty),
            code,
            id,
        },
        L4::None => L4::None,
    };
    Ok(Tuple {
        addrs: Pair::new(src, dst),
        l4proto: o.l4proto,
        l4,
    })
}

/// The SNAT and DNAT addresses of `ct` in the family of its original tuple.
fn nat_addrs(ct: &CtRepr, v4: bool) -> Result<(Option<IpAddr>, Option<IpAddr>), BuildError> {
    let (snat, dnat) = if v4 {
        if ct.snat_ipv6.is_some() || ct.dnat_ipv6.is_some() {
            return Err(BuildError::FamilyMismatch);
        }
        (ct.snat_ipv4.map(IpAddr::V4), ct.dnat_ipv4.map(IpAddr::V4))
    } else {
        if ct.snat_ipv4.is_some() || ct.dnat_ipv4.is_some() {
            return Err(BuildError::FamilyMismatch);
        }
        (ct.snat_ipv6.map(IpAddr::V6), ct.dnat_ipv6.map(IpAddr::V6))
    };
    Ok((snat, dnat))
}

/// The master's original tuple of a related conntrack, if `ct` names one.
pub fn master_tuple(ct: &CtRepr) -> Result<Option<Tuple>, BuildError> {
    let addrs: Pair<IpAddr> = match (ct.master_ipv4, ct.master_ipv6) {
        (Some(p), _) => Pair::new(p.src.into(), p.dst.into()),
        (None, Some(p)) => Pair::new(p.src.into(), p.dst.into()),
        (None, None) => return Ok(None),
    };
    let l4proto = ct.master_l4proto.ok_or(BuildError::NoL4Proto)?;
    let l4 = ct.master_port.map_or(L4::None, L4::Ports);
    Ok(Some(Tuple { addrs, l4proto, l4 }))
}

/// How conntracks are committed (conntrackd's `Sync { CommitTimeout; TCPWindowTracking }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitOptions {
    /// `CommitTimeout`: the timeout (seconds) of every committed conntrack, instead of the
    /// synced `NTA_TIMEOUT`.
    pub commit_timeout: Option<u32>,
    /// `TCPWindowTracking on`: keep window tracking (send the window scales) instead of
    /// committing TCP conntracks with `IP_CT_TCP_FLAG_BE_LIBERAL` in both directions.
    pub tcp_window_tracking: bool,
}

/// The `CTA_STATUS` a create carries for the synced `status`: `IPS_EXPECTED` cleared (the
/// kernel sets it itself from `CTA_TUPLE_MASTER`), as conntrackd does; `IPS_DYING` cleared and
/// `IPS_CONFIRMED` set, as libnetfilter_conntrack does, because kernels before 5.19 refuse a
/// create (EBUSY) whose status differs from a fresh entry in those bits. Every other bit is
/// kept: the kernel ignores the ones it owns (NAT, SEQ_ADJUST, ...; `IPS_UNCHANGEABLE_MASK`)
/// and takes SEEN_REPLY, ASSURED, FIXED_TIMEOUT, HELPER as given.
pub const fn create_status(synced: u32) -> u32 {
    (synced & !(status::EXPECTED | status::DYING)) | status::CONFIRMED
}

/// Request flags for one message.
const fn req_flags(ack: bool) -> u16 {
    if ack {
        NLM_F_REQUEST | NLM_F_ACK
    } else {
        NLM_F_REQUEST
    }
}

fn write_tuple(w: &mut NlWriter<'_>, which: u16, t: &Tuple) {
    let nest = w.begin_nest(which);
    let ip = w.begin_nest(CTA_TUPLE_IP);
    match (t.addrs.src, t.addrs.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            w.attr(CTA_IP_V4_SRC, &s.octets());
            w.attr(CTA_IP_V4_DST, &d.octets());
        }
        (s, d) => {
            w.attr(CTA_IP_V6_SRC, &v6_octets(s));
            w.attr(CTA_IP_V6_DST, &v6_octets(d));
        }
    }
    w.end_nest(ip);
    let proto = w.begin_nest(CTA_TUPLE_PROTO);
    w.u8(CTA_PROTO_NUM, t.l4proto);
    match t.l4 {
        L4::Ports(p) => {
            w.be16(CTA_PROTO_SRC_PORT, p.src);
            w.be16(CTA_PROTO_DST_PORT, p.dst);
        }
        L4::Icmp { ty, code, id } => {
            let (a_id, a_ty, a_code) = if t.l4proto == IPPROTO_ICMPV6 {
                (
                    CTA_PROTO_ICMPV6_ID,
                    CTA_PROTO_ICMPV6_TYPE,
                    CTA_PROTO_ICMPV6_CODE,
                )
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
            };
            w.be16(a_id, id);
            w.u8(a_ty, ty);
            w.u8(a_code, code);
        }
        L4::None => {}
    }
    w.end_nest(proto);
    w.end_nest(nest);
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

fn write_nat(w: &mut NlWriter<'_>, which: u16, addr: Option<IpAddr>, port: Option<u16>) {
    if addr.is_none() && port.is_none() {
        return;
    }
    let nest = w.begin_nest(which);
    match addr {
        Some(IpAddr::V4(a)) => {
            w.attr(CTA_NAT_V4_MINIP, &a.octets());
            w.attr(CTA_NAT_V4_MAXIP, &a.octets());
        }
        Some(IpAddr::V6(a)) => {
            w.attr(CTA_NAT_V6_MINIP, &a.octets());
            w.attr(CTA_NAT_V6_MAXIP, &a.octets());
        }
        None => {}
    }
    if let Some(p) = port {
        let proto = w.begin_nest(CTA_NAT_PROTO);
        w.be16(CTA_PROTONAT_PORT_MIN, p);
        w.be16(CTA_PROTONAT_PORT_MAX, p);
        w.end_nest(proto);
    }
    w.end_nest(nest);
}

/// The attributes a create and an update share (the status as [`create_status`] makes it, which
/// older kernels also want on an update): status, timeout, protocol info, mark, sequence
/// adjustment, labels, SYNPROXY (unless all zero: the kernel's own value for a created
/// conntrack).
fn write_common(w: &mut NlWriter<'_>, ct: &CtRepr, opts: &CommitOptions) {
    if let Some(s) = ct.status {
        w.be32(CTA_STATUS, create_status(s));
    }
    if let Some(t) = opts.commit_timeout.or(ct.timeout) {
        w.be32(CTA_TIMEOUT, t);
    }
    write_protoinfo(w, ct, opts);
    if let Some(m) = ct.mark {
        w.be32(CTA_MARK, m);
    }
    if let Some(s) = &ct.nat_seq_adj {
        for (attr, pos, before, after) in [
            (CTA_SEQ_ADJ_ORIG, s.orig_pos, s.orig_before, s.orig_after),
            (CTA_SEQ_ADJ_REPLY, s.repl_pos, s.repl_before, s.repl_after),
        ] {
            let n = w.begin_nest(attr);
            w.be32(CTA_SEQADJ_CORRECTION_POS, pos);
            w.be32(CTA_SEQADJ_OFFSET_BEFORE, before);
            w.be32(CTA_SEQADJ_OFFSET_AFTER, after);
            w.end_nest(n);
        }
    }
    if let Some(words) = &ct.labels {
        // The kernel keeps labels as a bitmap of longs: on a little-endian host, 32-bit words
        // in host order, bit i of word w being label 32w + i.
        let mut bytes = [0u8; 4 * crate::wire::ct::LABELS_MAX_WORDS];
        let n = words.len().min(crate::wire::ct::LABELS_MAX_WORDS);
        for (c, x) in bytes.chunks_exact_mut(4).zip(&words[..n]) {
            c.copy_from_slice(&x.to_ne_bytes());
        }
        if n > 0 {
            w.attr(CTA_LABELS, &bytes[..4 * n]);
        }
    }
    // An all-zero SYNPROXY is what the kernel gives every conntrack created through
    // ctnetlink anyway (it attaches the extension zeroed): sending it only makes the kernel
    // parse and copy zeros, per entry of a commit.
    if let Some(s) = ct.synproxy.as_ref().filter(|s| **s != Synproxy::default()) {
        let n = w.begin_nest(CTA_SYNPROXY);
        w.be32(CTA_SYNPROXY_ISN, s.isn);
        w.be32(CTA_SYNPROXY_ITS, s.its);
        w.be32(CTA_SYNPROXY_TSOFF, s.tsoff);
        w.end_nest(n);
    }
}

fn write_protoinfo(w: &mut NlWriter<'_>, ct: &CtRepr, opts: &CommitOptions) {
    match ct.l4proto {
        Some(IPPROTO_TCP) => {
            let n = w.begin_nest(CTA_PROTOINFO);
            let tcp = w.begin_nest(CTA_PROTOINFO_TCP);
            if let Some(s) = ct.tcp_state {
                w.u8(CTA_PROTOINFO_TCP_STATE, s);
            }
            if opts.tcp_window_tracking {
                if let Some(s) = ct.tcp_wscale_orig {
                    w.u8(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, s);
                }
                if let Some(s) = ct.tcp_wscale_repl {
                    w.u8(CTA_PROTOINFO_TCP_WSCALE_REPLY, s);
                }
            } else {
                // struct nf_ct_tcp_flags { flags, mask }
                let liberal = [IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL];
                w.attr(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, &liberal);
                w.attr(CTA_PROTOINFO_TCP_FLAGS_REPLY, &liberal);
            }
            w.end_nest(tcp);
            w.end_nest(n);
        }
        Some(IPPROTO_SCTP) => {
            if let (Some(s), Some(o), Some(r)) =
                (ct.sctp_state, ct.sctp_vtag_orig, ct.sctp_vtag_repl)
            {
                let n = w.begin_nest(CTA_PROTOINFO);
                let sctp = w.begin_nest(CTA_PROTOINFO_SCTP);
                w.u8(CTA_PROTOINFO_SCTP_STATE, s);
                w.be32(CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, o);
                w.be32(CTA_PROTOINFO_SCTP_VTAG_REPLY, r);
                w.end_nest(sctp);
                w.end_nest(n);
            }
        }
        Some(IPPROTO_DCCP) => {
            if let (Some(s), Some(r)) = (ct.dccp_state, ct.dccp_role) {
                let n = w.begin_nest(CTA_PROTOINFO);
                let dccp = w.begin_nest(CTA_PROTOINFO_DCCP);
                w.u8(CTA_PROTOINFO_DCCP_STATE, s);
                w.u8(CTA_PROTOINFO_DCCP_ROLE, r);
                w.end_nest(dccp);
                w.end_nest(n);
            }
        }
        _ => {}
    }
}

/// Appends `IPCTNL_MSG_CT_NEW` with `NLM_F_CREATE | NLM_F_EXCL` creating `ct` as conntrackd's
/// commit does: both tuples (the reply one the original inverted; the kernel applies the NAT
/// to it and ends with [`reply_tuple`]), zone, status
/// ([`create_status`]), timeout (`opts.commit_timeout`, else `NTA_TIMEOUT`), TCP / SCTP / DCCP
/// protocol info (TCP with `BE_LIBERAL` unless `opts.tcp_window_tracking`), helper, NAT
/// (`CTA_NAT_SRC` / `CTA_NAT_DST`: address and port as one-element ranges), mark, master tuple,
/// sequence adjustment, labels, SYNPROXY (omitted when all zero). `ack` sets `NLM_F_ACK` (errors are answered either
/// way). Returns the message length.
pub fn write_create(
    buf: &mut Vec<u8>,
    seq: u32,
    ct: &CtRepr,
    opts: &CommitOptions,
    ack: bool,
) -> Result<usize, BuildError> {
    let orig = orig_tuple(ct)?;
    // The original tuple inverted, without NAT (`NFCT_SOPT_SETUP_REPLY`): the kernel applies
    // CTA_NAT_SRC / CTA_NAT_DST to it and marks the conntrack as NATed only if that changes
    // the tuple. A reply tuple with the NAT already in it would leave the conntrack
    // un-NATed, and its packets would leave untranslated.
    let reply = inverted_tuple(&orig);
    let master = master_tuple(ct)?;
    let (snat, dnat) = nat_addrs(ct, orig.addrs.src.is_ipv4())?;
    if opts.commit_timeout.or(ct.timeout).is_none() {
        return Err(BuildError::NoTimeout);
    }
    let mut w = NlWriter::begin(
        buf,
        ct_msg_type(IPCTNL_MSG_CT_NEW),
        req_flags(ack) | NLM_F_CREATE | NLM_F_EXCL,
        seq,
        orig.family(),
        NFNETLINK_V0,
    );
    write_tuple(&mut w, CTA_TUPLE_ORIG, &orig);
    write_tuple(&mut w, CTA_TUPLE_REPLY, &reply);
    if let Some(z) = ct.zone {
        w.be16(CTA_ZONE, z);
    }
    write_common(&mut w, ct, opts);
    if let Some(h) = &ct.helper_name {
        let name = h.name_bytes();
        let n = w.begin_nest(CTA_HELP);
        // NUL-terminated, as the kernel's NLA_NUL_STRING policy wants.
        let mut s = [0u8; crate::wire::attr::ATTR_STR_CAPACITY + 1];
        s[..name.len()].copy_from_slice(name);
        w.attr(CTA_HELP_NAME, &s[..=name.len()]);
        w.end_nest(n);
    }
    write_nat(&mut w, CTA_NAT_SRC, snat, ct.spat_port);
    write_nat(&mut w, CTA_NAT_DST, dnat, ct.dpat_port);
    if let Some(m) = &master {
        write_tuple(&mut w, CTA_TUPLE_MASTER, m);
    }
    Ok(w.finish())
}

/// Appends `IPCTNL_MSG_CT_NEW` without `NLM_F_CREATE`: updates the existing conntrack with the
/// original tuple of `ct` (ENOENT if there is none). NAT, helper and master are left out, as
/// conntrackd's update path unsets them (the kernel refuses to change them: EOPNOTSUPP).
pub fn write_update(
    buf: &mut Vec<u8>,
    seq: u32,
    ct: &CtRepr,
    opts: &CommitOptions,
    ack: bool,
) -> Result<usize, BuildError> {
    let orig = orig_tuple(ct)?;
    let mut w = NlWriter::begin(
        buf,
        ct_msg_type(IPCTNL_MSG_CT_NEW),
        req_flags(ack),
        seq,
        orig.family(),
        NFNETLINK_V0,
    );
    write_tuple(&mut w, CTA_TUPLE_ORIG, &orig);
    if let Some(z) = ct.zone {
        w.be16(CTA_ZONE, z);
    }
    write_common(&mut w, ct, opts);
    Ok(w.finish())
}

/// Appends `IPCTNL_MSG_CT_DELETE` for the conntrack with the original tuple and zone of `ct`
/// (ENOENT if there is none).
pub fn write_delete(
    buf: &mut Vec<u8>,
    seq: u32,
    ct: &CtRepr,
    ack: bool,
) -> Result<usize, BuildError> {
    let orig = orig_tuple(ct)?;
    let mut w = NlWriter::begin(
        buf,
        ct_msg_type(IPCTNL_MSG_CT_DELETE),
        req_flags(ack),
        seq,
        orig.family(),
        NFNETLINK_V0,
    );
    write_tuple(&mut w, CTA_TUPLE_ORIG, &orig);
    if let Some(z) = ct.zone {
        w.be16(CTA_ZONE, z);
    }
    Ok(w.finish())
}

/// Appends an `IPCTNL_MSG_CT_GET` dump request (`NLM_F_DUMP`) for `family` (`AF_INET`,
/// `AF_INET6`, or `AF_UNSPEC` for both). The kernel answers with `NLM_F_MULTI` conntrack
/// messages carrying `seq`, then `NLMSG_DONE`.
pub fn write_dump(buf: &mut Vec<u8>, seq: u32, family: u8) -> usize {
    NlWriter::begin(
        buf,
        ct_msg_type(IPCTNL_MSG_CT_GET),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        family,
        NFNETLINK_V0,
    )
    .finish()
}

/// Appends a flush: `IPCTNL_MSG_CT_DELETE` without a tuple. `AF_UNSPEC` flushes the whole
/// table (version 0); `AF_INET` / `AF_INET6` only that family (version 1, honoured by kernels
/// since 5.x; older ones flush everything).
pub fn write_flush(buf: &mut Vec<u8>, seq: u32, family: u8, ack: bool) -> usize {
    let version = if family == AF_UNSPEC {
        NFNETLINK_V0
    } else {
        NFNETLINK_V1
    };
    NlWriter::begin(
        buf,
        ct_msg_type(IPCTNL_MSG_CT_DELETE),
        req_flags(ack),
        seq,
        family,
        version,
    )
    .finish()
}
