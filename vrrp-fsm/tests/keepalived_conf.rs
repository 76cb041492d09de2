//! The keepalived.conf reader: the samples keepalived 2.2.7 ships (tests/data/keepalived/, with
//! what `keepalived -t` says of each), errors with line and column, includes, conditional lines,
//! parameters, and arbitrary input.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;
use vrrp_fsm::keepalived::{
    ConfigError, ErrorKind, Includes, InitialState, NoIncludes, Options, Parsed, parse,
};

fn read(text: &str) -> Result<Parsed, ConfigError> {
    parse(
        text,
        "keepalived.conf",
        &mut NoIncludes,
        &Options::default(),
    )
}

fn err_at(text: &str) -> (usize, usize, ErrorKind) {
    let e = read(text).expect_err("must be rejected");
    (e.pos.line, e.pos.column, e.kind)
}

/// Every sample keepalived ships: accepted with the VRRP objects it holds, or refused for the
/// one thing hakit does not do (IPsec AH authentication), naming the line.
#[test]
fn keepalived_samples() {
    // (file, instances, scripts, sync groups); keepalived -t accepts all of them (or fails only
    // on interfaces missing on the test machine).
    let expect: &[(&str, usize, usize, usize)] = &[
        ("keepalived.conf.HTTP_GET.port", 0, 0, 0),
        ("keepalived.conf.IPv6", 0, 0, 0),
        ("keepalived.conf.PING_CHECK", 0, 0, 0),
        ("keepalived.conf.SMTP_CHECK", 0, 0, 0),
        ("keepalived.conf.UDP_CHECK", 0, 0, 0),
        ("keepalived.conf.conditional_conf", 1, 0, 0),
        ("keepalived.conf.conntrackd-primary-backup", 2, 0, 1),
        ("keepalived.conf.fwmark", 0, 0, 0),
        ("keepalived.conf.inhibit", 0, 0, 0),
        ("keepalived.conf.misc_check", 0, 0, 0),
        ("keepalived.conf.misc_check_arg", 0, 0, 0),
        ("keepalived.conf.quorum", 0, 0, 0),
        ("keepalived.conf.sample", 1, 0, 0),
        ("keepalived.conf.status_code", 0, 0, 0),
        ("keepalived.conf.track_interface", 1, 0, 0),
        ("keepalived.conf.virtual_server_group", 0, 0, 0),
        ("keepalived.conf.virtualhost", 0, 0, 0),
        ("keepalived.conf.vrrp", 4, 0, 0),
        ("keepalived.conf.vrrp.localcheck", 9, 5, 0),
        ("keepalived.conf.vrrp.lvs_syncd", 3, 0, 0),
        ("keepalived.conf.vrrp.routes", 1, 0, 0),
        ("keepalived.conf.vrrp.rules", 1, 0, 0),
        ("keepalived.conf.vrrp.scripts", 3, 0, 1),
        ("keepalived.conf.vrrp.static_ipaddress", 1, 0, 0),
        ("keepalived.conf.vrrp.sync", 9, 0, 2),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keepalived");
    for &(file, inst, scripts, groups) in expect {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let p = parse(&text, file, &mut NoIncludes, &Options::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = &p.config;
        assert_eq!(
            (c.instances.len(), c.scripts.len(), c.sync_groups.len()),
            (inst, scripts, groups),
            "{file}"
        );
        // LVS blocks are named as unsupported, with their line.
        if text.contains("\nvirtual_server ") {
            assert!(
                p.warnings
                    .iter()
                    .any(|w| w.message.contains("virtual_server is not supported")),
                "{file}: {:?}",
                p.warnings
            );
        }
    }
    // The one sample that asks for IPsec AH is refused at the auth_type line.
    let text = std::fs::read_to_string(format!("{dir}/keepalived.conf.SSL_GET")).unwrap();
    let e = parse(&text, "SSL_GET", &mut NoIncludes, &Options::default()).unwrap_err();
    assert_eq!((e.pos.line, e.pos.column), (20, 19));
    assert!(matches!(e.kind, ErrorKind::Unsupported(ref m) if m.contains("AH")));
}

/// The warnings keepalived -t prints for conntrack-tools' primary-backup sample, same lines.
#[test]
fn warnings_match_keepalived() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keepalived");
    let text = std::fs::read_to_string(format!("{dir}/keepalived.conf.conntrackd-primary-backup"))
        .unwrap();
    let p = parse(&text, "f", &mut NoIncludes, &Options::default()).unwrap();
    let lines: Vec<(usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.pos.line, w.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (17, "(VI_1) unknown state 'SLAVE', defaulting to BACKUP"),
            (23, "Truncating auth_pass to 8 characters"),
            (32, "(VI_2) unknown state 'SLAVE', defaulting to BACKUP"),
            (38, "Truncating auth_pass to 8 characters"),
        ]
    );
    let vi = &p.config.instances[0];
    assert_eq!(vi.authentication.as_ref().unwrap().pass, b"papas_co");
    assert_eq!(vi.version, 2);
    assert_eq!(vi.advert_int, Duration::from_secs(3));
    let g = &p.config.sync_groups[0];
    assert_eq!(g.group, ["VI_1", "VI_2"]);
    assert_eq!(
        g.notify.master.as_deref(),
        Some("/etc/conntrackd/primary-backup.sh primary")
    );
}

