"""Calibration benchmark: ``calibrate`` on a synthetic scenario cohort, by phase.

Run: python benchmarks/bench_calibrate.py [--records 1000] [--repeat 3]

Writes ``--records`` scenario inventories and their labels (``write_scenarios``, seed 1),
lowers three central weights of ``ipt-core`` (the perturbed pack of ``tests/test_calibrate.py``)
and reports, best of ``--repeat``:

* the engine pass alone (each record run once, reduced to its scored groups);
* re-scoring every record under new weights versus a full ``formulate`` with the re-weighted
  pack (``brief`` output, ``compiled`` engine): why the fit never re-runs the engine;
* the whole ``calibrate`` (5 folds + the final fit, 1,000 bootstrap resamples) with 1 and
  2 worker processes for the fits, and with no bootstrap;
* the held-out primary kappa of base and calibrated pack, so a regression in quality shows
  next to one in time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ipt_formulate import formulate, load_pack, parse_inventory  # noqa: E402
from ipt_formulate.audit import (  # noqa: E402
    CalibrationOptions,
    calibrate,
    write_scenarios,
)
from ipt_formulate.audit._refit import pack_weights, primary_of, record_groups  # noqa: E402
from test_calibrate import PERTURBED, perturb  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-calibrate-"))
    try:
        cohort, labels = tmp / "cohort.jsonl", tmp / "labels.csv"
        write_scenarios(cohort, labels, args.records, seed=1)
        pack = load_pack(perturb(tmp / "perturbed", PERTURBED))
        invs = [parse_inventory(line) for line in cohort.read_text().splitlines()]
        groups = [record_groups(inv, pack) for inv in invs]  # warm the engine
        w = {r: v * 1.1 for r, v in pack_weights(pack).items()}
        reweighted = pack.with_rules(weights=w)
        thr = pack.thresholds.primary_min
        n = len(invs)

        def engine_pass() -> object:
            return [record_groups(i, pack) for i in invs]

        def rescore() -> object:
            return [primary_of(g, w, thr) for g in groups]

        def full() -> object:
            return [formulate(i, reweighted, engine="compiled", detail="brief") for i in invs]

        rows = [
            ("engine pass (groups)", best(engine_pass, args.repeat)),
            ("re-score all records", best(rescore, args.repeat)),
            ("formulate all (brief)", best(full, args.repeat)),
        ]
        reports = {}
        for label, opts, workers in (
            ("calibrate, 1 worker", CalibrationOptions(), 1),
            ("calibrate, 2 workers", CalibrationOptions(), 2),
            ("calibrate, 1 worker, no bootstrap", CalibrationOptions(bootstrap=0), 1),
        ):

            def run(o: CalibrationOptions = opts, k: int = workers, key: str = label) -> None:
                reports[key] = calibrate(cohort, labels, pack, options=o, workers=k)

            rows.append((label, best(run, args.repeat)))
        print(f"{n} records, best of {args.repeat}")
        for name, secs in rows:
            print(f"  {name:36} {secs:8.3f} s   {n / secs:10,.0f} records/s")
        r = reports["calibrate, 1 worker"]
        print(f"  held-out primary kappa: {r.summary_line()}")
        print(f"  weights changed: {len(r.changes)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
