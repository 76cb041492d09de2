//! `dhcp4d`: the Kea-compatible DHCPv4 daemon (see `examples::dhcp4d`).

fn main() {
    std::process::exit(examples::dhcp4d::main(std::env::args().skip(1)));
}
