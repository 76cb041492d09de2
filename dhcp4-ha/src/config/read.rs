//! The typed reading of the `Dhcp4` map with Kea's checks.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::json::{Document, Entry, Kind, Span, Value};
use super::options::{self, OptType};
use super::*;

/// Keys every map may carry and that carry no meaning for the server.
const META: &[&str] = &["comment", "user-context"];

/// Dhcp4 keys ignored with a warning (no effect on dhcp4d's behaviour worth refusing for).
const DHCP4_IGNORED: &[&str] = &[
    "sanity-checks",
    "server-tag",
    "statistic-default-sample-count",
    "statistic-default-sample-age",
    "dhcp4o6-port",
    "host-reservation-identifiers",
    "hostname-char-set",
    "hostname-char-replacement",
    "store-extended-info",
    "dhcp-queue-control",
    "cache-threshold",
    "cache-max-age",
    "reservation-mode",
    "early-global-reservations-lookup",
    "ip-reservations-unique",
    "reservations-lookup-first",
    "parked-packet-limit",
    "compatibility",
    "ddns-send-updates",
    "ddns-override-no-update",
    "ddns-override-client-update",
    "ddns-replace-client-name",
    "ddns-generated-prefix",
    "ddns-qualifying-suffix",
    "ddns-update-on-renew",
    "ddns-use-conflict-resolution",
];

/// Dhcp4 keys that Kea knows and dhcp4d does not implement.
const DHCP4_UNSUPPORTED: &[&str] = &[
    "shared-networks",
    "client-classes",
    "option-def",
    "hosts-database",
    "hosts-databases",
    "config-control",
    "reservations",
    "next-server",
    "server-hostname",
    "boot-file-name",
];

const SUBNET_IGNORED: &[&str] = &[
    "ddns-send-updates",
    "ddns-override-no-update",
    "ddns-override-client-update",
    "ddns-replace-client-name",
    "ddns-generated-prefix",
    "ddns-qualifying-suffix",
    "ddns-update-on-renew",
    "ddns-use-conflict-resolution",
    "hostname-char-set",
    "hostname-char-replacement",
    "store-extended-info",
    "cache-threshold",
    "cache-max-age",
    "reservation-mode",
];

const SUBNET_UNSUPPORTED: &[&str] = &[
    "client-class",
    "require-client-classes",
    "next-server",
    "server-hostname",
    "boot-file-name",
    "4o6-interface",
    "4o6-interface-id",
    "4o6-subnet",
];

const RESERVATION_UNSUPPORTED: &[&str] = &[
    "duid",
    "circuit-id",
    "flex-id",
    "client-classes",
    "next-server",
    "server-hostname",
    "boot-file-name",
];

const INTERFACES_IGNORED: &[&str] = &[
    "outbound-interface",
    "re-detect",
    "service-sockets-require-all",
    "service-sockets-max-retries",
    "service-sockets-retry-wait-time",
];

const LEASE_DB_IGNORED: &[&str] = &[
    "max-row-errors",
    "user",
    "password",
    "host",
    "port",
    "readonly",
    "connect-timeout",
    "max-reconnect-tries",
    "reconnect-wait-time",
    "on-fail",
    "request-timeout",
    "tcp-keepalive",
    "tcp-nodelay",
    "contact-points",
    "keyspace",
    "consistency",
    "serial-consistency",
    "trust-anchor",
    "cert-file",
    "key-file",
    "cipher-list",
];

pub(super) fn read(doc: Document) -> Result<Config, ConfigError> {
    let mut r = Reader {
        warnings: doc.warnings,
        semantic: None,
    };
    let dhcp4 = r.top(&doc.root)?;
    if let Some(e) = r.semantic {
        return Err(e);
    }
    let mut dhcp4 = dhcp4;
    validate(&mut dhcp4, &mut r.warnings)?;
    r.warnings.sort_by_key(|w| (w.span.line, w.span.col));
    Ok(Config {
        dhcp4,
        warnings: r.warnings,
        raw: doc.root,
    })
}

struct Reader {
    warnings: Vec<Warning>,
    /// The first semantic error: reported only when the document has no syntax error (Kea
    /// checks the grammar of the whole file first).
    semantic: Option<ConfigError>,
}

type R<T> = Result<T, ConfigError>;

fn syntax(span: &Span, message: String) -> ConfigError {
    ConfigError {
        kind: ErrorKind::Syntax,
        message,
        span: Some(span.clone()),
        key: None,
    }
}

fn expecting(v: &Value, what: &str) -> ConfigError {
    syntax(
        &v.span,
        format!(
            "syntax error, unexpected {}, expecting {what}",
            v.kind.token_name()
        ),
    )
}

fn semantic(span: Option<&Span>, message: String) -> ConfigError {
    ConfigError {
        kind: ErrorKind::Semantic,
        message,
        span: span.cloned(),
        key: None,
    }
}

