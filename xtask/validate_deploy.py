#!/usr/bin/env python3
"""Validates every deployment file under deploy/ with independent tools, and checks that they
agree with each other and with the server.

- deploy/compose.yaml: the Compose Specification's JSON Schema (vendored in xtask/schemas),
  `podman-compose config` with env.example as the .env (README's steps), then what the stack
  relies on: health checks, named volumes, TRUSTED_PROXIES equal to the network
  Caddy reaches the gateway from, every ${VARIABLE} documented in deploy/env.example.
- deploy/Caddyfile: `caddy validate` (Debian's caddy), and that it proxies to the gateway.
- deploy/kubernetes/*.yaml: `kubernetes-validate --strict` against Kubernetes KUBERNETES_VERSION,
  then replicas, probes, resources, the grace period against the server's drain, labels and
  selectors, and that the kustomization lists every manifest.
- deploy/systemd/alistach.service: `systemd-analyze verify` and `systemd-analyze security`
  (exposure at most 2.0) in an offline root.
- deploy/env.example, the ConfigMap and the Secret template: every setting they name is one of
  the server's (README's generated configuration table).

Usage: python3 xtask/validate_deploy.py [--require-all] [--drain-seconds N]

Without --require-all a missing tool (PyYAML, jsonschema, podman-compose, kubernetes-validate,
caddy, systemd-analyze) skips its check with a note; with it (the tests pass it under CI) it fails.
Exit status 0 when every check that ran passed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.32.0"
# Variables compose.yaml reads besides the server's settings (Caddy's, PostgreSQL's, the image).
COMPOSE_VARIABLES = {"ALISTACH_DOMAIN", "ACME_EMAIL", "POSTGRES_PASSWORD", "ALISTACH_IMAGE"}

failures = []
skipped = []


def fail(message):
    failures.append(message)
    print(f"FAIL {message}")


def ok(message):
    print(f"ok   {message}")


def check(condition, message):
    if condition:
        ok(message)
    else:
        fail(message)


def missing(tool, why):
    skipped.append(f"{tool} ({why})")
    print(f"SKIP {why}: {tool} is not installed")


def settings_names():
    """The server's environment variables, from README's generated configuration table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings:begin -->")[1].split("<!-- settings:end -->")[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, re.M))


def env_file_keys(path):
    keys = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            # Commented-out examples must be real names too.
            line = line.lstrip("#").strip()
            if not re.match(r"^[A-Z][A-Z0-9_]*=", line):
                continue
        if "=" in line:
            keys.append(line.split("=", 1)[0].strip())
    return keys


def check_compose(yaml, jsonschema, settings):
    path = DEPLOY / "compose.yaml"
    text = path.read_text()
    doc = yaml.safe_load(text)
    schema = json.loads((ROOT / "xtask/schemas/compose-spec.json").read_text())
    errors = sorted(
        jsonschema.Draft201909Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
    )
    for e in errors:
        fail(f"compose.yaml: {'/'.join(map(str, e.path))}: {e.message}")
    if not errors:
        ok("compose.yaml matches the Compose Specification's schema")

    services = doc.get("services", {})
    check(
        set(services) == {"gateway", "caddy", "redis", "postgres"},
        f"compose.yaml has the gateway, caddy, redis and postgres services ({sorted(services)})",
    )
    for name, service in services.items():
        check("healthcheck" in service, f"compose.yaml: {name} has a health check")
    gateway = services.get("gateway", {})
    check(
        gateway.get("healthcheck", {}).get("test")
        == ["CMD", "/usr/local/bin/alistach-server", "healthcheck"],
        "compose.yaml: the gateway's health check is the image's own probe",
    )
    named = set(doc.get("volumes", {}) or {})
    for name, mount in [("gateway", "/data"), ("postgres", "/var/lib/postgresql/data")]:
        volumes = services.get(name, {}).get("volumes", [])
        sources = [v.split(":")[0] for v in volumes if v.split(":")[1] == mount]
        check(
            len(sources) == 1 and sources[0] in named,
            f"compose.yaml: {name} keeps {mount} in a named volume ({sources})",
        )
    env = gateway.get("environment", {})
    subnets = [
        c["subnet"]
        for n in (doc.get("networks") or {}).values()
        for c in ((n or {}).get("ipam") or {}).get("config", [])
    ]
    check(
        env.get("TRUSTED_PROXIES") in subnets and len(subnets) == 1,
        f"compose.yaml: TRUSTED_PROXIES ({env.get('TRUSTED_PROXIES')}) is the network Caddy "
        f"reaches the gateway from ({subnets})",
    )
    check(
        not gateway.get("ports"),
        "compose.yaml: the gateway is not published (clients come through Caddy)",
    )
    check(
        {"80:80", "443:443"} <= set(services.get("caddy", {}).get("ports", [])),
        "compose.yaml: Caddy publishes 80 and 443",
    )
    check(gateway.get("env_file") == ".env", "compose.yaml: the gateway reads deploy/.env")
    unknown = sorted(set(env) - settings)
    check(not unknown, f"compose.yaml: the gateway's variables are server settings ({unknown})")
    grace = gateway.get("stop_grace_period", "")
    return text, grace


