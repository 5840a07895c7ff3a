"""Command-line interface: ``ipt-formulate formulate|report|interview|rules|batch|agreement|diff|
synth|influence|sensitivity|schema|serve``, one ``_add_<command>`` function each.

Exit codes: 0 success; 1 a check failed (``rules lint`` found errors); 2 an expected failure
(bad inventory, empty or non-UTF-8 file, broken rule pack, unknown option, a file that cannot be
read or written, disk full, out of memory, a lost Dask scheduler), reported as one paragraph on
stderr without a traceback (:func:`main` maps each to a typed error); 130 interrupted (Ctrl-C),
143 terminated (SIGTERM), both after a clean stop.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from . import __version__
from ._api import formulate
from .engine import ENGINES
from .errors import IptFormulateError, MalformedInputError
from .formulation import formulation_json_schema
from .inventory import inventory_json_schema
from .limits import ENV_VAR, current_limits
from .rulepack import RulePack, Scalar, bundled_pack_path, load_pack, rulepack_json_schema

__all__ = ["main"]


def _parse_option(text: str) -> tuple[str, Scalar]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    value: Scalar
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if not isinstance(value, str | int | float | bool):
        raise argparse.ArgumentTypeError(f"option {key!r}: value must be a scalar")
    return key, value


def _pack(args: argparse.Namespace) -> RulePack:
    options = dict(getattr(args, "option", None) or [])
    path = args.pack if args.pack else bundled_pack_path("ipt-core")
    return load_pack(path, **options)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected an integer >= 1")
    return value


def _read_input(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise IptFormulateError(f"cannot read {name}: {exc.strerror}", code="input.io") from None
    except UnicodeDecodeError as exc:
        raise MalformedInputError(
            f"{'stdin' if name == '-' else name}: not UTF-8 text (byte "
            f"{exc.object[exc.start]:#04x} at offset {exc.start})",
            code="input.malformed",
        ) from None


def _cmd_formulate(args: argparse.Namespace) -> int:
    if args.hypothesis and not args.graph:
        raise IptFormulateError(
            "--hypothesis selects what --graph writes: give --graph FILE too", code="cli.usage"
        )
    want_trace = bool(args.trace or args.graph)
    result = formulate(
        _read_input(args.file),
        _pack(args),
        engine=args.engine,
        trace=want_trace,
        questions=args.questions,
        detail=args.detail,
    )
    if args.graph:
        from .audit import derivation_graph, graph_to_dot, graph_to_json

        try:
            graph = derivation_graph(result, args.hypothesis)
        except KeyError as exc:
            raise IptFormulateError(str(exc.args[0]), code="trace.unknown_hypothesis") from None
        text = (
            graph_to_dot(graph)
            if args.graph.endswith((".dot", ".gv"))
            else json.dumps(graph_to_json(graph), indent=2, sort_keys=True) + "\n"
        )
        _write_output(args.graph, text)
    if not args.trace and result.trace is not None:
        result = result.model_copy(update={"trace": None})
    if args.format == "json":
        sys.stdout.write(result.to_json())
    elif args.format == "markdown":
        sys.stdout.write(result.to_markdown())
    elif args.format == "summary":
        sys.stdout.write(result.to_summary())
    else:
        sys.stdout.write(result.to_text())
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ._html import render_html
    from .inventory import parse_inventory

    inv = parse_inventory(_read_input(args.file))
    result = formulate(inv, _pack(args), engine=args.engine, questions=args.questions)
    _write_output(args.output, render_html(result, inv))
    return 0


def _cmd_interview(args: argparse.Namespace) -> int:
    import os

    from ._interview import run_interview
    from .inventory import parse_inventory

    target = Path(args.output) if args.output else None
    same = target is not None and target.exists() and args.file != "-"
    if same and os.path.samefile(str(target), args.file):
        raise IptFormulateError(
            f"-o {args.output} is the input file: write the completed inventory to a "
            "new file, so the original stays as it was",
            code="output.same_as_input",
        )
    inv = parse_inventory(_read_input(args.file))
    run_interview(inv, _pack(args), inp=sys.stdin, out=sys.stdout, target=target)
    return 0


def _write_output(name: str, text: str) -> None:
    if name == "-":
        sys.stdout.write(text)
        return
    try:
        Path(name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise IptFormulateError(f"cannot write {name}: {exc.strerror}", code="output.io") from None


def _cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_cmd == "lint":
        from .lint import lint_pack

        msgs = lint_pack(args.dir)
        for m in msgs:
            print(m)
        errors = sum(m.level == "error" for m in msgs)
        print(f"{args.dir}: {errors} error(s), {len(msgs) - errors} warning(s)")
        return 1 if errors else 0
    pack = _pack(args)
    if args.rules_cmd == "list":
        for r in pack.rules:
            effect = (
                f"{r.area} {r.weight:+g}"
                if r.area
                else f"advisory {r.advisory.level}"
                if r.advisory
                else f"finding {r.asserts.finding}"
                if r.asserts
                else ""
            )
            state = r.status if r.enabled else f"{r.status}, disabled"
            print(f"{r.id:45} {effect:32} [{state}] {r.title}")
        return 0
    if args.rules_cmd == "show":
        try:
            r = pack.rule(args.id)
        except KeyError:
            raise IptFormulateError(
                f"no rule {args.id!r} in pack {pack.name}", code="rulepack.unknown_rule"
            ) from None
        from ._catalogue import rule_markdown

        sys.stdout.write(rule_markdown(pack, r))
        return 0
    from ._catalogue import pack_markdown

    sys.stdout.write(pack_markdown(pack))
    return 0


def _pack_from(path: str | None, options: Sequence[tuple[str, Scalar]] | None) -> RulePack:
    opts: dict[str, Any] = dict(options or [])
    return load_pack(path or bundled_pack_path("ipt-core"), **opts)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .audit import BatchSummary, batch_file

    summary = BatchSummary()
    show = not args.quiet and sys.stderr.isatty()
    options: dict[str, Any] = {
        "workers": args.workers,
        "engine": args.engine,
        "trace": args.trace,
        "detail": args.detail,
        "resume": args.resume,
        "chunksize": args.chunksize,
        "progress": None if not args.quiet else False,
        "summary": summary,
    }
    try:
        if args.dask:
            from .audit import batch_dask

            # distributed logs its reconnection attempts with tracebacks: the outcome is
            # reported here, once (batch.dask_lost)
            logging.disable(logging.ERROR)
            batch_dask(args.input, args.output, _pack(args), address=args.dask, **options)
        else:
            batch_file(args.input, args.output, _pack(args), **options)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (see main)
        print(
            f"ipt-formulate: {_stop_word(exc)}; "
            f"{summary.ok + summary.errors + summary.skipped:,} line(s) done in {args.output}. "
            "Continue with the same command and --resume.",
            file=sys.stderr,
        )
        return _stop_code(exc)
    if show:
        print(f"ipt-formulate batch: {summary.describe()}", file=sys.stderr)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from .audit import SynthOptions, write_cohort

    opts = SynthOptions(
        min_persons=args.min_persons,
        max_persons=max(args.max_persons, args.min_persons),
        max_events=args.max_events,
        max_relationships=args.max_relationships,
        unknowns=not args.no_unknowns,
        date_style=args.date_style,
        invalid=args.invalid,
        unknown_rate=args.unknown_rate,
        generator=args.generator,
    )
    write_cohort(args.output, args.n, args.seed, opts, workers=args.workers)
    return 0


def _summaries(
    path: str, packs: Sequence[RulePack], args: argparse.Namespace
) -> Iterator[dict[str, Any]]:
    from .audit._batch import _open_in, _state, cpu_count, ordered_map, read_lines

    workers = cpu_count() if args.workers == 0 else args.workers
    with _open_in(path) as (fin, _):
        items = ((n, raw) for n, raw, _ in read_lines(fin))
        state = _state(packs, args.engine)
        for _, results in ordered_map("summaries", items, state, workers=workers):
            yield from results


def _cmd_agreement(args: argparse.Namespace) -> int:
    from .audit import agreement, load_labels

    pack = _pack(args)
    labels, areas, ignored = load_labels(args.labels, pack)
    report = agreement(
        _summaries(args.cohort, [pack], args),
        labels,
        pack,
        areas=areas,
        presence_threshold=args.presence_threshold,
        ignored_columns=ignored,
    )
    text = {"table": report.to_table, "json": report.to_json, "csv": report.to_csv}[args.format]()
    _write_output(args.output, text)
    if args.disagreements:
        _write_output(args.disagreements, report.disagreements_csv())
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from .audit import cohort_diff, diff_packs

    paths = args.pack or []
    if not 1 <= len(paths) <= 2:
        raise IptFormulateError(
            "diff needs --pack A --pack B (or one --pack with --option-b)", code="diff.packs"
        )
    a = _pack_from(paths[0], args.option_a)
    b = _pack_from(paths[-1], args.option_b)
    static = diff_packs(a, b)
    if args.cohort is None:
        out = static.to_text() if args.format == "text" else _json(static.to_dict())
    else:
        result = cohort_diff(_summaries(args.cohort, [a, b], args), static)
        out = result.to_text() if args.format == "text" else result.to_json()
    _write_output(args.output, out)
    return 0


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _cmd_schema(args: argparse.Namespace) -> int:
    schema: dict[str, Any] = {
        "inventory": inventory_json_schema,
        "rules": rulepack_json_schema,
        "formulation": formulation_json_schema,
    }[args.which]()
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipt-formulate",
        description="Rule-based IPT problem-area formulation. Decision support for clinicians, "
        "not a diagnosis.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--limit",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="raise or lower an input limit, e.g. max_persons=5000 (see docs/inventory.md; "
        f"also the environment variable {ENV_VAR})",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    for add in (
        _add_formulate,
        _add_report,
        _add_interview,
        _add_rules,
        _add_batch,
        _add_agreement,
        _add_diff,
        _add_synth,
        _add_scenarios,
        _add_calibrate,
        _add_influence,
        _add_sensitivity,
        _add_schema,
        _add_serve,
    ):
        add(sub)
    return parser


_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # add_subparsers()


def _detail_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--detail",
        choices=("full", "standard", "brief"),
        default="full",
        help="output level (default full); standard: without WHY-NOT's per-rule checks; "
        "brief: scores, bounds, rule ids, advisories, provenance (docs/output.md)",
    )


def _pack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pack",
        metavar="PACK",
        help="a bundled pack by name (ipt-core, ipsrt) or a pack directory (default: ipt-core)",
    )
    p.add_argument(
        "--option",
        metavar="KEY=VALUE",
        action="append",
        type=_parse_option,
        help="override a pack option, e.g. grief_scope=broad_loss",
    )


def _workers_arg(p: argparse.ArgumentParser, default: int = 1) -> None:
    p.add_argument(
        "--workers",
        type=_non_negative,
        default=default,
        metavar="N",
        help=f"worker processes (0 = one per CPU; default {default})",
    )


def _engine_arg(p: argparse.ArgumentParser) -> None:
    from .audit import default_engine

    p.add_argument("--engine", choices=ENGINES, default=default_engine())


def _add_formulate(sub: _Subparsers) -> None:
    f = sub.add_parser("formulate", help="formulate one inventory (JSON file, or - for stdin)")
    f.add_argument("file", help="inventory JSON file, or - for stdin")
    f.add_argument(
        "--format",
        choices=("json", "markdown", "text", "summary"),
        default="json",
        help="output format (default: json); summary: at most about eight lines (safety, "
        "focus, strongest reasons, next question)",
    )
    f.add_argument(
        "--engine",
        choices=ENGINES,
        default="experta",
        help="rule engine: experta, the reference (default), or compiled (faster, same output)",
    )
    f.add_argument(
        "--trace",
        action="store_true",
        help="add every rule activation (canonical order, score before/after) to the output",
    )
    f.add_argument(
        "--graph",
        metavar="FILE",
        help="write the derivation graph: DOT if FILE ends in .dot/.gv, else node-link JSON",
    )
    f.add_argument(
        "--hypothesis",
        metavar="KEY",
        help="with --graph: only the derivation of this hypothesis (e.g. grief:person:mum)",
    )
    f.add_argument(
        "--questions",
        metavar="N",
        type=_non_negative,
        default=5,
        help="list at most N questions whose answer could change the focus (default 5; 0: none)",
    )
    _detail_arg(f)
    _pack_args(f)
    f.set_defaults(func=_cmd_formulate)


def _add_report(sub: _Subparsers) -> None:
    rp = sub.add_parser(
        "report",
        help="write the HTML report of one inventory: circle, timeline, explained formulation",
    )
    rp.add_argument("file")
    rp.add_argument("-o", "--output", default="-", help="HTML file to write (default: stdout)")
    rp.add_argument("--engine", choices=ENGINES, default="experta")
    rp.add_argument(
        "--questions",
        metavar="N",
        type=_non_negative,
        default=5,
        help="list at most N questions to ask next (default 5; 0: none)",
    )
    _pack_args(rp)
    rp.set_defaults(func=_cmd_report)


def _add_interview(sub: _Subparsers) -> None:
    iv = sub.add_parser(
        "interview",
        help="complete an inventory by answering, one at a time, the questions that could "
        "change the focus",
    )
    iv.add_argument("file", help="inventory JSON file")
    iv.add_argument("-o", "--output", metavar="FILE", help="write the completed inventory here")
    _pack_args(iv)
    iv.set_defaults(func=_cmd_interview)


def _add_rules(sub: _Subparsers) -> None:
    r = sub.add_parser("rules", help="inspect and check rule packs")
    rsub = r.add_subparsers(dest="rules_cmd", required=True)
    for name, helptext in (
        ("list", "list the rules of a pack"),
        ("catalogue", "the pack's rule catalogue as Markdown"),
    ):
        p = rsub.add_parser(name, help=helptext)
        _pack_args(p)
    show = rsub.add_parser("show", help="show one rule")
    show.add_argument("id")
    _pack_args(show)
    lint = rsub.add_parser("lint", help="validate a pack and run its rule examples")
    lint.add_argument("dir")
    r.set_defaults(func=_cmd_rules)


def _add_batch(sub: _Subparsers) -> None:
    b = sub.add_parser(
        "batch",
        help="formulate a JSONL cohort: one output line per input line, in order",
        description="Formulate every line of a JSONL file (one inventory per line). Writes one "
        "JSON line per input line, in input order: {line, id, formulation} or {line, error}. "
        "A progress bar is shown when stderr is a terminal.",
    )
    b.add_argument("input", help="JSONL file of inventories, or - for stdin")
    b.add_argument("-o", "--output", default="-", help="output JSONL file (default: stdout)")
    _workers_arg(b)
    _engine_arg(b)
    b.add_argument(
        "--resume",
        action="store_true",
        help="keep the complete lines already in OUTPUT and continue after them (only if "
        "OUTPUT.resume.json proves they come from this input, pack and engine)",
    )
    b.add_argument("--trace", action="store_true", help="add a trace to every formulation")
    _detail_arg(b)
    b.add_argument(
        "--chunksize", type=_positive, default=None, help="lines per task (default 16; 128 on Dask)"
    )
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    b.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786) instead of "
        "local processes; needs the [dask] extra",
    )
    _pack_args(b)
    b.set_defaults(func=_cmd_batch)


def _add_agreement(sub: _Subparsers) -> None:
    a = sub.add_parser(
        "agreement",
        help="agreement of the engine with clinician labels (Cohen's kappa)",
        description="Compare the engine with clinician labels: Cohen's kappa with 95% CI and "
        "percent agreement for the presence of each area and for the primary focus, confusion "
        "matrices, and the disagreeing records with the rules behind the engine's call. "
        "Label CSV header: id,<area>,...,primary (see docs/auditing.md).",
    )
    a.add_argument("cohort", help="JSONL of inventories (or batch output) with ids")
    a.add_argument("labels", help="label CSV: id, one 0/1 column per area, primary")
    a.add_argument("--format", choices=("table", "json", "csv"), default="table")
    a.add_argument("-o", "--output", default="-", help="report file (default: stdout)")
    a.add_argument("--disagreements", metavar="CSV", help="also write the disagreements as CSV")
    a.add_argument(
        "--presence-threshold",
        type=float,
        metavar="X",
        help="an area is present when its best score is >= X (default: the pack's primary_min)",
    )
    _workers_arg(a)
    _engine_arg(a)
    _pack_args(a)
    a.set_defaults(func=_cmd_agreement)


def _add_diff(sub: _Subparsers) -> None:
    d = sub.add_parser(
        "diff",
        help="compare two rule packs, statically and on a cohort",
        description="Static diff of two packs (rules added, removed, changed), and, with a "
        "cohort, how many primary focuses change, in which direction, and which rules account "
        "for each change.",
    )
    d.add_argument("cohort", nargs="?", help="JSONL of inventories (optional)")
    d.add_argument(
        "--pack", action="append", metavar="DIR", help="pack A, then pack B (give it twice)"
    )
    for which in ("a", "b"):
        d.add_argument(
            f"--option-{which}",
            metavar="KEY=VALUE",
            action="append",
            type=_parse_option,
            help=f"override an option of pack {which.upper()}",
        )
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.add_argument("-o", "--output", default="-", help="report file (default: stdout)")
    _workers_arg(d)
    _engine_arg(d)
    d.set_defaults(func=_cmd_diff)


def _add_synth(sub: _Subparsers) -> None:
    y = sub.add_parser(
        "synth",
        help="write a synthetic cohort (reproducible from --seed)",
        description="Write N valid inventories (JSONL) drawn by a seeded generator with the "
        "vocabularies of the inventory model: deaths, disputes, transitions, isolation, "
        "partial dates, qualitative timing and unknown values. The same seed and knobs give "
        "the same file; record i does not depend on N (-n 100 is the first 100 lines of "
        "-n 1000). See docs/auditing.md, 'Synthetic cohorts'.",
    )
    y.add_argument("-n", type=_non_negative, required=True, help="number of inventories")
    y.add_argument("--seed", type=int, default=0)
    y.add_argument("-o", "--output", default="-", help="output JSONL (default: stdout)")
    y.add_argument("--min-persons", type=_non_negative, default=0)
    y.add_argument("--max-persons", type=_non_negative, default=5, help="up to 1000")
    y.add_argument("--max-events", type=_non_negative, default=5)
    y.add_argument("--max-relationships", type=_non_negative, default=4)
    y.add_argument("--no-unknowns", action="store_true", help="no unknown clinical values")
    y.add_argument(
        "--unknown-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="share of clinical values left unknown, in [0, 1) (default 0.25; direct "
        "generator only)",
    )
    y.add_argument("--date-style", choices=("dates", "months", "mixed"), default="mixed")
    y.add_argument(
        "--invalid",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of records with exactly one defect (default 0)",
    )
    y.add_argument(
        "--generator",
        choices=("direct", "hypothesis"),
        default="direct",
        help="direct (default, fast) or hypothesis: the slower generator synth used before, "
        "to draw again a cohort made with it (needs hypothesis)",
    )
    _workers_arg(y)
    y.set_defaults(func=_cmd_synth)


def _add_schema(sub: _Subparsers) -> None:
    s = sub.add_parser("schema", help="print a JSON Schema")
    s.add_argument("which", choices=("inventory", "rules", "formulation"))
    s.set_defaults(func=_cmd_schema)


def _add_serve(sub: _Subparsers) -> None:
    sv = sub.add_parser("serve", help="run the CDS Hooks service (needs the [server] extra)")
    sv.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sv.add_argument("--port", type=_non_negative, default=8080, help="port (default 8080)")
    _pack_args(sv)
    sv.set_defaults(func=_cmd_serve)


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _mix_entry(text: str) -> tuple[str, float]:
    name, sep, raw = text.partition("=")
    try:
        return name, float(raw) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SCENARIO=WEIGHT, got {text!r}") from None


def _add_scenarios(sub: _Subparsers) -> None:
    from .audit import SCENARIOS

    p = sub.add_parser(
        "scenarios",
        help="write a labelled synthetic cohort from IPT problem-area scenarios",
        description="Write N inventories (JSONL), each written from one clinical scenario "
        f"({', '.join(SCENARIOS)}), and the scenario's areas as labels (the CSV that "
        "'agreement' and 'calibrate' read). The truth comes from the scenario, never from the "
        "rules. The same seed and options give the same files; record i does not depend on N.",
    )
    p.add_argument("-n", type=_non_negative, required=True, help="number of inventories")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="-", help="output JSONL (default: stdout)")
    p.add_argument("--labels", metavar="CSV", help="write the labels to this CSV file")
    p.add_argument("--noise", type=_unit_interval, default=0.2, help="distractor rate (0.2)")
    p.add_argument("--missing", type=_unit_interval, default=0.1, help="missing-field rate (0.1)")
    p.add_argument(
        "--label-noise", type=_unit_interval, default=0.0, help="primary relabelled rate (0)"
    )
    p.add_argument(
        "--mix",
        metavar="SCENARIO=WEIGHT",
        action="append",
        type=_mix_entry,
        help="relative frequency of a scenario (repeat; unnamed scenarios keep their default)",
    )
    p.set_defaults(func=_cmd_scenarios)


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from .audit import ScenarioOptions, write_scenarios

    mix = dict(ScenarioOptions().mix)
    mix.update(args.mix or [])
    opts = ScenarioOptions(
        mix=mix, noise=args.noise, missing=args.missing, label_noise=args.label_noise
    )
    out = sys.stdout if args.output == "-" else args.output
    write_scenarios(out, args.labels, args.n, args.seed, opts)
    return 0


def _add_calibrate(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit rule weights to clinician labels, with cross-validated evidence",
        description="Fit the pack's rule weights (sign kept, magnitude on a grid, pulled toward "
        "the published weights) to the labels' primary focus; report held-out Cohen's kappa of "
        "the base and calibrated packs with bootstrap 95%% CIs; write a pack that extends the "
        "base, and its diff (docs/auditing.md).",
    )
    p.add_argument("cohort", help="JSONL of inventories with ids")
    p.add_argument("labels", help="label CSV (id, area columns, primary)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="new pack directory")
    p.add_argument(
        "--only", nargs="+", action="extend", metavar="RULE", help="fit only these rules"
    )
    p.add_argument("--folds", type=_positive, default=5, help="cross-validation folds (5)")
    p.add_argument("--seed", type=int, default=0, help="folds and bootstrap seed (0)")
    p.add_argument("--penalty", type=float, default=0.02, help="pull toward the base (0.02)")
    p.add_argument("--step", type=float, default=0.05, help="weight grid step (0.05)")
    p.add_argument("--bootstrap", type=_non_negative, default=1000, help="resamples (1000)")
    p.add_argument(
        "--min-per-area", type=_positive, default=10, help="labelled primaries needed (10)"
    )
    p.add_argument("--name", help="name of the new pack (default: BASE-calibrated)")
    p.add_argument("--pack-version", help="its version (default: the base's, minor bumped)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    _engine_arg(p)
    p.add_argument(
        "--workers",
        type=_non_negative,
        default=1,
        help="processes for the fold fits and the cohort diff (0 = one per CPU; default 1)",
    )
    _pack_args(p)
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .audit import CalibrationOptions, calibrate, cohort_diff, diff_packs, write_tuned_pack
    from .audit._batch import cpu_count as _cpus

    if args.cohort == "-":
        raise IptFormulateError(
            "calibrate reads the cohort twice (fit, then the cohort diff): give a file, not -",
            code="calibrate.input",
        )
    pack = _pack(args)
    opts = CalibrationOptions(
        folds=args.folds,
        seed=args.seed,
        penalty=args.penalty,
        step=args.step,
        bootstrap=args.bootstrap,
        min_per_area=args.min_per_area,
        only=tuple(args.only or ()),
    )
    workers = _cpus() if args.workers == 0 else args.workers
    report = calibrate(args.cohort, args.labels, pack, options=opts, workers=workers)
    source = f"{Path(args.cohort).name} / {Path(args.labels).name}"
    tuned = write_tuned_pack(
        report, pack, args.output, name=args.name, version=args.pack_version, source=source
    )
    # the cohort diff re-runs the full pipeline with both packs: it must see exactly the
    # primary changes that re-scoring predicted
    result = cohort_diff(_summaries(args.cohort, [pack, tuned], args), diff_packs(pack, tuned))
    if len(result.changes) != report.primary_changes:
        raise IptFormulateError(
            f"re-scoring predicted {report.primary_changes} primary change(s), the cohort diff "
            f"found {len(result.changes)} (a bug: please report it)",
            code="calibrate.internal",
        )
    (Path(args.output) / "diff.txt").write_text(result.to_text(), encoding="utf-8")
    _write_output("-", report.to_text() if args.format == "text" else report.to_json())
    return 0


def _audit_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("cohort", help="JSONL of inventories, one per line (- for stdin)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument(
        "-o",
        "--output",
        default="-",
        help="report file, written atomically, never over the input (default: stdout)",
    )
    p.add_argument("--chunksize", type=_positive, default=16, help="records per task (default 16)")
    p.add_argument(
        "--top", type=_positive, metavar="N", help="report the N highest-ranked rows only"
    )
    _workers_arg(p)
    _pack_args(p)


def _add_influence(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "influence",
        help="which rules decide a cohort's formulations (leave-one-rule-out)",
        description="For each active rule of the pack: on how many records it fires, and on "
        "how many the primary (and secondary) focus changes when that rule alone is switched "
        "off. Ranked, most primary changes first (see docs/auditing.md).",
    )
    _audit_output_args(p)
    p.set_defaults(func=_cmd_influence)


def _cmd_influence(args: argparse.Namespace) -> int:
    from .audit import influence
    from .audit._output import refuse_inputs, write_report

    refuse_inputs(args.output, [args.cohort])
    report = influence(args.cohort, _pack(args), workers=args.workers, chunksize=args.chunksize)
    report = report.top(args.top) if args.top else report
    text = {"table": report.to_table, "csv": report.to_csv, "json": report.to_json}[args.format]()
    write_report(args.output, text, inputs=[args.cohort])
    return 0


def _deltas(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not all(0 < v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"each change must be in (0, 2), got {text!r}")
    return values


def _factors(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not all(0 <= v < 1e6 for v in values):
        raise argparse.ArgumentTypeError(f"each factor must be a number >= 0, got {text!r}")
    return values


def _add_sensitivity(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="how far each weight, option and threshold can move before a focus changes",
        description="Sweep every rule weight and threshold (by --deltas, both ways) and every "
        "numeric pack option (by --factors times its value) over a grid; for each value, how "
        "many records' primary focus changes; the stability margin (the smallest tested change "
        "that changes any record's primary); optionally a tornado chart (see docs/auditing.md).",
    )
    _audit_output_args(p)
    p.add_argument(
        "--deltas",
        type=_deltas,
        metavar="D,D,...",
        help="changes tried on weights and thresholds, both ways (default 0.05,0.1,0.2,0.3,0.5)",
    )
    p.add_argument(
        "--factors",
        type=_factors,
        metavar="F,F,...",
        help="multiples of each numeric option tried (default 0,0.25,0.5,0.75,1.25,1.5,2)",
    )
    p.add_argument(
        "--only",
        choices=("weight", "option", "threshold"),
        action="append",
        help="sweep only these kinds of parameter (repeatable)",
    )
    p.add_argument(
        "--chart", metavar="PNG", help="also write a tornado chart (needs the [plot] extra)"
    )
    p.set_defaults(func=_cmd_sensitivity)


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from .audit import sensitivity
    from .audit._output import refuse_inputs, write_report
    from .audit._sensitivity import DEFAULT_DELTAS, DEFAULT_FACTORS, png_bytes, pyplot

    for target in (args.output, args.chart or "-"):
        refuse_inputs(target, [args.cohort])
    if args.chart:
        pyplot()  # a missing extra fails before the sweep, not after it
    report = sensitivity(
        args.cohort,
        _pack(args),
        deltas=args.deltas or DEFAULT_DELTAS,
        factors=args.factors or DEFAULT_FACTORS,
        kinds=args.only or ("weight", "option", "threshold"),
        workers=args.workers,
        chunksize=args.chunksize,
    )
    shown = report.top(args.top) if args.top else report
    text = {"table": shown.to_table, "csv": shown.to_csv, "json": shown.to_json}[args.format]()
    write_report(args.output, text, inputs=[args.cohort])
    if args.chart:
        write_report(args.chart, png_bytes(report), inputs=[args.cohort])
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ._server import serve
    except ImportError as exc:
        raise IptFormulateError(
            f"serve needs the [server] extra ({exc.name} is missing): "
            "pip install 'ipt-formulate[fhir,server]'",
            code="extra.missing",
        ) from None
    serve(_pack(args), host=args.host, port=args.port)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that both stop a run the same clean way."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _stop_word(exc: BaseException) -> str:
    return "terminated" if isinstance(exc, Terminated) else "interrupted"


def _stop_code(exc: BaseException) -> int:
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def _expected_failure(exc: BaseException) -> IptFormulateError | None:
    """The typed error for an expected failure; None for a bug (left to show its traceback)."""
    if isinstance(exc, IptFormulateError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return MalformedInputError(f"input is not UTF-8 text: {exc.reason}")
    if isinstance(exc, csv.Error):
        return IptFormulateError(f"unreadable CSV: {exc}", code="input.csv")
    if isinstance(exc, MemoryError):
        return IptFormulateError(
            "out of memory; for a large cohort use `batch` (it reads the input lazily)",
            code="internal.memory",
        )
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return IptFormulateError(f"{where}{exc.strerror or exc}", code="io.error")
    return None


MAX_ISSUE_LINES = 50
"""Issues printed one per line on an error; the rest are counted."""


def _error_text(error: IptFormulateError) -> str:
    """One line; with several issues, every issue on its own line (path, message, code), capped."""
    issues = getattr(error, "issues", ())
    if len(issues) <= 1:
        return f"ipt-formulate: error [{error.code}]: {error}"
    what = str(error).split(":", 1)[0]  # "invalid inventory"
    n = sum(1 for i in issues if i.code != "inventory.more_issues")
    many = "more than " if n < len(issues) else ""
    lines = [f"ipt-formulate: error [{error.code}]: {what}, {many}{n} issues:"]
    lines += [f"  {issue}" for issue in issues[:MAX_ISSUE_LINES]]
    if len(issues) > MAX_ISSUE_LINES:
        lines.append(f"  ... and {len(issues) - MAX_ISSUE_LINES:,} more issue(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every expected failure becomes exit 2 and one paragraph."""
    previous = None
    with contextlib.suppress(ValueError):  # only the main thread can set a handler
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        if args.limit:
            # through the environment, so that batch worker processes see the same limits
            spec = ",".join([os.environ.get(ENV_VAR, ""), *args.limit]).strip(",")
            current_limits().with_overrides(spec)  # a bad value is an error here, once
            os.environ[ENV_VAR] = spec
        code: int = args.func(args)
        sys.stdout.flush()  # a full disk shows here, not after main has returned
        return code
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as exc:
        print(f"ipt-formulate: {_stop_word(exc)}", file=sys.stderr)
        return _stop_code(exc)
    except Exception as exc:  # MemoryError included
        error = _expected_failure(exc)
        if error is None:
            raise
        print(_error_text(error), file=sys.stderr)
        _discard_stdout()
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _discard_stdout() -> None:
    """After a write error on stdout, drop what is still buffered so that the interpreter
    does not fail again (with a traceback) when it flushes stdout at exit."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
