"""Build hook: with ``STSMESH_COMPILE=1``, compile the pure core to C extensions with mypyc.

The core is typed strictly (mypy --strict), so mypyc can compile it as it is: same code, same
behaviour, the request path's review() about 40 % faster (bench/run.py measures it). The container
image is built this way; a plain ``pip install`` (and the editable development install) stays pure
Python. The modules compiled are ``[tool.stsmesh] compiled`` in pyproject.toml.

Compiling needs gcc, the Python headers and, in the build environment, mypy plus the packages the
core imports (orjson, types-PyYAML): install them and build without isolation, as the Dockerfile does:

    pip install --upgrade "setuptools>=77" wheel mypy orjson types-PyYAML
    STSMESH_COMPILE=1 pip install --no-build-isolation .
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    modules: list[str] = config["tool"]["stsmesh"]["compiled"]
    return modules


def _source(module: str) -> str:
    path = module.replace(".", "/")
    return f"{path}/__init__.py" if (ROOT / path).is_dir() else f"{path}.py"


def ext_modules() -> list[object]:
    if os.environ.get("STSMESH_COMPILE", "") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        raise SystemExit(
            "STSMESH_COMPILE=1 needs mypyc in the build environment: "
            "pip install --upgrade 'setuptools>=77' wheel mypy orjson types-PyYAML, then "
            "STSMESH_COMPILE=1 pip install --no-build-isolation ."
        ) from exc
    files = [_source(module) for module in compiled_modules()]
    modules: list[object] = mypycify(files, opt_level="3")
    return modules


setup(ext_modules=ext_modules())
