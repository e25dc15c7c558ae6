"""Instruction counts per node and per step, under callgrind: ``python -m benchmarks.instructions``.

Wall-clock ratios move 10-30% between runs on a host whose speed changes
every few seconds; the number of instructions a workload executes does not.
This command counts them with ``valgrind --tool=callgrind`` and reports, for
each engine, instructions per graph node (balanced-sum, tanh-chain) or per
training step (moons), and the ratio to the floor engine and to micrograd.

How one figure is measured:

* Each measurement is a fresh child process, ``python -m
  benchmarks.instructions child ...``, run as ``setarch <arch> -R valgrind
  --tool=callgrind`` with address-space randomisation off, ``PYTHONHASHSEED=0``
  and one BLAS/OpenMP thread, a fixed short environment, and numpy.random's
  import-time seed fixed (:func:`fix_import_entropy`): with those, the same
  child executes the same number of instructions every time.
* Each engine runs each workload at two sizes: N and 2N products or steps for
  the graph workloads, 1 and 2 timed moons steps after the same warm-up. The
  difference of the two totals divided by the difference in nodes (or steps)
  cancels the interpreter's start-up, the imports and the warm-up.
* The harness is excluded. The data that grows with the size (the balanced
  sum's ``random_leaves`` lists, the ``gc.collect()`` that walks them) is
  counted the same way with a no-op engine (``harness`` row: it makes the
  data and calls nothing), and that figure is subtracted from every engine's,
  so the per-node figures are the engine's own work: building the graph,
  backward, and the collector passes the engine's allocations cause.
* The collector is on, as the adapters run it: inside their ``defer_gc`` /
  ``_collector_deferred`` blocks, with Python's default thresholds outside.
  ``--gc off`` disables it in the child instead.
* A graph's teardown is not counted (the child leaves with ``os._exit``, as
  :mod:`benchmarks.child` does).

Instructions are not time: cache misses and branch mispredictions differ
between engines, so these figures complement the wall-clock medians of
``python -m benchmarks`` and never replace them.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.cli import REPO_ROOT, child_env, child_result, crashed, format_ratio, render
from benchmarks.engines import ENGINES
from benchmarks.workloads import WORKLOADS, Workload

RESULT_PREFIX = "INSTRUCTIONS-RESULT "

# The no-op engine whose counts are subtracted from every engine's.
HARNESS = "harness"

# The workloads this command counts, with their default small size (the large one is twice it): products for
# the balanced sum, steps for the tanh chain, timed training steps (after the warm-up) for moons.
DEFAULT_SIZES: dict[str, int] = {"balanced-sum": 20_000, "tanh-chain": 50_000, "moons": 1}

# The size a child runs outside valgrind first: it finds an engine that cannot run here without paying
# callgrind's start-up, and writes the bytecode caches, so no counted run compiles a module.
PROBE_SIZES: dict[str, int] = {"balanced-sum": 8, "tanh-chain": 8, "moons": 1}

# The engines ratios are taken against, when they are in the run.
REFERENCES = ("floor", "micrograd")

INSTALL_HINTS = {
    "valgrind": "valgrind is not installed; it counts the instructions. Install it with "
    "`sudo apt-get install valgrind` (Debian/Ubuntu), `sudo dnf install valgrind` (Fedora) or your system's "
    "package manager (Linux only).",
    "setarch": "setarch is not installed; it turns address-space randomisation off, without which the counts "
    "wander. It is part of util-linux: `sudo apt-get install util-linux` (Debian/Ubuntu), "
    "`sudo dnf install util-linux` (Fedora).",
}


class ToolMissing(RuntimeError):
    """Raised when valgrind or setarch is not on PATH; the message names the tool and how to install it."""


# ----------------------------------------------------------------------------
# Callgrind's output
# ----------------------------------------------------------------------------


def parse_callgrind_total(text: str) -> int:
    """Return the total instructions (``Ir``) from a callgrind out file's text.

    Args:
        text: the contents of a file written by ``--callgrind-out-file``.

    Returns:
        The ``summary:`` (or, failing that, ``totals:``) count of the first event, which must be ``Ir``.

    Raises:
        ValueError: when the text has no such line, or its first event is not ``Ir``.
    """
    events: list[str] = []
    totals: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        if key == "events":
            events = rest.split()
        elif key in ("summary", "totals") and rest.split():
            totals[key] = int(rest.split()[0])
    if events and events[0] != "Ir":
        raise ValueError(f"callgrind output counts {events[0]!r} first, not instructions (Ir)")
    for key in ("summary", "totals"):
        if key in totals:
            return totals[key]
    raise ValueError("callgrind output has no 'summary:' or 'totals:' line (was the run cut short?)")


def check_tools() -> None:
    """Make sure valgrind and setarch are on PATH.

    Raises:
        ToolMissing: naming the first missing tool and how to install it.
    """
    for tool in ("valgrind", "setarch"):
        if shutil.which(tool) is None:
            raise ToolMissing(INSTALL_HINTS[tool])


# ----------------------------------------------------------------------------
# The child: one workload at one size, counted by the parent's callgrind
# ----------------------------------------------------------------------------


class _NoOpGraph:
    def backward(self) -> None:
        pass


class _NoOpTrainer:
    def step(self, lr: float) -> float:
        return 0.0


def _harness_engine() -> SimpleNamespace:
    """An engine that builds nothing: what the child does besides the engine's work."""
    return SimpleNamespace(
        balanced_sum=lambda a, b: _NoOpGraph(),
        tanh_chain=lambda x0, steps: _NoOpGraph(),
        moons=lambda params, inputs, labels: _NoOpTrainer(),
    )


