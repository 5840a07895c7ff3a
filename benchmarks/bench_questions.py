"""Cost of bounds and questions on incomplete inventories.

Run: python benchmarks/bench_questions.py [--n 60] [--repeat 5]

For the bundled examples and a synthetic cohort with unknown values (seeded), prints the
median time of ``formulate(engine="compiled")`` with ``questions=0`` (bounds only: one extra
optimistic rule run) and ``questions=5``, their ratio, and the number of re-formulations the
questions took (at most 12 values x their answers). Ratios are measured in one run, so the
machine's drift (±30 %) cancels out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import ipt_formulate as ipt
from ipt_formulate import _questions
from ipt_formulate.audit import SynthOptions, synth_records

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(text: str, pack: ipt.RulePack, questions: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        ipt.formulate(text, pack, engine="compiled", questions=questions)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _reformulations(text: str, pack: ipt.RulePack) -> int:
    """How many scoring-only re-formulations questions=5 ran for this inventory."""
    count = 0
    original = _questions._top

    def counting(inv: Any, p: Any, cap: int) -> Any:
        nonlocal count
        count += 1
        return original(inv, p, cap)

    _questions._top = counting  # type: ignore[assignment]
    try:
        ipt.formulate(text, pack, engine="compiled", questions=5)
    finally:
        _questions._top = original  # type: ignore[assignment]
    return count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="synthetic inventories")
    ap.add_argument("--persons", type=int, default=15, help="max persons per synthetic one")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pack = ipt.default_pack()
    texts = {p.stem: p.read_text() for p in sorted((ROOT / "examples").glob("*.json"))}
    # the Hypothesis generator: the cohort docs/performance.md ("Questions") was measured on
    opts = SynthOptions(max_persons=args.persons, max_events=6, generator="hypothesis")
    for i, line in enumerate(synth_records(args.n, seed=7, options=opts)):
        texts[f"synth-{i + 1:03d}"] = line
    ipt.formulate(texts["grief"], pack, engine="compiled", questions=5)  # warm up
    rows = []
    for name, text in texts.items():
        base = _median_ms(text, pack, 0, args.repeat)
        asked = _median_ms(text, pack, 5, args.repeat)
        status = json.loads(ipt.formulate(text, pack, engine="compiled").to_json())["status"]
        rows.append((name, status, base, asked, _reformulations(text, pack)))
    print(f"{'inventory':30} {'status':18} {'q=0 ms':>8} {'q=5 ms':>8} {'ratio':>6} {'runs':>5}")
    for name, status, base, asked, runs in rows:
        if not name.startswith("synth") or name.endswith("001"):
            print(f"{name:30} {status:18} {base:8.2f} {asked:8.2f} {asked / base:6.1f} {runs:5d}")
    synth = [r for r in rows if r[0].startswith("synth")]
    for label, group in (("examples", [r for r in rows if r not in synth]), ("synthetic", synth)):
        ratios = sorted(r[3] / r[2] for r in group)
        runs = sorted(r[4] for r in group)
        print(
            f"{label}: n={len(group)} q=0 median {statistics.median(r[2] for r in group):.2f} ms, "
            f"q=5 median {statistics.median(r[3] for r in group):.2f} ms; ratio median "
            f"{statistics.median(ratios):.1f}x, max {ratios[-1]:.1f}x; re-formulations "
            f"median {statistics.median(runs):g}, max {runs[-1]}"
        )
        statuses = {s: sum(r[1] == s for r in group) for s in sorted({r[1] for r in group})}
        print(f"  statuses: {statuses}")


if __name__ == "__main__":
    main()