const FULL: &str = r#"
global_defs {
   router_id r1
   vrrp_garp_master_delay 2
   vrrp_garp_master_repeat 3
   vrrp_garp_master_refresh 60
   enable_script_security
   script_user nobody nogroup
   vrrp_rt_priority 50
   vrrp_check_unicast_src
   vrrp_version 3
   notification_email { ops@example.invalid }
}
vrrp_script chk_up {
   script "/usr/bin/test -e /run/up"
   interval 0.5
   timeout 2
   weight -20
   rise 2
   fall 3
}
vrrp_instance LAN {
   state MASTER
   interface eth0
   virtual_router_id 51
   priority 200
   advert_int 0.01
   use_vmac
   vmac_xmit_base
   nopreempt
   preempt_delay 5.5
   accept
   unicast_src_ip 192.0.2.11
   unicast_peer {
      192.0.2.12
      192.0.2.13 min_ttl 250 max_ttl 255
   }
   virtual_ipaddress {
      192.0.2.1/24 dev eth0 label eth0:1
      192.0.2.2 brd 192.0.2.255 scope global no_track
   }
   virtual_ipaddress_excluded {
      2001:db8::1/64
   }
   v3_checksum_as_v2
   track_interface {
      eth1 weight -30
      eth2
   }
   track_script {
      chk_up
   }
   notify_master "/etc/hakit/notify.sh master"
   notify_backup /etc/hakit/notify.sh backup
   notify /etc/hakit/notify-all.sh
   garp_master_delay 1
   lower_prio_no_advert
   down_timer_adverts 5
}
vrrp_instance V6
{
   interface eth0
   virtual_router_id 54
   use_vmac vrrp6.54
   virtual_ipaddress {
      fe80::54/64
      2001:db8::54/64
   }
}
vrrp_sync_group G {
   group {
      LAN V6
   }
   notify_master "/etc/hakit/g.sh"
}
"#;

#[test]
fn every_supported_keyword() {
    let p = read(FULL).unwrap();
    let c = &p.config;
    assert_eq!(c.global.router_id.as_deref(), Some("r1"));
    assert_eq!(c.global.garp_master_delay, Some(Duration::from_secs(2)));
    assert_eq!(c.global.garp_master_repeat, Some(3));
    assert_eq!(c.global.garp_master_refresh, Some(Duration::from_secs(60)));
    assert!(c.global.enable_script_security && c.global.vrrp_check_unicast_src);
    assert_eq!(c.global.rt_priority, Some(50));
    assert_eq!(
        c.global.script_user,
        Some(("nobody".into(), Some("nogroup".into())))
    );
    let s = &c.scripts[0];
    assert_eq!(s.script, "/usr/bin/test -e /run/up");
    assert_eq!(
        (s.interval, s.timeout, s.weight, s.rise, s.fall),
        (
            Duration::from_millis(500),
            Some(Duration::from_secs(2)),
            -20,
            2,
            3
        )
    );
    let vi = &c.instances[0];
    assert_eq!(vi.state, Some(InitialState::Master));
    assert_eq!(
        (vi.interface.as_str(), vi.vrid, vi.priority),
        ("eth0", 51, 200)
    );
    assert_eq!(vi.advert_int, Duration::from_millis(10));
    assert_eq!(vi.version, 3, "from vrrp_version");
    assert_eq!(vi.use_vmac.as_deref(), Some("vrrp.51"));
    assert!(vi.vmac_xmit_base && vi.nopreempt && vi.v3_checksum_as_v2);
    assert_eq!(vi.preempt_delay, Duration::from_millis(5500));
    assert_eq!(vi.accept, Some(true));
    assert_eq!(vi.src_ip, Some("192.0.2.11".parse().unwrap()));
    assert_eq!(vi.unicast_peers.len(), 2);
    assert_eq!(vi.unicast_peers[1].ttl, Some((250, 255)));
    let v = &vi.virtual_ipaddress;
    assert_eq!(v[0].addr, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(
        (v[0].prefix, v[0].dev.as_deref(), v[0].label.as_deref()),
        (24, Some("eth0"), Some("eth0:1"))
    );
    assert_eq!(v[1].prefix, 32);
    assert!(v[1].no_track);
    assert_eq!(v[1].broadcast, Some("192.0.2.255".parse().unwrap()));
    assert_eq!(vi.virtual_ipaddress_excluded[0].prefix, 64);
    assert_eq!(vi.track_interface[0].weight, Some(-30));
    assert_eq!(vi.track_interface[1].weight, None);
    assert_eq!(vi.track_script[0].name, "chk_up");
    assert_eq!(
        vi.notify.master.as_deref(),
        Some("/etc/hakit/notify.sh master")
    );
    assert_eq!(
        vi.notify.backup.as_deref(),
        Some("/etc/hakit/notify.sh backup")
    );
    assert_eq!(vi.notify.any.as_deref(), Some("/etc/hakit/notify-all.sh"));
    assert_eq!(vi.garp_master_delay, Some(Duration::from_secs(1)));
    assert_eq!(vi.garp_master_repeat, Some(3), "inherited from global_defs");
    assert!(vi.lower_prio_no_advert);
    assert_eq!(vi.down_timer_adverts, 5);
    let v6 = &c.instances[1];
    assert_eq!(v6.use_vmac.as_deref(), Some("vrrp6.54"));
    assert_eq!(v6.state, None, "no state line");
    assert_eq!(v6.priority, 100);
    assert_eq!(c.sync_groups[0].group, ["LAN", "V6"]);
    // notification_email is accepted with a warning, not an error.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("notification_email"))
    );
}