fn unknown(e: &Entry, ctx: &str) -> ConfigError {
    ConfigError {
        kind: ErrorKind::UnknownKeyword,
        message: format!("got unexpected keyword \"{}\" in {ctx} map.", e.key),
        span: Some(e.key_span.clone()),
        key: Some(e.key.clone()),
    }
}

fn unsupported_msg(span: &Span, key: &str, message: String) -> ConfigError {
    ConfigError {
        kind: ErrorKind::Unsupported,
        message,
        span: Some(span.clone()),
        key: Some(key.into()),
    }
}

fn map(v: &Value) -> R<&[Entry]> {
    v.as_map().ok_or_else(|| expecting(v, "{"))
}

fn list(v: &Value) -> R<&[Value]> {
    v.as_list().ok_or_else(|| expecting(v, "["))
}

fn string(v: &Value) -> R<String> {
    v.as_str()
        .map(String::from)
        .ok_or_else(|| expecting(v, "constant string"))
}

fn boolean(v: &Value) -> R<bool> {
    v.as_bool().ok_or_else(|| expecting(v, "boolean"))
}

fn float(v: &Value) -> R<f64> {
    match v.kind {
        Kind::Float(f) => Ok(f),
        _ => Err(expecting(v, "floating point")),
    }
}

fn close_span(v: &Value) -> Span {
    match &v.kind {
        Kind::Map(_, close) => close.clone(),
        _ => v.span.clone(),
    }
}

fn missing(v: &Value, what: &str, ctx: &str) -> ConfigError {
    syntax(
        &v.span,
        format!(
            "missing parameter '{what}' ({}) [{ctx} map between {} and {}]",
            v.span.point(),
            v.span.point(),
            close_span(v).point()
        ),
    )
}

impl Reader {
    fn defer(&mut self, e: ConfigError) {
        if self.semantic.is_none() {
            self.semantic = Some(e);
        }
    }

    fn warn(&mut self, span: &Span, key: Option<&str>, message: String) {
        self.warnings.push(Warning {
            span: span.clone(),
            message,
            key: key.map(String::from),
        });
    }

    fn ignored(&mut self, e: &Entry, ctx: &str) {
        self.warn(
            &e.key_span,
            Some(&e.key),
            format!(
                "\"{}\" in {ctx} map is ignored: dhcp4d does not implement it",
                e.key
            ),
        );
    }

    /// A known but unimplemented key: an error, unless its value is empty (then a warning).
    fn unsupported(&mut self, e: &Entry, ctx: &str) -> R<()> {
        let empty = match &e.value.kind {
            Kind::List(l) => l.is_empty(),
            Kind::Map(m, _) => m.is_empty(),
            _ => false,
        };
        if empty {
            self.ignored(e, ctx);
            return Ok(());
        }
        Err(unsupported_msg(
            &e.key_span,
            &e.key,
            format!("\"{}\" in {ctx} map is not supported by dhcp4d", e.key),
        ))
    }

    fn u32(&mut self, v: &Value, key: &str) -> R<u32> {
        let i = v.as_i64().ok_or_else(|| expecting(v, "integer"))?;
        match u32::try_from(i) {
            Ok(x) => Ok(x),
            Err(_) => {
                self.defer(semantic(
                    Some(&v.span),
                    format!("out of range value ({i}) specified for parameter '{key}'"),
                ));
                Ok(0)
            }
        }
    }

    fn top(&mut self, root: &Value) -> R<Dhcp4> {
        let entries = map(root)?;
        let Some(first) = entries.first() else {
            return Err(syntax(
                &close_span(root),
                "syntax error, unexpected }, expecting Dhcp4".into(),
            ));
        };
        if first.key != "Dhcp4" {
            return Err(syntax(
                &first.key_span,
                "syntax error, unexpected constant string, expecting Dhcp4".into(),
            ));
        }
        if let Some(second) = entries.get(1) {
            return Err(syntax(
                &second.key_span,
                "syntax error, unexpected constant string, expecting \",\" or }".into(),
            ));
        }
        self.dhcp4(&first.value)
    }

