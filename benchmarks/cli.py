"""The benchmark command: schedule one child process per sample, then print the tables.

``python -m benchmarks`` runs every workload on every engine, each sample in
its own fresh process (``sys.executable -m benchmarks.child``), repeats
interleaved so all engines see the same machine load, and prints per-workload
tables with the median, the minimum, the spread across repeats, the ratio to
micrograd measured in the same run, the garbage collector's share of the time
and, for graph workloads, the resident-set growth per node.
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
from benchmarks.engines import BASELINE, ENGINES, adapter_functions
from benchmarks.workloads import TARGETS, WORKLOADS, Workload

REPO_ROOT = Path(__file__).resolve().parent.parent

# Statuses after which repeating a sample tells nothing new.
FINAL_STATUSES = ("unavailable", "n/a", "failed")


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
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX):])
            result["wall_s"] = time.perf_counter() - started
            return result
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
    unit = "node" if workload.unit == "node" else "step"
    per = result["per_node_s"] if workload.unit == "node" else result["seconds"]
    return f"{format_seconds(per)}/{unit}, gc {percent(result['gc_s'] / result['seconds'])}"


def run_all(args: argparse.Namespace) -> dict[tuple[str, str, bool], Cell]:
    """Run every sample, repeats interleaved across engines; return the cells."""
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
            result = run_child(
                engine, workload, args.sizes[workload_name], seed=args.seed, gc_on=gc_on, options=options,
                threads=args.threads, timeout=args.timeout,
            )
            cell.samples.append(result)
            where = f"[{rep + 1}/{args.repeats}] {workload_name:<13} {engine:<14}" + ("" if gc_on else " (gc off)")
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


def ratio_text(values: Sequence[float], reference: Sequence[float], paired: Sequence[tuple[float, float]]) -> str:
    """'0.21x (0.20-0.23)': ratio of medians, with the range of the per-repeat ratios."""
    if not values or not reference:
        return "-"
    text = f"{statistics.median(values) / statistics.median(reference):.3g}x"
    ratios = [v / r for v, r in paired if r]
    if len(ratios) > 1:
        text += f" ({min(ratios):.3g}-{max(ratios):.3g})"
    return text


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """Render a table as aligned text or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
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


