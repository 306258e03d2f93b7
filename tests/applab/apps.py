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
* **The official ZooKeeper image** (docker-library ``zookeeper`` ``docker-entrypoint.sh``, 3.7): each
  word of ``ZOO_SERVERS`` is a zoo.cfg line, ``ZOO_4LW_COMMANDS_WHITELIST`` → ``4lw.commands.whitelist``,
  each word of ``ZOO_CFG_EXTRA`` is a zoo.cfg line (where the fix puts ``quorumListenOnAllIPs=true``);
  myid is ``ZOO_MY_ID``, which the chart's command computes from the host name's ordinal. Debian's
  ZooKeeper has no Prometheus metrics provider, so ``metricsProvider.*`` lines are left out.
* **etcd, flags on the pod IP** (etcd reads its flags itself): the container's args with Kubernetes'
  ``$(VAR)`` expansion of ``POD_NAME`` / ``POD_IP``; peer and client URLs as the patched args say.
* **Bitnami etcd** (bitnami/containers etcd ``libetcd.sh`` exports the chart's ``ETCD_*`` variables and
  execs etcd, which reads every flag from its ``ETCD_`` variable): the env with ``$(VAR)`` expansion,
  less the scripts' own ``ETCD_ON_K8S`` / ``ETCD_CLUSTER_DOMAIN`` / ``ETCD_ROOT_PASSWORD`` (the lab
  runs without auth: the chart's Secret is not in the pod).

Capture — which inbound ports the emulated data plane leaves alone — comes from the patched pod
the way the mesh would read it, with keys written here from each mesh's own documentation (not
from stsmesh's tables, so a wrong key there fails here): before injection, the annotation the
mesh's injector reads (:class:`LabMesh`); once a mesh's init container is in the pod (the cells
that emulate injection, then the reinvocation), only that container's arguments count, as they
are what programs the pod's iptables (``istio-init -d`` with ``-b "*"``, ``linkerd-init
--inbound-ports-to-ignore``, ``kumactl install transparent-proxy --exclude-inbound-ports``, Consul's
``CONSUL_REDIRECT_TRAFFIC_CONFIG`` JSON ``ExcludeInboundPorts``). The emulated injectors
(:mod:`tests.golden.build_reviews`) ignore the pod's annotations, as an injector that ran before
stsmesh would: only stsmesh's reinvocation pass can put the exclusions in.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch

from tests.applab.lab import Lab, Pod, wait_until
from tests.golden.build_reviews import (
    controller_pod,
    etcd_bitnami,
    etcd_upstream,
    inject_consul,
    inject_istio_124,
    inject_istio_195,
    inject_kuma_171,
    inject_linkerd_2102,
    zookeeper_bitnami,
    zookeeper_k8s_tutorial,
    zookeeper_official,
)
from webhook.core.admission import review
from webhook.core.catalogue import Catalogue
from webhook.core.inputs import pod_review
from webhook.core.mesh import MeshHint
from webhook.core.review import decode_patch
from webhook.core.settings import Settings

JSON = dict[str, Any]


@dataclass(frozen=True)
class LabMesh:
    """A data plane the lab emulates: what stsmesh is told, where the proxy delivers inbound traffic
    (../shared/reference/meshes-2026.md), how it injects, and the annotation its injector reads for
    inbound exclusions."""

    mesh: str
    version: str | None
    delivery: str
    title: str
    inject: Callable[[JSON], JSON] | None = None
    exclude_inbound_annotation: str | None = None


ISTIO_EXCLUDE_INBOUND = "traffic.sidecar.istio.io/excludeInboundPorts"
LAB_MESHES = {
    mesh.title: mesh
    for mesh in (
        LabMesh("istio", "1.9", "localhost", "istio-1.9", inject_istio_195, ISTIO_EXCLUDE_INBOUND),
        LabMesh("istio", "1.22", "pod-ip", "istio-1.22", inject_istio_124, ISTIO_EXCLUDE_INBOUND),
        LabMesh("linkerd", "2.10", "localhost", "linkerd-2.10", inject_linkerd_2102,
                "config.linkerd.io/skip-inbound-ports"),
        LabMesh("consul", None, "localhost", "consul", inject_consul,
                "consul.hashicorp.com/transparent-proxy-exclude-inbound-ports"),
        LabMesh("kuma", "1.7", "localhost", "kuma-1.7", inject_kuma_171, "traffic.kuma.io/exclude-inbound-ports"),
        LabMesh("none", None, "none", "none"),
    )
}  # fmt: skip
DEFAULT_MESH = {"localhost": "istio-1.9", "pod-ip": "istio-1.22", "none": "none"}
"""The mesh a cell runs when it names only a delivery."""

ZOOKEEPER_CLASSPATH = ":".join(
    f"/usr/share/java/{jar}" for jar in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar")
)


