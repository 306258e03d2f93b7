"""How the golden inputs were made: ``case.yaml`` and ``review.json`` of every case folder.

Each case below is a StatefulSet written by hand for this project from the public facts of the
app it models (image, env names, ports, command) — never a copy of the chart or tutorial file —
turned into the pod its controller creates (``webhook.core.inputs.pod_from_statefulset``), given the
fields the apiserver defaults before admission webhooks run, optionally "injected" the way Istio
1.9.5 or Linkerd stable-2.10.2 would have done, and wrapped in the CREATE AdmissionReview the
apiserver sends (``webhook.core.inputs.pod_review``).

The stored ``review.json`` is the input of record; this script is only needed to add a case or to
rebuild inputs on purpose::

    .venv/bin/python tests/golden/build_reviews.py NEW-CASE          # writes missing inputs only
    .venv/bin/python tests/golden/build_reviews.py --force CASE...    # rewrites existing inputs
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden                      # then the expected files

and then review the new expected files by hand.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.core.inputs import pod_from_statefulset, pod_review

JSON = dict[str, Any]
CASES_DIR = Path(__file__).resolve().parent / "cases"

# --- building blocks ------------------------------------------------------------------------------


def field_env(name: str, field_path: str) -> JSON:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}


def secret_env(name: str, secret: str, key: str) -> JSON:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def env(*items: tuple[str, str] | JSON) -> list[JSON]:
    return [item if isinstance(item, dict) else {"name": item[0], "value": item[1]} for item in items]


def ports(*items: tuple[str, int]) -> list[JSON]:
    return [{"name": name, "containerPort": number} for name, number in items]


def statefulset(
    name: str,
    *,
    namespace: str,
    labels: JSON,
    containers: list[JSON],
    init_containers: list[JSON] | None = None,
    annotations: JSON | None = None,
    replicas: int = 3,
    service: str | None = None,
    claims: tuple[str, ...] = ("data",),
    spec_extra: JSON | None = None,
) -> JSON:
    pod_spec: JSON = {"containers": containers}
    if init_containers:
        pod_spec["initContainers"] = init_containers
    pod_spec.update(spec_extra or {})
    template_meta: JSON = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": service or f"{name}-headless",
            "selector": {"matchLabels": labels},
            "template": {"metadata": template_meta, "spec": pod_spec},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": claim},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}}},
                }
                for claim in claims
            ],
        },
    }


def apiserver_defaults(pod: JSON) -> JSON:
    """The defaults the apiserver fills in (and the ServiceAccount admission plugin's token volume)
    before mutating webhooks see the pod; a representative subset, as of Kubernetes 1.28."""
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    token = f"kube-api-access-{pod['metadata']['name'][-1]}q7zx"
    spec.setdefault("volumes", []).append(
        {
            "name": token,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for list_name in ("initContainers", "containers"):
        for container in spec.get(list_name, []):
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("resources", {})
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")
            container.setdefault("volumeMounts", []).append(
                {"name": token, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
            )
    return pod


def controller_pod(sts: JSON, ordinal: int = 0) -> JSON:
    return apiserver_defaults(pod_from_statefulset(sts, ordinal))


# --- mesh injection, as the injectors of the modelled versions shape a pod --------------------------

ISTIO_195 = "docker.io/istio/proxyv2:1.9.5"
ISTIO_INIT_ARGS = [
    "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
    "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
]  # fmt: skip
LINKERD_2102 = "stable-2.10.2"
LINKERD_INIT_ARGS = [
    "--incoming-proxy-port", "4143", "--outgoing-proxy-port", "4140", "--proxy-uid", "2102",
    "--inbound-ports-to-ignore", "4190,4191", "--outbound-ports-to-ignore", "443",
]  # fmt: skip


def inject_istio_195(pod: JSON, *, cni: bool = False) -> JSON:
    """Istio 1.9.5 sidecar injection (default profile; ``cni``: with the Istio CNI plugin)."""
    meta, spec = pod["metadata"], pod["spec"]
    init_name = "istio-validation" if cni else "istio-init"
    init_security = (
        {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "runAsUser": 1337,
        }
        if cni
        else {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": False,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "runAsUser": 0,
        }
    )
    spec.setdefault("initContainers", []).append(
        {
            "name": init_name,
            "image": ISTIO_195,
            "args": ISTIO_INIT_ARGS + (["--run-validation", "--skip-rule-apply"] if cni else []),
            "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "10m", "memory": "40Mi"}},
            "securityContext": init_security,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    )
    app_containers = ",".join(c["name"] for c in spec["containers"])
    spec["containers"].append(
        {
            "name": "istio-proxy",
            "image": ISTIO_195,
            "args": [
                "proxy",
                "sidecar",
                "--domain",
                "$(POD_NAMESPACE).svc.cluster.local",
                "--serviceCluster",
                f"{meta['labels'].get('app.kubernetes.io/name', 'app')}.$(POD_NAMESPACE)",
                "--proxyLogLevel=warning",
                "--proxyComponentLogLevel=misc:error",
                "--log_output_level=default:info",
                "--concurrency",
                "2",
            ],
            "env": [
                {"name": "JWT_POLICY", "value": "third-party-jwt"},
                {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
                {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {
                    "name": "POD_NAMESPACE",
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
                },
                {"name": "INSTANCE_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                {"name": "ISTIO_META_APP_CONTAINERS", "value": app_containers},
                {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
                {"name": "ISTIO_META_WORKLOAD_NAME", "value": pod["metadata"]["ownerReferences"][0]["name"]},
            ],
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
            "readinessProbe": {
                "failureThreshold": 30,
                "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                "initialDelaySeconds": 1,
                "periodSeconds": 2,
                "successThreshold": 1,
                "timeoutSeconds": 3,
            },
            "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsGroup": 1337,
                "runAsNonRoot": True,
                "runAsUser": 1337,
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": [
                {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
                {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
                {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
                {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
            ],
        }
    )
    spec.setdefault("volumes", []).extend(
        [
            {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
            {"name": "istio-data", "emptyDir": {}},
            {
                "name": "istio-podinfo",
                "downwardAPI": {
                    "defaultMode": 420,
                    "items": [
                        {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "labels"},
                        {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}, "path": "annotations"},
                    ],
                },
            },
            {
                "name": "istio-token",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": "istio-ca",
                                "expirationSeconds": 43200,
                                "path": "istio-token",
                            }
                        }
                    ],
                },
            },
            {"name": "istiod-ca-cert", "configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}},
        ]
    )
    status = {
        "version": "8e2f1d3b7c6a5e4f9d0c1b2a3e4f5d6c7b8a9e0f1d2c3b4a5e6f7d8c9b0a1e2f",
        "initContainers": [init_name],
        "containers": ["istio-proxy"],
        "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"],
        "imagePullSecrets": None,
    }
    annotations = meta.setdefault("annotations", {})
    annotations["sidecar.istio.io/status"] = json.dumps(status, separators=(",", ":"))
    annotations["prometheus.io/path"] = "/stats/prometheus"
    annotations["prometheus.io/port"] = "15020"
    annotations["prometheus.io/scrape"] = "true"
    if cni:
        annotations["sidecar.istio.io/interceptionMode"] = "REDIRECT"
        annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"] = "*"
        annotations["traffic.sidecar.istio.io/includeInboundPorts"] = "*"
        annotations["traffic.sidecar.istio.io/excludeInboundPorts"] = "15020"
    labels = meta["labels"]
    labels["security.istio.io/tlsMode"] = "istio"
    labels["service.istio.io/canonical-name"] = labels.get("app.kubernetes.io/name") or labels.get("app", "app")
    labels["service.istio.io/canonical-revision"] = labels.get("app.kubernetes.io/version", "latest")
    return pod


def inject_linkerd_2102(pod: JSON) -> JSON:
    """Linkerd stable-2.10.2 proxy injection (linkerd-init, no CNI)."""
    meta, spec = pod["metadata"], pod["spec"]
    inbound_ports = ",".join(str(p["containerPort"]) for c in spec["containers"] for p in c.get("ports", []))
    spec.setdefault("initContainers", []).append(
        {
            "name": "linkerd-init",
            "image": "cr.l5d.io/linkerd/proxy-init:v1.3.11",
            "args": list(LINKERD_INIT_ARGS),
            "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"cpu": "100m", "memory": "50Mi"}, "requests": {"cpu": "10m", "memory": "10Mi"}},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": False,
                "runAsUser": 0,
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [{"mountPath": "/run", "name": "linkerd-proxy-init-xtables-lock"}],
        }
    )
    spec["containers"].append(
        {
            "name": "linkerd-proxy",
            "image": f"cr.l5d.io/linkerd/proxy:{LINKERD_2102}",
            "env": [
                {"name": "LINKERD2_PROXY_LOG", "value": "warn,linkerd=info"},
                {
                    "name": "LINKERD2_PROXY_DESTINATION_SVC_ADDR",
                    "value": "linkerd-dst-headless.linkerd.svc.cluster.local.:8086",
                },
                {"name": "LINKERD2_PROXY_CONTROL_LISTEN_ADDR", "value": "0.0.0.0:4190"},
                {"name": "LINKERD2_PROXY_ADMIN_LISTEN_ADDR", "value": "0.0.0.0:4191"},
                {"name": "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR", "value": "127.0.0.1:4140"},
                {"name": "LINKERD2_PROXY_INBOUND_LISTEN_ADDR", "value": "0.0.0.0:4143"},
                {"name": "LINKERD2_PROXY_INBOUND_PORTS", "value": inbound_ports},
            ],
            "imagePullPolicy": "IfNotPresent",
            "livenessProbe": {"httpGet": {"path": "/live", "port": 4191}, "initialDelaySeconds": 10},
            "ports": [
                {"containerPort": 4143, "name": "linkerd-proxy", "protocol": "TCP"},
                {"containerPort": 4191, "name": "linkerd-admin", "protocol": "TCP"},
            ],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 4191}, "initialDelaySeconds": 2},
            "resources": {},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsUser": 2102},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [
                {"mountPath": "/var/run/linkerd/identity/end-entity", "name": "linkerd-identity-end-entity"}
            ],
        }
    )
    spec.setdefault("volumes", []).extend(
        [
            {"name": "linkerd-proxy-init-xtables-lock", "emptyDir": {}},
            {"name": "linkerd-identity-end-entity", "emptyDir": {"medium": "Memory"}},
        ]
    )
    annotations = meta.setdefault("annotations", {})
    annotations["linkerd.io/created-by"] = f"linkerd/proxy-injector {LINKERD_2102}"
    annotations["linkerd.io/identity-mode"] = "default"
    annotations["linkerd.io/proxy-version"] = LINKERD_2102
    meta["labels"]["linkerd.io/control-plane-ns"] = "linkerd"
    meta["labels"]["linkerd.io/proxy-statefulset"] = meta["ownerReferences"][0]["name"]
    meta["labels"]["linkerd.io/workload-ns"] = meta["namespace"]
    return pod


# --- today's data planes (2022-2026), modelled on their injectors' templates -----------------------
#
# Each emulator writes only what stsmesh reads or patches, the way the named injector renders it
# (sources in the docstrings); the rest of a real injection (volumes, probes, resources) is left out.

ISTIO_124 = "docker.io/istio/proxyv2:1.24.2"
ISTIO_124_INIT_ARGS = [
    "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
    "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info",
]  # fmt: skip


def inject_istio_124(pod: JSON, *, localhost: bool = False, native: bool = False, image: str = ISTIO_124) -> JSON:
    """Istio 1.24.2 sidecar injection, from istio/istio manifests/charts/istio-control/istio-discovery/
    files/injection-template.yaml: istio-init runs istio-iptables with each flag and value a list item
    (``-d 15090,15021,15020``: the status port added by template.go excludeInboundPort);
    ``localhost``: meshConfig.inboundTrafficPolicy.mode LOCALHOST, for which the template sets env
    REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION="true" on istio-proxy (``if eq .InboundTrafficPolicyMode
    "localhost"``); ``native``: a native sidecar (annotation sidecar.istio.io/nativeSidecar, the
    default from 1.27): istio-proxy goes to initContainers with restartPolicy Always, after istio-init
    (pkg/kube/inject/webhook.go reorderPod: "istio-init => proxy => rest")."""
    meta, spec = pod["metadata"], pod["spec"]
    init = {"name": "istio-init", "image": image, "args": list(ISTIO_124_INIT_ARGS)}
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(c["name"] for c in spec["containers"])},
    ]
    if localhost:
        env.append({"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": "true"})
    proxy: JSON = {"name": "istio-proxy", "image": image, "args": ["proxy", "sidecar"], "env": env}
    user_init = spec.get("initContainers", [])
    if native:
        proxy["restartPolicy"] = "Always"
        spec["initContainers"] = [init, proxy, *user_init]
    else:
        spec["initContainers"] = [*user_init, init]
        spec["containers"].append(proxy)
    status = {"initContainers": ["istio-init"], "containers": [] if native else ["istio-proxy"], "revision": "default"}
    meta.setdefault("annotations", {})["sidecar.istio.io/status"] = json.dumps(status, separators=(",", ":"))
    meta["labels"]["security.istio.io/tlsMode"] = "istio"
    return pod


CONSUL_DATAPLANE = "hashicorp/consul-dataplane:1.6.1"


def inject_consul(pod: JSON) -> JSON:
    """consul-k8s connect-inject with transparent proxy and no CNI, from hashicorp/consul-k8s
    control-plane/connect-inject/webhook: container_init.go names the init container
    consul-connect-inject-init and passes the iptables config as JSON in env
    CONSUL_REDIRECT_TRAFFIC_CONFIG (redirect_traffic.go: consul sdk iptables.Config, no json tags, so
    the keys are the Go field names; the exposed probe and metrics ports are already excluded);
    mesh_webhook.go adds consul-dataplane and the connect-inject-status: injected annotation; the
    endpoints controller registers LocalServiceAddress 127.0.0.1 (delivery to 127.0.0.1)."""
    meta, spec = pod["metadata"], pod["spec"]
    config = {
        "ConsulDNSIP": "",
        "ConsulDNSPort": 0,
        "ProxyUserID": "5995",
        "ProxyInboundPort": 20000,
        "ProxyOutboundPort": 15001,
        "ExcludeInboundPorts": ["20200"],
        "ExcludeOutboundPorts": None,
        "ExcludeOutboundCIDRs": None,
        "ExcludeUIDs": ["5996"],
        "NetNS": "",
        "IptablesProvider": None,
    }
    spec.setdefault("initContainers", []).append(
        {
            "name": "consul-connect-inject-init",
            "image": "hashicorp/consul-k8s-control-plane:1.6.1",
            "command": ["/bin/sh", "-ec", "consul-k8s-control-plane connect-init -pod-name=${POD_NAME}"],
            "env": [{"name": "CONSUL_REDIRECT_TRAFFIC_CONFIG", "value": json.dumps(config, separators=(",", ":"))}],
        }
    )
    spec["containers"].append({"name": "consul-dataplane", "image": CONSUL_DATAPLANE, "args": ["-addresses", "consul"]})
    annotations = meta.setdefault("annotations", {})
    annotations["consul.hashicorp.com/connect-inject-status"] = "injected"
    annotations["consul.hashicorp.com/transparent-proxy-status"] = "enabled"
    annotations["consul.hashicorp.com/consul-k8s-version"] = "1.6.1"
    return pod


KUMA_171 = "docker.io/kumahq/kuma-dp:1.7.1"


def inject_kuma_171(pod: JSON) -> JSON:
    """Kuma 1.7.1 sidecar injection without CNI, from kumahq/kuma pkg/plugins/runtime/k8s/webhooks/
    injector and pkg/transparentproxy/kubernetes: kuma-init runs ``kumactl install transparent-proxy``
    with every flag and value a list item, the exclusion lists always written (empty when none);
    kuma-sidecar is the first container; annotation kuma.io/sidecar-injected "true". Kuma < 1.8
    delivers inbound traffic to 127.0.0.1 (kumahq/kuma UPGRADE.md, "Upgrade to 1.8.x")."""
    meta, spec = pod["metadata"], pod["spec"]
    spec.setdefault("initContainers", []).append(
        {
            "name": "kuma-init",
            "image": "docker.io/kumahq/kuma-init:1.7.1",
            "command": ["/usr/bin/kumactl", "install", "transparent-proxy"],
            "args": [
                "--redirect-outbound-port", "15001", "--redirect-inbound=true", "--redirect-inbound-port", "15006",
                "--kuma-dp-uid", "5678", "--exclude-inbound-ports", "", "--exclude-outbound-ports", "",
                "--verbose", "--skip-resolv-conf",
            ],
        }
    )  # fmt: skip
    spec["containers"].insert(0, {"name": "kuma-sidecar", "image": KUMA_171, "args": ["run", "--log-level=info"]})
    meta.setdefault("annotations", {})["kuma.io/sidecar-injected"] = "true"
    meta["labels"]["kuma.io/mesh"] = "default"
    return pod


LINKERD_EDGE = "edge-25.4.4"


def inject_linkerd_native(pod: JSON) -> JSON:
    """Linkerd (edge-25.4.4) with native sidecars (config.beta.linkerd.io/proxy-enable-native-sidecar,
    the default once GA): charts/partials/templates/_proxy.tpl gives linkerd-proxy restartPolicy Always
    and charts/patch/templates/patch.json puts it in initContainers right after linkerd-init; with
    proxy-await the proxy gets a startupProbe instead of the postStart hook."""
    meta, spec = pod["metadata"], pod["spec"]
    init = {"name": "linkerd-init", "image": "cr.l5d.io/linkerd/proxy-init:v2.4.2", "args": list(LINKERD_INIT_ARGS)}
    proxy = {
        "name": "linkerd-proxy",
        "image": f"cr.l5d.io/linkerd/proxy:{LINKERD_EDGE}",
        "restartPolicy": "Always",
        "startupProbe": {"httpGet": {"path": "/ready", "port": 4191}},
    }
    spec["initContainers"] = [init, proxy, *spec.get("initContainers", [])]
    annotations = meta.setdefault("annotations", {})
    annotations["linkerd.io/proxy-version"] = LINKERD_EDGE
    annotations["linkerd.io/created-by"] = f"linkerd/proxy-injector {LINKERD_EDGE}"
    return pod


KUMA_292 = "docker.io/kumahq/kuma-dp:2.9.2"


def inject_kuma_292(pod: JSON) -> JSON:
    """Kuma 2.9.2 without CNI: kuma-init's arguments as separate items (``--kuma-dp-user``,
    ``--ip-family-mode``, the exclusion lists always written), kuma-sidecar first. Kuma >= 1.8
    delivers inbound traffic to the pod IP (UPGRADE.md, "Upgrade to 1.8.x")."""
    meta, spec = pod["metadata"], pod["spec"]
    spec.setdefault("initContainers", []).append(
        {
            "name": "kuma-init",
            "image": "docker.io/kumahq/kuma-init:2.9.2",
            "command": ["/usr/bin/kumactl", "install", "transparent-proxy"],
            "args": [
                "--redirect-outbound-port", "15001", "--redirect-inbound=true", "--redirect-inbound-port", "15006",
                "--kuma-dp-user", "5678", "--exclude-inbound-ports", "", "--exclude-outbound-ports", "",
                "--ip-family-mode", "dualstack", "--verbose",
            ],
        }
    )  # fmt: skip
    spec["containers"].insert(0, {"name": "kuma-sidecar", "image": KUMA_292, "args": ["run", "--log-level=info"]})
    meta.setdefault("annotations", {})["kuma.io/sidecar-injected"] = "true"
    return pod


def with_pod_labels(pod: JSON, **labels: str) -> JSON:
    pod["metadata"]["labels"].update(labels)
    return pod


def with_pod_annotations(pod: JSON, **annotations: str) -> JSON:
    pod["metadata"].setdefault("annotations", {}).update(annotations)
    return pod


# --- the modelled apps ------------------------------------------------------------------------------


def bitnami_labels(chart: str, version: str, component: str | None = None) -> JSON:
    labels = {
        "app.kubernetes.io/name": chart,
        "helm.sh/chart": f"{chart}-{version}",
        "app.kubernetes.io/instance": "my-release",
        "app.kubernetes.io/managed-by": "Helm",
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def zookeeper_bitnami(listen_all_ips: str = "no", annotations: JSON | None = None) -> JSON:
    """bitnami/zookeeper 6.7.2, replicaCount=3 (ZooKeeper 3.7.0), env as the chart renders it."""
    servers = " ".join(
        f"my-release-zookeeper-{i}.my-release-zookeeper-headless.default.svc.cluster.local:2888:3888::{i + 1}"
        for i in range(3)
    )
    container = {
        "name": "zookeeper",
        "image": "docker.io/bitnami/zookeeper:3.7.0-debian-10-r27",
        "command": [
            "bash",
            "-ec",
            # our own wording of what the chart's start command does: myid from the pod ordinal
            'ORD="${HOSTNAME##*-}"\nexport ZOO_SERVER_ID="$((ORD + 1))"\nexec /entrypoint.sh /run.sh\n',
        ],
        "env": env(
            ("ZOO_DATA_LOG_DIR", ""),
            ("ZOO_PORT_NUMBER", "2181"),
            ("ZOO_TICK_TIME", "2000"),
            ("ZOO_INIT_LIMIT", "10"),
            ("ZOO_SYNC_LIMIT", "5"),
            ("ZOO_MAX_CLIENT_CNXNS", "60"),
            ("ZOO_4LW_COMMANDS_WHITELIST", "srvr, mntr, ruok"),
            ("ZOO_LISTEN_ALLIPS_ENABLED", listen_all_ips),
            ("ZOO_AUTOPURGE_INTERVAL", "0"),
            ("ZOO_AUTOPURGE_RETAIN_COUNT", "3"),
            ("ZOO_MAX_SESSION_TIMEOUT", "40000"),
            ("ZOO_SERVERS", servers),
            ("ZOO_ENABLE_AUTH", "no"),
            ("ZOO_HEAP_SIZE", "1024"),
            ("ZOO_LOG_LEVEL", "ERROR"),
            ("ALLOW_ANONYMOUS_LOGIN", "yes"),
            field_env("POD_NAME", "metadata.name"),
        ),
        "ports": ports(("client", 2181), ("follower", 2888), ("election", 3888)),
        "readinessProbe": {
            "exec": {"command": ["/bin/bash", "-c", "echo ruok | timeout 2 nc -w 2 localhost 2181 | grep imok"]},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "securityContext": {"runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/zookeeper"}],
    }
    return statefulset(
        "my-release-zookeeper",
        namespace="default",
        labels=bitnami_labels("zookeeper", "6.7.2", "zookeeper"),
        containers=[container],
        annotations=annotations,
        spec_extra={"securityContext": {"fsGroup": 1001}},
    )


def zookeeper_official() -> JSON:
    """Docker Hub official "zookeeper" image 3.7.1: ZOO_MY_ID, ZOO_SERVERS, ZOO_CFG_EXTRA."""
    servers = " ".join(f"server.{i + 1}=zk-{i}.zk-hs.data.svc.cluster.local:2888:3888;2181" for i in range(3))
    container = {
        "name": "zookeeper",
        "image": "zookeeper:3.7.1",
        "command": [
            "bash",
            "-c",
            'export ZOO_MY_ID="$(( ${HOSTNAME##*-} + 1 ))"; exec /docker-entrypoint.sh zkServer.sh start-foreground',
        ],
        "env": env(
            ("ZOO_SERVERS", servers),
            ("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok"),
            (
                "ZOO_CFG_EXTRA",
                "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider "
                "metricsProvider.httpPort=7000",
            ),
        ),
        "ports": ports(("client", 2181), ("quorum", 2888), ("election", 3888), ("metrics", 7000)),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return statefulset("zk", namespace="data", labels={"app": "zk"}, containers=[container], service="zk-hs")


def zookeeper_k8s_tutorial() -> JSON:
    """kubernetes/website "Running ZooKeeper" tutorial: registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10."""
    flags = [
        "--servers=3", "--data_dir=/var/lib/zookeeper/data", "--data_log_dir=/var/lib/zookeeper/data/log",
        "--conf_dir=/opt/zookeeper/conf", "--client_port=2181", "--election_port=3888", "--server_port=2888",
        "--tick_time=2000", "--init_limit=10", "--sync_limit=5", "--heap=512M", "--max_client_cnxns=60",
        "--snap_retain_count=3", "--purge_interval=12", "--max_session_timeout=40000",
        "--min_session_timeout=4000", "--log_level=INFO",
    ]  # fmt: skip
    container = {
        "name": "kubernetes-zookeeper",
        "image": "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10",
        "command": ["sh", "-c", "start-zookeeper " + " ".join(flags)],
        "ports": ports(("client", 2181), ("server", 2888), ("leader-election", 3888)),
        "readinessProbe": {"exec": {"command": ["sh", "-c", "zookeeper-ready 2181"]}, "initialDelaySeconds": 10},
        "livenessProbe": {"exec": {"command": ["sh", "-c", "zookeeper-ready 2181"]}, "initialDelaySeconds": 10},
        "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
        "volumeMounts": [{"name": "datadir", "mountPath": "/var/lib/zookeeper"}],
    }
    return statefulset(
        "zk",
        namespace="default",
        labels={"app": "zk"},
        containers=[container],
        service="zk-hs",
        claims=("datadir",),
        spec_extra={"securityContext": {"runAsUser": 1000, "fsGroup": 1000}},
    )


def cassandra_bitnami(annotations: JSON | None = None) -> JSON:
    """bitnami/cassandra 10.4.2 defaults (Cassandra 4.1.2), one replica."""
    container = {
        "name": "cassandra",
        "image": "docker.io/bitnami/cassandra:4.1.2-debian-11-r1",
        "command": [
            "bash",
            "-ec",
            'if [[ "$POD_NAME" == *-0 ]]; then export CASSANDRA_PASSWORD_SEEDER=yes; '
            "else export CASSANDRA_IGNORE_INITDB_SCRIPTS=1; fi\n"
            "exec /opt/bitnami/scripts/cassandra/entrypoint.sh /opt/bitnami/scripts/cassandra/run.sh\n",
        ],
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            ("CASSANDRA_CLUSTER_NAME", "cassandra"),
            ("CASSANDRA_SEEDS", "my-release-cassandra-0.my-release-cassandra-headless.default.svc.cluster.local"),
            secret_env("CASSANDRA_PASSWORD", "my-release-cassandra", "cassandra-password"),
            field_env("POD_IP", "status.podIP"),
            field_env("POD_NAME", "metadata.name"),
            ("CASSANDRA_USER", "cassandra"),
            ("CASSANDRA_NUM_TOKENS", "256"),
            ("CASSANDRA_DATACENTER", "dc1"),
            ("CASSANDRA_ENDPOINT_SNITCH", "SimpleSnitch"),
            ("CASSANDRA_RACK", "rack1"),
            ("CASSANDRA_TRANSPORT_PORT_NUMBER", "7000"),
            ("CASSANDRA_JMX_PORT_NUMBER", "7199"),
            ("CASSANDRA_CQL_PORT_NUMBER", "9042"),
        ),
        "ports": ports(("intra", 7000), ("tls", 7001), ("jmx", 7199), ("cql", 9042)),
        "readinessProbe": {"exec": {"command": ["/bin/bash", "-ec", 'nodetool status | grep -E "^UN\\s+${POD_IP}"']}},
        "lifecycle": {"preStop": {"exec": {"command": ["bash", "-ec", "nodetool drain"]}}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/cassandra"}],
    }
    return statefulset(
        "my-release-cassandra",
        namespace="default",
        labels=bitnami_labels("cassandra", "10.4.2"),
        containers=[container],
        annotations=annotations,
        replicas=1,
        spec_extra={"serviceAccountName": "my-release-cassandra", "securityContext": {"fsGroup": 1001}},
    )


def mysql_tutorial() -> JSON:
    """kubernetes/website "Run a Replicated Stateful Application" (mysql-statefulset.yaml)."""
    init_mysql = {
        "name": "init-mysql",
        "image": "mysql:5.7",
        "command": [
            "bash",
            "-c",
            "set -ex\n# server-id from the ordinal; primary config on ordinal 0, replica config otherwise\n"
            'ordinal="${HOSTNAME##*-}"\n'
            'printf "[mysqld]\\nserver-id=%d\\n" $((100 + ordinal)) > /mnt/conf.d/server-id.cnf\n'
            'if [[ "$ordinal" -eq 0 ]]; then cp /mnt/config-map/primary.cnf /mnt/conf.d/; '
            "else cp /mnt/config-map/replica.cnf /mnt/conf.d/; fi\n",
        ],
        "volumeMounts": [
            {"name": "conf", "mountPath": "/mnt/conf.d"},
            {"name": "config-map", "mountPath": "/mnt/config-map"},
        ],
    }
    clone_mysql = {
        "name": "clone-mysql",
        "image": "gcr.io/google-samples/xtrabackup:1.0",
        "command": [
            "bash",
            "-c",
            "set -ex\n[[ -d /var/lib/mysql/mysql ]] && exit 0\n"
            'ordinal="${HOSTNAME##*-}"\n[[ "$ordinal" -eq 0 ]] && exit 0\n'
            "# stream a backup from the previous peer's xtrabackup container\n"
            "ncat --recv-only mysql-$(($ordinal-1)).mysql 3307 | xbstream -x -C /var/lib/mysql\n"
            "xtrabackup --prepare --target-dir=/var/lib/mysql\n",
        ],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql", "subPath": "mysql"}],
    }
    mysql = {
        "name": "mysql",
        "image": "mysql:5.7",
        "env": env(("MYSQL_ALLOW_EMPTY_PASSWORD", "1")),
        "ports": ports(("mysql", 3306)),
        "readinessProbe": {"exec": {"command": ["mysql", "-h", "127.0.0.1", "-e", "SELECT 1"]}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql", "subPath": "mysql"}],
    }
    xtrabackup = {
        "name": "xtrabackup",
        "image": "gcr.io/google-samples/xtrabackup:1.0",
        "ports": ports(("xtrabackup", 3307)),
        "command": [
            "bash",
            "-c",
            "set -ex\ncd /var/lib/mysql\n# (replication set-up from the cloned backup elided)\n"
            "exec ncat --listen --keep-open --send-only --max-conns=1 3307 -c "
            '"xtrabackup --backup --slave-info --stream=xbstream --host=127.0.0.1 --user=root"\n',
        ],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql", "subPath": "mysql"}],
    }
    return statefulset(
        "mysql",
        namespace="default",
        labels={"app": "mysql", "app.kubernetes.io/name": "mysql"},
        containers=[mysql, xtrabackup],
        init_containers=[init_mysql, clone_mysql],
        service="mysql",
        spec_extra={
            "volumes": [{"name": "conf", "emptyDir": {}}, {"name": "config-map", "configMap": {"name": "mysql"}}]
        },
    )


def elasticsearch_bitnami() -> JSON:
    """bitnami/elasticsearch 19.9.5 defaults, the master node group (Elasticsearch 8.8.0)."""
    sysctl = {
        "name": "sysctl",
        "image": "docker.io/bitnami/bitnami-shell:11-debian-11-r119",
        "command": ["/bin/bash", "-ec", "sysctl -w vm.max_map_count=262144\nsysctl -w fs.file-max=65536\n"],
        "securityContext": {"privileged": True, "runAsUser": 0},
    }
    container = {
        "name": "elasticsearch",
        "image": "docker.io/bitnami/elasticsearch:8.8.0-debian-11-r0",
        "env": env(
            field_env("MY_POD_NAME", "metadata.name"),
            ("BITNAMI_DEBUG", "false"),
            ("ELASTICSEARCH_CLUSTER_NAME", "elastic"),
            ("ELASTICSEARCH_IS_DEDICATED_NODE", "yes"),
            ("ELASTICSEARCH_NODE_ROLES", "master"),
            ("ELASTICSEARCH_TRANSPORT_PORT_NUMBER", "9300"),
            ("ELASTICSEARCH_HTTP_PORT_NUMBER", "9200"),
            (
                "ELASTICSEARCH_CLUSTER_HOSTS",
                "my-release-elasticsearch-master-hl.default.svc.cluster.local,"
                "my-release-elasticsearch-data-hl.default.svc.cluster.local,",
            ),
            (
                "ELASTICSEARCH_CLUSTER_MASTER_HOSTS",
                "my-release-elasticsearch-master-0 my-release-elasticsearch-master-1",
            ),
            ("ELASTICSEARCH_MINIMUM_MASTER_NODES", "2"),
            (
                "ELASTICSEARCH_ADVERTISED_HOSTNAME",
                "$(MY_POD_NAME).my-release-elasticsearch-master-hl.default.svc.cluster.local",
            ),
            ("ELASTICSEARCH_HEAP_SIZE", "128m"),
        ),
        "ports": ports(("rest-api", 9200), ("transport", 9300)),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/elasticsearch/data"}],
    }
    return statefulset(
        "my-release-elasticsearch-master",
        namespace="default",
        labels=bitnami_labels("elasticsearch", "19.9.5", "master"),
        containers=[container],
        init_containers=[sysctl],
        replicas=2,
        service="my-release-elasticsearch-master-hl",
        spec_extra={"securityContext": {"fsGroup": 1001}},
    )


def elasticsearch_official() -> JSON:
    """Official image docker.elastic.co/elasticsearch/elasticsearch:8.8.0, settings given as env
    (network.bind_host / network.publish_host from the pod IP, as in the Istio FAQ example)."""
    container = {
        "name": "elasticsearch",
        "image": "docker.elastic.co/elasticsearch/elasticsearch:8.8.0",
        "env": env(
            ("cluster.name", "logs"),
            field_env("node.name", "metadata.name"),
            field_env("network.bind_host", "status.podIP"),
            field_env("network.publish_host", "status.podIP"),
            ("discovery.seed_hosts", "es-0.es-hl,es-1.es-hl,es-2.es-hl"),
            ("cluster.initial_master_nodes", "es-0,es-1,es-2"),
            ("xpack.security.enabled", "false"),
            ("ES_JAVA_OPTS", "-Xms1g -Xmx1g"),
        ),
        "ports": ports(("http", 9200), ("transport", 9300)),
        "volumeMounts": [{"name": "data", "mountPath": "/usr/share/elasticsearch/data"}],
    }
    return statefulset("es", namespace="logging", labels={"app": "es"}, containers=[container], service="es-hl")


def redis_bitnami_replicas(annotations: JSON) -> JSON:
    """bitnami/redis 17.11.3, architecture=replication, the replicas StatefulSet (Redis 7.0.11)."""
    container = {
        "name": "redis",
        "image": "docker.io/bitnami/redis:7.0.11-debian-11-r12",
        "command": ["/bin/bash"],
        "args": ["-c", "/opt/bitnami/scripts/start-scripts/start-replica.sh"],
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            ("REDIS_REPLICATION_MODE", "replica"),
            ("REDIS_MASTER_HOST", "my-release-redis-master-0.my-release-redis-headless.default.svc.cluster.local"),
            ("REDIS_MASTER_PORT_NUMBER", "6379"),
            ("ALLOW_EMPTY_PASSWORD", "no"),
            secret_env("REDIS_PASSWORD", "my-release-redis", "redis-password"),
            secret_env("REDIS_MASTER_PASSWORD", "my-release-redis", "redis-password"),
            ("REDIS_TLS_ENABLED", "no"),
            ("REDIS_PORT", "6379"),
        ),
        "ports": ports(("redis", 6379)),
        "securityContext": {"runAsUser": 1001},
        "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
    }
    return statefulset(
        "my-release-redis-replicas",
        namespace="default",
        labels=bitnami_labels("redis", "17.11.3", "replica"),
        containers=[container],
        annotations=annotations,
        service="my-release-redis-headless",
        claims=("redis-data",),
    )


def redis_cluster_bitnami(annotations: JSON) -> JSON:
    """bitnami/redis-cluster 8.6.2 defaults: 6 nodes (Redis 7.0.11), ports 6379 and bus 16379."""
    nodes = " ".join(f"my-release-redis-cluster-{i}.my-release-redis-cluster-headless" for i in range(6))
    container = {
        "name": "my-release-redis-cluster",
        "image": "docker.io/bitnami/redis-cluster:7.0.11-debian-11-r12",
        "command": ["/bin/bash", "-c"],
        "args": [
            "# node set-up elided\n"
            "exec /opt/bitnami/scripts/redis-cluster/entrypoint.sh /opt/bitnami/scripts/redis-cluster/run.sh\n"
        ],
        "env": env(
            field_env("POD_NAME", "metadata.name"),
            ("REDIS_NODES", nodes),
            secret_env("REDISCLI_AUTH", "my-release-redis-cluster", "redis-password"),
            secret_env("REDIS_PASSWORD", "my-release-redis-cluster", "redis-password"),
            ("REDIS_AOF_ENABLED", "yes"),
            ("REDIS_TLS_ENABLED", "no"),
            ("REDIS_PORT_NUMBER", "6379"),
        ),
        "ports": ports(("tcp-redis", 6379), ("tcp-redis-bus", 16379)),
        "volumeMounts": [{"name": "redis-data", "mountPath": "/bitnami/redis/data"}],
    }
    return statefulset(
        "my-release-redis-cluster",
        namespace="default",
        labels=bitnami_labels("redis-cluster", "8.6.2"),
        containers=[container],
        annotations=annotations,
        replicas=6,
        service="my-release-redis-cluster-headless",
        claims=("redis-data",),
    )


def redis_official() -> JSON:
    """Official "redis" image 7.0.11, no config file (listens on all interfaces)."""
    container = {
        "name": "redis",
        "image": "redis:7.0.11",
        "command": ["redis-server", "--appendonly", "yes"],
        "ports": ports(("redis", 6379)),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return statefulset("cache", namespace="shop", labels={"app": "cache"}, containers=[container], replicas=1)


def kafka_bitnami() -> JSON:
    """bitnami/kafka 21.5.0 defaults (Kafka 3.4.0, ZooKeeper mode), the broker StatefulSet."""
    fqdn = "$(MY_POD_NAME).my-release-kafka-headless.default.svc.cluster.local"
    container = {
        "name": "kafka",
        "image": "docker.io/bitnami/kafka:3.4.0-debian-11-r15",
        "command": ["/scripts/setup.sh"],
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            field_env("MY_POD_IP", "status.podIP"),
            field_env("MY_POD_NAME", "metadata.name"),
            ("KAFKA_CFG_ZOOKEEPER_CONNECT", "my-release-zookeeper"),
            ("KAFKA_INTER_BROKER_LISTENER_NAME", "INTERNAL"),
            ("KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP", "INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT"),
            ("KAFKA_CFG_LISTENERS", "INTERNAL://:9093,CLIENT://:9092"),
            ("KAFKA_CFG_ADVERTISED_LISTENERS", f"INTERNAL://{fqdn}:9093,CLIENT://{fqdn}:9092"),
            ("ALLOW_PLAINTEXT_LISTENER", "yes"),
            ("KAFKA_ZOOKEEPER_PROTOCOL", "PLAINTEXT"),
            ("KAFKA_VOLUME_DIR", "/bitnami/kafka"),
            ("KAFKA_CFG_LOG_DIRS", "/bitnami/kafka/data"),
            ("KAFKA_HEAP_OPTS", "-Xmx1024m -Xms1024m"),
        ),
        "ports": ports(("kafka-client", 9092), ("kafka-internal", 9093)),
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/kafka"}],
    }
    return statefulset(
        "my-release-kafka",
        namespace="default",
        labels=bitnami_labels("kafka", "21.5.0", "kafka"),
        containers=[container],
        replicas=1,
        spec_extra={"securityContext": {"fsGroup": 1001}},
    )


def rabbitmq_bitnami_node_ip() -> JSON:
    """bitnami/rabbitmq 11.16.0, replicaCount=3 (RabbitMQ 3.11.17), plus a FABRICATED extraEnvVars
    entry RABBITMQ_NODE_IP_ADDRESS=$(MY_POD_IP) that the chart does not set by default."""
    container = {
        "name": "rabbitmq",
        "image": "docker.io/bitnami/rabbitmq:3.11.17-debian-11-r1",
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            field_env("MY_POD_IP", "status.podIP"),
            field_env("MY_POD_NAME", "metadata.name"),
            field_env("MY_POD_NAMESPACE", "metadata.namespace"),
            ("K8S_SERVICE_NAME", "my-release-rabbitmq-headless"),
            ("K8S_ADDRESS_TYPE", "hostname"),
            ("RABBITMQ_FORCE_BOOT", "no"),
            ("RABBITMQ_NODE_NAME", "rabbit@$(MY_POD_NAME).$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local"),
            ("K8S_HOSTNAME_SUFFIX", ".$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local"),
            ("RABBITMQ_MNESIA_DIR", "/bitnami/rabbitmq/mnesia/$(RABBITMQ_NODE_NAME)"),
            ("RABBITMQ_USE_LONGNAME", "true"),
            secret_env("RABBITMQ_ERL_COOKIE", "my-release-rabbitmq", "rabbitmq-erlang-cookie"),
            ("RABBITMQ_USERNAME", "user"),
            secret_env("RABBITMQ_PASSWORD", "my-release-rabbitmq", "rabbitmq-password"),
            ("RABBITMQ_PLUGINS", "rabbitmq_management, rabbitmq_peer_discovery_k8s, rabbitmq_auth_backend_ldap"),
            ("RABBITMQ_NODE_IP_ADDRESS", "$(MY_POD_IP)"),
        ),
        "ports": ports(("amqp", 5672), ("dist", 25672), ("stats", 15672), ("epmd", 4369)),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/rabbitmq/mnesia"}],
    }
    return statefulset(
        "my-release-rabbitmq",
        namespace="default",
        labels=bitnami_labels("rabbitmq", "11.16.0"),
        containers=[container],
        spec_extra={"serviceAccountName": "my-release-rabbitmq"},
    )


def etcd_bitnami() -> JSON:
    """bitnami/etcd 8.11.4, replicaCount=3 (etcd 3.5.9): listen URLs already on 0.0.0.0."""
    headless = "my-release-etcd-headless.default.svc.cluster.local"
    cluster = ",".join(f"my-release-etcd-{i}=http://my-release-etcd-{i}.{headless}:2380" for i in range(3))
    container = {
        "name": "etcd",
        "image": "docker.io/bitnami/etcd:3.5.9-debian-11-r4",
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            field_env("MY_POD_IP", "status.podIP"),
            field_env("MY_POD_NAME", "metadata.name"),
            ("MY_STS_NAME", "my-release-etcd"),
            ("ETCDCTL_API", "3"),
            ("ETCD_ON_K8S", "yes"),
            ("ETCD_NAME", "$(MY_POD_NAME)"),
            ("ETCD_DATA_DIR", "/bitnami/etcd/data"),
            ("ALLOW_NONE_AUTHENTICATION", "no"),
            secret_env("ETCD_ROOT_PASSWORD", "my-release-etcd", "etcd-root-password"),
            (
                "ETCD_ADVERTISE_CLIENT_URLS",
                f"http://$(MY_POD_NAME).{headless}:2379,http://my-release-etcd.default.svc.cluster.local:2379",
            ),
            ("ETCD_LISTEN_CLIENT_URLS", "http://0.0.0.0:2379"),
            ("ETCD_INITIAL_ADVERTISE_PEER_URLS", f"http://$(MY_POD_NAME).{headless}:2380"),
            ("ETCD_LISTEN_PEER_URLS", "http://0.0.0.0:2380"),
            ("ETCD_INITIAL_CLUSTER_TOKEN", "etcd-cluster-k8s"),
            ("ETCD_INITIAL_CLUSTER_STATE", "new"),
            ("ETCD_INITIAL_CLUSTER", cluster),
            ("ETCD_CLUSTER_DOMAIN", headless),
        ),
        "ports": ports(("client", 2379), ("peer", 2380)),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/etcd"}],
    }
    return statefulset(
        "my-release-etcd",
        namespace="default",
        labels=bitnami_labels("etcd", "8.11.4"),
        containers=[container],
        spec_extra={"securityContext": {"fsGroup": 1001}},
    )


def etcd_upstream() -> JSON:
    """Upstream etcd v3.5.9 image, flags bound to the pod IP (the usual hand-written StatefulSet)."""
    container = {
        "name": "etcd",
        "image": "gcr.io/etcd-development/etcd:v3.5.9",
        "command": ["/usr/local/bin/etcd"],
        "args": [
            "--name=$(POD_NAME)",
            "--data-dir=/var/run/etcd/default.etcd",
            "--listen-peer-urls",
            "http://$(POD_IP):2380",
            "--listen-client-urls=http://$(POD_IP):2379,http://127.0.0.1:2379",
            "--initial-advertise-peer-urls",
            "http://$(POD_NAME).etcd.platform.svc.cluster.local:2380",
            "--advertise-client-urls",
            "http://$(POD_NAME).etcd.platform.svc.cluster.local:2379",
            "--initial-cluster",
            ",".join(f"etcd-{i}=http://etcd-{i}.etcd.platform.svc.cluster.local:2380" for i in range(3)),
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "etcd-platform",
        ],
        "env": env(field_env("POD_NAME", "metadata.name"), field_env("POD_IP", "status.podIP")),
        "ports": ports(("client", 2379), ("peer", 2380)),
        "volumeMounts": [{"name": "data", "mountPath": "/var/run/etcd"}],
    }
    return statefulset("etcd", namespace="platform", labels={"app": "etcd"}, containers=[container], service="etcd")


def mongodb_bitnami() -> JSON:
    """bitnami/mongodb 13.15.1, architecture=replicaset (MongoDB 6.0.6), the data-bearing members."""
    container = {
        "name": "mongodb",
        "image": "docker.io/bitnami/mongodb:6.0.6-debian-11-r3",
        "command": ["/scripts/setup.sh"],
        "env": env(
            ("BITNAMI_DEBUG", "false"),
            field_env("MY_POD_NAME", "metadata.name"),
            field_env("MY_POD_NAMESPACE", "metadata.namespace"),
            field_env("MY_POD_HOST_IP", "status.hostIP"),
            ("K8S_SERVICE_NAME", "my-release-mongodb-headless"),
            (
                "MONGODB_INITIAL_PRIMARY_HOST",
                "my-release-mongodb-0.$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local",
            ),
            ("MONGODB_REPLICA_SET_NAME", "rs0"),
            ("MONGODB_ADVERTISED_HOSTNAME", "$(MY_POD_NAME).$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local"),
            ("MONGODB_ROOT_USER", "root"),
            secret_env("MONGODB_ROOT_PASSWORD", "my-release-mongodb", "mongodb-root-password"),
            secret_env("MONGODB_REPLICA_SET_KEY", "my-release-mongodb", "mongodb-replica-set-key"),
            ("ALLOW_EMPTY_PASSWORD", "no"),
            ("MONGODB_PORT_NUMBER", "27017"),
            ("MONGODB_ENABLE_IPV6", "no"),
        ),
        "ports": [{"containerPort": 27017, "name": "mongodb"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "datadir", "mountPath": "/bitnami/mongodb"}],
    }
    return statefulset(
        "my-release-mongodb",
        namespace="default",
        labels=bitnami_labels("mongodb", "13.15.1", "mongodb"),
        containers=[container],
        replicas=2,
        service="my-release-mongodb-headless",
        claims=("datadir",),
        spec_extra={"serviceAccountName": "my-release-mongodb", "securityContext": {"fsGroup": 1001}},
    )


def mongodb_official() -> JSON:
    """Official "mongo" image 6.0.6 started with an explicit --bind_ip (our own replica set)."""
    container = {
        "name": "mongod",
        "image": "mongo:6.0.6",
        "command": ["mongod"],
        "args": ["--replSet", "rs0", "--bind_ip", "localhost,$(POD_IP)"],
        "env": env(field_env("POD_IP", "status.podIP")),
        "ports": ports(("mongodb", 27017)),
        "volumeMounts": [{"name": "data", "mountPath": "/data/db"}],
    }
    return statefulset("mongo", namespace="shop", labels={"app": "mongo"}, containers=[container], service="mongo")


def mariadb_galera_bitnami() -> JSON:
    """bitnami/mariadb-galera 8.2.4 defaults (MariaDB 10.11.3): mysql 3306, galera 4567, ist 4568, sst 4444."""
    headless = "my-release-mariadb-galera-headless.default.svc.cluster.local"
    container = {
        "name": "mariadb-galera",
        "image": "docker.io/bitnami/mariadb-galera:10.11.3-debian-11-r6",
        "command": [
            "bash",
            "-ec",
            "exec /opt/bitnami/scripts/mariadb-galera/entrypoint.sh /opt/bitnami/scripts/mariadb-galera/run.sh\n",
        ],
        "env": env(
            field_env("MY_POD_NAME", "metadata.name"),
            ("BITNAMI_DEBUG", "false"),
            ("MARIADB_DEFAULT_PORT_NUMBER", "3306"),
            ("MARIADB_GALERA_CLUSTER_NAME", "galera"),
            (
                "MARIADB_GALERA_CLUSTER_ADDRESS",
                "gcomm://" + ",".join(f"my-release-mariadb-galera-{i}.{headless}" for i in range(3)),
            ),
            ("MARIADB_ROOT_USER", "root"),
            secret_env("MARIADB_ROOT_PASSWORD", "my-release-mariadb-galera", "mariadb-root-password"),
            ("MARIADB_DATABASE", "my_database"),
            ("MARIADB_GALERA_MARIABACKUP_USER", "mariabackup"),
            secret_env(
                "MARIADB_GALERA_MARIABACKUP_PASSWORD",
                "my-release-mariadb-galera",
                "mariadb-galera-mariabackup-password",
            ),
            ("MARIADB_ENABLE_TLS", "no"),
        ),
        "ports": ports(("mysql", 3306), ("galera", 4567), ("ist", 4568), ("sst", 4444)),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1001},
        "volumeMounts": [{"name": "data", "mountPath": "/bitnami/mariadb"}],
    }
    return statefulset(
        "my-release-mariadb-galera",
        namespace="default",
        labels=bitnami_labels("mariadb-galera", "8.2.4"),
        containers=[container],
        spec_extra={"securityContext": {"fsGroup": 1001, "runAsUser": 1001}},
    )


def nifi() -> JSON:
    """apache/nifi 1.23.2 image in cluster mode (start.sh env names; load balancing on 6342)."""
    container = {
        "name": "nifi",
        "image": "apache/nifi:1.23.2",
        "env": env(
            ("NIFI_WEB_HTTP_PORT", "8080"),
            ("NIFI_CLUSTER_IS_NODE", "true"),
            ("NIFI_CLUSTER_NODE_PROTOCOL_PORT", "8082"),
            ("NIFI_ZK_CONNECT_STRING", "zookeeper.nifi.svc.cluster.local:2181"),
            ("NIFI_ELECTION_MAX_WAIT", "1 min"),
            ("NIFI_SENSITIVE_PROPS_KEY", "change-me-please"),
        ),
        "ports": ports(("http", 8080), ("cluster", 8082), ("load-balance", 6342)),
        "volumeMounts": [{"name": "data", "mountPath": "/opt/nifi/nifi-current/state"}],
    }
    return statefulset("nifi", namespace="nifi", labels={"app": "nifi"}, containers=[container])


def prometheus_with_thanos() -> JSON:
    """A prometheus-operator style Prometheus StatefulSet with its Thanos sidecar (Prometheus v2.44.0,
    Thanos v0.31.0): the shape kube-prometheus generates, written here from the flags."""
    prometheus = {
        "name": "prometheus",
        "image": "quay.io/prometheus/prometheus:v2.44.0",
        "args": [
            "--web.console.templates=/etc/prometheus/consoles",
            "--web.console.libraries=/etc/prometheus/console_libraries",
            "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
            "--web.enable-lifecycle",
            "--web.route-prefix=/",
            "--storage.tsdb.retention.time=24h",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.max-block-duration=2h",
            "--storage.tsdb.min-block-duration=2h",
        ],
        "ports": ports(("web", 9090)),
        "volumeMounts": [{"name": "prometheus-k8s-db", "mountPath": "/prometheus"}],
    }
    reloader = {
        "name": "config-reloader",
        "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.65.1",
        "args": ["--listen-address=:8080", "--reload-url=http://localhost:9090/-/reload"],
        "ports": ports(("reloader-web", 8080)),
    }
    thanos = {
        "name": "thanos-sidecar",
        "image": "quay.io/thanos/thanos:v0.31.0",
        "args": [
            "sidecar",
            "--prometheus.url=http://localhost:9090/",
            "--grpc-address=:10901",
            "--http-address=:10902",
            "--objstore.config=$(OBJSTORE_CONFIG)",
            "--tsdb.path=/prometheus",
        ],
        "env": [
            {
                "name": "OBJSTORE_CONFIG",
                "valueFrom": {"secretKeyRef": {"name": "thanos-objstore", "key": "thanos.yaml"}},
            }
        ],
        "ports": ports(("http", 10902), ("grpc", 10901)),
        "volumeMounts": [{"name": "prometheus-k8s-db", "mountPath": "/prometheus"}],
    }
    return statefulset(
        "prometheus-k8s",
        namespace="monitoring",
        labels={
            "app.kubernetes.io/name": "prometheus",
            "app.kubernetes.io/instance": "k8s",
            "prometheus": "k8s",
        },
        containers=[prometheus, reloader, thanos],
        replicas=2,
        service="prometheus-operated",
        claims=("prometheus-k8s-db",),
        spec_extra={"serviceAccountName": "prometheus-k8s"},
    )


def quarkus() -> JSON:
    """redhat-scholars/kubernetes-tutorial quarkus-statefulset: quay.io/rhdevelopers/quarkus-demo:v1."""
    container = {
        "name": "quarkus-statefulset",
        "image": "quay.io/rhdevelopers/quarkus-demo:v1",
        "ports": ports(("web", 8080)),
    }
    return statefulset(
        "quarkus-statefulset",
        namespace="tutorial",
        labels={"app": "quarkus-statefulset"},
        containers=[container],
        replicas=1,
        service="quarkus",
        claims=(),
    )


# --- the cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    models: str
    mesh: str
    mesh_version: str | None
    notes: str
    build: Callable[[], JSON]


def review_of(pod: JSON, *, operation: str = "CREATE") -> JSON:
    body = pod_review(pod)
    if operation != "CREATE":
        body["request"]["operation"] = operation
        body["request"]["oldObject"] = copy.deepcopy(pod)
        body["request"]["options"] = {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"}
    return body


def _without_pod_index(pod: JSON) -> JSON:
    del pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
    return pod


def _owned_by_replicaset(pod: JSON) -> JSON:
    meta = pod["metadata"]
    meta["name"] = "zk-client-7d9f8b6c5d-x2x9q"
    meta["generateName"] = "zk-client-7d9f8b6c5d-"
    meta["labels"] = {"app": "zk-client", "pod-template-hash": "7d9f8b6c5d"}
    meta["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "zk-client-7d9f8b6c5d",
            "uid": "0b5f3c1e-6a0d-4a3b-9a47-2f1b0c9d8e7f",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = pod["spec"]
    spec.pop("hostname", None)
    spec.pop("subdomain", None)
    spec["volumes"] = [v for v in spec["volumes"] if "persistentVolumeClaim" not in v]
    return pod


ZK_BITNAMI = (
    "bitnami/charts bitnami/zookeeper 6.7.2 (ZooKeeper 3.7.0, docker.io/bitnami/zookeeper:3.7.0-debian-10-r27), "
    "replicaCount=3"
)
ZK_TUTORIAL = (
    "kubernetes/website content/en/examples/application/zookeeper/zookeeper.yaml "
    "(registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10, command sh -c start-zookeeper ...)"
)
CASSANDRA = (
    "bitnami/charts bitnami/cassandra 10.4.2 (Cassandra 4.1.2, docker.io/bitnami/cassandra:4.1.2-debian-11-r1), "
    "defaults"
)

CASES: dict[str, Case] = {
    "zookeeper-bitnami-istio-1.9": Case(
        ZK_BITNAMI + ", listenOnAllIPs=false (chart default)",
        "istio",
        "1.9",
        "The Istio 1.10 StatefulSet blog scenario on 1.9: ZOO_LISTEN_ALLIPS_ENABLED is replaced in place "
        "(no duplicate entry) with yes, which the image turns into quorumListenOnAllIPs=true; the app is held "
        "until the proxy starts.",
        lambda: review_of(controller_pod(zookeeper_bitnami())),
    ),
    "zookeeper-bitnami-listen-all-ips-istio-1.9": Case(
        ZK_BITNAMI + ", listenOnAllIPs=true",
        "istio",
        "1.9",
        "Control: ZOO_LISTEN_ALLIPS_ENABLED is already yes, so the env is left alone; only the hold fix applies.",
        lambda: review_of(controller_pod(zookeeper_bitnami("yes"))),
    ),
    "zookeeper-official-cfg-extra-linkerd-2.10": Case(
        "Docker Hub official zookeeper image 3.7.1 (env ZOO_MY_ID, ZOO_SERVERS, ZOO_CFG_EXTRA); our own StatefulSet",
        "linkerd",
        "2.10",
        "ZOO_CFG_EXTRA already carries the Prometheus metrics provider settings; quorumListenOnAllIPs=true is "
        "appended as one more space-separated token, the existing ones kept. Linkerd 2.10 cannot hold the app "
        "(warning only).",
        lambda: review_of(controller_pod(zookeeper_official())),
    ),
    "zookeeper-k8s-tutorial-istio-1.9": Case(
        ZK_TUTORIAL,
        "istio",
        "1.9",
        "The tutorial image binds quorum/election to the pod IP and cannot be told otherwise, so on Istio 1.9 "
        "ports 2888,3888 bypass the proxy in both directions (annotations, before injection).",
        lambda: review_of(controller_pod(zookeeper_k8s_tutorial())),
    ),
    "zookeeper-k8s-tutorial-istio-1.10": Case(
        ZK_TUTORIAL,
        "istio",
        "1.10",
        "Istio 1.10 forwards inbound traffic to the pod IP: no exclusions; only the hold fix.",
        lambda: review_of(controller_pod(zookeeper_k8s_tutorial())),
    ),
    "zookeeper-k8s-tutorial-linkerd-2.11": Case(
        ZK_TUTORIAL,
        "linkerd",
        "2.11",
        "Linkerd 2.11 forwards to the pod IP and awaits the proxy by default: nothing to do, empty patch.",
        lambda: review_of(controller_pod(zookeeper_k8s_tutorial())),
    ),
    "cassandra-bitnami-istio-1.9": Case(
        CASSANDRA,
        "istio",
        "1.9",
        "listen_address cannot be 0.0.0.0: inter-node 7000,7001 bypass the proxy both ways; "
        "hold until the proxy starts.",
        lambda: review_of(controller_pod(cassandra_bitnami())),
    ),
    "cassandra-bitnami-linkerd-2.10": Case(
        CASSANDRA,
        "linkerd",
        "2.10",
        "Same fallback with Linkerd's skip-inbound/outbound-ports annotations; Linkerd 2.10 cannot hold the app.",
        lambda: review_of(controller_pod(cassandra_bitnami())),
    ),
    "cassandra-bitnami-existing-annotations-istio-1.9": Case(
        CASSANDRA + "; podAnnotations set by the user (our own values)",
        "istio",
        "1.9",
        "MERGE, not overwrite: the user already excludes 7199 inbound and 7001 outbound, asks for all inbound "
        "ports (includeInboundPorts *) and sets proxy.istio.io/config as YAML. Our ports are appended to the "
        "lists (order kept, 7001 not duplicated) and the hold key is merged into the YAML.",
        lambda: review_of(
            controller_pod(
                cassandra_bitnami(
                    {
                        "traffic.sidecar.istio.io/includeInboundPorts": "*",
                        "traffic.sidecar.istio.io/excludeInboundPorts": "7199",
                        "traffic.sidecar.istio.io/excludeOutboundPorts": "7001",
                        "proxy.istio.io/config": "concurrency: 2\n",
                    }
                )
            )
        ),
    ),
    "cassandra-bitnami-unknown-mesh": Case(
        CASSANDRA,
        "auto",
        None,
        "No mesh evidence and no mesh configured: Cassandra has no bind fix and port exclusions are not guessed, "
        "so the pod is left alone with a warning.",
        lambda: review_of(controller_pod(cassandra_bitnami())),
    ),
    "mysql-tutorial-istio-1.10": Case(
        "kubernetes/website content/en/examples/application/mysql/mysql-statefulset.yaml (mysql:5.7, "
        "gcr.io/google-samples/xtrabackup:1.0; init containers init-mysql and clone-mysql, "
        "container xtrabackup on 3307)",
        "istio",
        "1.10",
        "clone-mysql dials the previous peer on 3307 before any proxy runs: 3307 bypasses the proxy both ways "
        "on every mesh version (Istio 1.10 here). The clone-mysql and xtrabackup matches merge into one list.",
        lambda: review_of(controller_pod(mysql_tutorial(), 1)),
    ),
    "elasticsearch-bitnami-linkerd-2.10": Case(
        "bitnami/charts bitnami/elasticsearch 19.9.5 (Elasticsearch 8.8.0), master node group, defaults",
        "linkerd",
        "2.10",
        "Transport 9300 is not opaque by default before Linkerd 2.11: the annotation is created with 9300 "
        "(none of Linkerd 2.10's defaults are ports of this pod). ELASTICSEARCH_BIND_ADDRESS is unset (0.0.0.0).",
        lambda: review_of(controller_pod(elasticsearch_bitnami())),
    ),
    "elasticsearch-official-istio-1.9": Case(
        "docker.elastic.co/elasticsearch/elasticsearch:8.8.0 with settings as env (network.bind_host and "
        "network.publish_host from status.podIP, the Istio FAQ elasticsearch pattern); our own StatefulSet",
        "istio",
        "1.9",
        "network.bind_host (a fieldRef to the pod IP) becomes 0.0.0.0; network.publish_host stays the pod IP.",
        lambda: review_of(controller_pod(elasticsearch_official())),
    ),
    "redis-bitnami-existing-opaque-linkerd-2.10": Case(
        "bitnami/charts bitnami/redis 17.11.3 (Redis 7.0.11), architecture=replication, replicas StatefulSet; "
        'podAnnotations config.linkerd.io/opaque-ports: "26379" added by us',
        "linkerd",
        "2.10",
        "The user's opaque-ports list is kept and 6379 appended. Warnings: replicas announce 127.0.0.1 behind "
        "a localhost-forwarding proxy (advice), and Linkerd 2.10 cannot hold the app.",
        lambda: review_of(
            controller_pod(
                redis_bitnami_replicas(
                    {
                        "checksum/configmap": "5b0d2f6e4c1a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b0",
                        "checksum/health": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                        "config.linkerd.io/opaque-ports": "26379",
                    }
                )
            )
        ),
    ),
    "redis-cluster-bitnami-linkerd-inject": Case(
        "bitnami/charts bitnami/redis-cluster 8.6.2 (Redis 7.0.11), defaults plus "
        "podAnnotations linkerd.io/inject: enabled (our own values)",
        "auto",
        None,
        "The pod asks for Linkerd injection; the version is unknown, so 6379 is made opaque (Linkerd 2.11's "
        "defaults that match the pod's ports are carried over: only 6379). Redis Cluster has no hold fix.",
        lambda: review_of(controller_pod(redis_cluster_bitnami({"linkerd.io/inject": "enabled"}))),
    ),
    "redis-official-linkerd-2.10": Case(
        "Docker Hub official redis image 7.0.11, no config file; our own StatefulSet",
        "linkerd",
        "2.10",
        "Binds all interfaces already; on Linkerd 2.10 6379 is made opaque.",
        lambda: review_of(controller_pod(redis_official())),
    ),
    "kafka-bitnami-istio-1.9": Case(
        "bitnami/charts bitnami/kafka 21.5.0 (Kafka 3.4.0), defaults, broker StatefulSet",
        "istio",
        "1.9",
        'KAFKA_CFG_LISTENERS "INTERNAL://:9093,CLIENT://:9092" has empty hosts, which bind all interfaces: '
        "left unchanged; only the hold fix.",
        lambda: review_of(controller_pod(kafka_bitnami())),
    ),
    "rabbitmq-bitnami-node-ip-istio-1.9": Case(
        "bitnami/charts bitnami/rabbitmq 11.16.0 (RabbitMQ 3.11.17), replicaCount=3, plus a FABRICATED "
        "extraEnvVars entry RABBITMQ_NODE_IP_ADDRESS=$(MY_POD_IP) (not a chart default)",
        "istio",
        "1.9",
        "RabbitMQ bound to the pod IP only gets nothing from a 127.0.0.1-forwarding proxy; the variable is "
        "replaced in place with 0.0.0.0.",
        lambda: review_of(controller_pod(rabbitmq_bitnami_node_ip())),
    ),
    "etcd-bitnami-istio-1.9": Case(
        "bitnami/charts bitnami/etcd 8.11.4 (etcd 3.5.9), replicaCount=3",
        "istio",
        "1.9",
        "ETCD_LISTEN_*_URLS are already http://0.0.0.0: left unchanged; only the hold fix.",
        lambda: review_of(controller_pod(etcd_bitnami())),
    ),
    "etcd-upstream-args-linkerd-2.10": Case(
        "upstream etcd v3.5.9 image (gcr.io/etcd-development/etcd) with --listen-peer-urls http://$(POD_IP):2380 "
        "and --listen-client-urls=http://$(POD_IP):2379,http://127.0.0.1:2379; our own StatefulSet",
        "linkerd",
        "2.10",
        "Listen URLs in args (separate and flag=value forms) are rewritten to 0.0.0.0; the client pair collapses "
        "to one URL. Advertise URLs are not touched.",
        lambda: review_of(controller_pod(etcd_upstream())),
    ),
    "mongodb-bitnami-istio-1.10": Case(
        "bitnami/charts bitnami/mongodb 13.15.1 (MongoDB 6.0.6), architecture=replicaset",
        "istio",
        "1.10",
        "The image binds all interfaces and advertises the pod FQDN; only the hold fix.",
        lambda: review_of(controller_pod(mongodb_bitnami())),
    ),
    "mongodb-official-bind-ip-istio-1.9": Case(
        "Docker Hub official mongo image 6.0.6 started with --bind_ip localhost,$(POD_IP); our own StatefulSet",
        "istio",
        "1.9",
        "An explicit --bind_ip is advice only (a warning, args unchanged); the hold fix applies.",
        lambda: review_of(controller_pod(mongodb_official())),
    ),
    "mariadb-galera-bitnami-linkerd-2.10": Case(
        "bitnami/charts bitnami/mariadb-galera 8.2.4 (MariaDB 10.11.3), defaults",
        "linkerd",
        "2.10",
        "SST 4444 is made opaque; the annotation replaces Linkerd's defaults, so 3306 (a 2.10 default the pod "
        "uses) is carried over.",
        lambda: review_of(controller_pod(mariadb_galera_bitnami())),
    ),
    "nifi-istio-1.9": Case(
        "apache/nifi 1.23.2 image (start.sh env NIFI_CLUSTER_IS_NODE, NIFI_CLUSTER_NODE_PROTOCOL_PORT; "
        "load balancing on 6342); our own StatefulSet",
        "istio",
        "1.9",
        "Cluster ports bind the node address: 6342 plus the protocol port read from "
        "NIFI_CLUSTER_NODE_PROTOCOL_PORT (8082) bypass the proxy both ways.",
        lambda: review_of(controller_pod(nifi())),
    ),
    "thanos-prometheus-istio-1.9": Case(
        "prometheus-operator style Prometheus StatefulSet (quay.io/prometheus/prometheus:v2.44.0) with a "
        "Thanos sidecar (quay.io/thanos/thanos:v0.31.0); our own StatefulSet",
        "istio",
        "1.9",
        "Prometheus needs nothing; the Thanos sidecar gets the per-pod addressing advice (Istio < 1.10) and "
        "the hold fix.",
        lambda: review_of(controller_pod(prometheus_with_thanos())),
    ),
    "injected-istio-1.9-istio-init": Case(
        ZK_TUTORIAL + ", after Istio 1.9.5 sidecar injection (istio-init, docker.io/istio/proxyv2:1.9.5)",
        "auto",
        None,
        "Istio ran first: the annotations are too late, so istio-init's -d list gets 2888,3888 appended and "
        "-o 2888,3888 is added; the annotations are still set to record the intent. The version (1.9) comes "
        "from the proxy image tag. The proxy was injected without holdApplicationUntilProxyStarts: warning.",
        lambda: review_of(inject_istio_195(controller_pod(zookeeper_k8s_tutorial()))),
    ),
    "injected-istio-1.9-cni": Case(
        CASSANDRA + ", after Istio 1.9.5 sidecar injection with the Istio CNI plugin (istio-validation)",
        "auto",
        None,
        "With CNI the plugin reads the annotations when the sandbox is set up: 7000,7001 are merged into the "
        "injector's excludeInboundPorts (15020 kept) and excludeOutboundPorts is added; istio-validation is "
        "not touched.",
        lambda: review_of(inject_istio_195(controller_pod(cassandra_bitnami()), cni=True)),
    ),
    "injected-linkerd-2.10-linkerd-init": Case(
        ZK_TUTORIAL
        + ", after Linkerd stable-2.10.2 proxy injection (linkerd-init, cr.l5d.io/linkerd/proxy-init:v1.3.11)",
        "auto",
        None,
        "linkerd-init's --inbound-ports-to-ignore 4190,4191 and --outbound-ports-to-ignore 443 get 2888,3888 "
        "appended in place; skip-*-ports annotations record the intent. Version from linkerd.io/proxy-version.",
        lambda: review_of(inject_linkerd_2102(controller_pod(zookeeper_k8s_tutorial()))),
    ),
    "unknown-mesh-bind-fix-only": Case(
        ZK_BITNAMI + ", listenOnAllIPs=false (chart default)",
        "auto",
        None,
        "Mesh unknown: the bind fix, safe for every mesh, applies; no mesh-specific annotation is written.",
        lambda: review_of(controller_pod(zookeeper_bitnami())),
    ),
    "skip-fixes-annotation-istio-1.9": Case(
        ZK_BITNAMI + "; podAnnotations stsmesh.io/skip-fixes: zookeeper-listen-all-ips (our own values)",
        "istio",
        "1.9",
        "Per-fix opt-out: ZOO_LISTEN_ALLIPS_ENABLED stays no; the hold fix still applies.",
        lambda: review_of(
            controller_pod(zookeeper_bitnami(annotations={"stsmesh.io/skip-fixes": "zookeeper-listen-all-ips"}))
        ),
    ),
    "cassandra-bitnami-injected-istio-1.24-localhost": Case(
        CASSANDRA + ", after Istio 1.24.2 sidecar injection under meshConfig.inboundTrafficPolicy.mode LOCALHOST",
        "auto",
        None,
        "The injector's REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION=true on istio-proxy says inbound goes to "
        "127.0.0.1 although 1.24 > 1.10: gossip 7000/7001 must bypass the proxy, so istio-init's -d gets them "
        "and -o is added; the annotations record the intent.",
        lambda: review_of(inject_istio_124(controller_pod(cassandra_bitnami()), localhost=True)),
    ),
    "cassandra-bitnami-injected-istio-1.24": Case(
        CASSANDRA + ", after Istio 1.24.2 sidecar injection, default inbound policy (PASSTHROUGH)",
        "auto",
        None,
        "The same pod without the LOCALHOST marker: 1.24 delivers to the pod IP, Cassandra's listen_address "
        "works, no exclusion is written.",
        lambda: review_of(inject_istio_124(controller_pod(cassandra_bitnami()))),
    ),
    "mysql-tutorial-istio-1.27-native-sidecar": Case(
        "kubernetes/website mysql-statefulset.yaml (clone-mysql init container, xtrabackup on 3307); pod "
        'annotation sidecar.istio.io/nativeSidecar: "true" (the Istio 1.27 default on kubelets >= 1.33)',
        "istio",
        "1.27",
        "With a native sidecar the proxy is ready before clone-mysql runs: no 3307 exclusion (it would only "
        "take mTLS away) and no hold (the injector ignores holdApplicationUntilProxyStarts there).",
        lambda: review_of(
            with_pod_annotations(controller_pod(mysql_tutorial(), 1), **{"sidecar.istio.io/nativeSidecar": "true"})
        ),
    ),
    "zookeeper-k8s-tutorial-istio-1.24-ambient": Case(
        ZK_TUTORIAL + "; pod label istio.io/dataplane-mode: ambient (Istio 1.24 ambient, GA)",
        "istio",
        "1.24",
        "Ambient: ztunnel delivers to the pod IP, where the tutorial image listens, and reads no per-port "
        "exclusion; no traffic.sidecar.istio.io/* annotation and no hold are written, only notes.",
        lambda: review_of(
            with_pod_labels(controller_pod(zookeeper_k8s_tutorial()), **{"istio.io/dataplane-mode": "ambient"})
        ),
    ),
    "cassandra-bitnami-consul": Case(
        CASSANDRA + '; pod annotation consul.hashicorp.com/connect-inject: "true", before consul-k8s injects',
        "auto",
        None,
        "Consul always delivers to 127.0.0.1: gossip 7000/7001 go into consul.hashicorp.com/transparent-proxy-"
        "exclude-inbound-ports / -outbound-ports, which the injector turns into the init container's config.",
        lambda: review_of(
            with_pod_annotations(controller_pod(cassandra_bitnami()), **{"consul.hashicorp.com/connect-inject": "true"})
        ),
    ),
    "cassandra-bitnami-injected-consul": Case(
        CASSANDRA + ", after consul-k8s 1.6.1 connect-inject (transparent proxy, no CNI)",
        "auto",
        None,
        "The annotations are too late: 7000,7001 are merged into ExcludeInboundPorts / ExcludeOutboundPorts of "
        "CONSUL_REDIRECT_TRAFFIC_CONFIG on consul-connect-inject-init (20200 kept).",
        lambda: review_of(inject_consul(controller_pod(cassandra_bitnami()))),
    ),
    "zookeeper-k8s-tutorial-kuma-1.7": Case(
        ZK_TUTORIAL + "; namespace labelled kuma.io/sidecar-injection: enabled, Kuma 1.7 (before it injects)",
        "kuma",
        "1.7",
        "Kuma < 1.8 delivers to 127.0.0.1: 2888/3888 go into traffic.kuma.io/exclude-inbound-ports and "
        "exclude-outbound-ports.",
        lambda: review_of(controller_pod(zookeeper_k8s_tutorial())),
    ),
    "zookeeper-k8s-tutorial-injected-kuma-1.7": Case(
        ZK_TUTORIAL + ", after Kuma 1.7.1 injection (kuma-init, no CNI)",
        "auto",
        None,
        "kuma-init's empty --exclude-inbound-ports / --exclude-outbound-ports values get 2888,3888 in place; "
        "the version (1.7) comes from the kuma-dp image tag.",
        lambda: review_of(inject_kuma_171(controller_pod(zookeeper_k8s_tutorial()))),
    ),
    "cassandra-bitnami-injected-istio-1.22-localhost": Case(
        CASSANDRA + ", after Istio 1.22.3 sidecar injection under meshConfig.inboundTrafficPolicy.mode LOCALHOST "
        "(1.22 is the first release with the policy; PR istio/istio#50700 fixed its template condition)",
        "auto",
        None,
        "As with 1.24: the injector's REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION=true means 127.0.0.1, so "
        "7000/7001 go into istio-init's -d and -o.",
        lambda: review_of(
            inject_istio_124(
                controller_pod(cassandra_bitnami()), localhost=True, image="docker.io/istio/proxyv2:1.22.3"
            )
        ),
    ),
    "zookeeper-bitnami-injected-linkerd-native-sidecar": Case(
        ZK_BITNAMI + ", after Linkerd edge-25.4.4 injection with native sidecars",
        "auto",
        None,
        "A native linkerd-proxy (an init container with restartPolicy Always) delivers to the pod IP; the "
        "bind fix still applies (it works on both sides); proxy-await is on by default since 2.11.",
        lambda: review_of(inject_linkerd_native(controller_pod(zookeeper_bitnami()))),
    ),
    "zookeeper-k8s-tutorial-injected-kuma-2.9": Case(
        ZK_TUTORIAL + ", after Kuma 2.9.2 injection (kuma-init, no CNI)",
        "auto",
        None,
        "Kuma >= 1.8 delivers to the pod IP, where the tutorial image listens: no exclusion, kuma-init untouched.",
        lambda: review_of(inject_kuma_292(controller_pod(zookeeper_k8s_tutorial()))),
    ),
    "cassandra-bitnami-cilium": Case(
        CASSANDRA + "; a cluster whose only mesh is Cilium's (per-node Envoy, nothing in the pod)",
        "cilium",
        None,
        "No proxy in the pod: nothing to fix and no warning; the pod is admitted with its identity labels only "
        "(they are present already).",
        lambda: review_of(controller_pod(cassandra_bitnami())),
    ),
    "negative-skip-annotation": Case(
        ZK_BITNAMI + '; podAnnotations stsmesh.io/skip: "true" (our own values)',
        "istio",
        "1.9",
        "Opt-out of the whole pod: allowed unchanged, no patch.",
        lambda: review_of(controller_pod(zookeeper_bitnami(annotations={"stsmesh.io/skip": "true"}))),
    ),
    "negative-deployment-pod": Case(
        ZK_BITNAMI + "; the same container in a pod owned by a ReplicaSet (a Deployment), not a StatefulSet",
        "istio",
        "1.9",
        "Not a StatefulSet pod: skipped, even though the image is in the catalogue.",
        lambda: review_of(_owned_by_replicaset(controller_pod(zookeeper_bitnami()))),
    ),
    "negative-update-operation": Case(
        ZK_BITNAMI + "; an UPDATE of an existing pod",
        "istio",
        "1.9",
        "Pods are fixed at creation only: UPDATE is skipped.",
        lambda: review_of(controller_pod(zookeeper_bitnami()), operation="UPDATE"),
    ),
    "quarkus-no-catalogue-match-istio-1.10": Case(
        "redhat-scholars/kubernetes-tutorial apps/kubefiles/quarkus-statefulset.yaml @7508b22 "
        "(quay.io/rhdevelopers/quarkus-demo:v1); pod as created by a cluster before Kubernetes 1.28 "
        "(no apps.kubernetes.io/pod-index label)",
        "istio",
        "1.10",
        "No catalogue match: only the missing identity label apps.kubernetes.io/pod-index is added "
        "(statefulset.kubernetes.io/pod-name is present and kept).",
        lambda: review_of(_without_pod_index(controller_pod(quarkus()))),
    ),
}


def write_case(name: str, case: Case, force: bool) -> list[str]:
    folder = CASES_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    meta = {"models": case.models, "mesh": case.mesh, "mesh_version": case.mesh_version, "notes": case.notes}
    files = {
        "case.yaml": yaml.safe_dump(meta, sort_keys=False, width=110, allow_unicode=True),
        "review.json": json.dumps(case.build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
    for filename, text in files.items():
        path = folder / filename
        if path.exists() and not force:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(str(path.relative_to(CASES_DIR)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--force", action="store_true", help="rewrite inputs that already exist")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    for name in args.cases or sorted(CASES):
        for path in write_case(name, CASES[name], args.force):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
