"""``benchmarks/run_all.py`` assembles one table and RESULTS.md (the benchmarks themselves are not run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUN_ALL = Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


@pytest.fixture
def run_all(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_all", module)
    spec.loader.exec_module(module)
    return module


def fake_rows(name: str):
    def measure(settings) -> list:
        return [run_all_row(name, settings.name)]

    return measure


def run_all_row(name: str, settings: str):
    module = sys.modules["run_all"]
    return module.Row(name, "ours", "base", "2.0", "1.0", "2.0x", f"{settings} a|b")


def test_table_has_a_header_and_one_line_per_row_with_pipes_escaped(run_all) -> None:
    rows = [run_all.Row("speed", "ours", "base", "2", "1", "2x", "a|b"), run_all.Row(*"abcdefg")]
    lines = run_all.markdown_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].count("|") == lines[2].count("|") - 1 == len(run_all.HEADER) + 1
    assert "a\\|b" in lines[2]


def test_quick_run_writes_results_labelled_quick_with_date_and_command(
    run_all, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(run_all, "BENCHMARKS", {"one": fake_rows("one"), "two": fake_rows("two")})
    out = tmp_path / "RESULTS.md"
    assert run_all.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "QUICK" in text.splitlines()[0]
    assert "- command: `python benchmarks/run_all.py --quick --out" in text and "- date: 20" in text
    table = [line for line in text.splitlines() if line.startswith("| one") or line.startswith("| two")]
    assert len(table) == 2 and all("QUICK: quick" in line for line in table)
    assert list(tmp_path.iterdir()) == [out]  # written through a temp file, none left behind


def test_full_run_is_not_labelled_quick(run_all, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_all, "BENCHMARKS", {"one": fake_rows("one")})
    out = tmp_path / "RESULTS.md"
    assert run_all.main(["--out", str(out)]) == 0
    assert "QUICK" not in out.read_text() and "| full a\\|b |" in out.read_text()


def test_a_failing_benchmark_gets_a_failed_row_and_exit_code_one(
    run_all, tmp_path: Path, monkeypatch
) -> None:
    def broken(settings) -> list:
        raise RuntimeError("no data/fetch64")

    monkeypatch.setattr(run_all, "BENCHMARKS", {"broken": broken, "one": fake_rows("one")})
    out = tmp_path / "RESULTS.md"
    assert run_all.main(["--quick", "--out", str(out)]) == 1
    text = out.read_text()
    assert "FAILED: RuntimeError: no data/fetch64" in text and "| one |" in text
