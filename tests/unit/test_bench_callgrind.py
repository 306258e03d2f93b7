"""bench.instructions reads callgrind's totals (instruction counts alone, or with simulated cache misses)
and one function's inclusive counts from callgrind_annotate (to take the TLS handshakes out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.instructions import _totals, inclusive_counts


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


LISTING = """\
--------------------------------------------------------------------------------
Ir                   ILmr           DLmr             file:function
--------------------------------------------------------------------------------
264,978,134 (100.0%) 100,556 (100.0%) 135,718 (100.0%)  PROGRAM TOTALS
 22,050,049 ( 8.32%)   4,915 ( 4.89%)   6,569 ( 4.84%)  ???:SSL_do_handshake [/usr/lib/x86_64-linux-gnu/libssl.so.3]
 22,133,524 (10.53%)   5,265 ( 6.02%)   6,719 ( 5.93%)  Modules/_ssl.c:_ssl__SSLSocket_do_handshake [/x/_ssl.so]
  1,000,000 ( 0.38%)      10 ( 0.01%)      20 ( 0.01%)  ???:SSL_do_handshake'2 [/usr/lib/x86_64-linux-gnu/libssl.so.3]
"""


def test_inclusive_counts_of_one_function_across_recursion_levels() -> None:
    found = inclusive_counts(LISTING, "SSL_do_handshake", ["Ir", "ILmr", "DLmr"])
    assert found == {"Ir": 23_050_049, "ILmr": 4_925, "DLmr": 6_589}  # not the _ssl wrapper, not the totals


def test_inclusive_counts_of_a_function_that_did_not_run() -> None:
    assert inclusive_counts(LISTING, "SSL_read", ["Ir", "ILmr", "DLmr"]) == {}
