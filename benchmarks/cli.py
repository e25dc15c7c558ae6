"""The benchmark command: schedule one child process per sample, then print the tables.

``python -m benchmarks`` runs every workload on every engine, each sample in
its own fresh process (``sys.executable -m benchmarks.child``), repeats
interleaved so all engines see the same machine load, and prints per-workload
tables with the median, the minimum, the spread across repeats, the ratio to
micrograd measured in the same run, the garbage collector's share of the time
and, for graph workloads, the resident-set growth per node.

Every sample carries the time of a fixed loop (the host probe) taken just
before and just after it. On a shared host, whose speed can halve for seconds
at a time, ``--gate FACTOR`` retakes a sample whose probes ran more than FACTOR
times slower than the host's usual speed (a low quantile of every probe,
starting with fresh processes' before the run); the report says how many
were retaken and which were kept slow.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.child import RESULT_PREFIX
from benchmarks.engines import ENGINES, adapter_functions
from benchmarks.workloads import TARGETS, WORKLOADS, Workload

REPO_ROOT = Path(__file__).resolve().parent.parent

# Statuses after which repeating a sample tells nothing new.
FINAL_STATUSES = ("unavailable", "n/a", "failed")

# A sample whose host probe ran more than this many times slower than the reference (see reference_of) ran on a
# slow host (the report counts them; --gate sets the factor and retakes them).
SLOW_HOST = 1.3

# Fresh processes that time the host probe before a gated run, one every CALIBRATION_GAP_S seconds, so they
# see more than one of the host's speed phases (which last 1-8 s here).
CALIBRATION_PROCESSES = 20
CALIBRATION_GAP_S = 0.5

# The reference probe time is this quantile of every probe so far (calibration, samples and retaken tries).
REFERENCE_QUANTILE = 0.25


@dataclass
class Cell:
    """All samples of one engine on one workload with one collector setting.

    Attributes:
        engine: engine name.
        workload: workload name.
        gc_on: whether the collector was on.
        samples: each child's result.
    """

    engine: str
    workload: str
    gc_on: bool
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        """The successful samples."""
        return [s for s in self.samples if s.get("status") == "ok"]

    @property
    def final(self) -> dict[str, Any] | None:
        """The sample that ended this cell (unavailable, n/a or failed), if any."""
        for s in self.samples:
            if s.get("status") in FINAL_STATUSES:
                return s
        return None

    def values(self, key: str) -> list[float]:
        """The successful samples' values of ``key``, in repeat order."""
        return [float(s[key]) for s in self.ok]


# ----------------------------------------------------------------------------
# Running children
# ----------------------------------------------------------------------------


def child_env(threads: int) -> dict[str, str]:
    """The environment of a child: the repo importable, and the thread pools pinned.

    Pinning to ``threads`` threads (1 by default) keeps PyTorch's and the BLAS
    libraries' pools from competing with the other engines' single Python
    thread on a small shared machine.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if threads == 1:  # XLA (JAX) has its own pool
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def run_child(
    engine: str, workload: Workload, size: int, *, seed: int, gc_on: bool, options: dict[str, int], threads: int,
    timeout: float,
) -> dict[str, Any]:
    """Run one sample in a fresh interpreter and return its result dict."""
    command = [
        sys.executable, "-m", "benchmarks.child", "--engine", engine, "--workload", workload.name,
        "--size", str(size), "--seed", str(seed), "--gc", "on" if gc_on else "off",
        "--warmup", str(options["warmup"]), "--steps", str(options["steps"]),
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            command, cwd=REPO_ROOT, env=child_env(threads), capture_output=True, text=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s", "short": "timeout"}
    result = child_result(proc.stdout)
    if result is None:
        return crashed(proc)
    result["wall_s"] = time.perf_counter() - started
    return result


def child_result(stdout: str, prefix: str = RESULT_PREFIX) -> dict[str, Any] | None:
    """The result a child printed on its last line starting with ``prefix``, or None if it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(prefix):
            result: dict[str, Any] = json.loads(line[len(prefix):])
            return result
    return None


