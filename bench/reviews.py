"""Realistic AdmissionReview bodies for the benchmarks: typical, three containers, 1000 env vars,
already injected, and a Bitnami-chart-sized pod with managedFields (~20 KB).

The pods are our own, shaped like the StatefulSet pods the apiserver sends (projected token
volume, PVC, tolerations, managedFields, userInfo), with Bitnami ZooKeeper as the app.
"""

from __future__ import annotations

import copy
from typing import Any

from webhook.core.inputs import pod_review


def _toleration(key: str) -> dict[str, Any]:
    return {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}


def _container(
    name: str, env_count: int, image: str = "docker.io/bitnami/zookeeper:3.8.1-debian-11-r18"
) -> dict[str, Any]:
    env = [{"name": f"SETTING_{i:04d}", "value": f"value-{i:04d}-" + "x" * 16} for i in range(env_count)]
    env.insert(min(3, len(env)), {"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": "no"})
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/scripts/setup.sh"],
        "env": env,
        "ports": [
            {"name": "client", "containerPort": 2181, "protocol": "TCP"},
            {"name": "follower", "containerPort": 2888, "protocol": "TCP"},
            {"name": "election", "containerPort": 3888, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "livenessProbe": {
            "exec": {"command": ["/bin/bash", "-c", "echo ruok | nc -w 2 localhost 2181 | grep imok"]},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 6,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/bitnami/zookeeper"},
            {
                "name": "kube-api-access-abcde",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"runAsUser": 1001, "runAsNonRoot": True},
    }


def _managed_fields(size: int) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {f"f:SETTING_{i:04d}": {".": {}, "f:name": {}, "f:value": {}} for i in range(size)}
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-22T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"zookeeper"}': {"f:env": fields}}}},
        }
    ]


def statefulset_pod(containers: int = 1, env_count: int = 12, managed_fields: int = 0) -> dict[str, Any]:
    name = "zookeeper-1"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": "zookeeper-",
            "namespace": "data",
            "labels": {
                "app.kubernetes.io/name": "zookeeper",
                "app.kubernetes.io/instance": "my-release",
                "controller-revision-hash": "zookeeper-7d9f8c6b5",
                "statefulset.kubernetes.io/pod-name": name,
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": "zookeeper",
                    "uid": "0b7f4a5e-8a3c-4a56-9f5b-1c2d3e4f5a6b",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "hostname": name,
            "subdomain": "zookeeper-headless",
            "serviceAccountName": "default",
            "containers": [_container("zookeeper" if i == 0 else f"side-{i}", env_count) for i in range(containers)],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}"}},
                {
                    "name": "kube-api-access-abcde",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        ],
                    },
                },
            ],
            "tolerations": [_toleration("node.kubernetes.io/not-ready"), _toleration("node.kubernetes.io/unreachable")],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
        },
    }
    if managed_fields:
        pod["metadata"]["managedFields"] = _managed_fields(managed_fields)
    return pod


def injected(pod: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["metadata"].setdefault("annotations", {})["sidecar.istio.io/status"] = (
        '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"],"revision":"default"}'
    )
    pod["spec"]["initContainers"] = [
        {
            "name": "istio-init",
            "image": "docker.io/istio/proxyv2:1.9.5",
            "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                     "-x", "", "-b", "*", "-d", "15090,15021,15020"],
        }
    ]  # fmt: skip
    pod["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.9.5", "args": ["proxy", "sidecar"]}
    )
    return pod


def bodies() -> dict[str, dict[str, Any]]:
    """Named AdmissionReview bodies, smallest first."""
    return {
        "typical": pod_review(statefulset_pod()),
        "3-containers": pod_review(statefulset_pod(containers=3, env_count=20)),
        "injected-istio": pod_review(injected(statefulset_pod())),
        "bitnami-managedFields": pod_review(statefulset_pod(env_count=40, managed_fields=260)),
        "1000-env": pod_review(statefulset_pod(env_count=1000)),
    }
