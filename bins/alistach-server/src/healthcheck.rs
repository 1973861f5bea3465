//! `alistach-server healthcheck`: asks the server running with the same settings for `/livez`
//! over loopback, for container health checks in an image that has no shell or curl.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe waits to connect, and then for each read and write.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Sends `GET /livez` to the server listening on `listen` (an unspecified address is asked on
/// loopback) and returns the URL asked when it answered 200.
pub fn probe(listen: SocketAddr, timeout: Duration) -> Result<String, String> {
    let target = probe_address(listen)?;
    let url = format!("http://{target}/livez");
    let mut stream = TcpStream::connect_timeout(&target, timeout)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("cannot set timeouts: {e}"))?;
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send the request to {url}: {e}"))?;
    // The status line is all that is needed; the answer to /livez is small.
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("no answer from {url}: {e}")),
        }
        if head[..read].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line.lines().next().unwrap_or_default().trim();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(url),
        _ if status.is_empty() => Err(format!("{url} closed the connection without an answer")),
        _ => Err(format!("{url} answered `{status}`")),
    }
}

/// The address to ask: the listening address, with an unspecified IP replaced by loopback.
fn probe_address(listen: SocketAddr) -> Result<SocketAddr, String> {
    if listen.port() == 0 {
        return Err("the configured port is 0 (a free one picked at start); \
                    give the server a fixed API_PORT to probe it"
            .to_owned());
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_probed_on_loopback() {
        assert_eq!(
            probe_address("0.0.0.0:8000".parse().unwrap()),
            Ok("127.0.0.1:8000".parse().unwrap())
        );
        assert_eq!(
            probe_address("[::]:8000".parse().unwrap()),
            Ok("[::1]:8000".parse().unwrap())
        );
        assert_eq!(
            probe_address("10.1.2.3:9000".parse().unwrap()),
            Ok("10.1.2.3:9000".parse().unwrap())
        );
        assert!(probe_address("0.0.0.0:0".parse().unwrap()).is_err());
    }
}
