"""Experiment: the pipeline's pure-Python stages compiled with mypyc, against the same code
interpreted (issue 14: how far native compilation of the unchanged code goes).

Run: python benchmarks/bench_mypyc.py [--rounds 5] [--keep DIR]

Copies ``src/ipt_formulate`` to a scratch directory, compiles the modules every formulation
spends its time in after validation (the facts, the one-pass reading, scoring: ``MODULES``)
with mypyc (needs ``mypy``, a C compiler and the Python headers; ~1 minute), then runs the
same measurement in child processes alternately on the interpreted and the compiled copy:
process CPU ms per compiled-engine ``formulate()`` at 15 persons (the 20 inventories of
``bench_engines.py``) for the floor (validation + graph + features), ``detail="brief"`` and
``"full"``, and a hash of every output (the two must be equal). Nothing is installed and the
package is not changed: this measures an option (an optional compiled build), it is not one.
Results: docs/performance.md, *Native compilation of the unchanged code*.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("_compiled_backend", "_bounds", "_evaluate", "facts", "scoring", "_logic")

_CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from bench_engines import make_inventory
import ipt_formulate as ipt
from ipt_formulate.graph import build_graph, compute_features
from ipt_formulate.inventory import parse_inventory

pack = ipt.load_pack("ipt-core")
texts = [json.dumps(make_inventory(15, seed, "layered")) for seed in range(20)]
features = sorted(pack.graph_features_used())

def floor():
    for t in texts:
        compute_features(build_graph(parse_inventory(t)), features)

def level(detail):
    return lambda: [ipt.formulate(t, pack, engine="compiled", detail=detail) for t in texts]

fns = {"floor": floor, "brief": level("brief"), "full": level("full")}
digest = hashlib.sha256()
for detail in ("full", "standard", "brief"):
    for t in texts:
        digest.update(ipt.formulate(t, pack, engine="compiled", detail=detail).to_json().encode())
ms = {k: [] for k in fns}
for _ in range(int(sys.argv[2])):
    for k, fn in fns.items():  # interleaved
        t0 = time.process_time()
        fn()
        ms[k].append((time.process_time() - t0) * 1000 / len(texts))
compiled = type(ipt.formulate.__globals__["rank_hypotheses"]).__name__ != "function"
print(json.dumps({"compiled": compiled, "hash": digest.hexdigest(), "ms": ms}))
"""


def _compile(dest: Path) -> Path:
    """A copy of the package with ``MODULES`` compiled; returns the directory to import from
    (the bundled packs are found at ``../rules`` from there, as in a source checkout)."""
    src = dest / "src"
    shutil.copytree(ROOT / "src" / "ipt_formulate", src / "ipt_formulate")
    (dest / "rules").symlink_to(ROOT / "rules", target_is_directory=True)
    files = [f"ipt_formulate/{m}.py" for m in MODULES]
    out = subprocess.run(
        [sys.executable, "-m", "mypyc", *files], cwd=src, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"mypyc failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return src


def _child(src: Path, rounds: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(src))
    code = [sys.executable, "-c", _CHILD, str(ROOT / "benchmarks"), str(rounds)]
    out = subprocess.run(code, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the measurement failed on {src}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per child process")
    ap.add_argument("--pairs", type=int, default=3, help="interpreted/compiled child pairs")
    ap.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="ipt-mypyc-"))
    try:
        print(f"compiling {', '.join(MODULES)} with mypyc in {work} ...", flush=True)
        compiled = _compile(work)
        plain = ROOT / "src"
        runs: dict[str, list[dict[str, object]]] = {"interpreted": [], "mypyc": []}
        for _ in range(args.pairs):  # alternate, so drift in machine load hits both alike
            runs["interpreted"].append(_child(plain, args.rounds))
            runs["mypyc"].append(_child(compiled, args.rounds))
        if [r["compiled"] for r in runs["mypyc"]] != [True] * args.pairs:
            sys.exit("the compiled copy was not the one imported")
        hashes = {str(r["hash"]) for rs in runs.values() for r in rs}
        print(f"outputs identical (full, standard, brief, 20 inventories): {len(hashes) == 1}")
        print("median CPU ms per formulate() at 15 persons, and x floor of the same process")
        print(f"{'build':>12} | {'floor':>6} | {'brief':>6} {'x':>5} | {'full':>6} {'x':>5}")
        med: dict[str, dict[str, float]] = {}
        for build, rs in runs.items():
            m = {
                k: statistics.median(v for r in rs for v in r["ms"][k])  # type: ignore[index]
                for k in ("floor", "brief", "full")
            }
            med[build] = m
            x = {k: m[k] / m["floor"] for k in ("brief", "full")}
            print(
                f"{build:>12} | {m['floor']:6.3f} | {m['brief']:6.3f} {x['brief']:5.2f}"
                f" | {m['full']:6.3f} {x['full']:5.2f}"
            )
        for level in ("brief", "full"):
            gain = med["interpreted"][level] / med["mypyc"][level]
            print(f"mypyc speed-up, {level}: {gain:.2f}x")
        return 0 if len(hashes) == 1 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