#[test]
fn wrong_values_are_errors_with_line_and_column() {
    let inst = |body: &str| {
        format!("vrrp_instance VI {{\n interface eth0\n virtual_router_id 1\n{body}\n}}\n")
    };
    let cases: &[(&str, usize, usize)] = &[
        (" priority 256", 4, 11),
        (" priority 0", 4, 11),
        (" advert_int 0.001", 4, 13),
        (" advert_int fast", 4, 13),
        (" version 4", 4, 10),
        (" preempt_delay -1", 4, 16),
        (" unicast_src_ip 192.0.2.300", 4, 17),
        (" virtual_ipaddress {\n  192.0.2.1/33\n }", 5, 3),
        (" virtual_ipaddress {\n  192.0.2.1 dev\n }", 5, 13),
        (" virtual_ipaddress {\n  192.0.2.1 bogus x\n }", 5, 13),
        (" track_interface {\n  eth1 weight 300\n }", 5, 15),
        (" down_timer_adverts 0", 4, 21),
        (" v3_checksum_as_v2 maybe", 4, 20),
        (
            " authentication {\n  auth_type MD5\n  auth_pass x\n }",
            5,
            13,
        ),
    ];
    for &(body, line, col) in cases {
        let (l, c, kind) = err_at(&inst(body));
        assert_eq!((l, c), (line, col), "{body:?}: {kind}");
    }
    let (l, c, k) = err_at("vrrp_instance VI {\n interface eth0\n virtual_router_id 256\n}\n");
    assert_eq!((l, c), (3, 20));
    assert!(
        matches!(k, ErrorKind::WrongValue { ref keyword, .. } if keyword == "virtual_router_id")
    );
    // Missing required keywords name the block.
    let (l, _, k) = err_at("\nvrrp_instance VI {\n interface eth0\n}\n");
    assert_eq!(l, 2);
    assert!(matches!(
        k,
        ErrorKind::Missing {
            keyword: "virtual_router_id",
            ..
        }
    ));
    // Structure.
    assert!(matches!(
        err_at("vrrp_instance VI {\n").2,
        ErrorKind::UnclosedBlock
    ));
    assert_eq!(err_at("}\n").2, ErrorKind::UnexpectedClose);
    assert_eq!(
        err_at("global_defs {\n router_id \"r1\n}\n").2,
        ErrorKind::UnterminatedQuote
    );
    assert!(matches!(
        err_at(
            "vrrp_instance A {\n interface e\n virtual_router_id 1\n}\nvrrp_instance A {\n interface e\n virtual_router_id 2\n}\n"
        ),
        (5, 1, ErrorKind::Duplicate { .. })
    ));
    // vrrp_strict turns RFC rules into errors.
    let strict = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface e\n virtual_router_id 1\n unicast_peer {\n  192.0.2.2\n }\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    assert!(matches!(err_at(strict).2, ErrorKind::Unsupported(ref m) if m.contains("unicast")));
}

