"""Command-line interface: ``ipt-formulate formulate|rules|schema``.

Exit codes: 0 success; 1 a check failed (``rules lint`` found errors); 2 invalid input (bad
inventory, empty file, broken rule pack, unknown option), reported as one paragraph on stderr
without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._api import formulate
from .engine import ENGINES
from .errors import IptFormulateError
from .formulation import formulation_json_schema
from .inventory import inventory_json_schema
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


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise IptFormulateError(f"cannot read {name}: {exc.strerror}", code="input.io") from None


def _cmd_formulate(args: argparse.Namespace) -> int:
    want_trace = bool(args.trace or args.graph)
    result = formulate(_read_input(args.file), _pack(args), engine=args.engine, trace=want_trace)
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
    else:
        sys.stdout.write(result.to_text())
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
    sub = parser.add_subparsers(dest="cmd", required=True)

    def pack_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pack", metavar="DIR", help="rule pack directory (default: ipt-core)")
        p.add_argument(
            "--option",
            metavar="KEY=VALUE",
            action="append",
            type=_parse_option,
            help="override a pack option, e.g. grief_scope=broad_loss",
        )

    f = sub.add_parser("formulate", help="formulate one inventory (JSON file, or - for stdin)")
    f.add_argument("file")
    f.add_argument("--format", choices=("json", "markdown", "text"), default="json")
    f.add_argument("--engine", choices=ENGINES, default="experta")
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
    pack_args(f)
    f.set_defaults(func=_cmd_formulate)

    r = sub.add_parser("rules", help="inspect and check rule packs")
    rsub = r.add_subparsers(dest="rules_cmd", required=True)
    for name, helptext in (
        ("list", "list the rules of a pack"),
        ("catalogue", "the pack's rule catalogue as Markdown"),
    ):
        p = rsub.add_parser(name, help=helptext)
        pack_args(p)
    show = rsub.add_parser("show", help="show one rule")
    show.add_argument("id")
    pack_args(show)
    lint = rsub.add_parser("lint", help="validate a pack and run its rule examples")
    lint.add_argument("dir")
    r.set_defaults(func=_cmd_rules)

    s = sub.add_parser("schema", help="print a JSON Schema")
    s.add_argument("which", choices=("inventory", "rules", "formulation"))
    s.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except IptFormulateError as exc:
        print(f"ipt-formulate: error [{exc.code}]: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
