"""Pure: a pod editor that records a JSONPatch op for every change it makes.

Rules never write to the pod directly; they call :class:`PodEditor`, which edits the dict in place
and appends the matching RFC 6902 operation. The patch is therefore O(changes) and never a
whole-pod diff, and each op is valid against the state left by the ops before it, so the list
applies in order to the original object. Array additions append with ``/-``; an existing array
entry is changed with ``replace`` at its index; a missing map or array is added whole.
"""

from __future__ import annotations

from typing import Any, Literal

from webhook.core.review import PatchOp
from webhook.core.shapes import ContainerList, ContainerRef


def escape(token: str) -> str:
    """JSON-pointer escaping (RFC 6901): ``~`` → ``~0`` first, then ``/`` → ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


class PodEditor:
    """Edits ``pod`` in place and records the ops; :attr:`ops` is the patch."""

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.ops: list[PatchOp] = []

    def _record(self, op: str, path: str, value: Any) -> None:
        # Later edits may change a map or list we just added; the op must keep today's value.
        self.ops.append({"op": op, "path": path, "value": _clone(value)})

    # --- metadata ---------------------------------------------------------------------------------

    def meta_map(self, field: Literal["labels", "annotations"]) -> dict[str, Any]:
        """The pod's labels or annotations (read-only view; empty when absent)."""
        metadata = self.pod.get("metadata")
        value = metadata.get(field) if isinstance(metadata, dict) else None
        return value if isinstance(value, dict) else {}

    def set_meta(self, field: Literal["labels", "annotations"], key: str, value: str) -> bool:
        """Set ``metadata.<field>[key] = value``; returns whether anything changed."""
        metadata = self.pod.get("metadata")
        if not isinstance(metadata, dict):
            self.pod["metadata"] = {field: {key: value}}
            self._record("add", "/metadata", {field: {key: value}})
            return True
        mapping = metadata.get(field)
        if not isinstance(mapping, dict):
            metadata[field] = {key: value}
            self._record("add", f"/metadata/{field}", {key: value})
            return True
        if mapping.get(key) == value:
            return False
        op = "replace" if key in mapping else "add"
        mapping[key] = value
        self._record(op, f"/metadata/{field}/{escape(key)}", value)
        return True

    # --- containers -------------------------------------------------------------------------------

    def containers(self, list_name: ContainerList = "containers") -> list[tuple[ContainerRef, dict[str, Any]]]:
        spec = self.pod.get("spec")
        items = spec.get(list_name) if isinstance(spec, dict) else None
        if not isinstance(items, list):
            return []
        return [(ContainerRef(list_name, i), c) for i, c in enumerate(items) if isinstance(c, dict)]

    def container(self, ref: ContainerRef) -> dict[str, Any]:
        container: dict[str, Any] = self.pod["spec"][ref.list_name][ref.index]
        return container

    def env_value(self, ref: ContainerRef, name: str) -> tuple[int, dict[str, Any]] | None:
        """The effective entry for ``name`` (the last one: later duplicates win in Kubernetes)."""
        env = self.container(ref).get("env")
        if not isinstance(env, list):
            return None
        index = len(env)
        while index:  # backwards, with typed compares: env lists of 1000 entries are scanned whole
            index -= 1
            entry = env[index]
            if isinstance(entry, dict):
                entry_name = entry.get("name")
                if isinstance(entry_name, str) and entry_name == name:
                    return index, entry
        return None

    def set_env(self, ref: ContainerRef, name: str, value: str) -> Literal["added", "replaced", "unchanged"]:
        """Set-or-replace env ``name`` in place: never a duplicate entry."""
        entry = {"name": name, "value": value}
        found = self.env_value(ref, name)
        container = self.container(ref)
        if found is not None:
            index, current = found
            if current == entry:
                return "unchanged"
            container["env"][index] = entry
            self._record("replace", f"{ref.path}/env/{index}", entry)
            return "replaced"
        self._append(container, "env", ref.path, entry)
        return "added"

    def set_list_item(self, ref: ContainerRef, field: str, index: int, value: Any) -> bool:
        items = self.container(ref)[field]
        if items[index] == value:
            return False
        items[index] = value
        self._record("replace", f"{ref.path}/{field}/{index}", value)
        return True

    def append_list_item(self, ref: ContainerRef, field: str, value: Any) -> None:
        self._append(self.container(ref), field, ref.path, value)

    def _append(self, container: dict[str, Any], field: str, base: str, value: Any) -> None:
        items = container.get(field)
        if isinstance(items, list):
            items.append(value)
            self._record("add", f"{base}/{field}/-", value)
        else:
            container[field] = [value]
            self._record("add", f"{base}/{field}", [value])

    def checkpoint(self) -> int:
        return len(self.ops)


def _clone(value: Any) -> Any:
    """A copy of a JSON value (dicts and lists copied, scalars shared): what deepcopy does here,
    without its memo and dispatch machinery."""
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) for v in value]
    return value
