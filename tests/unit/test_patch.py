"""PodEditor: every edit records the RFC 6902 op that reproduces it on the original pod."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from webhook.core.patch import PodEditor, escape
from webhook.core.shapes import ContainerRef

APP = ContainerRef("containers", 0)


def pod(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "zk-0", "labels": {"app": "zk"}, "annotations": {"a": "1"}},
        "spec": {"containers": [{"name": "zk", "image": "zookeeper:3.7", **container}]},
    }


def replay(original: dict[str, Any], editor: PodEditor) -> dict[str, Any]:
    """Apply the recorded ops to a copy of the original pod, as the apiserver does."""
    result: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(original), copy.deepcopy(editor.ops))
    return result


@pytest.mark.parametrize(
    ("token", "escaped"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("stsmesh.io/applied", "stsmesh.io~1applied", id="slash"),
        pytest.param("a~b", "a~0b", id="tilde"),
        pytest.param("a/b~c", "a~1b~0c", id="slash-and-tilde"),
        pytest.param("~1", "~01", id="tilde-one-is-not-a-slash"),
        pytest.param("/~", "~1~0", id="slash-tilde"),
        pytest.param("", "", id="empty"),
    ],
)
def test_escape(token: str, escaped: str) -> None:
    assert escape(token) == escaped


@pytest.mark.parametrize("key", ["a/b~c", "~1", "x~0y/z", "config.linkerd.io/opaque-ports", "weird key with spaces"])
@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_set_meta_escapes_keys_so_the_patch_lands_on_that_key(field: Any, key: str) -> None:
    original = pod()
    editor = PodEditor(copy.deepcopy(original))
    assert editor.set_meta(field, key, "v") is True
    assert editor.ops == [{"op": "add", "path": f"/metadata/{field}/{escape(key)}", "value": "v"}]
    patched = replay(original, editor)
    assert patched["metadata"][field][key] == "v"
    assert patched == editor.pod
    # the other entries are untouched
    assert {k: v for k, v in patched["metadata"][field].items() if k != key} == original["metadata"][field]


def test_set_meta_replaces_an_existing_key_and_skips_an_equal_one() -> None:
    original = pod()
    editor = PodEditor(copy.deepcopy(original))
    assert editor.set_meta("annotations", "a", "1") is False
    assert editor.ops == []
    assert editor.set_meta("annotations", "a", "2") is True
    assert editor.ops == [{"op": "replace", "path": "/metadata/annotations/a", "value": "2"}]
    assert replay(original, editor)["metadata"]["annotations"] == {"a": "2"}


@pytest.mark.parametrize(
    ("metadata", "first_op"),
    [
        pytest.param(
            {"name": "zk-0"}, {"op": "add", "path": "/metadata/annotations", "value": {"k/1": "v1"}}, id="no-map"
        ),
        pytest.param(
            {"name": "zk-0", "annotations": None},
            {"op": "add", "path": "/metadata/annotations", "value": {"k/1": "v1"}},
            id="null-map",
        ),
        pytest.param(
            None, {"op": "add", "path": "/metadata", "value": {"annotations": {"k/1": "v1"}}}, id="no-metadata"
        ),
    ],
)
def test_set_meta_creates_the_map_whole_then_adds_keys(metadata: Any, first_op: dict[str, Any]) -> None:
    original: dict[str, Any] = {"spec": {"containers": []}}
    if metadata is not None:
        original["metadata"] = metadata
    editor = PodEditor(copy.deepcopy(original))
    editor.set_meta("annotations", "k/1", "v1")
    editor.set_meta("annotations", "k~2", "v2")
    assert editor.ops[0] == first_op
    assert editor.ops[1] == {"op": "add", "path": "/metadata/annotations/k~02", "value": "v2"}
    patched = replay(original, editor)
    assert patched["metadata"]["annotations"] == {"k/1": "v1", "k~2": "v2"}
    assert patched == editor.pod


# --- env --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "result", "ops"),
    [
        pytest.param(
            [{"name": "A", "value": "1"}],
            "added",
            [{"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "X", "value": "yes"}}],
            id="append-to-env",
        ),
        pytest.param(
            None,
            "added",
            [{"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "X", "value": "yes"}]}],
            id="env-null",
        ),
        pytest.param(
            [{"name": "X", "value": "no"}, {"name": "B", "value": "2"}],
            "replaced",
            [{"op": "replace", "path": "/spec/containers/0/env/0", "value": {"name": "X", "value": "yes"}}],
            id="replace-in-place",
        ),
        pytest.param(
            [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "replaced",
            [{"op": "replace", "path": "/spec/containers/0/env/0", "value": {"name": "X", "value": "yes"}}],
            id="replace-a-reference",
        ),
        pytest.param([{"name": "X", "value": "yes"}], "unchanged", [], id="already-set"),
        pytest.param(
            [{"name": "X", "value": "no"}, {"name": "B", "value": "2"}, {"name": "X", "value": "maybe"}],
            "replaced",
            [{"op": "replace", "path": "/spec/containers/0/env/2", "value": {"name": "X", "value": "yes"}}],
            id="duplicates-the-last-one-is-replaced",
        ),
        pytest.param(
            [{"name": "X", "value": "no"}, {"name": "X", "value": "yes"}],
            "unchanged",
            [],
            id="duplicates-last-already-right",
        ),
    ],
)
def test_set_env(env: Any, result: str, ops: list[dict[str, Any]]) -> None:
    original = pod() if env is None else pod(env=env)
    if env is None:
        original["spec"]["containers"][0]["env"] = None
    editor = PodEditor(copy.deepcopy(original))
    assert editor.set_env(APP, "X", "yes") == result
    assert editor.ops == ops
    patched = replay(original, editor)
    assert patched == editor.pod
    entries = patched["spec"]["containers"][0]["env"]
    # The effective value (last entry wins in Kubernetes) is the one we set, and no entry was added
    # when one existed.
    assert [e for e in entries if e["name"] == "X"][-1] == {"name": "X", "value": "yes"}
    before = [e["name"] for e in (env or [])].count("X")
    assert [e["name"] for e in entries].count("X") == max(1, before)


def test_env_value_is_the_last_duplicate() -> None:
    editor = PodEditor(pod(env=[{"name": "X", "value": "1"}, {"name": "Y"}, {"name": "X", "value": "3"}]))
    assert editor.env_value(APP, "X") == (2, {"name": "X", "value": "3"})
    assert editor.env_value(APP, "Z") is None
    assert PodEditor(pod(env=None)).env_value(APP, "X") is None


def test_env_value_passes_over_entries_it_cannot_read() -> None:
    odd: list[Any] = [{"name": "X", "value": "1"}, "X=2", None, {"name": 7}, {"value": "X"}, {"name": "Y"}]
    editor = PodEditor(pod(env=odd))
    assert editor.env_value(APP, "X") == (0, {"name": "X", "value": "1"})
    assert editor.env_value(APP, "Y") == (5, {"name": "Y"})
    assert editor.env_value(APP, "7") is None


def distinct(text: str) -> str:
    """An equal string that is not the same object (as a parser that does not share keys makes)."""
    return "".join(list(text))


def test_env_value_finds_names_under_key_objects_it_was_not_given() -> None:
    # Entries whose "name" keys are each their own object: the lookup falls back to equality.
    env: list[Any] = [{distinct("name"): "X", "value": "1"}, {distinct("name"): "Y"}, {distinct("name"): "X"}]
    name_keys = [next(iter(entry)) for entry in env]
    assert len({id(key) for key in name_keys}) == 3
    editor = PodEditor(pod(env=env))
    assert editor.env_value(APP, "X") == (2, {"name": "X"})
    assert editor.env_value(APP, "Y") == (1, {"name": "Y"})
    assert editor.env_value(APP, "Z") is None


def test_set_env_repeatedly_never_duplicates() -> None:
    original = pod(env=[{"name": "A", "value": "0"}])
    editor = PodEditor(copy.deepcopy(original))
    for value in ("1", "2", "2", "3"):
        editor.set_env(APP, "X", value)
        editor.set_env(APP, "A", value)
    patched = replay(original, editor)
    assert patched["spec"]["containers"][0]["env"] == [{"name": "A", "value": "3"}, {"name": "X", "value": "3"}]
    assert len(editor.ops) == 6  # X: add, 2 replaces; A: 3 replaces; the repeated "2" is no op


# --- lists, order, copies ---------------------------------------------------------------------------


def test_list_items_replace_in_place_and_append() -> None:
    original = pod(args=["--a", "1"])
    editor = PodEditor(copy.deepcopy(original))
    assert editor.set_list_item(APP, "args", 1, "1") is False
    assert editor.set_list_item(APP, "args", 1, "2") is True
    editor.append_list_item(APP, "args", "--b")
    editor.append_list_item(APP, "command", "run")
    assert editor.ops == [
        {"op": "replace", "path": "/spec/containers/0/args/1", "value": "2"},
        {"op": "add", "path": "/spec/containers/0/args/-", "value": "--b"},
        {"op": "add", "path": "/spec/containers/0/command", "value": ["run"]},
    ]
    assert replay(original, editor)["spec"]["containers"][0] == {
        "name": "zk",
        "image": "zookeeper:3.7",
        "args": ["--a", "2", "--b"],
        "command": ["run"],
    }


def test_ops_apply_in_order_to_the_original() -> None:
    """A mixed sequence where later ops depend on earlier ones (a map created, then extended; an
    env entry appended, then replaced at the index the append gave it)."""
    original = {
        "metadata": {"name": "zk-0"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox", "args": ["-d", "15090"]}],
            "containers": [{"name": "zk", "image": "zookeeper:3.7", "env": [{"name": "A", "value": "1"}]}],
        },
    }
    editor = PodEditor(copy.deepcopy(original))
    init = ContainerRef("initContainers", 0)
    editor.set_meta("annotations", "first/one", "1")
    editor.set_meta("annotations", "second~two", "2")
    editor.set_meta("annotations", "first/one", "1b")
    editor.set_env(APP, "B", "2")
    editor.set_env(APP, "B", "3")
    editor.set_env(APP, "A", "9")
    editor.set_list_item(init, "args", 1, "15090,2888")
    editor.append_list_item(init, "args", "-o")
    editor.append_list_item(init, "args", "2888")
    editor.set_meta("labels", "apps.kubernetes.io/pod-index", "0")
    assert [op["op"] for op in editor.ops] == [
        "add",
        "add",
        "replace",
        "add",
        "replace",
        "replace",
        "replace",
        "add",
        "add",
        "add",
    ]
    patched = replay(original, editor)
    assert patched == editor.pod
    assert patched["metadata"] == {
        "name": "zk-0",
        "annotations": {"first/one": "1b", "second~two": "2"},
        "labels": {"apps.kubernetes.io/pod-index": "0"},
    }
    assert patched["spec"]["containers"][0]["env"] == [{"name": "A", "value": "9"}, {"name": "B", "value": "3"}]
    assert patched["spec"]["initContainers"][0]["args"] == ["-d", "15090,2888", "-o", "2888"]
    # the original was not touched by the editor working on its copy
    assert original["metadata"] == {"name": "zk-0"}


def test_recorded_values_are_copies() -> None:
    editor = PodEditor(pod(env=None))
    editor.set_env(APP, "X", "1")
    editor.pod["spec"]["containers"][0]["env"][0]["value"] = "changed later"
    assert editor.ops[0]["value"] == [{"name": "X", "value": "1"}]


def test_checkpoint_counts_ops() -> None:
    editor = PodEditor(pod())
    start = editor.checkpoint()
    editor.set_meta("labels", "x", "y")
    editor.set_meta("labels", "x", "y")
    assert (start, editor.checkpoint()) == (0, 1)


@pytest.mark.parametrize(
    ("list_name", "path"),
    [("containers", "/spec/containers/3"), ("initContainers", "/spec/initContainers/0")],
)
def test_container_ref(list_name: str, path: str) -> None:
    index = int(path.rsplit("/", 1)[1])
    assert ContainerRef.of(list_name, index).path == path


def test_container_ref_rejects_other_lists() -> None:
    with pytest.raises(ValueError, match="not a container list"):
        ContainerRef.of("ephemeralContainers", 0)


def test_containers_lists_only_objects() -> None:
    editor = PodEditor({"spec": {"containers": [{"name": "a"}, "junk", {"name": "b"}]}})
    assert [(ref.index, c["name"]) for ref, c in editor.containers()] == [(0, "a"), (2, "b")]
    assert PodEditor({"spec": None}).containers() == []
    assert PodEditor({}).containers("initContainers") == []
