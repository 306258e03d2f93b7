"""Every command, given the mistakes people make, answers with one line that says what to do and
the documented exit code (webhook/core/exits.py) — never a traceback.

Each row runs the real ``stsmesh`` console script in a fresh process (so argparse, logging set-up,
warnings from libraries and the interpreter's own error printing are all in play), concurrently to
keep the table quick. The cluster rows point a kubeconfig at a loopback port nothing listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from webhook.core import certs
from webhook.core.exits import EXIT_CLUSTER, EXIT_CODES, EXIT_INPUT, EXIT_OK, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "zookeeper-bitnami.yaml")


@dataclass(frozen=True)
class Mistake:
    argv: tuple[str, ...]
    code: int
    says: str
    """A phrase the one line must contain (what went wrong or what to do)."""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{env} {' '.join(self.argv)}".strip()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on return: nothing listens there


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("mistakes")
    kubeconfig = base / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{closed_port()}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"""
    )
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    ca = certs.make_ca(now)
    one, other = (certs.make_serving_cert(ca, now, ["localhost"], ["127.0.0.1"]) for _ in range(2))
    (base / "tls.crt").write_bytes(one.cert)
    (base / "other.key").write_bytes(other.key)
    (base / "garbage.pem").write_text("not a certificate\n")
    (base / "latin1.yaml").write_bytes("metadata:\n  name: caf\xe9\n".encode("latin-1"))
    (base / "bad-catalogue.yaml").write_text("version: 1\ndisable: [no-such-app]\n")
    (base / "a-file").write_text("")
    return {name: str(base / name) for name in ("kubeconfig", "tls.crt", "other.key", "garbage.pem", "latin1.yaml",
                                                "bad-catalogue.yaml", "a-file")}  # fmt: skip


