"""Pure: the per-pod options — what the user asked for, and the checks that say what to do instead.

:class:`PerPodOptions` with its ``validate()``; host patterns (``{pod}.example.com``) and their
expansion; gateway selectors (``KEY=VALUE[,KEY=VALUE]``); and the DNS-1123/DNS-1035 name checks the
other per-pod modules use. Every problem is a ``ValueError`` (a usage problem) saying what to give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from webhook.core.commalist import key_values
from webhook.core.mesh import MeshHint

SERVICE_TYPES = ("ClusterIP", "LoadBalancer", "NodePort")
OUTSIDE_SERVICE_TYPES = ("LoadBalancer", "NodePort")

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
# The label Istio's default ingress gateway pods carry (the Gateway examples in istio/api use it).
DEFAULT_GATEWAY_SELECTOR: Mapping[str, str] = {"istio": "ingressgateway"}
HOST_PLACEHOLDERS = ("pod", "ordinal", "statefulset", "namespace")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class PerPodOptions:
    """What the user asked for. ``validate()`` raises ValueError with a message saying what to do."""

    hint: MeshHint = field(default_factory=MeshHint)
    service_type: str = "ClusterIP"
    host_pattern: str | None = None
    gateway_selector: Mapping[str, str] | None = None
    tcp_gateway_port_base: int | None = None
    force_service_entry: bool = False
    namespace: str | None = None
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN

    def validate(self) -> None:
        if self.service_type not in SERVICE_TYPES:
            raise ValueError(f"unknown service type {self.service_type!r}; use one of {', '.join(SERVICE_TYPES)}")
        if self.namespace is not None and not is_dns1123_label(self.namespace):
            raise ValueError(
                f"--namespace {self.namespace!r} is not a valid namespace name (lowercase letters, digits and '-')"
            )
        if not is_dns1123_subdomain(self.cluster_domain):
            raise ValueError(
                f"--cluster-domain {self.cluster_domain!r} is not a DNS name; the default is cluster.local"
            )
        if self.hint.mesh in ("linkerd", "none") and self.force_service_entry:
            raise ValueError(f"--force-service-entry renders an Istio ServiceEntry; the mesh is {self.hint.mesh}")
        if self.host_pattern is None:
            if self.gateway_selector is not None:
                raise ValueError("--gateway-selector only applies with --host-pattern (the Gateway it selects for)")
            if self.tcp_gateway_port_base is not None:
                raise ValueError("--tcp-gateway-port-base only applies with --host-pattern (north-south TCP)")
            return
        if self.hint.mesh in ("linkerd", "none"):
            raise ValueError(
                f"--host-pattern renders an Istio Gateway and VirtualService; the mesh is {self.hint.mesh}:"
                " use --service-type LoadBalancer (or NodePort) to reach each pod from outside instead"
            )
        validate_host_pattern(self.host_pattern)
        if self.gateway_selector is not None:
            validate_selector(self.gateway_selector)
        if self.tcp_gateway_port_base is not None and not 1 <= self.tcp_gateway_port_base <= 65535:
            raise ValueError(
                f"--tcp-gateway-port-base must be a port number (1-65535), got {self.tcp_gateway_port_base}"
            )

    @property
    def selector(self) -> Mapping[str, str]:
        return self.gateway_selector if self.gateway_selector is not None else DEFAULT_GATEWAY_SELECTOR


def is_dns1123_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS1123_LABEL.match(text))


def is_dns1035_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS1035_LABEL.match(text))


def is_dns1123_subdomain(text: str) -> bool:
    return 0 < len(text) <= 253 and all(is_dns1123_label(part) for part in text.split("."))


def validate_host_pattern(pattern: str) -> None:
    """A pattern must name each pod apart ({pod} or {ordinal}) and expand to a DNS name."""
    keys = _PLACEHOLDER.findall(pattern)
    unknown = [k for k in keys if k not in HOST_PLACEHOLDERS]
    if unknown:
        raise ValueError(
            f"--host-pattern {pattern!r}: unknown placeholder {{{unknown[0]}}}; use"
            f" {', '.join('{' + k + '}' for k in HOST_PLACEHOLDERS)}"
        )
    if "pod" not in keys and "ordinal" not in keys:
        raise ValueError(
            f"--host-pattern {pattern!r} gives every pod the same host; include {{pod}} or {{ordinal}},"
            " e.g. '{pod}.example.com' or 'zk-{ordinal}.example.com'"
        )
    expand_host(pattern, pod="web-0", ordinal=0, statefulset="web", namespace="default")


def expand_host(pattern: str, *, pod: str, ordinal: int, statefulset: str, namespace: str) -> str:
    values = {"pod": pod, "ordinal": str(ordinal), "statefulset": statefulset, "namespace": namespace}

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"--host-pattern {pattern!r}: unknown placeholder {{{key}}}")
        return values[key]

    host = _PLACEHOLDER.sub(substitute, pattern)
    if not is_dns1123_subdomain(host):
        raise ValueError(
            f"--host-pattern {pattern!r} gives {host!r}, not a DNS name (lowercase letters, digits, '-' and"
            " '.'; no wildcard: each pod needs a host of its own)"
        )
    return host


def parse_selector(text: str) -> dict[str, str]:
    """``"istio=ingressgateway,app=edge"`` → labels; ValueError saying what is wrong."""
    try:
        selector = key_values(text)
    except ValueError as exc:
        raise ValueError(f"--gateway-selector {text!r}: {exc} (e.g. istio=ingressgateway)") from exc
    if not selector:
        raise ValueError("--gateway-selector is empty; give KEY=VALUE[,KEY=VALUE], e.g. istio=ingressgateway")
    validate_selector(selector)
    return selector


def validate_selector(selector: Mapping[str, str]) -> None:
    if not selector:
        raise ValueError("the gateway selector is empty: a Gateway must select its gateway pods")
    for key, value in selector.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not is_dns1123_subdomain(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
            raise ValueError(f"gateway selector key {key!r} is not a valid label key")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"gateway selector value {value!r} (key {key}) is not a valid label value")
