//! vmac against the real kernel, each test in its own network namespaces (deleted on every
//! path). Needs root and iproute2; without them the tests fail with a message saying so.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Lab, NetNs};
use serde_json::Value;
use socket2::{Domain, Protocol, Socket, Type};
use vmac::sysctl::Sysctl;
use vmac::{
    AddrSpec, Announcer, Error, Event, EventSocket, Family, GarpKind, Groups, MacAddr, MacvlanMode,
    NaSpec, Netlink, OperState, StaleSpec, VmacSpec, announce,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The first object of an `ip -j` array.
fn first(v: &Value) -> &Value {
    &v.as_array().expect("ip -j prints an array")[0]
}

/// `(local, prefixlen, label)` of every address `ip -j addr show dev IF` lists.
fn ip_addrs(ns: &NetNs, dev: &str) -> BTreeSet<(String, u64, String)> {
    let v = ns.ip_json(&["addr", "show", "dev", dev]);
    first(&v)["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["local"].as_str().unwrap().to_owned(),
                a["prefixlen"].as_u64().unwrap(),
                a["label"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn vmac_v4_is_private_macvlan_with_vrrp_mac_and_no_link_local() {
    let lab = Lab::new("v4");
    let index = lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let parent = nl.link_by_name("p0").unwrap().expect("p0");
        let vm = nl
            .create_vmac(&VmacSpec::new(51, Family::V4, parent.index))
            .unwrap();
        assert_eq!(vm.link.name, "vrrp.51");
        assert_eq!(vm.mac, "00:00:5e:00:01:33".parse::<MacAddr>().unwrap());
        assert_eq!(vm.link.mac, Some(vm.mac));
        assert_eq!(vm.link.kind.as_deref(), Some("macvlan"));
        assert_eq!(vm.link.macvlan_mode, Some(MacvlanMode::Private));
        assert_eq!(vm.link.parent, Some(parent.index));
        assert_eq!(vm.link_local, None);
        assert!(!vm.link.is_up());

        nl.set_link_up(vm.link.index, true).unwrap();
        assert!(nl.link(vm.link.index).unwrap().is_up());
        // addr-gen-mode NONE: coming up added no link-local address.
        assert_eq!(nl.addresses_of(vm.link.index).unwrap(), vec![]);

        // The same request again: a typed kernel error naming the request.
        match nl.create_vmac(&VmacSpec::new(51, Family::V4, parent.index)) {
            Err(Error::Kernel { op, errno, .. }) => {
                assert_eq!(op, "RTM_NEWLINK macvlan vrrp.51 on p0");
                assert_eq!(errno, libc::EEXIST);
            }
            other => panic!("expected EEXIST, got {other:?}"),
        }
        // Refused before reaching the kernel.
        let e = nl
            .create_vmac(
                &VmacSpec::new(51, Family::V4, parent.index).with_name("way-too-long-name"),
            )
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        let e = nl
            .create_vmac(&VmacSpec::new(52, Family::V4, 999_999))
            .unwrap_err();
        assert!(matches!(e, Error::NoSuchLink(_)), "{e}");
        vm.link.index
    });

    // What iproute2 sees.
    let v = lab
        .router
        .ip_json(&["-d", "link", "show", "dev", "vrrp.51"]);
    let l = first(&v);
    assert_eq!(l["ifindex"].as_u64(), Some(u64::from(index)));
    assert_eq!(l["address"], "00:00:5e:00:01:33");
    assert_eq!(l["link"], "p0");
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], "private");
    assert_eq!(l["inet6_addr_gen_mode"], "none");
    assert_eq!(ip_addrs(&lab.router, "vrrp.51"), BTreeSet::new());

    lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        nl.delete_link(index).unwrap();
        assert_eq!(nl.link_by_name("vrrp.51").unwrap(), None);
    });
}

