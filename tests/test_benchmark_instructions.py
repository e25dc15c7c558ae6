"""benchmarks/instructions.py: callgrind's output read, counts that repeat exactly, the harness subtracted.

The counted runs need valgrind (skipped without it here, failing in CI, which
installs it). The whole file takes about a minute on a busy two-core machine:
each counted child pays callgrind's slow start-up (importing numpy alone is
several hundred million instructions), so the sizes are small.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is run from the checkout, not installed
    sys.path.append(str(ROOT))

from benchmarks import instructions  # noqa: E402
from benchmarks.instructions import HARNESS, Figure, Settings  # noqa: E402
from tests.conftest import needs  # noqa: E402

HAVE_VALGRIND = shutil.which("valgrind") is not None and shutil.which("setarch") is not None

# The small balanced sum every counted test shares: 500 products (1,999 nodes) and 1,000.
SMALL_SUM = 500


def test_parse_reads_a_real_callgrind_run(tmp_path: Path) -> None:
    needs(HAVE_VALGRIND, "valgrind")
    out_file = tmp_path / "callgrind.out"
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable, "-S", "-c", "pass"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    # valgrind's own summary on stderr is an independent reading of the same count
    collected = re.search(r"Collected : (\d+)", proc.stderr)
    assert collected is not None, proc.stderr
    total = instructions.parse_callgrind_total(out_file.read_text(encoding="utf-8"))
    assert total == int(collected.group(1))
    assert total > 1_000_000  # an interpreter start-up, not a stray number from the header


def test_parse_prefers_summary_and_refuses_what_is_not_a_count() -> None:
    assert instructions.parse_callgrind_total("events: Ir\nsummary: 123\ntotals: 456\n") == 123
    assert instructions.parse_callgrind_total("events: Ir\nfn=main\n0 5\ntotals: 456 7\n") == 456
    with pytest.raises(ValueError, match="no 'summary:' or 'totals:'"):
        instructions.parse_callgrind_total("events: Ir\nfn=main\n0 5\n")
    with pytest.raises(ValueError, match="not instructions"):
        instructions.parse_callgrind_total("events: Dr Ir\nsummary: 1 2\n")


@pytest.mark.parametrize("tool", ["valgrind", "setarch"])
def test_a_missing_tool_is_named_with_its_install_command(
    tool: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None if name == tool else real_which(name))
    assert instructions.main(["--engines", "floor", "--workloads", "tanh-chain"]) == 2
    err = capsys.readouterr().err
    assert f"{tool} is not installed" in err
    assert "apt-get install" in err
    assert "Traceback" not in err
    with pytest.raises(instructions.ToolMissing, match=tool):
        instructions.count_instructions("floor", "tanh-chain", 8, Settings())


def test_bad_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--engines", "nope"], ["--workloads", "moons-10k"], ["--size", "moons=0"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            instructions.parse_args(argv)
        assert exit_info.value.code == 2
    assert "unknown engine nope" in capsys.readouterr().err


def test_an_engine_that_cannot_be_imported_shows_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import engines

    def unavailable(name: str) -> None:
        raise engines.Unavailable(f"{name} is not installed here")

    monkeypatch.setattr(engines, "load", unavailable)
    result = instructions.child("micrograd", "balanced-sum", 4, seed=0, warmup=1, gc_on=True)
    assert result == {"status": "unavailable", "error": "micrograd is not installed here"}
    figures = {
        ("balanced-sum", HARNESS): Figure(HARNESS, "balanced-sum", (4, 8), [{"status": "ok", "instructions": 10},
                                                                           {"status": "ok", "instructions": 38}]),
        ("balanced-sum", "micrograd"): Figure("micrograd", "balanced-sum", (4, 8), [result]),
    }
    table = instructions.workload_table("balanced-sum", ["micrograd"], figures, markdown=False, warmup=1)
    assert re.search(r"micrograd 0\.1\.0 +unavailable", table)
    assert "micrograd 0.1.0: unavailable: micrograd is not installed here" in table
    # the harness's 28 instructions over 16 more nodes
    assert re.search(r"harness \(subtracted above\) +2 ", table)


@pytest.fixture(scope="module")
def small_sum() -> tuple[dict[tuple[str, str], Figure], dict[str, Any]]:
    """The small balanced sum on chainrule and the floor, then the floor's small run counted once more.

    The second count comes after measure(), whose plain runs write every bytecode cache the counted runs
    read: a counted run alongside a process that is still writing them (a fresh venv, as in CI, has none
    for numpy) reads another file system and counts tens of thousands of instructions more or fewer.
    """
    needs(HAVE_VALGRIND, "valgrind")
    settings = Settings()
    figures = instructions.measure(["chainrule", "floor"], ["balanced-sum"], {"balanced-sum": SMALL_SUM},
                                   settings, jobs=2)
    return figures, instructions.count_instructions("floor", "balanced-sum", SMALL_SUM, settings)


@pytest.mark.slow
@pytest.mark.xdist_group("callgrind")
def test_chainrule_to_floor_ratio_with_the_harness_subtracted(
    small_sum: tuple[dict[tuple[str, str], Figure], dict[str, Any]],
) -> None:
    figures, _ = small_sum
    harness = figures[("balanced-sum", HARNESS)]
    chainrule = figures[("balanced-sum", "chainrule")]
    floor = figures[("balanced-sum", "floor")]
    assert [f.status for f in (harness, chainrule, floor)] == ["ok", "ok", "ok"], [f.error for f in figures.values()]
    # The harness makes the random leaves: a real cost per node, taken off each engine's figure.
    assert 50 < harness.raw_per_unit < 5_000
    for figure in (chainrule, floor):
        assert figure.harness == harness.raw_per_unit
        assert figure.per_unit == figure.raw_per_unit - harness.raw_per_unit
        assert figure.per_unit > 1_000  # a Python object per node and its backward: thousands of instructions
    ratio = chainrule.per_unit / floor.per_unit
    assert 0.8 <= ratio <= 2.0, ratio
    table = instructions.workload_table("balanced-sum", ["chainrule", "floor"], figures, markdown=True, warmup=1)
    assert f"| floor engine | {floor.per_unit:,.0f} | 1x | - |" in table
    assert "| harness (subtracted above) |" in table


@pytest.mark.slow
@pytest.mark.xdist_group("callgrind")
def test_the_same_run_counts_the_same_instructions(
    small_sum: tuple[dict[tuple[str, str], Figure], dict[str, Any]],
) -> None:
    figures, again = small_sum
    first = figures[("balanced-sum", "floor")].runs[0]
    assert first["status"] == again["status"] == "ok"
    assert again["instructions"] == first["instructions"]


def test_numpy_random_is_seeded_alike_in_every_counting_child() -> None:
    # numpy.random seeds its global generator from the OS at import; a seed of another size costs other counts
    code = (
        "from benchmarks.instructions import fix_import_entropy; fix_import_entropy(); import numpy.random as r; "
        "print(r.mtrand._rand.get_state()[1][:4].tolist())"
    )
    keys = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(keys) == 1, keys


def test_counted_children_import_from_a_directory_that_holds_only_the_benchmarks_link() -> None:
    # The repository's root gains entries while the suite runs (build/, tools' caches); a child that listed it
    # counted tens of thousands of instructions more. The import root lists one entry, always the same.
    root = instructions.import_root()
    assert root != ROOT and root == instructions.import_root()  # a fixed path for this checkout
    assert [p.name for p in root.iterdir()] == ["benchmarks"]
    assert (root / "benchmarks").resolve() == ROOT / "benchmarks"
    assert instructions.counting_env()["PYTHONPATH"] == str(root)