def run_workload(engine: Any, workload: str, size: int, *, seed: int, warmup: int) -> None:
    """Run one workload on an engine adapter, with nothing around it that a timed sample would add.

    Args:
        engine: an adapter module (or the harness's no-op engine).
        workload: "balanced-sum", "tanh-chain" or "moons".
        size: products of the balanced sum, steps of the tanh chain, timed steps of moons.
        seed: seed of the data and the initial parameters.
        warmup: moons only: steps before the timed ones.
    """
    from benchmarks.workloads import MOONS_LAYERS, make_moons, micrograd_init, moons_lr, random_leaves

    if workload == "balanced-sum":
        a, b = random_leaves(size, seed)
        gc.collect()  # as benchmarks.workloads does before building
        engine.balanced_sum(a, b).backward()
    elif workload == "tanh-chain":
        gc.collect()
        engine.tanh_chain(0.5, size).backward()
    elif workload == "moons":
        inputs, labels = make_moons(WORKLOADS["moons"].size, noise=0.1, seed=seed)
        trainer = engine.moons(micrograd_init(2, MOONS_LAYERS, seed=seed), inputs, labels)
        for k in range(warmup + size):
            trainer.step(moons_lr(k))
    else:
        raise ValueError(f"no instruction-count workload {workload!r}; choose from {', '.join(DEFAULT_SIZES)}")


def fix_import_entropy() -> None:
    """Make the entropy that numpy.random draws when it is imported a constant, in this (counting) process only.

    numpy.random seeds its global ``RandomState`` at import from
    ``secrets.randbits(128)``, and turning that number into seed words costs
    more or fewer instructions depending on its value: a few thousand
    instructions that change from run to run (chainrule's nn imports
    numpy.random). No workload uses that generator; each is seeded.
    """
    import secrets

    secrets.randbits = lambda k: (1 << (k - 1)) | 0x5EED  # the top bit set: the same number of words every run