def check_env_example(settings, compose_text):
    keys = env_file_keys(DEPLOY / "env.example")
    unknown = sorted(set(keys) - settings - COMPOSE_VARIABLES)
    check(not unknown, f"env.example names only server settings and compose's variables ({unknown})")
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", compose_text))
    undocumented = sorted(used - set(keys) - {"ALISTACH_IMAGE"})
    check(not undocumented, f"every variable compose.yaml reads is in env.example ({undocumented})")
    for secret in ["INTERNAL_API_KEY", "ADMIN_API_KEY", "LINK_SIGNING_KEY", "POSTGRES_PASSWORD"]:
        check(secret in keys, f"env.example sets {secret}")
    for secrets in ["deploy/.env", "deploy/kubernetes/secret.yaml"]:
        ignored = subprocess.run(["git", "check-ignore", "-q", secrets], cwd=ROOT)
        check(ignored.returncode == 0, f"{secrets} is git-ignored")


def check_podman_compose(yaml, require):
    """README's steps: copy env.example to .env, then podman-compose reads the stack."""
    tool = shutil.which("podman-compose")
    if not tool:
        if require:
            return fail("podman-compose is missing (python3 -m pip install podman-compose)")
        return missing("podman-compose", "podman-compose config")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "deploy"
        shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns(".env"))
        env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
        without = subprocess.run([tool, "-f", "compose.yaml", "config"], cwd=copy, env=env,
                                 capture_output=True, text=True, timeout=120)
        check(without.returncode != 0 and "POSTGRES_PASSWORD" in without.stderr,
              "podman-compose config refuses the stack without deploy/.env, naming the variable")
        shutil.copy(DEPLOY / "env.example", copy / ".env")
        run = subprocess.run([tool, "-f", "compose.yaml", "config"], cwd=copy, env=env,
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            return fail(f"podman-compose config with env.example as .env: {run.stderr.strip()[-500:]}")
        resolved = yaml.safe_load(run.stdout)
        gateway = resolved["services"]["gateway"]["environment"]
        check(gateway.get("PUBLIC_BASE_URL") == "https://alistach.example.com"
              and gateway.get("DATABASE_URL", "").startswith("postgres://alistach:change-me"),
              "podman-compose config with env.example as .env resolves the gateway's settings")


def check_caddy(require):
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    check(
        re.search(r"reverse_proxy\s+gateway:8000\b", caddyfile) is not None,
        "Caddyfile proxies to the gateway service's port",
    )
    if not shutil.which("caddy"):
        return missing("caddy", "Caddyfile validation") if not require else fail("caddy is missing")
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, XDG_DATA_HOME=home, XDG_CONFIG_HOME=home,
                   ALISTACH_DOMAIN="alistach.example.com", ACME_EMAIL="admin@example.com")
        run = subprocess.run(
            ["caddy", "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
            env=env, capture_output=True, text=True,
        )
    check(run.returncode == 0, f"caddy validate deploy/Caddyfile {run.stderr.strip().splitlines()[-1:] if run.returncode else ''}")


def check_kubernetes(yaml, settings, drain_seconds, require):
    directory = DEPLOY / "kubernetes"
    files = sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = sorted(kustomization.get("resources", []))
    expected = sorted(p.name for p in files if p.name != "secret.example.yaml")
    check(listed == expected, f"kustomization.yaml lists every manifest but the Secret template ({listed})")

    tool = shutil.which("kubernetes-validate")
    if tool:
        run = subprocess.run(
            [tool, "--strict", "--quiet", "-k", KUBERNETES_VERSION, *map(str, files)],
            capture_output=True, text=True,
        )
        out = (run.stdout + run.stderr).strip()
        check(
            run.returncode == 0 and "ERROR" not in out,
            f"kubernetes-validate --strict -k {KUBERNETES_VERSION}: every manifest {out}",
        )
    elif require:
        fail("kubernetes-validate is missing (python3 -m pip install kubernetes-validate)")
    else:
        missing("kubernetes-validate", "Kubernetes schema validation")

    docs = {}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    kinds = {kind for kind, _ in docs}
    for kind in ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                 "ConfigMap", "Secret", "NetworkPolicy", "Ingress"]:
        check(kind in kinds, f"kubernetes: a {kind}")
    deployment = docs.get(("Deployment", "alistach"), {})
    spec = deployment.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    container = (pod.get("containers") or [{}])[0]
    check(spec.get("replicas", 1) >= 2, "kubernetes: two or more replicas")
    check(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/livez",
          "kubernetes: liveness probe on /livez")
    check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
          "kubernetes: readiness probe on /readyz")
    resources = container.get("resources", {})
    check(all(k in resources.get(s, {}) for s in ["requests", "limits"] for k in ["cpu", "memory"]),
          "kubernetes: CPU and memory requests and limits")
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace > pre_stop + drain_seconds,
          f"kubernetes: terminationGracePeriodSeconds {grace} > preStop {pre_stop} s + the "
          f"server's drain {drain_seconds} s")
    security = pod.get("securityContext", {})
    check(security.get("runAsNonRoot") is True and security.get("runAsUser") == 10001,
          "kubernetes: runs as the image's non-root user 10001")
    check(any(m.get("mountPath") == "/data" for m in container.get("volumeMounts", [])),
          "kubernetes: /data is a volume (the root file system is read-only)")
    check(spec.get("selector", {}).get("matchLabels", {}).items() <= labels.items(),
          "kubernetes: the Deployment's selector matches its pods")
    for kind in ["Service", "PodDisruptionBudget", "NetworkPolicy"]:
        for (k, _), doc in docs.items():
            if k != kind:
                continue
            if doc["spec"].get("type") == "ExternalName":
                continue
            selector = doc["spec"].get("selector") or doc["spec"].get("podSelector") or {}
            selector = selector.get("matchLabels", selector)
            check(selector.items() <= labels.items(), f"kubernetes: the {kind}'s selector matches the pods")
    hpa = docs.get(("HorizontalPodAutoscaler", "alistach"), {}).get("spec", {})
    check(hpa.get("scaleTargetRef", {}).get("name") == "alistach" and hpa.get("minReplicas", 1) >= 2
          and hpa.get("metrics", [{}])[0].get("resource", {}).get("name") == "cpu",
          "kubernetes: the autoscaler scales the Deployment on CPU, never below 2")
    refs = {e.get("configMapRef", e.get("secretRef", {})).get("name") for e in container.get("envFrom", [])}
    check({"alistach"} == refs and ("ConfigMap", "alistach") in docs and ("Secret", "alistach") in docs,
          "kubernetes: the pods read the ConfigMap and the Secret")
    names = set(docs.get(("ConfigMap", "alistach"), {}).get("data", {})) | set(
        docs.get(("Secret", "alistach"), {}).get("stringData", {}))
    unknown = sorted(names - settings)
    check(not unknown, f"kubernetes: the ConfigMap and Secret name only server settings ({unknown})")
    for required in ["DATABASE_URL", "REDIS_URL", "LINK_SIGNING_KEY", "TRUSTED_PROXIES", "PUBLIC_BASE_URL"]:
        check(required in names, f"kubernetes: {required} is set (shared by every replica)")
    services = {name for (kind, name), doc in docs.items()
                if kind == "Service" and doc["spec"].get("type") == "ExternalName"}
    config = docs.get(("ConfigMap", "alistach"), {}).get("data", {})
    secret = docs.get(("Secret", "alistach"), {}).get("stringData", {})
    check("@alistach-postgres:" in secret.get("DATABASE_URL", "") and "alistach-postgres" in services
          and "//alistach-redis:" in config.get("REDIS_URL", "") and "alistach-redis" in services,
          "kubernetes: Redis and PostgreSQL are external services the settings name")