#[test]
fn vmac_v6_in_bridge_mode_gets_the_parents_link_local_only() {
    let lab = Lab::new("v6");
    let parent_ll = lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let parent = nl.link_by_name("p0").unwrap().expect("p0");
        // The parent's own link-local appears once its carrier is up.
        let deadline = Instant::now() + Duration::from_secs(3);
        let parent_ll = loop {
            if let Some(ll) = nl.link_local_of(parent.index).unwrap() {
                break ll;
            }
            assert!(
                Instant::now() < deadline,
                "p0 has no link-local address after 3 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let vm = nl
            .create_vmac(
                &VmacSpec::new(52, Family::V6, parent.index)
                    .with_name("vmac6")
                    .with_mode(MacvlanMode::Bridge),
            )
            .unwrap();
        assert_eq!(vm.mac.to_string(), "00:00:5e:00:02:34");
        assert_eq!(vm.link.macvlan_mode, Some(MacvlanMode::Bridge));
        assert_eq!(vm.link_local, Some(parent_ll));
        nl.set_link_up(vm.link.index, true).unwrap();
        let addrs: Vec<IpAddr> = nl
            .addresses_of(vm.link.index)
            .unwrap()
            .iter()
            .map(|a| a.addr)
            .collect();
        // The copied address and nothing else: no EUI-64 address of the shared VMAC.
        assert_eq!(addrs, vec![IpAddr::V6(parent_ll)]);
        parent_ll
    });
    let v = lab.router.ip_json(&["-d", "link", "show", "dev", "vmac6"]);
    assert_eq!(first(&v)["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(first(&v)["inet6_addr_gen_mode"], "none");
    assert_eq!(
        ip_addrs(&lab.router, "vmac6"),
        BTreeSet::from([(parent_ll.to_string(), 64, String::new())])
    );
}

#[test]
fn addresses_with_labels_are_added_and_removed() {
    let lab = Lab::new("addr");
    lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let p0 = nl.link_by_name("p0").unwrap().expect("p0");
        let vm = nl
            .create_vmac(&VmacSpec::new(51, Family::V4, p0.index))
            .unwrap();
        let vi = vm.link.index;
        nl.set_link_up(vi, true).unwrap();

        let vip = AddrSpec::new(ip("192.0.2.10"), 24).with_label("vrrp.51:vip");
        let on_parent = AddrSpec::new(ip("198.51.100.1"), 32).with_label("p0:10");
        let v6 = AddrSpec::new(ip("2001:db8::51"), 64);
        nl.add_address(vi, &vip).unwrap();
        nl.add_address(p0.index, &on_parent).unwrap();
        nl.add_address(vi, &v6).unwrap();

        let mine = nl.addresses_of(vi).unwrap();
        let a = mine
            .iter()
            .find(|a| a.addr == vip.addr)
            .expect("VIP listed");
        assert_eq!(
            (a.prefix_len, a.label.as_deref()),
            (24, Some("vrrp.51:vip"))
        );
        let a = mine
            .iter()
            .find(|a| a.addr == v6.addr)
            .expect("IPv6 VIP listed");
        assert_eq!(a.prefix_len, 64);
        assert!(!a.is_tentative(), "nodad: usable at once");
        let a = nl
            .addresses_of(p0.index)
            .unwrap()
            .into_iter()
            .find(|a| a.addr == on_parent.addr)
            .expect("parent address listed");
        assert_eq!(a.label.as_deref(), Some("p0:10"));

        // Adding again: EEXIST, naming the request.
        match nl.add_address(vi, &vip) {
            Err(e @ Error::Kernel { .. }) => {
                assert!(e.is_exists(), "{e}");
                let s = e.to_string();
                assert!(
                    s.starts_with("RTM_NEWADDR 192.0.2.10/24 label vrrp.51:vip on vrrp.51:"),
                    "{s}"
                );
            }
            other => panic!("expected EEXIST, got {other:?}"),
        }
        // A label that does not start with the interface name never reaches the kernel.
        let e = nl
            .add_address(vi, &AddrSpec::new(ip("192.0.2.11"), 24).with_label("p0:11"))
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    });

    let vm = ip_addrs(&lab.router, "vrrp.51");
    assert!(
        vm.contains(&("192.0.2.10".into(), 24, "vrrp.51:vip".into())),
        "{vm:?}"
    );
    assert!(
        vm.iter().any(|a| a.0 == "2001:db8::51" && a.1 == 64),
        "{vm:?}"
    );
    let p = ip_addrs(&lab.router, "p0");
    assert!(
        p.contains(&("198.51.100.1".into(), 32, "p0:10".into())),
        "{p:?}"
    );

    lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let vi = nl.link_by_name("vrrp.51").unwrap().unwrap().index;
        let p0 = nl.link_by_name("p0").unwrap().unwrap().index;
        nl.del_address(vi, ip("192.0.2.10"), 24).unwrap();
        nl.del_address(vi, ip("2001:db8::51"), 64).unwrap();
        nl.del_address(p0, ip("198.51.100.1"), 32).unwrap();
        assert!(nl.addresses_of(vi).unwrap().is_empty());
        let e = nl.del_address(vi, ip("192.0.2.10"), 24).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(
            e.to_string().contains(&format!("vrrp.51 (ifindex {vi})")),
            "{e}"
        );
    });
    assert!(ip_addrs(&lab.router, "vrrp.51").is_empty());
    assert!(
        !ip_addrs(&lab.router, "p0")
            .iter()
            .any(|a| a.0 == "198.51.100.1")
    );
}

