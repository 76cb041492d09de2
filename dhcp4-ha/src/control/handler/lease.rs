//! The `lease_cmds` hook's IPv4 commands: argument rules and texts of Kea 2.2.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::{Wire, hex, kea_text};
use crate::config::{DEFAULT_VALID_LIFETIME, Dhcp4};
use crate::control::args::LeasePage;
use crate::control::{Answer, KeaLease4, RESULT_EMPTY, RESULT_SUCCESS};
use crate::lease::{Lease4, LeaseState, LeaseStore};
use crate::server::{LeaseOpError, Origin, Server};

/// A lease in the form of Kea's get answers (`cltt`).
fn lease_value(l: &Lease4) -> Value {
    KeaLease4::for_page(l).to_value()
}

/// Every lease, in address order.
fn all<S: LeaseStore>(store: &S) -> Vec<&Lease4> {
    let mut out: Vec<&Lease4> = Vec::with_capacity(store.len());
    loop {
        let page = store.page(out.last().map(|l| l.addr), 1024);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// `{ "leases": [ … ] }`, result 0 `N IPv4 lease(s) found.` or 3 when none.
fn lease_list<'a>(leases: impl IntoIterator<Item = &'a Lease4>) -> Answer {
    let leases: Vec<Value> = leases.into_iter().map(lease_value).collect();
    let n = leases.len();
    let mut m = Map::new();
    m.insert("leases".into(), Value::Array(leases));
    Answer {
        result: if n == 0 { RESULT_EMPTY } else { RESULT_SUCCESS },
        text: Some(format!("{n} IPv4 lease(s) found.")),
        arguments: Some(Value::Object(m)),
    }
}

/// An address as Kea's `IOAddress` reads it, with the texts of the lease parser.
fn address(s: &str, v6: impl FnOnce(&str) -> String) -> Result<Ipv4Addr, String> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Err(v6(s));
    }
    Err(format!(
        "Failed to convert string to address '{s}': Invalid argument"
    ))
}

/// Kea's `SimpleParser` getters over the arguments map, with its texts and positions.
struct Params<'a, 'w> {
    map: &'a Map<String, Value>,
    wire: &'a Wire<'w>,
}

impl Params<'_, '_> {
    fn bad_type(&self, key: &str) -> String {
        format!(
            "invalid type specified for parameter '{key}' {}",
            self.wire.arg(key)
        )
    }

    fn string(&self, key: &str) -> Result<Option<&str>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad_type(key)),
        }
    }

    fn required_string(&self, key: &str) -> Result<&str, String> {
        self.string(key)?
            .ok_or_else(|| format!("missing parameter '{key}' {}", self.wire.args()))
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(format!(
                    "out of range value ({n}) specified for parameter '{key}' {}",
                    self.wire.arg(key)
                )),
            },
            Some(_) => Err(self.bad_type(key)),
        }
    }

    fn uint32(&self, key: &str) -> Result<Option<u32>, String> {
        match self.integer(key)? {
            None => Ok(None),
            Some(i) => u32::try_from(i).map(Some).map_err(|_| {
                format!(
                    "out of range value ({i}) specified for parameter '{key}' {}",
                    self.wire.arg(key)
                )
            }),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad_type(key)),
        }
    }
}