    fn timer(&mut self, e: &Entry, t: &mut Timers) -> R<bool> {
        let v = &e.value;
        match e.key.as_str() {
            "valid-lifetime" => t.valid_lifetime = Some(self.u32(v, &e.key)?),
            "min-valid-lifetime" => t.min_valid_lifetime = Some(self.u32(v, &e.key)?),
            "max-valid-lifetime" => t.max_valid_lifetime = Some(self.u32(v, &e.key)?),
            "renew-timer" => t.renew_timer = Some(self.u32(v, &e.key)?),
            "rebind-timer" => t.rebind_timer = Some(self.u32(v, &e.key)?),
            "calculate-tee-times" => t.calculate_tee_times = Some(boolean(v)?),
            "t1-percent" => t.t1_percent = Some(float(v)?),
            "t2-percent" => t.t2_percent = Some(float(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn flags(e: &Entry, f: &mut ReservationFlags) -> R<bool> {
        match e.key.as_str() {
            "reservations-global" => f.global = Some(boolean(&e.value)?),
            "reservations-in-subnet" => f.in_subnet = Some(boolean(&e.value)?),
            "reservations-out-of-pool" => f.out_of_pool = Some(boolean(&e.value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn dhcp4(&mut self, v: &Value) -> R<Dhcp4> {
        const CTX: &str = "Dhcp4";
        let mut d = Dhcp4 {
            interfaces_config: InterfacesConfig::default(),
            lease_database: LeaseDatabase::default(),
            timers: Timers::default(),
            decline_probation_period: None,
            match_client_id: None,
            authoritative: None,
            echo_client_id: None,
            reservation_flags: ReservationFlags::default(),
            subnets: Vec::new(),
            option_data: Vec::new(),
            control_socket: None,
            hooks_libraries: Vec::new(),
            multi_threading: MultiThreading::default(),
            loggers: Vec::new(),
            expired_leases_processing: ExpiredLeasesProcessing::default(),
        };
        let entries = map(v)?;
        if entries.is_empty() {
            return Err(syntax(&close_span(v), "syntax error, unexpected }".into()));
        }
        for e in entries {
            let val = &e.value;
            if self.timer(e, &mut d.timers)? || Self::flags(e, &mut d.reservation_flags)? {
                continue;
            }
            match e.key.as_str() {
                "interfaces-config" => d.interfaces_config = self.interfaces(val)?,
                "lease-database" => d.lease_database = self.lease_db(e)?,
                "decline-probation-period" => {
                    d.decline_probation_period = Some(self.u32(val, &e.key)?)
                }
                "match-client-id" => d.match_client_id = Some(boolean(val)?),
                "authoritative" => d.authoritative = Some(boolean(val)?),
                "echo-client-id" => d.echo_client_id = Some(boolean(val)?),
                "subnet4" => {
                    for s in list(val)? {
                        let subnet = self.subnet(s)?;
                        d.subnets.push(subnet);
                    }
                }
                "option-data" => d.option_data = self.option_data(val)?,
                "control-socket" => d.control_socket = Some(self.control_socket(val)?),
                "hooks-libraries" => {
                    for h in list(val)? {
                        let hook = self.hook(h)?;
                        d.hooks_libraries.push(hook);
                    }
                }
                "multi-threading" => d.multi_threading = self.multi_threading(val)?,
                "loggers" => {
                    for l in list(val)? {
                        let logger = self.logger(l)?;
                        d.loggers.push(logger);
                    }
                }
                "expired-leases-processing" => {
                    d.expired_leases_processing = self.expired(val)?;
                }
                "dhcp-ddns" => self.ddns(e)?,
                k if META.contains(&k) => {}
                k if DHCP4_IGNORED.contains(&k) => self.ignored(e, CTX),
                k if DHCP4_UNSUPPORTED.contains(&k) => self.unsupported(e, CTX)?,
                _ => return Err(unknown(e, CTX)),
            }
        }
        Ok(d)
    }

    fn ddns(&mut self, e: &Entry) -> R<()> {
        for x in map(&e.value)? {
            if x.key == "enable-updates" && boolean(&x.value)? {
                return Err(unsupported_msg(
                    &x.key_span,
                    "dhcp-ddns",
                    "\"dhcp-ddns\" with \"enable-updates\" true is not supported by dhcp4d".into(),
                ));
            }
        }
        self.ignored(e, "Dhcp4");
        Ok(())
    }

    fn interfaces(&mut self, v: &Value) -> R<InterfacesConfig> {
        const CTX: &str = "interfaces-config";
        let mut c = InterfacesConfig::default();
        for e in map(v)? {
            match e.key.as_str() {
                "interfaces" => {
                    for i in list(&e.value)? {
                        c.interfaces.push(string(i)?);
                    }
                }
                "dhcp-socket-type" => {
                    c.dhcp_socket_type = match e.value.as_str() {
                        Some("raw") => SocketType::Raw,
                        Some("udp") => SocketType::Udp,
                        _ => return Err(expecting(&e.value, "raw or udp")),
                    }
                }
                k if META.contains(&k) => {}
                k if INTERFACES_IGNORED.contains(&k) => self.ignored(e, CTX),
                _ => return Err(unknown(e, CTX)),
            }
        }
        Ok(c)
    }

    fn lease_db(&mut self, outer: &Entry) -> R<LeaseDatabase> {
        const CTX: &str = "lease-database";
        let mut c = LeaseDatabase::default();
        let entries = map(&outer.value)?;
        for e in entries {
            let v = &e.value;
            match e.key.as_str() {
                "type" => match v.as_str() {
                    Some("memfile") => {}
                    Some(t @ ("mysql" | "postgresql")) => {
                        return Err(unsupported_msg(
                            &v.span,
                            "lease-database",
                            format!(
                                "lease-database type {t} is not supported by dhcp4d (memfile only)"
                            ),
                        ));
                    }
                    _ => return Err(expecting(v, "memfile or mysql or postgresql")),
                },
                "name" => c.name = Some(string(v)?),
                "persist" => c.persist = Some(boolean(v)?),
                "lfc-interval" => c.lfc_interval = Some(self.u32(v, &e.key)?),
                k if META.contains(&k) => {}
                k if LEASE_DB_IGNORED.contains(&k) => self.ignored(e, CTX),
                _ => return Err(unknown(e, CTX)),
            }
        }
        if !entries.iter().any(|e| e.key == "type") {
            return Err(missing(&outer.value, "type", CTX));
        }
        Ok(c)
    }

    fn subnet(&mut self, v: &Value) -> R<Subnet4> {
        const CTX: &str = "subnet4";
        let mut s = Subnet4 {
            id: 0,
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            pools: Vec::new(),
            option_data: Vec::new(),
            reservations: Vec::new(),
            relay: Vec::new(),
            interface: None,
            timers: Timers::default(),
            match_client_id: None,
            authoritative: None,
            reservation_flags: ReservationFlags::default(),
            span: v.span.clone(),
        };
        let entries = map(v)?;
        let mut subnet_value = None;
        let mut pools = Vec::new();
        let mut reservations = Vec::new();
        for e in entries {
            let val = &e.value;
            if self.timer(e, &mut s.timers)? || Self::flags(e, &mut s.reservation_flags)? {
                continue;
            }
            match e.key.as_str() {
                "id" => s.id = self.u32(val, "id")?,
                "subnet" => {
                    string(val)?;
                    subnet_value = Some(val);
                }
                "pools" => pools = list(val)?.iter().collect(),
                "option-data" => s.option_data = self.option_data(val)?,
                "reservations" => reservations = list(val)?.iter().collect(),
                "relay" => s.relay = self.relay(val)?,
                "interface" => s.interface = Some(string(val)?),
                "match-client-id" => s.match_client_id = Some(boolean(val)?),
                "authoritative" => s.authoritative = Some(boolean(val)?),
                k if META.contains(&k) => {}
                k if SUBNET_IGNORED.contains(&k) => self.ignored(e, CTX),
                k if SUBNET_UNSUPPORTED.contains(&k) => self.unsupported(e, CTX)?,
                _ => return Err(unknown(e, CTX)),
            }
        }
        // Grammar first (pools and reservations), then the prefix.
        let mut parsed_pools = Vec::new();
        for p in &pools {
            parsed_pools.push(self.pool(p)?);
        }
        let mut parsed_res = Vec::new();
        for r in &reservations {
            parsed_res.push(self.reservation(r)?);
        }
        let Some(sv) = subnet_value else {
            return Err(missing(v, "subnet", CTX));
        };
        let text = sv.as_str().unwrap_or_default();
        match parse_prefix(text) {
            Ok((a, len)) => {
                s.prefix = Ipv4Addr::from(mask(u32::from(a), len));
                s.len = len;
            }
            Err(m) => self.defer(semantic(
                Some(&sv.span),
                format!("subnet configuration failed: {m}"),
            )),
        }
        for p in parsed_pools.into_iter().flatten() {
            let (first, last) = (u32::from(p.first), u32::from(p.last));
            let net = u32::from(s.prefix);
            let range = format!("{}-{}", p.first, p.last);
            if self.semantic.is_none() && (mask(first, s.len) != net || mask(last, s.len) != net) {
                self.defer(semantic(
                    Some(&s.span),
                    format!(
                        "subnet configuration failed: a pool of type V4, with the following \
                         address range: {range} does not match the prefix of a subnet: {}/{} to \
                         which it is being added",
                        s.prefix, s.len
                    ),
                ));
            }
            if s.pools
                .iter()
                .any(|q| u32::from(q.first) <= last && first <= u32::from(q.last))
            {
                self.defer(semantic(
                    Some(&s.span),
                    format!(
                        "subnet configuration failed: a pool of type V4, with the following \
                         address range: {range} overlaps with an existing pool in the subnet: \
                         {}/{} to which it is being added",
                        s.prefix, s.len
                    ),
                ));
            }
            s.pools.push(p);
        }
        s.reservations = parsed_res.into_iter().flatten().collect();
        Ok(s)
    }

    fn relay(&mut self, v: &Value) -> R<Vec<Ipv4Addr>> {
        let mut out = Vec::new();
        let mut addr = |this: &mut Self, x: &Value| -> R<()> {
            let s = string(x)?;
            match s.parse::<Ipv4Addr>() {
                Ok(a) => out.push(a),
                Err(_) => this.defer(semantic(
                    Some(&x.span),
                    format!("address {s} is not a valid: IPv4address"),
                )),
            }
            Ok(())
        };
        for e in map(v)? {
            match e.key.as_str() {
                "ip-addresses" => {
                    for x in list(&e.value)? {
                        addr(self, x)?;
                    }
                }
                "ip-address" => addr(self, &e.value)?,
                _ => {
                    return Err(syntax(
                        &e.key_span,
                        "syntax error, unexpected constant string, expecting ip-address or \
                         ip-addresses"
                            .into(),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn pool(&mut self, v: &Value) -> R<Option<Pool>> {
        const CTX: &str = "pools";
        let mut pool_value = None;
        let mut client_class = None;
        let mut option_data = Vec::new();
        for e in map(v)? {
            match e.key.as_str() {
                "pool" => {
                    string(&e.value)?;
                    pool_value = Some(&e.value);
                }
                "option-data" => option_data = self.option_data(&e.value)?,
                "client-class" => {
                    let c = string(&e.value)?;
                    if !c.starts_with("HA_") {
                        return Err(unsupported_msg(
                            &e.key_span,
                            "client-class",
                            format!(
                                "\"client-class\" in pools map is not supported by dhcp4d \
                                 (only HA_<server> classes of HA load balancing): {c}"
                            ),
                        ));
                    }
                    client_class = Some(c);
                }
                "require-client-classes" => self.unsupported(e, CTX)?,
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        let Some(pv) = pool_value else {
            return Err(missing(v, "pool", CTX));
        };
        let text = pv.as_str().unwrap_or_default();
        let Some((first, last)) = parse_pool(text) else {
            self.defer(semantic(
                Some(&pv.span),
                format!(
                    "invalid pool definition: {text}. There are two acceptable formats <min \
                     address-max address> or <prefix/len>"
                ),
            ));
            return Ok(None);
        };
        if first > last {
            self.defer(semantic(
                Some(&pv.span),
                format!("Failed to create pool defined by: {first}-{last}"),
            ));
            return Ok(None);
        }
        Ok(Some(Pool {
            first,
            last,
            client_class,
            option_data,
            span: v.span.clone(),
        }))
    }

    fn reservation(&mut self, v: &Value) -> R<Option<Reservation>> {
        const CTX: &str = "reservations";
        let mut ids: Vec<(&str, &Value)> = Vec::new();
        let mut ip = None;
        let mut hostname = None;
        let mut option_data = Vec::new();
        for e in map(v)? {
            match e.key.as_str() {
                "hw-address" | "client-id" => {
                    string(&e.value)?;
                    ids.push((e.key.as_str(), &e.value));
                }
                "ip-address" => ip = Some((string(&e.value)?, &e.value)),
                "hostname" => hostname = Some(string(&e.value)?),
                "option-data" => option_data = self.option_data(&e.value)?,
                k if META.contains(&k) => {}
                k if RESERVATION_UNSUPPORTED.contains(&k) => self.unsupported(e, CTX)?,
                _ => return Err(unknown(e, CTX)),
            }
        }
        let id = match ids[..] {
            [] => {
                self.defer(semantic(
                    Some(&v.span),
                    "one of the supported identifiers must be specified for host reservation: \
                     circuit-id, client-id, duid, flex-id, hw-address"
                        .into(),
                ));
                return Ok(None);
            }
            [(kind, value)] => {
                let text = value.as_str().unwrap_or_default();
                let bytes = options::parse_hex(text).filter(|b| !b.is_empty());
                match (kind, bytes) {
                    ("hw-address", Some(b)) if b.len() <= 20 => HostId::HwAddress(b),
                    ("client-id", Some(b)) if b.len() <= 255 => HostId::ClientId(b),
                    _ => {
                        self.defer(semantic(
                            Some(&v.span),
                            format!("invalid host identifier value '{text}'"),
                        ));
                        return Ok(None);
                    }
                }
            }
            [(a, _), (b, _), ..] => {
                self.defer(semantic(
                    Some(&v.span),
                    format!("the '{a}' and '{b}' are mutually exclusive"),
                ));
                return Ok(None);
            }
        };
        let ip_address = match ip {
            None => None,
            Some((s, val)) => match s.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.defer(semantic(
                        Some(&val.span),
                        format!("invalid address '{s}' specified for 'ip-address'"),
                    ));
                    return Ok(None);
                }
            },
        };
        Ok(Some(Reservation {
            id,
            ip_address,
            hostname,
            option_data,
            span: v.span.clone(),
        }))
    }

    fn option_data(&mut self, v: &Value) -> R<Vec<OptionData>> {
        let mut out = Vec::new();
        for o in list(v)? {
            if let Some(od) = self.option(o)? {
                out.push(od);
            }
        }
        Ok(out)
    }

    fn option(&mut self, v: &Value) -> R<Option<OptionData>> {
        const CTX: &str = "option-data";
        let mut name = None;
        let mut code = None;
        let mut data = None;
        let mut csv = true;
        let mut always_send = false;
        for e in map(v)? {
            let val = &e.value;
            match e.key.as_str() {
                "name" => name = Some((string(val)?, val)),
                "code" => {
                    code = Some((val.as_i64().ok_or_else(|| expecting(val, "integer"))?, val))
                }
                "data" => data = Some((string(val)?, val)),
                "csv-format" => csv = boolean(val)?,
                "always-send" => always_send = boolean(val)?,
                "space" => {
                    let s = string(val)?;
                    if s != "dhcp4" {
                        return Err(unsupported_msg(
                            &val.span,
                            "space",
                            format!("option space \"{s}\" is not supported by dhcp4d (dhcp4 only)"),
                        ));
                    }
                }
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        let def = match (&name, &code) {
            (None, None) => {
                self.defer(semantic(
                    Some(&v.span),
                    "option data configuration requires one of 'code' or 'name' parameters to \
                     be specified"
                        .into(),
                ));
                return Ok(None);
            }
            (_, Some((c, cv))) if !(1..=254).contains(c) => {
                self.defer(semantic(
                    Some(&cv.span),
                    format!("invalid option code '{c}', it must not be greater than '254'"),
                ));
                return Ok(None);
            }
            (Some((n, nv)), code) => {
                match options::by_name(n) {
                    None => {
                        self.defer(semantic(
                        Some(&nv.span),
                        format!("definition for the option 'dhcp4.{n}' having code '0' does not exist"),
                    ));
                        return Ok(None);
                    }
                    Some(d) => {
                        if let Some((c, _)) = code
                            && *c != i64::from(d.code)
                        {
                            let other = options::by_code(*c as u8)
                                .map(|d| d.name)
                                .unwrap_or_default();
                            self.defer(semantic(
                                Some(&nv.span),
                                format!(
                                    "specified option name '{n}' does not match the option \
                                 definition: 'dhcp4.{other}'"
                                ),
                            ));
                            return Ok(None);
                        }
                        Some(d)
                    }
                }
            }
            (None, Some((c, _))) => options::by_code(*c as u8),
        };
        let code = def.map_or_else(|| code.map_or(0, |(c, _)| c as u8), |d| d.code);
        if let Some(d) = def
            && d.ty == OptType::Unsupported
        {
            return Err(unsupported_msg(
                &v.span,
                "option-data",
                format!(
                    "option '{}' (code {}) is not supported by dhcp4d (record or encapsulated \
                     format)",
                    d.name, d.code
                ),
            ));
        }
        let (text, data_span) = match &data {
            Some((t, dv)) => (t.as_str(), dv.span.clone()),
            None => ("", v.span.clone()),
        };
        let encoded = if !csv {
            options::parse_hex(text).ok_or_else(|| format!("invalid hex string '{text}'"))
        } else if let Some(d) = def {
            options::encode_csv(d, text)
        } else {
            self.defer(semantic(
                Some(&v.span),
                format!("definition for the option 'dhcp4.' having code '{code}' does not exist"),
            ));
            return Ok(None);
        };
        let bytes = match encoded {
            Ok(b) => b,
            Err(m) => {
                self.defer(semantic(
                    Some(&data_span),
                    format!(
                        "option data does not match option definition (space: dhcp4, code: \
                         {code}): {m}"
                    ),
                ));
                return Ok(None);
            }
        };
        if bytes.len() > 255 * 4 {
            self.defer(semantic(
                Some(&data_span),
                format!("option {code} data too long ({} bytes)", bytes.len()),
            ));
            return Ok(None);
        }
        if code == crate::wire::code::OVERLOAD {
            self.defer(unsupported_msg(
                &v.span,
                "option-data",
                "option dhcp-option-overload (52) is set by dhcp4d itself and cannot be \
                 configured"
                    .into(),
            ));
            return Ok(None);
        }
        let mut check = crate::wire::Options::default();
        if let Err(e) = check.set(code, &bytes) {
            self.defer(semantic(
                Some(&data_span),
                format!(
                    "option data does not match option definition (space: dhcp4, code: \
                     {code}): {e}"
                ),
            ));
            return Ok(None);
        }
        Ok(Some(OptionData {
            code,
            name: def.map(|d| d.name),
            data: bytes,
            always_send,
            span: v.span.clone(),
        }))
    }

    fn control_socket(&mut self, v: &Value) -> R<ControlSocket> {
        const CTX: &str = "control-socket";
        let mut name = None;
        let mut ty = None;
        for e in map(v)? {
            match e.key.as_str() {
                "socket-type" => ty = Some((string(&e.value)?, &e.value)),
                "socket-name" => name = Some(string(&e.value)?),
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        if let Some((t, tv)) = ty
            && t != "unix"
        {
            return Err(unsupported_msg(
                &tv.span,
                "socket-type",
                format!("control socket type \"{t}\" is not supported by dhcp4d (unix only)"),
            ));
        }
        let Some(socket_name) = name else {
            return Err(missing(v, "socket-name", CTX));
        };
        Ok(ControlSocket { socket_name })
    }

    fn hook(&mut self, v: &Value) -> R<HookLibrary> {
        const CTX: &str = "hooks-libraries";
        let mut library = None;
        let mut parameters = None;
        for e in map(v)? {
            match e.key.as_str() {
                "library" => library = Some((string(&e.value)?, &e.value)),
                "parameters" => {
                    map(&e.value)?;
                    parameters = Some(e.value.clone());
                }
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        let Some((library, lv)) = library else {
            return Err(missing(v, "library", CTX));
        };
        let file = library.rsplit('/').next().unwrap_or_default();
        let kind = match file {
            "libdhcp_lease_cmds.so" => HookKind::LeaseCmds,
            "libdhcp_ha.so" => HookKind::HighAvailability,
            _ => {
                return Err(unsupported_msg(
                    &lv.span,
                    "hooks-libraries",
                    format!(
                        "hook library {library} is not supported by dhcp4d (built in: \
                         libdhcp_lease_cmds.so, libdhcp_ha.so)"
                    ),
                ));
            }
        };
        Ok(HookLibrary {
            kind,
            library,
            parameters,
            span: v.span.clone(),
        })
    }

    fn multi_threading(&mut self, v: &Value) -> R<MultiThreading> {
        let mut m = MultiThreading::default();
        for e in map(v)? {
            match e.key.as_str() {
                "enable-multi-threading" => m.enable = Some(boolean(&e.value)?),
                "thread-pool-size" => m.thread_pool_size = Some(self.u32(&e.value, &e.key)?),
                "packet-queue-size" => m.packet_queue_size = Some(self.u32(&e.value, &e.key)?),
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, "multi-threading")),
            }
        }
        Ok(m)
    }

    fn logger(&mut self, v: &Value) -> R<Logger> {
        const CTX: &str = "loggers";
        let mut name = None;
        let mut l = Logger {
            name: String::new(),
            severity: None,
            debuglevel: None,
            output_options: Vec::new(),
        };
        for e in map(v)? {
            match e.key.as_str() {
                "name" => name = Some(string(&e.value)?),
                "severity" => l.severity = Some(string(&e.value)?),
                "debuglevel" => l.debuglevel = Some(self.u32(&e.value, &e.key)?),
                "output_options" => {
                    for o in list(&e.value)? {
                        let out = self.log_output(o)?;
                        l.output_options.push(out);
                    }
                }
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        let Some(name) = name else {
            return Err(missing(v, "name", CTX));
        };
        l.name = name;
        Ok(l)
    }

    fn log_output(&mut self, v: &Value) -> R<LogOutput> {
        const CTX: &str = "output_options";
        let mut o = LogOutput {
            output: String::new(),
            maxsize: None,
            maxver: None,
            flush: None,
            pattern: None,
        };
        let mut output = None;
        for e in map(v)? {
            let val = &e.value;
            match e.key.as_str() {
                "output" => output = Some(string(val)?),
                "maxsize" => {
                    let i = val.as_i64().ok_or_else(|| expecting(val, "integer"))?;
                    o.maxsize = Some(u64::try_from(i).unwrap_or(0));
                }
                "maxver" => o.maxver = Some(self.u32(val, &e.key)?),
                "flush" => o.flush = Some(boolean(val)?),
                "pattern" => o.pattern = Some(string(val)?),
                k if META.contains(&k) => {}
                _ => return Err(unknown(e, CTX)),
            }
        }
        let Some(output) = output else {
            return Err(missing(v, "output", CTX));
        };
        o.output = output;
        Ok(o)
    }

    fn expired(&mut self, v: &Value) -> R<ExpiredLeasesProcessing> {
        let mut x = ExpiredLeasesProcessing::default();
        for e in map(v)? {
            let slot = match e.key.as_str() {
                "reclaim-timer-wait-time" => &mut x.reclaim_timer_wait_time,
                "flush-reclaimed-timer-wait-time" => &mut x.flush_reclaimed_timer_wait_time,
                "hold-reclaimed-time" => &mut x.hold_reclaimed_time,
                "max-reclaim-leases" => &mut x.max_reclaim_leases,
                "max-reclaim-time" => &mut x.max_reclaim_time,
                "unwarned-reclaim-cycles" => &mut x.unwarned_reclaim_cycles,
                k if META.contains(&k) => continue,
                _ => return Err(unknown(e, "expired-leases-processing")),
            };
            *slot = Some(self.u32(&e.value, &e.key)?);
        }
        Ok(x)
    }
}

fn parse_prefix(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let Some((a, l)) = text.split_once('/') else {
        return Err(format!(
            "Invalid subnet syntax (prefix/len expected):{text}"
        ));
    };
    let addr: Ipv4Addr = a
        .trim()
        .parse()
        .map_err(|_| format!("Failed to convert string to address '{a}': Invalid argument"))?;
    let len: u8 = l
        .trim()
        .parse()
        .ok()
        .filter(|n| *n <= 32)
        .ok_or_else(|| format!("Invalid prefix length specified for subnet: {l}"))?;
    Ok((addr, len))
}

fn parse_pool(text: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if let Some((a, l)) = text.split_once('/') {
        let a: Ipv4Addr = a.trim().parse().ok()?;
        let len: u8 = l.trim().parse().ok().filter(|n| *n <= 32)?;
        let first = mask(u32::from(a), len);
        let last = first | !mask(u32::MAX, len);
        return Some((Ipv4Addr::from(first), Ipv4Addr::from(last)));
    }
    let (a, b) = text.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Cross-subnet checks and id assignment, after the document read without error.
fn validate(d: &mut Dhcp4, warnings: &mut Vec<Warning>) -> R<()> {
    let g = &d.timers;
    if let (Some(min), Some(valid)) = (g.min_valid_lifetime, g.valid_lifetime)
        && min > valid
    {
        return Err(semantic(
            None,
            format!(
                "the value of min-valid-lifetime ({min}) is not less than (default) \
                 valid-lifetime ({valid})"
            ),
        ));
    }
    if let (Some(max), Some(valid)) = (g.max_valid_lifetime, g.valid_lifetime)
        && max < valid
    {
        return Err(semantic(
            None,
            format!(
                "the value of (default) valid-lifetime ({valid}) is not less than \
                 max-valid-lifetime ({max})"
            ),
        ));
    }
    let mut ids = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for s in &d.subnets {
        if s.id != 0 && !ids.insert(s.id) {
            return Err(semantic(
                Some(&s.span),
                format!("ID of the new IPv4 subnet '{}' is already in use", s.id),
            ));
        }
        if !prefixes.insert((s.prefix, s.len)) {
            return Err(semantic(
                Some(&s.span),
                format!(
                    "subnet with the prefix of '{}/{}' already exists",
                    s.prefix, s.len
                ),
            ));
        }
    }
    let mut next = 1u32;
    for s in &mut d.subnets {
        if s.id == 0 {
            while ids.contains(&next) {
                next = next.saturating_add(1);
            }
            s.id = next;
            ids.insert(next);
        }
    }
    let global = d.timers.clone();
    for s in &d.subnets {
        let t = s.timers.inherit(&global);
        if let (Some(t1), Some(t2)) = (t.renew_timer, t.rebind_timer)
            && t1 > t2
        {
            return Err(semantic(
                Some(&s.span),
                format!(
                    "subnet configuration failed: the value of renew-timer ({t1}) is greater \
                     than the value of rebind-timer ({t2})"
                ),
            ));
        }
        let valid = t.valid_lifetime.unwrap_or(DEFAULT_VALID_LIFETIME);
        if let Some(t2) = t.rebind_timer
            && t2 > valid
        {
            warnings.push(Warning {
                span: s.span.clone(),
                message: format!(
                    "subnet {}: rebind-timer ({t2}) is greater than valid-lifetime ({valid}); \
                     clients will not rebind",
                    s.id
                ),
                key: Some("rebind-timer".into()),
            });
        }
        let mut hw = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for r in &s.reservations {
            let (what, bytes) = match &r.id {
                HostId::HwAddress(b) => ("HW address", b),
                HostId::ClientId(b) => ("client-id", b),
            };
            let hex = bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            if !hw.insert(r.id.clone()) {
                return Err(semantic(
                    Some(&r.span),
                    format!(
                        "failed to add new host using the {what} '{hex}' to the IPv4 subnet id \
                         '{}' as this host has already been added",
                        s.id
                    ),
                ));
            }
            if let Some(a) = r.ip_address {
                if !s.contains(a) {
                    return Err(semantic(
                        Some(&r.span),
                        format!(
                            "specified reservation '{a}' is not within the IPv4 subnet '{}/{}'",
                            s.prefix, s.len
                        ),
                    ));
                }
                if !addrs.insert(a) {
                    return Err(semantic(
                        Some(&r.span),
                        format!(
                            "failed to add new host using the {what} '{hex}' to the IPv4 subnet \
                             id '{}' for the address {a}: There's already a reservation for \
                             this address",
                            s.id
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
