"""Golden cases: one folder per case under ``cases/``, discovered automatically.

Each folder holds exactly these files (anything else fails, so stale files cannot linger):

* ``case.yaml``    — ``models`` (the public source and version the input models), ``mesh`` and
  ``mesh_version`` (the hint, as ``--mesh``/``--mesh-version``), free ``notes``;
* ``review.json``  — the input AdmissionReview (see ``build_reviews.py`` for how it was made);
* ``patch.json``   — the expected JSON patch, decoded, pretty, sorted keys;
* ``patched.json`` — the expected pod after ``jsonpatch.apply_patch``;
* ``outcome.json`` — what else the response says: outcome, decision, mesh context, matched apps,
  applied fixes and the warnings, so negative controls prove *why* nothing changed.

Every case runs through ``webhook.core.admission.review()``, through the HTTP server (``POST
/mutate/<mesh>/<version>``, the path telling the server the mesh) and through ``stsmesh dry-run FILE
-o json``; all three must give the same patch, the response contract must hold, and feeding the patched pod back
must give an empty patch. ``UPDATE_GOLDEN=1`` rewrites the expected files (review them by hand).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.cli import main as cli
from webhook.core.admission import ReviewResult, review
from webhook.core.catalogue.load import builtin_catalogue
from webhook.core.mesh import MESH_CHOICES
from webhook.core.settings import Settings
from webhook.server.app import make_app

CASES_DIR = Path(__file__).resolve().parent / "cases"
INPUT_FILES = ("case.yaml", "review.json")
EXPECTED_FILES = ("patch.json", "patched.json", "outcome.json")
KNOWN_FILES = frozenset(INPUT_FILES + EXPECTED_FILES)
CASE_KEYS = ("models", "mesh", "mesh_version", "notes")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
MIN_CASES = 18

CASE_NAMES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir()) if CASES_DIR.is_dir() else []


def dumps(value: Any) -> str:
    """The one serialisation of expected files: pretty, sorted keys, trailing newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class GoldenCase:
    name: str
    folder: Path
    meta: dict[str, Any]
    review: dict[str, Any]

    @property
    def mesh(self) -> str:
        return str(self.meta["mesh"])

    @property
    def mesh_version(self) -> str | None:
        version = self.meta["mesh_version"]
        return None if version is None else str(version)

    @property
    def pod(self) -> Any:
        return self.review["request"]["object"]


def load_case(name: str) -> GoldenCase:
    folder = CASES_DIR / name
    meta = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8"))
    assert isinstance(meta, dict), f"{name}/case.yaml must be a mapping"
    assert sorted(meta) == sorted(CASE_KEYS), f"{name}/case.yaml keys must be exactly {CASE_KEYS}, got {sorted(meta)}"
    assert isinstance(meta["models"], str) and meta["models"].strip(), f"{name}: 'models' must name the source"
    assert isinstance(meta["notes"], str) and meta["notes"].strip(), f"{name}: 'notes' must say what the case proves"
    assert meta["mesh"] in MESH_CHOICES, f"{name}: mesh must be one of {MESH_CHOICES}"
    assert meta["mesh_version"] is None or isinstance(meta["mesh_version"], str), (
        f"{name}: mesh_version must be a quoted string (1.10 as a YAML number reads as 1.1) or null"
    )
    review = json.loads((folder / "review.json").read_text(encoding="utf-8"))
    return GoldenCase(name, folder, meta, review)


def check_expected(case: GoldenCase, filename: str, actual: Any) -> None:
    """Compare with the stored file (text-exact, so a hand-reformatted file is stale too)."""
    path = case.folder / filename
    text = dumps(actual)
    if UPDATE:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{case.name}/{filename} is missing; run UPDATE_GOLDEN=1 pytest tests/golden and review it"
    stored = path.read_text(encoding="utf-8")
    if stored != text:
        diff = "".join(
            difflib.unified_diff(
                stored.splitlines(keepends=True), text.splitlines(keepends=True), f"stored {filename}", "actual"
            )
        )
        pytest.fail(
            f"{case.name}/{filename} is stale (UPDATE_GOLDEN=1 rewrites it; review the diff first):\n{diff[:6000]}"
        )


def outcome_summary(result: ReviewResult) -> dict[str, Any]:
    response = result.response["response"]
    summary: dict[str, Any] = {
        "outcome": result.outcome,
        "decision": result.decision.reason,
        "allowed": response["allowed"],
        "warnings": list(response.get("warnings", [])),
    }
    mutation = result.mutation
    if mutation is not None:
        summary["mesh"] = {
            "label": mutation.mesh.label,
            "inbound": mutation.mesh.inbound,
            "injected": mutation.mesh.injected,
            "cni": mutation.mesh.cni,
            "dataplane": mutation.mesh.dataplane,
            "exclusion": mutation.mesh.exclusion,
        }
        summary["apps"] = [f"{m.ref.list_name}/{m.container_name}: {m.app.id}" for m in mutation.apps]
        summary["fixes"] = list(mutation.fixes)
    return summary


