//! Replays the `keepalived_conf` fuzz target's corpus (fuzz/corpus/keepalived_conf/) through
//! the function the target calls.

#[test]
fn replay_keepalived_conf_corpus() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/keepalived_conf"
    );
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        vrrp_fsm::keepalived::fuzzing::read(&data);
        n += 1;
    }
    assert!(n >= 20, "corpus too small: {n} files in {dir}");
}