#[test]
fn unknown_keywords_are_warnings_with_their_line() {
    let p = read("bogus_top 1\nvrrp_instance VI {\n interface eth0\n virtual_router_id 9\n frobnicate yes\n}\n").unwrap();
    let w: Vec<(usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.pos.line, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (1, "unknown keyword 'bogus_top'"),
            (5, "(VI) unknown keyword 'frobnicate'")
        ]
    );
    assert_eq!(p.config.instances[0].vrid, 9);
}

struct MapIncludes(HashMap<&'static str, &'static str>);

impl Includes for MapIncludes {
    fn include(&mut self, pattern: &str, _from: &str) -> Result<Vec<(String, String)>, String> {
        if let Some(prefix) = pattern.strip_suffix('*') {
            let mut v: Vec<_> = self
                .0
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, t)| (k.to_string(), t.to_string()))
                .collect();
            v.sort();
            return Ok(v);
        }
        self.0
            .get(pattern)
            .map(|t| vec![(pattern.to_owned(), t.to_string())])
            .ok_or_else(|| "No such file or directory".to_owned())
    }
}

#[test]
fn includes_conditionals_and_parameters() {
    let mut inc = MapIncludes(HashMap::from([
        (
            "/etc/keepalived/conf.d/a.conf",
            "vrrp_instance A {\n interface $IF\n virtual_router_id 1\n}\n",
        ),
        (
            "/etc/keepalived/conf.d/b.conf",
            "vrrp_instance B {\n interface ${IF}\n virtual_router_id 2\n bad_key\n}\n",
        ),
        (
            "/etc/keepalived/loop.conf",
            "include /etc/keepalived/loop.conf\n",
        ),
    ]));
    let main = "$IF=eth7\ninclude /etc/keepalived/conf.d/*\n@r1 vrrp_instance C {\n@r1  interface eth0\n@r1  virtual_router_id 3\n@r1 }\n@^r1 global_defs {\n@^r1 router_id other\n@^r1 }\n";
    let opts = Options {
        config_id: Some("r1".into()),
    };
    let p = parse(main, "main.conf", &mut inc, &opts).unwrap();
    let names: Vec<_> = p
        .config
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.interface.as_str()))
        .collect();
    assert_eq!(names, [("A", "eth7"), ("B", "eth7"), ("C", "eth0")]);
    assert_eq!(p.config.global.router_id, None);
    // The warning names the included file and its line.
    assert_eq!(p.warnings[0].pos.file, "/etc/keepalived/conf.d/b.conf");
    assert_eq!(p.warnings[0].pos.line, 4);
    // Another config id takes the other lines.
    let opts = Options {
        config_id: Some("r2".into()),
    };
    let p = parse(main, "main.conf", &mut inc, &opts).unwrap();
    assert_eq!(p.config.instances.len(), 2);
    assert_eq!(p.config.global.router_id.as_deref(), Some("other"));
    // A missing file and an include loop are errors at the include line.
    let e = parse("\ninclude /nope.conf\n", "m", &mut inc, &Options::default()).unwrap_err();
    assert_eq!(e.pos.line, 2);
    assert!(matches!(e.kind, ErrorKind::Include { .. }));
    let e = parse(
        "include /etc/keepalived/loop.conf\n",
        "m",
        &mut inc,
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::IncludeDepth(_)));
}

proptest! {
    /// Arbitrary text never panics the reader.
    #[test]
    fn arbitrary_text_never_panics(s in "[a-z_0-9 {}\"#!@$=./:\n\t-]{0,300}") {
        let _ = read(&s);
    }

    /// Generated instances read back with the values written.
    #[test]
    fn generated_instances_read_back(
        vrid in 1u8..=255, prio in 1u8..=255, cs in 1u32..=25500, v3 in any::<bool>(),
        octet in 1u8..=254, prefix in 0u8..=32,
    ) {
        let secs = format!("{}.{:02}", cs / 100, cs % 100);
        let text = format!(
            "vrrp_instance VI_{vrid} {{\n interface eth0\n virtual_router_id {vrid}\n priority {prio}\n \
             advert_int {secs}\n version {}\n virtual_ipaddress {{\n  192.0.2.{octet}/{prefix}\n }}\n}}\n",
            if v3 { 3 } else { 2 }
        );
        let p = read(&text).unwrap();
        let vi = &p.config.instances[0];
        prop_assert_eq!((vi.vrid, vi.priority), (vrid, prio));
        let d = Duration::from_millis(u64::from(cs) * 10);
        if v3 {
            prop_assert_eq!(vi.advert_int, d);
        } else {
            prop_assert_eq!(vi.advert_int.subsec_nanos(), 0);
        }
        prop_assert_eq!(vi.virtual_ipaddress[0].prefix, prefix);
    }
}