def case_argv(case: GoldenCase, path: Path) -> list[str]:
    argv = ["dry-run", str(path), "-o", "json", "--mesh", case.mesh]
    if case.mesh_version is not None:
        argv += ["--mesh-version", case.mesh_version]
    return argv


# --- the suite itself -----------------------------------------------------------------------------


def test_enough_cases_are_discovered() -> None:
    assert len(CASE_NAMES) >= MIN_CASES, f"expected at least {MIN_CASES} golden cases in {CASES_DIR}"


def test_every_catalogue_app_has_a_golden_case() -> None:
    catalogue = builtin_catalogue()
    matched = {m.app.id for name in CASE_NAMES for m in catalogue.match(load_case(name).pod)}
    missing = sorted({app.id for app in catalogue.apps} - matched)
    assert not missing, f"catalogue apps with no golden case: {missing}"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_folder_holds_only_known_files(name: str) -> None:
    folder = CASES_DIR / name
    entries = {p.name for p in folder.iterdir()}
    unknown = sorted(entries - KNOWN_FILES)
    assert not unknown, f"{name}: unknown file(s) {unknown}; a case holds only {sorted(KNOWN_FILES)}"
    missing = [f for f in INPUT_FILES if f not in entries]
    assert not missing, f"{name}: missing input(s) {missing}"
    if not UPDATE:
        missing = [f for f in EXPECTED_FILES if f not in entries]
        assert not missing, f"{name}: missing expected file(s) {missing}; run UPDATE_GOLDEN=1 and review them"
    case = load_case(name)
    assert case.review["apiVersion"] == "admission.k8s.io/v1" and case.review["kind"] == "AdmissionReview"
    assert isinstance(case.pod, dict) and case.pod.get("kind") == "Pod"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case_through_review(
    name: str,
    run_review: Callable[..., tuple[ReviewResult, list[dict[str, Any]]]],
    apply_ops: Callable[..., Any],
    assert_response_contract: Callable[..., list[dict[str, Any]]],
    hint_settings: Callable[..., Any],
) -> None:
    case = load_case(name)
    settings = hint_settings(case.mesh, case.mesh_version)
    body = copy.deepcopy(case.review)
    result = review(body, settings)
    ops = assert_response_contract(case.review, result.response)
    assert result.response["response"]["allowed"] is True, "every golden case is admitted"

    patched = apply_ops(case.pod, ops)
    # The ops replay, in order on the original, exactly the edits the rules made in place.
    assert patched == body["request"]["object"]
    if ops:
        assert result.outcome == "patched"
    else:
        assert result.outcome in ("unchanged", "skipped"), result.outcome
        assert patched == case.pod

    check_expected(case, "patch.json", ops)
    check_expected(case, "patched.json", patched)
    check_expected(case, "outcome.json", outcome_summary(result))

    # Idempotence: the patched pod, sent again (e.g. on reinvocation), needs nothing more.
    again = copy.deepcopy(case.review)
    again["request"]["uid"] = case.review["request"]["uid"][:-4] + "beef"
    again["request"]["object"] = patched
    second, second_ops = run_review(again, settings=settings)
    assert assert_response_contract(again, second.response) == second_ops
    assert second_ops == [], f"second pass still patches: {second_ops}"
    assert second.outcome in ("unchanged", "skipped")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case_through_cli(
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    run_review: Callable[..., tuple[ReviewResult, list[dict[str, Any]]]],
    assert_response_contract: Callable[..., list[dict[str, Any]]],
) -> None:
    for var in [v for v in os.environ if v.startswith("STSMESH_")]:
        monkeypatch.delenv(var)  # only the flags may configure the run
    case = load_case(name)
    path = case.folder / "review.json"
    argv = case_argv(case, path)

    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code in (0, None), f"stsmesh {' '.join(argv)} exited {code}: {captured.err}"
    response = json.loads(captured.out)
    cli_ops = assert_response_contract(case.review, response)

    _, direct_ops = run_review(case.review, case.mesh, case.mesh_version)
    assert cli_ops == direct_ops, "the CLI and review() disagree on the patch"
    if not UPDATE:
        assert cli_ops == json.loads((case.folder / "patch.json").read_text(encoding="utf-8"))


def server_path(case: GoldenCase) -> str:
    if case.mesh == "auto":
        return "/mutate"
    return f"/mutate/{case.mesh}" + (f"/{case.mesh_version}" if case.mesh_version else "")


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_golden_case_through_the_server(
    name: str,
    aiohttp_client: Any,
    assert_response_contract: Callable[..., list[dict[str, Any]]],
) -> None:
    case = load_case(name)
    client = await aiohttp_client(make_app(Settings()))
    async with client.post(server_path(case), json=case.review) as response:
        assert response.status == 200
        answer = await response.json()
    server_ops = assert_response_contract(case.review, answer)
    if not UPDATE:
        assert server_ops == json.loads((case.folder / "patch.json").read_text(encoding="utf-8"))
