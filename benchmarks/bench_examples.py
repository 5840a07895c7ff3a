"""Latency of formulate() on the bundled examples, engine compiled once per pack.

Run: python benchmarks/bench_examples.py [--repeat N]
Prints one row per example (median and p90 per formulation, ms) and the overall median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import ipt_formulate as ipt

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    core = ipt.load_pack(ROOT / "rules" / "ipt-core")
    ipsrt = ipt.load_pack(ROOT / "rules" / "ipsrt")
    t0 = time.perf_counter()
    for pack in (core, ipsrt):  # first call compiles the experta network for the pack
        ipt.formulate((ROOT / "examples" / "grief.json").read_text(), pack)
    print(f"first calls (compile both packs): {(time.perf_counter() - t0) * 1000:.1f} ms")
    print(f"{'example':32} {'median ms':>10} {'p90 ms':>8}")
    medians = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        text = path.read_text()
        pack = ipsrt if "bipolar" in path.name else core
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            ipt.formulate(text, pack)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        med = statistics.median(times)
        medians.append(med)
        print(f"{path.stem:32} {med:10.2f} {times[int(len(times) * 0.9) - 1]:8.2f}")
    print(f"{'all examples (median of medians)':32} {statistics.median(medians):10.2f}")


if __name__ == "__main__":
    main()
