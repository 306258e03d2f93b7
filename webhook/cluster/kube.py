"""Edge: the few Kubernetes API calls the CLI makes (register, unregister, enable, disable, status).

Thin on purpose: the objects come from :mod:`webhook.cluster.manifests` as plain dicts and go out as they
are (never through the client's model classes, which drop fields they do not know); answers come
back as plain dicts too. Every failure becomes a :class:`KubeError` whose message says what to do.
Never used on the request path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error

from webhook.cluster.manifests import ENABLE_LABEL, ENABLE_VALUE, WEBHOOK_CONFIGURATION_NAME, namespace_label_patch

T = TypeVar("T")


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """From --kubeconfig / $KUBECONFIG / ~/.kube/config, else in-cluster."""
    try:
        if kubeconfig or context:
            return cast(client.ApiClient, config.new_client_from_config(config_file=kubeconfig, context=context))
        try:
            return cast(client.ApiClient, config.new_client_from_config())
        except (ConfigException, OSError):
            config.load_incluster_config()
            return client.ApiClient()
    except (ConfigException, OSError) as exc:
        raise KubeError(
            f"no usable kubeconfig ({exc}); set KUBECONFIG, pass --kubeconfig FILE, or run inside a pod"
        ) from exc


def _call(what: str, host: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ApiException as exc:
        raise KubeError(explain(what, exc), exc.status or 0) from exc
    except (Urllib3Error, OSError) as exc:
        raise _unreachable(what, host, exc) from exc


def translated(what: str, api: client.ApiClient, fn: Callable[[], T]) -> T:
    """``fn()`` (a call through ``api``), its API and connection errors turned into a
    :class:`KubeError` that says what to do."""
    return _call(what, _host(api), fn)


def _unreachable(what: str, host: str, exc: Exception) -> KubeError:
    return KubeError(
        f"cannot reach the API server at {host} to {what} ({type(exc).__name__}); "
        "check the kubeconfig's server address and that the cluster is up"
    )


def explain(what: str, exc: ApiException) -> str:
    reason = ""
    try:
        reason = json.loads(exc.body or "{}").get("message", "")
    except ValueError:
        reason = (exc.body or "")[:200] if isinstance(exc.body, str) else ""
    detail = f": {reason}" if reason else ""
    if exc.status == 401:
        return f"cannot {what}: the API server rejected your credentials (401){detail}; refresh your kubeconfig"
    if exc.status == 403:
        return (
            f"cannot {what}: forbidden (403){detail}; ask a cluster admin for RBAC rights "
            "(see deploy/ for the roles stsmesh needs)"
        )
    if exc.status == 404:
        return f"cannot {what}: not found (404){detail}"
    return f"cannot {what}: the API server answered {exc.status} {exc.reason}{detail}"


def _host(api: client.ApiClient) -> str:
    return str(getattr(api.configuration, "host", "?"))


def _raw_call(fn: Callable[[], Any]) -> dict[str, Any]:
    return _raw(fn())


def _raw(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


def apply_webhook_configuration(api: client.ApiClient, body: dict[str, Any]) -> str:
    """Create, or replace when it exists (keeping its resourceVersion); returns created/updated."""
    admission = client.AdmissionregistrationV1Api(api)
    name = body["metadata"]["name"]
    host = _host(api)
    try:
        # The client sends plain dicts as they are; its model classes would drop unknown fields.
        admission.create_mutating_webhook_configuration(body=cast(Any, body), _preload_content=False)
        return "created"
    except ApiException as exc:
        if exc.status != 409:
            raise KubeError(explain(f"create MutatingWebhookConfiguration {name}", exc), exc.status) from exc
    except (Urllib3Error, OSError) as exc:
        raise _unreachable(f"create MutatingWebhookConfiguration {name}", host, exc) from exc
    current = get_webhook_configuration(api, name) or {}
    version = current.get("metadata", {}).get("resourceVersion")
    updated = dict(body, metadata=dict(body["metadata"], resourceVersion=version))
    _call(
        f"update MutatingWebhookConfiguration {name}",
        host,
        lambda: admission.replace_mutating_webhook_configuration(
            name=name, body=cast(Any, updated), _preload_content=False
        ),
    )
    return "updated"


def get_webhook_configuration(api: client.ApiClient, name: str = WEBHOOK_CONFIGURATION_NAME) -> dict[str, Any] | None:
    admission = client.AdmissionregistrationV1Api(api)
    try:
        return _raw(admission.read_mutating_webhook_configuration(name=name, _preload_content=False))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise KubeError(explain(f"read MutatingWebhookConfiguration {name}", exc), exc.status) from exc
    except (Urllib3Error, OSError) as exc:
        raise _unreachable(f"read MutatingWebhookConfiguration {name}", _host(api), exc) from exc


def delete_webhook_configuration(api: client.ApiClient, name: str = WEBHOOK_CONFIGURATION_NAME) -> bool:
    admission = client.AdmissionregistrationV1Api(api)
    try:
        admission.delete_mutating_webhook_configuration(name=name, _preload_content=False)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise KubeError(explain(f"delete MutatingWebhookConfiguration {name}", exc), exc.status) from exc


def set_namespace_enabled(api: client.ApiClient, namespace: str, enabled: bool) -> None:
    core = client.CoreV1Api(api)
    verb = "enable" if enabled else "disable"
    _call(
        f"{verb} namespace {namespace}",
        _host(api),
        lambda: core.patch_namespace(name=namespace, body=namespace_label_patch(enabled), _preload_content=False),
    )


def enabled_namespaces(api: client.ApiClient) -> list[str]:
    core = client.CoreV1Api(api)
    selector = f"{ENABLE_LABEL}={ENABLE_VALUE}"
    data = _call(
        "list namespaces",
        _host(api),
        lambda: _raw(core.list_namespace(label_selector=selector, _preload_content=False)),
    )
    return sorted(item["metadata"]["name"] for item in data.get("items", []))


def statefulset_pods(api: client.ApiClient, namespaces: list[str] | None) -> list[dict[str, Any]]:
    """Pods (as plain dicts) in ``namespaces`` (None: all) that carry the StatefulSet pod-name label."""
    core = client.CoreV1Api(api)
    selector = "statefulset.kubernetes.io/pod-name"
    if namespaces is None:
        data = _call(
            "list pods",
            _host(api),
            lambda: _raw(core.list_pod_for_all_namespaces(label_selector=selector, _preload_content=False)),
        )
        return list(data.get("items", []))
    pods: list[dict[str, Any]] = []
    for namespace in namespaces:
        listing = partial(core.list_namespaced_pod, namespace, label_selector=selector, _preload_content=False)
        data = _call(f"list pods in {namespace}", _host(api), partial(_raw_call, listing))
        pods.extend(data.get("items", []))
    return pods


def namespace_metadata(api: client.ApiClient) -> dict[str, dict[str, Any]]:
    """Every namespace's metadata by name (labels and annotations say what the mesh injects)."""
    core = client.CoreV1Api(api)
    data = _call("list namespaces", _host(api), lambda: _raw(core.list_namespace(_preload_content=False)))
    return {item["metadata"]["name"]: item["metadata"] for item in data.get("items", [])}