#[test]
fn protodown_toggles() {
    let lab = Lab::new("pd");
    let vi = lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let p0 = nl.link_by_name("p0").unwrap().unwrap();
        let vm = nl
            .create_vmac(&VmacSpec::new(60, Family::V4, p0.index))
            .unwrap();
        nl.set_link_up(vm.link.index, true).unwrap();
        nl.set_protodown(vm.link.index, true).unwrap();
        let l = nl.link(vm.link.index).unwrap();
        assert!(l.protodown);
        assert!(!l.has_carrier(), "protodown holds the carrier off");
        // A veth has no protodown: the kernel's extended-ack reason comes back with the errno.
        match nl.set_protodown(p0.index, true) {
            Err(Error::Kernel { op, errno, message }) => {
                assert_eq!(
                    op,
                    format!("RTM_NEWLINK p0 (ifindex {}) protodown on", p0.index)
                );
                assert_eq!(errno, libc::EOPNOTSUPP);
                assert!(message.is_some_and(|m| m.contains("Protodown")));
            }
            other => panic!("expected EOPNOTSUPP, got {other:?}"),
        }
        vm.link.index
    });
    let v = lab
        .router
        .ip_json(&["-d", "link", "show", "dev", "vrrp.60"]);
    assert_eq!(first(&v)["proto_down"], true);
    lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        nl.set_protodown(vi, false).unwrap();
        assert!(!nl.link(vi).unwrap().protodown);
    });
    let v = lab
        .router
        .ip_json(&["-d", "link", "show", "dev", "vrrp.60"]);
    assert_ne!(first(&v).get("proto_down"), Some(&Value::Bool(true)));
}

