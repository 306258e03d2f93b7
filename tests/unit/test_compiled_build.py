"""The compiled build (setup.py, ``STSMESH_COMPILE=1``): the modules pyproject lists are the pure core,
and in the compiled pass (scripts/compiled.sh test) every one of them really is a C extension, so
that pass tests the code the container image runs."""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPILED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["stsmesh"]["compiled"]


def test_compiled_modules_are_the_pure_core() -> None:
    """Only the pure core is compiled: every listed module exists and is a source of the contract
    that forbids I/O, and no edge module is listed."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    pure = next(c for c in contracts if c["type"] == "forbidden" and "aiohttp" in c["forbidden_modules"])
    for module in COMPILED:
        assert importlib.import_module(module).__name__ == module
        assert any(module == source or module.startswith(source + ".") for source in pure["source_modules"]), (
            f"{module} is compiled but not under the pure-core contract"
        )


@pytest.mark.skipif(
    os.environ.get("STSMESH_EXPECT_COMPILED") != "1", reason="checked in the compiled pass (scripts/compiled.sh test)"
)
@pytest.mark.parametrize("module", COMPILED)
def test_module_is_compiled(module: str) -> None:
    path = importlib.import_module(module).__file__ or ""
    assert path.endswith(".so"), f"{module} imported from {path}, not from the mypyc build"
