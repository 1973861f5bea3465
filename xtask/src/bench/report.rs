//! The benchmark's results: the machine they were measured on, the figures with their ratio to
//! the ceiling and to nginx proxy_cache, the concurrency sweep, the targets from the issue with
//! their verdicts, and the two renderings (a terminal table and `docs/benchmarks.md`).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::wrk::{Load, WrkResult};

/// Requests per second of the v1.1.0 Python service, cached search from memory, on the same
/// kind of machine (seed-v1-api.md, "Its measured speed").
pub const PYTHON_CACHED_SEARCH_RPS: f64 = 2_637.0;

/// The whole run, including the build, must stop within this.
pub const RUN_BUDGET: Duration = Duration::from_secs(300);

/// Scenario keys, shared by the runner and the target checks.
pub mod key {
    pub const CEILING: &str = "ceiling";
    pub const SEARCH_MEMORY: &str = "search-memory";
    pub const SEARCH_MEMORY_NO_LIMITS: &str = "search-memory-no-limits";
    pub const NGINX: &str = "nginx-proxy-cache";
    pub const SEARCH_MEMORY_POST: &str = "search-memory-post";
    pub const SEARCH_REDIS: &str = "search-redis";
    pub const SEARCH_REDIS_NO_LIMITS: &str = "search-redis-no-limits";
    pub const CATEGORIES: &str = "categories";
    pub const HEALTH: &str = "health";
    pub const SEARCH_UNCACHED: &str = "search-uncached";
    pub const LOOP_DIRECT: &str = "loop-direct";
    pub const LOOP_TRACKED: &str = "loop-tracked";
    pub const LOOP_EXPERIMENT: &str = "loop-experiment";
    pub const ANALYTICS_ON: &str = "analytics-on";
    pub const ANALYTICS_OFF: &str = "analytics-off";
}

/// The machine the figures come from.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub wrk: String,
    pub redis: String,
    pub nginx: String,
    pub rustc: String,
    pub commit: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run began: other work competes for the CPUs.
    pub load_average: String,
}

impl Machine {
    /// The one-minute load average, when it shows other work competing for the CPUs.
    pub fn busy(&self) -> Option<f64> {
        let load: f64 = self.load_average.split_whitespace().next()?.parse().ok()?;
        (load >= 0.5).then_some(load)
    }

    /// Reads what the machine says about itself; unknown facts read "unknown".
    pub fn detect(root: &Path, wrk: &Path, redis: Option<&Path>, nginx: Option<&Path>) -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let first_line = |program: &Path, arg: &str| -> String {
            Command::new(program)
                .arg(arg)
                .output()
                .ok()
                .map(|o| {
                    let text = if o.stdout.is_empty() {
                        o.stderr
                    } else {
                        o.stdout
                    };
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let dirty = Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(root)
            .output()
            .ok()
            .is_some_and(|o| !o.stdout.is_empty());
        let loadavg = read("/proc/loadavg");
        Machine {
            load_average: loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
            memory: mem_total(&meminfo).unwrap_or_else(|| "unknown".to_owned()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            wrk: first_line(wrk, "-v"),
            redis: redis.map_or_else(
                || "not installed".to_owned(),
                |r| first_line(r, "--version"),
            ),
            nginx: nginx.map_or_else(|| "not installed".to_owned(), |n| first_line(n, "-v")),
            rustc: first_line(Path::new("rustc"), "-V"),
            commit: match commit {
                Some(c) if dirty => format!("{c} (with uncommitted changes)"),
                Some(c) => c,
                None => "unknown".to_owned(),
            },
        }
    }
}

/// The `model name` of the first CPU in `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `MemTotal` of `/proc/meminfo`, in GiB.
pub fn mem_total(meminfo: &str) -> Option<String> {
    let kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
}

/// One measured scenario.
#[derive(Clone, Debug)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    /// `POST /api/products/search` and the like.
    pub request: String,
    /// How the process under test was started (environment and arguments).
    pub server_command: String,
    /// The wrk command line, with the port written as PORT.
    pub wrk_command: String,
    /// Size of one response body, when known.
    pub response_bytes: Option<usize>,
    pub outcome: Result<WrkResult, String>,
    /// CPU time (user + system) the process under test spent per request in the reported run:
    /// unlike req/s, hardly moved by other work on the machine.
    pub cpu_per_request: Option<Duration>,
    /// Anything the reader should know about this figure.
    pub note: Option<String>,
    /// The req/s of every measured run (the figure reports the best).
    pub runs_rps: Vec<f64>,
}

impl Figure {
    /// The median req/s of the measured runs (the steadier figure for a cost: best-of picks
    /// outliers); `None` without runs.
    pub fn median_rps(&self) -> Option<f64> {
        let mut runs = self.runs_rps.clone();
        runs.sort_by(f64::total_cmp);
        let n = runs.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(runs[n / 2]),
            _ => Some((runs[n / 2 - 1] + runs[n / 2]) / 2.0),
        }
    }
}

/// Resident memory with 10,000 cached search pages.
#[derive(Clone, Debug)]
pub struct CacheMemory {
    pub pages: usize,
    pub before_kib: u64,
    pub after_kib: u64,
    pub fill_time: Duration,
    /// Pages re-requested to check they are still held, and how many were cache hits.
    pub sampled: usize,
    pub held: usize,
    pub mean_page_bytes: usize,
    pub server_command: String,
}

/// Start-up of the server: spawn → socket bound, and spawn → `/health` answered 200.
#[derive(Clone, Debug, Default)]
pub struct Startup {
    pub bound: Vec<Duration>,
    pub healthy: Vec<Duration>,
    pub idle_rss_kib: Vec<u64>,
}

/// One subject at one connection count of the concurrency sweep: its best round.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    pub connections: u32,
    pub key: &'static str,
    pub label: &'static str,
    pub outcome: Result<WrkResult, String>,
    pub cpu_per_request: Option<Duration>,
    /// req/s of every round that ran, in order.
    pub rounds: Vec<f64>,
}

