"""The app catalogue: image parsing, matching specificity, user overrides, strict validation."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.cli.main import main
from webhook.core.catalogue import Catalogue, image_repository
from webhook.core.catalogue.load import builtin_catalogue, dump, load_builtin_text, parse_catalogue, with_user_catalogue
from webhook.core.catalogue.schema import CatalogueError
from webhook.core.rules.registry import FIX_KINDS, RULES


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        pytest.param("zookeeper", ("zookeeper",), id="bare-name"),
        pytest.param("zookeeper:3.7.1", ("zookeeper",), id="tag"),
        pytest.param("library/zookeeper:3.7.1", ("zookeeper",), id="library-prefix"),
        pytest.param("docker.io/library/zookeeper:3.7.1", ("zookeeper",), id="docker-io-library"),
        pytest.param("docker.io/bitnami/zookeeper:3.7.0-debian-10-r27", ("bitnami", "zookeeper"), id="bitnami"),
        pytest.param("bitnami/zookeeper", ("bitnami", "zookeeper"), id="docker-hub-user"),
        pytest.param(
            "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10", ("kubernetes-zookeeper",), id="registry-k8s-io"
        ),
        pytest.param("gcr.io/google-samples/xtrabackup:1.0", ("google-samples", "xtrabackup"), id="gcr"),
        pytest.param("quay.io/coreos/etcd:v3.5.9", ("coreos", "etcd"), id="quay"),
        pytest.param("localhost/zookeeper", ("zookeeper",), id="localhost-registry"),
        pytest.param("localhost:5000/bitnami/zookeeper:3.7", ("bitnami", "zookeeper"), id="localhost-with-port"),
        pytest.param("registry:5000/zookeeper:3.7", ("zookeeper",), id="registry-host-with-port-no-dot"),
        pytest.param("10.0.0.5:5000/team/app:1", ("team", "app"), id="ip-registry-with-port"),
        pytest.param("mirror.example.com/proxy/bitnami/redis:7", ("proxy", "bitnami", "redis"), id="mirror-path"),
        pytest.param("bitnami/redis@sha256:" + "0" * 64, ("bitnami", "redis"), id="digest"),
        pytest.param("bitnami/redis:7.0@sha256:" + "0" * 64, ("bitnami", "redis"), id="tag-and-digest"),
        pytest.param("Docker.IO/Bitnami/Redis:7", ("bitnami", "redis"), id="case-folded"),
        pytest.param(
            "docker.elastic.co/elasticsearch/elasticsearch:8.8.0", ("elasticsearch", "elasticsearch"), id="elastic"
        ),
        pytest.param("", (), id="empty"),
        pytest.param(None, (), id="none"),
        pytest.param(["bitnami/redis"], (), id="not-a-string"),
    ],
)
def test_image_repository(image: Any, repository: tuple[str, ...]) -> None:
    assert image_repository(image) == repository


def _pod(*images: str, init: tuple[str, ...] = (), **container: Any) -> dict[str, Any]:
    return {
        "spec": {
            "initContainers": [{"name": f"init{i}", "image": image} for i, image in enumerate(init)],
            "containers": [{"name": f"c{i}", "image": image, **container} for i, image in enumerate(images)],
        }
    }


@pytest.mark.parametrize(
    ("image", "app_id"),
    [
        pytest.param("docker.io/bitnami/zookeeper:3.7.0", "zookeeper-bitnami", id="bitnami-beats-official"),
        pytest.param("zookeeper:3.7.1", "zookeeper-official", id="official"),
        pytest.param("registry.example.com/mirror/bitnami/zookeeper:3.7", "zookeeper-bitnami", id="bitnami-mirror"),
        pytest.param("someone/zookeeper:3.7", "zookeeper-official", id="other-org-falls-back-to-official"),
        pytest.param("registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10", "zookeeper-k8s-tutorial", id="k8s-tutorial"),
        pytest.param(
            "k8s.gcr.io/google_containers/kubernetes-zookeeper:1.0", "zookeeper-k8s-tutorial", id="old-tutorial-path"
        ),
        pytest.param("docker.io/bitnami/redis-cluster:7.0.11", "redis-cluster-bitnami", id="redis-cluster-not-redis"),
        pytest.param("docker.io/bitnami/redis:7.0.11", "redis-bitnami", id="bitnami-redis"),
        pytest.param("redis:7", "redis-official", id="official-redis"),
        pytest.param(
            "docker.elastic.co/elasticsearch/elasticsearch:8.8.0", "elasticsearch-official", id="elastic-registry"
        ),
        pytest.param("docker.io/bitnami/elasticsearch:8.8.0", "elasticsearch-bitnami", id="bitnami-elasticsearch"),
        pytest.param("docker.io/bitnami/etcd:3.5.9", "etcd-bitnami", id="bitnami-etcd"),
        pytest.param("quay.io/coreos/etcd:v3.5.9", "etcd-official", id="coreos-etcd"),
        pytest.param("registry.k8s.io/etcd:3.5.9-0", "etcd-official", id="k8s-etcd"),
        pytest.param("mongo:6.0.6", "mongodb-official", id="mongo"),
        pytest.param("docker.io/bitnami/mongodb:6.0.6", "mongodb-bitnami", id="bitnami-mongodb"),
        pytest.param("quay.io/thanos/thanos:v0.31.0", "thanos", id="thanos"),
        pytest.param("prom/prometheus:v2.44.0", "prometheus", id="prometheus"),
        pytest.param("apache/nifi:1.23.2", "nifi", id="nifi"),
        pytest.param("confluentinc/cp-kafka:7.4.0", "kafka", id="confluent-kafka"),
    ],
)
def test_builtin_match_picks_the_most_specific_app(image: str, app_id: str) -> None:
    (match,) = builtin_catalogue().match(_pod(image))
    assert (match.app.id, match.ref.list_name, match.ref.index, match.container_name) == (app_id, "containers", 0, "c0")


@pytest.mark.parametrize(
    "image",
    [
        "quay.io/rhdevelopers/quarkus-demo:v1",
        "docker.io/istio/proxyv2:1.9.5",
        "cr.l5d.io/linkerd/proxy:stable-2.10.2",
        "docker.io/bitnami/bitnami-shell:11",
        "bitnami/zookeeper-exporter:1",
        "zookeeperx:1",
        "",
    ],
)
def test_builtin_match_ignores_other_images(image: str) -> None:
    assert builtin_catalogue().match(_pod(image)) == []


def test_match_covers_init_containers_and_keeps_positions() -> None:
    pod = _pod(
        "mysql:5.7", "gcr.io/google-samples/xtrabackup:1.0", init=("busybox", "gcr.io/google-samples/xtrabackup:1.0")
    )
    found = [(m.ref.list_name, m.ref.index, m.app.id) for m in builtin_catalogue().match(pod)]
    assert found == [
        ("initContainers", 1, "mysql-clone-from-peer"),
        ("containers", 0, "mysql-official"),
        ("containers", 1, "mysql-clone-from-peer"),
    ]


def test_match_survives_odd_shapes() -> None:
    catalogue = builtin_catalogue()
    assert catalogue.match({}) == []
    assert catalogue.match({"spec": None}) == []
    assert catalogue.match({"spec": {"containers": "x", "initContainers": [None, 3]}}) == []
    (match,) = catalogue.match({"spec": {"containers": [{"image": "redis:7"}]}})
    assert match.container_name == "#0"


# --- user catalogues --------------------------------------------------------------------------------


def _parse(text: str) -> tuple[Catalogue, tuple[str, ...]]:
    return parse_catalogue(textwrap.dedent(text), "user.yaml")


USER = """
    apps:
      - id: zookeeper-bitnami
        app: ZooKeeper
        source: our fork of the Bitnami image
        match: {images: [bitnami/zookeeper]}
        fixes:
          - id: our-zk-fix
            why: we set it differently
            env_set: {ZOO_LISTEN_ALLIPS_ENABLED: "true"}
      - id: in-house-db
        app: In-house DB
        source: internal
        match: {images: [acme/db], ports_any: [7777]}
        fixes:
          - {id: db-ports, why: binds the pod IP, skip_ports: {inbound: [7777]}}
    disable: [cassandra]
