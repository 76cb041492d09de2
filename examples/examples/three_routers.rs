//! Three VRRP routers on one simulated link (virtual time, real advert bytes): the Master
//! crashes, a Backup takes over after Master_Down_Interval, the old Master comes back and
//! preempts.
//!
//! ```text
//! cargo run -p examples --example three_routers
//! ```

use std::time::Duration;

use vrrp_fsm::Event;
use vrrp_fsm::sim::{Link, RecordKind, Sim, config_v4};

fn main() {
    let mut sim = Sim::new(1, Link::default()); // 100 µs latency, no loss
    // VRID 51, virtual address 198.51.100.51, sources 192.0.2.1-3, 1 s adverts.
    let r1 = sim.add_router("r1", config_v4(51, 1, 200));
    sim.add_router("r2", config_v4(51, 2, 150));
    sim.add_router("r3", config_v4(51, 3, 100));

    sim.run_until(sim.epoch() + Duration::from_secs(10));
    sim.crash(r1);
    sim.run_until(sim.epoch() + Duration::from_secs(20));
    sim.restart(r1);
    sim.run_until(sim.epoch() + Duration::from_secs(30));

    println!("VRID 51: r1 prio 200, r2 prio 150, r3 prio 100, adverts every 1 s");
    for r in sim.trace() {
        let shown = match &r.kind {
            RecordKind::Event { event, .. } => matches!(event, Event::StateChanged { .. }),
            RecordKind::Crashed | RecordKind::Restarted => true,
            _ => false,
        };
        if shown {
            println!("{}", sim.describe(r));
        }
    }
}
