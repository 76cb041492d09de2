//! vrrpd's tracking, notify scripts, operator commands, reload and crash recovery, in network
//! namespaces: two routers (r1 priority 200, r2 priority 100, VRRPv3, 100 ms adverts) and a
//! client on one bridge. Needs root and iproute2: without them the tests fail, they never
//! pass silently.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use common::{has_vip_on, instance, priority, reaches_vip, spawn, state};
use examples::netns::{Lab, NODE_IF, Node, wait_until};
use examples::vrrpd::control::{self, Request};

const VIP: &str = "192.0.2.100";
const WAIT: Duration = Duration::from_secs(5);

/// A keepalived.conf with one instance VI_1 and `extra` lines inside it, after `head` (global
/// blocks such as `vrrp_script`).
fn conf(head: &str, prio: u8, extra: &str) -> String {
    format!(
        "{head}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface {NODE_IF}\n  \
         virtual_router_id 51\n  priority {prio}\n  version 3\n  advert_int 0.1\n{extra}\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

fn pair(tag: &str) -> (Lab, Node, Node, Node) {
    Lab::require_root();
    let lab = Lab::new(tag);
    let r1 = lab.add_node("r1");
    let r2 = lab.add_node("r2");
    let client = lab.add_node("c");
    r1.add_addr(NODE_IF, "192.0.2.1/24");
    r2.add_addr(NODE_IF, "192.0.2.2/24");
    client.add_addr(NODE_IF, "192.0.2.10/24");
    (lab, r1, r2, client)
}

fn wait_state(sock: &Path, want: &str, who: &str) {
    wait_until(WAIT, &format!("{who} {want}"), || {
        state(sock).as_deref() == Some(want)
    });
}

fn call(sock: &Path, req: &Request) -> serde_json::Value {
    control::call(sock, req).expect("control socket answers")
}

/// A weighted `track_script` that fails lowers r1's priority below r2's: r2 preempts and the
/// client reaches the VIP through r2; when the script succeeds again r1 takes the VIP back.
#[test]
fn failing_weighted_script_moves_the_vip_and_back() {
    let (lab, r1, r2, client) = pair("trks");
    let flag = lab.dir().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let head = format!(
        "vrrp_script chk {{\n  script \"test -e {}\"\n  interval 0.05\n  weight -150\n  \
         fall 2\n  rise 2\n}}",
        flag.display()
    );
    let (p1, s1) = spawn(
        &r1,
        lab.dir(),
        &conf(&head, 200, "  track_script {\n    chk\n  }"),
    );
    let (_p2, s2) = spawn(&r2, lab.dir(), &conf("", 100, ""));
    wait_state(&s1, "MASTER", "r1");
    wait_state(&s2, "BACKUP", "r2");
    assert_eq!(priority(&s1), Some(200));
    wait_until(WAIT, "the client reaches the VIP on r1", || {
        reaches_vip(&client, VIP)
    });

    std::fs::remove_file(&flag).unwrap();
    wait_state(&s2, "MASTER", "r2 after r1's script failed");
    wait_state(&s1, "BACKUP", "r1 after its script failed");
    assert_eq!(priority(&s1), Some(50));
    assert!(has_vip_on(&r2, VIP) && !has_vip_on(&r1, VIP));
    wait_until(WAIT, "the client reaches the VIP on r2", || {
        reaches_vip(&client, VIP)
    });
    let log = p1.log();
    assert!(log.contains("VRRP_Script(chk) failed"), "{log}");
    assert!(
        log.contains("(VI_1) Changing effective priority from 200 to 50"),
        "{log}"
    );

    std::fs::write(&flag, "").unwrap();
    wait_state(&s1, "MASTER", "r1 after its script recovered");
    wait_state(&s2, "BACKUP", "r2 after r1 preempted");
    assert_eq!(priority(&s1), Some(200));
    assert!(has_vip_on(&r1, VIP) && !has_vip_on(&r2, VIP));
    assert!(
        p1.log().contains("VRRP_Script(chk) succeeded"),
        "{}",
        p1.log()
    );
}

/// A weight-0 script failing puts the instance in FAULT (r2 takes over at once thanks to the
/// priority-0 advert); the notify scripts run with keepalived's arguments.
#[test]
fn weight_zero_script_fault_and_notify_scripts() {
    let (lab, r1, r2, _client) = pair("trkf");
    let flag = lab.dir().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let notes = lab.dir().join("notify.log");
    let master_mark = lab.dir().join("became-master");
    let head = format!(
        "vrrp_script chk {{\n  script \"test -e {}\"\n  interval 0.05\n}}",
        flag.display()
    );
    let script = lab.dir().join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", notes.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "  track_script {{\n    chk\n  }}\n  notify {}\n  notify_master \"/bin/touch {}\"",
        script.display(),
        master_mark.display()
    );
    let (p1, s1) = spawn(&r1, lab.dir(), &conf(&head, 200, &extra));
    let (_p2, s2) = spawn(&r2, lab.dir(), &conf("", 100, ""));
    wait_state(&s1, "MASTER", "r1");
    wait_until(WAIT, "notify_master ran", || master_mark.exists());
    wait_until(WAIT, "notify ran for MASTER", || {
        std::fs::read_to_string(&notes).is_ok_and(|t| t.contains("INSTANCE VI_1 MASTER 200"))
    });

    std::fs::remove_file(&flag).unwrap();
    wait_state(&s1, "FAULT", "r1 after its weight-0 script failed");
    wait_state(&s2, "MASTER", "r2");
    assert!(!has_vip_on(&r1, VIP));
    wait_until(WAIT, "notify ran for FAULT", || {
        std::fs::read_to_string(&notes).is_ok_and(|t| t.contains("INSTANCE VI_1 FAULT"))
    });
    assert!(
        p1.log().contains("tracked script chk down: FAULT"),
        "{}",
        p1.log()
    );

    std::fs::write(&flag, "").unwrap();
    wait_state(
        &s1,
        "MASTER",
        "r1 after its script recovered (preempting r2)",
    );
    wait_state(&s2, "BACKUP", "r2");
}

/// `track_interface` with a weight: an interface going down lowers the priority; without
/// a weight it means FAULT.
#[test]
fn tracked_interface_weight_and_fault() {
    let (lab, r1, r2, _client) = pair("trki");
    // veth pairs inside r1 (no dummy module needed); the `p` ends stay up.
    for n in ["up0", "up1"] {
        r1.ip(&[
            "link",
            "add",
            n,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{n}p"),
        ]);
        r1.set_link(&format!("{n}p"), true);
        r1.set_link(n, true);
        r1.wait_oper_up(n);
    }
    let extra = "  track_interface {\n    up0 weight -150\n    up1\n  }";
    let (_p1, s1) = spawn(&r1, lab.dir(), &conf("", 200, extra));
    let (_p2, s2) = spawn(&r2, lab.dir(), &conf("", 100, ""));
    wait_state(&s1, "MASTER", "r1");
    r1.set_link("up0", false);
    wait_state(&s2, "MASTER", "r2 after r1's up0 went down");
    assert_eq!(priority(&s1), Some(50));
    r1.set_link("up0", true);
    wait_state(&s1, "MASTER", "r1 after up0 came back");
    assert_eq!(priority(&s1), Some(200));
    r1.set_link("up1", false);
    wait_state(&s1, "FAULT", "r1 after up1 (no weight) went down");
    wait_state(&s2, "MASTER", "r2");
    r1.set_link("up1", true);
    wait_state(&s1, "MASTER", "r1 after up1 came back");
    drop(lab);
}

/// Operator commands: switchover makes the Backup Master now and it keeps the role although
/// the other router has a higher priority and preempts; resume hands back; step-down of the
/// Master hands over and does not take back; priority moves the role.
#[test]
fn switchover_step_down_and_priority() {
    let (lab, r1, r2, client) = pair("trkc");
    let (_p1, s1) = spawn(&r1, lab.dir(), &conf("", 200, ""));
    let (_p2, s2) = spawn(&r2, lab.dir(), &conf("", 100, ""));
    wait_state(&s1, "MASTER", "r1");
    wait_state(&s2, "BACKUP", "r2");

    let sw = Request::Switchover {
        instance: "VI_1".into(),
    };
    assert_eq!(call(&s2, &sw)["ok"], true);
    wait_state(&s2, "MASTER", "r2 after switchover");
    wait_state(&s1, "BACKUP", "r1 after r2's switchover");
    // Held over several adverts although r1 has the higher priority.
    let before = instance(&s1, 0).unwrap()["counters"]["adverts_rx"]
        .as_u64()
        .unwrap();
    wait_until(WAIT, "r1 hears ten more adverts", || {
        assert_eq!(state(&s2).as_deref(), Some("MASTER"));
        instance(&s1, 0).unwrap()["counters"]["adverts_rx"]
            .as_u64()
            .unwrap()
            >= before + 10
    });
    assert_eq!(instance(&s2, 0).unwrap()["switchover"], true);
    wait_until(WAIT, "the client reaches the VIP on r2", || {
        reaches_vip(&client, VIP) && has_vip_on(&r2, VIP)
    });
    let resume = Request::Resume {
        instance: "VI_1".into(),
    };
    assert_eq!(call(&s2, &resume)["ok"], true);
    wait_state(&s1, "MASTER", "r1 after r2 resumed the election");

    let down = Request::StepDown {
        instance: "VI_1".into(),
    };
    assert_eq!(call(&s1, &down)["ok"], true);
    wait_state(&s2, "MASTER", "r2 after r1 stepped down");
    wait_state(&s1, "BACKUP", "r1 after stepping down");
    assert_eq!(instance(&s1, 0).unwrap()["stepped_down"], true);
    assert_eq!(call(&s1, &resume)["ok"], true);
    wait_state(&s1, "MASTER", "r1 after resuming (preempts)");

    let prio = Request::Priority {
        instance: "VI_1".into(),
        priority: 50,
    };
    assert_eq!(call(&s1, &prio)["ok"], true);
    wait_state(&s2, "MASTER", "r2 after r1's priority went to 50");
    assert_eq!(priority(&s1), Some(50));
    let bad = Request::Priority {
        instance: "VI_9".into(),
        priority: 50,
    };
    assert_eq!(call(&s1, &bad)["ok"], false);
}

/// SIGHUP with a changed file: the unchanged instance keeps its state without a transition,
/// the changed one is restarted with its new priority, a removed one is stopped and a new one
/// started.
#[test]
fn sighup_applies_changes_and_keeps_the_rest() {
    let (lab, r1, _r2, _client) = pair("trkh");
    let inst = |name: &str, vrid: u8, prio: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n  interface {NODE_IF}\n  virtual_router_id {vrid}\n  \
             priority {prio}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        )
    };
    let v1 = inst("VI_1", 51, 200, "192.0.2.101");
    let v2 = inst("VI_2", 52, 200, "192.0.2.102");
    let (p1, s1) = spawn(&r1, lab.dir(), &format!("{v1}{v2}"));
    wait_until(WAIT, "both instances MASTER", || {
        (0..2).all(|i| instance(&s1, i).is_some_and(|v| v["state"] == "MASTER"))
    });
    let became = |name: &str| -> Option<u64> {
        (0..3)
            .filter_map(|i| instance(&s1, i))
            .find(|v| v["name"] == name)
            .and_then(|v| v["counters"]["became_master"].as_u64())
    };
    assert_eq!(became("VI_1"), Some(1));
    let v2b = inst("VI_2", 52, 150, "192.0.2.102");
    let v3 = inst("VI_3", 53, 200, "192.0.2.103");
    std::fs::write(lab.dir().join("r1.conf"), format!("{v1}{v2b}{v3}")).unwrap();
    p1.signal(libc::SIGHUP);
    wait_until(
        WAIT,
        "VI_2 restarted with priority 150 and VI_3 started",
        || {
            let all: Vec<_> = (0..3).filter_map(|i| instance(&s1, i)).collect();
            all.iter()
                .any(|v| v["name"] == "VI_2" && v["priority"] == 150 && v["state"] == "MASTER")
                && all
                    .iter()
                    .any(|v| v["name"] == "VI_3" && v["state"] == "MASTER")
        },
    );
    assert_eq!(became("VI_1"), Some(1), "VI_1 went through a transition");
    assert!(r1.ip(&["-4", "addr"]).contains("192.0.2.103/24"));
    // Removing VI_3 again removes its VIP.
    std::fs::write(lab.dir().join("r1.conf"), format!("{v1}{v2b}")).unwrap();
    p1.signal(libc::SIGHUP);
    wait_until(WAIT, "VI_3 stopped and its VIP removed", || {
        !r1.ip(&["-4", "addr"]).contains("192.0.2.103/24")
    });
    assert_eq!(became("VI_1"), Some(1));
}

