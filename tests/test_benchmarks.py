"""The benchmark harness: the host probe, the slow-host gate, the report, and one real run.

Timings are never asserted (they flake on a shared machine); what is checked
is what the harness does with them: which samples it retakes, what the report
says, and that a real run of two engines agrees on the graph's values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is run from the checkout, not installed
    sys.path.append(str(ROOT))

from benchmarks import cli  # noqa: E402
from benchmarks.measure import host_probe  # noqa: E402


def test_host_probe_times_the_loop() -> None:
    one = host_probe(tries=1)
    assert 0.0 < one < 5.0
    assert host_probe(tries=3) > 0.0


@pytest.mark.parametrize(
    ("probes", "fastest", "expected"),
    [([2.0, 3.0], 1.0, 3.0), ([1.0, 1.0], 2.0, 0.5), (None, 1.0, None), ([1.0], 0.0, None),
     ([1.0], float("nan"), None)],
)
def test_slowdown_is_the_slower_probe_over_the_reference(probes: Any, fastest: float, expected: Any) -> None:
    sample = {} if probes is None else {"probe_s": probes}
    assert cli.slowdown(sample, fastest) == expected


def _fake_child(tries: list[tuple[float, list[float]]]) -> Any:
    """A run_child stand-in returning the given (seconds, probes) one after another."""
    calls = iter(tries)

    def run_child(*args: Any, **kwargs: Any) -> dict[str, Any]:
        seconds, probes = next(calls)
        return {"status": "ok", "seconds": seconds, "per_node_s": seconds / 10, "gc_s": 0.0, "probe_s": probes}

    return run_child


def _args(*extra: str, repeats: int = 2) -> Any:
    return cli.parse_args(["--engines", "floor", "--workloads", "tanh-chain", "--repeats", str(repeats), *extra])


def test_gate_retakes_slow_samples_and_keeps_the_last_try(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "calibrate", lambda processes, env: [1.0] * 20)
    tries = [
        (5.0, [2.0, 1.0]),  # repeat 1: slow before -> retaken
        (4.0, [1.0, 1.5]),  # slow after -> retaken
        (3.0, [1.1, 1.2]),  # within 1.3x: kept
        (9.0, [2.0, 2.0]),  # repeat 2: slow three times, retakes=2: the third try stands
        (8.0, [1.9, 1.9]),
        (7.0, [1.8, 1.8]),
    ]
    monkeypatch.setattr(cli, "run_child", _fake_child(tries))
    args = _args("--gate", "1.3", "--retakes", "2")
    cells = cli.run_all(args)
    samples = cells[("tanh-chain", "floor", True)].samples
    assert [s["seconds"] for s in samples] == [3.0, 7.0]
    assert [r["seconds"] for r in samples[0]["retaken"]] == [5.0, 4.0]
    assert [r["seconds"] for r in samples[1]["retaken"]] == [9.0, 8.0]
    assert args.calibration == [1.0] * 20
    host = cli.host_text(cells, args)
    assert "as long as the reference, the 25% quantile of the run's 32 probes (1 s; " in host
    assert "1 of 2 samples ran on a slow host (> 1.3x)" in host
    assert "2 samples retaken (4 slow tries discarded, at most 2 per sample)" in host
    assert "kept slow: floor tanh-chain x1" in host


def test_without_a_gate_nothing_is_retaken_but_slow_samples_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "calibrate", lambda processes, env: pytest.fail("no calibration without --gate"))
    tries = [(5.0, [2.0, 2.2]), (3.0, [1.0, 1.1]), (4.0, [1.0, 1.0]), (3.5, [1.0, 1.0])]
    monkeypatch.setattr(cli, "run_child", _fake_child(tries))
    args = _args(repeats=4)
    cells = cli.run_all(args)
    samples = cells[("tanh-chain", "floor", True)].samples
    assert [s["seconds"] for s in samples] == [5.0, 3.0, 4.0, 3.5]
    assert not any("retaken" in s for s in samples)
    assert args.calibration == []
    # The reference is the lower quartile of the run's 8 probes: 1.0 (five 1.0s, then 1.1, 2.0, 2.2).
    assert cli.reference_probe(cells, args) == 1.0
    assert cli.slow_samples(cells[("tanh-chain", "floor", True)], args, 1.0) == 1
    host = cli.host_text(cells, args)
    assert "ran 1.00-2.20x as long as the reference, the 25% quantile of the run's 8 probes (1 s; median 1.05x)" in host
    assert "1 of 4 samples ran on a slow host (> 1.3x)" in host and "gate" not in host


def test_a_target_says_when_its_samples_ran_on_a_slow_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "calibrate", lambda processes, env: [1.0] * 20)
    monkeypatch.setattr(cli, "run_child", _fake_child([(2.0, [1.0, 1.0]), (1.0, [3.0, 1.0])]))
    args = cli.parse_args([
        "--engines", "chainrule,floor", "--workloads", "tanh-chain", "--repeats", "1", "--gate", "1.5",
        "--retakes", "0",
    ])
    cells = cli.run_all(args)
    text = cli.targets_text(cells, args)
    # chainrule took 2.0 s, the floor 1.0 s: 2x the floor misses 1.25x; the floor's one sample was slow.
    line = next(line for line in text.splitlines() if "tanh-chain, time <= 1.25x floor engine" in line)
    assert "2x (ratio of minimums 2x) -> MISSED" in line
    assert "(1 of 1 floor engine samples on a slow host)" in line


def test_runs_saved_before_the_probe_existed_still_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = {
        "header": "old run",
        "wall_s": 1.0,
        "options": {
            "engines": ["floor"], "workloads": ["tanh-chain"], "repeats": 1, "gc": "on", "threads": 1, "quick": True,
            "sizes": {"tanh-chain": 100}, "warmup": 0, "steps": 1, "seed": 0,
        },
        "cells": [{"workload": "tanh-chain", "engine": "floor", "gc_on": True, "samples": [{
            "status": "ok", "seconds": 1e-3, "per_node_s": 1e-5, "forward_s": 5e-4, "backward_s": 5e-4,
            "gc_s": 0.0, "bytes_per_node": 100.0, "check": {"root": 0.1},
        }]}],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert cli.main(["--from-json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "floor engine" in out and "10 µs" in out
    assert "host:" not in out  # no probes, no host line


def test_the_reference_is_the_lower_quartile_of_every_probe() -> None:
    assert cli.reference_of([]) != cli.reference_of([])  # nan: no reference, no slowdowns
    assert cli.reference_of([2.0]) == 2.0
    # A host slow for 60% of the probes still has its fast speed as the reference.
    assert cli.reference_of([1.0, 1.1, 1.05, 1.02, 2.0, 2.1, 1.9, 2.2, 2.0, 2.05]) == 1.05


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gate", "1"], "--gate is how many times slower than its usual speed"),
        (["--gate", "nan"], "--gate is how many times slower than its usual speed"),
        (["--retakes", "-1"], "--retakes >= 0"),
    ],
)
def test_bad_gate_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_real_gated_run_of_two_engines_agrees_and_saves_its_probes(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--engines", "chainrule,floor", "--workloads",
         "balanced-sum", "--size", "balanced-sum=500", "--repeats", "2", "--gate", "50", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "slow-host gate 50x" in proc.stdout
    # The floor engine's root value and leaf-gradient sum equal chainrule's (the first engine's, the reference
    # when micrograd is not in the run).
    assert next(line for line in proc.stdout.splitlines() if line.startswith("floor engine")).endswith("same")
    saved = json.loads(out.read_text(encoding="utf-8"))
    calibration = saved["options"]["calibration"]
    assert saved["options"]["gate"] == 50 and len(calibration) == 20 and all(0.0 < p < 5.0 for p in calibration)
    reference = cli.reference_of(calibration + [p for c in saved["cells"] for s in c["samples"] for p in s["probe_s"]])
    samples = [s for cell in saved["cells"] for s in cell["samples"]]
    assert len(samples) == 4
    # A probe in one process is within a factor of 2 of the others' lower quartile on any host that is not
    # changing speed by more than that; the gate of 50 retakes nothing.
    assert all(len(s["probe_s"]) == 2 and 0.5 < max(s["probe_s"]) / reference < 50 for s in samples)
    assert not any("retaken" in s for s in samples)
