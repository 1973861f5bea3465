//! `cargo xtask bench`: builds the release binaries, starts each process under test on
//! 127.0.0.1 (the gateway in mock mode, with Redis, against the fake AliExpress gateway, and the
//! `alistach-ceiling` server), measures it with wrk, prints a table and writes
//! `docs/benchmarks.md`. A benchmark is a program, not a test: it reports figures and never
//! fails because a machine was slow.

mod http;
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
use self::report::{CacheMemory, Figure, Machine, Report, Startup, key};
use self::wrk::{Load, RotatingPost, UniquePost, WrkResult};

/// The `bench` lines of `cargo xtask --help`.
pub const USAGE: &str = "  bench              build in release mode, measure the gateway against a minimal hyper server,
                     print a table and write docs/benchmarks.md (installs wrk and redis-server
                     with apt-get when missing). Options:
                       --duration SECS     length of each measured run (default 5, 1..=60)
                       --connections N     wrk connections (default 32)
                       --threads N         wrk threads (default 2)
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
/// The most upstream calls per second the server accepts (`ALIEXPRESS_MAX_QPS`, 1-1000).
const MAX_QPS: &str = "1000";
const SEARCH_PATH: &str = "/api/products/search";
const NO_CACHE_PATH: &str = "/api/products/search/no-cache";

/// Rate limits high enough never to refuse a benchmark request, so limits are on but not binding.
const HIGH_LIMITS: [(&str, &str); 2] = [
    ("MAX_REQUESTS_PER_MINUTE", "1000000"),
    ("MAX_REQUESTS_PER_SECOND", "100000"),
];

/// Only for the benchmark's own processes; never a real credential.
const BENCH_ADMIN_KEY: &str = "bench-admin-key-not-a-secret-0001";
const FAKE_APP_KEY: &str = "20250001";
const FAKE_APP_SECRET: &str = "bench-fake-gateway-secret";

const CEILING_LABEL: &str = "ceiling (fixed body)";
const MEMORY_LABEL: &str = "cached search, memory";
const NO_LIMITS_LABEL: &str = "cached search, memory, limits off";
const REDIS_LABEL: &str = "cached search, Redis";
const REDIS_NO_LIMITS_LABEL: &str = "cached search, Redis, limits off";
const HEALTH_LABEL: &str = "GET /health";
const CATEGORIES_LABEL: &str = "categories (cached)";
const UNCACHED_LABEL: &str = "uncached search (fake gateway)";

const START_LIMIT: Duration = Duration::from_secs(20);
const WARM_UP: Duration = Duration::from_secs(1);
const STARTS: usize = 5;
const CACHED_PAGES: usize = 10_000;
const FILL_WORKERS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Options {
    load: Load,
    build: bool,
    write: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            load: Load {
                threads: 2,
                connections: 32,
                duration: Duration::from_secs(5),
            },
            build: true,
            write: true,
        }
    }
}

fn parse_options(args: &[&str]) -> Result<Options> {
    let mut opts = Options::default();
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
            "--duration" => opts.load.duration = Duration::from_secs(value(1..=60)?.into()),
            "--connections" => opts.load.connections = value(1..=10_000)?,
            "--threads" => opts.load.threads = value(1..=64)?,
            "--no-build" if inline.is_none() => opts.build = false,
            "--no-write" if inline.is_none() => opts.write = false,
            _ => bail!("unknown bench option {arg:?}"),
        }
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
    // Before the build, so the load average shows other work rather than our own compiler.
    let machine = Machine::detect(root, &wrk, redis.as_deref());

    let build_command =
        "cargo build --release -p alistach-server -p aliexpress-fake -p alistach-ceiling";
    let build_time = if opts.build {
        eprintln!("bench: {build_command}");
        let begun = Instant::now();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
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
        wrk,
        bins,
        scratch,
        logs: Cell::new(0),
        figures: Vec::new(),
        notes,
        failed,
    };

    eprintln!("bench: start-up ({STARTS} starts)");
    let startup = bench.startup()?;
    eprintln!(
        "bench: cached search from memory, rate limits on and off, and the ceiling, interleaved"
    );
    bench.headline(&search_script)?;
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
        key::SEARCH_REDIS,
        key::SEARCH_REDIS_NO_LIMITS,
        key::CATEGORIES,
        key::HEALTH,
        key::SEARCH_UNCACHED,
    ];
    bench
        .figures
        .sort_by_key(|f| order.iter().position(|k| *k == f.key).unwrap_or(usize::MAX));
    let report = Report {
        date: report::now_text(),
        machine,
        load: opts.load,
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
        std::fs::write(&path, report.markdown())
            .with_context(|| format!("writing {}", path.display()))?;
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
        let dir = std::env::temp_dir().join(format!("alistach-bench-{}", std::process::id()));
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
    runs: Vec<Run>,
}

