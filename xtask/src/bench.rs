//! `cargo xtask bench`: builds the release binaries, starts each process under test on
//! 127.0.0.1 (the gateway in mock mode, with Redis, against the fake AliExpress gateway, behind
//! nginx proxy_cache, and the `alistach-ceiling` server), measures it with wrk (at 32
//! connections and in a sweep of 8, 128 and 1,024), prints a table and writes
//! `docs/benchmarks.md` with a verdict for each target. A benchmark is a program, not a test:
//! it reports figures and never fails because a machine was slow.
//!
//! Every process it starts is owned by a guard that stops it on drop, so an error leaves none
//! behind; they share the terminal's process group, so Ctrl-C reaches them too.

pub mod cache_policy;
mod http;
mod nginx;
mod procs;
mod report;
mod wrk;

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use self::procs::Proc;
use self::report::{CacheMemory, Figure, Machine, NginxSetup, Report, Startup, SweepPoint, key};
use self::wrk::{Load, RotatingPost, UniquePost, WrkResult};

/// The `bench` lines of `cargo xtask --help`.
pub const USAGE: &str =
    "  bench              build in release mode, measure the gateway against a minimal hyper server
                     and nginx proxy_cache, with a sweep of 8, 128 and 1,024 connections, print a
                     table and write docs/benchmarks.md (installs wrk, redis-server and nginx
                     with apt-get when missing; about 3 minutes, 1.5 with --quick). Options:
                       --duration SECS     length of each measured run (default 5, 1..=60)
                       --connections N     wrk connections of the main table (default 32)
                       --threads N         wrk threads (default 2)
                       --quick             2 s runs and one round instead of two
                       --no-build          use the release binaries already in target/
                       --no-write          print the table only";

/// The cached search every throughput scenario sends: the README's example query, with a
/// price ceiling far above every earbud so the 64 bodies are 64 cache keys with the same page.
const SEARCH: RotatingPost = RotatingPost {
    template: r#"{"keywords":"wireless earbuds","page_size":10,"max_sale_price":"%d.00"}"#,
    first: 1000,
    count: 64,
};
const SEARCH_SCRIPT: &str = "search.lua";
/// The same query with a price ceiling no earlier request used, so every request is a distinct
/// upstream call (never coalesced with a concurrent one).
const UNCACHED: UniquePost = UniquePost {
    template: SEARCH.template,
    first: 1000,
};
const UNCACHED_SCRIPT: &str = "uncached.lua";
/// The headline request of the issue: one cached key, a GET that nginx can cache too.
const SEARCH_GET: &str = "/api/products/search?keywords=wireless%20earbuds&page_size=10";
/// Connection counts of the concurrency sweep.
const SWEEP: [u32; 3] = [8, 128, 1024];
/// The count of the sweep with goals of its own (throughput and p99 against nginx's).
const SWEEP_TARGET: u32 = 1024;
/// Open files asked for, inherited by every process started: 1,024 connections each for wrk
/// and the server, and for nginx as many again to the gateway.
const OPEN_FILES: u64 = 8192;
/// Below this the 1,024-connection runs cannot work.
const OPEN_FILES_NEEDED: u64 = 2200;
/// The most upstream calls per second the server accepts (`ALIEXPRESS_MAX_QPS`, 1-1000).
const MAX_QPS: &str = "1000";
const SEARCH_PATH: &str = "/api/products/search";
const NO_CACHE_PATH: &str = "/api/products/search/no-cache";

/// Rate limits high enough never to refuse a benchmark request, so limits are on but not binding
/// (the highest values the server accepts). wrk connects from one address, so the per-address
/// connection cap (default 1,000) is raised above the sweep's 1,024 connections.
const HIGH_LIMITS: [(&str, &str); 3] = [
    ("MAX_REQUESTS_PER_MINUTE", "100000000"),
    ("MAX_REQUESTS_PER_SECOND", "10000000"),
    ("MAX_CONNECTIONS_PER_IP", "100000"),
];

/// Only for the benchmark's own processes; never a real credential.
const BENCH_ADMIN_KEY: &str = "bench-admin-key-not-a-secret-0001";
const FAKE_APP_KEY: &str = "20250001";
const FAKE_APP_SECRET: &str = "bench-fake-gateway-secret";

const CEILING_LABEL: &str = "ceiling (fixed body)";
const MEMORY_LABEL: &str = "cached search, memory";
const NO_LIMITS_LABEL: &str = "cached search, memory, limits off";
const NGINX_LABEL: &str = "nginx proxy_cache (in front of the gateway)";
const POST_LABEL: &str = "cached search, memory, 64 rotating POST bodies";
const REDIS_LABEL: &str = "cached search, Redis";
const REDIS_NO_LIMITS_LABEL: &str = "cached search, Redis, limits off";
const HEALTH_LABEL: &str = "GET /health";
const CATEGORIES_LABEL: &str = "categories (cached)";
const UNCACHED_LABEL: &str = "uncached search (fake gateway)";
const LOOP_DIRECT_LABEL: &str = "cached search, memory, direct links (revenue-loop baseline)";
const LOOP_TRACKED_LABEL: &str = "cached search, memory, LINK_TRACKING=redirect";
const LOOP_EXPERIMENT_LABEL: &str = "cached search, memory, redirect + a running A/B experiment";
const ANALYTICS_ON_LABEL: &str = "cached search, memory, usage analytics on (the default)";
const ANALYTICS_OFF_LABEL: &str = "cached search, memory, ANALYTICS=false";
/// Rounds of the revenue-loop comparison (its three subjects measured in turns).
const LOOP_ROUNDS: usize = 5;
/// Only for the benchmark's own processes; never a real key.
const BENCH_LINK_KEY: &str = "bench-link-signing-key-not-a-secret-0123456789";

const START_LIMIT: Duration = Duration::from_secs(20);
const WARM_UP: Duration = Duration::from_secs(1);
const STARTS: usize = 5;
const CACHED_PAGES: usize = 10_000;
const FILL_WORKERS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Options {
    load: Load,
    /// Interleaved rounds of the headline scenarios.
    rounds: usize,
    build: bool,
    write: bool,
    /// Only the usage-analytics comparison (a quick check; nothing is written).
    only_analytics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            load: Load {
                threads: 2,
                connections: 32,
                duration: Duration::from_secs(5),
            },
            rounds: 2,
            build: true,
            write: true,
            only_analytics: false,
        }
    }
}

fn parse_options(args: &[&str]) -> Result<Options> {
    let mut opts = Options::default();
    let mut quick = false;
    let mut duration = None;
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let mut value = |range: std::ops::RangeInclusive<u32>| -> Result<u32> {
            let text = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .copied()
                    .ok_or_else(|| anyhow!("{name} needs a value"))?,
            };
            match text.parse::<u32>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => bail!(
                    "{name} must be a whole number from {} to {}, not {text:?}",
                    range.start(),
                    range.end()
                ),
            }
        };
        match name {
            "--duration" => duration = Some(Duration::from_secs(value(1..=60)?.into())),
            "--quick" if inline.is_none() => quick = true,
            "--connections" => opts.load.connections = value(1..=10_000)?,
            "--threads" => opts.load.threads = value(1..=64)?,
            "--no-build" if inline.is_none() => opts.build = false,
            "--no-write" if inline.is_none() => opts.write = false,
            "--only-analytics" if inline.is_none() => {
                opts.only_analytics = true;
                opts.write = false;
            }
            _ => bail!("unknown bench option {arg:?}"),
        }
    }
    if quick {
        opts.load.duration = Duration::from_secs(2);
        opts.rounds = 1;
    }
    if let Some(d) = duration {
        opts.load.duration = d;
    }
    if opts.load.connections < opts.load.threads {
        bail!(
            "--connections ({}) must be at least --threads ({})",
            opts.load.connections,
            opts.load.threads
        );
    }
    Ok(opts)
}

