"""The apps the lab runs, configured from the pod stsmesh patched — never by hand.

For each app, the pod is shaped like a real chart's (the builders of :mod:`tests.golden.build_reviews`,
written from the charts' public facts), built as the StatefulSet controller builds it, reviewed by
``review()`` as the server answers the first call, patched with ``jsonpatch``, and then turned into
the real process's configuration the way that image's entrypoint does it. The lab has no DNS, so
peer host names become the pods' lab addresses in ordinal order, and the timing settings are the
lab's own short ones (three JVMs on two cores); everything else comes from the patched pod.

Mappings, and where each comes from:

* **Bitnami ZooKeeper** (bitnami/containers zookeeper ``libzookeeper.sh``, ``zookeeper_initialize``):
  ``ZOO_LISTEN_ALLIPS_ENABLED`` yes/true → ``quorumListenOnAllIPs=true`` in zoo.cfg, else false;
  ``ZOO_SERVERS`` ``host:2888:3888::id`` entries → ``server.<id>=host:2888:3888``;
  ``ZOO_4LW_COMMANDS_WHITELIST`` → ``4lw.commands.whitelist``; myid from ``ZOO_SERVER_ID`` (ordinal + 1).
* **The Kubernetes tutorial's ZooKeeper** (kubernetes-retired/contrib ``zookeeper/start-zookeeper``):
  ``--server_port`` / ``--election_port`` → ``server.N=host:SERVER:ELECTION``; the script has no
  option for quorumListenOnAllIPs, so it is always false: only capture exclusions can help it.
* **etcd, flags on the pod IP** (etcd reads its flags itself): the container's args with Kubernetes'
  ``$(VAR)`` expansion of ``POD_NAME`` / ``POD_IP``; peer and client URLs as the patched args say.

Capture exclusions come from the annotations on the patched pod that the injector would read
(``traffic.sidecar.istio.io/excludeInboundPorts``), as Istio's injector turns them into
``istio-init -d``.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch

from tests.applab.lab import Lab, Pod, wait_until
from tests.golden.build_reviews import controller_pod, etcd_upstream, zookeeper_bitnami, zookeeper_k8s_tutorial
from webhook.core.admission import review
from webhook.core.commalist import split_list
from webhook.core.inputs import pod_review
from webhook.core.mesh import ISTIO, MeshHint
from webhook.core.review import decode_patch
from webhook.core.settings import Settings

JSON = dict[str, Any]
DELIVERY_MESH = {"localhost": ("istio", "1.9"), "pod-ip": ("istio", "1.22"), "none": ("none", None)}
"""The mesh the server is told for each delivery: Istio 1.9 delivers to 127.0.0.1, 1.22 to the pod IP."""

ZOOKEEPER_CLASSPATH = ":".join(
    f"/usr/share/java/{jar}" for jar in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar")
)


def stsmesh_pods(build: Callable[[], JSON], delivery: str, with_stsmesh: bool) -> list[JSON]:
    """The three pods of the StatefulSet, each as the apiserver stores it after stsmesh's answer."""
    settings = Settings(default_hint=MeshHint.parse(*DELIVERY_MESH[delivery]))
    pods = []
    for ordinal in range(3):
        pod = controller_pod(build(), ordinal)
        if with_stsmesh:
            ops = decode_patch(review(pod_review(copy.deepcopy(pod)), settings).response)
            pod = jsonpatch.apply_patch(pod, ops) if ops else pod
        pods.append(pod)
    return pods


def excluded_ports(pod: JSON) -> list[int]:
    """The inbound ports the injector would exclude from capture, from the pod's annotations."""
    value = (pod["metadata"].get("annotations") or {}).get(ISTIO.exclude_inbound, "")
    ports: list[int] = []
    for item in split_list(value):
        low, _, high = item.partition("-")
        if low.isdigit():
            ports.extend(range(int(low), int(high or low) + 1))
    return ports


def _env(container: JSON) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if isinstance(e, dict)}


def _container(pod: JSON, name: str) -> JSON:
    return next(c for c in pod["spec"]["containers"] if c["name"] == name)


@dataclass
class Verdict:
    formed: bool
    seconds: float
    detail: str


# --- ZooKeeper ----------------------------------------------------------------------------------