def crashed(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """A "failed" result for a child that printed no result: its exit code and last lines of output."""
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "status": "failed",
        "error": f"child exited with code {proc.returncode}: " + " | ".join(tail),
        "short": f"crashed (exit {proc.returncode})",
    }


def describe(result: dict[str, Any], workload: Workload) -> str:
    """A short progress line for one sample."""
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('short') or result.get('error', '')}"
    if workload.unit == "compile":
        return ", ".join(f"width {w}: {format_seconds(f['seconds'])}" for w, f in result["widths"].items())
    unit = "node" if workload.unit == "node" else "step"
    per = result["per_node_s"] if workload.unit == "node" else result["seconds"]
    return f"{format_seconds(per)}/{unit}, gc {percent(result['gc_s'] / result['seconds'])}"


def slowdown(sample: dict[str, Any], reference: float) -> float | None:
    """How many times slower than ``reference`` the host ran around a sample (its slower probe); None without probes."""
    probes = sample.get("probe_s")
    if not probes or not reference > 0.0:  # also no reference (nan)
        return None
    return max(probes) / reference


def calibrate(processes: int, env: dict[str, str]) -> list[float]:
    """Time the host probe in ``processes`` fresh processes, one every ``CALIBRATION_GAP_S`` seconds.

    A probe's time depends on the process as well as the host (the same loop
    runs up to ~10% faster or slower in another process, and a long run of
    probes in one process finds a minimum ~10% below any sample's), so the
    reference comes from processes started as the samples' are.

    Returns:
        Their probe times, in seconds.
    """
    probes: list[float] = []
    for i in range(processes):
        if i:
            time.sleep(CALIBRATION_GAP_S)
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.child", "--probe-only"], cwd=REPO_ROOT, env=env, capture_output=True,
            text=True, timeout=60, check=False,
        )
        result = child_result(proc.stdout)
        if result is not None:
            probes += result["probe_s"]
    if not probes:
        raise RuntimeError("the host probe ran in no process: python -m benchmarks.child --probe-only fails here")
    return probes


def reference_of(probes: Sequence[float]) -> float:
    """The reference probe time: the ``REFERENCE_QUANTILE`` quantile of ``probes`` (nan without any).

    A low quantile is the host's usual fast speed as long as the host runs
    fast more than that share of the time, however long its slow phases.
    """
    if not probes:
        return float("nan")
    ordered = sorted(probes)
    return ordered[int(REFERENCE_QUANTILE * (len(ordered) - 1))]


def all_probes(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace) -> list[float]:
    """Every probe of the run: the calibration's, the samples' and their retaken tries'."""
    probes = list(getattr(args, "calibration", None) or [])
    for cell in cells.values():
        for s in cell.ok:
            probes += s.get("probe_s", [])
            for r in s.get("retaken", []):
                probes += r.get("probe_s", [])
    return probes


def reference_probe(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace) -> float:
    """The probe time slowdowns are measured against: see :func:`reference_of`."""
    return reference_of(all_probes(cells, args))


