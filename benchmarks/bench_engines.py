"""Engine benchmark: formulate() latency and throughput on both backends against the floor.

Run: python benchmarks/bench_engines.py [--quick] [--sizes 5,15,50] [--pack ipt-core] [--clock cpu]

For N = 5, 15, 50, 200 and 1000 persons (1.5 events per person, N/2 person links) it
generates inventories deterministically (``random.Random(seed)``, valid by construction)
and measures, per N:

* **floor**: what any formulation must pay: ``parse_inventory`` (pydantic validation) +
  ``graph.build_graph`` + the graph features the pack uses;
* **formulate()** end to end with ``engine="compiled"`` and ``engine="experta"``: median
  latency, throughput and the ratio to the floor;
* **engine alone**: ``run_engine(pack, facts, engine)`` on precomputed facts, for both engines
  ("bare experta"), and the ratio of experta's formulate() to bare experta (the cost of
  everything around the engine);
* peak memory (tracemalloc) of one formulate() call per backend;
* per output level (``detail`` full, standard, brief; N <= 200): compiled formulate() against
  the floor, and bytes of compact JSON per formulation, with the targets at 15 persons.

Then it fits the growth exponent ``k`` of ``time ~ N**k`` by least squares on log-log, and
shows where the time of one compiled formulate() goes at 15 persons (with each level less the
one-pass reading against the floor: what no faster reading can go below), and finally runs
``bench_batch.py`` (batch throughput at 15 persons with 1 and 2 workers). Engines are built once
per pack before timing (as in a long-running process); timings of one row are interleaved,
so a change in machine load affects every column alike. Exit status 1 if the two engines
ever disagree. Results and discussion: ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any, get_args

import ipt_formulate as ipt
from ipt_formulate.engine import run_engine
from ipt_formulate.facts import derive_facts
from ipt_formulate.formulation import Detail
from ipt_formulate.graph import build_graph, compute_features
from ipt_formulate.inventory import EventKind, Role, parse_inventory

ROOT = Path(__file__).resolve().parents[1]
SIZES = (5, 15, 50, 200, 1000)

# the vocabularies (in their order) less former partners, grandchildren, deaths and pregnancies
_ROLES = tuple(r for r in get_args(Role) if r not in {"former_partner", "grandchild"})
_KINDS = tuple(k for k in get_args(EventKind) if k not in {"death", "pregnancy", "pregnancy_loss"})


def _maybe(rnd: random.Random, values: tuple[Any, ...], p_unknown: float = 0.2) -> Any:
    return None if rnd.random() < p_unknown else rnd.choice(values)


def make_inventory(n_persons: int, seed: int, network: str = "layered") -> dict[str, Any]:
    """A valid inventory with ``n_persons`` persons, ``round(1.5 * n)`` events and ``n // 2``
    links. Valid by construction: unique ids, every date before the assessment, every death
    event about a person who takes part in no other event and is not marked alive.

    ``network="layered"``: closeness rings follow the layers of personal networks (about 5
    inner, 10 middle, everyone else outer), so the number of close ties stays bounded as N
    grows. ``"uniform"``: every person's ring is drawn uniformly, so close, conflictual ties
    grow with N (a stress test: rules pairing two such sets fire O(N^2) times).
    """
    rnd = random.Random(seed)
    assessed = date(2026, 3, 1)
    onset = assessed - timedelta(days=90)
    n_events = round(1.5 * n_persons)
    n_deaths = max(1, n_events // 10) if n_persons >= 2 else 0
    persons: list[dict[str, Any]] = []
    for i in range(n_persons):
        p: dict[str, Any] = {"id": f"p{i}", "role": rnd.choice(_ROLES), "label": f"Person {i}"}
        if network == "uniform":
            rings: tuple[str, ...] = ("inner", "middle", "outer")
        else:
            rings = ("inner",) if i < 5 else ("middle",) if i < 15 else ("outer",)
        for key, values in (
            ("ring", rings),
            ("contact", ("daily", "weekly", "monthly", "rarely", "none")),
            ("support", ("none", "low", "moderate", "high")),
            ("confidant", (True, False)),
            ("conflict", ("none", "low", "moderate", "high")),
            ("lives_with_patient", (True, False)),
            ("knows_about_depression", (True, False)),
            ("patient_expectations_met", (True, False)),
            ("other_expectations_met", (True, False)),
            ("dispute_stage_evidence", ("still_negotiating", "stalled", "moving_to_end")),
            ("quality_before_onset", ("poor", "fair", "good")),
            ("quality_now", ("poor", "fair", "good")),
        ):
            v = _maybe(rnd, values)
            if v is not None:
                p[key] = v
        if rnd.random() < 0.3:
            p["changes_wanted"] = [f"change {k}" for k in range(rnd.randint(1, 3))]
        persons.append(p)
    # the last n_deaths persons die (death events), the others take part in ordinary events
    dying = [p["id"] for p in persons[len(persons) - n_deaths :]]
    alive = [p["id"] for p in persons[: len(persons) - n_deaths]]
    events: list[dict[str, Any]] = []
    for k in range(n_events):
        e: dict[str, Any] = {"id": f"e{k}"}
        if k < len(dying):
            e["kind"] = "death"
            e["subject"] = dying[k]
        else:
            e["kind"] = rnd.choice(_KINDS)
            if alive and rnd.random() < 0.8:
                e["subject"] = rnd.choice(alive)
            if len(alive) > 2 and rnd.random() < 0.3:
                e["others"] = sorted(set(rnd.sample(alive, 2)) - {e.get("subject")})
        when = onset - timedelta(days=rnd.randint(-60, 720))
        if rnd.random() < 0.7:
            e["date"] = (
                when.isoformat() if rnd.random() < 0.6 else when.isoformat()[:7]
            )  # full or month
        elif rnd.random() < 0.5:
            e["months_before_onset"] = round(rnd.uniform(-1.0, 24.0), 1)
        for key, values in (
            ("valence", ("positive", "negative", "mixed")),
            ("response", ("mourning_avoided", "yearning", "adapting", "ongoing")),
            ("maintains_episode", (True, False)),
        ):
            v = _maybe(rnd, values, 0.3)
            if v is not None:
                e[key] = v
        events.append(e)
    links: list[dict[str, Any]] = []
    pairs: set[tuple[int, int]] = set()
    while n_persons >= 2 and len(links) < n_persons // 2:
        a, b = sorted(rnd.sample(range(n_persons), 2))
        if (a, b) in pairs:
            continue
        pairs.add((a, b))
        link: dict[str, Any] = {"a": f"p{a}", "b": f"p{b}"}
        if rnd.random() < 0.8:
            link["close"] = rnd.random() < 0.5
        if rnd.random() < 0.6:
            link["conflict"] = rnd.choice(("none", "low", "moderate", "high"))
        links.append(link)
    inv: dict[str, Any] = {
        "schema_version": "1",
        "id": f"bench-{n_persons}-{seed}",
        "patient": {
            "age": rnd.randint(18, 80),
            "populations": ["adult"],
            "course": _maybe(rnd, ("first_episode", "recurrent", "chronic")),
            "risk": {
                "suicidal_ideation": _maybe(rnd, (True, False)),
                "self_harm": _maybe(rnd, (True, False)),
                "psychosis": False,
            },
        },
        "episode": {
            "assessment_date": assessed.isoformat(),
            "onset": onset.isoformat()[:7],
            "measures": [
                {"instrument": "phq9", "total": rnd.randint(5, 27), "item9": rnd.randint(0, 3)},
                {"instrument": "hamd17", "total": rnd.randint(8, 40), "item3": rnd.randint(0, 4)},
            ],
        },
        "persons": persons,
        "relationships": links,
        "events": events,
        "social_history": {
            "long_standing_isolation": _maybe(rnd, (True, False)),
            "few_attachments_before_onset": _maybe(rnd, (True, False)),
            "prior_social_functioning": _maybe(rnd, ("poor", "fair", "good")),
        },
    }
    if persons and events:
        inv["patient_view"] = {
            "most_important_person": rnd.choice(alive or [persons[0]["id"]]),
            "most_important_event": rnd.choice(events)["id"],
        }
    return inv


# ---------------------------------------------------------------- measurement
CLOCK: Callable[[], float] = time.perf_counter
"""What the tables measure: wall time, or with ``--clock cpu`` this process's CPU time
(``time.process_time``), which a loaded, shared machine disturbs much less."""


def _medians_ms(
    fns: Mapping[str, Callable[[], Any]], rounds: int, budget_s: float
) -> dict[str, float]:
    """Median time in ms (:data:`CLOCK`) of each function, measured in interleaved rounds (so
    a change in machine load affects every column alike); stops early once over the budget."""
    for fn in fns.values():
        fn()  # warm caches
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    for _ in range(rounds):
        for key, fn in fns.items():
            t = CLOCK()
            fn()
            times[key].append(CLOCK() - t)
        if time.perf_counter() - start > budget_s and len(times[key]) >= 3:
            break
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def _peak_kib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def _exponent(ns: Sequence[float], ms: Sequence[float]) -> float:
    """Least-squares slope of log(ms) on log(N)."""
    xs = [math.log(n) for n in ns]
    ys = [math.log(m) for m in ms]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _same_output(text: str, pack: ipt.RulePack) -> bool:
    """Byte-identical formulations except provenance.engine (the differential check)."""
    a = ipt.formulate(text, pack, engine="experta")
    b = ipt.formulate(text, pack, engine="compiled")
    b = b.model_copy(update={"provenance": b.provenance.model_copy(update={"engine": "experta"})})
    return a.to_json() == b.to_json()


def measure(
    pack: ipt.RulePack,
    n: int,
    seed: int,
    network: str,
    rounds: int,
    experta_rounds: int,
    budget_s: float,
) -> dict[str, Any]:
    """One row of the table: N persons."""
    features = sorted(pack.graph_features_used())
    text = json.dumps(make_inventory(n, seed, network))
    inv = parse_inventory(text)
    assert len(inv.persons) == n and len(inv.events) == round(1.5 * n)
    facts = derive_facts(inv, pack.options, fact_types=pack.fact_types_used(), features=features)

    def floor() -> None:
        compute_features(build_graph(parse_inventory(text)), features)

    fast = _medians_ms(
        {
            "floor": floor,
            "compiled": partial(ipt.formulate, text, pack, engine="compiled"),
            "bare_compiled": partial(run_engine, pack, facts, "compiled"),
        },
        rounds,
        budget_s,
    )
    slow = _medians_ms(
        {
            "experta": partial(ipt.formulate, text, pack, engine="experta"),
            "bare_experta": partial(run_engine, pack, facts, "experta"),
        },
        experta_rounds,
        budget_s,
    )
    return {
        "N": n,
        "events": len(inv.events),
        "firings": len(run_engine(pack, facts, "compiled").firings),
        **fast,
        **slow,
        "peak_compiled": _peak_kib(partial(ipt.formulate, text, pack, engine="compiled")),
        "peak_experta": _peak_kib(partial(ipt.formulate, text, pack, engine="experta")),
        "same": _same_output(text, pack),
    }


def stage_breakdown(pack: ipt.RulePack, n: int, seed: int, network: str, rounds: int) -> None:
    """Median ms of each stage of ``formulate(engine="compiled")`` (as ``_api.formulate`` runs
    them), to show where the time goes."""
    from ipt_formulate._api import input_digest
    from ipt_formulate._bounds import certain_and_possible
    from ipt_formulate.explain import advisories, area_checks, why_not
    from ipt_formulate.limits import current_limits
    from ipt_formulate.scoring import rank_hypotheses, select_focus

    text = json.dumps(make_inventory(n, seed, network))
    inv = parse_inventory(text)
    feats = pack.graph_features_used()
    facts = derive_facts(inv, pack.options, fact_types=pack.fact_types_used(), features=feats)
    run = run_engine(pack, facts, "compiled")
    lookup = {(t, str(f["id"])): f for t, fs in run.index.by_type.items() for f in fs}
    hyps = rank_hypotheses(pack, run.firings, lookup, run.findings)
    primary, secondary = select_focus(pack, hyps)
    checks = area_checks(pack, run.firings, run.index)
    g = build_graph(inv)
    stages: dict[str, Callable[[], Any]] = {
        "parse_inventory (validation)": partial(parse_inventory, text),
        "build_graph": partial(build_graph, inv),
        "graph features the pack uses": partial(compute_features, g, sorted(feats)),
        "derive_facts (incl. features)": partial(
            derive_facts, inv, pack.options, fact_types=pack.fact_types_used(), features=feats
        ),
        "run_engine, compiled (certain only)": partial(run_engine, pack, facts, "compiled"),
        "certain + possible reading, one pass": partial(
            certain_and_possible, pack, facts, current_limits().max_firings
        ),
        "rank_hypotheses (scoring)": partial(
            rank_hypotheses, pack, run.firings, lookup, run.findings
        ),
        "area_checks (WHY-NOT)": partial(area_checks, pack, run.firings, run.index),
        "why_not + advisories": lambda: (
            why_not(pack, hyps, (primary, secondary), checks),
            advisories(pack, run.firings, lookup, checks, primary),
        ),
        "input_digest": partial(input_digest, inv),
        "formulate(), compiled, end to end": partial(ipt.formulate, text, pack, engine="compiled"),
        "formulate(detail='brief'), compiled": partial(
            ipt.formulate, text, pack, engine="compiled", detail="brief"
        ),
    }
    ms = _medians_ms(stages, rounds, 10.0)
    print()
    print(f"where the time goes, N={n} ({network}), median ms per stage:")
    for k, v in ms.items():
        print(f"  {k:36} {v:7.3f}")
    # what no faster reading can go below: each level less its one-pass reading, against the
    # floor (the first three stages) of the same run
    floor = sum(list(ms.values())[:3])
    reading = ms["certain + possible reading, one pass"]
    for level, key in (
        ("full", "formulate(), compiled, end to end"),
        ("brief", "formulate(detail='brief'), compiled"),
    ):
        print(
            f"  {level} less the reading: {(ms[key] - reading) / floor:.2f}x the floor "
            f"({ms[key] / floor:.2f}x with it)"
        )


LEVELS: tuple[Detail, ...] = ("full", "standard", "brief")
TARGETS_15: dict[str, tuple[float, int]] = {"full": (3.0, 25_000), "brief": (2.0, 3_000)}
"""At 15 persons: (most x floor, most bytes per formulation) per output level (issue 14)."""


def level_rows(
    pack: ipt.RulePack, n: int, seed: int, network: str, rounds: int, budget_s: float
) -> dict[str, Any]:
    """Output levels at N persons: median ms of compiled formulate() per level against the
    floor (interleaved), and bytes of compact JSON (what batch writes) per formulation, median
    and largest over 20 inventories."""
    text = json.dumps(make_inventory(n, seed, network))
    features = sorted(pack.graph_features_used())

    def floor() -> None:
        compute_features(build_graph(parse_inventory(text)), features)

    fns: dict[str, Callable[[], Any]] = {"floor": floor}
    for level in LEVELS:
        fns[level] = partial(ipt.formulate, text, pack, engine="compiled", detail=level)
    ms = _medians_ms(fns, rounds, budget_s)
    sizes: dict[str, list[int]] = {level: [] for level in LEVELS}
    for k in range(20):
        inv = parse_inventory(json.dumps(make_inventory(n, seed + 1000 + k, network)))
        for level in LEVELS:
            f = ipt.formulate(inv, pack, engine="compiled", detail=level)
            sizes[level].append(len(f.to_json(indent=None).encode("utf-8")))
    return {
        "N": n,
        "ms": ms,
        "bytes_median": {k: int(statistics.median(v)) for k, v in sizes.items()},
        "bytes_max": {k: max(v) for k, v in sizes.items()},
    }


def print_levels(rows: Sequence[Mapping[str, Any]]) -> None:
    """The output-level table, with the targets at 15 persons."""
    print()
    print(
        "output levels, compiled formulate(): median ms and x floor (interleaved); bytes of "
        "compact JSON per formulation (median / largest of 20 inventories)"
    )
    head = (
        f"{'N':>5} {'level':>8} | {'ms':>7} {'x floor':>7} | {'bytes med':>9} {'max':>7} | target"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        floor = r["ms"]["floor"]
        for level in LEVELS:
            ms, med = r["ms"][level], r["bytes_median"][level]
            target = ""
            if r["N"] == 15 and level in TARGETS_15:
                x_max, b_max = TARGETS_15[level]
                met = ms / floor <= x_max and med <= b_max
                target = f"<= {x_max:g}x, <= {b_max // 1000} KB: {'met' if met else 'NOT met'}"
            print(
                f"{r['N']:>5} {level:>8} | {ms:7.3f} {ms / floor:7.2f} | {med:9,} "
                f"{r['bytes_max'][level]:7,} | {target}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats: under 2 minutes")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="persons, comma-separated")
    ap.add_argument("--pack", default="ipt-core", choices=["ipt-core", "ipsrt"])
    ap.add_argument("--network", default="layered", choices=["layered", "uniform"])
    ap.add_argument("--seed", type=int, default=20260301)
    ap.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    ap.add_argument(
        "--batch-lines",
        type=int,
        default=None,
        help="lines per batch run (default 4000, 1000 with --quick; 0 = no batch runs)",
    )
    ap.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="time per call: wall (default) or this process's CPU time (for a loaded machine)",
    )
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    sizes = [int(s) for s in args.sizes.split(",")]
    rounds = 21 if args.quick else 101
    budget = 3.0 if args.quick else 20.0
    pack = ipt.load_pack(ROOT / "rules" / args.pack)
    features = sorted(pack.graph_features_used())

    # build both engines once per pack and process, as a long-running process does
    warm = json.dumps(make_inventory(5, args.seed))
    for engine in ("experta", "compiled"):
        t = time.perf_counter()
        ipt.formulate(warm, pack, engine=engine)
        ms = (time.perf_counter() - t) * 1000
        print(f"# first call, {engine}: {ms:.1f} ms (builds the engine for the pack)")

    rows = []
    for n in sizes:
        # experta takes ~1 s per call at 1000 persons: few rounds there in --quick
        experta_rounds = 3 if args.quick and n >= 1000 else rounds
        rows.append(measure(pack, n, args.seed + n, args.network, rounds, experta_rounds, budget))
        print(f"# N={n} measured", file=sys.stderr)

    print()
    print(
        f"pack {pack.name} {pack.version} ({len(pack.active_rules)} active rules); graph "
        f"features used: {', '.join(features) or '-'}; network {args.network}; "
        f"{'quick' if args.quick else 'full'} run; {args.clock} clock"
    )
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}"
    )
    print(
        "median ms per formulate() (floor: validation + graph + features; engine: run_engine"
        " alone on precomputed facts); /s: formulations per second on one core"
    )
    head = (
        f"{'N':>5} {'events':>6} {'firings':>7} | {'floor':>7} | {'compiled':>8} {'/s':>6}"
        f" {'x floor':>7} {'engine':>7} | {'experta':>8} {'/s':>5} {'x floor':>7} | {'bare exp':>8}"
        f" {'exp/bare':>8} | {'peak KiB c / e':>15} | same"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['N']:>5} {r['events']:>6} {r['firings']:>7} | {r['floor']:7.3f}"
            f" | {r['compiled']:8.3f} {1000 / r['compiled']:6.0f} {r['compiled'] / r['floor']:7.2f}"
            f" {r['bare_compiled']:7.3f}"
            f" | {r['experta']:8.2f} {1000 / r['experta']:5.0f} {r['experta'] / r['floor']:7.1f}"
            f" | {r['bare_experta']:8.2f} {r['experta'] / r['bare_experta']:8.2f}"
            f" | {r['peak_compiled']:7.0f} /{r['peak_experta']:6.0f}"
            f" | {'yes' if r['same'] else 'NO'}"
        )
    if len(rows) >= 2:
        ns = [r["N"] for r in rows]
        print()
        print(f"growth exponent k, time ~ N^k (least squares on log-log, N = {ns[0]}..{ns[-1]}):")
        for key, label in (
            ("floor", "floor"),
            ("compiled", "formulate(), compiled"),
            ("experta", "formulate(), experta"),
            ("bare_compiled", "engine alone, compiled"),
            ("bare_experta", "engine alone, experta"),
            ("firings", "number of firings"),
        ):
            print(f"  {label:24} k = {_exponent(ns, [max(r[key], 1e-9) for r in rows]):.2f}")
        nlogn = _exponent(ns, [n * math.log(n) for n in ns])
        print(f"  (N log N over the same sizes fits k = {nlogn:.2f})")
    levels = [
        level_rows(pack, n, args.seed + n, args.network, rounds, budget) for n in sizes if n <= 200
    ]
    print_levels(levels)
    if 15 in sizes:
        stage_breakdown(pack, 15, args.seed + 15, args.network, rounds)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "levels": levels}, indent=2) + "\n")
    batch_ok = 0
    lines = args.batch_lines if args.batch_lines is not None else 1000 if args.quick else 4000
    if lines:
        from bench_batch import report

        print()
        batch_ok = report(lines, 15, [1, 2], [], args.seed, ["full", "brief"])
    return 0 if all(r["same"] for r in rows) and batch_ok == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
