//! Kea 2.2's standard DHCPv4 option definitions (space `dhcp4`) and the encoding of
//! `option-data` `data` strings (CSV or hex) into option bytes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

/// The data type of a standard option (Kea's names in comments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptType {
    /// `ipv4-address`.
    Ipv4,
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32`.
    U32,
    /// `int32`.
    I32,
    /// `boolean`.
    Bool,
    /// `string`.
    Str,
    /// `fqdn` (DNS wire format).
    Fqdn,
    /// `binary` (hex in CSV mode too).
    Binary,
    /// A record or encapsulating type that dhcp4d does not encode from CSV.
    Unsupported,
}

/// One standard option definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionDef {
    /// Option code.
    pub code: u8,
    /// Kea's option name.
    pub name: &'static str,
    /// Element type.
    pub ty: OptType,
    /// Whether the option is an array of `ty`.
    pub array: bool,
}

macro_rules! defs {
    ($($code:literal $name:literal $ty:ident $array:literal;)*) => {
        /// Kea 2.2's standard DHCPv4 option definitions.
        pub const STANDARD_OPTIONS: &[OptionDef] = &[
            $(OptionDef { code: $code, name: $name, ty: OptType::$ty, array: $array },)*
        ];
    };
}

defs! {
    1 "subnet-mask" Ipv4 false;
    2 "time-offset" I32 false;
    3 "routers" Ipv4 true;
    4 "time-servers" Ipv4 true;
    5 "name-servers" Ipv4 true;
    6 "domain-name-servers" Ipv4 true;
    7 "log-servers" Ipv4 true;
    8 "cookie-servers" Ipv4 true;
    9 "lpr-servers" Ipv4 true;
    10 "impress-servers" Ipv4 true;
    11 "resource-location-servers" Ipv4 true;
    12 "host-name" Str false;
    13 "boot-size" U16 false;
    14 "merit-dump" Str false;
    15 "domain-name" Str false;
    16 "swap-server" Ipv4 false;
    17 "root-path" Str false;
    18 "extensions-path" Str false;
    19 "ip-forwarding" Bool false;
    20 "non-local-source-routing" Bool false;
    21 "policy-filter" Ipv4 true;
    22 "max-dgram-reassembly" U16 false;
    23 "default-ip-ttl" U8 false;
    24 "path-mtu-aging-timeout" U32 false;
    25 "path-mtu-plateau-table" U16 true;
    26 "interface-mtu" U16 false;
    27 "all-subnets-local" Bool false;
    28 "broadcast-address" Ipv4 false;
    29 "perform-mask-discovery" Bool false;
    30 "mask-supplier" Bool false;
    31 "router-discovery" Bool false;
    32 "router-solicitation-address" Ipv4 false;
    33 "static-routes" Ipv4 true;
    34 "trailer-encapsulation" Bool false;
    35 "arp-cache-timeout" U32 false;
    36 "ieee802-3-encapsulation" Bool false;
    37 "default-tcp-ttl" U8 false;
    38 "tcp-keepalive-interval" U32 false;
    39 "tcp-keepalive-garbage" Bool false;
    40 "nis-domain" Str false;
    41 "nis-servers" Ipv4 true;
    42 "ntp-servers" Ipv4 true;
    43 "vendor-encapsulated-options" Unsupported false;
    44 "netbios-name-servers" Ipv4 true;
    45 "netbios-dd-server" Ipv4 true;
    46 "netbios-node-type" U8 false;
    47 "netbios-scope" Str false;
    48 "font-servers" Ipv4 true;
    49 "x-display-manager" Ipv4 true;
    50 "dhcp-requested-address" Ipv4 false;
    51 "dhcp-lease-time" U32 false;
    52 "dhcp-option-overload" U8 false;
    53 "dhcp-message-type" U8 false;
    54 "dhcp-server-identifier" Ipv4 false;
    55 "dhcp-parameter-request-list" U8 true;
    56 "dhcp-message" Str false;
    57 "dhcp-max-message-size" U16 false;
    58 "dhcp-renewal-time" U32 false;
    59 "dhcp-rebinding-time" U32 false;
    60 "vendor-class-identifier" Str false;
    61 "dhcp-client-identifier" Binary false;
    62 "nwip-domain-name" Str false;
    63 "nwip-suboptions" Binary false;
    64 "nisplus-domain-name" Str false;
    65 "nisplus-servers" Ipv4 true;
    66 "tftp-server-name" Str false;
    67 "boot-file-name" Str false;
    68 "mobile-ip-home-agent" Ipv4 true;
    69 "smtp-server" Ipv4 true;
    70 "pop-server" Ipv4 true;
    71 "nntp-server" Ipv4 true;
    72 "www-server" Ipv4 true;
    73 "finger-server" Ipv4 true;
    74 "irc-server" Ipv4 true;
    75 "streettalk-server" Ipv4 true;
    76 "streettalk-directory-assistance-server" Ipv4 true;
    77 "user-class" Binary false;
    78 "slp-directory-agent" Unsupported false;
    79 "slp-service-scope" Unsupported false;
    81 "fqdn" Unsupported false;
    82 "dhcp-agent-options" Unsupported false;
    85 "nds-servers" Ipv4 true;
    86 "nds-tree-name" Str false;
    87 "nds-context" Str false;
    88 "bcms-controller-names" Fqdn true;
    89 "bcms-controller-address" Ipv4 true;
    90 "authenticate" Binary false;
    91 "client-last-transaction-time" U32 false;
    92 "associated-ip" Ipv4 true;
    93 "client-system" U16 true;
    94 "client-ndi" Unsupported false;
    97 "uuid-guid" Unsupported false;
    98 "uap-servers" Str false;
    99 "geoconf-civic" Binary false;
    100 "pcode" Str false;
    101 "tcode" Str false;
    108 "v6-only-preferred" U32 false;
    112 "netinfo-server-address" Ipv4 true;
    113 "netinfo-server-tag" Str false;
    114 "v4-captive-portal" Str false;
    116 "auto-config" U8 false;
    117 "name-service-search" U16 true;
    118 "subnet-selection" Ipv4 false;
    119 "domain-search" Fqdn true;
    121 "classless-static-route" Binary false;
    124 "vivco-suboptions" Unsupported false;
    125 "vivso-suboptions" Unsupported false;
    136 "pana-agent" Ipv4 true;
    137 "v4-lost" Fqdn false;
    138 "capwap-ac-v4" Ipv4 true;
    141 "sip-ua-cs-domains" Fqdn true;
    146 "rdnss-selection" Unsupported false;
    159 "v4-portparams" Unsupported false;
    212 "option-6rd" Unsupported false;
    213 "v4-access-domain" Fqdn false;
}

/// The standard definition named `name`.
pub fn by_name(name: &str) -> Option<&'static OptionDef> {
    STANDARD_OPTIONS.iter().find(|d| d.name == name)
}

/// The standard definition of `code`.
pub fn by_code(code: u8) -> Option<&'static OptionDef> {
    STANDARD_OPTIONS.iter().find(|d| d.code == code)
}

/// Parses hex as Kea does: optional `0x`, optional `:` or space separators between bytes, an
/// odd number of digits taken as a leading zero.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if s.contains([':', ' ']) {
        let sep = if s.contains(':') { ':' } else { ' ' };
        return s
            .split(sep)
            .map(|p| {
                if p.is_empty() || p.len() > 2 {
                    None
                } else {
                    u8::from_str_radix(p, 16).ok()
                }
            })
            .collect();
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits: Vec<u8> = s.bytes().collect();
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    let mut i = 0;
    if digits.len() % 2 == 1 {
        out.push(hexval(digits[0]));
        i = 1;
    }
    while i + 1 < digits.len() {
        out.push(hexval(digits[i]) << 4 | hexval(digits[i + 1]));
        i += 2;
    }
    Some(out)
}

fn hexval(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Splits CSV data on commas not escaped by a backslash; trims each field.
fn fields(data: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => out.push(core::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn parse_uint(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Encodes `name` (a domain) in DNS wire format.
fn fqdn(s: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        out.push(0);
        return Ok(());
    }
    for label in s.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(alloc::format!("invalid domain name '{s}'"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

fn one(ty: OptType, f: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let range = |max: u64| {
        parse_uint(f)
            .filter(|v| *v <= max)
            .ok_or_else(|| alloc::format!("Failed to convert '{f}' to an integer"))
    };
    match ty {
        OptType::Ipv4 => {
            let a: Ipv4Addr = f.parse().map_err(|_| {
                alloc::format!("Failed to convert string to address '{f}': Invalid argument")
            })?;
            out.extend_from_slice(&a.octets());
        }
        OptType::U8 => out.push(range(0xff)? as u8),
        OptType::U16 => out.extend_from_slice(&(range(0xffff)? as u16).to_be_bytes()),
        OptType::U32 => out.extend_from_slice(&(range(0xffff_ffff)? as u32).to_be_bytes()),
        OptType::I32 => {
            let v: i32 = f
                .parse()
                .map_err(|_| alloc::format!("Failed to convert '{f}' to an integer"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        OptType::Bool => out.push(match f {
            "true" | "1" => 1,
            "false" | "0" => 0,
            _ => return Err(alloc::format!("Failed to convert '{f}' to boolean")),
        }),
        OptType::Str => out.extend_from_slice(f.as_bytes()),
        OptType::Fqdn => fqdn(f, out)?,
        OptType::Binary => {
            out.extend(parse_hex(f).ok_or_else(|| alloc::format!("invalid hex data '{f}'"))?)
        }
        OptType::Unsupported => return Err("unsupported option type".into()),
    }
    Ok(())
}

/// Encodes CSV `data` for `def` as Kea does; the error text follows Kea's conversion errors.
pub fn encode_csv(def: &OptionDef, data: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match def.ty {
        OptType::Str if !def.array => {
            out.extend_from_slice(data.replace("\\,", ",").as_bytes());
            return Ok(out);
        }
        OptType::Binary => return parse_hex(data).ok_or_else(|| "invalid hex data".to_string()),
        _ => {}
    }
    let fs = fields(data);
    if def.array {
        if fs.len() == 1 && fs[0].is_empty() {
            return Ok(out);
        }
        for f in &fs {
            one(def.ty, f, &mut out)?;
        }
    } else {
        if fs.len() > 1 {
            return Err(alloc::format!(
                "Invalid number of fields ({}) for option {}: expected 1",
                fs.len(),
                def.name
            ));
        }
        one(def.ty, &fs[0], &mut out)?;
    }
    Ok(out)
}
