"""Hostile inputs of issue #12: each must end in < 5 s and < 500 MB with a typed error or a
bounded formulation.

Run: python benchmarks/bench_limits.py [--case NAME] [--worst-case]

Each case runs in a fresh child process; the parent prints its wall time, peak resident memory
(``ru_maxrss`` of that child, from ``os.wait4``), the outcome (error code or "ok") and the
size of the output. ``--worst-case`` adds the costliest input within the default limits (the
quadratic dispute-by-transition pairing at 1,000 persons and 1,000 events, compiled engine;
slow by design, see docs/performance.md). Exit status 1 if a default case breaks a bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRIEF = ROOT / "examples" / "grief.json"
MANIFEST = '[pack]\nname = "t"\nversion = "1.0.0"\ndescription = "d"\nextends = {ext}\n'


def _quadratic(n: int) -> str:
    persons = [
        {"id": f"p{i}", "role": "friend", "ring": "inner", "conflict": "high",
         "patient_expectations_met": False, "other_expectations_met": False,
         "dispute_stage_evidence": "stalled"}
        for i in range(n)
    ]  # fmt: skip
    events = [
        {"id": f"e{i}", "kind": "move", "months_before_onset": 1, "response": "ongoing"}
        for i in range(n)
    ]
    episode = {"assessment_date": "2026-01-01", "onset": "2025-12"}
    return json.dumps({"episode": episode, "persons": persons, "events": events})


def _bridges(n: int) -> str:
    """Half the persons lost (contact none) in a chain of links: bridge_lost's old worst case."""
    persons = [
        {"id": f"p{i}", "role": "friend", "contact": "none" if i % 2 else "weekly",
         "quality_before_onset": "good"}
        for i in range(n)
    ]  # fmt: skip
    links = [{"a": f"p{i}", "b": f"p{i + 1}"} for i in range(n - 1)]
    episode = {"assessment_date": "2026-01-01", "onset": "2025-12"}
    return json.dumps({"episode": episode, "persons": persons, "relationships": links})


def _grief_with(extra: Callable[[dict[str, object]], None]) -> str:
    d = json.loads(GRIEF.read_text(encoding="utf-8"))
    extra(d)
    return json.dumps(d, ensure_ascii=False)


def _formulate(text: str, engine: str = "experta") -> tuple[str, int]:
    import ipt_formulate as ipt

    try:
        return "ok", len(ipt.formulate(text, engine=engine).to_json())
    except ipt.IptFormulateError as exc:
        return exc.code, len(json.dumps(exc.to_dict(), ensure_ascii=False))


def _load(build: Callable[[Path], Path]) -> tuple[str, int]:
    import ipt_formulate as ipt
    from ipt_formulate.lint import lint_pack

    global _T0, _ELAPSED
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp))
        _T0 = time.perf_counter()  # the files are written: time the load only
        try:
            pack = ipt.load_pack(path)
            msgs = lint_pack(pack)
            out = f"loaded ({len(pack.rules)} rules, {len(msgs)} lint messages)", 0
        except ipt.IptFormulateError as exc:
            out = exc.code, len(str(exc))
        _ELAPSED = time.perf_counter() - _T0  # before the files are removed
        return out


def _pack(path: Path, ext: list[str] | None = None, rules: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "pack.toml").write_text(MANIFEST.format(ext=json.dumps(ext or [])), "utf-8")
    if rules:
        (path / "r.toml").write_text(rules, "utf-8")
    return path


def _rule(rid: str, when: str, head: str = 'asserts = { finding = "f" }') -> str:
    return (
        f'[[rule]]\nid = "{rid}"\nversion = 1\ntitle = "rule"\n{head}\nexplain = "explained"\n'
        f'cite = [{{ source = "s" }}]\n  [[rule.when]]\n  fact = "person"\n  bind = "p"\n{when}'
    )


def _sourced(path: Path, ext: list[str] | None = None, rules: str = "") -> Path:
    p = _pack(path, ext, rules)
    with (p / "pack.toml").open("a", encoding="utf-8") as fh:
        fh.write('[sources.s]\ntext = "A source."\n')
    return p


def _diamond(tmp: Path) -> Path:
    for lvl in range(14):
        for side in "ab":
            nxt = [f"../l{lvl + 1}a", f"../l{lvl + 1}b"] if lvl < 13 else []
            _pack(tmp / "root" / f"l{lvl}{side}", nxt)
    return _pack(tmp / "root", ["l0a", "l0b"])


def _deep(tmp: Path) -> Path:
    for i in range(1, 1200):
        _pack(tmp / "root" / f"p{i}", [f"../p{i + 1}"])
    return _pack(tmp / "root", ["p1"])