/// Kea's `Lease4Parser`: the lease a `lease4-add` / `lease4-update` map describes, and
/// `force-create`. `cltt` is `expire - valid-lft`, else `unix`; `valid-lft` defaults to the
/// subnet's; `hostname` is lower-cased.
fn parse_lease<S: LeaseStore>(
    cfg: &Dhcp4,
    server: &Server<S>,
    unix: u64,
    map: &Map<String, Value>,
    wire: &Wire<'_>,
) -> Result<(Lease4, bool), String> {
    let p = Params { map, wire };
    let addr = address(p.required_string("ip-address")?, |s| {
        format!("Non-IPv4 address specified: {s}")
    })?;
    let subnet_id = p.uint32("subnet-id")?.unwrap_or(0);
    let subnet = if subnet_id == 0 {
        let id = server
            .subnet_of(addr)
            .ok_or_else(|| LeaseOpError::NoSubnetForAddress(addr).to_string())?;
        cfg.subnets.iter().find(|s| s.id == id)
    } else {
        let s = cfg
            .subnets
            .iter()
            .find(|s| s.id == subnet_id)
            .ok_or_else(|| LeaseOpError::NoSuchSubnet(subnet_id).to_string())?;
        if !s.contains(addr) {
            return Err(LeaseOpError::AddressNotInSubnet {
                addr,
                prefix: s.prefix,
                len: s.len,
                subnet_id,
            }
            .to_string());
        }
        Some(s)
    };
    let mut lease = Lease4::new(addr);
    lease.subnet_id = match subnet {
        Some(s) => s.id,
        None => server.subnet_of(addr).unwrap_or(subnet_id),
    };
    lease.hwaddr = hex::hw_address(p.required_string("hw-address")?)?;
    if let Some(c) = p.string("client-id")? {
        lease.client_id = hex::client_id(c)?;
    }
    let valid = match p.uint32("valid-lft")? {
        Some(v) => v,
        None => subnet
            .and_then(|s| cfg.timers_for(s).valid_lifetime)
            .unwrap_or(DEFAULT_VALID_LIFETIME),
    };
    lease.valid_lifetime = valid;
    lease.cltt = match p.integer("expire")? {
        None => unix,
        Some(e) if e <= 0 => {
            return Err(format!(
                "expiration time must be positive for address {addr}"
            ));
        }
        Some(e) if e < i64::from(valid) => {
            return Err(format!(
                "expiration time must be greater than valid lifetime for address {addr}"
            ));
        }
        Some(e) => e.unsigned_abs() - u64::from(valid),
    };
    lease.fqdn_fwd = p.boolean("fqdn-fwd")?.unwrap_or(false);
    lease.fqdn_rev = p.boolean("fqdn-rev")?.unwrap_or(false);
    if let Some(h) = p.string("hostname")? {
        lease.hostname = h.to_ascii_lowercase();
    }
    if let Some(st) = p.uint32("state")? {
        if st > 2 {
            return Err(format!(
                "Invalid state value: {st}, supported values are: 0 (default), 1 (declined) \
                 and 2 (expired-reclaimed)"
            ));
        }
        lease.state = LeaseState::from_number(st);
    }
    match map.get("user-context") {
        None => {}
        Some(v @ Value::Object(_)) => lease.user_context = Some(kea_text(v)),
        Some(v) => {
            return Err(format!(
                "Invalid user context '{}' is not a JSON map.",
                kea_text(v)
            ));
        }
    }
    let force = p.boolean("force-create")?.unwrap_or(false);
    Ok((lease, force))
}

/// `lease4-add`.
pub(super) fn add<S: LeaseStore>(
    cfg: &Dhcp4,
    server: &mut Server<S>,
    unix: u64,
    args: Option<&Value>,
    wire: &Wire<'_>,
    origin: Origin,
) -> Answer {
    let Some(Value::Object(map)) = args else {
        return Answer::error("no parameters specified for the command");
    };
    let lease = match parse_lease(cfg, server, unix, map, wire) {
        Ok((l, _)) => l,
        Err(t) => return Answer::error(t),
    };
    let (addr, id) = (lease.addr, lease.subnet_id);
    match server.add_lease(lease, origin) {
        Ok(_) => Answer::success(
            format!("Lease for address {addr}, subnet-id {id} added."),
            None,
        ),
        Err(LeaseOpError::Exists(_)) => Answer::error("IPv4 lease already exists."),
        Err(e) => Answer::error(e.to_string()),
    }
}

/// `lease4-update` (`force-create` adds a missing lease).
pub(super) fn update<S: LeaseStore>(
    cfg: &Dhcp4,
    server: &mut Server<S>,
    unix: u64,
    args: Option<&Value>,
    wire: &Wire<'_>,
    origin: Origin,
) -> Answer {
    let Some(Value::Object(map)) = args else {
        return Answer::error("no parameters specified for lease4-update command");
    };
    let (lease, force) = match parse_lease(cfg, server, unix, map, wire) {
        Ok(x) => x,
        Err(t) => return Answer::error(t),
    };
    let addr = lease.addr;
    let existed = server.lease(addr).is_some();
    if !existed && !force {
        return Answer::error(not_updated(addr));
    }
    match server.update_lease(lease, force, origin) {
        Ok(_) if existed => Answer::success("IPv4 lease updated.", None),
        Ok(_) => Answer::success("IPv4 lease added.", None),
        Err(LeaseOpError::NotFound(a)) => Answer::error(not_updated(a)),
        Err(e) => Answer::error(e.to_string()),
    }
}

fn not_updated(addr: Ipv4Addr) -> String {
    format!(
        "failed to update the lease with address {addr} either because the lease has been \
         deleted or it has changed in the database, in both cases a retry might succeed"
    )
}

/// What `lease4-get` / `lease4-del` look for.
enum Query {
    Address(Ipv4Addr),
    HwAddress(u32, Vec<u8>),
    ClientId(u32, Vec<u8>),
    /// `identifier-type: address` without `ip-address`: matches nothing.
    Nothing,
}

