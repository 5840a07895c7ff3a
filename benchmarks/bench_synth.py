"""Synthetic-cohort benchmark: records per second of ``synth`` by generator and size.

Run: python benchmarks/bench_synth.py [--n 20000] [--seed 7]

In one process, times :func:`ipt_formulate.audit.synth_records` (generation and JSON, no
file) for the direct generator at the default sizes (0-5 persons, up to 5 events and 4
relationships), at about 15 persons (``--min-persons 12 --max-persons 18``, the cohorts of
``bench_batch``), at 1,000 persons, with 1 % invalid records (drawn through Hypothesis), and
the Hypothesis generator at the default sizes for comparison. Then runs the command line
(``ipt-formulate synth -n N -o FILE``) with 1 and 2 workers, start-up included. Prints
records/s and the issue-14 target (>= 2,000 records/s at the default sizes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ipt_formulate.audit import SynthOptions, synth_records

TARGET = 2000.0


def rate(n: int, seed: int, opts: SynthOptions) -> tuple[float, float]:
    """(records/s, mean bytes per record) of ``n`` records made in this process."""
    t = time.perf_counter()
    size = sum(len(line) for line in synth_records(n, seed, opts))
    return n / (time.perf_counter() - t), size / max(n, 1)


def cli_rate(n: int, seed: int, workers: int) -> float:
    """Records/s of ``ipt-formulate synth`` writing a file, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cohort.jsonl"
        cmd = [sys.executable, "-m", "ipt_formulate", "synth", "-n", str(n), "--seed", str(seed)]
        t = time.perf_counter()
        subprocess.run([*cmd, "-o", str(out), "--workers", str(workers)], check=True)
        wall = time.perf_counter() - t
        with out.open() as f:
            assert sum(1 for _ in f) == n
    return n / wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="records at the default sizes")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    n, seed = args.n, args.seed
    cases = [
        ("direct, default sizes", n, SynthOptions()),
        ("direct, no unknowns", n // 2, SynthOptions(unknowns=False)),
        ("direct, 12-18 persons", n // 4, SynthOptions(min_persons=12, max_persons=18)),
        (
            "direct, 1,000 persons",
            max(n // 1000, 5),
            SynthOptions(
                min_persons=1000, max_persons=1000, max_events=200, max_relationships=2000
            ),
        ),
        ("direct, 1 % invalid", n // 4, SynthOptions(invalid=0.01)),
        ("hypothesis, default sizes", max(n // 100, 20), SynthOptions(generator="hypothesis")),
    ]
    print(f"{'synth_records (one process)':<30} {'records':>8} {'records/s':>10} {'bytes/rec':>10}")
    rates = {}
    for label, k, opts in cases:
        rates[label], size = rate(k, seed, opts)
        print(f"{label:<30} {k:>8} {rates[label]:>10,.0f} {size:>10,.0f}")
    for workers in (1, 2):
        r = cli_rate(n, seed, workers)
        print(f"{f'CLI synth -n {n}, {workers} worker(s)':<30} {n:>8} {r:>10,.0f}")
    direct, old = rates["direct, default sizes"], rates["hypothesis, default sizes"]
    print(f"direct / hypothesis generator: {direct / old:,.0f}x")
    met = direct >= TARGET
    print(f"target >= {TARGET:,.0f} records/s at default sizes: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
