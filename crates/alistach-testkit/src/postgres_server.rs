//! Starts a private PostgreSQL for tests: `initdb` and `postgres` from Debian's packages
//! (`/usr/lib/postgresql/*/bin`, else `PATH`) on a free 127.0.0.1 port, in a temporary
//! directory, trust authentication, no durability (fsync off), stopped on drop.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI, containers), `initdb`
//! and `postgres` run as the `postgres` user (else `nobody`) with the directory handed to it.
//! A PostgreSQL already running on the machine (port 5432) is never touched.
//!
//! On a machine without PostgreSQL, [`PostgresServer::start_or_skip`] lets a test skip with a
//! message, except under CI (the `CI` variable set), where it fails.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 3;
/// The superuser `initdb` creates; trust authentication, so no password.
const SUPERUSER: &str = "postgres";

/// A running PostgreSQL owned by a test.
#[derive(Debug)]
pub struct PostgresServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<(u32, u32)>,
}

impl PostgresServer {
    /// Starts a server on a free port, panicking with the reason if it cannot.
    pub fn start() -> PostgresServer {
        PostgresServer::try_start()
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL for a test: {e}"))
    }

    /// Starts a server on a free port.
    pub fn try_start() -> io::Result<PostgresServer> {
        let bin = bin_dir()?;
        let run_as = if is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let dir = temp_dir(run_as.is_some())?;
        let data = dir.join("data");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let mut server = PostgresServer {
            child: None,
            port: 0,
            dir,
            bin,
            run_as,
        };
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let mut last = None;
        // The port is free when picked but another process may take it before postgres binds.
        for _ in 0..PORT_ATTEMPTS {
            match server.spawn(free_port()?) {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no attempt made")))
    }

    /// A server, or `None` (after saying so on stderr) when PostgreSQL is not installed.
    /// Panics instead when the `CI` variable is set, or when it is installed but fails.
    pub fn start_or_skip(test: &str) -> Option<PostgresServer> {
        match PostgresServer::try_start() {
            Ok(server) => Some(server),
            Err(e) if e.kind() == io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
                eprintln!(
                    "skipping {test}: {e} (install Debian's postgresql to run it; under CI this fails)"
                );
                None
            }
            Err(e) => panic!("{test} needs PostgreSQL: {e}"),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        // A server started from the tests' directory would try to read it as root's cwd.
        command.current_dir(&self.dir);
        command
    }

    fn spawn(&mut self, port: u16) -> io::Result<()> {
        let log = std::fs::File::create(self.dir.join("postgres.log"))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(self.dir.join("postgres.log"), Some(uid), Some(gid))?;
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "max_connections=100",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.port = port;
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
            if log.contains("ready to accept connections")
                && TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "postgres on port {} exited with {status} before it was ready; its log: {}",
                    self.port,
                    tail(&log)
                )));
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "postgres on port {} was not ready within {START_TIMEOUT:?}",
                        self.port
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (`postgres` always exists; see
    /// [`PostgresServer::create_database`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database and answers its URL.
    pub fn create_database(&self, db: &str) -> String {
        let output = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                db,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running createdb: {e}"));
        assert!(
            output.status.success(),
            "createdb {db} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.url(db)
    }

    /// Runs SQL with `psql` on database `db` and answers its unaligned output, for tests that
    /// look behind the application's back.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        let output = self
            .command("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            .args([
                "-d",
                db,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Stops the server (fast shutdown, then a kill if it lingers) and waits for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/N/bin` holding `postgres`, else the directory of `initdb`
/// on `PATH`.
fn bin_dir() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL (initdb, postgres) was not found in /usr/lib/postgresql/*/bin or on PATH",
            )
        })
}

fn is_root() -> bool {
    // The owner of our own process directory is our effective user.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `postgres`'s uid and gid from `/etc/passwd`, else `nobody`'s.
fn unprivileged_user() -> io::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for name in ["postgres", "nobody"] {
        let found = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        });
        if let Some(ids) = found {
            return Ok(ids);
        }
    }
    Err(io::Error::other(
        "running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as",
    ))
}

/// A port nothing listens on right now, chosen by the kernel.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A fresh directory for the cluster. Run as another user, it goes under `/tmp`, which that
/// user can reach (a `TMPDIR` under root's home may not be).
fn temp_dir(for_another_user: bool) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let base = if for_another_user && std::path::Path::new("/tmp").is_dir() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("alistach-pg-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_stops() {
        let Some(server) =
            PostgresServer::start_or_skip("postgres_server::starts_answers_and_stops")
        else {
            return;
        };
        assert_ne!(server.port(), 5432);
        assert_eq!(server.psql("postgres", "SELECT 1 + 1").unwrap(), "2");
        let url = server.create_database("second");
        assert!(url.ends_with("/second"), "{url}");
        assert_eq!(
            server.psql("second", "SELECT current_database()").unwrap(),
            "second"
        );
        assert!(server.psql("postgres", "SELECT nonsense").is_err());
        let (port, dir) = (server.port(), server.dir.clone());
        drop(server);
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "dropping the handle stops the server"
        );
        assert!(!dir.exists(), "the temporary directory is removed");
    }
}
