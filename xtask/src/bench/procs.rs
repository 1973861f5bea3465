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
    /// Ask with SIGTERM first and give it time: a master process (nginx) stops its workers
    /// itself then, while a SIGKILL would leave them running as orphans.
    graceful: bool,
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
            graceful: false,
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

    /// CPU time (user + system) used so far by the process and every live descendant (a
    /// master process and its workers).
    pub fn tree_cpu_time(&self) -> Result<Duration> {
        let table = process_table();
        let ticks = subtree(&table, self.pid())
            .iter()
            .filter_map(|pid| table.iter().find(|e| e.pid == *pid))
            .map(|e| e.ticks)
            .sum::<u64>();
        if !table.iter().any(|e| e.pid == self.pid()) {
            bail!("{} (pid {}) is not in /proc", self.name, self.pid());
        }
        Ok(Duration::from_secs_f64(
            ticks as f64 / clock_ticks_per_second() as f64,
        ))
    }

    /// The live descendants of the process (not the process itself).
    pub fn descendants(&self) -> Vec<u32> {
        let mut pids = subtree(&process_table(), self.pid());
        pids.retain(|p| *p != self.pid());
        pids
    }

    /// Makes the guard stop the process with SIGTERM (and its leftover descendants with
    /// SIGKILL) instead of a bare SIGKILL.
    pub fn stop_gracefully_on_drop(&mut self) {
        self.graceful = true;
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
        if self.graceful && self.child.try_wait().ok().flatten().is_none() {
            let family = self.descendants();
            signal("TERM", self.pid());
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // The master reaps its workers as it stops; any it left behind are killed here.
            for pid in family {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    signal("KILL", pid);
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Sends a signal with the `kill` program (std can only SIGKILL its own children).
fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// One line of `/proc/<pid>/stat`, as far as the benchmark needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcEntry {
    pub pid: u32,
    pub ppid: u32,
    /// utime + stime, in clock ticks.
    pub ticks: u64,
}

/// Every process in `/proc` now (those that exit while it is read are left out).
fn process_table() -> Vec<ProcEntry> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat_entry(&stat)
        })
        .collect()
}

/// The pid, parent pid and CPU ticks of a `/proc/<pid>/stat` line.
pub fn parse_stat_entry(stat: &str) -> Option<ProcEntry> {
    let pid = stat.split_whitespace().next()?.parse().ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 4 (ppid) is the second after the name.
    let ppid = after_name.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcEntry {
        pid,
        ppid,
        ticks: parse_cpu_ticks(stat)?,
    })
}

/// `root` and every process below it in `table`, parents before children.
pub fn subtree(table: &[ProcEntry], root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        let children: Vec<u32> = table
            .iter()
            .filter(|e| e.ppid == parent && e.pid != parent && !out.contains(&e.pid))
            .map(|e| e.pid)
            .collect();
        out.extend(children);
        i += 1;
    }
    out
}

/// The soft and hard `Max open files` limits of a `/proc/<pid>/limits` text (`None` for
/// "unlimited").
pub fn parse_open_files_limit(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line["Max open files".len()..].split_whitespace();
    let mut value = || -> Option<Option<u64>> {
        match words.next()? {
            "unlimited" => Some(None),
            n => Some(Some(n.parse().ok()?)),
        }
    };
    Some((value()?, value()?))
}

/// Our soft limit on open files, raised to `wanted` (within the hard limit, with `prlimit`)
/// when it is lower, so every process the benchmark starts inherits enough for 1,024
/// connections. Returns the soft limit in force afterwards.
pub fn raise_open_files(wanted: u64) -> Result<u64> {
    let read = || -> Result<(Option<u64>, Option<u64>)> {
        let text = std::fs::read_to_string("/proc/self/limits")?;
        parse_open_files_limit(&text)
            .ok_or_else(|| anyhow!("no Max open files in /proc/self/limits"))
    };
    let (soft, hard) = read()?;
    let soft = soft.unwrap_or(u64::MAX);
    if soft >= wanted {
        return Ok(soft);
    }
    let target = hard.map_or(wanted, |h| h.min(wanted));
    let Some(prlimit) = find_on_path("prlimit") else {
        return Ok(soft);
    };
    let hard_text = hard.map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
    let _ = Command::new(prlimit)
        .args([
            "--pid".to_owned(),
            std::process::id().to_string(),
            format!("--nofile={target}:{hard_text}"),
        ])
        .stdin(Stdio::null())
        .status();
    Ok(read()?.0.unwrap_or(u64::MAX))
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
    fn stat_lines_give_pid_parent_and_ticks() {
        let stat =
            "4243 (nginx: worker) S 4242 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 1000";
        assert_eq!(
            parse_stat_entry(stat),
            Some(ProcEntry {
                pid: 4243,
                ppid: 4242,
                ticks: 287
            })
        );
        assert_eq!(parse_stat_entry("x (y) S"), None);
    }

    #[test]
    fn a_subtree_holds_the_root_and_all_its_descendants() {
        let e = |pid, ppid| ProcEntry {
            pid,
            ppid,
            ticks: 1,
        };
        let table = [
            e(1, 0),
            e(10, 1),
            e(11, 10),
            e(12, 10),
            e(13, 12),
            e(20, 1),
            e(14, 99),
        ];
        let mut tree = subtree(&table, 10);
        tree.sort_unstable();
        assert_eq!(tree, [10, 11, 12, 13]);
        assert_eq!(subtree(&table, 20), [20]);
    }

    #[test]
    fn open_file_limits_are_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63704                63704                processes \nMax open files            1024                 524288               files     \n";
        assert_eq!(
            parse_open_files_limit(limits),
            Some((Some(1024), Some(524_288)))
        );
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), Some((None, None)));
        assert_eq!(parse_open_files_limit("Max processes 1 1\n"), None);
        let ours = std::fs::read_to_string("/proc/self/limits").unwrap();
        assert!(parse_open_files_limit(&ours).is_some());
    }

    #[test]
    fn a_process_tree_is_timed_and_stopped_whole() {
        let Some(sh) = find_on_path("sh") else {
            eprintln!("skipped: no sh");
            return;
        };
        let dir = scratch("tree");
        // A parent that starts a busy child and waits, like a master and its worker.
        let mut proc = Proc::spawn(
            "family",
            Command::new(sh).args(["-c", "sh -c 'while :; do :; done' & wait"]),
            &dir.join("family.log"),
        )
        .unwrap();
        proc.stop_gracefully_on_drop();
        let started = Instant::now();
        while proc.descendants().is_empty() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let family = proc.descendants();
        assert!(!family.is_empty());
        std::thread::sleep(Duration::from_millis(300));
        // The busy loop is the child's: the parent alone has used next to nothing.
        assert!(proc.tree_cpu_time().unwrap() >= Duration::from_millis(100));
        drop(proc);
        std::thread::sleep(Duration::from_millis(50));
        for pid in family {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or at most a zombie waiting for a reaper.
            assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
        }
        let _ = std::fs::remove_dir_all(dir);
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
