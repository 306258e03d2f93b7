"""Golden cases for ``stsmesh render per-pod``: one folder per case under ``golden/``, discovered.

Each folder holds exactly these files (anything else fails, so stale files cannot linger):

* ``case.yaml``     — ``models`` (the public facts the input is written from), ``args`` (the flags
  after FILE, as a list) and ``notes`` (what the case proves);
* ``input.yaml``    — our own StatefulSet and headless Service, written from those facts;
* ``expected.yaml`` — exactly what ``stsmesh render per-pod input.yaml ARGS`` prints: the notes as
  comments, then the objects.

Every case runs through the command (``cmd_render`` with a parser from ``add_render_commands``, in
the case folder so that the printed file name is ``input.yaml``); the output must match
``expected.yaml`` byte for byte, its documents must be what ``render_documents`` returns, and every
object must pass the structural checks of ``tests/perpod/structure.py``. ``UPDATE_GOLDEN=1``
rewrites the expected files (review the diff by hand).
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.perpod.structure import assert_consistent, assert_valid_object
from tests.perpod.wiring import cmd_render
from webhook.core.inputs import load_documents
from webhook.perpod.command import add_render_commands, options_from_args
from webhook.perpod.render import render_documents

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
INPUT_FILES = ("case.yaml", "input.yaml")
EXPECTED_FILE = "expected.yaml"
KNOWN_FILES = frozenset((*INPUT_FILES, EXPECTED_FILE))
CASE_KEYS = ("models", "args", "notes")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
MIN_CASES = 6

CASE_NAMES = sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()) if GOLDEN_DIR.is_dir() else []


def load_case(name: str) -> dict[str, Any]:
    meta = yaml.safe_load((GOLDEN_DIR / name / "case.yaml").read_text(encoding="utf-8"))
    assert isinstance(meta, dict), f"{name}/case.yaml must be a mapping"
    assert sorted(meta) == sorted(CASE_KEYS), f"{name}/case.yaml keys must be exactly {CASE_KEYS}, got {sorted(meta)}"
    assert isinstance(meta["models"], str) and meta["models"].strip(), f"{name}: 'models' must name the source"
    assert isinstance(meta["notes"], str) and meta["notes"].strip(), f"{name}: 'notes' must say what the case proves"
    assert isinstance(meta["args"], list) and all(isinstance(a, str) for a in meta["args"]), (
        f"{name}: 'args' must be a list of strings (quote versions: 1.10 as a YAML number reads as 1.1)"
    )
    return meta


def run_case(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[argparse.Namespace, int, str, str]:
    top = argparse.ArgumentParser(prog="stsmesh")
    add_render_commands(top.add_subparsers(dest="command"))
    args = top.parse_args(["render", "per-pod", "input.yaml", *load_case(name)["args"]])
    monkeypatch.chdir(GOLDEN_DIR / name)
    out, err = io.StringIO(), io.StringIO()
    code = cmd_render(args, out, err)
    return args, code, out.getvalue(), err.getvalue()


def test_enough_cases_are_discovered() -> None:
    assert len(CASE_NAMES) >= MIN_CASES, f"expected at least {MIN_CASES} golden cases in {GOLDEN_DIR}"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_folder_holds_only_known_files(name: str) -> None:
    entries = {p.name for p in (GOLDEN_DIR / name).iterdir()}
    unknown = sorted(entries - KNOWN_FILES)
    assert not unknown, f"{name}: unknown file(s) {unknown}; a case holds only {sorted(KNOWN_FILES)}"
    missing = [f for f in INPUT_FILES if f not in entries]
    assert not missing, f"{name}: missing input(s) {missing}"
    if not UPDATE:
        assert EXPECTED_FILE in entries, f"{name}: {EXPECTED_FILE} is missing; run UPDATE_GOLDEN=1 and review it"
    load_case(name)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args, code, out, err = run_case(name, monkeypatch)
    assert code == 0, f"{name}: exit {code}: {err}"
    assert err == ""
    path = GOLDEN_DIR / name / EXPECTED_FILE
    if UPDATE:
        if not path.exists() or path.read_text(encoding="utf-8") != out:
            path.write_text(out, encoding="utf-8")
    else:
        stored = path.read_text(encoding="utf-8")
        if stored != out:
            diff = "".join(
                difflib.unified_diff(
                    stored.splitlines(keepends=True), out.splitlines(keepends=True), "stored", "actual"
                )
            )
            pytest.fail(
                f"{name}/{EXPECTED_FILE} is stale (UPDATE_GOLDEN=1 rewrites it; review the diff):\n{diff[:6000]}"
            )

    # The printed documents are the pure renderer's objects, and each is structurally valid.
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    input_docs = load_documents((GOLDEN_DIR / name / "input.yaml").read_text(encoding="utf-8"), "input.yaml")
    rendered = render_documents(input_docs, options_from_args(args), "input.yaml")
    assert docs == rendered.objects
    assert docs, f"{name}: a golden case renders something"
    for doc in docs:
        assert_valid_object(doc)
    assert_consistent(docs)
    # Every note is in the comment block on top.
    header = out.split("---\n", 1)[0]
    flattened = " ".join(line.lstrip("#").strip(" -") for line in header.splitlines())
    for note in rendered.notes:
        assert " ".join(note.split()).removeprefix("$ ") in " ".join(flattened.split()), note
