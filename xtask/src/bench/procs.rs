//! The processes a benchmark starts (servers, the fake gateway, redis-server, wrk): each is
//! owned by a guard that kills it on drop, so an error or a panic never leaves one running.
//! A server's output goes to a log file rather than a pipe, so reading its access log costs
//! the benchmark no CPU while the server is measured.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Bytes at the end of a log shown in an error message.
const TAIL_BYTES: u64 = 4096;

/// A running child process, killed and reaped on drop (its log file is removed then too).
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

/// Where a started server said it listens, and how long after the spawn it said so.
pub struct Listening {
    /// The socket address.
    pub addr: SocketAddr,
    /// The URL as printed (the fake gateway prints its `/sync` path).
    pub url: String,
    /// From spawn to the line that announced the bound socket (seen within a millisecond).
    pub after: Duration,
}

impl Proc {
    /// Starts `cmd` with its stdout and stderr written to `log`; `name` is used in messages.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("could not start {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    /// Starts `cmd` and waits (at most `limit`) for it to print the address it bound.
    pub fn spawn_listening(
        name: &str,
        cmd: &mut Command,
        log: &Path,
        limit: Duration,
    ) -> Result<(Proc, Listening)> {
        let started = Instant::now();
        let mut proc = Proc::spawn(name, cmd, log)?;
        let mut seen = String::new();
        let mut reader = File::open(log).with_context(|| format!("opening {}", log.display()))?;
        loop {
            // Only whole lines are parsed; a line still being written waits for the next poll.
            let mut chunk = String::new();
            reader.read_to_string(&mut chunk)?;
            seen.push_str(&chunk);
            if let Some(end) = seen.rfind('\n') {
                for line in seen[..end].lines() {
                    if let Some((addr, url)) = parse_listen_line(line) {
                        let after = started.elapsed();
                        return Ok((proc, Listening { addr, url, after }));
                    }
                }
                seen.drain(..=end);
            }
            proc.ensure_running()
                .with_context(|| format!("{} stopped before listening", proc.name))?;
            if started.elapsed() > limit {
                bail!(
                    "{} did not report a listening address within {limit:?}{}",
                    proc.name,
                    proc.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_vm_rss_kib(&status).ok_or_else(|| anyhow!("no VmRSS line in {path}"))
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = parse_cpu_ticks(&stat).ok_or_else(|| anyhow!("unreadable {path}"))?;
        Ok(Duration::from_secs_f64(
            ticks as f64 / clock_ticks_per_second() as f64,
        ))
    }

    /// Fails if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            bail!("{} exited ({status}){}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// The last lines the process printed, formatted for an error message.
    pub fn log_tail(&self) -> String {
        let Ok(mut file) = File::open(&self.log) else {
            return String::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return String::new();
        }
        let skip = lines.len().saturating_sub(20);
        format!("; its last output:\n  {}", lines[skip..].join("\n  "))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The address in a "listening" log line: `listening on http://ADDR[/path]` (the ceiling, the
/// fake gateway, the server's text log), or `addr=ADDR` / `"addr":"ADDR"` on a line that
/// mentions listening (tracing's text and JSON fields).
pub fn parse_listen_line(line: &str) -> Option<(SocketAddr, String)> {
    if let Some(rest) = line.split("listening on http://").nth(1) {
        let url_rest: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect();
        let host_port: String = url_rest.chars().take_while(|c| *c != '/').collect();
        let addr = host_port.parse().ok()?;
        return Some((addr, format!("http://{url_rest}")));
    }
    if !line.contains("listening") {
        return None;
    }
    let rest = line
        .split("addr=")
        .nth(1)
        .or_else(|| line.split("\"addr\":\"").nth(1))?;
    let host_port: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
        .collect();
    let addr: SocketAddr = host_port.parse().ok()?;
    Some((addr, format!("http://{addr}")))
}

/// The `VmRSS` figure (KiB) of a `/proc/<pid>/status` text.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// utime + stime (clock ticks) of a `/proc/<pid>/stat` line. The command name may hold spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is the first after the name; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `getconf CLK_TCK`, read once; 100 (Linux's value everywhere) if it cannot be asked.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A port that was free a moment ago on 127.0.0.1, for programs (redis-server) that cannot be
/// told to pick one and report it.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until a Redis server at `addr` answers PING.
pub fn wait_for_redis(addr: SocketAddr, proc: &mut Proc, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            let mut reply = [0u8; 7];
            if stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && &reply == b"+PONG\r\n"
            {
                return Ok(started.elapsed());
            }
        }
        proc.ensure_running()?;
        if started.elapsed() > limit {
            bail!("redis-server on {addr} did not answer PING within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a command to completion, killing it if it outlives `limit`.
pub fn output_within(name: &str, cmd: &mut Command, limit: Duration) -> Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {name}"))?;
    let mut pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("stdout is piped")),
        Box::new(child.stderr.take().expect("stderr is piped")),
    ];
    let readers: Vec<_> = pipes
        .drain(..)
        .map(|mut pipe| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        })
        .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{name} did not finish within {limit:?} and was stopped");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut outputs = readers.into_iter().map(|r| r.join().unwrap_or_default());
    Ok(Output {
        status,
        stdout: outputs.next().unwrap_or_default(),
        stderr: outputs.next().unwrap_or_default(),
    })
}

/// The path of `program` on `PATH`, if it is there.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Makes sure `program` is on `PATH`, installing the Debian `package` with apt-get if not.
pub fn ensure_installed(program: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = find_on_path(program) {
        return Ok(path);
    }
    if find_on_path("apt-get").is_none() {
        bail!("{program} is not installed and apt-get is not available; install {package}");
    }
    eprintln!("bench: {program} not found; installing the Debian package {package}");
    let install = |update_first: bool| -> Result<bool> {
        if update_first {
            let status = Command::new("apt-get")
                .args(["update", "-qq"])
                .status()
                .context("running apt-get update")?;
            if !status.success() {
                return Ok(false);
            }
        }
        let status = Command::new("apt-get")
            .args(["install", "-y", "-qq", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("running apt-get install {package}"))?;
        Ok(status.success())
    };
    // A fresh machine has no package lists yet; update only when the plain install fails.
    if !install(false)? && !install(true)? {
        bail!("apt-get could not install {package} (are you root?); install it and run again");
    }
    find_on_path(program)
        .ok_or_else(|| anyhow!("{package} was installed but {program} is still not on PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_lines_of_every_program_are_understood() {
        let ceiling = parse_listen_line("listening on http://127.0.0.1:40123").unwrap();
        assert_eq!(ceiling.0, "127.0.0.1:40123".parse().unwrap());
        assert_eq!(ceiling.1, "http://127.0.0.1:40123");

        let fake = parse_listen_line("listening on http://127.0.0.1:5555/sync").unwrap();
        assert_eq!(fake.0.port(), 5555);
        assert_eq!(fake.1, "http://127.0.0.1:5555/sync");

        let text = "2026-11-28T20:00:00Z  INFO listening addr=127.0.0.1:8123 mode=mock";
        assert_eq!(parse_listen_line(text).unwrap().0.port(), 8123);

        let json =
            r#"{"level":"INFO","message":"listening","addr":"127.0.0.1:9001","mode":"mock"}"#;
        assert_eq!(parse_listen_line(json).unwrap().0.port(), 9001);

        let quoted = r#"INFO alistach: listening on http://127.0.0.1:7000" x"#;
        assert_eq!(
            parse_listen_line(quoted).unwrap().1,
            "http://127.0.0.1:7000"
        );
    }

    #[test]
    fn lines_without_an_address_are_ignored() {
        assert!(parse_listen_line("INFO starting up addr=127.0.0.1:1").is_none());
        assert!(parse_listen_line("listening on http://not-an-address").is_none());
        assert!(parse_listen_line("").is_none());
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    7432 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(7432));
        assert_eq!(parse_vm_rss_kib("Name: x\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS: 12 MB\n"), None);
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 3 0 1000";
        assert_eq!(parse_cpu_ticks(stat), Some(287));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn our_own_rss_is_readable() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_vm_rss_kib(&status).unwrap() > 0);
    }

    #[test]
    fn a_spawned_process_is_killed_when_its_guard_drops() {
        let Some(sleep) = find_on_path("sleep") else {
            eprintln!("skipped: no sleep binary");
            return;
        };
        let dir = scratch("kill");
        let log = dir.join("sleep.log");
        let proc = Proc::spawn("sleep", Command::new(sleep).arg("30"), &log).unwrap();
        let pid = proc.pid();
        assert!(log.exists());
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(proc);
        // Reaped by the guard, so the pid is gone (or reused by an unrelated process, which
        // would not be a zombie named sleep).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains("(sleep)"), "{stat}");
        assert!(!log.exists(), "the log goes with the process");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-procs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_listening_line_is_found_in_the_log_with_its_time() {
        let Some(sh) = find_on_path("sh") else {
            eprintln!("skipped: no sh");
            return;
        };
        let dir = scratch("listen");
        let (proc, listening) = Proc::spawn_listening(
            "announcer",
            Command::new(sh).args([
                "-c",
                "echo starting; echo 'INFO listening on http://127.0.0.1:4567/sync x=1'; sleep 30",
            ]),
            &dir.join("announcer.log"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(listening.addr.port(), 4567);
        assert_eq!(listening.url, "http://127.0.0.1:4567/sync");
        assert!(listening.after < Duration::from_secs(10));
        assert!(proc.log_tail().contains("starting"), "{}", proc.log_tail());
        drop(proc);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_process_that_never_listens_is_an_error_naming_it() {
        let Some(sh) = find_on_path("sh") else {
            eprintln!("skipped: no sh");
            return;
        };
        let dir = scratch("quit");
        let err = Proc::spawn_listening(
            "quitter",
            Command::new(sh).args(["-c", "echo about to fail; exit 3"]),
            &dir.join("quitter.log"),
            Duration::from_secs(10),
        )
        .err()
        .unwrap();
        let err = format!("{err:#}");
        assert!(err.contains("quitter") && err.contains("exited"), "{err}");
        assert!(
            err.contains("about to fail"),
            "the log tail is shown: {err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn output_within_stops_a_command_that_runs_too_long() {
        let Some(sleep) = find_on_path("sleep") else {
            eprintln!("skipped: no sleep binary");
            return;
        };
        let started = Instant::now();
        let err = output_within(
            "sleeper",
            Command::new(sleep).arg("30"),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.to_string().contains("sleeper"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