/// Runs the benchmark from the workspace at `root`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let started = Instant::now();
    let opts = parse_options(args)?;
    let wrk = procs::ensure_installed("wrk", "wrk")?;
    let redis = procs::ensure_installed("redis-server", "redis-server");
    let mut notes = Vec::new();
    let mut failed = Vec::new();
    if let Err(e) = &redis {
        notes.push(format!("The Redis scenario was skipped: {e:#}."));
        failed.push(format!("{REDIS_LABEL}: {e:#}"));
    }
    let redis = redis.ok();
    let nginx = find_nginx();
    if let Err(e) = &nginx {
        notes.push(format!(
            "The nginx proxy_cache scenario was skipped: {e:#}."
        ));
        failed.push(format!("{NGINX_LABEL}: {e:#}"));
    }
    let nginx = nginx.ok();
    let open_files = procs::raise_open_files(OPEN_FILES).ok();
    if open_files.is_some_and(|n| n < OPEN_FILES_NEEDED) {
        notes.push(format!(
            "The open-file limit is {} (its hard limit allows no more): the 1,024-connection runs \
             may fail for want of file descriptors.",
            open_files.unwrap_or_default()
        ));
    }
    // Before the build, so the load average shows other work rather than our own compiler.
    let machine = Machine::detect(root, &wrk, redis.as_deref(), nginx.as_deref());

    let build_command =
        "cargo build --release -p alistach-server -p aliexpress-fake -p alistach-ceiling";
    let build_time = if opts.build {
        eprintln!("bench: {build_command}");
        let begun = Instant::now();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        // `cargo run` gave us xtask's package variables; build scripts that watch them (ring
        // watches CARGO_PKG_NAME) would rebuild on every switch between this and a plain build.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_package_variable) {
                build.env_remove(&name);
            }
        }
        let status = build
            .args(build_command.split_whitespace().skip(1))
            .current_dir(root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("{build_command} failed ({status})");
        }
        Some(begun.elapsed())
    } else {
        None
    };
    let bins = Bins::locate(root)?;
    let scratch = Scratch::create()?;
    let search_script = scratch.write(SEARCH_SCRIPT, &SEARCH.lua()?)?;
    let uncached_script = scratch.write(UNCACHED_SCRIPT, &UNCACHED.lua()?)?;

    let mut bench = Bench {
        load: opts.load,
        rounds: opts.rounds,
        nginx,
        sweep: Vec::new(),
        nginx_setup: None,
        wrk,
        bins,
        scratch,
        logs: Cell::new(0),
        figures: Vec::new(),
        notes,
        failed,
    };

    if opts.only_analytics {
        eprintln!("bench: usage analytics on vs ANALYTICS=false, cached search, in turns");
        bench.analytics_cost()?;
        for f in &bench.figures {
            eprintln!(
                "{}: runs {:?} req/s",
                f.label,
                f.runs_rps.iter().map(|r| r.round()).collect::<Vec<_>>()
            );
        }
        let t = report::analytics_target(&bench.figures);
        eprintln!("{}: {} (goal {})", t.what, t.measured, t.goal);
        return Ok(());
    }
    eprintln!("bench: start-up ({STARTS} starts)");
    let startup = bench.startup()?;
    eprintln!(
        "bench: cached GET search from memory (rate limits on and off), nginx proxy_cache and \
         the ceiling, interleaved; then the sweep of {SWEEP:?} connections"
    );
    bench.headline()?;
    eprintln!("bench: {POST_LABEL}");
    let outcome = bench.search_post(&search_script);
    bench.soft(key::SEARCH_MEMORY_POST, POST_LABEL, outcome);
    for (key, label, path) in [
        (key::HEALTH, HEALTH_LABEL, "/health"),
        (key::CATEGORIES, CATEGORIES_LABEL, "/api/categories"),
    ] {
        eprintln!("bench: {label}");
        let outcome = bench.simple_get(key, label, path);
        bench.soft(key, label, outcome);
    }
    if let Some(redis) = &redis {
        eprintln!("bench: {REDIS_LABEL}");
        let outcome = bench.search_redis(redis, &search_script);
        bench.soft(key::SEARCH_REDIS, REDIS_LABEL, outcome);
    }
    eprintln!("bench: the revenue loop's cost: direct links, tracked links, a running experiment");
    if let Err(e) = bench.revenue_loop() {
        for (k, label) in [
            (key::LOOP_DIRECT, LOOP_DIRECT_LABEL),
            (key::LOOP_TRACKED, LOOP_TRACKED_LABEL),
            (key::LOOP_EXPERIMENT, LOOP_EXPERIMENT_LABEL),
        ] {
            bench.soft(k, label, Err(anyhow!("{e:#}")));
        }
    }
    eprintln!("bench: usage analytics on vs ANALYTICS=false, cached search, in turns");
    if let Err(e) = bench.analytics_cost() {
        for (k, label) in [
            (key::ANALYTICS_ON, ANALYTICS_ON_LABEL),
            (key::ANALYTICS_OFF, ANALYTICS_OFF_LABEL),
        ] {
            bench.soft(k, label, Err(anyhow!("{e:#}")));
        }
    }
    eprintln!("bench: {UNCACHED_LABEL}");
    let outcome = bench.search_uncached(&uncached_script);
    bench.soft(key::SEARCH_UNCACHED, UNCACHED_LABEL, outcome);
    eprintln!("bench: resident memory with {CACHED_PAGES} cached pages");
    let cache_memory = bench.cache_memory().map_err(|e| {
        bench.failed.push(format!("cache memory: {e:#}"));
        format!("{e:#}")
    });

    let order = [
        key::CEILING,
        key::SEARCH_MEMORY,
        key::SEARCH_MEMORY_NO_LIMITS,
        key::NGINX,
        key::SEARCH_MEMORY_POST,
        key::SEARCH_REDIS,
        key::SEARCH_REDIS_NO_LIMITS,
        key::CATEGORIES,
        key::HEALTH,
        key::LOOP_DIRECT,
        key::LOOP_TRACKED,
        key::LOOP_EXPERIMENT,
        key::ANALYTICS_OFF,
        key::ANALYTICS_ON,
        key::SEARCH_UNCACHED,
    ];
    bench
        .figures
        .sort_by_key(|f| order.iter().position(|k| *k == f.key).unwrap_or(usize::MAX));
    let report = Report {
        date: report::now_text(),
        machine,
        load: opts.load,
        rounds: opts.rounds,
        sweep_connections: SWEEP.to_vec(),
        sweep: bench.sweep,
        open_files,
        nginx: bench.nginx_setup,
        build_command: build_command.to_owned(),
        build_time,
        startup,
        figures: bench.figures,
        cache_memory,
        scripts: vec![
            (SEARCH_SCRIPT.to_owned(), SEARCH.lua()?),
            (UNCACHED_SCRIPT.to_owned(), UNCACHED.lua()?),
        ],
        notes: bench.notes,
        elapsed: started.elapsed(),
    };
    println!("\n{}", report.table());
    if opts.write {
        let path = root.join("docs/benchmarks.md");
        // The cache-policy replay's section is its own command's: keep it.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let text = match cache_policy::section_of(&old) {
            Some(section) => format!("{}\n{section}\n", report.markdown().trim_end()),
            None => report.markdown(),
        };
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if !bench.failed.is_empty() {
        bail!(
            "{} scenario(s) could not be measured:\n  {}",
            bench.failed.len(),
            bench.failed.join("\n  ")
        );
    }
    Ok(())
}

/// Whether `name` is one of the variables Cargo sets for the crate it runs.
fn is_package_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// The run's pid in the name of a scratch directory (`alistach-bench-PID`).
fn stale_scratch_pid(name: &str) -> Option<u32> {
    name.strip_prefix("alistach-bench-")?.parse().ok()
}

