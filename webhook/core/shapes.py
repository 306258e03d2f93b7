"""Pure: reading Kubernetes objects as JSON parsers give them — plain dicts and lists of any shape.

Every module that reads a pod, a StatefulSet or a Service goes through these accessors rather than
its own ``_meta``/``_name``/``_list`` helpers: a field of the wrong type reads as empty, never raises.
:class:`ContainerRef` is the one way to say where a container sits in a pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Literal

ContainerList = Literal["containers", "initContainers"]
CONTAINER_LISTS: Final[tuple[ContainerList, ...]] = ("initContainers", "containers")
"""Both container lists, init containers first (the order the kubelet starts them in)."""

POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"
REVISION_LABEL: Final = "controller-revision-hash"
CONTROLLER_LABELS: Final = (POD_NAME_LABEL, POD_INDEX_LABEL, REVISION_LABEL)
"""The labels the StatefulSet controller puts on each pod it makes (``pod-index`` since 1.28)."""


def mapping(value: object) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: object) -> list[Any]:
    """``value`` if it is an array, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: object) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def metadata_map(obj: Mapping[str, Any], field: str) -> dict[str, Any]:
    """``metadata.<field>`` (labels, annotations) of ``obj``; empty when absent or not an object."""
    metadata = obj.get("metadata")
    value = metadata.get(field) if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}


def metadata_text(obj: Mapping[str, Any], field: str) -> str:
    """``metadata.<field>`` (name, namespace) of ``obj``; ``""`` when absent or not a string."""
    metadata = obj.get("metadata")
    value = metadata.get(field) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else ""


def name_of(obj: Mapping[str, Any]) -> str:
    return metadata_text(obj, "name")


def expand_lists(docs: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The documents with every ``List`` (``kind: List``, ``PodList``…) replaced by its items."""
    for doc in docs:
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            yield from (item for item in items(doc.get("items")) if isinstance(item, dict))
        else:
            yield doc if isinstance(doc, dict) else dict(doc)


class ContainerRef:
    """Where a container sits in a pod: ``spec.<list_name>[index]``."""

    def __init__(self, list_name: ContainerList, index: int) -> None:
        self.list_name: Final = list_name
        self.index: Final = index

    @staticmethod
    def of(list_name: str, index: int) -> ContainerRef:
        """The reference for a list named by a string; ValueError for a list that holds no containers."""
        if list_name not in CONTAINER_LISTS:
            raise ValueError(f"not a container list: {list_name}")
        return ContainerRef("initContainers" if list_name == "initContainers" else "containers", index)

    @property
    def path(self) -> str:
        """The JSON pointer of the container."""
        return f"/spec/{self.list_name}/{self.index}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContainerRef) and (self.list_name, self.index) == (other.list_name, other.index)

    def __hash__(self) -> int:
        return hash((self.list_name, self.index))

    def __repr__(self) -> str:
        return f"ContainerRef({self.list_name!r}, {self.index})"


def containers(
    pod: Mapping[str, Any], lists: tuple[ContainerList, ...] = CONTAINER_LISTS
) -> Iterator[tuple[ContainerRef, dict[str, Any]]]:
    """Every container of ``pod`` that is an object, with where it sits, in ``lists`` order."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    for list_name in lists:
        entries = spec.get(list_name)
        if not isinstance(entries, list):
            continue
        for index, container in enumerate(entries):
            if isinstance(container, dict):
                yield ContainerRef(list_name, index), container


def find_container(pod: Mapping[str, Any], name: str) -> tuple[ContainerRef, dict[str, Any]] | None:
    """The container called ``name`` (init containers first), or None."""
    # Called for every mesh the data-plane model knows on every review: a plain loop that makes a
    # ContainerRef only for the container it finds.
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return None
    for list_name in CONTAINER_LISTS:
        entries = spec.get(list_name)
        if isinstance(entries, list):
            for index, container in enumerate(entries):
                if isinstance(container, dict) and container.get("name") == name:
                    return ContainerRef(list_name, index), container
    return None
