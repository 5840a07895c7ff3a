"""Influence and sensitivity audits, pack variants (RulePack.with_rules), data frames and
the notebook rendering. The fast paths (re-scoring one reading per record) are checked
against full formulations of variant packs."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, RULES, example_dict, example_text
from ipt_formulate import Formulation, RulePack, formulate, load_pack
from ipt_formulate.audit import (
    formulate_many,
    influence,
    sensitivity,
    synth_records,
    to_dataframe,
    tornado_chart,
)
from ipt_formulate.errors import OptionError

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
Key = tuple[str, str, str] | None


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True, cwd=cwd
    )


def _key(f: Formulation, role: str) -> Key:
    h = getattr(f, role)
    return None if h is None else (h.area, h.focus.kind, h.focus.id or "")


def _focus(inv: Any, pack: RulePack) -> tuple[Key, Key]:
    f = formulate(inv, pack, engine="compiled", detail="brief")
    return _key(f, "primary"), _key(f, "secondary")


@pytest.fixture(scope="module")
def cohort() -> list[str]:
    """The bundled examples and 15 synthetic inventories (public synth API)."""
    synth = list(synth_records(15, seed=11))  # JSON lines
    return [example_text(n) for n in EXAMPLE_NAMES] + synth


@pytest.fixture
def cohort_file(tmp_path: Path, cohort: list[str]) -> Path:
    path = tmp_path / "cohort.jsonl"
    lines = [json.dumps(json.loads(t)) for t in cohort] + ["{broken"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ RulePack.with_rules
def test_with_rules_equals_the_pack_loaded_from_edited_files(
    tmp_path: Path, core_pack: RulePack
) -> None:
    copy = tmp_path / "ipt-core-b"
    shutil.copytree(RULES / "ipt-core", copy)
    f = copy / "transition.toml"
    head, sep, tail = f.read_text(encoding="utf-8").partition('id = "transition.change-near-onset"')
    f.write_text(head + sep + tail.replace("weight = 0.5", "weight = 0.2", 1), encoding="utf-8")
    edited = load_pack(copy)
    variant = core_pack.with_rules(weights={"transition.change-near-onset": 0.2})
    assert variant.hash == edited.hash != core_pack.hash
    for name in EXAMPLE_NAMES:
        assert (
            formulate(example_text(name), variant).to_json()
            == formulate(example_text(name), edited).to_json()
        )
    assert core_pack.with_rules().hash == core_pack.hash  # no change, same pack


def test_with_rules_switches_a_rule_off(core_pack: RulePack) -> None:
    off = core_pack.with_rules(disabled=["grief.death-near-onset"])
    assert off.hash != core_pack.hash
    assert off.with_options(grief_scope="broad_loss").disabled_rules == ("grief.death-near-onset",)
    f = formulate(example_text("grief"), off)
    assert f.primary is None or f.primary.area != "grief"
    checks = {c.rule_id: c for w in f.not_chosen for c in w.rules}
    assert checks["grief.death-near-onset"].status == "disabled"
    # rules that read its finding still load and run (they just never see it)
    assert off.rule("grief.icg-above-25").enabled


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"weights": {"no.such-rule": 0.2}}, "no.such-rule"),
        ({"disabled": ["no.such-rule"]}, "no.such-rule"),
        ({"weights": {"grief.death-near-onset": 1.5}}, "grief.death-near-onset"),
        ({"weights": {"grief.death-near-onset": 0}}, "non-zero"),
        ({"weights": {"safety.phq9-item9": 0.3}}, "no area"),
    ],
)
def test_with_rules_refuses_bad_changes(
    kwargs: dict[str, Any], needle: str, core_pack: RulePack
) -> None:
    with pytest.raises(OptionError) as exc:
        core_pack.with_rules(**kwargs)
    assert needle in str(exc.value)


# ------------------------------------------------------------------ influence
def test_influence_equals_formulations_without_each_rule(
    cohort: list[str], core_pack: RulePack
) -> None:
    report = influence(cohort, core_pack)
    assert report.records == report.formulated == len(cohort)
    rows = {r.rule_id: r for r in report.rules}
    assert set(rows) == {r.id for r in core_pack.active_rules}
    base = [_focus(t, core_pack) for t in cohort]
    fired = {rid: 0 for rid in rows}
    for t in cohort:
        trace = formulate(t, core_pack, engine="compiled", trace=True).trace
        assert trace is not None
        for rid in {step.rule_id for step in trace.steps}:
            fired[rid] += 1
    for rid, row in rows.items():
        off = core_pack.with_rules(disabled=[rid])
        focus = [_focus(t, off) for t in cohort]
        assert row.primary_changed == sum(a[0] != b[0] for a, b in zip(base, focus, strict=True))
        assert row.secondary_changed == sum(a[1] != b[1] for a, b in zip(base, focus, strict=True))
        assert row.fired == fired[rid], rid
    # ranked: most primary changes first
    keys = [(-r.primary_changed, -r.secondary_changed, -r.fired, r.rule_id) for r in report.rules]
    assert keys == sorted(keys)
    assert report.rules[0].primary_changed > 0


# ------------------------------------------------------------------ sensitivity
def _variant(pack: RulePack, kind: str, name: str, value: float) -> RulePack:
    if kind == "weight":
        return pack.with_rules(weights={name: value})
    if kind == "option":
        spec = pack.option_specs[name]
        return pack.with_options(**{name: int(value) if isinstance(spec.default, int) else value})
    return replace(pack, thresholds=pack.thresholds.model_copy(update={name: value}))


def test_sensitivity_equals_formulations_of_variant_packs(
    cohort: list[str], core_pack: RulePack
) -> None:
    report = sensitivity(cohort, core_pack)
    assert report.formulated == len(cohort)
    kinds = {r.parameter.kind for r in report.results}
    assert kinds == {"weight", "option", "threshold"}
    base = [_focus(t, core_pack) for t in cohort]
    # every parameter that changes something, and one of each kind that may not
    moving = [r for r in report.results if r.margin is not None]
    still = [next(r for r in report.results if r.parameter.kind == k) for k in sorted(kinds)]
    assert moving
    for r in {id(x): x for x in (*moving[:3], *still)}.values():
        p = r.parameter
        for value, n_primary, n_secondary in zip(p.values, r.primary, r.secondary, strict=True):
            variant = _variant(core_pack, p.kind, p.name, value)
            focus = [_focus(t, variant) for t in cohort]
            pairs = list(zip(base, focus, strict=True))
            assert n_primary == sum(a[0] != b[0] for a, b in pairs), (p, value)
            assert n_secondary == sum(a[1] != b[1] for a, b in pairs), (p, value)
        # the margin is the smallest tested change that changes a primary
        flips = [abs(v - p.base) for v, n in zip(p.values, r.primary, strict=True) if n]
        assert r.margin == (round(min(flips), 6) if flips else None)


def test_sensitivity_grid_stays_in_range(core_pack: RulePack) -> None:
    report = sensitivity([example_text("grief")], core_pack, deltas=(0.3, 0.9))
    for r in report.results:
        p = r.parameter
        assert p.base not in p.values and list(p.values) == sorted(set(p.values))
        if p.kind == "weight":  # keeps its sign, within [-0.99, 0.99]
            assert all(0 < v * (1 if p.base > 0 else -1) <= 0.99 for v in p.values)
        if p.kind == "option":
            spec = core_pack.option_specs[p.name]
            assert all(v >= (spec.min or 0) for v in p.values)
    for bad in ({"deltas": (-0.1,)}, {"factors": (-1.0,)}, {"kinds": ("weights",)}):
        with pytest.raises(OptionError):
            sensitivity([example_text("grief")], core_pack, **bad)  # type: ignore[arg-type]


def test_sensitivity_and_influence_do_not_depend_on_workers(cohort_file: Path) -> None:
    one = sensitivity(cohort_file, kinds=("weight", "threshold"), workers=1)
    two = sensitivity(cohort_file, kinds=("weight", "threshold"), workers=2, chunksize=4)
    assert one.to_json() == two.to_json()
    assert [e["code"] for e in one.errors] == ["input.malformed"]
    assert (
        influence(cohort_file, workers=2, chunksize=4).to_json() == influence(cohort_file).to_json()
    )


# ------------------------------------------------------------------ command line
def test_cli_influence_formats_and_files(cohort_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "influence.csv"
    r = cli("influence", str(cohort_file), "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "rule_id,area,kind,fired,primary_changed,secondary_changed,directions"
    data = json.loads(cli("influence", str(cohort_file), "--format", "json").stdout)
    assert data["records"] == 7 + 15 + 1 and data["formulated"] == 7 + 15
    assert [row.split(",")[0] for row in rows[1:]] == [x["rule_id"] for x in data["rules"]]
    assert data["errors"][0]["code"] == "input.malformed"
    top = cli("influence", str(cohort_file), "--top", "3")
    assert len([ln for ln in top.stdout.splitlines() if ln.startswith(("transition.", "grief.",
        "dispute.", "deficits.", "safety.", "clinical."))]) == 3  # fmt: skip


def test_cli_refuses_to_write_over_the_input(cohort_file: Path) -> None:
    before = cohort_file.read_bytes()
    for cmd in ("influence", "sensitivity"):
        r = cli(cmd, str(cohort_file), "-o", str(cohort_file))
        assert r.returncode == 2
        assert "output.same_as_input" in r.stderr and "Traceback" not in r.stderr
        assert cohort_file.read_bytes() == before


def test_cli_missing_cohort_is_one_line(tmp_path: Path) -> None:
    r = cli("influence", str(tmp_path / "absent.jsonl"))
    assert r.returncode == 2 and "input.io" in r.stderr and "Traceback" not in r.stderr


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_cli_sensitivity_table_csv_and_chart(cohort_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    chart, table = tmp_path / "tornado.png", tmp_path / "s.csv"
    r = cli("sensitivity", str(cohort_file), "--format", "csv", "-o", str(table),
            "--chart", str(chart), "--workers", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    width, height = _png_size(chart.read_bytes())
    assert width > 400 and height > 100
    rows = table.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "kind,name,base,value,delta,primary_changed,secondary_changed"
    js = json.loads(cli("sensitivity", str(cohort_file), "--format", "json").stdout)
    per_value = {(p["kind"], p["name"], g["value"]): g["primary_changed"]
                 for p in js["parameters"] for g in p["grid"]}  # fmt: skip
    for row in rows[1:]:
        kind, name, _, value, _, primary, _ = row.split(",")
        assert per_value[(kind, name, float(value))] == int(primary)


def test_missing_extras_are_clear_errors(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['pandas'] = None\n"
        "from ipt_formulate.audit import sensitivity, tornado_chart, to_dataframe\n"
        "from ipt_formulate.errors import IptFormulateError\n"
        "for call in (lambda: tornado_chart(sensitivity([]), 'x.png'),"
        " lambda: to_dataframe([])):\n"
        "    try:\n"
        "        call()\n"
        "    except IptFormulateError as e:\n"
        "        print(e.code, e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("extra.missing") and "[plot]" in lines[0]
    assert lines[1].startswith("extra.missing") and "[dataframe]" in lines[1]
    assert not (tmp_path / "x.png").exists()


def test_tornado_chart_is_written_atomically(cohort: list[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = sensitivity(cohort[:7], kinds=("threshold",))
    tornado_chart(report, tmp_path / "t.png")
    assert _png_size((tmp_path / "t.png").read_bytes())[0] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]  # no temporary file left


# ------------------------------------------------------------------ data frames, notebooks
def test_to_dataframe_one_row_per_record(cohort: list[str], core_pack: RulePack) -> None:
    pd = pytest.importorskip("pandas")
    results = list(formulate_many([*cohort, "{}"], core_pack))
    df = to_dataframe(results, core_pack)
    assert len(df) == len(cohort) + 1
    assert list(df.columns[:3]) == ["line", "id", "status"]
    assert [c for c in df.columns if c.startswith("score_")] == [
        f"score_{a.id}" for a in core_pack.areas
    ]
    for (_, row), r in zip(df.iterrows(), results, strict=True):
        assert row["line"] == r.line and (
            row["id"] == r.id or (r.id is None and pd.isna(row["id"]))
        )
        f = r.formulation
        if f is None:
            assert row["error"] == "inventory.missing_field" and pd.isna(row["primary"])
            continue
        for role in ("primary", "secondary"):
            h = getattr(f, role)
            assert pd.isna(row[role]) if h is None else row[role] == h.area
        assert row["status"] == f.status
        for a in core_pack.areas:
            best = [h.score for h in f.hypotheses if h.area == a.id]
            value = row[f"score_{a.id}"]
            assert (pd.isna(value) and not best) or value == max(best)
        rules = {e.rule_id for h in f.hypotheses for e in (*h.support, *h.against)}
        assert set(rules) <= set(row["rules"])
    with pytest.raises(TypeError):
        to_dataframe([{"line": 1}])  # type: ignore[list-item]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_repr_html_is_a_compact_escaped_fragment() -> None:
    inv = example_dict("role-dispute")
    evil = "<script>alert(1)</script> & <b>"
    for p in inv["persons"]:
        p["label"] = evil
    f = formulate(inv)
    html = f._repr_html_()
    assert "<script" not in html and "&lt;script&gt;" in html
    parser = _Tags()
    parser.feed(html)
    assert parser.stack == []  # well-formed
    assert set(parser.tags) <= {"div", "p", "strong", "small", "table", "thead", "tbody",
                                "tr", "th", "td"}  # fmt: skip
    text = "".join(parser.text)
    assert evil in text and f.disclaimer in text and "primary" in text
    assert "<html" not in html and "<svg" not in html  # a fragment, not the report page