/// The release binaries.
struct Bins {
    server: PathBuf,
    fake: PathBuf,
    ceiling: PathBuf,
}

impl Bins {
    fn locate(root: &Path) -> Result<Bins> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| if p.is_relative() { root.join(p) } else { p })
            .unwrap_or_else(|| root.join("target"));
        let bin = |name: &str| -> Result<PathBuf> {
            let path = target.join("release").join(name);
            if !path.is_file() {
                bail!(
                    "{} is missing; run `cargo xtask bench` without --no-build",
                    path.display()
                );
            }
            Ok(path)
        };
        Ok(Bins {
            server: bin("alistach-server")?,
            fake: bin("aliexpress-fake")?,
            ceiling: bin("alistach-ceiling")?,
        })
    }
}

/// A private temporary directory for the wrk scripts and the logs, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create() -> Result<Scratch> {
        let temp = std::env::temp_dir();
        // A run stopped with Ctrl-C ends without dropping its guards: its processes stop on
        // the signal, but its directory stays. Remove those whose run is gone.
        if let Ok(entries) = std::fs::read_dir(&temp) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some(pid) = name.to_str().and_then(stale_scratch_pid)
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = temp.join(format!("alistach-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch { dir })
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A started `alistach-server`.
struct Server {
    proc: Proc,
    addr: SocketAddr,
    bound: Duration,
    healthy: Duration,
    command: String,
}

/// A warmed process under test and the wrk runs made against it.
struct Subject {
    key: &'static str,
    label: &'static str,
    proc: Proc,
    addr: SocketAddr,
    path: &'static str,
    script: Option<PathBuf>,
    command: String,
    response_bytes: usize,
    /// The process it forwards to (the gateway behind nginx), timed apart.
    behind: Option<Proc>,
    runs: Vec<Run>,
}

impl Subject {
    /// The headline cached GET on a started, warmed server.
    fn get(key: &'static str, label: &'static str, server: Server, bytes: usize) -> Subject {
        Subject {
            key,
            label,
            proc: server.proc,
            addr: server.addr,
            path: SEARCH_GET,
            script: None,
            command: server.command,
            response_bytes: bytes,
            behind: None,
            runs: Vec::new(),
        }
    }
}

/// One measured wrk run.
#[derive(Clone, Copy, Debug)]
struct Run {
    result: WrkResult,
    /// CPU time the process under test spent per request.
    cpu: Duration,
    /// The same for the helper process it calls (redis-server, or the gateway behind nginx).
    companion_cpu: Option<Duration>,
    /// CPU time of the process under test, and of the helper, over the whole run.
    cpu_total: Duration,
    companion_total: Option<Duration>,
}

struct Bench {
    load: Load,
    rounds: usize,
    nginx: Option<PathBuf>,
    sweep: Vec<SweepPoint>,
    nginx_setup: Option<NginxSetup>,
    wrk: PathBuf,
    bins: Bins,
    scratch: Scratch,
    /// Numbers the log files.
    logs: Cell<usize>,
    figures: Vec<Figure>,
    notes: Vec<String>,
    failed: Vec<String>,
}

impl Bench {
    fn log_path(&self, name: &str) -> PathBuf {
        let n = self.logs.get() + 1;
        self.logs.set(n);
        self.scratch.dir.join(format!("{n:02}-{name}.log"))
    }

    /// Records a scenario that failed without stopping the run.
    fn soft(&mut self, key: &'static str, label: &'static str, outcome: Result<()>) {
        if let Err(e) = outcome {
            let text = format!("{e:#}");
            eprintln!("bench: {label} failed: {text}");
            self.failed.push(format!("{label}: {text}"));
            if !self.figures.iter().any(|f| f.key == key) {
                self.figures.push(Figure {
                    key,
                    label,
                    request: String::new(),
                    server_command: String::new(),
                    wrk_command: String::new(),
                    response_bytes: None,
                    cpu_per_request: None,
                    outcome: Err(text),
                    note: None,
                    runs_rps: Vec::new(),
                });
            }
        }
    }

    fn server_help(&self) -> Result<String> {
        let out = procs::output_within(
            "alistach-server --help",
            Command::new(&self.bins.server)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .arg("--help"),
            START_LIMIT,
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts the server with a clean environment plus `env`, and waits for `/health`.
    fn start_server(&self, env: &[(&str, &str)]) -> Result<Server> {
        let mut cmd = Command::new(&self.bins.server);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .args(["--listen", "127.0.0.1:0"]);
        let command = format!(
            "{}target/release/alistach-server --listen 127.0.0.1:0",
            env_text(env)
        );
        let spawned = Instant::now();
        let (mut proc, listening) = Proc::spawn_listening(
            "alistach-server",
            &mut cmd,
            &self.log_path("server"),
            START_LIMIT,
        )?;
        let healthy =
            http::wait_for_200(listening.addr, "/health", spawned, START_LIMIT).map_err(|e| {
                let _ = proc.ensure_running();
                anyhow!("{e:#}{}", proc.log_tail())
            })?;
        Ok(Server {
            proc,
            addr: listening.addr,
            bound: listening.after,
            healthy,
            command,
        })
    }

    fn startup(&self) -> Result<Startup> {
        let mut startup = Startup::default();
        for _ in 0..STARTS {
            let server = self.start_server(&[])?;
            startup.idle_rss_kib.push(server.proc.rss_kib()?);
            startup.bound.push(server.bound);
            startup.healthy.push(server.healthy);
        }
        Ok(startup)
    }

    /// Measures every subject `rounds` times, taking turns so that a burst of other load on the
    /// machine hits them alike; each gets a warm-up run first. The CPU time of `companion` (a
    /// process every subject calls) is counted per run too.
    fn measure(
        &self,
        subjects: &mut [Subject],
        rounds: usize,
        companion: Option<&Proc>,
    ) -> Result<()> {
        for round in 0..rounds {
            for s in subjects.iter_mut() {
                let run = self.run_once(s, &self.load, round == 0, companion)?;
                s.runs.push(run);
            }
        }
        Ok(())
    }

    /// One wrk run against `s` (after a warm-up run when `warm`), with the CPU time the
    /// process tree under test, and its helper, spent on it.
    fn run_once(
        &self,
        s: &mut Subject,
        load: &Load,
        warm: bool,
        companion: Option<&Proc>,
    ) -> Result<Run> {
        let url = format!("http://{}{}", s.addr, s.path);
        if warm {
            let warm = Load {
                duration: WARM_UP,
                ..*load
            };
            wrk::run(&self.wrk, &warm, &url, s.script.as_deref())?;
        }
        let companion = s.behind.as_ref().or(companion);
        let cpu_before = s.proc.tree_cpu_time()?;
        let companion_before = companion.map(Proc::tree_cpu_time).transpose()?;
        let result = wrk::run(&self.wrk, load, &url, s.script.as_deref())?;
        let cpu = s.proc.tree_cpu_time()?.saturating_sub(cpu_before);
        let companion_total = match (companion, companion_before) {
            (Some(c), Some(before)) => Some(c.tree_cpu_time()?.saturating_sub(before)),
            _ => None,
        };
        s.proc.ensure_running()?;
        if let Some(behind) = &mut s.behind {
            behind.ensure_running()?;
        }
        let per_request = |d: Duration| d.div_f64(result.requests.max(1) as f64);
        Ok(Run {
            result,
            cpu: per_request(cpu),
            companion_cpu: companion_total.map(per_request),
            cpu_total: cpu,
            companion_total,
        })
    }

    /// Records the figure of a measured subject: its best run (other load only ever slows a run
    /// down). A run with error answers makes the scenario a failure: its speed means nothing.
    fn record(&mut self, s: Subject) {
        let best = s.runs.iter().copied().max_by(|a, b| {
            a.result
                .requests_per_sec
                .total_cmp(&b.result.requests_per_sec)
        });
        let mut notes = Vec::new();
        if s.runs.len() > 1 {
            let all: Vec<String> = s
                .runs
                .iter()
                .map(|run| report::thousands(run.result.requests_per_sec))
                .collect();
            notes.push(format!(
                "{}: best of {} interleaved runs ({} req/s).",
                s.label,
                s.runs.len(),
                all.join(", ")
            ));
        }
        if let Some(r) = s.runs.iter().map(|run| run.result).find(|r| !r.is_clean()) {
            let problem = format!(
                "{} answers were not 2xx and {} socket errors occurred in a run",
                r.non_2xx, r.socket_errors
            );
            self.failed.push(format!("{}: {problem}", s.label));
            notes.push(format!(
                "{}: {problem}; the figure is not comparable.",
                s.label
            ));
        }
        let display_script = s
            .script
            .as_deref()
            .map(|p| PathBuf::from(p.file_name().unwrap_or_default()));
        let wrk_command = format!(
            "wrk {}",
            wrk::args(
                &self.load,
                &format!("http://127.0.0.1:PORT{}", s.path),
                display_script.as_deref()
            )
            .join(" ")
        );
        match best {
            Some(run) if s.behind.is_some() => {
                let gateway = run.companion_total.unwrap_or_default();
                let share = gateway.as_secs_f64() / run.cpu_total.as_secs_f64().max(1e-9);
                notes.push(format!(
                    "{}: the gateway behind nginx used {:.0} ms of CPU during the reported run \
                     ({:.2} µs per request, {} of nginx's {:.0} ms), so nginx answered from its \
                     own cache.",
                    s.label,
                    gateway.as_secs_f64() * 1e3,
                    run.companion_cpu.unwrap_or_default().as_secs_f64() * 1e6,
                    percent_text(share),
                    run.cpu_total.as_secs_f64() * 1e3
                ));
                if share > MAX_UPSTREAM_SHARE {
                    let problem = format!(
                        "the gateway behind nginx used {} of nginx's CPU time: nginx was not \
                         serving from its cache alone",
                        percent_text(share)
                    );
                    self.failed.push(format!("{}: {problem}", s.label));
                    notes.push(format!("{}: {problem}.", s.label));
                }
            }
            Some(Run {
                companion_cpu: Some(companion),
                ..
            }) => notes.push(format!(
                "{}: redis-server used {:.1} µs of CPU per request besides the gateway's.",
                s.label,
                companion.as_secs_f64() * 1e6
            )),
            _ => {}
        }
        let method = if s.script.is_some() { "POST" } else { "GET" };

        self.figures.push(Figure {
            key: s.key,
            label: s.label,
            request: format!("{method} {}", s.path),
            server_command: s.command,
            wrk_command,
            response_bytes: Some(s.response_bytes),
            outcome: best
                .map(|run| run.result)
                .ok_or_else(|| "no run".to_owned()),
            cpu_per_request: best.map(|run| run.cpu),
            note: (!notes.is_empty()).then(|| notes.join(" ")),
            runs_rps: s.runs.iter().map(|r| r.result.requests_per_sec).collect(),
        });
    }

    fn search_subject(
        &self,
        key: &'static str,
        label: &'static str,
        env: &[(&str, &str)],
        script: &Path,
    ) -> Result<Subject> {
        let server = self.start_server(env)?;
        let bytes = warm_search(server.addr, SEARCH_PATH)?;
        Ok(Subject {
            key,
            label,
            proc: server.proc,
            addr: server.addr,
            path: SEARCH_PATH,
            script: Some(script.to_owned()),
            command: server.command,
            response_bytes: bytes,
            behind: None,
            runs: Vec::new(),
        })
    }

    /// A server warmed so that the headline GET is a cache hit.
    fn get_subject(
        &self,
        key: &'static str,
        label: &'static str,
        env: &[(&str, &str)],
    ) -> Result<Subject> {
        let server = self.start_server(env)?;
        let bytes = warm_get(server.addr, SEARCH_GET, "x-cache")?;
        Ok(Subject::get(key, label, server, bytes))
    }

    /// The revenue loop's cost on the cached GET: direct links, tracked links
    /// (`LINK_TRACKING=redirect`), and tracked links with an A/B experiment running (its
    /// variant's answer cached), each with its own database, measured in turns.
    fn revenue_loop(&mut self) -> Result<()> {
        let mut subjects = Vec::new();
        for (i, (k, label)) in [
            (key::LOOP_DIRECT, LOOP_DIRECT_LABEL),
            (key::LOOP_TRACKED, LOOP_TRACKED_LABEL),
            (key::LOOP_EXPERIMENT, LOOP_EXPERIMENT_LABEL),
        ]
        .into_iter()
        .enumerate()
        {
            let data = self.scratch.dir.join(format!("data-{k}"));
            let data = data.display().to_string();
            let mut env = HIGH_LIMITS.to_vec();
            env.extend([
                ("DATA_DIR", data.as_str()),
                ("ADMIN_API_KEY", BENCH_ADMIN_KEY),
            ]);
            if i > 0 {
                env.extend([
                    ("LINK_TRACKING", "redirect"),
                    ("PUBLIC_BASE_URL", "https://go.bench.invalid"),
                    ("LINK_SIGNING_KEY", BENCH_LINK_KEY),
                ]);
            }
            let server = self.start_server(&env)?;
            if i == 2 {
                let mut conn = http::Conn::connect(server.addr)?;
                let created = conn.send(
                    "POST",
                    "/api/admin/experiments",
                    &[
                        ("content-type", "application/json"),
                        ("x-admin-key", BENCH_ADMIN_KEY),
                    ],
                    Some(
                        br#"{"name":"bench","variants":[{"name":"normal"},{"name":"hot","link_type":"hot"}]}"#,
                    ),
                )?;
                if created.status != 201 {
                    bail!(
                        "creating the experiment answered {}: {}",
                        created.status,
                        String::from_utf8_lossy(&created.body)
                    );
                }
            }
            let bytes = warm_get(server.addr, SEARCH_GET, "x-cache")?;
            subjects.push(Subject::get(k, label, server, bytes));
        }
        self.measure(&mut subjects, LOOP_ROUNDS, None)?;
        for s in subjects {
            self.record(s);
        }
        Ok(())
    }

    /// Usage analytics' cost on the cached GET: the default (every call counted) against
    /// `ANALYTICS=false`, each with its own database, measured in turns.
    fn analytics_cost(&mut self) -> Result<()> {
        let mut subjects = Vec::new();
        for (k, label, on) in [
            (key::ANALYTICS_OFF, ANALYTICS_OFF_LABEL, false),
            (key::ANALYTICS_ON, ANALYTICS_ON_LABEL, true),
        ] {
            let data = self.scratch.dir.join(format!("data-{k}"));
            let data = data.display().to_string();
            let mut env = HIGH_LIMITS.to_vec();
            env.push(("DATA_DIR", data.as_str()));
            if !on {
                env.push(("ANALYTICS", "false"));
            }
            let server = self.start_server(&env)?;
            let bytes = warm_get(server.addr, SEARCH_GET, "x-cache")?;
            subjects.push(Subject::get(k, label, server, bytes));
        }
        self.measure(&mut subjects, LOOP_ROUNDS, None)?;
        for s in subjects {
            self.record(s);
        }
        Ok(())
    }

    /// The issue's comparison: the cached GET from memory with rate limits on (high enough never
    /// to refuse) and, when the server has a switch, off; nginx proxy_cache serving the same
    /// answer; and the ceiling sized to it. Measured in turns, `rounds` times each, because these
    /// are the figures compared with each other; then the concurrency sweep.
    fn headline(&mut self) -> Result<()> {
        let memory = self.get_subject(key::SEARCH_MEMORY, MEMORY_LABEL, &HIGH_LIMITS)?;
        let bytes = memory.response_bytes;
        let mut subjects = vec![self.ceiling_subject(bytes)?, memory];
        match rate_limit_switch(&self.server_help()?) {
            Some((name, off)) => {
                let mut env = HIGH_LIMITS.to_vec();
                env.push((name.as_str(), off));
                match self.get_subject(key::SEARCH_MEMORY_NO_LIMITS, NO_LIMITS_LABEL, &env) {
                    Ok(subject) => subjects.push(subject),
                    Err(e) => self.soft(key::SEARCH_MEMORY_NO_LIMITS, NO_LIMITS_LABEL, Err(e)),
                }
            }
            None => self.notes.push(
                "The rate-limits-off comparison was skipped: `alistach-server --help` lists no \
                 switch to turn rate limits off."
                    .to_owned(),
            ),
        }
        if let Some(nginx) = self.nginx.clone() {
            match self.nginx_subject(&nginx) {
                Ok(subject) => subjects.push(subject),
                Err(e) => self.soft(key::NGINX, NGINX_LABEL, Err(e)),
            }
        }
        self.measure(&mut subjects, self.rounds, None)?;
        self.concurrency_sweep(&mut subjects);
        for s in subjects {
            self.record(s);
        }
        Ok(())
    }

    fn ceiling_subject(&self, bytes: usize) -> Result<Subject> {
        let body_bytes = bytes.to_string();
        let (ceiling, listening) = Proc::spawn_listening(
            "alistach-ceiling",
            Command::new(&self.bins.ceiling).env_clear().args([
                "--listen",
                "127.0.0.1:0",
                "--body-bytes",
                &body_bytes,
            ]),
            &self.log_path("ceiling"),
            START_LIMIT,
        )?;
        Ok(Subject {
            key: key::CEILING,
            label: CEILING_LABEL,
            proc: ceiling,
            addr: listening.addr,
            path: SEARCH_GET,
            script: None,
            command: format!(
                "target/release/alistach-ceiling --listen 127.0.0.1:0 --body-bytes {bytes}"
            ),
            response_bytes: bytes,
            behind: None,
            runs: Vec::new(),
        })
    }

    /// Debian's nginx with proxy_cache in front of a gateway of its own (memory cache, limits
    /// on), checked to answer the headline GET from its cache before it is measured.
    fn nginx_subject(&mut self, nginx: &Path) -> Result<Subject> {
        let gateway = self.start_server(&HIGH_LIMITS)?;
        // nginx then stores the gateway's cache-hit answer, byte for byte the memory row's.
        warm_get(gateway.addr, SEARCH_GET, "x-cache")?;
        let dir = self.scratch.dir.join("nginx");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let listen: SocketAddr = ([127, 0, 0, 1], procs::free_port()?).into();
        let config = nginx::Config {
            dir: dir.clone(),
            listen,
            upstream: gateway.addr,
        };
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config.text())
            .with_context(|| format!("writing {}", conf.display()))?;
        let args = config.args(&conf);
        let mut proc = Proc::spawn(
            "nginx",
            Command::new(nginx)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .args(&args),
            &self.log_path("nginx"),
        )?;
        proc.stop_gracefully_on_drop();
        let error_log = |proc: &Proc| {
            let text = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            let mut lines: Vec<&str> = text.lines().rev().take(10).collect();
            lines.reverse();
            format!("{}; error.log: {}", proc.log_tail(), lines.join(" / "))
        };
        if let Err(e) = http::wait_for_200(listen, SEARCH_GET, Instant::now(), START_LIMIT) {
            let _ = proc.ensure_running();
            bail!("nginx did not answer: {e:#}{}", error_log(&proc));
        }
        let bytes = warm_get(listen, SEARCH_GET, nginx::CACHE_STATUS_HEADER).map_err(|e| {
            anyhow!(
                "nginx does not serve the search from its cache: {e:#}{}",
                error_log(&proc)
            )
        })?;
        let workers = proc
            .descendants()
            .iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| nginx::is_worker_cmdline(&c))
            })
            .count();
        let shown_args = args
            .join(" ")
            .replace(&dir.display().to_string(), "SCRATCH");
        let command = format!("nginx {shown_args}");
        self.nginx_setup = Some(NginxSetup {
            workers,
            config: config.display_text(),
            command: command.clone(),
        });
        self.notes.push(format!(
            "nginx proxy_cache: Debian's nginx started as a child process (`daemon off; \
             master_process on; worker_processes auto;` gave {workers} worker processes on this \
             machine), with the configuration shown under Commands, in front of a gateway of its \
             own started as `{}`. Before the measured runs the benchmark checked that nginx \
             answered the search from its cache (`X-Nginx-Cache: HIT`). The gateway's answers \
             are cacheable as they are (`Cache-Control: max-age`, `Vary: Origin`, no \
             `Set-Cookie`), so no `proxy_ignore_headers` is needed. nginx adds its \
             `X-Nginx-Cache` header to each answer; its access log is off.",
            gateway.command
        ));
        Ok(Subject {
            key: key::NGINX,
            label: NGINX_LABEL,
            proc,
            addr: listen,
            path: SEARCH_GET,
            script: None,
            command,
            response_bytes: bytes,
            behind: Some(gateway.proc),
            runs: Vec::new(),
        })
    }

    /// The headline GET at each connection count of [`SWEEP`], for the ceiling, the gateway
    /// (memory, limits on) and nginx, in turns at each count, each after a warm-up run. At the
    /// count the issue sets a goal for ([`SWEEP_TARGET`]) the turns are taken `rounds` times
    /// (warm-up in the first only) and each subject's best round is its figure, as in the main
    /// table, so a burst of other load on a shared machine does not decide the comparison; the
    /// other counts run once, to keep the whole run within its time budget. The gateway is
    /// started afresh for each count: wrk is one client to it, and one client's per-minute
    /// limit would bind after the runs before.
    fn concurrency_sweep(&mut self, subjects: &mut [Subject]) {
        for connections in SWEEP {
            eprintln!("bench: sweep, {connections} connections");
            let load = Load {
                connections,
                ..self.load
            };
            let mut fresh = self.get_subject(key::SEARCH_MEMORY, MEMORY_LABEL, &HIGH_LIMITS);
            // Per subject in the order run: every round's outcome.
            let mut points: Vec<(&'static str, &'static str, Vec<Result<Run>>)> = Vec::new();
            let mut points_failed = Vec::new();
            let rounds = if connections == SWEEP_TARGET {
                self.rounds.max(1)
            } else {
                1
            };
            for round in 0..rounds {
                let mut run = |s: &mut Subject| {
                    let outcome = self.run_once(s, &load, round == 0, None);
                    match points.iter_mut().find(|(k, _, _)| *k == s.key) {
                        Some((_, _, runs)) => runs.push(outcome),
                        None => points.push((s.key, s.label, vec![outcome])),
                    }
                };
                if let Some(ceiling) = subjects.iter_mut().find(|s| s.key == key::CEILING) {
                    run(ceiling);
                }
                if let Ok(gateway) = &mut fresh {
                    run(gateway);
                }
                if let Some(nginx) = subjects.iter_mut().find(|s| s.key == key::NGINX) {
                    run(nginx);
                }
            }
            if let Err(e) = fresh {
                points_failed.push((key::SEARCH_MEMORY, MEMORY_LABEL, vec![Err(e)]));
            }
            // In the order run: a gateway that did not start goes after the ceiling.
            let at = usize::from(subjects.iter().any(|s| s.key == key::CEILING)).min(points.len());
            for p in points_failed {
                points.insert(at, p);
            }
            for (key, label, runs) in points {
                let rounds: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .map(|r| r.result.requests_per_sec)
                    .collect();
                // The best clean round; else the first failure, so it is reported.
                let best = runs
                    .into_iter()
                    .reduce(|a, b| match (&a, &b) {
                        (Ok(x), Ok(y))
                            if y.result.is_clean()
                                && (!x.result.is_clean()
                                    || y.result.requests_per_sec > x.result.requests_per_sec) =>
                        {
                            b
                        }
                        (Err(_), Ok(_)) => b,
                        _ => a,
                    })
                    .expect("at least one round");
                let (outcome, cpu) = match best {
                    Ok(run) => (Ok(run.result), Some(run.cpu)),
                    Err(e) => (Err(format!("{e:#}")), None),
                };
                match &outcome {
                    Ok(r) if !r.is_clean() => self.failed.push(format!(
                        "{label} at {connections} connections: {} answers were not 2xx and {} \
                         socket errors occurred",
                        r.non_2xx, r.socket_errors
                    )),
                    Err(e) => self
                        .failed
                        .push(format!("{label} at {connections} connections: {e}")),
                    Ok(_) => {}
                }
                self.sweep.push(SweepPoint {
                    connections,
                    key,
                    label,
                    outcome,
                    cpu_per_request: cpu,
                    rounds,
                });
            }
        }
    }

    /// The older headline: 64 distinct cached POST bodies in turn, from memory, limits on.
    fn search_post(&mut self, script: &Path) -> Result<()> {
        let mut subjects =
            [self.search_subject(key::SEARCH_MEMORY_POST, POST_LABEL, &HIGH_LIMITS, script)?];
        self.measure(&mut subjects, 1, None)?;
        let [subject] = subjects;
        self.record(subject);
        Ok(())
    }

    fn simple_get(
        &mut self,
        key: &'static str,
        label: &'static str,
        path: &'static str,
    ) -> Result<()> {
        let server = self.start_server(&HIGH_LIMITS)?;
        // The first request fills the cache (categories); the measured ones are hits.
        let first = http::get(server.addr, path, &[])?;
        if first.status != 200 {
            bail!("GET {path} answered {}", first.status);
        }
        let mut subjects = [Subject {
            key,
            label,
            proc: server.proc,
            addr: server.addr,
            path,
            script: None,
            command: server.command,
            response_bytes: first.body.len(),
            behind: None,
            runs: Vec::new(),
        }];
        self.measure(&mut subjects, 1, None)?;
        let [subject] = subjects;
        self.record(subject);
        Ok(())
    }

    /// Cached search served from Redis: a memory tier of one item in front of a private
    /// redis-server, so nearly every one of the 64 rotating keys misses memory and hits Redis.
    fn search_redis(&mut self, redis: &Path, script: &Path) -> Result<()> {
        let port = procs::free_port()?;
        let redis_addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let port_text = port.to_string();
        let mut redis_proc = Proc::spawn(
            "redis-server",
            Command::new(redis).env_clear().args([
                "--port",
                &port_text,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]),
            &self.log_path("redis"),
        )?;
        procs::wait_for_redis(redis_addr, &mut redis_proc, START_LIMIT)?;
        let redis_url = format!("redis://127.0.0.1:{port}/");
        let mut env = HIGH_LIMITS.to_vec();
        env.extend([
            ("REDIS_URL", redis_url.as_str()),
            ("MAX_MEMORY_CACHE_ITEMS", "1"),
            ("ADMIN_API_KEY", BENCH_ADMIN_KEY),
        ]);
        let mut subjects =
            vec![self.search_subject(key::SEARCH_REDIS, REDIS_LABEL, &env, script)?];
        // The same with rate limits off shows what the shared limiter's Redis round trip costs.
        if let Some((name, off)) = rate_limit_switch(&self.server_help()?) {
            env.push((name.as_str(), off));
            let subject = self.search_subject(
                key::SEARCH_REDIS_NO_LIMITS,
                REDIS_NO_LIMITS_LABEL,
                &env,
                script,
            );
            match subject {
                Ok(subject) => subjects.push(subject),
                Err(e) => self.soft(key::SEARCH_REDIS_NO_LIMITS, REDIS_NO_LIMITS_LABEL, Err(e)),
            }
        }
        for subject in &mut subjects {
            subject.command = subject
                .command
                .replace(&redis_url, "redis://127.0.0.1:REDIS_PORT/");
        }
        let addr = subjects[0].addr;
        let before = tier_hits(addr);
        self.measure(&mut subjects, 1, Some(&redis_proc))?;
        let after = tier_hits(addr);
        redis_proc.ensure_running()?;
        let share = match (before, after) {
            (Ok(b), Ok(a)) => {
                let redis_hits = a.redis.saturating_sub(b.redis);
                let memory_hits = a.memory.saturating_sub(b.memory);
                let served = (redis_hits + memory_hits).max(1);
                format!(
                    "Redis tier: of the cache hits during its warm-up and measured runs, {:.1}% \
                     came from Redis and {:.1}% from the one-item memory tier (per-tier counters \
                     of /api/cache/stats).",
                    100.0 * redis_hits as f64 / served as f64,
                    100.0 * memory_hits as f64 / served as f64
                )
            }
            (Err(e), _) | (_, Err(e)) => {
                format!("Redis tier: could not read the per-tier hit counts ({e:#}).")
            }
        };
        self.notes.push(format!(
            "{share} With REDIS_URL set the rate limiter keeps its counters in the same Redis, as \
             in production; the benchmark's one client has limits large enough to be counted in \
             leases (up to 256 admissions per script call, `docs/redis.md`). redis-server was started as `redis-server --port REDIS_PORT --bind \
             127.0.0.1 --save \"\" --appendonly no`."
        ));
        for subject in subjects {
            self.record(subject);
        }
        Ok(())
    }

    /// Uncached search: the server in real mode against `aliexpress-fake`, every request through
    /// the no-cache endpoint, so each one is a signed upstream call.
    fn search_uncached(&mut self, script: &Path) -> Result<()> {
        let (mut fake, listening) = Proc::spawn_listening(
            "aliexpress-fake",
            Command::new(&self.bins.fake).env_clear().args([
                "--listen",
                "127.0.0.1:0",
                "--app-key",
                FAKE_APP_KEY,
                "--app-secret",
                FAKE_APP_SECRET,
            ]),
            &self.log_path("fake"),
            START_LIMIT,
        )?;
        let mut env = HIGH_LIMITS.to_vec();
        let qps_cap = self.server_help()?.contains("[env: ALIEXPRESS_MAX_QPS=");
        if qps_cap {
            env.push(("ALIEXPRESS_MAX_QPS", MAX_QPS));
        }
        env.extend([
            ("MOCK_MODE", "false"),
            ("ALIEXPRESS_APP_KEY", FAKE_APP_KEY),
            ("ALIEXPRESS_APP_SECRET", FAKE_APP_SECRET),
            ("ALIEXPRESS_API_URL", listening.url.as_str()),
        ]);
        let server = self.start_server(&env)?;
        let first =
            http::Conn::connect(server.addr)?.post_json(NO_CACHE_PATH, &UNCACHED.body(0, 0))?;
        if first.status != 200 {
            bail!(
                "POST {NO_CACHE_PATH} answered {} in real mode against the fake gateway: {}",
                first.status,
                String::from_utf8_lossy(&first.body)
            );
        }
        let command = server.command.replace(
            &listening.url,
            &url_with_port_placeholder(&listening.url, "FAKE_PORT"),
        );
        let mut subjects = [Subject {
            key: key::SEARCH_UNCACHED,
            label: UNCACHED_LABEL,
            proc: server.proc,
            addr: server.addr,
            path: NO_CACHE_PATH,
            script: Some(script.to_owned()),
            command,
            response_bytes: first.body.len(),
            behind: None,
            runs: Vec::new(),
        }];
        self.measure(&mut subjects, 1, None)?;
        fake.ensure_running()?;
        let [subject] = subjects;
        self.record(subject);
        let cap = if qps_cap {
            format!(
                " The server spaces its upstream calls to at most ALIEXPRESS_MAX_QPS per second \
                 (default 5, to protect the app key's quota); the benchmark sets the highest \
                 value it accepts, {MAX_QPS}, so this figure cannot exceed about {MAX_QPS} req/s."
            )
        } else {
            String::new()
        };
        self.notes.push(format!(
            "Uncached search: every request carries a price ceiling no other request used \
             (`{UNCACHED_SCRIPT}`), so each is its own signed upstream call. The fake gateway was \
             started as `target/release/aliexpress-fake --listen 127.0.0.1:0 --app-key \
             {FAKE_APP_KEY} --app-secret ***`; it checks every signature and runs on the same \
             CPUs, so this figure includes its work too.{cap}"
        ));
        Ok(())
    }

    fn cache_memory(&mut self) -> Result<CacheMemory> {
        // Large enough caps that all pages stay cached: this measures memory, not eviction.
        let env = [
            HIGH_LIMITS[0],
            HIGH_LIMITS[1],
            ("MAX_MEMORY_CACHE_ITEMS", "20000"),
            ("MEMORY_CACHE_MB", "1024"),
            ("ADMIN_API_KEY", BENCH_ADMIN_KEY),
        ];
        let server = self.start_server(&env)?;
        let before_kib = server.proc.rss_kib()?;
        let bodies = distinct_searches(CACHED_PAGES);
        let fill_time = http::post_all(server.addr, SEARCH_PATH, &bodies, FILL_WORKERS)?;
        let after_kib = server.proc.rss_kib()?;
        let mut conn = http::Conn::connect(server.addr)?;
        let mut sampled = 0;
        let mut held = 0;
        let mut sizes = 0usize;
        for body in bodies.iter().step_by(CACHED_PAGES / 100) {
            let r = conn.post_json(SEARCH_PATH, body)?;
            sampled += 1;
            sizes += r.body.len();
            if r.status == 200 && r.header("x-cache") == Some("HIT") {
                held += 1;
            }
        }
        if let Ok(stats) = cache_stats(server.addr)
            && let Some(memory) = tier(&stats, "memory")
        {
            let entries = memory.get("entries").and_then(serde_json::Value::as_u64);
            let bytes = memory.get("bytes").and_then(serde_json::Value::as_u64);
            if let (Some(entries), Some(bytes)) = (entries, bytes) {
                self.notes.push(format!(
                    "10,000 cached pages: after the fill the memory tier reported {} entries \
                     holding {} of keys and values (its own accounting).",
                    report::thousands(entries as f64),
                    report::mib(bytes / 1024)
                ));
            }
        }
        Ok(CacheMemory {
            pages: CACHED_PAGES,
            before_kib,
            after_kib,
            fill_time,
            sampled,
            held,
            mean_page_bytes: sizes / sampled.max(1),
            server_command: server.command,
        })
    }
}