def child(engine_name: str, workload: str, size: int, *, seed: int, warmup: int, gc_on: bool) -> dict[str, Any]:
    """Run one workload in this process and return its status as a JSON-able dict.

    Status is "ok", "unavailable" (the engine cannot be imported here), "n/a"
    (no adapter for the workload) or "failed" (it raised; the error is kept).
    """
    from benchmarks.engines import Unavailable, load

    fix_import_entropy()
    if engine_name == HARNESS:
        engine: Any = _harness_engine()
    else:
        try:
            engine = load(engine_name)
        except Unavailable as error:
            return {"status": "unavailable", "error": str(error)}
        if not hasattr(engine, WORKLOADS[workload].adapter):
            return {"status": "n/a", "error": f"{engine_name} has no {WORKLOADS[workload].adapter}()"}
    if not gc_on:
        gc.disable()
    try:
        run_workload(engine, workload, size, seed=seed, warmup=warmup)
    except Exception as error:  # reported, as benchmarks.child does (micrograd's RecursionError)
        return {"status": "failed", "error": f"{type(error).__name__}: {error}", "short": type(error).__name__,
                "traceback": traceback.format_exc()}
    return {"status": "ok"}


def child_main(argv: Sequence[str]) -> int:
    """The child's command line: ``child --engine E --workload W --size N [--seed S --warmup K --gc on]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions child")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--gc", choices=["on", "off"], default="on")
    args = parser.parse_args(argv)
    result = child(args.engine, args.workload, args.size, seed=args.seed, warmup=args.warmup, gc_on=args.gc == "on")
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# ----------------------------------------------------------------------------
# The parent: running children under callgrind
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What every child of one run shares.

    Attributes:
        seed: seed of the data and initial parameters.
        warmup: moons steps before the timed ones.
        gc_on: whether the collector runs in the child.
        timeout: seconds before one child is abandoned.
        python: the interpreter children run with.
    """

    seed: int = 0
    warmup: int = 1
    gc_on: bool = True
    timeout: float = 1800.0
    python: str = sys.executable


# The only variables a counted child inherits: any other one (a terminal's, pytest's PYTEST_CURRENT_TEST) would
# change the count, since the environment is copied into os.environ's dict and shifts the stack.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")


def import_root() -> Path:
    """The directory a counted child runs in and imports ``benchmarks`` from: a link to benchmarks/ and nothing else.

    Not the repository's root: the import system lists the directories on
    sys.path, and the root's listing changes while the project works (a
    build/ directory, a tool's cache), which changed a count by tens of
    thousands of instructions. The path is fixed for a checkout (a hash of
    it), since its length counts too.
    """
    root = Path(tempfile.gettempdir()) / f"chainrule-instructions-{hashlib.sha256(bytes(REPO_ROOT)).hexdigest()[:12]}"
    link = root / "benchmarks"
    if not link.is_symlink():
        root.mkdir(exist_ok=True)
        try:
            link.symlink_to(REPO_ROOT / "benchmarks", target_is_directory=True)
        except FileExistsError:  # another run made it first
            pass
    return root


def counting_env() -> dict[str, str]:
    """The child's environment: only :data:`INHERITED_ENV`, :func:`import_root` importable, one thread, a fixed
    hash seed."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    chosen = child_env(1)  # the thread pools pinned, as benchmarks.cli runs a child
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS"):
        env[name] = chosen[name]
    env["PYTHONPATH"] = str(import_root())
    env["PYTHONHASHSEED"] = "0"
    return env


def child_command(engine: str, workload: str, size: int, settings: Settings) -> list[str]:
    """The child's command line (without valgrind)."""
    return [
        settings.python, "-m", "benchmarks.instructions", "child", "--engine", engine, "--workload", workload,
        "--size", str(size), "--seed", str(settings.seed), "--warmup", str(settings.warmup),
        "--gc", "on" if settings.gc_on else "off",
    ]


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The child's result line, or a "failed" result naming its exit code and last lines of stderr."""
    return child_result(proc.stdout, RESULT_PREFIX) or crashed(proc)


