//! A small blocking HTTP/1.1 client over `std::net::TcpStream` for the benchmark's set-up work
//! (health polls, cache warming, filling the cache with 10,000 pages): enough HTTP for our own
//! servers, without an async runtime or an HTTP library in xtask.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Longest a single set-up request may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read (a search page is a few KiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keeps_alive(&self) -> bool {
        !self
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    open: bool,
}

impl Conn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone()?;
        Ok(Conn {
            addr,
            reader: BufReader::new(stream),
            writer,
            open: true,
        })
    }

    /// Sends one request and reads its response. `headers` come after `Host`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response> {
        if !self.open {
            bail!("the server closed the connection to {}", self.addr);
        }
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        self.writer
            .write_all(&request)
            .with_context(|| format!("sending {method} {path} to {}", self.addr))?;
        let response = read_response(&mut self.reader)
            .with_context(|| format!("reading the answer to {method} {path} from {}", self.addr))?;
        self.open = response.keeps_alive();
        Ok(response)
    }

    /// POSTs a JSON body.
    pub fn post_json(&mut self, path: &str, json: &str) -> Result<Response> {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(json.as_bytes()),
        )
    }
}

/// One GET on a fresh connection.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Response> {
    Conn::connect(addr)?.send("GET", path, headers, None)
}

/// Polls `GET path` until it answers 200; returns how long that took from `since`.
pub fn wait_for_200(
    addr: SocketAddr,
    path: &str,
    since: Instant,
    limit: Duration,
) -> Result<Duration> {
    let mut last_problem = String::from("no answer");
    while since.elapsed() < limit {
        match get(addr, path, &[]) {
            Ok(r) if r.status == 200 => return Ok(since.elapsed()),
            Ok(r) => last_problem = format!("status {}", r.status),
            Err(e) => last_problem = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("GET {path} on {addr} did not answer 200 within {limit:?} (last: {last_problem})")
}

/// Sends `POST path` with each of `bodies` over `workers` keep-alive connections; fails on the
/// first non-200 answer. Returns how long it took.
pub fn post_all(
    addr: SocketAddr,
    path: &str,
    bodies: &[String],
    workers: usize,
) -> Result<Duration> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                let next = Arc::clone(&next);
                scope.spawn(move || -> Result<()> {
                    let mut conn = Conn::connect(addr)?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else {
                            return Ok(());
                        };
                        if !conn.open {
                            conn = Conn::connect(addr)?;
                        }
                        let response = conn.post_json(path, body)?;
                        if response.status != 200 {
                            bail!(
                                "POST {path} with {body} answered {}: {}",
                                response.status,
                                String::from_utf8_lossy(&response.body)
                            );
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a request worker panicked"))?)
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(started.elapsed())
}

/// Reads one response: status line, headers, and a body framed by `content-length`, chunked
/// encoding, or the end of the stream.
pub fn read_response(reader: &mut impl BufRead) -> Result<Response> {
    let status_line = read_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 status line: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("malformed header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.body = read_chunked(reader)?;
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| anyhow!("bad content-length {length:?}"))?;
        if length > MAX_BODY {
            bail!("response body of {length} bytes is larger than {MAX_BODY}");
        }
        response.body = vec![0; length];
        reader.read_exact(&mut response.body)?;
    } else if status != 204 && status != 304 && !(100..200).contains(&status) {
        reader
            .by_ref()
            .take(MAX_BODY as u64)
            .read_to_end(&mut response.body)?;
        // Framed by the close: this connection is done.
        response
            .headers
            .push(("connection".to_owned(), "close".to_owned()));
    }
    Ok(response)
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| anyhow!("bad chunk size line {line:?}"))?;
        if size == 0 {
            // Trailers, then the blank line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            bail!("chunked body larger than {MAX_BODY} bytes");
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            bail!("chunk of {size} bytes not followed by CRLF");
        }
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    let n = reader.by_ref().take(64 * 1024).read_line(&mut line)?;
    if n == 0 {
        bail!("connection closed mid-response");
    }
    if !line.ends_with('\n') {
        bail!("line longer than 64 KiB or cut off");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;

    fn parse(raw: &str) -> Result<Response> {
        read_response(&mut Cursor::new(raw.as_bytes().to_vec()))
    }

    #[test]
    fn content_length_bodies_are_read_exactly() {
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cache: HIT\r\n\r\nhelloEXTRA")
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header("x-cache"), Some("HIT"));
        assert!(r.keeps_alive());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let r = parse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia!\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"Wikipedia!");
    }

    #[test]
    fn a_body_framed_by_close_ends_the_connection() {
        let r = parse("HTTP/1.0 200 OK\r\n\r\nall of it").unwrap();
        assert_eq!(r.body, b"all of it");
        assert!(!r.keeps_alive());
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(r.body.is_empty());
    }

    #[test]
    fn malformed_responses_are_errors_naming_the_problem() {
        let cases = [
            ("SMTP 220 hi\r\n\r\n", "status line"),
            ("HTTP/1.1 abc OK\r\n\r\n", "status code"),
            ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header"),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
                "content-length",
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            ("HTTP/1.1 200 OK\r\ncontent-length: 5", "cut off"),
            ("", "closed"),
        ];
        for (raw, expected) in cases {
            let err = format!("{:#}", parse(raw).unwrap_err());
            assert!(err.contains(expected), "{raw:?}: {err}");
        }
        let err = parse("HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\nshort").unwrap_err();
        assert!(format!("{err:#}").contains("fill whole buffer"), "{err:#}");
    }

    /// A one-connection server that answers each request with its own body length, so the
    /// request framing the client writes is checked too.
    fn echo_length_server(requests: usize) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut seen = Vec::new();
            for _ in 0..requests {
                let request_line = read_line(&mut reader).unwrap();
                let mut length = 0;
                loop {
                    let line = read_line(&mut reader).unwrap();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("content-length: ") {
                        length = v.parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.push(format!(
                    "{request_line} {}",
                    String::from_utf8(body).unwrap()
                ));
                let answer = length.to_string();
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
            seen
        });
        (addr, handle)
    }

    #[test]
    fn requests_reuse_one_connection() {
        let (addr, server) = echo_length_server(3);
        let mut conn = Conn::connect(addr).unwrap();
        assert_eq!(conn.post_json("/a", "{}").unwrap().body, b"2");
        assert_eq!(conn.post_json("/b", r#"{"k":1}"#).unwrap().body, b"7");
        assert_eq!(conn.send("GET", "/c", &[], None).unwrap().body, b"0");
        let seen = server.join().unwrap();
        assert_eq!(
            seen,
            [
                "POST /a HTTP/1.1 {}",
                r#"POST /b HTTP/1.1 {"k":1}"#,
                "GET /c HTTP/1.1 "
            ]
        );
    }

    #[test]
    fn post_all_sends_every_body() {
        let (addr, server) = echo_length_server(4);
        let bodies: Vec<String> = (0..4).map(|i| format!("{{\"i\":{i}}}")).collect();
        post_all(addr, "/fill", &bodies, 1).unwrap();
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(
            seen.iter()
                .all(|s| s.starts_with("POST /fill HTTP/1.1 {\"i\":"))
        );
    }
}
