//! `vrrpd`: the VRRP daemon (see `examples::vrrpd`).

fn main() {
    std::process::exit(examples::vrrpd::main(std::env::args().skip(1)));
}
