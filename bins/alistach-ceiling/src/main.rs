//! alistach-ceiling: the benchmark ceiling. A minimal hyper server, built like `alistach-server`
//! (hyper 1 http1 with keep-alive on a multi-threaded tokio runtime), that reads each request and
//! answers it with the same fixed body. No proxy can answer faster on the same machine, so
//! `cargo xtask bench` reports every figure as a ratio of this one.
//!
//! Prints `listening on http://HOST:PORT` on stdout once bound; runs until Ctrl-C or SIGTERM.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest body the ceiling serves: far above any search page, small enough to stay in memory.
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Answers every request with a fixed body of `--body-bytes` bytes.
#[derive(Debug, Parser)]
#[command(name = "alistach-ceiling", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Size of the response body in bytes (use the size of the response being compared).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=MAX_BODY_BYTES))]
    body_bytes: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alistach-ceiling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let size = usize::try_from(args.body_bytes).context("--body-bytes does not fit in memory")?;
    let body = fixed_body(size);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        // The gateway's backlog, so the two compare under a burst of new connections.
        let listener = alistach_http::listen(args.listen)
            .with_context(|| format!("could not listen on {}", args.listen))?;
        let addr = listener
            .local_addr()
            .context("could not read the bound address")?;
        println!("listening on http://{addr}");
        tokio::select! {
            r = serve(listener, body) => r,
            r = alistach_http::shutdown_signal() => {
                r.context("could not listen for SIGTERM or Ctrl-C")
            }
        }
    })
}

/// A JSON document of exactly `size` bytes, so the bytes on the wire match the response the
/// ceiling stands in for: `{"pad":"xxx…"}`, or a run of `1`s (a JSON number) below 10 bytes.
fn fixed_body(size: usize) -> Bytes {
    const OPEN: &str = "{\"pad\":\"";
    const CLOSE: &str = "\"}";
    let mut text = String::with_capacity(size);
    if size >= OPEN.len() + CLOSE.len() {
        text.push_str(OPEN);
        text.extend(std::iter::repeat_n('x', size - OPEN.len() - CLOSE.len()));
        text.push_str(CLOSE);
    } else {
        text.extend(std::iter::repeat_n('1', size));
    }
    Bytes::from(text)
}

/// Accepts connections until the listener fails for good; one task per connection.
async fn serve(listener: TcpListener, body: Bytes) -> anyhow::Result<()> {
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(pair) => pair,
            // A peer that gave up before the accept is its problem, not the server's.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => return Err(e).context("accept failed"),
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let service = service_fn(move |req| answer(req, body.clone()));
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // A client that hangs up mid-request ends only its own connection.
            let _ = conn.await;
        });
    }
}

/// Reads the whole request (as the real server does before answering) and sends the body.
async fn answer(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_exactly_the_requested_size() {
        for size in [1, 2, 9, 10, 11, 100, 4096, 12_345] {
            assert_eq!(fixed_body(size).len(), size, "size {size}");
        }
    }

    #[test]
    fn the_body_is_a_json_document() {
        let big = fixed_body(64);
        assert!(big.starts_with(b"{\"pad\":\"") && big.ends_with(b"\"}"));
        assert!(big[8..62].iter().all(|&b| b == b'x'));
        assert_eq!(&fixed_body(10)[..], b"{\"pad\":\"\"}");
        assert_eq!(&fixed_body(3)[..], b"111");
    }

    #[test]
    fn body_bytes_outside_the_range_are_rejected() {
        for bad in ["0", "-1", "67108865", "ten"] {
            let flag = format!("--body-bytes={bad}");
            let err = Args::try_parse_from(["alistach-ceiling", flag.as_str()]).unwrap_err();
            assert!(err.to_string().contains("--body-bytes"), "{bad}: {err}");
        }
        let ok = Args::try_parse_from(["alistach-ceiling", "--body-bytes", "5000"]).unwrap();
        assert_eq!(ok.body_bytes, 5000);
    }
}