def run_all(args: argparse.Namespace) -> dict[tuple[str, str, bool], Cell]:
    """Run every sample, repeats interleaved across engines; return the cells.

    With ``args.gate``, the probe is first timed in fresh processes
    (``args.calibration``), and a sample whose probes ran more than
    ``args.gate`` times the reference of every probe so far
    (:func:`reference_of`) is run again, at most ``args.retakes`` times; the
    retaken tries' times are kept in the sample's ``retaken`` list, and the
    last try stands if every try was slow.
    """
    args.calibration = calibrate(CALIBRATION_PROCESSES, child_env(args.threads)) if args.gate else []
    probes = list(args.calibration)
    gc_modes = {"on": [True], "off": [False], "both": [True, False]}[args.gc]
    cells: dict[tuple[str, str, bool], Cell] = {}
    for workload_name in args.workloads:
        for engine in args.engines:
            for gc_on in gc_modes:
                cells[(workload_name, engine, gc_on)] = Cell(engine, workload_name, gc_on)
    options = {"warmup": args.warmup, "steps": args.steps}
    for rep in range(args.repeats):
        # Rotate the engine order each repeat so no engine always runs right after the heaviest one.
        shift = rep % len(args.engines)
        order = args.engines[shift:] + args.engines[:shift]
        schedule = [(w, e, g) for w in args.workloads for e in order for g in gc_modes]
        for workload_name, engine, gc_on in schedule:
            workload = WORKLOADS[workload_name]
            cell = cells[(workload_name, engine, gc_on)]
            if cell.final is not None:
                continue
            if workload.adapter not in adapter_functions(engine):
                cell.samples.append({"status": "n/a", "error": f"no {workload.adapter}() adapter"})
                continue
            if engine in workload.skip and engine not in args.explicit_engines:
                cell.samples.append({"status": "n/a", "error": workload.skip[engine]})
                continue
            where = f"[{rep + 1}/{args.repeats}] {workload_name:<13} {engine:<14}" + ("" if gc_on else " (gc off)")
            retaken: list[dict[str, Any]] = []
            while True:
                result = run_child(
                    engine, workload, args.sizes[workload_name], seed=args.seed, gc_on=gc_on, options=options,
                    threads=args.threads, timeout=args.timeout,
                )
                probes += result.get("probe_s", [])
                slow = slowdown(result, reference_of(probes)) if args.gate else None
                if slow is None or slow <= args.gate or len(retaken) >= args.retakes:
                    break
                print(f"{where} {describe(result, workload)}; host {slow:.2f}x slow: retaking", file=sys.stderr,
                      flush=True)
                retaken.append({key: result[key] for key in ("seconds", "per_node_s", "probe_s") if key in result})
            if retaken:
                result["retaken"] = retaken
            cell.samples.append(result)
            print(f"{where} {describe(result, workload)}", file=sys.stderr, flush=True)
    return cells


# ----------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """Format a duration with 3 significant digits in ns, µs, ms or s."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def percent(x: float) -> str:
    """Format a fraction as a whole percentage."""
    return f"{100 * x:.0f}%"


def spread(values: Sequence[float]) -> float:
    """(max - min) / median: how far repeats of the same measurement scatter."""
    if len(values) < 2:
        return float("nan")
    return (max(values) - min(values)) / statistics.median(values)


def format_ratio(x: float) -> str:
    """Format a ratio with 3 significant digits, without an exponent for large ones."""
    return f"{x:.0f}x" if x >= 100 else f"{x:.3g}x"


