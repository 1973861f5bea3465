//! What the deployment files rely on in the binary: `alistach-server healthcheck`, the probe
//! the container image's HEALTHCHECK runs (the image has no shell or curl).

use std::time::Duration;

use crate::support::{Server, run_to_exit};

#[test]
fn healthcheck_exits_0_while_the_server_is_live_and_1_once_it_is_gone() {
    let mut server = Server::start(&[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // The probe reads the same settings as the server: here the listen address.
    let (code, out, err) = run_to_exit(&[("ALISTACH_LISTEN", &addr)], &["healthcheck"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains(&format!("http://{addr}/livez answered 200")),
        "{out}"
    );

    // An unspecified listen address is probed on loopback, as in the image (API_HOST=0.0.0.0).
    let port = addr.rsplit(':').next().unwrap();
    let (code, out, err) = run_to_exit(
        &[("API_HOST", "0.0.0.0"), ("API_PORT", port)],
        &["healthcheck"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");

    server.kill_hard();
    let (code, out, err) = run_to_exit(&[("ALISTACH_LISTEN", &addr)], &["healthcheck"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("unhealthy: cannot connect"), "{err}");
}

#[test]
fn healthcheck_refuses_a_port_it_cannot_know() {
    let (code, _, err) = run_to_exit(&[("API_PORT", "0")], &["healthcheck"]);
    assert_eq!(code, 1);
    assert!(err.contains("port is 0"), "{err}");
}

#[test]
fn healthcheck_fails_on_a_listener_that_does_not_answer_200() {
    // A listener that answers 503 to anything: an unready server, or another program.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    });
    let (code, _, err) = run_to_exit(&[("ALISTACH_LISTEN", &addr)], &["healthcheck"]);
    answer.join().unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("answered `HTTP/1.1 503 Service Unavailable`"),
        "{err}"
    );
}
