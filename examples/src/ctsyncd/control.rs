//! conntrackd's UNIX control socket: the client side (one request, the reply until the
//! daemon closes) and the helpers of the daemon's side.

use std::io::{self, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;

use ct_sync::control::Request;

/// Sends `req` to the daemon listening at `path` (one native-endian `int`, as conntrackd's
/// client does) and returns everything it answers until it closes the connection. `-c`
/// returns when the commit is done: the daemon keeps the connection open until then.
pub fn client_request(path: &Path, req: Request) -> io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(path)?;
    s.write_all(&req.to_bytes())?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    Ok(reply)
}

/// Binds the control socket at `path`, replacing a stale socket file (as conntrackd does).
pub(super) fn bind(path: &str) -> io::Result<tokio::net::UnixListener> {
    let p = Path::new(path);
    if let Ok(meta) = std::fs::symlink_metadata(p) {
        use std::os::unix::fs::FileTypeExt as _;
        if meta.file_type().is_socket() {
            std::fs::remove_file(p)?;
        }
    }
    let l = std::os::unix::net::UnixListener::bind(p)?;
    l.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(l)
}