def zoo_cfg(pod: Pod, servers: list[str], listen_all: bool, four_letter: str) -> str:
    lines = [
        "tickTime=1000", "initLimit=5", "syncLimit=2", f"dataDir={pod.workdir / 'data'}", "clientPort=2181",
        "preAllocSize=64", "snapCount=1000", "admin.enableServer=false", f"4lw.commands.whitelist={four_letter}",
        f"quorumListenOnAllIPs={'true' if listen_all else 'false'}", *servers,
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def bitnami_zookeeper(patched: JSON, pod: Pod, ips: list[str]) -> tuple[str, int]:
    env = _env(_container(patched, "zookeeper"))
    listen_all = env.get("ZOO_LISTEN_ALLIPS_ENABLED", "no").strip().lower() in ("yes", "true", "1")
    servers = []
    for ip, entry in zip(ips, env["ZOO_SERVERS"].split(), strict=True):
        _, quorum, election, _, server_id = entry.split(":")
        servers.append(f"server.{server_id}={ip}:{quorum}:{election}")
    whitelist = env.get("ZOO_4LW_COMMANDS_WHITELIST", "srvr").replace(" ", "")
    return zoo_cfg(pod, servers, listen_all, whitelist), pod.index + 1


def tutorial_zookeeper(patched: JSON, pod: Pod, ips: list[str]) -> tuple[str, int]:
    command = " ".join(_container(patched, "kubernetes-zookeeper")["command"])
    flags = dict(re.findall(r"--(\w+)=(\S+)", command))
    servers = [f"server.{i + 1}={ip}:{flags['server_port']}:{flags['election_port']}" for i, ip in enumerate(ips)]
    return zoo_cfg(pod, servers, False, "srvr"), pod.index + 1


def run_zookeeper(lab: Lab, pods: list[JSON], configure: Callable[[JSON, Pod, list[str]], tuple[str, int]],
                  timeout: float) -> Verdict:  # fmt: skip
    ips = [p.ip for p in lab.pods]
    for patched, pod in zip(pods, lab.pods, strict=True):
        text, myid = configure(patched, pod, ips)
        (pod.workdir / "data").mkdir(exist_ok=True)
        (pod.workdir / "data" / "myid").write_text(f"{myid}\n")
        (pod.workdir / "zoo.cfg").write_text(text)
        main = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
        java = ["java", "-Xmx96m", "-XX:+UseSerialGC", "-cp", ZOOKEEPER_CLASSPATH, main, str(pod.workdir / "zoo.cfg")]
        lab.start(pod, "app", java)
    started = time.monotonic()

    def modes() -> list[str]:
        found = []
        for pod in lab.pods:
            try:
                answer = lab.exec(pod, ["sh", "-c", "echo srvr | nc -N -w 2 127.0.0.1 2181"])
            except Exception:
                answer = ""
            mode = re.search(r"Mode: (\w+)", answer)
            found.append(mode.group(1) if mode else ("not serving" if "not currently serving" in answer else "?"))
        return found

    formed = wait_until(lambda: sorted(modes()) == ["follower", "follower", "leader"], timeout, interval=1.0)
    seconds = time.monotonic() - started
    final = modes()
    alive = all(p.poll() is None for p in lab.processes)
    return Verdict(formed, seconds, f"modes {final}, all processes alive: {alive}")


# --- etcd ---------------------------------------------------------------------------------------


def etcd_argv(patched: JSON, pod: Pod, ips: list[str]) -> list[str]:
    container = _container(patched, "etcd")
    name = patched["metadata"]["name"]
    values = {"POD_NAME": name, "POD_IP": pod.ip}
    argv = ["etcd"]
    for arg in container["args"]:
        arg = re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), arg)
        # no DNS in the lab: each peer's stable name becomes its address
        arg = re.sub(r"etcd-(\d+)\.etcd\.platform\.svc\.cluster\.local", lambda m: ips[int(m.group(1))], arg)
        arg = arg.replace(f"{name}.etcd.platform.svc.cluster.local", pod.ip)
        argv.append(arg)
    argv = [a if not a.startswith("--data-dir=") else f"--data-dir={pod.workdir / 'data'}" for a in argv]
    return argv


HEALTH_PROBE = """
import urllib.error, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:2379/health", timeout=2).read().decode())
except urllib.error.HTTPError as exc:  # 503 {"health":"false"}: answering, but no leader
    print(exc.read().decode())
except OSError as exc:
    print(f"no answer: {exc}")
"""


