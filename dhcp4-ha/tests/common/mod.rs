//! Test helpers shared by the wire tests: the capture and fixture readers, and proptest
//! strategies for representations and for valid packets with arbitrary layouts.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use dhcp4_ha::wire::{Dhcp4Repr, Op, Options, TYPED_CODES, code};
use proptest::prelude::*;

/// One DHCP message found in a capture.
pub(crate) struct Captured {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    /// The UDP payload: the DHCP packet.
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn data_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The DHCP messages (UDP ports 67/68 over IPv4 over Ethernet) of a little-endian,
/// microsecond classic pcap file in tests/data.
pub(crate) fn capture(name: &str) -> Vec<Captured> {
    let path = data_path(name);
    let pcap = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(u32::from_le_bytes(pcap[20..24].try_into().unwrap()), 1);
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        at += 16 + incl;
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 frame");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "UDP");
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total];
        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(Captured {
            src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            sport: u16::from_be_bytes([udp[0], udp[1]]),
            dport: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..ulen].to_vec(),
        });
    }
    assert_eq!(at, pcap.len(), "trailing bytes in {name}");
    out
}

/// The real packets of tests/data/kea22_clients.pcap (see kea22_clients.txt).
pub(crate) fn kea22_clients() -> Vec<Vec<u8>> {
    capture("kea22_clients.pcap")
        .into_iter()
        .map(|c| c.payload)
        .collect()
}

/// A hand-written fixture: hex bytes, whitespace free-form, `#` starts a comment.
pub(crate) fn hex_fixture(name: &str) -> Vec<u8> {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "{name}: odd number of hex digits"
    );
    (0..digits.len() / 2)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The hand-written fixtures in tests/data.
pub(crate) const FIXTURES: &[&str] = &[
    "split_rfc3396.hex",
    "overload_both.hex",
    "overload_file_no_end.hex",
];

/// Every golden packet: the captures and the fixtures.
pub(crate) fn golden() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = kea22_clients()
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("kea22_clients #{i}"), p))
        .collect();
    out.extend(FIXTURES.iter().map(|f| (f.to_string(), hex_fixture(f))));
    out
}

/// Options as (code, encoded value) pairs.
pub(crate) type OptionList = Vec<(u8, Vec<u8>)>;

/// A 4-byte value.
fn quad() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(any::<u8>(), 4).boxed()
}

/// Mostly short, sometimes long enough to need RFC 3396 splitting.
fn len_range(short: usize) -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..=short, 1 => 250..=600usize]
}

fn bytes(short: usize) -> BoxedStrategy<Vec<u8>> {
    len_range(short)
        .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
        .boxed()
}

fn ascii(short: usize) -> BoxedStrategy<Vec<u8>> {
    len_range(short)
        .prop_flat_map(|n| prop::collection::vec(b'a'..=b'z', n))
        .boxed()
}

/// Relay agent information data: sub-options with circuit id, remote id, link selection
/// (4 bytes) or, unless `oracle`, any other code.
pub(crate) fn relay_data(oracle: bool) -> BoxedStrategy<Vec<u8>> {
    let sub_code = if oracle {
        prop::sample::select(vec![1u8, 2, 5, 3, 20, 200]).boxed()
    } else {
        any::<u8>().boxed()
    };
    let sub = sub_code.prop_flat_map(|c| {
        let data = if c == 5 {
            quad()
        } else {
            prop::collection::vec(any::<u8>(), 0..12).boxed()
        };
        data.prop_map(move |d| (c, d))
    });
    prop::collection::vec(sub, 0..5)
        .prop_map(|subs| {
            let mut out = Vec::new();
            for (c, d) in subs {
                out.push(c);
                out.push(d.len() as u8);
                out.extend(d);
            }
            out
        })
        .boxed()
}