def workload_table(
    workload: Workload, size: int, cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace
) -> str:
    """Render one workload's table (heading, rows, notes)."""
    nodes = workload.nodes(size) if workload.nodes else 0
    heading = f"{workload.name} (issue {workload.issue}): " + workload.title.format(n=size, nodes=nodes)
    per_key = "per_node_s" if workload.unit == "node" else "seconds"
    unit = "node" if workload.unit == "node" else "step"
    base = cells.get((workload.name, BASELINE, True))
    # When the baseline failed (micrograd's RecursionError), check values against the first engine that worked.
    check_ref = base if base is not None and base.ok else next(
        (c for (w, _, g), c in cells.items() if w == workload.name and g and c.ok), None
    )
    headers = [
        "engine", f"median/{unit}", f"min/{unit}", "spread", f"vs {BASELINE} (median; per-repeat range)", "gc share",
    ]
    if args.gc == "both":
        headers += [f"median/{unit} gc off", "gc off vs on"]
    if workload.unit == "node":
        headers += ["forward", "backward", "RSS bytes/node", f"bytes vs {BASELINE}", "result"]
    else:
        headers += [f"max |grad - {BASELINE}|"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for engine in args.engines:
        cell = cells.get((workload.name, engine, True)) or cells.get((workload.name, engine, False))
        if cell is None:
            continue
        label = ENGINES[engine].label
        if not cell.ok:
            final = cell.final or {"status": "?", "error": "no sample"}
            rows.append([label, final["status"]] + [""] * (len(headers) - 2))
            notes.append(f"{label}: {final['status']}: {final.get('error', '')}")
            continue
        times = cell.values(per_key)
        gc_share = statistics.median(s["gc_s"] / s["seconds"] for s in cell.ok)
        row = [
            label,
            format_seconds(statistics.median(times)),
            format_seconds(min(times)),
            percent(spread(times)) if len(times) > 1 else "-",
            ratio_text(times, base.values(per_key) if base and base.gc_on == cell.gc_on else [],
                       _paired(cell, base, per_key)) if base is not cell else "1x",
            percent(gc_share) if cell.gc_on else "(gc off)",
        ]
        if args.gc == "both":
            off = cells[(workload.name, engine, False)]
            off_times = off.values(per_key)
            row += [
                format_seconds(statistics.median(off_times)) if off_times else "-",
                f"{statistics.median(off_times) / statistics.median(times):.2f}x" if off_times else "-",
            ]
        if workload.unit == "node":
            nbytes = cell.values("bytes_per_node")
            base_bytes = base.values("bytes_per_node") if base is not None else []
            row += [
                format_seconds(statistics.median(cell.values("forward_s")) / nodes),
                format_seconds(statistics.median(cell.values("backward_s")) / nodes),
                f"{statistics.median(nbytes):.0f}",
                f"{statistics.median(nbytes) / statistics.median(base_bytes):.2f}x" if base_bytes else "-",
                _check_text(cell, check_ref),
            ]
        else:
            row += [_grad_text(cell, base)]
        if cell.final is not None:
            notes.append(f"{label}: a later repeat ended with {cell.final['status']}: {cell.final.get('error', '')}")
        rows.append(row)
    text = heading + "\n\n" + render(headers, rows, args.markdown)
    if notes:
        text += "\n\n" + "\n".join(("- " if args.markdown else "  ") + n for n in notes)
    return text


def targets_text(cells: dict[tuple[str, str, bool], Cell], args: argparse.Namespace) -> str:
    """One line per target of the issues: the measured value and met / missed."""
    lines = []
    for t in TARGETS:
        if args.sizes[t.workload] != WORKLOADS[t.workload].size:
            continue  # the issues set targets at the full sizes (micrograd's collector cost grows with the heap)
        cell = cells.get((t.workload, t.engine, True))
        if cell is None or not cell.ok:
            continue
        label = ENGINES[t.engine].label
        if t.metric == "time":
            ref = cells.get((t.workload, t.reference, True))
            if ref is None or not ref.ok:
                continue
            key = "per_node_s" if WORKLOADS[t.workload].unit == "node" else "seconds"
            value = statistics.median(cell.values(key)) / statistics.median(ref.values(key))
            what = f"time <= {t.bound:g}x {ENGINES[t.reference].label}: {value:.3g}x"
        else:
            value = statistics.median(cell.values("bytes_per_node"))
            what = f"memory <= {t.bound:g} bytes/node: {value:.0f}"
        verdict = "met" if value <= t.bound else "MISSED"
        lines.append(f"issue {t.issue}: {label}, {t.workload}, {what}  -> {verdict}")
    if not lines:
        return "targets: not evaluated (they apply to the full sizes; run without --quick or --size)"
    bullet = "- " if args.markdown else "  "
    return "targets (gc on, ratios of medians from this run):\n" + "\n".join(bullet + line for line in lines)


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
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for benchmarks/README.md)")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample to this JSON file")
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
    if args.repeats < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--repeats, --steps and --threads must be >= 1 and --warmup >= 0")
    args.sizes = {name: (w.quick_size if args.quick else w.size) for name, w in WORKLOADS.items()}
    for item in args.size:
        name, _, value = item.partition("=")
        if name not in WORKLOADS or not value.isdigit() or int(value) < 1:
            parser.error(f"--size expects WORKLOAD=N, N >= 1, WORKLOAD one of {', '.join(WORKLOADS)}; got {item!r}")
        args.sizes[name] = int(value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the tables.

    Args:
        argv: command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0 (benchmarks report figures; they do not pass or fail).
    """
    args = parse_args(argv)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    started = time.perf_counter()
    cells = run_all(args)
    parts = [machine_text(load_before, args)]
    for name in args.workloads:
        parts.append(workload_table(WORKLOADS[name], args.sizes[name], cells, args))
    for extra in (targets_text(cells, args), noise_text(cells)):
        if extra:
            parts.append(extra)
    parts.append(f"total wall time {time.perf_counter() - started:.0f} s")
    print("\n\n".join(parts))
    if args.json is not None:
        payload = {
            "argv": list(sys.argv if argv is None else argv),
            "sizes": args.sizes,
            "cells": [
                {"workload": c.workload, "engine": c.engine, "gc_on": c.gc_on, "samples": c.samples}
                for c in cells.values()
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0