def ratio_text(values: Sequence[float], reference: Sequence[float], paired: Sequence[tuple[float, float]]) -> str:
    """'0.21x (0.20-0.23)': ratio of medians, with the range of the per-repeat ratios."""
    if not values or not reference:
        return "-"
    text = format_ratio(statistics.median(values) / statistics.median(reference))
    ratios = [v / r for v, r in paired if r]
    if len(ratios) > 1:
        text += f" ({format_ratio(min(ratios))[:-1]}-{format_ratio(max(ratios))})"
    return text


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """Render a table as aligned text or as a Markdown table."""
    if markdown:

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        lines = [line(headers), "|" + "|".join("---" for _ in headers) + "|"]
        lines += [line(row) for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


def _paired(cell: Cell, reference: Cell | None, key: str) -> list[tuple[float, float]]:
    """Per-repeat pairs (this engine, reference) where both samples succeeded."""
    if reference is None:
        return []
    pairs = []
    for mine, theirs in zip(cell.samples, reference.samples):
        if mine.get("status") == "ok" and theirs.get("status") == "ok":
            pairs.append((float(mine[key]), float(theirs[key])))
    return pairs


def _check_text(cell: Cell, reference: Cell | None) -> str:
    """Compare a node workload's root value and leaf-gradient sum with the reference engine's."""
    if not cell.ok or reference is None or not reference.ok:
        return "-"
    if reference is cell:
        return "reference"
    mine, theirs = cell.ok[0]["check"], reference.ok[0]["check"]
    worst = 0.0
    for key, want in theirs.items():
        got = mine.get(key, float("nan"))
        worst = max(worst, abs(got - want) / max(abs(want), 1e-300))
    return "same" if worst <= 1e-9 else f"differs (rel {worst:.1e})"


def _grad_text(cell: Cell, reference: Cell | None) -> str:
    """Max |grad - micrograd's grad| over all parameters at the first step's parameters."""
    if not cell.ok or reference is None or not reference.ok:
        return "-"
    if reference is cell:
        return "reference"
    mine, theirs = cell.ok[0]["grads"], reference.ok[0]["grads"]
    if len(mine) != len(theirs):
        return f"{len(mine)} grads vs {len(theirs)}"
    worst = max(abs(a - b) for a, b in zip(mine, theirs))
    scale = max(abs(b) for b in theirs) or 1.0
    return f"{worst:.1e} (rel {worst / scale:.1e}, {len(mine)} grads)"


def _not_run(label: str, cell: Cell, width: int) -> tuple[list[str], str]:
    """The table row and the note for an engine without a successful sample."""
    final = cell.final or {"status": "?", "error": "no sample"}
    return [label, final["status"]] + [""] * (width - 2), f"{label}: {final['status']}: {final.get('error', '')}"


def compile_table(
    workload: Workload, size: int, cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace
) -> str:
    """Render the compile-time table: one row per engine and width, time per node + edge of the traced graph."""
    heading = f"{workload.name} (issue {workload.issue}): " + workload.title.format(n=size)
    headers = ["engine", "width", "nodes + edges", "median", "min", "spread", "per node + edge"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for engine in args.engines:
        cell = cells.get((workload.name, engine, True)) or cells.get((workload.name, engine, False))
        if cell is None:
            continue
        label = ENGINES[engine].label
        if not cell.ok:
            if (cell.final or {}).get("status") != "n/a":  # only a compiling engine has this workload
                row, note = _not_run(label, cell, len(headers))
                rows.append(row)
                notes.append(note)
            continue
        for width in cell.ok[0]["widths"]:
            times = [s["widths"][width]["seconds"] for s in cell.ok]
            count = cell.ok[0]["widths"][width]["nodes_edges"]
            rows.append([
                label, width, f"{int(count):,}", format_seconds(statistics.median(times)), format_seconds(min(times)),
                percent(spread(times)) if len(times) > 1 else "-",
                format_seconds(statistics.median(times) / count),
            ])
    text = ("### " if args.markdown else "") + heading + "\n\n" + render(headers, rows, args.markdown)
    if notes:
        text += "\n\n" + "\n".join(("- " if args.markdown else "  ") + n for n in notes)
    return text


def workload_table(
    workload: Workload, size: int, cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace
) -> str:
    """Render one workload's table (heading, rows, notes)."""
    if workload.unit == "compile":
        return compile_table(workload, size, cells, args)
    nodes = workload.nodes(size) if workload.nodes else 0
    heading = f"{workload.name} (issue {workload.issue}): " + workload.title.format(n=size, nodes=nodes)
    per_key = "per_node_s" if workload.unit == "node" else "seconds"
    unit = workload.unit
    primary = args.gc != "off"  # the collector setting the main columns show
    ref_name = workload.reference
    if ref_name not in args.engines and "torch-batched" in args.engines:
        ref_name = "torch-batched"  # the compiled-mode suite runs without micrograd: ratios to PyTorch batched
    ref_label = ENGINES[ref_name].label.split()[0] if ref_name == "micrograd" else ENGINES[ref_name].label
    ref = cells.get((workload.name, ref_name, primary))
    # When the reference failed (micrograd's RecursionError), check values against the first engine that worked.
    check_ref = ref if ref is not None and ref.ok else next(
        (c for (w, _, g), c in cells.items() if w == workload.name and g == primary and c.ok), None
    )
    headers = ["engine", f"median/{unit}", f"min/{unit}", "spread", f"vs {ref_label}", "gc share"]
    if args.gc == "both":
        headers += [f"median/{unit} gc off", "gc off / on"]
    if workload.unit == "node":
        headers += ["forward/node", "backward/node", "RSS bytes/node", f"bytes vs {ref_label}", "result"]
    else:
        headers += [f"max |grad - {ref_label}'s|"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for engine in args.engines:
        cell = cells.get((workload.name, engine, primary))
        if cell is None:
            continue
        label = ENGINES[engine].label
        if not cell.ok:
            row, note = _not_run(label, cell, len(headers))
            rows.append(row)
            notes.append(note)
            continue
        times = cell.values(per_key)
        ref_times = ref.values(per_key) if ref is not None else []
        row = [
            label,
            format_seconds(statistics.median(times)),
            format_seconds(min(times)),
            percent(spread(times)) if len(times) > 1 else "-",
            "1x" if cell is ref else ratio_text(times, ref_times, _paired(cell, ref, per_key)),
            percent(statistics.median(s["gc_s"] / s["seconds"] for s in cell.ok)) if cell.gc_on else "(gc off)",
        ]
        if args.gc == "both":
            off_times = cells[(workload.name, engine, False)].values(per_key)
            row += [
                format_seconds(statistics.median(off_times)) if off_times else "-",
                f"{statistics.median(off_times) / statistics.median(times):.2f}x" if off_times else "-",
            ]
        if workload.unit == "node":
            nbytes = statistics.median(cell.values("bytes_per_node"))
            ref_bytes = ref.values("bytes_per_node") if ref is not None else []
            row += [
                format_seconds(statistics.median(cell.values("forward_s")) / nodes),
                format_seconds(statistics.median(cell.values("backward_s")) / nodes),
                f"{nbytes:.0f}",
                f"{nbytes / statistics.median(ref_bytes):.2f}x" if ref_bytes else "-",
                _check_text(cell, check_ref),
            ]
        else:
            row += [_grad_text(cell, ref)]
        if cell.final is not None:
            notes.append(f"{label}: a later repeat ended with {cell.final['status']}: {cell.final.get('error', '')}")
        rows.append(row)
    text = ("### " if args.markdown else "") + heading + "\n\n" + render(headers, rows, args.markdown)
    if notes:
        text += "\n\n" + "\n".join(("- " if args.markdown else "  ") + n for n in notes)
    return text


def targets_text(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace) -> str:
    """One line per target of the issues: the measured value and met / MISSED, or why it was not measured."""
    lines = []
    reference = reference_probe(cells, args)
    for t in TARGETS:
        label = ENGINES[t.engine].label if t.engine in ENGINES else t.engine
        if t.metric == "time":
            ref_label = ENGINES[t.reference].label if t.reference in ENGINES else t.reference
            want = f"time <= {t.bound:g}x {ref_label}"
        else:
            want = f"memory <= {t.bound:g} bytes/node"
        head = f"issue {t.issue}: {label}, {t.workload}, {want}: "
        cell = cells.get((t.workload, t.engine, True))
        ref = cells.get((t.workload, t.reference, True))
        if t.engine not in ENGINES:
            lines.append(head + "not measured (engine not written yet)")
        elif args.quick or args.sizes.get(t.workload) != WORKLOADS[t.workload].size:
            continue  # targets hold at the full sizes: micrograd's collector cost grows with the heap
        elif cell is None or not cell.ok or (t.metric == "time" and (ref is None or not ref.ok)):
            continue  # not selected in this run, or not run with the collector on
        elif t.metric == "time":
            key = "per_node_s" if WORKLOADS[t.workload].unit == "node" else "seconds"
            assert ref is not None
            value = statistics.median(cell.values(key)) / statistics.median(ref.values(key))
            of_mins = min(cell.values(key)) / min(ref.values(key))
            verdict = "met" if value <= t.bound else "MISSED"
            slow = [f"{n} of {len(c.ok)} {ENGINES[c.engine].label} samples" for c in (cell, ref)
                    if (n := slow_samples(c, args, reference))]
            caveat = f" ({' and '.join(slow)} on a slow host)" if slow else ""
            lines.append(head + f"{value:.3g}x (ratio of minimums {of_mins:.3g}x) -> {verdict}{caveat}")
        else:
            value = statistics.median(cell.values("bytes_per_node"))
            lines.append(head + f"{value:.0f} -> " + ("met" if value <= t.bound else "MISSED"))
    if not any("->" in line for line in lines):
        lines.append("none evaluated: they hold at the default sizes with the collector on, without --quick or --size")
    bullet = "- " if args.markdown else "  "
    return "targets (ratios of medians from this run, collector on):\n" + "\n".join(bullet + line for line in lines)


def slow_bound(args: argparse.Namespace) -> float:
    """The slowdown above which a sample ran on a slow host: the gate, or ``SLOW_HOST`` without one."""
    return float(args.gate or SLOW_HOST)


def slow_samples(cell: Cell | None, args: argparse.Namespace, reference: float) -> int:
    """How many of a cell's samples ran on a slow host (see :func:`slow_bound`)."""
    if cell is None:
        return 0
    return sum(1 for s in cell.ok if (slowdown(s, reference) or 0.0) > slow_bound(args))


def host_text(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace) -> str:
    """How fast the host ran around the samples, and what the gate retook (empty for runs without probes)."""
    probes = all_probes(cells, args)
    reference = reference_of(probes)
    samples = [s for cell in cells.values() for s in cell.ok]
    factors = [(f"{cell.engine} {cell.workload}", f) for cell in cells.values() for s in cell.ok
               if (f := slowdown(s, reference)) is not None]
    if not factors:
        return ""
    bound = slow_bound(args)
    slow = [name for name, f in factors if f > bound]
    values = [f for _, f in factors]
    text = (
        f"host: around each sample the probe loop ran {min(values):.2f}-{max(values):.2f}x as long as the "
        f"reference, the {REFERENCE_QUANTILE:.0%} quantile of the run's {len(probes)} probes "
        f"({format_seconds(reference)}; median {statistics.median(values):.2f}x); "
        f"{len(slow)} of {len(factors)} samples ran on a slow host (> {bound:g}x)"
    )
    if args.gate:
        retaken = sum(1 for s in samples if s.get("retaken"))
        tries = sum(len(s.get("retaken", [])) for s in samples)
        text += (
            f"\ngate {args.gate:g}x: {retaken} samples retaken ({tries} slow tries discarded, at most "
            f"{args.retakes} per sample)"
        )
    if slow:
        text += "; kept slow: " + ", ".join(f"{name} x{slow.count(name)}" for name in dict.fromkeys(slow))
    return text


def noise_text(cells: dict[tuple[str, str, bool], Cell]) -> str:
    """Summarise the spread (max - min) / median over every cell with 2+ samples."""
    spreads = []
    for (workload, _, _), cell in cells.items():
        key = "per_node_s" if WORKLOADS[workload].unit == "node" else "seconds"
        values = cell.values(key)
        if len(values) > 1:
            spreads.append(spread(values))
    if not spreads:
        return "noise: one repeat only (use --repeats 3 or more to see it)"
    return (
        f"noise: spread (max - min) / median across repeats of the same measurement: "
        f"median {percent(statistics.median(spreads))}, largest {percent(max(spreads))} "
        f"over {len(spreads)} measurements"
    )


def machine_text(load_before: tuple[float, float, float], args: argparse.Namespace) -> str:
    """Date, interpreter, CPU and load: what the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; Python {platform.python_version()} ({sys.executable}); {cpu}, {os.cpu_count()} cores; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
        f"{args.repeats} repeat(s), each sample in its own process, collector "
        f"{ {'on': 'on', 'off': 'off', 'both': 'on and off'}[args.gc] }, {args.threads} thread(s) for torch/BLAS"
        + (f", slow-host gate {args.gate:g}x (at most {args.retakes} retakes per sample)" if args.gate else "")
    )


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def _names(text: str, known: dict[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (see ``python -m benchmarks --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="chainrule against micrograd and PyTorch: each sample in a fresh process, ratios from one run.",
    )
    parser.add_argument("--engines", default="all", help=f"comma-separated, from: {', '.join(ENGINES)} (default all)")
    parser.add_argument(
        "--workloads", default="all", help=f"comma-separated, from: {', '.join(WORKLOADS)} (default all)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="samples per engine and workload (default 5; 1 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat: a smoke run under 30 s")
    parser.add_argument(
        "--size", action="append", default=[], metavar="WORKLOAD=N", help="override a workload's size (repeatable)"
    )
    parser.add_argument(
        "--gc", choices=["on", "off", "both"], default="on",
        help="run with the collector on (as users do; default), off, or both to compare",
    )
    parser.add_argument("--warmup", type=int, default=None, help="moons: untimed steps first (default 1; 0 quick)")
    parser.add_argument("--steps", type=int, default=None, help="moons: timed steps per sample (default 2; 1 quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and initial parameters")
    parser.add_argument("--threads", type=int, default=1, help="OMP/BLAS threads in each child (default 1)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a sample is abandoned")
    parser.add_argument(
        "--gate", type=float, default=None, metavar="FACTOR",
        help="retake a sample whose host probe ran more than FACTOR (> 1) times slower than the host's usual speed "
        "(for shared hosts whose speed changes; 1.3 separates this project's host's two speeds)",
    )
    parser.add_argument("--retakes", type=int, default=4, help="with --gate: tries discarded per sample at most")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for benchmarks/README.md)")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample to this JSON file")
    parser.add_argument(
        "--from-json", type=Path, default=None, metavar="PATH",
        help="print the report of a run saved with --json instead of running (e.g. again with --markdown)",
    )
    args = parser.parse_args(argv)
    try:
        args.explicit_engines = [] if args.engines == "all" else _names(args.engines, ENGINES, "engine")
        args.engines = _names(args.engines, ENGINES, "engine")
        args.workloads = _names(args.workloads, WORKLOADS, "workload")
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    if args.steps is None:
        args.steps = 1 if args.quick else 2
    if args.repeats < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1 or args.retakes < 0:
        parser.error("--repeats, --steps and --threads must be >= 1, --warmup and --retakes >= 0")
    if args.gate is not None and not args.gate > 1.0:  # also refuses nan
        parser.error(
            f"--gate is how many times slower than its usual speed the host may run: a number > 1, got {args.gate}"
        )
    args.sizes = {name: (w.quick_size if args.quick else w.size) for name, w in WORKLOADS.items()}
    for item in args.size:
        name, _, value = item.partition("=")
        if name not in WORKLOADS or not value.isdigit() or int(value) < 1:
            parser.error(f"--size expects WORKLOAD=N, N >= 1, WORKLOAD one of {', '.join(WORKLOADS)}; got {item!r}")
        args.sizes[name] = int(value)
    return args


# The options a saved run restores with --from-json (the output format stays the current command's).
SAVED_OPTIONS = (
    "engines", "workloads", "repeats", "gc", "threads", "quick", "sizes", "warmup", "steps", "seed", "gate", "retakes",
    "calibration",
)


def report(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace, header: str, wall_s: float) -> str:
    """Render the whole report: header, one table per workload, targets, noise."""
    parts = [header.replace("\n", "\n\n") if args.markdown else header]
    parts += [workload_table(WORKLOADS[name], args.sizes[name], cells, args) for name in args.workloads]
    parts += [targets_text(cells, args), noise_text(cells)]
    parts += [text for text in (host_text(cells, args),) if text]
    parts += [f"total wall time {wall_s:.0f} s"]
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or reload a saved run) and print the report.

    Args:
        argv: command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0 (benchmarks report figures; they do not pass or fail).
    """
    args = parse_args(argv)
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        for name in SAVED_OPTIONS:
            # Runs saved before the host probe existed have no gate, retakes or probes.
            setattr(args, name, saved["options"].get(name, {"retakes": 0, "calibration": []}.get(name)))
        cells = {
            (c["workload"], c["engine"], c["gc_on"]): Cell(c["engine"], c["workload"], c["gc_on"], c["samples"])
            for c in saved["cells"]
        }
        print(report(cells, args, saved["header"], saved["wall_s"]))
        return 0
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    started = time.perf_counter()
    cells = run_all(args)
    header = machine_text(load_before, args)
    wall_s = time.perf_counter() - started
    print(report(cells, args, header, wall_s))
    if args.json is not None:
        payload = {
            "header": header,
            "wall_s": wall_s,
            "options": {name: getattr(args, name) for name in SAVED_OPTIONS},
            "cells": [
                {"workload": c.workload, "engine": c.engine, "gc_on": c.gc_on, "samples": c.samples}
                for c in cells.values()
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0