def _special(kind: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        p = _pack(tmp / "p")
        if kind == "zero":
            (p / "x.toml").symlink_to("/dev/zero")
        elif kind == "fifo":
            os.mkfifo(p / "x.toml")
        elif kind == "loop":
            (p / "x.toml").symlink_to(p / "x.toml")
        return p

    return build


def _chain(tmp: Path) -> Path:
    rules = []
    for k in range(1200):
        neg = (
            f'  [[rule.when]]\n  fact = "finding"\n  exists = false\n'
            f'  where = [["name", "==", "f{k + 1}"]]\n'
            if k < 1199
            else ""
        )
        rules.append(_rule(f"c.r{k:04d}", neg, f'asserts = {{ finding = "f{k}" }}'))
    return _sourced(tmp / "p", rules="".join(rules))


def _wide(tmp: Path) -> Path:
    neg = (
        '  [[rule.when]]\n  fact = "event"\n  exists = false\n  where = [["kind", "==", "move"]]\n'
    )
    return _sourced(tmp / "p", rules=_rule("r.wide", neg * 500))


def _bind(tmp: Path) -> Path:
    rule = _rule("r.x", '  [[rule.when]]\n  fact = "person"\n  bind = "engine"\n')
    return _sourced(tmp / "p", rules=rule)


def _batch_line() -> tuple[str, int]:
    from ipt_formulate.audit import batch_file

    big = _quadratic(5000).encode() + b"\n" + GRIEF.read_bytes().replace(b"\n", b"") + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_bytes(big * 2 + b" " * 8_000_000 + b"\n")
        summary = batch_file(src, out, workers=1, progress=False)
        codes = ",".join(sorted(summary.error_codes))
        return f"{summary.ok} ok, errors: {codes}", out.stat().st_size


CASES: dict[str, Callable[[], tuple[str, int]]] = {
    "quadratic N=2000 (630 KB)": lambda: _formulate(_quadratic(2000)),
    "quadratic N=5000 (1.6 MB)": lambda: _formulate(_quadratic(5000)),
    "quadratic N=100, experta (within limits)": lambda: _formulate(_quadratic(100)),
    "quadratic N=100, compiled (within limits)": lambda: _formulate(_quadratic(100), "compiled"),
    "quadratic N=1000 (max_persons), compiled": lambda: _formulate(_quadratic(1000), "compiled"),
    "quadratic N=1000 (max_persons), experta": lambda: _formulate(_quadratic(1000)),
    "100 MB inventory": lambda: _formulate(" " * 100_000_000 + "{}"),
    "200k unknown keys": lambda: _formulate(
        _grief_with(lambda d: d.update({f"k{i}": 0 for i in range(200_000)}))
    ),
    "10 MB unknown key (with --limit max_bytes=20000000)": lambda: _formulate(
        _grief_with(lambda d: d.update({"k" * 10_000_000: 1}))
    ),
    "bridge_persons_lost, 1000 persons in a chain": lambda: _bridge_case(),
    "non-ASCII digits in a date": lambda: _formulate(
        _grief_with(lambda d: d["episode"].update(onset="\u0662\u0660\u0661\u0669"))
    ),
    "duplicate key": lambda: _formulate(
        GRIEF.read_text().replace("{", '{"id": "a", "id": "b",', 1)
    ),
    "batch: 1.6 MB lines and an 8 MB line": _batch_line,
    "pack: diamond extends, 14 levels": lambda: _load(_diamond),
    "pack: extends chain 1,200 deep": lambda: _load(_deep),
    "pack: rule file -> /dev/zero": lambda: _load(_special("zero")),
    "pack: FIFO x.toml": lambda: _load(_special("fifo")),
    "pack: symlink loop": lambda: _load(_special("loop")),
    "pack: NUL byte in extends": lambda: _load(lambda t: _pack(t / "p", ["a\u0000b"])),
    "pack: extends /etc": lambda: _load(lambda t: _pack(t / "p", ["/etc"])),
    "pack: 1,200 chained findings, reverse order": lambda: _load(_chain),
    "pack: bind = engine": lambda: _load(_bind),
    "pack: 500 negated patterns": lambda: _load(_wide),
}
ENVS = {"10 MB unknown key (with --limit max_bytes=20000000)": "max_bytes=20000000"}


def _bridge_case() -> tuple[str, int]:
    import ipt_formulate as ipt
    from ipt_formulate.graph import bridge_persons_lost, build_graph

    inv = ipt.parse_inventory(_bridges(1000))
    return f"{len(bridge_persons_lost(build_graph(inv)))} bridges", 0


def _worst() -> tuple[str, int]:
    from ipt_formulate.limits import DEFAULT_LIMITS

    n = DEFAULT_LIMITS.max_persons
    return _formulate(_quadratic(n), "compiled")


_T0 = 0.0
_ELAPSED: float | None = None


def _child(name: str) -> None:
    global _T0
    fn = _worst if name == "worst" else CASES[name]
    _T0 = time.perf_counter()
    outcome, size = fn()
    seconds = _ELAPSED if _ELAPSED is not None else time.perf_counter() - _T0
    print(json.dumps({"seconds": seconds, "outcome": outcome, "bytes": size}))


def _run(name: str) -> dict[str, object]:
    env = dict(os.environ)
    env.pop("IPT_FORMULATE_LIMITS", None)
    if name in ENVS:
        env["IPT_FORMULATE_LIMITS"] = ENVS[name]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", name], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out: dict[str, object] = {"case": name, "wall": wall, "peak_mb": usage.ru_maxrss / 1024}
    if status == 0:
        out.update(json.loads(text))
    else:
        out.update(outcome=f"CRASH (status {status})", seconds=wall, bytes=0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--case", help="run only cases whose name contains this")
    ap.add_argument("--worst-case", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return 0
    names = [n for n in CASES if args.case is None or args.case in n]
    if args.worst_case:
        names.append("worst")
    bad = 0
    print("time: the case itself (building inventories or pack files excluded for packs);")
    print("wall: the child process, interpreter start-up and imports included\n")
    print(f"{'case':50} {'time s':>6} {'wall s':>6} {'peak MB':>7} {'output B':>10}  outcome")
    for name in names:
        r = _run(name)
        ok = float(r["seconds"]) < 5 and float(r["peak_mb"]) < 500  # type: ignore[arg-type]
        bad += 0 if ok or name == "worst" else 1
        print(
            f"{name:50} {r['seconds']:6.2f} {r['wall']:6.2f} {r['peak_mb']:7.0f} {r['bytes']:>10,}"
            f"  {r['outcome']}" + ("" if ok else "  <-- over 5 s / 500 MB")
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
