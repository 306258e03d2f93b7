"""The README's cluster commands, read from the README and run as written (bash, the pinned
kubectl, the installed stsmesh) against the real apiserver: the in-cluster flow up to `stsmesh
check`, then the laptop flow (`certs --ip`, `serve`, `register --url`) and a StatefulSet whose pod
the webhook mutates.

This cluster has no kubelet, so the Deployment's pods never run: `check` must find everything in
order but the endpoints and the server, and nothing else. Kubernetes 1.20 serves no policy/v1
PodDisruptionBudget (1.21+), so there `kubectl apply -k deploy/base` creates every object but the PDB.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import create_namespace, wait_for_pods
from tests.support import KUBECTL, MISSING_TOOL

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
APPLIED = "stsmesh.io/applied"

pytestmark = pytest.mark.skipif(KUBECTL is None, reason=MISSING_TOOL.format("kubectl"))


def in_cluster_commands() -> list[str]:
    """The first indented block under "### In a cluster", comments dropped."""
    section = README[README.index("### In a cluster") :]
    block = re.search(r"\n\n((?:    .*\n)+)", section)
    assert block is not None
    return [re.sub(r"\s+#.*$", "", line.strip()) for line in block.group(1).splitlines()]


def laptop_commands() -> list[str]:
    sentence = README[README.index("For development against a cluster from your laptop:") :]
    return re.findall(r"`(stsmesh [^`]+)`", sentence[: sentence.index(". `deploy/`")])


def environment(cluster: Any) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}:{Path(str(KUBECTL)).parent}:{os.environ['PATH']}"
    return dict(os.environ, PATH=path, KUBECONFIG=str(cluster.kubeconfig))


def test_the_readme_cluster_flow_as_written(api: client.ApiClient, cluster: Any, tmp_path: Path) -> None:
    commands = in_cluster_commands()
    expected = [["kubectl", "apply"], ["stsmesh", "certs"], ["stsmesh", "register"], ["stsmesh", "enable"]]
    assert [c.split()[:2] for c in commands] == [*expected, ["stsmesh", "check"]], commands
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")  # the README's paths are the repository's
    env = environment(cluster)
    create_namespace(api, "my-namespace")
    results = []
    for command in commands:
        results.append(subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True))
    apply, certs, register, enable, check = results
    if apply.returncode != 0:  # 1.20: everything but the policy/v1 PDB
        assert 'no matches for kind "PodDisruptionBudget" in version "policy/v1"' in apply.stderr, apply.stderr
        assert apply.stderr.count("error:") + apply.stderr.count("Error") == 1, apply.stderr
    assert "deployment.apps/stsmesh created" in apply.stdout, apply.stdout
    for done in (certs, register, enable):
        assert done.returncode == 0, done.stderr
    assert "secret/stsmesh-tls created" in certs.stdout
    verdicts = subprocess.run(["bash", "-c", "stsmesh check -o json"], cwd=tmp_path, env=env, capture_output=True,
                              text=True)  # fmt: skip
    failing = {c["name"] for c in json.loads(verdicts.stdout)["checks"] if not c["ok"]}
    assert failing == {"endpoints", "server"}, verdicts.stdout  # no kubelet: no pod runs
    assert check.returncode == 1 and "✓ caBundle: verifies the serving certificate (Secret stsmesh/stsmesh-tls)" in (
        check.stdout
    ), check.stdout
    subprocess.run(["bash", "-c", "stsmesh unregister"], cwd=tmp_path, env=env, check=True, capture_output=True)


def test_the_readme_laptop_flow_as_written_mutates_a_pod(api: client.ApiClient, cluster: Any, tmp_path: Path) -> None:
    commands = laptop_commands()
    assert [c.split()[1] for c in commands] == ["certs", "serve", "register"], commands
    env = environment(cluster)
    done = subprocess.run(["bash", "-c", commands[0]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed with the process
    serve = subprocess.Popen(shlex.split(commands[1]), cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while b"listening on" not in (tmp_path / "serve.log").read_bytes():
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "stsmesh serve did not start"
            time.sleep(0.1)
        done = subprocess.run(["bash", "-c", commands[2]], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        create_namespace(api, "demo")
        subprocess.run(["bash", "-c", "stsmesh enable demo"], cwd=tmp_path, env=env, check=True)
        apply = subprocess.run(
            ["bash", "-c", f"kubectl apply -f {ROOT / 'examples/zookeeper-bitnami.yaml'}"],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert apply.returncode == 0, apply.stderr
        (pod, *_) = wait_for_pods(api, "demo", "app.kubernetes.io/name=zookeeper", 1)
        assert APPLIED in pod["metadata"]["annotations"], "the webhook the README registered mutated the pod"
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()
        subprocess.run(["bash", "-c", "stsmesh unregister"], cwd=tmp_path, env=env, capture_output=True)