"""


def test_user_entry_overrides_a_shipped_one_by_id() -> None:
    user, disabled = _parse(USER)
    merged = builtin_catalogue().merged(user, disabled)
    ids = [a.id for a in merged.apps]
    assert ids[:2] == ["zookeeper-bitnami", "in-house-db"], "user entries come first"
    assert ids.count("zookeeper-bitnami") == 1
    (match,) = merged.match(_pod("bitnami/zookeeper:3.7"))
    assert [f.id for f in match.app.fixes] == ["our-zk-fix"]
    assert match.app.source == "our fork of the Bitnami image"


def test_user_disable_and_new_app() -> None:
    user, disabled = _parse(USER)
    assert disabled == ("cassandra",)
    merged = builtin_catalogue().merged(user, disabled)
    assert "cassandra" not in {a.id for a in merged.apps}
    assert merged.match(_pod("bitnami/cassandra:4.1")) == []
    assert len(merged.apps) == len(builtin_catalogue().apps) + 1 - 1  # one new, one disabled, one replaced
    (match,) = merged.match(_pod("acme/db:1", ports=[{"containerPort": 7777}]))
    assert match.app.id == "in-house-db"
    assert merged.match(_pod("acme/db:1", ports=[{"containerPort": 5432}])) == [], "ports_any must hold too"


def test_user_entry_wins_a_tie_with_a_shipped_one() -> None:
    user, _ = _parse(
        """
        apps:
          - id: my-redis
            app: Redis
            source: internal
            match: {images: [bitnami/redis]}
        """
    )
    (match,) = builtin_catalogue().merged(user).match(_pod("bitnami/redis:7"))
    assert match.app.id == "my-redis"


def test_env_condition_adds_specificity() -> None:
    catalogue, _ = _parse(
        """
        apps:
          - {id: generic, app: A, source: s, match: {images: [acme/app]}}
          - {id: clustered, app: A, source: s, match: {images: [acme/app], env_any: [CLUSTER_PORT]}}
        """
    )
    plain = _pod("acme/app:1", env=[{"name": "OTHER", "value": "1"}])
    clustered = _pod("acme/app:1", env=[{"name": "CLUSTER_PORT", "value": "9"}])
    assert [m.app.id for m in catalogue.match(plain)] == ["generic"]
    assert [m.app.id for m in catalogue.match(clustered)] == ["clustered"]


def test_the_shipped_catalogue_is_valid() -> None:
    catalogue, disabled = parse_catalogue(load_builtin_text(), "webhook/core/catalogue/catalogue.yaml")
    assert disabled == ()
    assert catalogue == builtin_catalogue()
    ids = [a.id for a in catalogue.apps]
    assert len(ids) == len(set(ids))
    for app in catalogue.apps:
        assert app.source and app.match.images, app.id
        for fix in app.fixes:
            assert fix.kind in FIX_KINDS and fix.why and fix.inbound, (app.id, fix.id)
            if fix.kind == "skip_ports" and app.id != "mysql-clone-from-peer":
                assert "pod-ip" not in fix.inbound, f"{fix.id}: exclusions are a fallback for localhost forwarding"


def test_empty_user_catalogue() -> None:
    assert parse_catalogue("", "empty.yaml") == (Catalogue(), ())
    assert parse_catalogue("apps: []\n", "empty.yaml") == (Catalogue(), ())


# --- invalid catalogues name the bad key ----------------------------------------------------------


def _app(**overrides: Any) -> str:
    """One app entry as YAML, with ``overrides`` merged into a valid base."""
    base: dict[str, Any] = {
        "id": "x",
        "app": "X",
        "source": "s",
        "match": {"images": ["acme/x"]},
        "fixes": [{"id": "f", "why": "w", "hold": True}],
    }
    base.update(overrides)
    return yaml.safe_dump({"apps": [base]}, sort_keys=False)


def _fix(**fix: Any) -> str:
    return _app(fixes=[{"id": "f", "why": "w", **fix}])


INVALID = [
    pytest.param("apps: [\n", "user.yaml: not valid YAML", id="not-yaml"),
    pytest.param("- a\n- b\n", "user.yaml: the top level must be a mapping", id="top-level-list"),
    pytest.param("appz: []\n", "user.yaml: unknown key(s) appz", id="top-level-typo"),
    pytest.param("apps: {x: 1}\n", "user.yaml: 'apps' must be a list", id="apps-not-a-list"),
    pytest.param("apps: [3]\n", "user.yaml: apps[0]: must be a mapping", id="app-not-a-mapping"),
    pytest.param("disable: cassandra\n", "'disable' must be a list of app ids", id="disable-not-a-list"),
    pytest.param(_app(imagez=["x"]), "apps[0]: unknown key(s) imagez", id="app-key-typo"),
    pytest.param(_app(id=""), "apps[0]: 'id' must be a non-empty string", id="empty-id"),
    pytest.param(_app(source=None), "apps[0] (x): 'source' must be a non-empty string", id="missing-source"),
    pytest.param(_app(match=["acme/x"]), "apps[0] (x): 'match' must be a mapping", id="match-not-a-mapping"),
    pytest.param(_app(match={"image": ["acme/x"]}), "apps[0] (x).match: unknown key(s) image", id="match-key-typo"),
    pytest.param(_app(match={}), "apps[0] (x).match: give at least one of", id="match-empty"),
    pytest.param(_app(match={"images": "acme/x"}), "apps[0] (x).match.images: must be a list", id="images-not-a-list"),
    pytest.param(
        _app(match={"images": ["a"], "ports_any": [0]}),
        "apps[0] (x).match.ports_any: must be a list of port",
        id="port-0",
    ),
    pytest.param(_app(match={"images": ["a"], "ports_any": [True]}), "apps[0] (x).match.ports_any", id="port-bool"),
    pytest.param(_app(fixes={"id": "f"}), "apps[0] (x): 'fixes' must be a list", id="fixes-not-a-list"),
    pytest.param(_fix(hold=True, advice={"text": "t"}), "apps[0] (x).fixes[0]: give exactly one of", id="two-kinds"),
    pytest.param(_fix(), "apps[0] (x).fixes[0]: give exactly one of", id="no-kind"),
    pytest.param(_fix(env_sett={"A": "b"}), "apps[0] (x).fixes[0]: unknown key(s) env_sett", id="kind-typo"),
    pytest.param(
        _fix(env_set={"ZOO_LISTEN_ALLIPS_ENABLED": True}),
        "apps[0] (x).fixes[0].env_set: must map env names to string values (quote yes/no/true)",
        id="env-set-unquoted-yes",
    ),
    pytest.param(_fix(env_set={}), "apps[0] (x).fixes[0].env_set", id="env-set-empty"),
    pytest.param(
        _fix(env_token={"name": "A", "key": "k"}),
        "apps[0] (x).fixes[0].env_token: 'value' must be",
        id="env-token-missing-value",
    ),
    pytest.param(
        _fix(env_token={"name": "A", "key": "k", "value": "v", "sep": " "}),
        "env_token: unknown key(s) sep",
        id="env-token-extra-key",
    ),
    pytest.param(
        _fix(env_url_hosts=[]), "apps[0] (x).fixes[0].env_url_hosts: must be a non-empty list", id="url-hosts-empty"
    ),
    pytest.param(
        _fix(skip_ports={"inbound": [70000]}),
        "apps[0] (x).fixes[0].skip_ports.inbound: must be a list of port",
        id="port-too-big",
    ),
    pytest.param(
        _fix(skip_ports={"in": [7000]}), "apps[0] (x).fixes[0].skip_ports: unknown key(s) in", id="skip-ports-key-typo"
    ),
    pytest.param(
        _fix(skip_ports={"from_env": "PORT"}),
        "skip_ports.from_env: must be a list of strings",
        id="from-env-not-a-list",
    ),
    pytest.param(
        _fix(opaque_ports={"linkerd_before": "2.11"}),
        "apps[0] (x).fixes[0].opaque_ports.ports: give at least one port",
        id="opaque-no-ports",
    ),
    pytest.param(
        _fix(opaque_ports={"ports": [6379], "linkerd_before": 2.11}),
        "opaque_ports.linkerd_before: must be a version string",
        id="linkerd-before-float",
    ),
    pytest.param(_fix(hold=False), "apps[0] (x).fixes[0].hold: must be true", id="hold-false"),
    pytest.param(
        _fix(advice={"args_contain": "--x"}), "apps[0] (x).fixes[0].advice: 'text' must be", id="advice-no-text"
    ),
    pytest.param(
        _fix(hold=True, inbound=["localhost", "podip"]),
        "apps[0] (x).fixes[0].inbound: ['podip'] not among",
        id="bad-inbound-mode",
    ),
    pytest.param(_fix(hold=True, id=""), "apps[0] (x).fixes[0]: 'id' must be a non-empty string", id="fix-without-id"),
    pytest.param(
        "apps:\n"
        "  - {id: a, app: A, source: s, match: {images: [a]}}\n"
        "  - {id: a, app: A, source: s, match: {images: [b]}}\n",
        "user.yaml: app id 'a' appears twice",
        id="duplicate-id",
    ),
    # mistakes that would silently do nothing
    pytest.param(
        _app(match={"images": ["bitnami/zookeeper:3.8"]}), "has a tag or digest; give the repository path", id="tag"
    ),
    pytest.param(_app(match={"images": ["acme/x@sha256:0"]}), "has a tag or digest", id="digest"),
    pytest.param(
        _app(match={"images": ["docker.io/bitnami/zookeeper"]}), "starts with a registry", id="registry-prefix"
    ),
    pytest.param(_app(match={"images": ["localhost/acme/x"]}), "starts with a registry", id="registry-localhost"),
    pytest.param("version: 2\napps: []\n", "user.yaml: version 2 is not known; this stsmesh reads version 1", id="v2"),
    pytest.param("version: '1'\napps: []\n", "version '1' is not known", id="version-string"),
    pytest.param(
        _fix(opaque_ports={"ports": [7000], "linkerd_before": "soon"}),
        "opaque_ports.linkerd_before: must be a version string",
        id="opaque-before-unreadable",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_catalogue_names_the_bad_key(text: str, message: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, "user.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("user.yaml"), "the message starts with the file it is about"


def test_imageless_user_apps_match_by_env_or_ports_in_catalogue_order() -> None:
    user, _ = _parse(
        """
        apps:
          - {id: by-port, app: P, source: s, match: {ports_any: [7777]}}
          - {id: by-env, app: E, source: s, match: {env_any: [CLUSTER_SEEDS]}}
        """
    )
    merged = builtin_catalogue().merged(user)
    both = _pod("acme/unknown:1", ports=[{"containerPort": 7777}], env=[{"name": "CLUSTER_SEEDS", "value": "a"}])
    assert [m.app.id for m in merged.match(both)] == ["by-port"], "equal scores: the earlier entry wins"
    assert [m.app.id for m in merged.match(_pod("", env=[{"name": "CLUSTER_SEEDS"}]))] == ["by-env"]
    # an image match scores higher than an env- or port-only match
    zk = _pod("bitnami/zookeeper:3.7", ports=[{"containerPort": 7777}])
    assert [m.app.id for m in merged.match(zk)] == ["zookeeper-bitnami"]
    assert merged.match(_pod("acme/unknown:1")) == []


def test_disable_naming_no_shipped_app_is_an_error() -> None:
    with pytest.raises(CatalogueError, match=r"user.yaml: disable: cassandr is not a shipped app id"):
        with_user_catalogue(builtin_catalogue(), "disable: [cassandr]\n", "user.yaml")
    merged = with_user_catalogue(builtin_catalogue(), "disable: [cassandra]\n", "user.yaml")
    assert "cassandra" not in {app.id for app in merged.apps}


def test_dump_is_read_back_equal() -> None:
    """``stsmesh catalogue -o yaml`` prints the schema itself: --catalogue accepts it back unchanged."""
    text = yaml.safe_dump(dump(builtin_catalogue()), sort_keys=False)
    catalogue, disabled = parse_catalogue(text, "dumped.yaml")
    assert catalogue == builtin_catalogue() and disabled == ()
    assert with_user_catalogue(builtin_catalogue(), text, "dumped.yaml") == builtin_catalogue()


def test_catalogue_command_yaml_is_accepted_by_catalogue_flag(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["catalogue", "-o", "yaml"], out=out, environ={}) == 0
    user = tmp_path / "dumped.yaml"
    user.write_text(out.getvalue())
    again = io.StringIO()
    assert main(["catalogue", "-o", "yaml", "--catalogue", str(user)], out=again, environ={}) == 0
    assert again.getvalue() == out.getvalue()


def test_every_fix_kind_is_declared_once_with_its_family() -> None:
    families = {rule.family for rule in RULES}
    for name, kind in FIX_KINDS.items():
        assert kind.name == name and kind.family in families, name
        assert (kind.apply is None) != (kind.apply_once is None), f"{name}: exactly one handler"
        assert kind.summary, name
    header = load_builtin_text().split("\nversion:", 1)[0]
    documented = set(re.findall(r"^#\s+([a-z_]+): ", header, re.M)) & set(FIX_KINDS)
    assert documented == set(FIX_KINDS), "the catalogue.yaml header lists every kind"


@pytest.mark.parametrize(
    ("disabled", "image", "app_id"),
    [
        ("zookeeper-bitnami", "docker.io/bitnami/zookeeper:3.7.0", None),
        ("zookeeper-bitnami", "zookeeper:3.7.1", "zookeeper-official"),
        ("zookeeper-official", "zookeeper:3.7.1", None),
        ("zookeeper-official", "docker.io/bitnami/zookeeper:3.7.0", "zookeeper-bitnami"),
        ("etcd-bitnami", "docker.io/bitnami/etcd:3.5.9", None),
    ],
)
def test_a_disabled_app_claims_its_images_instead_of_falling_through(
    disabled: str, image: str, app_id: str | None
) -> None:
    """`disable: [zookeeper-bitnami]` means "do nothing for Bitnami ZooKeeper"; the official entry's
    less specific pattern must not take it over (its fix writes a variable Bitnami's image ignores)."""
    catalogue = with_user_catalogue(builtin_catalogue(), f"version: 1\ndisable: [{disabled}]\n", "user")
    found = catalogue.match(_pod(image))
    assert [m.app.id for m in found] == ([app_id] if app_id else [])
    assert disabled in dump(catalogue)["disable"], "catalogue -o yaml keeps the disable"