#[test]
fn sysctl_recipe_and_all_rp_filter() {
    let lab = Lab::new("sysctl");
    lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let p0 = nl.link_by_name("p0").unwrap().unwrap();
        let vm = nl
            .create_vmac(&VmacSpec::new(51, Family::V4, p0.index))
            .unwrap();
        let s = Sysctl::new();
        // This namespace's `all` (sysctls are per namespace): make it override the recipe.
        s.write(Family::V4, "all", "rp_filter", 1).unwrap();
        s.write(Family::V4, "p0", "arp_ignore", 0).unwrap();
        let r = s.apply_vmac_recipe("vrrp.51", "p0", Family::V4).unwrap();
        let cat = |path: &str| common::run("cat", &[path]).trim().to_owned();
        for (key, v) in [
            ("accept_local", "1"),
            ("arp_ignore", "1"),
            ("rp_filter", "0"),
            ("promote_secondaries", "1"),
        ] {
            assert_eq!(
                cat(&format!("/proc/sys/net/ipv4/conf/vrrp.51/{key}")),
                v,
                "{key}"
            );
        }
        assert_eq!(cat("/proc/sys/net/ipv4/conf/p0/arp_ignore"), "1");
        assert_eq!(cat("/proc/sys/net/ipv4/conf/p0/arp_filter"), "1");
        assert_eq!(cat("/proc/sys/net/ipv6/conf/vrrp.51/accept_ra"), "0");
        assert_eq!(cat("/proc/sys/net/ipv6/conf/vrrp.51/autoconf"), "0");
        assert_eq!(r.vmac.rp_filter, 1, "all/rp_filter = 1 wins");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.ifname == "vrrp.51" && w.key == "rp_filter"),
            "{:?}",
            r.warnings
        );
        assert!(
            r.parent_saved
                .iter()
                .any(|s| s.path.ends_with("p0/arp_ignore") && s.value == 0)
        );

        let saved = s.clear_all_rp_filter().unwrap();
        assert_eq!(cat("/proc/sys/net/ipv4/conf/all/rp_filter"), "0");
        assert_eq!(cat("/proc/sys/net/ipv4/conf/p0/rp_filter"), "1");
        // The VMAC was raised like every interface; the recipe puts its 0 back.
        let r = s.apply_vmac_recipe("vrrp.51", "p0", Family::V4).unwrap();
        assert_eq!(r.vmac.rp_filter, 0);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        s.restore(&saved).unwrap();
        assert_eq!(cat("/proc/sys/net/ipv4/conf/all/rp_filter"), "1");
        let _ = vm;
    });
}