/// One measured wrk run.
#[derive(Clone, Copy, Debug)]
struct Run {
    result: WrkResult,
    /// CPU time the process under test spent per request.
    cpu: Duration,
    /// The same for the helper process it calls (redis-server), when there is one.
    companion_cpu: Option<Duration>,
}

struct Bench {
    load: Load,
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
                let url = format!("http://{}{}", s.addr, s.path);
                if round == 0 {
                    let warm = Load {
                        duration: WARM_UP,
                        ..self.load
                    };
                    wrk::run(&self.wrk, &warm, &url, s.script.as_deref())?;
                }
                let cpu_before = s.proc.cpu_time()?;
                let companion_before = companion.map(Proc::cpu_time).transpose()?;
                let result = wrk::run(&self.wrk, &self.load, &url, s.script.as_deref())?;
                let cpu = s.proc.cpu_time()?.saturating_sub(cpu_before);
                let companion_cpu = match (companion, companion_before) {
                    (Some(c), Some(before)) => Some(c.cpu_time()?.saturating_sub(before)),
                    _ => None,
                };
                s.proc.ensure_running()?;
                let per_request = |d: Duration| d.div_f64(result.requests.max(1) as f64);
                s.runs.push(Run {
                    result,
                    cpu: per_request(cpu),
                    companion_cpu: companion_cpu.map(per_request),
                });
            }
        }
        Ok(())
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
        if let Some(companion) = best.and_then(|run| run.companion_cpu) {
            notes.push(format!(
                "{}: redis-server used {:.1} µs of CPU per request besides the gateway's.",
                s.label,
                companion.as_secs_f64() * 1e6
            ));
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
            runs: Vec::new(),
        })
    }

    /// Cached search from memory with rate limits on (high enough never to refuse) and, when the
    /// server has a switch, off; and the ceiling sized to the cached response. Measured in
    /// turns, twice each, because these are the figures compared with each other.
    fn headline(&mut self, script: &Path) -> Result<()> {
        let memory = self.search_subject(key::SEARCH_MEMORY, MEMORY_LABEL, &HIGH_LIMITS, script)?;
        let bytes = memory.response_bytes;
        let mut subjects = Vec::new();
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
        subjects.push(Subject {
            key: key::CEILING,
            label: CEILING_LABEL,
            proc: ceiling,
            addr: listening.addr,
            path: SEARCH_PATH,
            script: Some(script.to_owned()),
            command: format!(
                "target/release/alistach-ceiling --listen 127.0.0.1:0 --body-bytes {bytes}"
            ),
            response_bytes: bytes,
            runs: Vec::new(),
        });
        subjects.push(memory);
        match rate_limit_switch(&self.server_help()?) {
            Some((name, off)) => {
                let mut env = HIGH_LIMITS.to_vec();
                env.push((name.as_str(), off));
                match self.search_subject(
                    key::SEARCH_MEMORY_NO_LIMITS,
                    NO_LIMITS_LABEL,
                    &env,
                    script,
                ) {
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
        self.measure(&mut subjects, 2, None)?;
        for s in subjects {
            self.record(s);
        }
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
             in production. redis-server was started as `redis-server --port REDIS_PORT --bind \
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

/// The variable and value that turn rate limits off, from the server's `--help` text.
fn rate_limit_switch(help: &str) -> Option<(String, &'static str)> {
    let start = help.find("[env: RATE_LIMIT")? + "[env: ".len();
    let name: String = help[start..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
        .collect();
    let off = if name.contains("DISABLE") {
        "true"
    } else {
        "false"
    };
    Some((name, off))
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
        assert!(opts.build && opts.write);
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