/// A valid value for option `code`. With `oracle`, only values dhcproto also decodes
/// (ASCII text, known message types).
pub(crate) fn value(code: u8, oracle: bool) -> BoxedStrategy<Vec<u8>> {
    match code {
        code::MESSAGE_TYPE if oracle => (1u8..=18).prop_map(|t| vec![t]).boxed(),
        code::MESSAGE_TYPE => any::<u8>().prop_map(|t| vec![t]).boxed(),
        1 | 2 | 28 | 50 | 51 | 54 | 58 | 59 | 118 => quad(),
        26 | 57 => prop::collection::vec(any::<u8>(), 2).boxed(),
        3 | 6 | 42 => prop_oneof![8 => 0..6usize, 1 => 60..150usize]
            .prop_flat_map(|n| prop::collection::vec(any::<u8>(), 4 * n))
            .boxed(),
        code::RELAY_AGENT_INFO => relay_data(oracle),
        12 | 15 | 56 if oracle => ascii(20),
        _ => bytes(20),
    }
}

/// An option code other than 0, 52, 255: a typed one half of the time.
pub(crate) fn option_code() -> BoxedStrategy<u8> {
    prop_oneof![
        prop::sample::select(TYPED_CODES.to_vec()),
        (1u8..=254).prop_filter("overload", |c| *c != code::OVERLOAD),
    ]
    .boxed()
}

/// A set of options (distinct codes) with valid values, codes drawn from `codes`.
pub(crate) fn option_set(
    codes: BoxedStrategy<u8>,
    oracle: bool,
    max: usize,
) -> BoxedStrategy<OptionList> {
    prop::collection::btree_set(codes, 0..max)
        .prop_flat_map(move |set| {
            set.into_iter()
                .map(|c| value(c, oracle).prop_map(move |v| (c, v)))
                .collect::<Vec<_>>()
        })
        .boxed()
}

/// A header (the 236 BOOTP bytes), any content.
pub(crate) fn header() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        // sname / file zero, as in most packets
        prop::collection::vec(any::<u8>(), 44).prop_map(|mut h| {
            h.resize(236, 0);
            h
        }),
        prop::collection::vec(any::<u8>(), 236),
    ]
    .boxed()
}

/// A representation with no recorded layout, from a header and a set of options.
pub(crate) fn repr_from(h: &[u8], opts: &[(u8, Vec<u8>)]) -> Dhcp4Repr {
    let mut options = Options::default();
    for (c, v) in opts {
        options
            .set(*c, v)
            .unwrap_or_else(|e| panic!("option {c}: {e}"));
    }
    let addr = |at: usize| Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]);
    Dhcp4Repr {
        op: Op(h[0]),
        htype: h[1],
        hlen: h[2],
        hops: h[3],
        xid: u32::from_be_bytes(h[4..8].try_into().unwrap()),
        secs: u16::from_be_bytes([h[8], h[9]]),
        flags: u16::from_be_bytes([h[10], h[11]]),
        ciaddr: addr(12),
        yiaddr: addr(16),
        siaddr: addr(20),
        giaddr: addr(24),
        chaddr: h[28..44].try_into().unwrap(),
        sname: h[44..108].try_into().unwrap(),
        file: h[108..236].try_into().unwrap(),
        options,
        layout: None,
    }
}

/// Any representation without a layout.
pub(crate) fn arb_repr() -> BoxedStrategy<Dhcp4Repr> {
    (header(), option_set(option_code(), false, 14))
        .prop_map(|(h, opts)| repr_from(&h, &opts))
        .boxed()
}

/// xorshift64*, for layout choices derived from one proptest-drawn seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..=max`.
    pub(crate) fn upto(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }
    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A packet built from a header and options with a random layout: options split into
