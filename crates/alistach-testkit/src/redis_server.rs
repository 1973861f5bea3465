//! Starts a private redis-server for tests: on a free 127.0.0.1 port, with no persistence, in a
//! temporary directory, killed on drop. Restartable on the same port to test reconnection.
//!
//! On a machine without `redis-server`, [`RedisServer::start_or_skip`] lets a test skip with a
//! message, except under CI (the `CI` variable set), where it fails: CI must run the Redis tests.
//! Extra arguments (`--maxmemory 1mb` ...) can be passed, and [`RedisServer::command`] sends
//! one command over a raw connection, for tests that look behind the application's back.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BINARY: &str = "redis-server";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 3;

/// A running redis-server owned by a test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port, panicking with the reason if it cannot.
    pub fn start() -> RedisServer {
        RedisServer::try_start().unwrap_or_else(|e| panic!("cannot start {BINARY} for a test: {e}"))
    }

    /// Starts a server on a free port.
    pub fn try_start() -> io::Result<RedisServer> {
        RedisServer::try_start_with(&[])
    }

    /// Starts a server on a free port with `extra_args` added to its command line (e.g.
    /// `["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]`).
    pub fn try_start_with(extra_args: &[&str]) -> io::Result<RedisServer> {
        let mut last = None;
        // The port is free when picked but another process may take it before redis binds it.
        for _ in 0..PORT_ATTEMPTS {
            match RedisServer::spawn(free_port()?, extra_args) {
                Ok(server) => return Ok(server),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no attempt made")))
    }

    /// Starts a server on `port` (typically the port of one just killed, to test reconnection),
    /// panicking with the reason if it cannot.
    pub fn start_on_port(port: u16) -> RedisServer {
        RedisServer::try_start_on_port(port)
            .unwrap_or_else(|e| panic!("cannot start {BINARY} on port {port} for a test: {e}"))
    }

    /// Starts a server on `port`.
    pub fn try_start_on_port(port: u16) -> io::Result<RedisServer> {
        RedisServer::spawn(port, &[])
    }

    fn spawn(port: u16, extra_args: &[&str]) -> io::Result<RedisServer> {
        let dir = temp_dir(port)?;
        let log = dir.join("redis.log");
        let spawned = Command::new(BINARY)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(if e.kind() == io::ErrorKind::NotFound {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("`{BINARY}` was not found on PATH"),
                    )
                } else {
                    io::Error::new(e.kind(), format!("spawning `{BINARY}`: {e}"))
                });
            }
        };
        let mut server = RedisServer {
            child: Some(child),
            port,
            dir,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// A server on a free port, or `None` (after saying so on stderr) when `redis-server` is not
    /// installed. Panics instead when the `CI` variable is set, or when the server is installed
    /// but fails to start.
    pub fn start_or_skip(test: &str) -> Option<RedisServer> {
        RedisServer::start_or_skip_with(test, &[])
    }

    /// [`RedisServer::start_or_skip`] with `extra_args` added to the server's command line.
    pub fn start_or_skip_with(test: &str, extra_args: &[&str]) -> Option<RedisServer> {
        match RedisServer::try_start_with(extra_args) {
            Ok(server) => Some(server),
            Err(e) if e.kind() == io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
                eprintln!(
                    "skipping {test}: {e} (install redis-server to run it; under CI this fails)"
                );
                None
            }
            Err(e) => panic!("{test} needs {BINARY}: {e}"),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Sends one command (`["INFO", "commandstats"]`) on a fresh connection and returns the
    /// reply as text: a bulk or simple string as is, an integer in decimal, an array as its
    /// elements one per line, nil as an empty string. An error reply is an `Err`.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        let mut reader = io::BufReader::new(stream);
        read_reply(&mut reader)
    }

    /// Calls of the commands whose lower-case name `counts` (`"evalsha"`) since the server
    /// started or its last `CONFIG RESETSTAT`, from `INFO commandstats`.
    pub fn command_calls(&self, counts: impl Fn(&str) -> bool) -> io::Result<u64> {
        let stats = self.command(&["INFO", "commandstats"])?;
        Ok(stats
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                counts(name).then_some(rest)
            })
            .filter_map(|rest| {
                rest.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum())
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server at once (SIGKILL, like a crash) and waits for it to exit; the port is then
    /// free for [`RedisServer::start_on_port`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered, like a Redis
    /// stuck behind a slow command or a dead network path. [`RedisServer::thaw`] resumes it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let Some(child) = self.child.as_ref() else {
            panic!("{BINARY} on port {} is not running", self.port);
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running `kill {signal}`: {e}"));
        assert!(
            status.success(),
            "`kill {signal}` on {BINARY} failed: {status}"
        );
    }

    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let pid = self.child.as_ref().map(Child::id);
            // Checked by pid: a PING alone would also be answered by another server on the port.
            if pid.is_some() && server_pid(self.port).ok() == pid {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{BINARY} on port {} exited with {status} before answering; its log: {}",
                    self.port,
                    read_log(&self.dir)
                )));
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{BINARY} on port {} did not answer (INFO with its own pid) within {START_TIMEOUT:?}",
                        self.port
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `process_id` the server on `port` reports in `INFO server`.
fn server_pid(port: u16) -> io::Result<u32> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"INFO server\r\n")?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    // A bulk reply: `$<len>\r\n<len bytes>\r\n`.
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "INFO reply cut short",
            ));
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        let Some((header, body)) = text.split_once("\r\n") else {
            continue;
        };
        let len: usize = header
            .strip_prefix('$')
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected INFO reply header {header:?}")))?;
        if body.len() < len {
            continue;
        }
        return body
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
            .ok_or_else(|| io::Error::other("INFO reply without process_id"));
    }
}