/// Captures frames on the peer's `p1` until every wanted frame arrived or 3 s passed.
fn capture_on_peer(lab: &Lab, wanted: &[Vec<u8>], send: impl FnOnce() + Send) -> Vec<Vec<u8>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let peer = s.spawn(|| {
            lab.peer.enter();
            let eth_p_all = (libc::ETH_P_ALL as u16).to_be();
            let sock = Socket::new(
                Domain::PACKET,
                Type::RAW,
                Some(Protocol::from(i32::from(eth_p_all))),
            )
            .expect("AF_PACKET capture socket");
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut buf = [0u8; 2048];
            while Instant::now() < deadline && !wanted.iter().all(|w| got.contains(w)) {
                use std::io::Read;
                if let Ok(n) = (&sock).read(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            got
        });
        ready_rx.recv().expect("capture thread ready");
        lab.router.run(send);
        peer.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

#[test]
fn garp_and_unsolicited_na_reach_the_peer_from_the_vmac() {
    let lab = Lab::new("garp");
    let (vi, mac) = lab.router.run(|| {
        let mut nl = Netlink::open().unwrap();
        let p0 = nl.link_by_name("p0").unwrap().unwrap();
        let vm = nl
            .create_vmac(&VmacSpec::new(56, Family::V4, p0.index))
            .unwrap();
        nl.set_link_up(vm.link.index, true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while nl.link(vm.link.index).unwrap().operstate != OperState::Up {
            assert!(
                Instant::now() < deadline,
                "the VMAC is not operationally up after 3 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        (vm.link.index, vm.mac)
    });
    let vip = Ipv4Addr::new(192, 0, 2, 1);
    let vip6: Ipv6Addr = "2001:db8::56".parse().unwrap();
    let wanted = vec![
        announce::garp_request_frame(mac, vip).to_vec(),
        announce::garp_reply_frame(mac, vip).to_vec(),
        announce::unsolicited_na_frame(&NaSpec::new(mac, vip6).with_router(true)).to_vec(),
    ];
    let got = capture_on_peer(&lab, &wanted, || {
        let a = Announcer::open(vi).unwrap();
        a.send_garp(GarpKind::Request, mac, vip).unwrap();
        a.send_garp(GarpKind::Reply, mac, vip).unwrap();
        a.send_na(&NaSpec::new(mac, vip6).with_router(true))
            .unwrap();
    });
    for (w, what) in wanted
        .iter()
        .zip(["GARP request", "GARP reply", "unsolicited NA"])
    {
        assert!(
            got.contains(w),
            "{what} not captured on the peer; got {} frame(s)",
            got.len()
        );
    }
}

#[test]
fn events_for_link_and_address_changes() {
    let ns = NetNs::new("ev");
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0", "up"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.wait_oper_up("d0");
    ns.run(|| {
        let mut events = EventSocket::open(Groups::ALL).unwrap();
        assert!(events.try_recv().unwrap().is_empty(), "nothing queued yet");
        let mut nl = Netlink::open().unwrap();
        let d0 = nl.link_by_name("d0").unwrap().unwrap();
        let vm = nl
            .create_vmac(&VmacSpec::new(51, Family::V4, d0.index))
            .unwrap();
        let vi = vm.link.index;
        let v4 = ip("203.0.113.51");
        let v6 = ip("2001:db8::3");
        let classify = |e: &Event| -> Option<&'static str> {
            match e {
                Event::NewLink(l) if l.index == vi && l.name == "vrrp.51" => {
                    Some(if l.is_up() { "link up" } else { "link new" })
                }
                Event::NewAddress(a) if a.ifindex == vi && a.addr == v4 => Some("v4 added"),
                Event::NewAddress(a) if a.ifindex == vi && a.addr == v6 => Some("v6 added"),
                Event::DelAddress(a) if a.ifindex == vi && a.addr == v4 => Some("v4 removed"),
                Event::DelLink(l) if l.index == vi => Some("link deleted"),
                Event::Overrun => panic!("overrun with a 1 MiB buffer"),
                _ => None,
            }
        };
        let mut seen = BTreeSet::new();
        let mut log = Vec::new();
        let mut wait_for = |events: &mut EventSocket, want: &[&'static str]| {
            let deadline = Instant::now() + Duration::from_secs(3);
            while !want.iter().all(|w| seen.contains(w)) && Instant::now() < deadline {
                for e in events.recv_timeout(Duration::from_millis(200)).unwrap() {
                    log.push(format!("{e:?}"));
                    seen.extend(classify(&e));
                }
            }
            for w in want {
                assert!(seen.contains(w), "no {w:?} event within 3 s; got {log:#?}");
            }
        };

        nl.set_link_up(vi, true).unwrap();
        nl.add_address(vi, &AddrSpec::new(v4, 24)).unwrap();
        // A NODAD IPv6 address is usable at once, but the kernel announces it from its DAD
        // work queue, a moment later (and never, if the link is deleted first).
        nl.add_address(vi, &AddrSpec::new(v6, 64)).unwrap();
        wait_for(
            &mut events,
            &["link new", "link up", "v4 added", "v6 added"],
        );

        nl.del_address(vi, v4, 24).unwrap();
        nl.delete_link(vi).unwrap();
        wait_for(&mut events, &["v4 removed", "link deleted"]);

        // Drained: a non-blocking read returns at once with nothing.
        let t = Instant::now();
        while !events.try_recv().unwrap().is_empty() {}
        assert!(t.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn stale_vmacs_and_vips_of_a_crashed_run_are_removed() {
    let lab = Lab::new("stale");
    let r = &lab.router;
    for args in [
        // Stale: a VRRP MAC on p0.
        "link add vrrp.7 link p0 address 00:00:5e:00:01:07 type macvlan mode private",
        "link add vrrp.8 link p0 address 00:00:5e:00:02:08 type macvlan mode private",
        // Stale: a configured name (`use_vmac vip-web`) whatever its MAC.
        "link add vip-web link p0 address 02:11:22:33:44:55 type macvlan",
        // Kept: someone else's macvlan, a veth with a VRRP MAC, a VMAC on another parent.
        "link add mv-keep link p0 address 02:11:22:33:44:66 type macvlan",
        "link add veth-keep address 00:00:5e:00:01:0a type veth peer name vk-peer",
        "link add d1 type veth peer name d1-peer",
        "link add vrrp.9 link d1 address 00:00:5e:00:01:09 type macvlan",
        // VIPs: two stale, one kept; one stale VIP on a stale VMAC goes with it.
        "addr add 198.51.100.7/32 dev p0",
        "addr add 2001:db8::7/64 dev p0 nodad",
        "addr add 198.51.100.8/32 dev p0",
        "addr add 198.51.100.9/32 dev vrrp.7",
    ] {
        r.ip(&args.split(' ').collect::<Vec<_>>());
    }
    let (links, addrs) = r.run(|| {
        let mut nl = Netlink::open().unwrap();
        let p0 = nl.link_by_name("p0").unwrap().unwrap();
        let spec = StaleSpec {
            parents: vec![p0.index],
            names: vec!["vip-web".into()],
            vips: vec![ip("198.51.100.7"), ip("2001:db8::7"), ip("198.51.100.9")],
        };
        let c = nl.cleanup_stale(&spec).unwrap();
        // Idempotent: a second pass finds nothing.
        let again = nl.cleanup_stale(&spec).unwrap();
        assert!(
            again.links.is_empty() && again.addresses.is_empty(),
            "{again:?}"
        );
        (
            c.links.into_iter().map(|l| l.name).collect::<BTreeSet<_>>(),
            c.addresses
                .into_iter()
                .map(|a| a.addr)
                .collect::<BTreeSet<_>>(),
        )
    });
    assert_eq!(
        links,
        BTreeSet::from(["vip-web".into(), "vrrp.7".into(), "vrrp.8".into()])
    );
    assert_eq!(
        addrs,
        BTreeSet::from([ip("198.51.100.7"), ip("2001:db8::7")])
    );
    let names: BTreeSet<String> = r
        .ip_json(&["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_owned())
        .collect();
    for kept in ["p0", "mv-keep", "veth-keep", "d1", "vrrp.9"] {
        assert!(names.contains(kept), "{kept} was removed: {names:?}");
    }
    for gone in ["vrrp.7", "vrrp.8", "vip-web"] {
        assert!(!names.contains(gone), "{gone} is still there");
    }
    let p = ip_addrs(r, "p0");
    assert!(p.iter().any(|a| a.0 == "198.51.100.8"), "{p:?}");
    assert!(
        !p.iter()
            .any(|a| a.0 == "198.51.100.7" || a.0 == "2001:db8::7"),
        "{p:?}"
    );
}

#[test]
fn link_lookup_and_typed_errors() {
    let ns = NetNs::new("lookup");
    ns.ip(&[
        "link", "add", "eth0.100", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        let by_name = nl.link_by_name("eth0.100").unwrap().expect("eth0.100");
        assert_eq!(by_name.kind.as_deref(), Some("veth"));
        let by_index = nl.link_by_index(by_name.index).unwrap().expect("by index");
        assert_eq!(by_index, by_name);
        let all = nl.links().unwrap();
        assert!(all.iter().any(|l| l.name == "lo"));
        assert!(all.contains(&by_name));
        assert_eq!(nl.link_by_name("nope0").unwrap(), None);
        assert_eq!(nl.link_by_index(999_999).unwrap(), None);
        assert!(matches!(nl.link(999_999), Err(Error::NoSuchLink(_))));

        let e = nl.delete_link(999_999).unwrap_err();
        match &e {
            Error::Kernel { op, errno, .. } => {
                assert_eq!(op, "RTM_DELLINK ifindex 999999");
                assert_eq!(*errno, libc::ENODEV);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_not_found());
        // A macvlan on a loopback parent: the kernel refuses (EINVAL), with its reason.
        let lo = nl.link_by_name("lo").unwrap().unwrap();
        let e = nl
            .create_vmac(&VmacSpec::new(1, Family::V4, lo.index))
            .unwrap_err();
        assert!(matches!(e, Error::Kernel { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("RTM_NEWLINK macvlan vrrp.1 on lo: "),
            "{e}"
        );
    });
}