/// several instances (RFC 3396) interleaved with each other, option 52 overload into `file`
/// and / or `sname`, pad bytes, with or without END, random trailing bytes after END.
pub(crate) fn build_packet(h: &[u8], opts: &[(u8, Vec<u8>)], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    // Instances: per code, a queue of piece lengths (each at most 255).
    let mut queues: Vec<(u8, Vec<u8>, std::collections::VecDeque<usize>)> = Vec::new();
    for (c, v) in opts {
        let mut pieces = std::collections::VecDeque::new();
        let mut rem = v.len();
        loop {
            let max = rem.min(255);
            let n = if pieces.len() >= 4 || rng.chance(60) {
                max
            } else {
                rng.upto(max)
            };
            pieces.push_back(n);
            rem -= n;
            if rem == 0 && (pieces.len() > 1 || n > 0 || rng.chance(80)) {
                break;
            }
        }
        queues.push((*c, v.clone(), pieces));
    }
    // Interleave the instances at random, each code's pieces in order.
    let mut seq: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut offsets = vec![0usize; queues.len()];
    let mut last: Option<usize> = None;
    while queues.iter().any(|q| !q.2.is_empty()) {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].2.is_empty())
            .collect();
        // Mostly keep going with the same option, so that most splits are adjacent.
        let i = match last {
            Some(l) if !queues[l].2.is_empty() && rng.chance(70) => l,
            _ => live[rng.upto(live.len() - 1)],
        };
        last = Some(i);
        let n = queues[i].2.pop_front().unwrap();
        let data = queues[i].1[offsets[i]..offsets[i] + n].to_vec();
        offsets[i] += n;
        seq.push((queues[i].0, data));
    }
    // Which fields are overloaded, and which tail of the sequence goes there.
    let overload = if rng.chance(50) {
        0
    } else {
        1 + rng.upto(2) as u8
    };
    let take_tail = |seq: &mut Vec<(u8, Vec<u8>)>, cap: usize, rng: &mut Rng| {
        let mut n = 0;
        let mut used = 0;
        while n < seq.len() {
            let len = 2 + seq[seq.len() - 1 - n].1.len();
            if used + len > cap || rng.chance(25) {
                break;
            }
            used += len;
            n += 1;
        }
        seq.split_off(seq.len() - n)
    };
    let sname_items = if overload & 2 != 0 {
        take_tail(&mut seq, 64, &mut rng)
    } else {
        Vec::new()
    };
    let file_items = if overload & 1 != 0 {
        take_tail(&mut seq, 128, &mut rng)
    } else {
        Vec::new()
    };
    if overload != 0 {
        let at = rng.upto(seq.len());
        seq.insert(at, (code::OVERLOAD, vec![overload]));
    }

    let mut out = h.to_vec();
    out.extend_from_slice(&[99, 130, 83, 99]);
    // The options field.
    for (c, d) in &seq {
        if rng.chance(8) {
            out.extend(std::iter::repeat_n(0, 1 + rng.upto(3)));
        }
        out.push(*c);
        out.push(d.len() as u8);
        out.extend_from_slice(d);
    }
    if rng.chance(90) {
        out.push(255);
        if rng.chance(30) {
            let n = rng.upto(60);
            let zeros = rng.chance(50);
            out.extend((0..n).map(|_| if zeros { 0 } else { rng.next() as u8 }));
        }
    }
    // The overloaded fields: items, then END and trailing bytes, or pads, to fill the field.
    let mut fill = |range: std::ops::Range<usize>, items: &[(u8, Vec<u8>)], rng: &mut Rng| {
        let mut area = Vec::new();
        for (c, d) in items {
            area.push(*c);
            area.push(d.len() as u8);
            area.extend_from_slice(d);
        }
        let size = range.len();
        if area.len() < size {
            if rng.chance(20) {
                area.resize(size, 0); // pads, no END
            } else {
                if rng.chance(30) {
                    let pads = rng.upto(size - area.len() - 1);
                    area.extend(std::iter::repeat_n(0, pads));
                }
                area.push(255);
                let zeros = rng.chance(70);
                while area.len() < size {
                    area.push(if zeros { 0 } else { rng.next() as u8 });
                }
            }
        }
        out[range].copy_from_slice(&area);
    };
    if overload & 1 != 0 {
        fill(108..236, &file_items, &mut rng);
    }
    if overload & 2 != 0 {
        fill(44..108, &sname_items, &mut rng);
    }
    out
}

/// Valid packets with random layouts, with the options they carry.
pub(crate) fn arb_packet() -> BoxedStrategy<(Vec<u8>, OptionList)> {
    (header(), option_set(option_code(), false, 12), any::<u64>())
        .prop_map(|(h, opts, seed)| (build_packet(&h, &opts, seed), opts))
        .boxed()
}