def run_plain(engine: str, workload: str, size: int, settings: Settings) -> dict[str, Any]:
    """Run a child without valgrind (a quick check that the engine runs here); return its result."""
    try:
        proc = subprocess.run(child_command(engine, workload, size, settings), cwd=import_root(), env=counting_env(),
                              capture_output=True, text=True, timeout=settings.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {settings.timeout:.0f} s", "short": "timeout"}
    return _result(proc)


def count_instructions(engine: str, workload: str, size: int, settings: Settings) -> dict[str, Any]:
    """Run a child under callgrind with address-space randomisation off; return its result with ``instructions``.

    Raises:
        ToolMissing: when valgrind or setarch is not on PATH.
    """
    check_tools()
    with tempfile.TemporaryDirectory(prefix="chainrule-callgrind-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        command = [
            "setarch", platform.machine(), "-R", "valgrind", "-q", "--tool=callgrind",
            f"--callgrind-out-file={out_file}", *child_command(engine, workload, size, settings),
        ]
        try:
            proc = subprocess.run(command, cwd=import_root(), env=counting_env(), capture_output=True, text=True,
                                  timeout=settings.timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": f"timed out under callgrind after {settings.timeout:.0f} s",
                    "short": "timeout"}
        result = _result(proc)
        if result["status"] == "ok":
            try:
                result["instructions"] = parse_callgrind_total(out_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
                return {"status": "failed", "error": f"no callgrind count ({error}); {tail}", "short": "no count"}
    return result


# ----------------------------------------------------------------------------
# One figure: an engine on a workload at two sizes
# ----------------------------------------------------------------------------


def units(workload: Workload, size: int) -> int:
    """What a figure is divided by: graph nodes at this size, or timed steps for moons."""
    return workload.nodes(size) if workload.nodes is not None else size


@dataclass
class Figure:
    """One engine on one workload: the two counted runs and what follows from them.

    Attributes:
        engine: engine name (or ``HARNESS``).
        workload: workload name.
        sizes: the small and the large size.
        runs: the children's results at the two sizes (``instructions`` when ok).
        harness: the harness's instructions per unit, subtracted from this engine's (0 for the harness).
    """

    engine: str
    workload: str
    sizes: tuple[int, int]
    runs: list[dict[str, Any]] = field(default_factory=list)
    harness: float = 0.0

    @property
    def status(self) -> str:
        """"ok" when both runs were counted, else the first other status."""
        for run in self.runs:
            if run["status"] != "ok":
                return str(run["status"])
        return "ok" if len(self.runs) == 2 else "not run"

    @property
    def error(self) -> str:
        """The first run's error, if any."""
        return next((str(run.get("error", "")) for run in self.runs if run["status"] != "ok"), "")

    @property
    def raw_per_unit(self) -> float:
        """Instructions per node (or step) of the whole child, harness included."""
        small, large = self.runs
        w = WORKLOADS[self.workload]
        return (large["instructions"] - small["instructions"]) / (units(w, self.sizes[1]) - units(w, self.sizes[0]))

    @property
    def per_unit(self) -> float:
        """Instructions per node (or step) of the engine alone: the harness's subtracted."""
        return self.raw_per_unit - self.harness


Job = tuple[str, str, int]


def measure(
    engines: Sequence[str], workloads: Sequence[str], sizes: dict[str, int], settings: Settings, *, jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], Figure]:
    """Count every engine (and the harness) on every workload at its size and twice it.

    Args:
        engines: engine names (keys of :data:`benchmarks.engines.ENGINES`).
        workloads: workload names (keys of :data:`DEFAULT_SIZES`).
        sizes: the small size of each workload.
        settings: what every child shares.
        jobs: children run under callgrind at once (counts do not depend on it).
        progress: called with one line per counted run.

    Returns:
        The figures by (workload, engine), the harness's included.

    Raises:
        ToolMissing: when valgrind or setarch is not on PATH.
    """
    check_tools()
    say = progress or (lambda line: None)
    figures: dict[tuple[str, str], Figure] = {}
    todo: list[tuple[Figure, Job]] = []
    for workload in workloads:
        small = sizes[workload]
        for engine in (HARNESS, *engines):
            figure = Figure(engine, workload, (small, 2 * small))
            figures[(workload, engine)] = figure
            probe = run_plain(engine, workload, PROBE_SIZES[workload], settings)
            if probe["status"] != "ok":
                figure.runs = [probe]
                say(f"{workload:<13} {engine:<10} {probe['status']}: {probe.get('short') or probe.get('error', '')}")
                continue
            todo += [(figure, (engine, workload, size)) for size in figure.sizes]

    def one(job: Job) -> dict[str, Any]:
        result = count_instructions(*job, settings)
        count = f"{result['instructions']:,} instructions" if result["status"] == "ok" else result["status"]
        say(f"{job[1]:<13} {job[0]:<10} size {job[2]:>7,}: {count}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, [job for _, job in todo]))
    for (figure, _), result in zip(todo, results):
        figure.runs.append(result)
    for workload in workloads:
        harness = figures[(workload, HARNESS)]
        for engine in engines:
            figure = figures[(workload, engine)]
            if figure.status == "ok" and harness.status == "ok":
                figure.harness = harness.raw_per_unit
    return figures


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def _ratio(figure: Figure, reference: Figure | None) -> str:
    if reference is None or figure.status != "ok" or reference.status != "ok":
        return "-"
    if reference is figure:
        return "1x"
    return format_ratio(figure.per_unit / reference.per_unit)


def workload_table(workload: str, engines: Sequence[str], figures: dict[tuple[str, str], Figure], *,
                   markdown: bool, warmup: int) -> str:
    """Render one workload's table: instructions per unit, ratios to the floor and micrograd, the raw totals."""
    w = WORKLOADS[workload]
    unit = "node" if w.nodes is not None else "step"
    small, large = figures[(workload, HARNESS)].sizes
    if w.nodes is not None:
        heading = f"{workload}: {w.title.format(n=small, nodes=units(w, small))}; counted at {small:,} and {large:,}"
    else:
        heading = f"{workload}: {w.title.format(n=w.size)}; {small} and {large} counted steps after {warmup} warm-up"
    headers = ["engine", f"instructions/{unit}", "vs floor", "vs micrograd", f"total at {small:,}",
               f"total at {large:,}"]
    refs = {name: figures.get((workload, name)) for name in REFERENCES}
    rows: list[list[str]] = []
    notes: list[str] = []
    for engine in engines:
        figure = figures[(workload, engine)]
        label = ENGINES[engine].label
        if figure.status != "ok":
            rows.append([label, figure.status, "", "", "", ""])
            notes.append(f"{label}: {figure.status}: {figure.error}")
            continue
        rows.append([
            label, f"{figure.per_unit:,.0f}", _ratio(figure, refs["floor"]), _ratio(figure, refs["micrograd"]),
            f"{figure.runs[0]['instructions']:,}", f"{figure.runs[1]['instructions']:,}",
        ])
    harness = figures[(workload, HARNESS)]
    if harness.status == "ok":
        rows.append([
            "harness (subtracted above)", f"{round(harness.raw_per_unit):,}", "", "",
            f"{harness.runs[0]['instructions']:,}", f"{harness.runs[1]['instructions']:,}",
        ])
    else:
        notes.append(f"harness: {harness.status}: {harness.error} (the figures above include the harness)")
    text = ("### " if markdown else "") + heading + "\n\n" + render(headers, rows, markdown)
    if notes:
        text += "\n\n" + "\n".join(("- " if markdown else "  ") + n for n in notes)
    return text


def _version(command: list[str]) -> str:
    try:
        proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def header_text(args: argparse.Namespace) -> str:
    """What the counts were taken with: commit, interpreter, valgrind, settings (nothing that changes run to run)."""
    commit = _version(["git", "describe", "--always", "--dirty", "--abbrev=12"])
    return (
        f"instruction counts (valgrind --tool=callgrind, Ir) at commit {commit}; Python {platform.python_version()}; "
        f"{_version(['valgrind', '--version'])}; {platform.machine()}\n"
        f"collector {'on (as the adapters run it)' if args.gc == 'on' else 'off'}; each figure is "
        f"(count at 2N - count at N) / (units at 2N - units at N), less the harness's figure; ASLR off, "
        f"PYTHONHASHSEED=0, 1 BLAS thread; seed {args.seed}"
    )


def report(figures: dict[tuple[str, str], Figure], args: argparse.Namespace, header: str) -> str:
    """The whole report: the header and one table per workload."""
    parts = [header.replace("\n", "\n\n") if args.markdown else header]
    parts += [
        workload_table(w, args.engines, figures, markdown=args.markdown, warmup=args.warmup) for w in args.workloads
    ]
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(known)}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (see ``python -m benchmarks.instructions --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="Instructions per node or step under callgrind: deterministic figures to set beside the "
        "wall-clock medians of `python -m benchmarks`.",
    )
    parser.add_argument("--engines", default="chainrule,floor,micrograd",
                        help=f"comma-separated, from: {', '.join(ENGINES)} (default chainrule,floor,micrograd)")
    parser.add_argument("--workloads", default=",".join(DEFAULT_SIZES),
                        help=f"comma-separated, from: {', '.join(DEFAULT_SIZES)} (default all three)")
    parser.add_argument("--size", action="append", default=[], metavar="WORKLOAD=N",
                        help="the small size (the large one is 2N): products, tanh steps or counted moons steps; "
                        f"defaults {', '.join(f'{k}={v}' for k, v in DEFAULT_SIZES.items())}")
    parser.add_argument("--gc", choices=["on", "off"], default="on",
                        help="the collector on, as the adapters run it (default), or disabled in the child")
    parser.add_argument("--warmup", type=int, default=1, help="moons: steps before the counted ones (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and initial parameters")
    parser.add_argument("--jobs", type=int, default=1, help="children under callgrind at once (default 1)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a child is abandoned")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--json", type=Path, default=None, help="also write every count to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.engines = _names(args.engines, list(ENGINES), "engine")
        args.workloads = _names(args.workloads, list(DEFAULT_SIZES), "workload")
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    args.sizes = dict(DEFAULT_SIZES)
    for item in args.size:
        name, _, value = item.partition("=")
        if name not in DEFAULT_SIZES or not value.isdigit() or int(value) < 1:
            parser.error(f"--size expects WORKLOAD=N, N >= 1, WORKLOAD one of {', '.join(DEFAULT_SIZES)}; "
                         f"got {item!r}")
        args.sizes[name] = int(value)
    if args.warmup < 0 or args.jobs < 1 or not args.timeout > 0:
        parser.error("--warmup must be >= 0, --jobs >= 1 and --timeout > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Count instructions and print the report.

    Args:
        argv: command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0, or 2 when valgrind or setarch is missing (the message says how to install it).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    try:
        check_tools()
    except ToolMissing as error:
        print(f"python -m benchmarks.instructions: {error}", file=sys.stderr)
        return 2
    settings = Settings(seed=args.seed, warmup=args.warmup, gc_on=args.gc == "on", timeout=args.timeout)
    started = time.perf_counter()
    figures = measure(args.engines, args.workloads, args.sizes, settings, jobs=args.jobs,
                      progress=lambda line: print(line, file=sys.stderr, flush=True))
    header = header_text(args)
    print(report(figures, args, header))
    wall_s = time.perf_counter() - started
    print(f"total wall time {wall_s:.0f} s", file=sys.stderr)
    if args.json is not None:
        payload = {
            "header": header,
            "wall_s": wall_s,
            "options": {"engines": args.engines, "workloads": args.workloads, "sizes": args.sizes, "gc": args.gc,
                        "warmup": args.warmup, "seed": args.seed},
            "figures": [
                {"workload": f.workload, "engine": f.engine, "sizes": list(f.sizes), "status": f.status,
                 "runs": f.runs, "harness_per_unit": f.harness,
                 "per_unit": f.per_unit if f.status == "ok" else None}
                for f in figures.values()
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    code = main()
    # Skip the teardown of the (possibly large) graph: it is not part of what is counted.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
