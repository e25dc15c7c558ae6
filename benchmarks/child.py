"""One sample in a fresh process: ``python -m benchmarks.child --engine E --workload W --size N``.

``--probe-only`` times the host probe alone, in a process like a sample's:
the slow-host gate's reference (see :func:`benchmarks.cli.calibrate`).

The parent (:mod:`benchmarks.cli`) starts one of these per engine, workload
and repeat, so each sample starts with a clean heap, a clean resident set and
a clean collector. It prints one line ``BENCHMARK-RESULT {json}`` on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import traceback
from typing import Any

from benchmarks.measure import host_probe

RESULT_PREFIX = "BENCHMARK-RESULT "


def run(
    engine_name: str, workload_name: str, size: int, seed: int, gc_on: bool, options: dict[str, int]
) -> dict[str, Any]:
    """Measure one sample and return it as a JSON-able dict with a "status".

    Status is "ok", "unavailable" (the engine cannot be imported here), "n/a"
    (the engine has no adapter for this workload) or "failed" (the workload
    raised; the error is reported, as for micrograd's RecursionError). An "ok"
    sample carries ``probe_s``: the host probe's time just before and just
    after it (see :func:`benchmarks.measure.host_probe`).
    """
    from benchmarks.engines import Unavailable, load
    from benchmarks.workloads import WORKLOADS

    workload = WORKLOADS[workload_name]
    try:
        engine = load(engine_name)
    except Unavailable as error:
        return {"status": "unavailable", "error": str(error)}
    if not hasattr(engine, workload.adapter):
        return {"status": "n/a", "error": f"{engine_name} has no {workload.adapter}()"}
    if not gc_on:
        gc.disable()
    try:
        probe_before = host_probe()
        sample = workload.measure(engine, size, seed, options)
        sample["probe_s"] = [probe_before, host_probe()]
    except Unavailable as error:
        return {"status": "unavailable", "error": str(error)}
    except Exception as error:  # a benchmark reports a crash instead of hiding it
        return {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "short": type(error).__name__,
            "traceback": traceback.format_exc(),
        }
    sample["version"] = engine.version()
    sample["gc_on"] = gc_on
    return sample


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure one sample, print it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="")
    parser.add_argument("--workload", default="")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gc", choices=["on", "off"], default="on")
    parser.add_argument("--warmup", type=int, default=1, help="moons: untimed steps before the timed ones")
    parser.add_argument("--steps", type=int, default=2, help="moons: timed steps (their mean is the sample)")
    parser.add_argument("--probe-only", action="store_true", help="time the host probe only (no engine, no workload)")
    args = parser.parse_args(argv)
    if args.probe_only:
        result: dict[str, Any] = {"status": "ok", "probe_s": [host_probe()]}
    elif not (args.engine and args.workload and args.size > 0):
        parser.error("--engine, --workload and --size (>= 1) are required, unless --probe-only")
    else:
        result = run(
            args.engine, args.workload, args.size, args.seed, args.gc == "on",
            {"warmup": args.warmup, "steps": args.steps},
        )
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    # Skip the interpreter's teardown of the (possibly million-node) graph: nothing is measured after this.
    os._exit(code)