/// Kea's `getParameters` of `lease4-get` / `lease4-del`; `verb` names the command in the
/// `duid` refusal (`Query`, `Delete`).
fn parse_query(args: Option<&Value>, verb: &str) -> Result<Query, String> {
    let Some(Value::Object(m)) = args else {
        return Err("Parameters missing or are not a map.".into());
    };
    if let Some(a) = m.get("ip-address") {
        let Value::String(s) = a else {
            return Err("'ip-address' is not a string.".into());
        };
        return address(s, |s| format!("Invalid IPv4 address specified: {s}")).map(Query::Address);
    }
    let subnet_id = match m.get("subnet-id") {
        None => return Err("Mandatory 'subnet-id' parameter missing.".into()),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| String::from("'subnet-id' parameter is not integer."))?,
    };
    let Some(Value::String(kind)) = m.get("identifier-type") else {
        return Err(
            "No 'ip-address' provided and 'identifier-type' is either missing or not a string."
                .into(),
        );
    };
    let Some(Value::String(ident)) = m.get("identifier") else {
        return Err(
            "No 'ip-address' provided and 'identifier' is either missing or not a string.".into(),
        );
    };
    // Kea keeps subnet ids as 32 bits: other values match no lease.
    let subnet_id = u32::try_from(subnet_id).ok();
    match kind.as_str() {
        "address" => Ok(Query::Nothing),
        "hw-address" => {
            let hw = hex::hw_address(ident)?;
            Ok(subnet_id.map_or(Query::Nothing, |id| Query::HwAddress(id, hw)))
        }
        "client-id" => {
            let cid = hex::client_id(ident)?;
            Ok(subnet_id.map_or(Query::Nothing, |id| Query::ClientId(id, cid)))
        }
        "duid" => Err(format!("{verb} by duid is not allowed in v4.")),
        other => Err(format!(
            "Incorrect identifier type: {other}, the only supported values are: address, \
             hw-address, duid"
        )),
    }
}

fn find<'s, S: LeaseStore>(store: &'s S, q: &Query) -> Option<&'s Lease4> {
    match q {
        Query::Address(a) => store.get(*a),
        Query::HwAddress(id, hw) => store.by_hwaddr(*id, hw).into_iter().min_by_key(|l| l.addr),
        Query::ClientId(id, c) => store
            .by_client_id(*id, c)
            .into_iter()
            .min_by_key(|l| l.addr),
        Query::Nothing => None,
    }
}

/// `lease4-get`.
pub(super) fn get<S: LeaseStore>(server: &Server<S>, args: Option<&Value>) -> Answer {
    let q = match parse_query(args, "Query") {
        Ok(q) => q,
        Err(t) => return Answer::error(t),
    };
    match find(server.store(), &q) {
        Some(l) => Answer::success("IPv4 lease found.", Some(lease_value(l))),
        None => Answer::new(RESULT_EMPTY, "Lease not found."),
    }
}

/// `lease4-del`.
pub(super) fn del<S: LeaseStore>(
    server: &mut Server<S>,
    args: Option<&Value>,
    origin: Origin,
) -> Answer {
    let q = match parse_query(args, "Delete") {
        Ok(q) => q,
        Err(t) => return Answer::error(t),
    };
    let Some(addr) = find(server.store(), &q).map(|l| l.addr) else {
        return Answer::new(RESULT_EMPTY, "IPv4 lease not found.");
    };
    match server.delete_lease(addr, origin) {
        Some(_) => Answer::success("IPv4 lease deleted.", None),
        None => Answer::new(RESULT_EMPTY, "IPv4 lease not found."),
    }
}

/// `lease4-get-all` (optionally `subnets: [ … ]`).
pub(super) fn get_all<S: LeaseStore>(
    server: &Server<S>,
    args: Option<&Value>,
    wire: &Wire<'_>,
) -> Answer {
    let store = server.store();
    let Some(args) = args else {
        return lease_list(all(store));
    };
    let Value::Object(m) = args else {
        return Answer::error(format!(
            "get(string) called on a non-map Element in {}",
            wire.args()
        ));
    };
    let Some(subnets) = m.get("subnets") else {
        return Answer::error("'subnets' parameter not specified");
    };
    let Value::Array(ids) = subnets else {
        return Answer::error("'subnets' parameter must be a list");
    };
    let mut wanted = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(id) = id.as_i64() else {
            return Answer::error("listed subnet identifiers must be numbers");
        };
        wanted.push(id);
    }
    let every = all(store);
    let mut out: Vec<&Lease4> = Vec::new();
    for id in wanted {
        out.extend(every.iter().filter(|l| i64::from(l.subnet_id) == id));
    }
    lease_list(out)
}

