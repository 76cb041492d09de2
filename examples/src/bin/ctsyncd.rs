//! `ctsyncd`: the conntrackd-compatible sync daemon and its client (see `examples::ctsyncd`).

fn main() {
    std::process::exit(examples::ctsyncd::main(std::env::args().skip(1)));
}