/// nginx as it ran.
#[derive(Clone, Debug)]
pub struct NginxSetup {
    /// Worker processes counted under the master (`worker_processes auto`).
    pub workers: usize,
    /// The generated nginx.conf, with placeholders for paths and ports.
    pub config: String,
    /// The command line, with placeholders.
    pub command: String,
}

/// Everything one `cargo xtask bench` measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub load: Load,
    /// Interleaved rounds of the headline scenarios.
    pub rounds: usize,
    /// Connection counts of the sweep, and its runs.
    pub sweep_connections: Vec<u32>,
    pub sweep: Vec<SweepPoint>,
    /// The open-file limit the processes under test inherited.
    pub open_files: Option<u64>,
    pub nginx: Option<NginxSetup>,
    pub build_command: String,
    pub build_time: Option<Duration>,
    pub startup: Startup,
    pub figures: Vec<Figure>,
    pub cache_memory: Result<CacheMemory, String>,
    /// The request scripts used, by file name.
    pub scripts: Vec<(String, String)>,
    pub notes: Vec<String>,
    /// From the start of the command to the end of the measurements.
    pub elapsed: Duration,
}

/// One target of the issue and whether this run met it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub what: String,
    pub goal: String,
    pub measured: String,
    /// `None` when the figure could not be measured.
    pub met: Option<bool>,
}