/// Sends the GET twice: the first fills the cache, the second must be a hit by `header`
/// (`x-cache` of the gateway, `x-nginx-cache` of nginx). Returns the size of the cached answer.
fn warm_get(addr: SocketAddr, path: &str, header: &str) -> Result<usize> {
    let mut conn = http::Conn::connect(addr)?;
    let first = conn.send("GET", path, &[], None)?;
    if first.status != 200 {
        bail!(
            "GET {path} answered {}: {}",
            first.status,
            String::from_utf8_lossy(&first.body)
        );
    }
    let second = conn.send("GET", path, &[], None)?;
    if second.status != 200 || second.header(header) != Some("HIT") {
        bail!(
            "the second GET {path} was not a cache hit (status {}, {header} {:?})",
            second.status,
            second.header(header)
        );
    }
    Ok(second.body.len())
}

/// Sends every search body twice: the first pass fills the cache, the second must be all hits.
/// Returns the size of one cached response.
fn warm_search(addr: SocketAddr, path: &str) -> Result<usize> {
    let bodies = SEARCH.bodies();
    http::post_all(addr, path, &bodies, 4)?;
    let mut conn = http::Conn::connect(addr)?;
    let mut sizes = Vec::new();
    for body in &bodies {
        let r = conn.post_json(path, body)?;
        if r.status != 200 || r.header("x-cache") != Some("HIT") {
            bail!(
                "the second POST {path} with {body} was not a cache hit (status {}, x-cache {:?})",
                r.status,
                r.header("x-cache")
            );
        }
        sizes.push(r.body.len());
    }
    Ok(sizes.iter().sum::<usize>() / sizes.len().max(1))
}

