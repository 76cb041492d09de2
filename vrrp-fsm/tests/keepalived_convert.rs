//! keepalived.conf → runnable instances (`vrrp_fsm::keepalived::convert`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vrrp_fsm::InitialState;
use vrrp_fsm::keepalived::{
    ConvertErrorKind, NoIncludes, Options, Runnable, VmacPlan, convert, parse,
};
use vrrp_proto::{Auth, ChecksumMode, Family, Version};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn addr(ifname: &str, f: Family) -> Option<IpAddr> {
    match (ifname, f) {
        ("eth0", Family::Ipv4) => Some(V4),
        ("eth0", Family::Ipv6) => Some(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))),
        _ => None,
    }
}

fn run(text: &str) -> Result<Runnable, vrrp_fsm::keepalived::ConvertError> {
    let p = parse(text, "k.conf", &mut NoIncludes, &Options::default()).expect("parses");
    convert(&p.config, &mut addr)
}

#[test]
fn full_instance() {
    let r = run(
        "global_defs {\n vrrp_check_unicast_src\n vrrp_startup_delay 2\n}\n\
        vrrp_script chk {\n script \"/bin/true\"\n weight -20\n}\n\
        vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n\
         priority 200\n version 2\n advert_int 2\n use_vmac\n vmac_xmit_base\n no_accept\n\
         unicast_src_ip 192.0.2.11\n unicast_peer {\n  192.0.2.12\n }\n\
         authentication {\n  auth_type PASS\n  auth_pass secret\n }\n\
         virtual_ipaddress {\n  192.0.2.100/24 dev eth1 label eth1:1\n  192.0.2.101\n }\n\
         virtual_ipaddress_excluded {\n  198.51.100.1/24\n }\n\
         track_interface {\n  eth1 weight 10\n  eth2\n }\n track_script {\n  chk\n }\n\
         notify_master \"/bin/m\"\n garp_master_delay 1\n garp_master_repeat 3\n\
         lower_prio_no_advert\n down_timer_adverts 5\n}\n",
    )
    .unwrap();
    let vi = &r.instances[0];
    let c = &vi.config;
    assert_eq!((c.vrid, c.priority, c.version), (51, 200, Version::V2));
    assert_eq!(c.advert_interval, Duration::from_secs(2));
    assert_eq!(c.src_addr, "192.0.2.11".parse::<IpAddr>().unwrap());
    assert_eq!(
        c.unicast_peers,
        vec!["192.0.2.12".parse::<IpAddr>().unwrap()]
    );
    assert!(c.check_unicast_src && !c.accept_mode && c.preempt && c.lower_prio_no_advert);
    assert_eq!(c.auth, Auth::password(b"secret"));
    assert_eq!(c.initial_state, Some(InitialState::Master));
    assert_eq!(c.startup_delay, Duration::from_secs(2));
    assert_eq!(c.down_timer_adverts, 5);
    assert_eq!(
        (c.garp_master_delay, c.garp_master_repeat),
        (Duration::from_secs(1), 3)
    );
    assert_eq!(c.vips.len(), 2);
    assert_eq!(
        vi.vmac,
        Some(VmacPlan {
            name: "vrrp.51".into(),
            xmit_base: true
        })
    );
    assert_eq!(vi.xmit_interface(), "eth0");
    assert_eq!(vi.vips[0].dev, "eth1");
    assert_eq!(vi.vips[0].label.as_deref(), Some("eth1:1"));
    assert_eq!(vi.vips[1].dev, "vrrp.51", "VIPs go on the VMAC by default");
    assert_eq!((vi.vips[1].prefix, vi.excluded[0].prefix), (32, 24));
    assert_eq!(vi.track_interface[0].weight, Some(10));
    assert_eq!(vi.track_interface[1].weight, None);
    assert_eq!(vi.track_script[0].weight, -20);
    assert_eq!(vi.track_script[0].script.script, "/bin/true");
    assert_eq!(vi.notify.master.as_deref(), Some("/bin/m"));
}

