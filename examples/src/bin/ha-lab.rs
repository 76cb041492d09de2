//! `ha-lab`: hakit's HA lab in one command; see [`examples::lab`].
//!
//! ```text
//! sudo ha-lab [--scenario kill|stop|link|preempt] [--advert-ms N] [--no-vmac]
//!             [--json] [--svg FILE] [--keep]
//! ```

use std::sync::atomic::Ordering;
use std::time::Duration;

use examples::lab::{Binaries, HaLab, Options, Scenario};

const USAGE: &str = "usage: ha-lab [--scenario kill|stop|link|preempt] [--advert-ms N] [--no-vmac] [--json] [--svg FILE] [--keep]
  --scenario S    kill (default): SIGKILL every daemon on r1 and cut its links;
                  stop: SIGTERM them; link: cut r1's links only;
                  preempt: kill, then r1 returns and takes over again
  --advert-ms N   VRRP advert interval, a multiple of 10 (default 100)
  --no-vmac       VIPs on the routers' own interfaces instead of VMACs
  --json          print the timeline as JSON instead of the table
  --svg FILE      also write the timeline as an SVG picture
  --keep          leave the lab up afterwards (until Ctrl-C) and print how to look inside
Needs root, iproute2, nftables and conntrack; the daemons next to this binary
(cargo build --release -p examples --bins).";

struct Args {
    opts: Options,
    json: bool,
    svg: Option<String>,
    keep: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        opts: Options::new(Binaries::next_to_current_exe()),
        json: false,
        svg: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--scenario" => {
                let v = value()?;
                a.opts.scenario =
                    Scenario::parse(&v).ok_or_else(|| format!("--scenario: unknown {v}"))?;
            }
            "--advert-ms" => {
                let v = value()?;
                let ms: u64 = v
                    .parse()
                    .ok()
                    .filter(|m: &u64| *m >= 10 && m.is_multiple_of(10) && *m <= 40950)
                    .ok_or_else(|| format!("--advert-ms: a multiple of 10 ms, not {v}"))?;
                a.opts.advert = Duration::from_millis(ms);
            }
            "--no-vmac" => a.opts.vmac = false,
            "--json" => a.json = true,
            "--svg" => a.svg = Some(value()?),
            "--keep" => a.keep = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return;
            }
            eprintln!("ha-lab: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // Ctrl-C or SIGTERM: every wait gives up and the lab is removed on the way out.
    let stop = args.opts.stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        });
        eprintln!("ha-lab: interrupted, removing the lab");
        stop.store(true, Ordering::Relaxed);
    });
    if let Err(e) = args.opts.bins.check() {
        eprintln!("ha-lab: {e}");
        std::process::exit(1);
    }
    eprintln!(
        "ha-lab: building the lab (scenario {}, adverts {} ms, VMAC {})…",
        args.opts.scenario.name(),
        args.opts.advert.as_millis(),
        if args.opts.vmac { "on" } else { "off" }
    );
    let code = {
        let mut lab = match HaLab::build(&args.opts) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ha-lab: {e}");
                std::process::exit(1);
            }
        };
        eprintln!("ha-lab: r1 is Master; running the client and the scenario…");
        match lab.run_scenario() {
            Ok(report) => {
                if args.json {
                    println!("{}", report.json());
                } else {
                    print!("{}", report.text());
                }
                if let Some(f) = &args.svg {
                    match std::fs::write(f, report.svg()) {
                        Ok(()) => eprintln!("ha-lab: wrote {f}"),
                        Err(e) => eprintln!("ha-lab: write {f}: {e}"),
                    }
                }
                if args.keep {
                    eprintln!("ha-lab: the lab stays up until Ctrl-C; look inside with:");
                    for c in lab.inspect_commands() {
                        eprintln!("  {c}");
                    }
                    while !args.opts.stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                0
            }
            Err(e) => {
                eprintln!("ha-lab: {e}");
                1
            }
        }
        // The lab is dropped here: processes stopped, namespaces removed.
    };
    std::process::exit(code);
}
