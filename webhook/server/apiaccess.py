"""Edge: how the server reaches the Kubernetes API for its watches — in-cluster service account
credentials, or a kubeconfig file — without the ``kubernetes`` client (the server stays small: the
client costs ~30 MiB and is blocking).

The service account token is read again for every request, because the kubelet rotates projected
tokens. A kubeconfig's embedded client certificate is written to a private temp file only long
enough for ``load_cert_chain`` to read it.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ApiAccessError(ValueError):
    """The credentials cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ApiAccess:
    """Where the API is and how to authenticate: ``ssl`` trusts its CA (and may hold a client
    certificate); ``token`` or ``token_file`` give a bearer token."""

    base_url: str
    ssl: ssl.SSLContext
    token: str = ""
    token_file: str = ""
    origin: str = ""

    def headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file:
            try:
                token = Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError:
                token = ""
        return {"Authorization": f"Bearer {token}"} if token else {}


def in_cluster(environ: Mapping[str, str], root: Path = SERVICE_ACCOUNT) -> ApiAccess | None:
    """The pod's own service account, when the server runs in a cluster with a token mounted."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
    token_file, ca_file = root / "token", root / "ca.crt"
    if not host or not token_file.is_file() or not ca_file.is_file():
        return None
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise ApiAccessError(f"cannot use the service account's CA {ca_file}: {exc}") from exc
    host = f"[{host}]" if ":" in host else host
    return ApiAccess(f"https://{host}:{port}", context, token_file=str(token_file), origin="in-cluster service account")


def from_kubeconfig(path: str) -> ApiAccess:
    """The current context of a kubeconfig: server, CA, and a token or a client certificate."""
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ApiAccessError(f"cannot read kubeconfig {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ApiAccessError(f"kubeconfig {path} is not a mapping")
    context = _named(config, "contexts", config.get("current-context"), "context", path)
    cluster = _named(config, "clusters", context.get("cluster"), "cluster", path)
    user = _named(config, "users", context.get("user"), "user", path)
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise ApiAccessError(f"kubeconfig {path}: the cluster's server must be an https:// URL")
    ssl_context = ssl.create_default_context()
    ca = _bytes(cluster, "certificate-authority", path)
    if ca:
        try:
            ssl_context = ssl.create_default_context(cadata=ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise ApiAccessError(f"kubeconfig {path}: the cluster's CA does not load: {exc}") from exc
    cert, key = _bytes(user, "client-certificate", path), _bytes(user, "client-key", path)
    if cert and key:
        _load_client_pair(ssl_context, cert, key)
    token = user.get("token") if isinstance(user.get("token"), str) else ""
    token_file = user.get("tokenFile") if isinstance(user.get("tokenFile"), str) else ""
    return ApiAccess(server.rstrip("/"), ssl_context, str(token), str(token_file), origin=f"kubeconfig {path}")


def _named(config: Mapping[str, Any], section: str, name: object, key: str, path: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            found: dict[str, Any] = entry[key]
            return found
    current = config.get("current-context")
    raise ApiAccessError(f"kubeconfig {path}: no {key} named {name!r} (current-context {current!r})")


def _bytes(section: Mapping[str, Any], field: str, path: str) -> bytes:
    """``<field>-data`` (base64) or the file ``<field>`` names; empty when neither is set."""
    data = section.get(f"{field}-data")
    if isinstance(data, str) and data:
        try:
            return base64.b64decode(data)
        except (ValueError, binascii.Error) as exc:
            raise ApiAccessError(f"kubeconfig {path}: {field}-data is not base64") from exc
    file = section.get(field)
    if isinstance(file, str) and file:
        try:
            return (Path(path).parent / file).read_bytes()
        except OSError as exc:
            raise ApiAccessError(f"kubeconfig {path}: cannot read {field} {file}: {exc.strerror}") from exc
    return b""


def _load_client_pair(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="stsmesh-kubeconfig-") as directory:
        files = []
        for name, data in (("client.crt", cert), ("client.key", key)):
            file = Path(directory) / name
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            files.append(str(file))
        try:
            context.load_cert_chain(files[0], files[1])
        except ssl.SSLError as exc:
            raise ApiAccessError(f"the kubeconfig's client certificate and key do not load: {exc}") from exc