def stsmesh_pods(
    build: Callable[[], JSON], mesh: LabMesh, with_stsmesh: bool, injected: bool = False,
    catalogue: Catalogue | None = None,
) -> list[JSON]:  # fmt: skip
    """The three pods of the StatefulSet, each as the apiserver stores it: stsmesh's answer to the
    first call, then (``injected``) the mesh's injection and stsmesh's answer to the reinvocation."""
    settings = Settings(default_hint=MeshHint.parse(mesh.mesh, mesh.version))
    if catalogue is not None:
        settings = settings.with_overrides(catalogue=catalogue)

    def answered(pod: JSON) -> JSON:
        ops = decode_patch(review(pod_review(copy.deepcopy(pod)), settings).response)
        return jsonpatch.apply_patch(pod, ops) if ops else pod

    pods = []
    for ordinal in range(3):
        pod = controller_pod(build(), ordinal)
        if with_stsmesh:
            pod = answered(pod)
        if injected:
            assert mesh.inject is not None, f"the lab has no injector for {mesh.title}"
            pod = mesh.inject(pod)
            if with_stsmesh:
                pod = answered(pod)
        pods.append(pod)
    return pods


def excluded_ports(pod: JSON, mesh: LabMesh) -> list[int]:
    """The inbound ports the data plane leaves alone: from the injected init container once there is
    one, else from the annotation the mesh's injector reads."""
    from_init = init_container_exclusions(pod)
    if from_init is not None:
        return from_init
    if mesh.exclude_inbound_annotation is None:
        return []
    return port_list((pod["metadata"].get("annotations") or {}).get(mesh.exclude_inbound_annotation, ""))


def init_container_exclusions(pod: JSON) -> list[int] | None:
    for init in pod["spec"].get("initContainers") or []:
        argv = [*(init.get("command") or []), *(init.get("args") or [])]
        if init["name"] == "istio-init":
            assert flag_value(argv, "-b") == "*", "the lab models capture of every inbound port but exclusions"
            return port_list(flag_value(argv, "-d"))
        if init["name"] == "linkerd-init":
            return port_list(flag_value(argv, "--inbound-ports-to-ignore"))
        if init["name"] == "kuma-init":
            return port_list(flag_value(argv, "--exclude-inbound-ports"))
        if init["name"] == "consul-connect-inject-init":
            config = json.loads(_env(init)["CONSUL_REDIRECT_TRAFFIC_CONFIG"])
            return port_list(",".join(config.get("ExcludeInboundPorts") or []))
    return None


def flag_value(argv: list[str], flag: str) -> str:
    """The value of ``flag VALUE`` or ``flag=VALUE`` (the last one wins, as for Go's flag package)."""
    value = ""
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith(f"{flag}="):
            value = arg.partition("=")[2]
    return value


def port_list(value: str) -> list[int]:
    ports: list[int] = []
    for item in value.replace(" ", "").split(","):
        low, _, high = item.partition("-")
        if low.isdigit():
            ports.extend(range(int(low), int(high or low) + 1))
    return ports


def lab_addresses(text: str, ips: list[str], own_ip: str) -> str:
    """No DNS in the lab: a StatefulSet pod's stable name (``name-N.service.ns.svc.cluster.local``)
    becomes pod N's address, and a Service name the pod's own (a stand-in for the Service VIP)."""
    text = re.sub(r"[a-z0-9-]+-(\d+)\.[a-z0-9.-]*?svc\.cluster\.local", lambda m: ips[int(m.group(1))], text)
    return re.sub(r"[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local", own_ip, text)


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


def zoo_cfg(pod: Pod, settings: list[str]) -> str:
    """zoo.cfg: the lab's own ticks, data directory and small preallocation, then what the image's
    entrypoint wrote from the patched pod."""
    lab = [
        "tickTime=1000", "initLimit=5", "syncLimit=2", f"dataDir={pod.workdir / 'data'}", "preAllocSize=64",
        "snapCount=1000", "admin.enableServer=false",
    ]  # fmt: skip
    return "\n".join([*lab, *settings]) + "\n"


def bitnami_zookeeper(patched: JSON, pod: Pod, ips: list[str]) -> tuple[str, int]:
    env = _env(_container(patched, "zookeeper"))
    listen_all = env.get("ZOO_LISTEN_ALLIPS_ENABLED", "no").strip().lower() in ("yes", "true", "1")
    servers = []
    for ip, entry in zip(ips, env["ZOO_SERVERS"].split(), strict=True):
        _, quorum, election, _, server_id = entry.split(":")
        servers.append(f"server.{server_id}={ip}:{quorum}:{election}")
    whitelist = env.get("ZOO_4LW_COMMANDS_WHITELIST", "srvr").replace(" ", "")
    settings = ["clientPort=2181", f"4lw.commands.whitelist={whitelist}",
                f"quorumListenOnAllIPs={'true' if listen_all else 'false'}", *servers]  # fmt: skip
    return zoo_cfg(pod, settings), pod.index + 1


