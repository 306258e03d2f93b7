"""The server's API credentials: in-cluster service account or a kubeconfig, errors that name the file."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
import yaml

from webhook.core import certs
from webhook.server.apiaccess import ApiAccessError, from_kubeconfig, in_cluster


def _kubeconfig(tmp_path: Path, **user: str) -> Path:
    ca = certs.make_ca(dt.datetime.now(dt.UTC))
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "here",
        "contexts": [{"name": "here", "context": {"cluster": "local", "user": "me"}}],
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority-data": base64.b64encode(ca.cert).decode(),
                },
            }
        ],
        "users": [{"name": "me", "user": dict(user)}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_no_service_account_means_no_in_cluster_access(tmp_path: Path) -> None:
    assert in_cluster({}, tmp_path) is None
    assert in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path) is None, "no token mounted"


def test_the_service_account_token_is_read_for_every_request(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(certs.make_ca(dt.datetime.now(dt.UTC)).cert)
    (tmp_path / "token").write_text("first\n")
    access = in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)
    assert access is not None and access.base_url == "https://10.0.0.1:443"
    assert access.headers() == {"Authorization": "Bearer first"}
    (tmp_path / "token").write_text("rotated")
    assert access.headers() == {"Authorization": "Bearer rotated"}


def test_a_kubeconfig_with_a_token(tmp_path: Path) -> None:
    access = from_kubeconfig(str(_kubeconfig(tmp_path, token="abc")))
    assert access.base_url == "https://127.0.0.1:6443" and access.headers() == {"Authorization": "Bearer abc"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("- a list\n", "is not a mapping", id="not-a-mapping"),
        pytest.param("current-context: gone\ncontexts: []\n", "no context named 'gone'", id="no-context"),
    ],
)
def test_kubeconfig_mistakes_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(ApiAccessError, match=message) as caught:
        from_kubeconfig(str(path))
    assert str(path) in str(caught.value)
    with pytest.raises(ApiAccessError, match="cannot read kubeconfig"):
        from_kubeconfig(str(tmp_path / "missing"))
