"""Pure: the Kubernetes objects stsmesh installs, as plain dicts (``register``, ``deploy/``, tests).

The MutatingWebhookConfiguration is named ``00-stsmesh``: the apiserver runs mutating webhook
configurations in the order of their names, and our annotations must be on the pod before the mesh
injector reads them (``istio-sidecar-injector*``, ``istio-revision-tag-*``,
``linkerd-proxy-injector-webhook-config`` all sort after a leading digit). ``reinvocationPolicy:
IfNeeded`` gives us a second look after the injector ran, where the injected init container is
patched to match. Selection, cheapest first: namespaceSelector (our enable label, never
kube-system, kube-node-lease or the webhook's own namespace), objectSelector (StatefulSet pods
carry ``statefulset.kubernetes.io/pod-name``; ``stsmesh.io/skip=true`` opts out), rules (pods,
CREATE only). failurePolicy Ignore by default: a fixer must never block pod creation.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.core.shapes import POD_NAME_LABEL

WEBHOOK_CONFIGURATION_NAME = "00-stsmesh"
WEBHOOK_NAME = "pods.stsmesh.io"
ENABLE_LABEL = "stsmesh.io/enabled"
ENABLE_VALUE = "true"
DEFAULT_NAMESPACE = "stsmesh"
DEFAULT_SERVICE = "stsmesh"
ALWAYS_EXCLUDED = ("kube-system", "kube-node-lease")
MANAGED_BY = {"app.kubernetes.io/name": "stsmesh", "app.kubernetes.io/managed-by": "stsmesh"}


@dataclass(frozen=True)
class Target:
    """Where the apiserver calls us: a Service (in cluster) or a URL (out-of-cluster development)."""

    service_namespace: str = DEFAULT_NAMESPACE
    service_name: str = DEFAULT_SERVICE
    service_port: int = 443
    path: str = "/mutate"
    url: str = ""

    def client_config(self, ca_bundle: bytes) -> dict[str, Any]:
        config: dict[str, Any]
        if self.url:
            config = {"url": self.url}
        else:
            config = {
                "service": {
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "path": self.path,
                    "port": self.service_port,
                }
            }
        if ca_bundle:
            config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
        return config


def parse_service(text: str) -> tuple[str, str]:
    """``NS/NAME`` → (namespace, name)."""
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name:
        raise ValueError(f"--service must look like NAMESPACE/NAME, got {text!r}")
    return namespace, name


def validate_url(url: str) -> None:
    """What the apiserver accepts in ``clientConfig.url`` (https, no user info, query or fragment)."""
    if not url.startswith("https://"):
        raise ValueError(f"--url must start with https:// (the apiserver only calls webhooks over TLS), got {url!r}")
    rest = url[len("https://") :]
    if "@" in rest.split("/", 1)[0] or "?" in url or "#" in url:
        raise ValueError("--url must not contain user info, a query or a fragment")


def webhook_configuration(
    target: Target,
    ca_bundle: bytes,
    *,
    webhook_namespace: str = DEFAULT_NAMESPACE,
    failure_policy: Literal["Ignore", "Fail"] = "Ignore",
    timeout_seconds: int = 5,
    excluded_namespaces: Sequence[str] = (),
) -> dict[str, Any]:
    excluded = list(dict.fromkeys([*ALWAYS_EXCLUDED, webhook_namespace, *excluded_namespaces]))
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIGURATION_NAME, "labels": dict(MANAGED_BY)},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": target.client_config(ca_bundle),
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": ENABLE_LABEL, "operator": "In", "values": [ENABLE_VALUE]},
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded},
                    ]
                },
                "objectSelector": {
                    "matchExpressions": [
                        {"key": POD_NAME_LABEL, "operator": "Exists"},
                        {"key": "stsmesh.io/skip", "operator": "NotIn", "values": ["true"]},
                    ]
                },
                "failurePolicy": failure_policy,
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": timeout_seconds,
                "reinvocationPolicy": "IfNeeded",
            }
        ],
    }


def namespace_label_patch(enabled: bool) -> dict[str, Any]:
    """Merge patch that sets (or removes, with None) our enable label on a Namespace."""
    return {"metadata": {"labels": {ENABLE_LABEL: ENABLE_VALUE if enabled else None}}}


def tls_secret(name: str, namespace: str, cert: bytes, key: bytes, ca: bytes) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": {"tls.crt": b64(cert), "tls.key": b64(key), "ca.crt": b64(ca)},
    }


def ca_bundle_of(configuration: dict[str, Any]) -> bytes:
    """The decoded caBundle of our webhook entry in a configuration (empty when absent)."""
    for webhook in configuration.get("webhooks") or []:
        if isinstance(webhook, dict) and webhook.get("name") == WEBHOOK_NAME:
            encoded = (webhook.get("clientConfig") or {}).get("caBundle") or ""
            return base64.b64decode(encoded) if encoded else b""
    return b""