/// After a SIGKILL the VMAC and the VIP stay behind; the next start removes them and starts
/// clean (one VMAC, the VIP once), and the client reaches the VIP.
#[test]
fn restart_after_sigkill_cleans_stale_vmac_and_vip() {
    let (lab, r1, _r2, client) = pair("trkk");
    let text = conf("", 200, "  use_vmac");
    let (mut p1, s1) = spawn(&r1, lab.dir(), &text);
    wait_state(&s1, "MASTER", "r1");
    p1.signal(libc::SIGKILL);
    p1.wait_exit(WAIT);
    let links = r1.ip(&["-o", "link", "show"]);
    assert!(links.contains("vrrp.51"), "no VMAC left behind: {links}");
    let (p1, s1) = spawn(&r1, lab.dir(), &text);
    wait_state(&s1, "MASTER", "r1 after restart");
    let log = p1.log();
    assert!(log.contains("removed stale VMAC vrrp.51"), "{log}");
    let links = r1.ip(&["-o", "link", "show"]);
    assert_eq!(links.matches("vrrp.51").count(), 1, "{links}");
    let addrs = r1.ip(&["-4", "-o", "addr", "show"]);
    assert_eq!(addrs.matches(&format!("{VIP}/24")).count(), 1, "{addrs}");
    wait_until(WAIT, "the client reaches the VIP", || {
        reaches_vip(&client, VIP)
    });
}