def official_zookeeper(patched: JSON, pod: Pod, ips: list[str]) -> tuple[str, int]:
    container = _container(patched, "zookeeper")
    env = _env(container)
    settings = [lab_addresses(server, ips, pod.ip) for server in env.get("ZOO_SERVERS", "").split()]
    if env.get("ZOO_4LW_COMMANDS_WHITELIST"):
        settings.append(f"4lw.commands.whitelist={env['ZOO_4LW_COMMANDS_WHITELIST']}")
    settings += [entry for entry in env.get("ZOO_CFG_EXTRA", "").split() if not entry.startswith("metricsProvider.")]
    my_id = re.search(r'ZOO_MY_ID="\$\(\( \$\{HOSTNAME##\*-\} \+ (\d+) \)\)"', " ".join(container["command"]))
    assert my_id is not None, "the chart's command no longer computes ZOO_MY_ID from the ordinal"
    ordinal = int(patched["metadata"]["name"].rsplit("-", 1)[1])
    return zoo_cfg(pod, settings), ordinal + int(my_id.group(1))


def tutorial_zookeeper(patched: JSON, pod: Pod, ips: list[str]) -> tuple[str, int]:
    command = " ".join(_container(patched, "kubernetes-zookeeper")["command"])
    flags = dict(re.findall(r"--(\w+)=(\S+)", command))
    servers = [f"server.{i + 1}={ip}:{flags['server_port']}:{flags['election_port']}" for i, ip in enumerate(ips)]
    return zoo_cfg(pod, ["clientPort=2181", "4lw.commands.whitelist=srvr", "quorumListenOnAllIPs=false", *servers]), (
        pod.index + 1
    )


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


def expand(text: str, values: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in args and env values."""
    return re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), text)


def etcd_argv(patched: JSON, pod: Pod, ips: list[str]) -> tuple[list[str], dict[str, str]]:
    container = _container(patched, "etcd")
    values = {"POD_NAME": patched["metadata"]["name"], "POD_IP": pod.ip}
    argv = ["etcd", *(lab_addresses(expand(arg, values), ips, pod.ip) for arg in container["args"])]
    argv = [a if not a.startswith("--data-dir=") else f"--data-dir={pod.workdir / 'data'}" for a in argv]
    return argv, {}


BITNAMI_SCRIPT_ONLY = ("ETCD_ON_K8S", "ETCD_CLUSTER_DOMAIN", "ETCD_ROOT_PASSWORD")


def bitnami_etcd_env(patched: JSON, pod: Pod, ips: list[str]) -> tuple[list[str], dict[str, str]]:
    values = {"MY_POD_NAME": patched["metadata"]["name"], "MY_POD_IP": pod.ip}
    env = {
        name: lab_addresses(expand(value, values), ips, pod.ip)
        for name, value in _env(_container(patched, "etcd")).items()
        if name.startswith("ETCD_") and name not in BITNAMI_SCRIPT_ONLY
    }
    env["ETCD_DATA_DIR"] = str(pod.workdir / "data")
    return ["etcd"], env


HEALTH_PROBE = """
import urllib.error, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:2379/health", timeout=2).read().decode())
except urllib.error.HTTPError as exc:  # 503 {"health":"false"}: answering, but no leader
    print(exc.read().decode())
except OSError as exc:
    print(f"no answer: {exc}")
"""


def run_etcd(lab: Lab, pods: list[JSON], configure: Callable[[JSON, Pod, list[str]], tuple[list[str], dict[str, str]]],
             timeout: float) -> Verdict:  # fmt: skip
    ips = [p.ip for p in lab.pods]
    for patched, pod in zip(pods, lab.pods, strict=True):
        argv, env = configure(patched, pod, ips)
        lab.start(pod, "app", argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env})
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
    "zookeeper-official": App("zookeeper-official", zookeeper_official,
                              lambda lab, pods, t: run_zookeeper(lab, pods, official_zookeeper, t)),
    "zookeeper-tutorial": App("zookeeper-tutorial", zookeeper_k8s_tutorial,
                              lambda lab, pods, t: run_zookeeper(lab, pods, tutorial_zookeeper, t)),
    "etcd-pod-ip-flags": App("etcd-pod-ip-flags", etcd_upstream,
                             lambda lab, pods, t: run_etcd(lab, pods, etcd_argv, t)),
    "etcd-bitnami": App("etcd-bitnami", etcd_bitnami, lambda lab, pods, t: run_etcd(lab, pods, bitnami_etcd_env, t)),
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