#[test]
fn defaults_and_source_from_interface() {
    let r = run(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 7\n version 3\n\
         v3_checksum_as_v2\n virtual_ipaddress {\n  192.0.2.7/24\n }\n}\n\
         vrrp_instance B {\n interface eth0\n virtual_router_id 8\n\
         virtual_ipaddress {\n  fe80::8\n  2001:db8::8/64\n }\n}\n",
    )
    .unwrap();
    let a = &r.instances[0].config;
    assert_eq!(a.src_addr, V4);
    assert_eq!(a.checksum, ChecksumMode::VrrpOnly);
    assert!(a.accept_mode && a.preempt);
    assert_eq!(a.initial_state, None);
    assert_eq!(r.instances[0].vips[0].dev, "eth0");
    let b = &r.instances[1].config;
    assert_eq!(b.family(), vrrp_proto::Family::Ipv6);
    assert!(matches!(b.src_addr, IpAddr::V6(a) if a.is_unicast_link_local()));
    assert_eq!(b.version, Version::V3, "IPv6 forces VRRPv3");
}

#[test]
fn owner_without_state_starts_as_owner() {
    let r = run(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 7\n priority 255\n\
         virtual_ipaddress {\n  192.0.2.7\n }\n}\n",
    )
    .unwrap();
    assert_eq!(r.instances[0].config.initial_state, None);
    // An explicit `state BACKUP` holds even the owner in Backup, as keepalived does.
    let r = run(
        "vrrp_instance A {\n state BACKUP\n interface eth0\n virtual_router_id 7\n priority 255\n\
         virtual_ipaddress {\n  192.0.2.7\n }\n}\n",
    )
    .unwrap();
    assert_eq!(
        r.instances[0].config.initial_state,
        Some(InitialState::Backup)
    );
}

#[test]
fn sync_groups() {
    let r = run("vrrp_sync_group G {\n group {\n  A\n  B\n }\n notify \"/bin/n\"\n}\n\
         vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.7\n }\n}\n\
         vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  192.0.2.8\n }\n}\n\
         vrrp_instance C {\n interface eth0\n virtual_router_id 3\n virtual_ipaddress {\n  192.0.2.9\n }\n}\n")
    .unwrap();
    assert_eq!(r.groups[0].members, vec![0, 1]);
    assert_eq!(r.groups[0].notify.any.as_deref(), Some("/bin/n"));
    assert_eq!((r.group_of(1), r.group_of(2)), (Some(0), None));
}

#[test]
fn errors_carry_the_instance_position() {
    // No address on eth9.
    let e = run(
        "\nvrrp_instance X {\n interface eth9\n virtual_router_id 1\n\
         virtual_ipaddress {\n  192.0.2.7\n }\n}\n",
    )
    .unwrap_err();
    assert!(matches!(e.kind, ConvertErrorKind::NoSourceAddress { .. }));
    assert_eq!(e.pos.line, 2);
    assert!(
        e.to_string()
            .starts_with("k.conf:2:1: (X) no IPv4 source address"),
        "{e}"
    );

    // The state machine's own rules: nopreempt on the owner.
    let e = run(
        "vrrp_instance X {\n interface eth0\n virtual_router_id 1\n priority 255\n nopreempt\n\
         virtual_ipaddress {\n  192.0.2.7\n }\n}\n",
    )
    .unwrap_err();
    assert!(matches!(e.kind, ConvertErrorKind::Config(_)), "{e}");

    // No virtual address.
    let e = run("vrrp_instance X {\n interface eth0\n virtual_router_id 1\n}\n").unwrap_err();
    assert!(matches!(e.kind, ConvertErrorKind::Config(_)), "{e}");

    // Same VRID twice on one interface.
    let e = run("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.7\n }\n}\n\
         vrrp_instance B {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.8\n }\n}\n")
    .unwrap_err();
    assert_eq!(e.kind, ConvertErrorKind::Clash("A".into()));
    assert_eq!(e.name, "B");
}