/// `script_user` runs notify scripts as that user; with `enable_script_security` a script that
/// a non-root user could replace (its directory is writable by anyone) is not run — neither as
/// a check (it stays untracked) nor as a notify script — while a safe one is.
#[test]
fn script_user_and_script_security() {
    let (lab, r1, _r2, _client) = pair("trku");
    let out = lab.dir().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let open = lab.dir().join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(lab.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let write = |path: &Path, body: String| {
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let safe = lab.dir().join("safe.sh");
    write(&safe, format!("id -u > {}/uid", out.display()));
    let unsafe_check = open.join("check.sh");
    write(&unsafe_check, format!("touch {}/check-ran", out.display()));
    let unsafe_notify = open.join("notify.sh");
    write(
        &unsafe_notify,
        format!("touch {}/notify-ran", out.display()),
    );
    let head = format!(
        "global_defs {{\n  script_user nobody\n  enable_script_security\n}}\n\
         vrrp_script chk {{\n  script \"{}\"\n  interval 0.05\n  weight -150\n}}",
        unsafe_check.display()
    );
    let extra = format!(
        "  track_script {{\n    chk\n  }}\n  notify_master \"{}\"\n  notify \"{}\"",
        safe.display(),
        unsafe_notify.display()
    );
    let (p1, s1) = spawn(&r1, lab.dir(), &conf(&head, 200, &extra));
    wait_state(&s1, "MASTER", "r1");
    let uid = out.join("uid");
    wait_until(WAIT, "the safe notify_master script ran", || {
        std::fs::read_to_string(&uid).is_ok_and(|t| !t.trim().is_empty())
    });
    let nobody = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&uid).unwrap().trim(),
        String::from_utf8_lossy(&nobody.stdout).trim(),
        "notify_master did not run as script_user nobody"
    );
    let log = p1.log();
    assert!(
        log.contains("VRRP_Script(chk) disabled: insecure") && log.contains("open is writable by"),
        "{log}"
    );
    assert!(log.contains("not run: insecure"), "{log}");
    // The disabled check counts for nothing: r1 kept its priority 200 and is Master.
    assert_eq!(priority(&s1), Some(200));
    assert!(!out.join("check-ran").exists(), "the insecure check ran");
    assert!(!out.join("notify-ran").exists(), "the insecure notify ran");
}