def mistakes(f: dict[str, str]) -> list[Mistake]:
    kube = ("--kubeconfig", f["kubeconfig"])
    return [
        # serve
        Mistake(("serve", "--log-level", "LOUD"), EXIT_USAGE, "--log-level 'LOUD' is not one of"),
        Mistake(("serve", "--port", "99999"), EXIT_USAGE, "--port 99999 is out of range"),
        Mistake(("serve",), EXIT_USAGE, "STSMESH_PORT='abc' is not a valid int", {"STSMESH_PORT": "abc"}),
        Mistake(("serve",), EXIT_USAGE, "STSMESH_LOG_FORMAT 'xml' is not one of", {"STSMESH_LOG_FORMAT": "xml"}),
        Mistake(
            ("serve", "--cert-file", "/nonexistent.crt", "--key-file", "/nonexistent.key", "--watch-cluster", "off"),
            EXIT_USAGE,
            "cannot read the serving certificate /nonexistent.crt",
        ),
        Mistake(
            ("serve", "--cert-file", f["tls.crt"], "--key-file", f["other.key"], "--watch-cluster", "off"),
            EXIT_USAGE,
            "the key does not match the certificate",
        ),
        Mistake(
            ("serve", "--cert-file", f["garbage.pem"], "--key-file", f["garbage.pem"], "--watch-cluster", "off"),
            EXIT_USAGE,
            "not a PEM certificate and key",
        ),
        Mistake(("serve", "--watch-cluster", "on", "--kubeconfig", "/nonexistent"), EXIT_USAGE, "--kubeconfig"),
        # certs
        Mistake(("certs", "--ip", "999.1.1.1", "--out-dir", f["a-file"] + ".d"), EXIT_USAGE, "not an IPv4 or IPv6"),
        Mistake(("certs", "--out-dir", f["a-file"] + "/sub"), EXIT_USAGE, "choose a writable --out-dir"),
        Mistake(("certs", "--days", "0", "--out-dir", f["a-file"] + ".d"), EXIT_USAGE, "--days 0: give a validity"),
        Mistake(("certs", "--service", "nope"), EXIT_USAGE, "NAMESPACE/NAME"),
        # dry-run and catalogue
        Mistake(("dry-run", f["latin1.yaml"]), EXIT_INPUT, "not UTF-8 text"),
        Mistake(("dry-run", "/nonexistent.yaml"), EXIT_INPUT, "cannot read /nonexistent.yaml"),
        Mistake(("dry-run", EXAMPLE, "--ordinal", "99"), EXIT_USAGE, "--ordinal 99 is not one of"),
        Mistake(("dry-run", EXAMPLE, "--mesh", "nginx"), EXIT_USAGE, "invalid choice: 'nginx'"),
        Mistake(
            ("dry-run", EXAMPLE, "--mesh", "istio", "--mesh-version", "banana"), EXIT_USAGE, "cannot read a version"
        ),
        Mistake(("dry-run", EXAMPLE, "--catalogue", f["bad-catalogue.yaml"]), EXIT_USAGE, "not a shipped app id"),
        Mistake(("dry-run", EXAMPLE), EXIT_OK, "", {"STSMESH_PORT": "abc", "STSMESH_LOG_LEVEL": "LOUD"}),
        Mistake(("dry-run", EXAMPLE, "-o", "yaml"), EXIT_OK, ""),
        Mistake(("catalogue", "--catalogue", "/nonexistent.yaml"), EXIT_USAGE, "cannot read catalogue"),
        Mistake(("frobnicate",), EXIT_USAGE, "invalid choice: 'frobnicate'"),
        # cluster commands, cluster unreachable
        Mistake(("unregister", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("enable", "default", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("status", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("check", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("completion", "tcsh"), EXIT_USAGE, "invalid choice: 'tcsh'"),
        Mistake(("audit", "-A", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("register", "--ca-file", "", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("per-pod-controller", "--once", *kube), EXIT_CLUSTER, "cannot reach the API server"),
        Mistake(("audit", "-A", "--kubeconfig", "/nonexistent"), EXIT_CLUSTER, "no usable kubeconfig"),
        # cluster commands, bad flags
        Mistake(("register", "--ca-file", "/nonexistent.crt", "--dry-run"), EXIT_USAGE, "cannot read the CA"),
        Mistake(("register", "--timeout", "99", "--dry-run"), EXIT_USAGE, "--timeout must be between 1 and 30"),
        Mistake(("register", "--url", "http://x/mutate", "--dry-run", "--ca-file", ""), EXIT_USAGE, "https://"),
        Mistake(
            ("per-pod-controller", "--once", "--mesh", "istio", "--mesh-version", "x", *kube),
            EXIT_USAGE,
            "cannot read a version",
        ),
    ]


def run(mistake: Mistake) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STSMESH_") and k != "KUBECONFIG"}
    env.update(mistake.env, HOME=env.get("HOME", "/tmp"))
    command = [sys.executable, "-m", "webhook", *mistake.argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def test_every_mistake_is_one_line_and_its_documented_code(files: dict[str, str]) -> None:
    table = mistakes(files)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, table))
    failures = []
    for mistake, done in zip(table, results, strict=True):
        lines = done.stderr.splitlines()
        if mistake.code == EXIT_OK:
            problem = None if done.returncode == EXIT_OK and "Traceback" not in done.stderr else "did not succeed"
        elif "Traceback" in done.stderr:
            problem = "a traceback"
        elif done.returncode != mistake.code:
            problem = f"exit {done.returncode}, documented {mistake.code} ({EXIT_CODES[mistake.code]})"
        elif len(lines) != 1:
            problem = f"{len(lines)} lines on stderr"
        elif mistake.says not in lines[0]:
            problem = f"the line does not say {mistake.says!r}"
        else:
            problem = None
        if problem:
            failures.append(f"{mistake.id}: {problem}\n    stderr: {done.stderr.strip()[:400]!r}")
    assert not failures, "\n".join(failures)


def test_the_table_can_fail(files: dict[str, str]) -> None:
    """The checks above catch a wrong code and a second line: a row that expects the wrong ones fails."""
    wrong = Mistake(("serve", "--port", "99999"), EXIT_CLUSTER, "out of range")
    done = run(wrong)
    assert done.returncode == EXIT_USAGE != wrong.code
    assert len(run(Mistake(("dry-run", EXAMPLE, "--mesh-version", "1.9"), EXIT_OK, "")).stderr.splitlines()) == 2, (
        "the skipped Service and the unused --mesh-version are each one line"
    )


def test_json_log_format_makes_start_up_failures_json(files: dict[str, str]) -> None:
    import json

    done = run(Mistake(("serve", "--log-format", "json", "--port", "99999"), EXIT_USAGE, ""))
    assert done.returncode == EXIT_USAGE
    line = json.loads(done.stderr)
    assert line["level"] == "ERROR" and "--port 99999" in line["message"]


def test_one_output_convention() -> None:
    """Every command that prints a result takes -o text|json|yaml (dry-run adds patched; render
    prints objects only, as yaml or json; certs' -o says where the certificate goes)."""
    from webhook.cli.completion import command_tree
    from webhook.cli.main import build_parser

    with_output = {" ".join(c.path): set(c.choices.get("--output", ())) for c in command_tree(build_parser())}
    own = {"render per-pod": {"yaml", "json"}, "certs": {"files", "secret"}}
    for command, formats in with_output.items():
        if not formats or command in own:
            continue
        assert {"text", "json", "yaml"} <= formats, command
    assert with_output["render per-pod"] == own["render per-pod"] and with_output["certs"] == own["certs"]
    assert {"dry-run", "catalogue", "audit", "status", "check"} <= {c for c, f in with_output.items() if f}