/// `count` distinct search bodies that each return a real page: 25 catalogue words × the 4 sort
/// orders × 100 price ceilings (the catalogue's products mostly cost less than the lowest).
fn distinct_searches(count: usize) -> Vec<String> {
    const WORDS: [&str; 25] = [
        "dress",
        "sweater",
        "jeans",
        "hoodie",
        "shirt",
        "jacket",
        "hat",
        "earbuds",
        "headphones",
        "earphones",
        "smart watch",
        "camera",
        "speaker",
        "phone",
        "phone case",
        "charger",
        "cable",
        "power bank",
        "keyboard",
        "mouse",
        "laptop",
        "ssd",
        "usb",
        "wireless",
        "bluetooth",
    ];
    const SORTS: [&str; 4] = [
        "SALE_PRICE_ASC",
        "SALE_PRICE_DESC",
        "LAST_VOLUME_ASC",
        "LAST_VOLUME_DESC",
    ];
    (0..count)
        .map(|i| {
            let word = WORDS[i % WORDS.len()];
            let sort = SORTS[(i / WORDS.len()) % SORTS.len()];
            let ceiling = 100 + i / (WORDS.len() * SORTS.len());
            format!(
                r#"{{"keywords":"{word}","page_size":10,"sort":"{sort}","max_sale_price":"{ceiling}.00"}}"#
            )
        })
        .collect()
}