def run_etcd(lab: Lab, pods: list[JSON], timeout: float) -> Verdict:
    ips = [p.ip for p in lab.pods]
    for patched, pod in zip(pods, lab.pods, strict=True):
        lab.start(pod, "app", etcd_argv(patched, pod, ips))
    started = time.monotonic()
    probe = [sys.executable, "-c", HEALTH_PROBE]

    def health() -> list[str]:
        answers = []
        for pod in lab.pods:
            try:
                answers.append(lab.exec(pod, probe).strip())
            except Exception as exc:
                answers.append(type(exc).__name__)
        return answers

    formed = wait_until(lambda: all('"health":"true"' in h for h in health()), timeout, interval=0.5)
    seconds = time.monotonic() - started
    alive = all(p.poll() is None for p in lab.processes)
    return Verdict(formed, seconds, f"health {health()}, all processes alive: {alive}")


# --- Redis --------------------------------------------------------------------------------------


def redis_conf(patched: JSON, pod: Pod, ips: list[str], loopback: bool) -> str:
    """Bitnami's image writes no ``bind`` (libredis.sh: all interfaces) and, for a replica, ``replicaof
    $REDIS_MASTER_HOST $REDIS_MASTER_PORT_NUMBER``; pod 0 plays the primary (the chart's master
    StatefulSet). ``loopback``: Debian's redis.conf default ``bind 127.0.0.1 -::1``, the Istio 1.10
    blog's reverse case. The lab runs without the chart's password (its Secret is not in the pod)."""
    env = _env(_container(patched, "redis"))
    lines = [f"port {env.get('REDIS_PORT', '6379')}", "protected-mode no", f"dir {pod.workdir}", "save \"\"",
             "appendonly no"]  # fmt: skip
    if loopback:
        lines.append("bind 127.0.0.1 -::1")
    if pod.index > 0:
        lines.append(f"replicaof {ips[0]} {env.get('REDIS_MASTER_PORT_NUMBER', '6379')}")
    return "\n".join(lines) + "\n"


def run_redis(lab: Lab, pods: list[JSON], timeout: float, loopback: bool = False) -> Verdict:
    ips = [p.ip for p in lab.pods]
    for patched, pod in zip(pods, lab.pods, strict=True):
        (pod.workdir / "redis.conf").write_text(redis_conf(patched, pod, ips, loopback))
        lab.start(pod, "app", ["redis-server", str(pod.workdir / "redis.conf")])
    started = time.monotonic()

    def state() -> tuple[list[str], list[str]]:
        links, pings = [], []
        for pod in lab.pods[1:]:
            info = _quiet(lambda p=pod: lab.exec(p, ["redis-cli", "-h", "127.0.0.1", "info", "replication"]))
            link = re.search(r"master_link_status:(\w+)", info)
            links.append(link.group(1) if link else "?")
            pings.append(_quiet(lambda p=pod: lab.exec(p, ["redis-cli", "-h", ips[0], "ping"])).strip() or "no answer")
        return links, pings

    formed = wait_until(lambda: state() == (["up", "up"], ["PONG", "PONG"]), timeout, interval=0.5)
    seconds = time.monotonic() - started
    links, pings = state()
    alive = all(p.poll() is None for p in lab.processes)
    detail = f"replica links {links}, client PING of the primary {pings}, all processes alive: {alive}"
    return Verdict(formed, seconds, detail)


def _quiet(call: Callable[[], str]) -> str:
    try:
        return call()
    except Exception:
        return ""


def redis_bitnami() -> JSON:
    from tests.golden.build_reviews import redis_bitnami_replicas

    return redis_bitnami_replicas({})


@dataclass(frozen=True)
class App:
    name: str
    build: Callable[[], JSON]
    run: Callable[[Lab, list[JSON], float], Verdict]


APPS = {
    "zookeeper-bitnami": App("zookeeper-bitnami", zookeeper_bitnami,
                             lambda lab, pods, t: run_zookeeper(lab, pods, bitnami_zookeeper, t)),
    "zookeeper-tutorial": App("zookeeper-tutorial", zookeeper_k8s_tutorial,
                              lambda lab, pods, t: run_zookeeper(lab, pods, tutorial_zookeeper, t)),
    "etcd-pod-ip-flags": App("etcd-pod-ip-flags", etcd_upstream, run_etcd),
    "redis-bitnami": App("redis-bitnami", redis_bitnami, run_redis),
    "redis-loopback": App("redis-loopback", redis_bitnami,
                          lambda lab, pods, t: run_redis(lab, pods, t, loopback=True)),
}  # fmt: skip


def forwarder_refusals(lab: Lab) -> list[str]:
    return [line for pod in lab.pods for line in lab.log(pod, "forwarder").splitlines() if line.startswith("refused")]


def workdir_for(base: Path, cell: str) -> Path:
    path = base / cell
    path.mkdir(parents=True, exist_ok=True)
    return path