def check_systemd(require):
    unit = DEPLOY / "systemd" / "alistach.service"
    text = unit.read_text()
    for line in ["DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=alistach",
                 "Environment=API_HOST=127.0.0.1 API_PORT=8000 DATA_DIR=/var/lib/alistach LOG_FORMAT=json"]:
        check(line in text.splitlines(), f"alistach.service has {line.split(' ')[0]}")
    tool = shutil.which("systemd-analyze")
    if not tool:
        if require:
            return fail("systemd-analyze is missing (apt-get install systemd)")
        return missing("systemd-analyze", "systemd unit verification")
    exec_start = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
    with tempfile.TemporaryDirectory() as root:
        # An offline root: the unit, a stand-in for the binary, and the system's own units.
        target = Path(root) / "etc/systemd/system"
        target.mkdir(parents=True)
        shutil.copy(unit, target)
        binary = Path(root) / exec_start.lstrip("/")
        binary.parent.mkdir(parents=True)
        shutil.copy("/bin/true", binary)
        system_units = Path("/usr/lib/systemd/system")
        if system_units.is_dir():
            shutil.copytree(system_units, Path(root) / "usr/lib/systemd/system", symlinks=True)
        verify = subprocess.run([tool, "verify", f"--root={root}", unit.name],
                                capture_output=True, text=True)
        out = (verify.stdout + verify.stderr).strip()
        # verify exits 0 on unknown keys and bad values (it ignores them, as systemd would): any
        # line it prints is a finding.
        check(verify.returncode == 0 and not out, f"systemd-analyze verify alistach.service {out}")
        security = subprocess.run(
            [tool, "security", "--offline=true", f"--root={root}", "--threshold=20", unit.name],
            capture_output=True, text=True)
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
        check(security.returncode == 0 and level is not None,
              f"systemd-analyze security: exposure {level.group(1) if level else '?'} (at most 2.0)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--require-all", action="store_true", help="a missing tool is a failure")
    parser.add_argument("--drain-seconds", type=int, default=10,
                        help="the server's shutdown drain (alistach-http's shutdown_grace)")
    args = parser.parse_args()
    try:
        import yaml
        import jsonschema
    except ImportError as e:
        if args.require_all:
            print(f"FAIL {e}: python3 -m pip install pyyaml jsonschema")
            return 1
        print(f"SKIP every check: {e} (python3 -m pip install pyyaml jsonschema)")
        return 0
    settings = settings_names()
    if len(settings) < 20:
        fail(f"README's configuration table names only {len(settings)} settings")
    compose_text, compose_grace = check_compose(yaml, jsonschema, settings)
    seconds = int(re.sub(r"s$", "", str(compose_grace)) or 0)
    check(seconds > args.drain_seconds,
          f"compose.yaml: stop_grace_period {compose_grace} > the server's drain {args.drain_seconds} s")
    check_env_example(settings, compose_text)
    check_podman_compose(yaml, args.require_all)
    check_caddy(args.require_all)
    check_kubernetes(yaml, settings, args.drain_seconds, args.require_all)
    check_systemd(args.require_all)
    print(f"{len(failures)} failed, {len(skipped)} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
