"""Influence and sensitivity benchmark: a synthetic cohort through both audits.

Run: python benchmarks/bench_audit.py [--lines 1000] [--seed 1] [--workers 1,2]

Writes ``--lines`` inventories with ``ipt-formulate synth`` (the public command), then times
``ipt-formulate influence`` and ``ipt-formulate sensitivity`` (every weight, numeric option
and threshold of ipt-core, default grids) as a user runs them: a fresh process each time,
start-up, pack loading and engine builds included, once per worker count. For scale, it
also times the naive way on a sample (a full ``formulate`` at brief detail, compiled engine,
of each record under each variant pack) and extrapolates it to the whole sweep, so the ratio
to the audits' re-scoring is measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli(*args: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the command and its worker processes (the machine is
    shared: CPU time says what the work costs when wall time says how loaded it was)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ipt_formulate", *args], check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _naive_seconds(cohort: Path, sample: int, variants: int) -> tuple[float, int]:
    """Seconds per (record, variant) of full formulations, and the number of variants of a
    full sweep."""
    from ipt_formulate import default_pack, formulate
    from ipt_formulate.audit._sensitivity import _option_packs, parameters

    pack = default_pack()
    params = parameters(pack)
    total = sum(len(p.values) for p in params)  # the sweep; influence has one per rule
    rng = random.Random(0)
    lines = cohort.read_text(encoding="utf-8").splitlines()[:sample]
    weight_params = [p for p in params if p.kind == "weight"]
    packs = [
        pack.with_rules(weights={p.name: rng.choice(p.values)})
        for p in rng.sample(weight_params, min(variants, len(weight_params)))
    ] + list(_option_packs(pack, [p for p in params if p.kind == "option"]))[:4]
    for p in packs:  # build each engine before timing, as the audits' workers do
        formulate(lines[0], p, engine="compiled", detail="brief")
    t = time.perf_counter()
    for p in packs:
        for line in lines:
            formulate(line, p, engine="compiled", detail="brief")
    return (time.perf_counter() - t) / (len(packs) * len(lines)), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort.jsonl"
        t, _ = _cli("synth", "-n", str(args.lines), "--seed", str(args.seed), "-o", str(cohort))
        print(f"synth -n {args.lines}: {t:.1f} s")
        for workers in (int(w) for w in args.workers.split(",")):
            for cmd in ("influence", "sensitivity"):
                out = Path(tmp) / f"{cmd}.json"
                wall, cpu = _cli(cmd, str(cohort), "--workers", str(workers), "--format", "json",
                                 "-o", str(out))  # fmt: skip
                print(
                    f"{cmd:12} {args.lines} records, {workers} worker(s): {wall:6.1f} s wall, "
                    f"{cpu:6.1f} s CPU"
                )
        per, variants = _naive_seconds(cohort, sample=50, variants=12)
        from ipt_formulate import default_pack

        rules = len(default_pack().active_rules)
        print(
            f"naive (full formulate per record and variant): {per * 1000:.2f} ms each; "
            f"sensitivity {variants} variants x {args.lines} records = "
            f"{per * variants * args.lines:.0f} s, influence {rules} x {args.lines} = "
            f"{per * rules * args.lines:.0f} s of CPU"
        )


if __name__ == "__main__":
    main()
