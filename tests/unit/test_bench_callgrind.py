"""bench.instructions reads callgrind's totals: instruction counts alone, or with simulated cache misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.instructions import _totals


def test_totals_with_instructions_only(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n16 3\ntotals: 827307236\n")
    assert _totals(out) == {"Ir": 827307236}


def test_totals_with_cache_simulation(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    events = "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw"
    out.write_text(f"events: {events}\nfn=main\n16 1 2 3 4 5 6 7 8 9\nsummary: 90 80 70 60 50 40 30 20 10\n")
    assert _totals(out) == dict(zip(events.split(), (90, 80, 70, 60, 50, 40, 30, 20, 10), strict=True))


def test_no_totals_says_what_to_check(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("events: Ir\n")
    with pytest.raises(SystemExit, match="did callgrind run"):
        _totals(out)
