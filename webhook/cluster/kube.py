"""Edge: the few Kubernetes API calls the CLI makes (register, unregister, enable, disable, status).

Thin on purpose: the objects come from :mod:`webhook.cluster.manifests` as plain dicts and go out as they
are (never through the client's model classes, which drop fields they do not know); answers come
back as plain dicts too. Every failure becomes a :class:`KubeError` whose message says what to do.
Never used on the request path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InsecureRequestWarning

from webhook.cluster.manifests import ENABLE_LABEL, ENABLE_VALUE, WEBHOOK_CONFIGURATION_NAME, namespace_label_patch
from webhook.core.shapes import POD_NAME_LABEL

T = TypeVar("T")


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


CONNECT_RETRIES = 1
"""urllib3 retries a refused connection 3 times by default, each with a warning: the CLI tries once
more, then says in one line that the cluster cannot be reached."""


def api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """From --kubeconfig / $KUBECONFIG / ~/.kube/config, else in-cluster."""
    configuration = client.Configuration()
    try:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except (ConfigException, OSError):
            if kubeconfig or context:
                raise
            config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        raise KubeError(
            f"no usable kubeconfig ({exc}); set KUBECONFIG, pass --kubeconfig FILE, or run inside a pod"
        ) from exc
    configuration.retries = CONNECT_RETRIES
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # its retry warnings; we say it once
    if not configuration.verify_ssl:  # the kubeconfig's insecure-skip-tls-verify: chosen, and kubectl is quiet too
        urllib3.disable_warnings(InsecureRequestWarning)
    return client.ApiClient(configuration)


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
        f"cannot reach the API server at {host} to {what} ({_root_cause(exc)}); "
        "check the kubeconfig's server address and that the cluster is up"
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost reason urllib3 wraps (``connection refused``, a TLS failure, a timeout)."""
    seen: BaseException | None = exc
    while seen is not None:
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
            continue
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        cause = seen.__cause__ or seen.__context__
        if cause is None:
            break
        seen = cause
    message = str(seen or exc).split(": ")[-1]
    return message[:120] or type(exc).__name__


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


FIELD_MANAGER = "stsmesh"
"""Our field manager for server-side apply: the fields others own (cert-manager's caBundle and
``inject-ca-from`` annotation, labels added by others) are theirs and survive our apply."""
APPLY_PATCH = "application/apply-patch+yaml"


def apply_webhook_configuration(api: client.ApiClient, body: dict[str, Any]) -> str:
    """Server-side apply ``body`` as :data:`FIELD_MANAGER`; returns created/updated.

    Forced: the fields in ``body`` are stsmesh's to set, even where another manager set them last
    (an older ``register`` without a manager, ``kubectl apply``); fields absent from ``body`` (no
    ``caBundle`` when ``--ca-file ''`` leaves it to cert-manager) stay with their owners."""
    admission = client.AdmissionregistrationV1Api(api)
    name = body["metadata"]["name"]
    existed = get_webhook_configuration(api, name) is not None
    translated(
        f"apply MutatingWebhookConfiguration {name}",
        api,
        lambda: admission.patch_mutating_webhook_configuration(
            name=name,
            body=cast(Any, body),
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY_PATCH,
            _preload_content=False,
        ),
    )
    return "updated" if existed else "created"


def get_webhook_configuration(api: client.ApiClient, name: str = WEBHOOK_CONFIGURATION_NAME) -> dict[str, Any] | None:
    admission = client.AdmissionregistrationV1Api(api)
    return _unless_missing(
        f"read MutatingWebhookConfiguration {name}",
        api,
        lambda: _raw(admission.read_mutating_webhook_configuration(name=name, _preload_content=False)),
    )


def delete_webhook_configuration(api: client.ApiClient, name: str = WEBHOOK_CONFIGURATION_NAME) -> bool:
    admission = client.AdmissionregistrationV1Api(api)
    deleted = _unless_missing(
        f"delete MutatingWebhookConfiguration {name}",
        api,
        lambda: admission.delete_mutating_webhook_configuration(name=name, _preload_content=False) or True,
    )
    return deleted is not None


def _unless_missing(what: str, api: client.ApiClient, fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when the object does not exist (404); other failures as :func:`translated`."""
    try:
        return translated(what, api, fn)
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise


def set_namespace_enabled(api: client.ApiClient, namespace: str, enabled: bool) -> None:
    """Set or remove our label, and nothing else, as :data:`FIELD_MANAGER`. A merge patch, not an
    apply: an apply would create a namespace whose name was mistyped."""
    core = client.CoreV1Api(api)
    verb = "enable" if enabled else "disable"
    translated(
        f"{verb} namespace {namespace}",
        api,
        lambda: core.patch_namespace(
            name=namespace,
            body=namespace_label_patch(enabled),
            field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json",
            _preload_content=False,
        ),
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
    selector = POD_NAME_LABEL
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


# --- reads for `stsmesh check` ----------------------------------------------------------------


def webhook_configurations(api: client.ApiClient) -> list[dict[str, Any]]:
    admission = client.AdmissionregistrationV1Api(api)
    data = translated(
        "list MutatingWebhookConfigurations",
        api,
        lambda: _raw(admission.list_mutating_webhook_configuration(_preload_content=False)),
    )
    return list(data.get("items", []))


def read_namespaced(api: client.ApiClient, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """A Secret, Endpoints or Deployment as a plain dict, or None when it does not exist."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    readers: dict[str, Callable[..., Any]] = {
        "Secret": core.read_namespaced_secret,
        "Endpoints": core.read_namespaced_endpoints,
        "Deployment": apps.read_namespaced_deployment,
    }
    read = readers[kind]
    return _unless_missing(
        f"read {kind} {namespace}/{name}", api, lambda: _raw(read(name, namespace, _preload_content=False))
    )


def labelled(api: client.ApiClient, kind: str, selector: str) -> list[dict[str, Any]]:
    """Deployments or DaemonSets in every namespace with ``selector``."""
    apps = client.AppsV1Api(api)
    listing = {
        "Deployment": apps.list_deployment_for_all_namespaces,
        "DaemonSet": apps.list_daemon_set_for_all_namespaces,
    }[kind]
    data = translated(f"list {kind}s", api, lambda: _raw(listing(label_selector=selector, _preload_content=False)))
    return list(data.get("items", []))


def service_get(api: client.ApiClient, namespace: str, service: str, port: int, path: str) -> str | None:
    """GET ``path`` from a Service through the apiserver's proxy (HTTPS); None when nothing answers."""
    core = client.CoreV1Api(api)
    try:
        response: Any = core.connect_get_namespaced_service_proxy_with_path(
            f"https:{service}:{port}", namespace, path.lstrip("/"), _preload_content=False, _request_timeout=5
        )
    except (ApiException, Urllib3Error, OSError):
        return None
    return str(response.data.decode("utf-8", "replace"))


def may(api: client.ApiClient, user: str, verb: str, group: str, resource: str) -> bool:
    """Whether ``user`` may ``verb`` ``resource`` cluster-wide (a SubjectAccessReview)."""
    authorization = client.AuthorizationV1Api(api)
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": {"verb": verb, "group": group, "resource": resource}},
    }
    data = translated(
        f"review the rights of {user}",
        api,
        lambda: _raw(authorization.create_subject_access_review(cast(Any, body), _preload_content=False)),
    )
    return bool(data.get("status", {}).get("allowed"))