/// `lease4-get-page`.
pub(super) fn get_page<S: LeaseStore>(server: &Server<S>, args: Option<&Value>) -> Answer {
    let Some(Value::Object(m)) = args else {
        return Answer::error("no parameters specified for the lease4-get-page command");
    };
    let from = match m.get("from") {
        None => return Answer::error("'from' parameter not specified"),
        Some(Value::String(s)) if s == "start" => None,
        Some(Value::String(s)) => match s.parse::<Ipv4Addr>() {
            Ok(a) => Some(a),
            Err(_) if s.parse::<Ipv6Addr>().is_ok() => {
                return Answer::error(format!("'from' parameter value {s} is not an IPv4 address"));
            }
            Err(_) => {
                return Answer::error(
                    "'from' parameter value is neither 'start' keyword nor a valid IPv4 address",
                );
            }
        },
        Some(_) => return Answer::error("'from' parameter must be a string"),
    };
    let limit = match m.get("limit") {
        None => return Answer::error("'limit' parameter not specified"),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64(),
        Some(_) => return Answer::error("'limit' parameter must be a number"),
    };
    let limit = match limit {
        Some(0) => return Answer::error("page size of retrieved leases must not be 0"),
        Some(n) => match u32::try_from(n) {
            Ok(n) => n,
            Err(_) => {
                return Answer::error(
                    "page size of retrieved leases must not be greater than 4294967295",
                );
            }
        },
        None => {
            return Answer::error(
                "page size of retrieved leases must not be greater than 4294967295",
            );
        }
    };
    let leases = server
        .store()
        .page(from, usize::try_from(limit).unwrap_or(usize::MAX));
    let page = LeasePage {
        count: Some(leases.len() as u64),
        leases: leases.into_iter().map(KeaLease4::for_page).collect(),
    };
    page.answer()
}

fn by_key<'a>(args: Option<&'a Value>, key: &str) -> Result<&'a str, String> {
    let Some(Value::Object(m)) = args else {
        return Err("Command arguments missing or a not a map.".into());
    };
    match m.get(key) {
        None => Err(format!("'{key}' parameter not specified")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("'{key}' parameter must be a string")),
    }
}

/// `lease4-get-by-hw-address`.
pub(super) fn get_by_hw_address<S: LeaseStore>(server: &Server<S>, args: Option<&Value>) -> Answer {
    let hw = match by_key(args, "hw-address").and_then(hex::hw_address) {
        Ok(h) => h,
        Err(t) => return Answer::error(t),
    };
    let every = all(server.store());
    lease_list(every.into_iter().filter(|l| l.hwaddr == hw))
}

/// `lease4-get-by-client-id`.
pub(super) fn get_by_client_id<S: LeaseStore>(server: &Server<S>, args: Option<&Value>) -> Answer {
    let cid = match by_key(args, "client-id").and_then(hex::client_id) {
        Ok(c) => c,
        Err(t) => return Answer::error(t),
    };
    let every = all(server.store());
    lease_list(every.into_iter().filter(|l| l.client_id == cid))
}

/// `lease4-get-by-hostname` (case-insensitive, as Kea lower-cases both sides).
pub(super) fn get_by_hostname<S: LeaseStore>(server: &Server<S>, args: Option<&Value>) -> Answer {
    let name = match by_key(args, "hostname") {
        Ok("") => return Answer::error("'hostname' parameter is empty"),
        Ok(h) => h.to_ascii_lowercase(),
        Err(t) => return Answer::error(t),
    };
    let every = all(server.store());
    lease_list(
        every
            .into_iter()
            .filter(|l| l.hostname.eq_ignore_ascii_case(&name)),
    )
}

/// `lease4-wipe` (all configured subnets, or `subnet-id`).
pub(super) fn wipe<S: LeaseStore>(
    cfg: &Dhcp4,
    server: &mut Server<S>,
    args: Option<&Value>,
    wire: &Wire<'_>,
    origin: Origin,
) -> Answer {
    let subnet_id = match args {
        None => 0,
        Some(Value::Object(m)) => {
            let p = Params { map: m, wire };
            match p.uint32("subnet-id") {
                Ok(id) => id.unwrap_or(0),
                Err(t) => return Answer::error(t),
            }
        }
        Some(_) => {
            return Answer::error(format!(
                "contains(string) called on a non-map Element in {}",
                wire.args()
            ));
        }
    };
    let (n, ids) = if subnet_id == 0 {
        let mut n = 0;
        let mut ids = String::new();
        for s in &cfg.subnets {
            n += server.wipe(Some(s.id), origin);
            ids.push_str(&format!(" {}", s.id));
        }
        (n, ids)
    } else {
        (
            server.wipe(Some(subnet_id), origin),
            format!(" {subnet_id}"),
        )
    };
    Answer::new(
        if n == 0 { RESULT_EMPTY } else { RESULT_SUCCESS },
        format!("Deleted {n} IPv4 lease(s) from subnet(s){ids}"),
    )
}
