//! `vrrpctl`: talks to `vrrpd`'s control socket (see `examples::vrrpd::control`).

fn main() {
    std::process::exit(examples::vrrpd::ctl_main(std::env::args().skip(1)));
}