impl Report {
    /// The figure measured under `key`, if its run succeeded.
    pub fn result(&self, key: &str) -> Option<&WrkResult> {
        self.figures
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.outcome.as_ref().ok())
    }

    /// CPU time per request of the figure measured under `key`.
    pub fn cpu(&self, key: &str) -> Option<Duration> {
        self.figures
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.cpu_per_request)
    }

    /// `requests_per_sec` of `key` over the ceiling's.
    pub fn ratio(&self, key: &str) -> Option<f64> {
        let ceiling = self.result(key::CEILING)?.requests_per_sec;
        let figure = self.result(key)?.requests_per_sec;
        (ceiling > 0.0).then(|| figure / ceiling)
    }

    /// `requests_per_sec` of `key` over nginx proxy_cache's.
    pub fn nginx_ratio(&self, key: &str) -> Option<f64> {
        let nginx = self.result(key::NGINX)?.requests_per_sec;
        let figure = self.result(key)?.requests_per_sec;
        (nginx > 0.0).then(|| figure / nginx)
    }

    /// The sweep run of `key` at `connections`, if it succeeded.
    pub fn sweep_result(&self, key: &str, connections: u32) -> Option<&WrkResult> {
        self.sweep
            .iter()
            .find(|p| p.key == key && p.connections == connections)
            .and_then(|p| p.outcome.as_ref().ok())
    }

    /// Every target of the issue, checked against this run.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let memory = self.result(key::SEARCH_MEMORY);
        let not_measured = || "not measured".to_owned();
        let ratio_target = |what: &str, key, min: f64| {
            let measured = self.ratio(key);
            Target {
                what: what.to_owned(),
                goal: format!("≥ {:.2}× the ceiling's req/s", min),
                measured: measured
                    .map_or_else(not_measured, |r| format!("{:.2}× ({})", r, percent(r))),
                met: measured.map(|r| r >= min),
            }
        };
        let vs_nginx = self.nginx_ratio(key::SEARCH_MEMORY);
        out.push(Target {
            what: "cached search from memory (limits on) vs nginx proxy_cache: throughput"
                .to_owned(),
            goal: "≥ 1.00× nginx's req/s".to_owned(),
            measured: vs_nginx.map_or_else(not_measured, |r| {
                format!(
                    "{r:.2}× ({} vs {} req/s)",
                    thousands(memory.map_or(0.0, |m| m.requests_per_sec)),
                    thousands(self.result(key::NGINX).map_or(0.0, |n| n.requests_per_sec))
                )
            }),
            met: vs_nginx.map(|r| r >= 1.0),
        });
        out.push(ratio_target(
            "cached search from memory (limits on): throughput",
            key::SEARCH_MEMORY,
            0.5,
        ));
        out.push(Target {
            what: "cached search from memory (limits on): p99 latency".to_owned(),
            goal: "< 5 ms".to_owned(),
            measured: memory.map_or_else(not_measured, |r| millis(r.p99)),
            met: memory.map(|r| r.p99 < Duration::from_millis(5)),
        });
        out.push(ratio_target(
            "cached search through the Redis tier: throughput",
            key::SEARCH_REDIS,
            0.25,
        ));
        let most = self.sweep_connections.iter().max().copied();
        let at_most = most.and_then(|c| {
            self.sweep_result(key::SEARCH_MEMORY, c)
                .zip(self.sweep_result(key::NGINX, c))
        });
        let conns = most.map_or_else(|| "the most".to_owned(), |c| thousands(f64::from(c)));
        out.push(Target {
            what: format!("at {conns} connections: cached search throughput vs nginx"),
            goal: "≥ nginx's req/s".to_owned(),
            measured: at_most.map_or_else(not_measured, |(a, n)| {
                format!(
                    "{} vs {} req/s ({:.2}×)",
                    thousands(a.requests_per_sec),
                    thousands(n.requests_per_sec),
                    a.requests_per_sec / n.requests_per_sec.max(f64::MIN_POSITIVE)
                )
            }),
            met: at_most.map(|(a, n)| a.requests_per_sec >= n.requests_per_sec),
        });
        out.push(Target {
            what: format!("at {conns} connections: cached search p99 latency vs nginx"),
            goal: "≤ nginx's p99".to_owned(),
            measured: at_most.map_or_else(not_measured, |(a, n)| {
                format!("{} vs {}", millis(a.p99), millis(n.p99))
            }),
            met: at_most.map(|(a, n)| a.p99 <= n.p99),
        });
        out.push(Target {
            what: "cached search from memory vs the Python service".to_owned(),
            goal: format!("> {} req/s", thousands(PYTHON_CACHED_SEARCH_RPS)),
            measured: memory.map_or_else(not_measured, |r| {
                format!(
                    "{} req/s ({:.1}×)",
                    thousands(r.requests_per_sec),
                    r.requests_per_sec / PYTHON_CACHED_SEARCH_RPS
                )
            }),
            met: memory.map(|r| r.requests_per_sec > PYTHON_CACHED_SEARCH_RPS),
        });
        let idle = median_u64(&self.startup.idle_rss_kib);
        out.push(Target {
            what: "idle resident memory".to_owned(),
            goal: "< 20 MB".to_owned(),
            measured: idle.map_or_else(not_measured, mib),
            met: idle.map(|kib| kib * 1024 < 20_000_000),
        });
        let worst_start = self.startup.healthy.iter().max().copied();
        out.push(Target {
            what: "start-up to a ready socket (worst of the starts, to /health 200)".to_owned(),
            goal: "< 100 ms".to_owned(),
            measured: worst_start.map_or_else(not_measured, millis),
            met: worst_start.map(|d| d < Duration::from_millis(100)),
        });
        let limits = self
            .result(key::SEARCH_MEMORY)
            .zip(self.result(key::SEARCH_MEMORY_NO_LIMITS));
        out.push(Target {
            what: "cached search with rate limits on vs off".to_owned(),
            goal: "within 10%".to_owned(),
            measured: limits.map_or_else(not_measured, |(on, off)| {
                format!(
                    "on {} / off {} req/s ({}); CPU per request on {} / off {}",
                    thousands(on.requests_per_sec),
                    thousands(off.requests_per_sec),
                    percent(on.requests_per_sec / off.requests_per_sec),
                    cpu_text(self.cpu(key::SEARCH_MEMORY)),
                    cpu_text(self.cpu(key::SEARCH_MEMORY_NO_LIMITS))
                )
            }),
            met: limits.map(|(on, off)| on.requests_per_sec >= 0.9 * off.requests_per_sec),
        });
        let median = |k: &str| {
            self.figures
                .iter()
                .find(|f| f.key == k && f.outcome.is_ok())
                .and_then(Figure::median_rps)
        };
        let direct = median(key::LOOP_DIRECT);
        for (what, k) in [
            (
                "click tracking (LINK_TRACKING=redirect) cost on cached search (median of interleaved runs)",
                key::LOOP_TRACKED,
            ),
            (
                "click tracking and a running A/B experiment cost on cached search (median of interleaved runs)",
                key::LOOP_EXPERIMENT,
            ),
        ] {
            let pair = direct.zip(median(k));
            out.push(Target {
                what: what.to_owned(),
                goal: "< 5% fewer req/s than direct links".to_owned(),
                measured: pair.map_or_else(not_measured, |(d, t)| {
                    format!(
                        "{} vs {} req/s ({:+.1}%); CPU per request {} vs {}",
                        thousands(t),
                        thousands(d),
                        (t / d.max(f64::MIN_POSITIVE) - 1.0) * 100.0,
                        cpu_text(self.cpu(k)),
                        cpu_text(self.cpu(key::LOOP_DIRECT))
                    )
                }),
                met: pair.map(|(d, t)| t >= 0.95 * d),
            });
        }
        if let Some(target) = self.analytics_target() {
            out.push(target);
        }
        out.push(Target {
            what: "the whole `cargo xtask bench` run".to_owned(),
            goal: format!("< {} minutes", RUN_BUDGET.as_secs() / 60),
            measured: format!("{:.0} s", self.elapsed.as_secs_f64()),
            met: Some(self.elapsed < RUN_BUDGET),
        });
        out
    }

    /// Usage analytics' cost on the cached search (see [`analytics_target`]).
    pub fn analytics_target(&self) -> Option<Target> {
        Some(analytics_target(&self.figures))
    }

    /// The results table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut rows = vec![
            [
                "scenario",
                "req/s",
                "p50",
                "p99",
                "of ceiling",
                "vs nginx",
                "CPU/req",
                "errors",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for f in &self.figures {
            rows.push(match &f.outcome {
                Ok(r) => vec![
                    f.label.to_owned(),
                    thousands(r.requests_per_sec),
                    millis(r.p50),
                    millis(r.p99),
                    self.ratio(f.key).map_or_else(|| "-".to_owned(), percent),
                    self.nginx_ratio(f.key)
                        .map_or_else(|| "-".to_owned(), times),
                    cpu_text(f.cpu_per_request),
                    errors(r),
                ],
                Err(e) => {
                    let mut row = vec![f.label.to_owned(), "failed".to_owned()];
                    row.extend(std::iter::repeat_n("-".to_owned(), 5));
                    row.push(shorten(e, 60));
                    row
                }
            });
        }
        let mut out = align(&rows);
        if !self.sweep.is_empty() {
            let _ = writeln!(out, "\nconcurrency sweep (req/s, p99):");
            out.push_str(&align(&self.sweep_rows()));
        }
        out.push('\n');
        let _ = writeln!(out, "start-up: {}", self.startup_summary());
        let _ = writeln!(out, "idle RSS: {}", self.idle_summary());
        let _ = writeln!(out, "10,000 cached pages: {}", self.cache_memory_summary());
        out.push('\n');
        for t in self.targets() {
            let _ = writeln!(
                out,
                "[{}] {}: {} (goal {})",
                verdict(t.met),
                t.what,
                t.measured,
                t.goal
            );
        }
        out
    }

    /// The sweep as rows: a header, then one row per connection count with req/s and p99 of
    /// each subject, and the gateway's throughput over nginx's.
    fn sweep_rows(&self) -> Vec<Vec<String>> {
        let mut subjects: Vec<(&str, &str)> = Vec::new();
        for p in &self.sweep {
            if !subjects.iter().any(|(k, _)| *k == p.key) {
                subjects.push((p.key, p.label));
            }
        }
        let mut header = vec!["connections".to_owned()];
        for (key, label) in &subjects {
            header.push(format!("{}: req/s", short_name(key, label)));
            header.push("p99".to_owned());
            header.push("CPU/req".to_owned());
        }
        header.push("AliStach vs nginx".to_owned());
        let mut rows = vec![header];
        for &c in &self.sweep_connections {
            let mut row = vec![thousands(f64::from(c))];
            for (key, _) in &subjects {
                let point = self
                    .sweep
                    .iter()
                    .find(|p| p.key == *key && p.connections == c);
                match point.map(|p| (&p.outcome, p.cpu_per_request)) {
                    Some((Ok(r), cpu)) => {
                        let errors = if r.is_clean() {
                            String::new()
                        } else {
                            format!(" ({})", errors(r))
                        };
                        row.push(format!("{}{errors}", thousands(r.requests_per_sec)));
                        row.push(millis(r.p99));
                        row.push(cpu_text(cpu));
                    }
                    Some((Err(e), _)) => {
                        row.push(format!("failed: {}", shorten(e, 40)));
                        row.push("-".to_owned());
                        row.push("-".to_owned());
                    }
                    None => row.extend(std::iter::repeat_n("-".to_owned(), 3)),
                }
            }
            let ratio = self
                .sweep_result(key::SEARCH_MEMORY, c)
                .zip(self.sweep_result(key::NGINX, c))
                .map(|(a, n)| a.requests_per_sec / n.requests_per_sec.max(f64::MIN_POSITIVE));
            row.push(ratio.map_or_else(|| "-".to_owned(), times));
            rows.push(row);
        }
        rows
    }

    fn startup_summary(&self) -> String {
        let s = &self.startup;
        match (median(&s.healthy), s.healthy.iter().max(), median(&s.bound)) {
            (Some(med), Some(worst), Some(bound)) => format!(
                "/health 200 after {} median, {} worst ({} starts); socket bound after {} median",
                millis(med),
                millis(*worst),
                s.healthy.len(),
                millis(bound)
            ),
            _ => "not measured".to_owned(),
        }
    }

    fn idle_summary(&self) -> String {
        let v = &self.startup.idle_rss_kib;
        match (median_u64(v), v.iter().max()) {
            (Some(med), Some(max)) => format!(
                "{} median, {} max ({} starts)",
                mib(med),
                mib(*max),
                v.len()
            ),
            _ => "not measured".to_owned(),
        }
    }

    fn cache_memory_summary(&self) -> String {
        match &self.cache_memory {
            Ok(m) => format!(
                "RSS {} (idle {}, +{}, about {} per page of {} bytes; filled in {:.1} s); {} of {} re-requested pages were still cached",
                mib(m.after_kib),
                mib(m.before_kib),
                mib(m.after_kib.saturating_sub(m.before_kib)),
                bytes_text(
                    (m.after_kib.saturating_sub(m.before_kib) * 1024) as f64
                        / m.pages.max(1) as f64
                ),
                thousands(m.mean_page_bytes as f64),
                m.fill_time.as_secs_f64(),
                m.held,
                m.sampled
            ),
            Err(e) => format!("not measured: {e}"),
        }
    }

    /// `docs/benchmarks.md`.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `cargo xtask bench` on {}. Run it again to refresh every figure below; the \
             numbers only mean something next to the ceiling and nginx measured in the same run \
             on the same machine.\n",
            self.date
        );
        let _ = writeln!(out, "## Machine\n");
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| CPUs (`nproc`) | {} |", m.cpus);
        let _ = writeln!(out, "| CPU model | {} |", m.cpu_model);
        let _ = writeln!(out, "| memory | {} |", m.memory);
        let _ = writeln!(out, "| kernel | {} |", m.kernel);
        let _ = writeln!(out, "| load tool | {} (on the same machine) |", m.wrk);
        let _ = writeln!(out, "| redis | {} |", m.redis);
        let _ = writeln!(out, "| nginx | {} |", m.nginx);
        let _ = writeln!(out, "| rustc | {} |", m.rustc);
        let _ = writeln!(out, "| commit | {} |", m.commit);
        let _ = writeln!(
            out,
            "| open-file limit of the processes under test | {} |",
            self.open_files
                .map_or_else(|| "unknown".to_owned(), |n| thousands(n as f64))
        );
        let _ = writeln!(
            out,
            "| load average when the run began | {} |",
            m.load_average
        );
        let _ = writeln!(
            out,
            "\nEvery run: wrk with {} threads and {} connections for {} s (after a 1 s warm-up \
             run), with `--latency`, unless the concurrency sweep says otherwise; every process \
             on 127.0.0.1; a fresh server process per scenario. The first four rows are measured \
             in turns, {} round(s) each, so a burst of other load hits them alike; each shows its \
             best round.\n",
            self.load.threads,
            self.load.connections,
            self.load.duration.as_secs(),
            self.rounds
        );

        if let Some(load) = m.busy() {
            let _ = writeln!(
                out,
                "**Other work was running on this machine when the run began (load average {load:.2} \
                 on {} CPUs):** the req/s figures are lower and noisier than on an idle machine; \
                 the CPU time per request is the steadier figure.\n",
                m.cpus
            );
        }
        let _ = writeln!(out, "## Results\n");
        let workers = self
            .nginx
            .as_ref()
            .map_or_else(|| "its".to_owned(), |n| n.workers.to_string());
        let _ = writeln!(
            out,
            "The ceiling is `alistach-ceiling`: a minimal hyper server (same hyper, http1, \
             keep-alive and multi-threaded tokio runtime as the gateway) that reads each request \
             and answers with a fixed body of the size of the cached search response. No proxy \
             can beat it on this machine; each figure is also given as a share of it (`/health` \
             and categories answer smaller bodies than the ceiling's, so theirs can come near or \
             above 100%). \"nginx proxy_cache\" is Debian's nginx with `proxy_cache` in front of \
             the gateway (the usual way to speed up the old Python service), serving the same \
             cached answer from its own cache with {workers} worker processes \
             (`worker_processes auto` on {} CPUs); \"vs nginx\" is each figure over its req/s. \
             \"CPU/req\" is the CPU time (user + system, from /proc) the process under test spent \
             per request during the reported run, for nginx summed over its master, workers and \
             cache processes: it moves much less than req/s when other work shares the machine, \
             so it is the steadier figure to compare across runs. The POST rows are compared \
             with the same GET ceiling: their answers are the same size within a few bytes, but \
             the ceiling does not read a request body, so their shares are a little low.\n",
            m.cpus
        );
        let _ = writeln!(
            out,
            "| Scenario | Request | Body bytes | Req/s | p50 | p99 | Of ceiling | vs nginx | CPU/req | Errors |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
        for f in &self.figures {
            let bytes = f
                .response_bytes
                .map_or_else(|| "-".to_owned(), |b| thousands(b as f64));
            let request = if f.request.is_empty() {
                "-".to_owned()
            } else {
                format!("`{}`", f.request)
            };
            match &f.outcome {
                Ok(r) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        f.label,
                        request,
                        bytes,
                        thousands(r.requests_per_sec),
                        millis(r.p50),
                        millis(r.p99),
                        self.ratio(f.key).map_or_else(|| "-".to_owned(), percent),
                        self.nginx_ratio(f.key)
                            .map_or_else(|| "-".to_owned(), times),
                        cpu_text(f.cpu_per_request),
                        errors(r)
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | not measured | | | | | | {} |",
                        f.label,
                        request,
                        bytes,
                        e.replace('|', "\\|").replace('\n', " ")
                    );
                }
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "- Start-up: {}.", self.startup_summary());
        let _ = writeln!(
            out,
            "- Idle resident memory (VmRSS right after start-up): {}.",
            self.idle_summary()
        );
        let _ = writeln!(
            out,
            "- Resident memory holding 10,000 distinct cached search pages: {}.",
            self.cache_memory_summary()
        );
        if let Some(build) = self.build_time {
            let _ = writeln!(out, "- Release build: {:.0} s.", build.as_secs_f64());
        }

        if !self.sweep.is_empty() {
            let _ = writeln!(out, "\n## Concurrency sweep\n");
            let _ = writeln!(
                out,
                "The same cached GET at {} connections (wrk -t{}, {} s each, the subjects in \
                 turns at each point, {}), on the processes of the rows above except \
                 the gateway, which is started afresh for each point: wrk connects from one \
                 address, so every request counts against one client's per-minute limit. Rate \
                 limits stay on, at the highest values the server accepts (1,000,000 per minute \
                 and 100,000 per second per client): a gateway faster than 100,000 req/s would \
                 meet the per-second limit and show non-2xx answers. For the same reason every \
                 gateway runs with MAX_CONNECTIONS_PER_IP=100000 (default 1,000, below the \
                 1,024 connections wrk opens from one address); nginx has 4,096 connections \
                 per worker (its default, 512, is too few). The gateway, the ceiling and nginx \
                 all listen with a backlog of {} (`listen(2)`), so the 1,024 connections \
                 wrk opens at once wait to be accepted in all three alike.\n",
                self.sweep_connections
                    .iter()
                    .map(|c| thousands(f64::from(*c)))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.load.threads,
                self.load.duration.as_secs(),
                if self.rounds > 1 {
                    format!(
                        "one round, and {} at 1,024 connections (the point with goals), where \
                         each subject's best is shown; every round is under the table",
                        self.rounds
                    )
                } else {
                    "one round".to_owned()
                },
                thousands(f64::from(super::nginx::LISTEN_BACKLOG)),
            );
            let rows = self.sweep_rows();
            for (i, row) in rows.iter().enumerate() {
                let _ = writeln!(out, "| {} |", row.join(" | "));
                if i == 0 {
                    let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
                }
            }
            let _ = writeln!(out);
            for &c in &self.sweep_connections {
                let each: Vec<String> = self
                    .sweep
                    .iter()
                    .filter(|p| p.connections == c && !p.rounds.is_empty())
                    .map(|p| {
                        let rounds: Vec<String> = p.rounds.iter().map(|r| thousands(*r)).collect();
                        format!("{} {}", short_name(p.key, p.label), rounds.join(", "))
                    })
                    .collect();
                if !each.is_empty() {
                    let _ = writeln!(
                        out,
                        "- {} connections, req/s of each round: {}.",
                        thousands(f64::from(c)),
                        each.join("; ")
                    );
                }
            }
        }

        let notes: Vec<&String> = self
            .figures
            .iter()
            .filter_map(|f| f.note.as_ref())
            .chain(self.notes.iter())
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nNotes:\n");
            for note in notes {
                let _ = writeln!(out, "- {note}");
            }
        }

        let _ = writeln!(out, "\n## Targets\n");
        let _ = writeln!(
            out,
            "From the issue \"The core ... faster than nginx\". Each verdict is this run's figure \
             against the goal: PASS or FAIL, or \"not measured\" when the scenario could not run. \
             The throughput goals are ratios to the ceiling or to nginx measured in the same run, \
             so they mean something on any machine; the latency goals are absolute and depend on \
             the machine's load.{}\n",
            if m.busy().is_some() {
                " This run shared its CPUs with other work (see above), so its verdicts are \
                 provisional: take them again on a quiet machine."
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "| Target | Goal | Measured | Verdict |\n|---|---|---|---|"
        );
        for t in self.targets() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.what,
                t.goal,
                t.measured,
                verdict(t.met)
            );
        }
        let _ = writeln!(
            out,
            "\nThe v1.1.0 Python service, measured the same way (one uvicorn worker, 2 cores, 32 \
             connections): `GET /health` 3,269 req/s, cached search from memory 2,637 req/s \
             (p99 14.3 ms), cached search from Redis 1,721 req/s (p99 53.9 ms)."
        );

        let _ = writeln!(out, "\n## Commands\n");
        let _ = writeln!(
            out,
            "```sh\ncargo xtask bench   # all of the below, then this file\n```\n"
        );
        let _ = writeln!(out, "Build:\n\n```sh\n{}\n```\n", self.build_command);
        let _ = writeln!(
            out,
            "Processes under test (a clean environment plus the variables shown; PORT is the port \
             each one picked and printed):\n"
        );
        let _ = writeln!(out, "| Scenario | Started with | Load |\n|---|---|---|");
        for f in self.figures.iter().filter(|f| !f.server_command.is_empty()) {
            let _ = writeln!(
                out,
                "| {} | `{}` | `{}` |",
                f.label, f.server_command, f.wrk_command
            );
        }
        if let Ok(m) = &self.cache_memory {
            let _ = writeln!(
                out,
                "| 10,000 cached pages | `{}` | 10,000 distinct `POST /api/products/search` bodies \
                 over 8 keep-alive connections, then VmRSS from /proc |",
                m.server_command
            );
        }
        if let Some(n) = &self.nginx {
            let _ = writeln!(
                out,
                "\nnginx was started as `{}`, with this generated `nginx.conf` (SCRATCH is a \
                 private temporary directory, removed afterwards; NGINX_PORT and GATEWAY_PORT are \
                 the ports picked in the run):\n\n```nginx\n{}```",
                n.command, n.config
            );
        }
        for (name, lua) in &self.scripts {
            let _ = writeln!(out, "\n`{name}`:\n\n```lua\n{}```", lua);
        }
        out
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "not measured",
    }
}