/// Reads one RESP2 reply as text (see [`RedisServer::command`]).
fn read_reply(reader: &mut impl io::BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed"))?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| io::Error::other(format!("bad reply header {line:?}")))
    };
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(io::Error::other(format!("redis error: {rest}"))),
        "$" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(String::new());
            };
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        "*" => {
            let count = usize::try_from(number()?).unwrap_or(0);
            let items = (0..count)
                .map(|_| read_reply(reader))
                .collect::<io::Result<Vec<_>>>()?;
            Ok(items.join("\n"))
        }
        _ => Err(io::Error::other(format!("unexpected reply {line:?}"))),
    }
}

/// A port nothing listens on right now, chosen by the kernel.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn temp_dir(port: u16) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("alistach-redis-{}-{port}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn read_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_dies_and_restarts_on_the_same_port() {
        let Some(mut server) =
            RedisServer::start_or_skip("redis_server::starts_answers_dies_and_restarts")
        else {
            return;
        };
        let port = server.port();
        assert_eq!(server.url(), format!("redis://127.0.0.1:{port}/"));
        assert_eq!(
            server_pid(port).unwrap(),
            server.child.as_ref().unwrap().id()
        );
        assert!(server.is_running());
        server.kill();
        assert!(!server.is_running());
        assert!(server_pid(port).is_err(), "a killed server must not answer");
        let again = RedisServer::start_on_port(port);
        assert_eq!(
            server_pid(again.port()).unwrap(),
            again.child.as_ref().unwrap().id()
        );
        let dir = again.dir.clone();
        drop(again);
        assert!(
            server_pid(port).is_err(),
            "dropping the handle stops the server"
        );
        assert!(!dir.exists(), "the temporary directory is removed");
    }

    #[test]
    fn extra_arguments_reach_the_server_and_commands_are_answered() {
        let Some(server) = RedisServer::start_or_skip_with(
            "redis_server::extra_arguments_reach_the_server",
            &["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"],
        ) else {
            return;
        };
        assert_eq!(
            server.command(&["CONFIG", "GET", "maxmemory"]).unwrap(),
            "maxmemory\n2097152"
        );
        assert_eq!(
            server
                .command(&["CONFIG", "GET", "maxmemory-policy"])
                .unwrap(),
            "maxmemory-policy\nnoeviction"
        );
        assert_eq!(server.command(&["SET", "k", "v w"]).unwrap(), "OK");
        assert_eq!(server.command(&["GET", "k"]).unwrap(), "v w");
        assert_eq!(server.command(&["GET", "absent"]).unwrap(), "");
        assert_eq!(server.command(&["DBSIZE"]).unwrap(), "1");
        assert!(server.command(&["NOSUCHCOMMAND"]).is_err());
    }

    #[test]
    fn a_server_that_cannot_start_says_why() {
        let Some(first) =
            RedisServer::start_or_skip("redis_server::a_server_that_cannot_start_says_why")
        else {
            return;
        };
        // The port is taken by the first server, so the second exits at once.
        let err = RedisServer::try_start_on_port(first.port()).unwrap_err();
        assert!(err.to_string().contains("before answering"), "{err}");
    }
}
