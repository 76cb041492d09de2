//! [`Layout`]: how a parsed packet laid its options out on the wire, kept so that it
//! re-emits byte for byte.

use alloc::vec::Vec;

use super::error::Area;
use super::options::{Overload, code};
use super::packet::field;
use super::typed::{Options, Writer};

/// One framing element of an area, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Item {
    /// An option instance: code and length; the data comes from the option's value, in order.
    Opt { code: u8, len: u8 },
    /// A run of pad bytes.
    Pad(usize),
}

/// The layout of one area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct AreaLayout {
    pub(crate) items: Vec<Item>,
    /// Whether an END option closes the area.
    pub(crate) end: bool,
    /// Bytes after END, verbatim.
    pub(crate) trailer: Vec<u8>,
}

impl AreaLayout {
    pub(crate) fn push_pad(&mut self) {
        match self.items.last_mut() {
            Some(Item::Pad(n)) => *n += 1,
            _ => self.items.push(Item::Pad(1)),
        }
    }

    fn len(&self) -> usize {
        let items: usize = self
            .items
            .iter()
            .map(|i| match i {
                Item::Opt { len, .. } => 2 + usize::from(*len),
                Item::Pad(n) => *n,
            })
            .sum();
        items + usize::from(self.end) + self.trailer.len()
    }

    fn has_pads(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Pad(_)))
    }
}

/// How a parsed packet laid out its options, when that differs from what a canonical emit
/// writes: the order of the options, how each is split into instances (RFC 3396) and over
/// which fields (option 52 overload), pad bytes, whether each area ends with END, and the
/// bytes after END (e.g. the zeros a client pads its packet with to 300 bytes).
///
/// A layout holds no option data: when a [`Dhcp4Repr`](super::Dhcp4Repr) is emitted, its
/// layout is used only if it still *matches* its options (the same set of codes, each with
/// the same encoded length); then the current values are written into the recorded layout.
/// Otherwise the layout is ignored and the options are written canonically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Layout {
    pub(crate) overload: Option<Overload>,
    /// The options field, `file` and `sname`, indexed by [`area_index`].
    pub(crate) areas: [AreaLayout; 3],
    /// Each option code (not 52) with the total length of its instances, ascending by code.
    pub(crate) totals: Vec<(u8, usize)>,
}

pub(crate) const fn area_index(area: Area) -> usize {
    match area {
        Area::Options => 0,
        Area::File => 1,
        Area::Sname => 2,
    }
}

const AREAS: [Area; 3] = [Area::Options, Area::File, Area::Sname];

/// Canonical rank of a code: message type first, relay agent information last.
const fn rank(code: u8) -> (u8, u8) {
    match code {
        code::MESSAGE_TYPE => (0, code),
        code::RELAY_AGENT_INFO => (2, code),
        _ => (1, code),
    }
}

impl Layout {
    /// The overload (option 52) the packet used.
    pub const fn overload(&self) -> Option<Overload> {
        self.overload
    }

    /// The bytes after END in the options field.
    pub fn trailer(&self) -> &[u8] {
        &self.areas[0].trailer
    }

    /// Whether `area` ended with an END option (`false` for an area not in use).
    pub const fn has_end(&self, area: Area) -> bool {
        self.areas[area_index(area)].end
    }

    /// Whether any area has pad bytes between options.
    pub fn has_pads(&self) -> bool {
        self.areas.iter().any(AreaLayout::has_pads)
    }

    /// The option instances in wire order: area, code and length of each (option 52
    /// included).
    pub fn instances(&self) -> impl Iterator<Item = (Area, u8, u8)> + '_ {
        AREAS.iter().flat_map(move |&a| {
            self.areas[area_index(a)]
                .items
                .iter()
                .filter_map(move |i| match i {
                    Item::Opt { code, len } => Some((a, *code, *len)),
                    Item::Pad(_) => None,
                })
        })
    }

    /// Length of the options field this layout writes.
    pub fn options_len(&self) -> usize {
        self.areas[0].len()
    }

    /// Whether this layout can write `options`: the same codes, each with the same length.
    pub fn matches(&self, options: &Options) -> bool {
        let mut n = 0;
        for &(c, total) in &self.totals {
            if options.encoded_len(c) != Some(total) {
                return false;
            }
            n += 1;
        }
        n == options.len()
            && self.areas[1].len()
                == if self.uses(Area::File) {
                    field::FILE.len()
                } else {
                    0
                }
            && self.areas[2].len()
                == if self.uses(Area::Sname) {
                    field::SNAME.len()
                } else {
                    0
                }
    }

    pub(crate) fn uses(&self, area: Area) -> bool {
        match (area, self.overload) {
            (Area::Options, _) => true,
            (Area::File, Some(o)) => o.file(),
            (Area::Sname, Some(o)) => o.sname(),
            _ => false,
        }
    }

    /// Whether a canonical emit writes exactly this layout, so that it need not be kept: no
    /// overload, no pads, END with nothing after it, and the options in Kea's order each in
    /// one instance or split in 255-byte instances.
    pub(crate) fn is_canonical(&self) -> bool {
        let a = &self.areas[0];
        if self.overload.is_some() || !a.end || !a.trailer.is_empty() {
            return false;
        }
        // (code, length) of the previous instance.
        let mut prev: Option<(u8, u8)> = None;
        for item in &a.items {
            let Item::Opt { code, len } = *item else {
                return false;
            };
            match prev {
                // A continuation of a split option: every instance but the last is full, and
                // the last is not empty.
                Some((c, l)) if c == code && (l != 255 || len == 0) => return false,
                // A new option: codes strictly in Kea's order, so each code has one run.
                Some((c, _)) if c != code && rank(c) >= rank(code) => return false,
                _ => {}
            }
            prev = Some((code, len));
        }
        true
    }

    /// Writes the options field (and the overloaded fields) of `out`, a packet buffer of
    /// `240 + options_len()` bytes, from `options`, which [`matches`](Self::matches).
    pub(crate) fn write(&self, options: &Options, out: &mut [u8]) {
        let mut cursor = [0usize; 256];
        for area in AREAS {
            if !self.uses(area) {
                continue;
            }
            let (start, end) = super::packet::area_range(area, out.len());
            let Some(region) = out.get_mut(start..end) else {
                continue;
            };
            let mut w = Writer {
                out: region,
                pos: 0,
            };
            let a = &self.areas[area_index(area)];
            for item in &a.items {
                match *item {
                    Item::Pad(n) => w.take(n).fill(0),
                    Item::Opt { code, len } => {
                        w.put(&[code, len]);
                        let dst = w.take(usize::from(len));
                        if code == code::OVERLOAD {
                            if let (Some(o), [b]) = (self.overload, dst) {
                                *b = o.value();
                            }
                        } else if let Some(v) = options.value(code) {
                            let at = &mut cursor[usize::from(code)];
                            v.write_part(*at, dst);
                            *at += usize::from(len);
                        }
                    }
                }
            }
            if a.end {
                w.put(&[code::END]);
            }
            w.put(&a.trailer);
        }
    }
}