fn errors(r: &WrkResult) -> String {
    if r.is_clean() {
        "0".to_owned()
    } else {
        format!("{} non-2xx, {} socket", r.non_2xx, r.socket_errors)
    }
}

fn cpu_text(cpu: Option<Duration>) -> String {
    cpu.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1} µs", d.as_secs_f64() * 1e6),
    )
}

fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        format!("{}…", line.chars().take(max).collect::<String>())
    }
}

fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(col, (cell, &w))| {
                if col == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len().saturating_sub(1));
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
    }
    out
}

/// A column name for the sweep's narrow table.
fn short_name<'a>(key: &str, label: &'a str) -> &'a str {
    match key {
        key::CEILING => "ceiling",
        key::SEARCH_MEMORY => "AliStach",
        key::NGINX => "nginx",
        _ => label,
    }
}

/// `1.27×`.
pub fn times(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// `12,345` (rounded to a whole number).
pub fn thousands(value: f64) -> String {
    let whole = value.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2.35 ms`.
pub fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `54%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// `7.3 MiB` from KiB.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn bytes_text(bytes: f64) -> String {
    if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

fn median(values: &[Duration]) -> Option<Duration> {
    let mut v = values.to_vec();
    v.sort();
    v.get(v.len() / 2).copied()
}

fn median_u64(values: &[u64]) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// `2026-11-28 20:48 UTC` for a time since the Unix epoch.
pub fn utc_text(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02} UTC")
}

/// Now, as [`utc_text`].
pub fn now_text() -> String {
    utc_text(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Usage analytics' cost on the cached search: on (the default) against `ANALYTICS=false`,
/// medians of interleaved runs; the issue's goal is under 3%.
pub fn analytics_target(figures: &[Figure]) -> Target {
    let figure = |k: &str| figures.iter().find(|f| f.key == k && f.outcome.is_ok());
    let median = |k: &str| figure(k).and_then(Figure::median_rps);
    let cpu = |k: &str| figure(k).and_then(|f| f.cpu_per_request);
    let pair = median(key::ANALYTICS_OFF).zip(median(key::ANALYTICS_ON));
    Target {
        what: "usage analytics (ANALYTICS on vs false) cost on cached search (median of interleaved runs)"
            .to_owned(),
        goal: "< 3% fewer req/s than ANALYTICS=false".to_owned(),
        measured: pair.map_or_else(|| "not measured".to_owned(), |(off, on)| {
            format!(
                "{} vs {} req/s ({:+.1}%); CPU per request {} vs {}",
                thousands(on),
                thousands(off),
                (on / off.max(f64::MIN_POSITIVE) - 1.0) * 100.0,
                cpu_text(cpu(key::ANALYTICS_ON)),
                cpu_text(cpu(key::ANALYTICS_OFF))
            )
        }),
        met: pair.map(|(off, on)| on >= 0.97 * off),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rps: f64, p99_us: u64) -> WrkResult {
        WrkResult {
            requests_per_sec: rps,
            p50: Duration::from_micros(p99_us / 3),
            p99: Duration::from_micros(p99_us),
            requests: (rps * 5.0) as u64,
            non_2xx: 0,
            socket_errors: 0,
        }
    }

    fn figure(key: &'static str, outcome: Result<WrkResult, String>) -> Figure {
        Figure {
            key,
            label: key,
            request: "GET /x".to_owned(),
            server_command: "srv".to_owned(),
            wrk_command: "wrk".to_owned(),
            response_bytes: Some(4321),
            cpu_per_request: Some(Duration::from_micros(48)),
            outcome,
            note: None,
            runs_rps: Vec::new(),
        }
    }

    fn point(
        connections: u32,
        key: &'static str,
        outcome: Result<WrkResult, String>,
    ) -> SweepPoint {
        let outcome_rps = outcome.as_ref().ok().map(|r| r.requests_per_sec);
        SweepPoint {
            connections,
            key,
            label: key,
            outcome,
            cpu_per_request: Some(Duration::from_micros(20)),
            rounds: match &outcome_rps {
                Some(rps) => vec![rps * 0.9, *rps],
                None => Vec::new(),
            },
        }
    }

    fn report() -> Report {
        Report {
            date: "2026-11-28 20:48 UTC".to_owned(),
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".to_owned(),
                load_average: "3.10 2.00 1.00".to_owned(),
                ..Machine::default()
            },
            load: Load {
                threads: 2,
                connections: 32,
                duration: Duration::from_secs(5),
            },
            rounds: 2,
            sweep_connections: vec![8, 128, 1024],
            sweep: [8, 128, 1024]
                .into_iter()
                .flat_map(|c| {
                    // At 1,024 connections the gateway is faster than nginx but its p99 longer.
                    let (gateway, nginx) = if c == 1024 {
                        (result(60_000.0, 30_000), result(55_000.0, 20_000))
                    } else {
                        (result(30_000.0, 1000), result(32_000.0, 900))
                    };
                    [
                        point(c, key::CEILING, Ok(result(40_000.0, 800))),
                        point(c, key::SEARCH_MEMORY, Ok(gateway)),
                        point(c, key::NGINX, Ok(nginx)),
                    ]
                })
                .collect(),
            open_files: Some(8192),
            nginx: Some(NginxSetup {
                workers: 2,
                config: "daemon off;\n".to_owned(),
                command: "nginx -p SCRATCH/".to_owned(),
            }),
            build_command: "cargo build --release".to_owned(),
            build_time: Some(Duration::from_secs(42)),
            startup: Startup {
                bound: vec![Duration::from_millis(3); 3],
                healthy: vec![
                    Duration::from_millis(5),
                    Duration::from_millis(7),
                    Duration::from_millis(120),
                ],
                idle_rss_kib: vec![9000, 9100, 9200],
            },
            figures: vec![
                figure(key::CEILING, Ok(result(40_000.0, 2000))),
                figure(key::SEARCH_MEMORY, Ok(result(24_000.0, 4000))),
                figure(key::SEARCH_MEMORY_NO_LIMITS, Ok(result(25_000.0, 4000))),
                figure(key::NGINX, Ok(result(30_000.0, 3000))),
                figure(key::SEARCH_REDIS, Ok(result(8_000.0, 9000))),
                figure(
                    key::SEARCH_UNCACHED,
                    Err("fake gateway did not start".to_owned()),
                ),
            ],
            cache_memory: Ok(CacheMemory {
                pages: 10_000,
                before_kib: 9000,
                after_kib: 9000 + 50 * 1024,
                fill_time: Duration::from_secs(3),
                sampled: 100,
                held: 100,
                mean_page_bytes: 4321,
                server_command: "srv".to_owned(),
            }),
            scripts: vec![(
                "search.lua".to_owned(),
                "wrk.method = \"POST\"\n".to_owned(),
            )],
            notes: vec!["a note".to_owned()],
            elapsed: Duration::from_secs(100),
        }
    }

    fn target(targets: &[Target], what: &str) -> Target {
        targets
            .iter()
            .find(|t| t.what.starts_with(what))
            .unwrap_or_else(|| panic!("no target {what:?} in {targets:#?}"))
            .clone()
    }

    #[test]
    fn targets_are_judged_from_the_figures() {
        let targets = report().targets();
        let get = |what: &str| target(&targets, what);
        let vs_nginx = get("cached search from memory (limits on) vs nginx");
        assert_eq!(vs_nginx.measured, "0.80× (24,000 vs 30,000 req/s)");
        assert_eq!(vs_nginx.met, Some(false));
        let memory = get("cached search from memory (limits on): throughput");
        assert_eq!(memory.measured, "0.60× (60%)");
        assert_eq!(memory.met, Some(true));
        assert_eq!(
            get("cached search from memory (limits on): p99").met,
            Some(true)
        );
        assert_eq!(get("cached search from memory vs").met, Some(true));
        let redis = get("cached search through the Redis tier");
        assert_eq!(redis.measured, "0.20× (20%)");
        assert_eq!(redis.met, Some(false));
        let rps = get("at 1,024 connections: cached search throughput");
        assert_eq!(rps.met, Some(true));
        assert_eq!(rps.measured, "60,000 vs 55,000 req/s (1.09×)");
        let p99 = get("at 1,024 connections: cached search p99");
        assert_eq!(p99.met, Some(false));
        assert_eq!(p99.measured, "30.0 ms vs 20.0 ms");
        assert_eq!(get("idle resident").met, Some(true));
        // The worst start counts, not the median.
        assert_eq!(get("start-up").met, Some(false));
        assert_eq!(get("cached search with rate limits").met, Some(true));
        assert_eq!(get("the whole").met, Some(true));
    }

    #[test]
    fn the_nginx_targets_pass_at_or_above_nginx_and_fail_below() {
        let mut r = report();
        let with = |r: &mut Report, memory: f64, nginx: f64| {
            r.figures[1].outcome = Ok(result(memory, 4000));
            r.figures[3].outcome = Ok(result(nginx, 3000));
            target(
                &r.targets(),
                "cached search from memory (limits on) vs nginx",
            )
            .met
        };
        assert_eq!(
            with(&mut r, 30_000.0, 30_000.0),
            Some(true),
            "equal is enough"
        );
        assert_eq!(with(&mut r, 29_999.0, 30_000.0), Some(false));
        assert_eq!(with(&mut r, 45_000.0, 30_000.0), Some(true));
        // The 1,024-connection p99 passes when it is no longer than nginx's.
        for p in r.sweep.iter_mut().filter(|p| p.connections == 1024) {
            if p.key == key::SEARCH_MEMORY {
                p.outcome = Ok(result(60_000.0, 20_000));
            }
        }
        assert_eq!(
            target(&r.targets(), "at 1,024 connections: cached search p99").met,
            Some(true)
        );
        // The p99 goal at 32 connections is strict.
        r.figures[1].outcome = Ok(result(45_000.0, 5000));
        assert_eq!(
            target(&r.targets(), "cached search from memory (limits on): p99").met,
            Some(false)
        );
    }

    #[test]
    fn without_nginx_its_targets_are_not_measured() {
        let mut r = report();
        r.figures.retain(|f| f.key != key::NGINX);
        r.sweep.retain(|p| p.key != key::NGINX);
        let targets = r.targets();
        for what in [
            "cached search from memory (limits on) vs nginx",
            "at 1,024 connections: cached search throughput",
            "at 1,024 connections: cached search p99",
        ] {
            let t = target(&targets, what);
            assert_eq!(t.met, None, "{what}");
            assert_eq!(t.measured, "not measured", "{what}");
        }
        // A failed sweep point is not measured either, rather than a pass or a fail.
        let mut r = report();
        for p in r.sweep.iter_mut().filter(|p| p.key == key::SEARCH_MEMORY) {
            p.outcome = Err("did not start".to_owned());
        }
        assert_eq!(
            target(
                &r.targets(),
                "at 1,024 connections: cached search throughput"
            )
            .met,
            None
        );
        assert!(r.table().contains("failed: did not start"), "{}", r.table());
    }

    #[test]
    fn targets_without_figures_are_not_measured_rather_than_met() {
        let mut r = report();
        r.figures
            .retain(|f| f.key != key::CEILING && f.key != key::SEARCH_MEMORY_NO_LIMITS);
        r.startup = Startup::default();
        let targets = r.targets();
        for what in [
            "cached search from memory (limits on): throughput",
            "cached search through the Redis tier",
            "start-up",
            "idle",
            "cached search with rate limits",
        ] {
            let t = targets.iter().find(|t| t.what.starts_with(what)).unwrap();
            assert_eq!(t.met, None, "{what}");
            assert_eq!(t.measured, "not measured", "{what}");
        }
    }

    #[test]
    fn a_slow_rate_limited_run_misses_its_target() {
        let mut r = report();
        r.figures[1].outcome = Ok(result(20_000.0, 4000));
        let t = r.targets();
        let limits = t
            .iter()
            .find(|t| t.what.contains("rate limits on vs"))
            .unwrap();
        assert_eq!(limits.met, Some(false));
        assert!(limits.measured.contains("80%"), "{}", limits.measured);
    }

    #[test]
    fn the_markdown_has_machine_figures_ratios_targets_and_commands() {
        let md = report().markdown();
        for expected in [
            "| CPU model | Test CPU |",
            "| CPUs (`nproc`) | 2 |",
            "2026-11-28 20:48 UTC",
            "| search-memory | `GET /x` | 4,321 | 24,000 | 1.33 ms | 4.00 ms | 60% | 0.80× | 48.0 µs | 0 |",
            "| nginx-proxy-cache | `GET /x` | 4,321 | 30,000 | 1.00 ms | 3.00 ms | 75% | 1.00× | 48.0 µs | 0 |",
            "| search-uncached | `GET /x` | 4,321 | not measured | | | | | | fake gateway did not start |",
            "| start-up to a ready socket (worst of the starts, to /health 200) | < 100 ms | 120.0 ms | FAIL |",
            "| cached search from memory (limits on) vs nginx proxy_cache: throughput | ≥ 1.00× nginx's req/s | 0.80× (24,000 vs 30,000 req/s) | FAIL |",
            "| at 1,024 connections: cached search throughput vs nginx | ≥ nginx's req/s | 60,000 vs 55,000 req/s (1.09×) | PASS |",
            "## Concurrency sweep",
            "| connections | ceiling: req/s | p99 | CPU/req | AliStach: req/s | p99 | CPU/req | nginx: req/s | p99 | CPU/req | AliStach vs nginx |",
            "| 1,024 | 40,000 | 0.80 ms | 20.0 µs | 60,000 | 30.0 ms | 20.0 µs | 55,000 | 20.0 ms | 20.0 µs | 1.09× |",
            "- 1,024 connections, req/s of each round: ceiling 36,000, 40,000; AliStach 54,000, 60,000; nginx 49,500, 55,000.",
            "2 worker processes (`worker_processes auto` on 2 CPUs)",
            "```nginx\ndaemon off;\n```",
            "verdicts are provisional",
            "| open-file limit of the processes under test | 8,192 |",
            "cargo build --release",
            "```lua\nwrk.method = \"POST\"\n```",
            "- a note",
            "Release build: 42 s",
            "load average 3.10 on 2 CPUs",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in\n{md}");
        }
    }

    #[test]
    fn the_table_lists_every_scenario_and_target() {
        let table = report().table();
        assert!(table.contains("search-redis"), "{table}");
        assert!(table.contains("failed"), "{table}");
        assert!(
            table.contains("[FAIL] cached search through the Redis tier"),
            "{table}"
        );
        assert!(table.contains("concurrency sweep"), "{table}");
        assert!(table.contains("vs nginx"), "{table}");
        assert!(table.contains("100 of 100 re-requested pages"), "{table}");
    }

    #[test]
    fn a_quiet_machine_gets_no_warning() {
        let mut r = report();
        r.machine.load_average = "0.12 0.30 0.40".to_owned();
        assert_eq!(r.machine.busy(), None);
        assert!(!r.markdown().contains("Other work was running"));
        assert!(!r.markdown().contains("provisional"));
        r.machine.load_average = String::new();
        assert_eq!(r.machine.busy(), None);
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.5), "1,235");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(millis(Duration::from_micros(2350)), "2.35 ms");
        assert_eq!(millis(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(percent(0.504), "50%");
        assert_eq!(mib(20 * 1024), "20.0 MiB");
    }

    #[test]
    fn machine_facts_are_read_from_proc_texts() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: X\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor: 0\n"), None);
        assert_eq!(
            mem_total("MemTotal:       24684544 kB\n").as_deref(),
            Some("23.5 GiB")
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_text(Duration::ZERO), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34:56 UTC, a leap day.
        assert_eq!(
            utc_text(Duration::from_secs(951_827_696)),
            "2000-02-29 12:34 UTC"
        );
        // 2026-11-28 20:48:40 UTC.
        assert_eq!(
            utc_text(Duration::from_secs(1_795_898_920)),
            "2026-11-28 20:48 UTC"
        );
    }
}
