//! Process tests: the real `alistach-ceiling` binary on 127.0.0.1:0, driven over raw HTTP/1.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The running binary, killed on drop.
struct Ceiling {
    child: Child,
    addr: String,
}

impl Ceiling {
    fn start(body_bytes: &str) -> Ceiling {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alistach-ceiling"))
            .env_clear()
            .args(["--listen", "127.0.0.1:0", "--body-bytes", body_bytes])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn alistach-ceiling");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("alistach-ceiling did not print its address");
            }
        };
        Ceiling { child, addr }
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one response with a `content-length`; returns (status line, headers, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (String, Vec<String>, Vec<u8>) {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        headers.push(line.to_ascii_lowercase());
    }
    let length: usize = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length:"))
        .expect("a content-length header")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status.trim_end().to_owned(), headers, body)
}

#[test]
fn answers_every_request_on_one_keep_alive_connection_with_the_fixed_body() {
    let ceiling = Ceiling::start("3000");
    let stream = TcpStream::connect(&ceiling.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);

    let post_body = r#"{"keywords":"wireless earbuds","page_size":10}"#;
    let requests = [
        "GET /health HTTP/1.1\r\nhost: x\r\n\r\n".to_owned(),
        format!(
            "POST /api/products/search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{post_body}",
            post_body.len()
        ),
        "GET /anything/else?q=1 HTTP/1.1\r\nhost: x\r\n\r\n".to_owned(),
    ];
    let mut bodies = Vec::new();
    for request in &requests {
        writer.write_all(request.as_bytes()).unwrap();
        let (status, headers, body) = read_response(&mut reader);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers
                .iter()
                .any(|h| h == "content-type: application/json"),
            "{headers:?}"
        );
        assert_eq!(body.len(), 3000);
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the body is fixed");
    assert!(bodies[0].starts_with(b"{\"pad\":\""));
}

#[test]
fn a_body_size_of_zero_is_refused_naming_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_alistach-ceiling"))
        .env_clear()
        .args(["--body-bytes", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--body-bytes"), "{stderr}");
}
