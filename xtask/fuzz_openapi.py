#!/usr/bin/env python3
"""Fuzzes every operation of the served OpenAPI document with schemathesis, against the release binary.

The server runs in mock mode on a free 127.0.0.1 port, with rate limits and the failed-key throttle
off and both an admin and an internal API key set, so the keyed paths are exercised too.
Schemathesis sends positive and negative cases (bounded per operation and in total time) to 127.0.0.1 only, and fails the run on a 5xx, a
status the document does not list, a body that does not match its schema, or a wrong content type.
The server is stopped however the run ends; a panic in its log fails the run too.

Needs `pip install schemathesis` (4.x). CI runs it from `.ci/run`.

Usage: python3 xtask/fuzz_openapi.py [--no-build] [--max-examples N] [--timeout SECONDS] [--seed N]
"""

import argparse
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "alistach-server"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
    ]
)


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "alistach-server", "--locked"],
        cwd=ROOT,
        check=True,
    )


def start_server(env, log_path):
    """Starts the binary on 127.0.0.1:0 and returns (process, base URL) once it logs its address."""
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen(
        [str(BINARY), "--listen", "127.0.0.1:0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    found = threading.Event()
    base = []

    def drain():
        # Keep reading so the pipe never fills and blocks the server.
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if not found.is_set():
                m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                if m:
                    base.append(m.group(1))
                    found.set()
        log.close()

    threading.Thread(target=drain, daemon=True).start()
    if not found.wait(30) or proc.poll() is not None:
        stop_server(proc)
        sys.exit(f"the server did not start; its log:\n{pathlib.Path(log_path).read_text()}")
    return proc, base[0]


def stop_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answered(base, admin_key):
    """The server's own count of answers by route and status, from /metrics."""
    req = urllib.request.Request(f"{base}/metrics", headers={"x-admin-key": admin_key})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        text = resp.read().decode()
    rows = []
    for line in text.splitlines():
        m = re.match(r'alistach_http_requests_total\{route="([^"]*)",method="([^"]*)",status="(\d+)"\} (\d+)', line)
        if m:
            rows.append(f"  {m.group(2):6} {m.group(1):32} {m.group(3)} x{m.group(4)}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="use the existing release binary")
    parser.add_argument("--max-examples", type=int, default=50, help="cases per operation and phase")
    parser.add_argument("--timeout", type=int, default=900, help="seconds before the run is stopped and failed")
    parser.add_argument("--seed", type=int, help="schemathesis seed, to reproduce a run")
    args = parser.parse_args()

    st = shutil.which("schemathesis")
    if st is None:
        sys.exit("schemathesis is not installed: python3 -m pip install schemathesis")
    if not args.no_build:
        build()

    admin_key = secrets.token_hex(16)
    internal_key = secrets.token_hex(16)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="alistach-fuzz-"))
    # Exactly these settings, nothing inherited from the caller's environment.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "MOCK_MODE": "true",
        "RATE_LIMIT_ENABLED": "false",
        # Negative cases send wrong keys; without a high budget the failed-authentication
        # throttle would answer every later keyed request 429 and hide the handlers.
        "AUTH_FAILURES_PER_MINUTE": "100000",
        "ADMIN_API_KEY": admin_key,
        "INTERNAL_API_KEY": internal_key,
        # Tracked links on, so /r/{token} runs its real handler (fuzzed tokens are all 404).
        "LINK_TRACKING": "redirect",
        "PUBLIC_BASE_URL": "https://fuzz.alistach.example",
        "LINK_SIGNING_KEY": secrets.token_hex(32),
        # Per-request lines are debug; info shows the bound address and the warnings.
        "LOG_LEVEL": "info",
        # The order database in the run's own directory, not the checkout's ./data.
        "DATA_DIR": str(workdir / "data"),
    }
    log_path = workdir / "server.log"
    proc, base = start_server(env, log_path)
    print(f"fuzzing {base} (server log: {log_path})", flush=True)

    cmd = [
        st,
        "run",
        f"{base}/openapi.json",
        # The document names the public origin first; every request must go to this server.
        "--url",
        base,
        "--checks",
        CHECKS,
        "--max-examples",
        str(args.max_examples),
        # One worker: CPython 3.11 can fail compiling in parallel threads ("AST constructor
        # recursion depth mismatch" inside hypothesis), which would fail the run for nothing.
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        # Each kind of operation gets its key in its own header, so the admin key never reaches an
        # API route as a Bearer token (which would be a 403) and the other way round.
        "--header",
        f"x-internal-key: {internal_key}",
        "--header",
        f"x-admin-key: {admin_key}",
        "--report",
        "junit,har",
        "--report-dir",
        str(workdir / "report"),
        "--output-sanitize",
        "true",
    ]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    st_env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        st_env.pop(name, None)

    started = time.monotonic()
    try:
        code = subprocess.run(cmd, cwd=workdir, env=st_env, timeout=args.timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"schemathesis did not finish within {args.timeout} s", file=sys.stderr)
        code = 1
    else:
        try:
            print("answers by operation and status:\n" + "\n".join(answered(base, admin_key)))
        except OSError as e:
            print(f"could not read /metrics: {e}", file=sys.stderr)
    finally:
        stop_server(proc)
    elapsed = time.monotonic() - started

    log = log_path.read_text(encoding="utf-8", errors="replace")
    panics = [line for line in log.splitlines() if "panicked" in line]
    if panics:
        print("the server panicked:\n" + "\n".join(panics[:20]), file=sys.stderr)
        code = code or 1
    print(f"schemathesis exit code {code} after {elapsed:.0f} s; reports in {workdir / 'report'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