/// Largest share of nginx's CPU time the gateway behind it may use during a run for the run to
/// count as nginx serving from its cache (the gateway's idle housekeeping stays far below).
const MAX_UPSTREAM_SHARE: f64 = 0.02;

/// `1.5%`.
fn percent_text(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// Debian's nginx: on PATH, in /usr/sbin (not on every user's PATH), or installed with apt-get.
fn find_nginx() -> Result<PathBuf> {
    if let Some(path) = procs::find_on_path("nginx") {
        return Ok(path);
    }
    let sbin = Path::new("/usr/sbin/nginx");
    if sbin.is_file() {
        return Ok(sbin.to_owned());
    }
    procs::ensure_installed("nginx", "nginx").or_else(|e| {
        if sbin.is_file() {
            Ok(sbin.to_owned())
        } else {
            Err(e)
        }
    })
}

/// The variable and value that turn rate limits off, from the server's `--help` text: the
/// first `RATE_LIMIT...` variable named for enabling or disabling (others, such as the
/// limiter's Redis URL, are passed over).
fn rate_limit_switch(help: &str) -> Option<(String, &'static str)> {
    let marker = "[env: RATE_LIMIT";
    help.match_indices(marker).find_map(|(at, _)| {
        let start = at + "[env: ".len();
        let name: String = help[start..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        if name.contains("DISABLE") {
            Some((name, "true"))
        } else if name.contains("ENABLE") {
            Some((name, "false"))
        } else {
            None
        }
    })
}

/// `A=1 B=2 ` with secrets shown as `***`.
fn env_text(env: &[(&str, &str)]) -> String {
    env.iter()
        .map(|(k, v)| {
            let secret = k.contains("SECRET") || k.ends_with("API_KEY");
            format!("{k}={} ", if secret { "***" } else { v })
        })
        .collect()
}

fn url_with_port_placeholder(url: &str, placeholder: &str) -> String {
    match url.strip_prefix("http://127.0.0.1:") {
        Some(rest) => {
            let path = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("http://127.0.0.1:{placeholder}{path}")
        }
        None => url.to_owned(),
    }
}

fn cache_stats(addr: SocketAddr) -> Result<serde_json::Value> {
    let r = http::get(
        addr,
        "/api/cache/stats",
        &[("x-admin-key", BENCH_ADMIN_KEY)],
    )?;
    if r.status != 200 {
        bail!("GET /api/cache/stats answered {}", r.status);
    }
    serde_json::from_slice(&r.body).context("GET /api/cache/stats did not answer JSON")
}

fn tier<'a>(stats: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    stats
        .pointer("/data/tiers")?
        .as_array()?
        .iter()
        .find(|t| t.get("name").and_then(serde_json::Value::as_str) == Some(name))
}

struct TierHits {
    memory: u64,
    redis: u64,
}

fn tier_hits(addr: SocketAddr) -> Result<TierHits> {
    let stats = cache_stats(addr)?;
    let hits = |name: &str| -> Result<u64> {
        tier(&stats, name)
            .and_then(|t| t.get("hits"))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| anyhow!("no hit count for the {name} tier in /api/cache/stats"))
    };
    Ok(TierHits {
        memory: hits("memory")?,
        redis: hits("redis")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_the_issue_s_load() {
        let opts = parse_options(&[]).unwrap();
        assert_eq!(opts.load.threads, 2);
        assert_eq!(opts.load.connections, 32);
        assert_eq!(opts.load.duration, Duration::from_secs(5));
        assert_eq!(opts.rounds, 2);
        assert!(opts.build && opts.write);
    }

    #[test]
    fn the_build_drops_the_variables_cargo_run_set_for_xtask() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(is_package_variable(name), "{name}");
        }
        for name in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO", "PATH"] {
            assert!(!is_package_variable(name), "{name}");
        }
    }

    #[test]
    fn only_scratch_directories_name_a_run() {
        assert_eq!(stale_scratch_pid("alistach-bench-4242"), Some(4242));
        assert_eq!(stale_scratch_pid("alistach-bench-x"), None);
        assert_eq!(stale_scratch_pid("alistach-bench-"), None);
        assert_eq!(stale_scratch_pid("other-4242"), None);
    }

    #[test]
    fn quick_runs_are_shorter_unless_a_duration_is_given() {
        let quick = parse_options(&["--quick"]).unwrap();
        assert_eq!(quick.load.duration, Duration::from_secs(2));
        assert_eq!(quick.rounds, 1);
        for args in [
            &["--duration=4", "--quick"][..],
            &["--quick", "--duration", "4"],
        ] {
            let opts = parse_options(args).unwrap();
            assert_eq!(opts.load.duration, Duration::from_secs(4), "{args:?}");
            assert_eq!(opts.rounds, 1);
        }
        assert!(parse_options(&["--quick=yes"]).is_err());
    }

    #[test]
    fn the_headline_is_the_issue_s_get_and_limits_allow_the_sweep() {
        assert_eq!(
            SEARCH_GET,
            "/api/products/search?keywords=wireless%20earbuds&page_size=10"
        );
        assert_eq!(SWEEP, [8, 128, 1024]);
        assert!(SWEEP.contains(&SWEEP_TARGET));
        let per_ip = HIGH_LIMITS
            .iter()
            .find(|(k, _)| *k == "MAX_CONNECTIONS_PER_IP")
            .map(|(_, v)| v.parse::<u32>().unwrap())
            .unwrap();
        assert!(per_ip > *SWEEP.iter().max().unwrap());
        const { assert!(OPEN_FILES >= OPEN_FILES_NEEDED) };
    }

    #[test]
    fn options_are_read_in_both_spellings() {
        let opts = parse_options(&[
            "--duration",
            "3",
            "--connections=64",
            "--threads=4",
            "--no-build",
            "--no-write",
        ])
        .unwrap();
        assert_eq!(opts.load.duration, Duration::from_secs(3));
        assert_eq!(opts.load.connections, 64);
        assert_eq!(opts.load.threads, 4);
        assert!(!opts.build && !opts.write);
    }

    #[test]
    fn bad_options_are_errors_naming_them() {
        for (args, expected) in [
            (&["--duration", "0"][..], "--duration"),
            (&["--duration", "61"][..], "--duration"),
            (&["--duration"][..], "needs a value"),
            (&["--connections=abc"][..], "--connections"),
            (
                &["--threads", "4", "--connections", "2"][..],
                "at least --threads",
            ),
            (&["--fast"][..], "--fast"),
            (&["--no-build=yes"][..], "--no-build=yes"),
        ] {
            let err = parse_options(args).unwrap_err().to_string();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn ten_thousand_searches_are_distinct_and_valid_json() {
        let bodies = distinct_searches(CACHED_PAGES);
        assert_eq!(bodies.len(), CACHED_PAGES);
        let unique: std::collections::HashSet<&String> = bodies.iter().collect();
        assert_eq!(unique.len(), CACHED_PAGES);
        for body in bodies.iter().step_by(997) {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(v["keywords"].is_string() && v["sort"].is_string(), "{body}");
        }
        assert!(
            bodies
                .last()
                .unwrap()
                .contains("\"max_sale_price\":\"199.00\"")
        );
    }

    #[test]
    fn the_search_bodies_are_json_and_distinct() {
        let bodies = SEARCH.bodies();
        assert_eq!(bodies.len(), 64);
        for body in &bodies {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["keywords"], "wireless earbuds");
        }
        assert_eq!(
            bodies
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            64
        );
        SEARCH.lua().unwrap();
    }

    #[test]
    fn the_rate_limit_switch_is_found_in_the_help_text() {
        let help = "      --rate-limit-enabled <RATE_LIMIT_ENABLED>\n          Rate limits on or off [env: RATE_LIMIT_ENABLED=]\n";
        assert_eq!(
            rate_limit_switch(help),
            Some(("RATE_LIMIT_ENABLED".to_owned(), "false"))
        );
        let disable = "[env: RATE_LIMITS_DISABLED=]";
        assert_eq!(
            rate_limit_switch(disable),
            Some(("RATE_LIMITS_DISABLED".to_owned(), "true"))
        );
        assert_eq!(
            rate_limit_switch("--max-requests-per-minute [env: MAX_REQUESTS_PER_MINUTE=]"),
            None
        );
        // The limiter's own settings are not the switch.
        let both = "[env: RATE_LIMIT_REDIS_URL=]\n[env: RATE_LIMIT_ENABLED=]";
        assert_eq!(
            rate_limit_switch(both),
            Some(("RATE_LIMIT_ENABLED".to_owned(), "false"))
        );
        assert_eq!(rate_limit_switch("[env: RATE_LIMIT_REDIS_URL=]"), None);
    }

    #[test]
    fn commands_shown_hide_secrets() {
        let text = env_text(&[
            ("MOCK_MODE", "false"),
            ("ALIEXPRESS_APP_SECRET", "s3cr3t"),
            ("ADMIN_API_KEY", "k3y"),
        ]);
        assert_eq!(
            text,
            "MOCK_MODE=false ALIEXPRESS_APP_SECRET=*** ADMIN_API_KEY=*** "
        );
        assert_eq!(
            url_with_port_placeholder("http://127.0.0.1:41234/sync", "FAKE_PORT"),
            "http://127.0.0.1:FAKE_PORT/sync"
        );
    }

    #[test]
    fn tier_hits_are_read_from_the_stats_document() {
        let stats = serde_json::json!({"success": true, "data": {"tiers": [
            {"name": "memory", "hits": 5, "entries": 1},
            {"name": "redis", "hits": 120}
        ]}});
        assert_eq!(tier(&stats, "redis").unwrap()["hits"], 120);
        assert!(tier(&stats, "disk").is_none());
        assert!(tier(&serde_json::json!({}), "memory").is_none());
    }
}
