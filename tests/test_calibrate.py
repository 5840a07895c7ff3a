"""Scenario cohorts and weight calibration: reproducible labelled cohorts whose truth does not
come from the rules; exact re-scoring; held-out gains that are real, and none on noise."""

from __future__ import annotations

import ast
import csv
import io
import json
import random
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import RULES
from ipt_formulate import formulate, load_pack, parse_inventory
from ipt_formulate.audit import (
    CalibrationError,
    CalibrationOptions,
    CalibrationReport,
    ScenarioOptions,
    calibrate,
    diff_packs,
    load_labels,
    scenario_records,
    write_scenarios,
    write_tuned_pack,
)
from ipt_formulate.audit._refit import pack_weights, present_areas, primary_of, record_groups
from ipt_formulate.errors import InputError

SRC = Path(__file__).resolve().parents[1] / "src" / "ipt_formulate"
# three central weights lowered far below their published values
PERTURBED = {
    "grief.death-near-onset": 0.15,
    "transition.change-near-onset": 0.1,
    "dispute.non-reciprocal-conflict": 0.1,
}
FAST = CalibrationOptions(bootstrap=400)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True
    )


def perturb(dest: Path, weights: dict[str, float]) -> Path:
    """A copy of ipt-core with some weights rewritten in its rule files."""
    shutil.copytree(RULES / "ipt-core", dest)
    for path in dest.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        for rid, w in weights.items():
            at = text.find(f'id = "{rid}"')
            if at < 0:
                continue
            start = text.index("weight =", at)
            end = text.index("\n", start)
            text = f"{text[:start]}weight = {w}{text[end:]}"
        path.write_text(text, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("scenarios")
    write_scenarios(d / "cohort.jsonl", d / "labels.csv", 800, seed=11)
    return d / "cohort.jsonl", d / "labels.csv"


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return perturb(tmp_path_factory.mktemp("packs") / "perturbed", PERTURBED)


@pytest.fixture(scope="module")
def perturbed_report(cohort: tuple[Path, Path], perturbed: Path) -> CalibrationReport:
    return calibrate(*cohort, load_pack(perturbed), options=FAST)


# ------------------------------------------------------------------ scenarios
def test_scenarios_are_valid_reproducible_and_prefix_stable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_scenarios(a.with_suffix(".jsonl"), a.with_suffix(".csv"), 120, seed=5)
    write_scenarios(b.with_suffix(".jsonl"), b.with_suffix(".csv"), 40, seed=5)
    long_inv = a.with_suffix(".jsonl").read_text().splitlines()
    long_lab = a.with_suffix(".csv").read_text().splitlines()
    assert b.with_suffix(".jsonl").read_text().splitlines() == long_inv[:40]
    assert b.with_suffix(".csv").read_text().splitlines() == long_lab[:41]  # with the header
    again = io.StringIO()
    write_scenarios(again, None, 120, seed=5)
    assert again.getvalue().splitlines() == long_inv
    other = io.StringIO()
    write_scenarios(other, None, 120, seed=6)
    assert other.getvalue().splitlines() != long_inv
    for line in long_inv:
        parse_inventory(line)  # raises on an invalid inventory
    pack = load_pack("ipt-core")
    labels, areas, ignored = load_labels(a.with_suffix(".csv"), pack)
    assert areas == ("grief", "role_dispute", "role_transition", "interpersonal_deficits")
    assert ignored == ("scenario",)
    ids = [json.loads(x)["id"] for x in long_inv]
    assert sorted(labels) == sorted(ids)
    assert {lb.primary for lb in labels.values()} == set(areas)


def test_scenario_truth_never_reads_the_rules() -> None:
    """The generator imports nothing that knows a rule, a pack or the engine."""
    tree = ast.parse((SRC / "audit" / "_scenarios.py").read_text(encoding="utf-8"))
    local = {(n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert local == {"errors"}


def test_scenario_knobs() -> None:
    def persons(opts: ScenarioOptions) -> list[dict[str, object]]:
        return [p for s in scenario_records(150, 2, opts) for p in s.inventory["persons"]]

    full = persons(ScenarioOptions(noise=0, missing=0))
    assert all("ring" in p for p in full)
    assert all(set(p) == {"id", "role", "label"} for p in persons(ScenarioOptions(missing=1)))
    quiet = [s.inventory for s in scenario_records(150, 2, ScenarioOptions(noise=0))]
    noisy = [s.inventory for s in scenario_records(150, 2, ScenarioOptions(noise=1))]
    assert not any(p["id"] == "peripheral" for inv in quiet for p in inv["persons"])
    assert all(any(p["id"] == "peripheral" for p in inv["persons"]) for inv in noisy)
    relabelled = list(scenario_records(150, 2, ScenarioOptions(label_noise=1)))
    single = {"bereavement": "grief", "dispute": "role_dispute", "transition": "role_transition"}
    assert all(s.primary != single[s.scenario] for s in relabelled if s.scenario in single)
    with pytest.raises(InputError, match="noise"):
        ScenarioOptions(noise=1.5)


def test_scenarios_cli_writes_what_the_api_writes(tmp_path: Path) -> None:
    run = cli("scenarios", "-n", "25", "--seed", "3", "-o", str(tmp_path / "c.jsonl"),
              "--labels", str(tmp_path / "l.csv"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    inv, lab = io.StringIO(), io.StringIO()
    write_scenarios(inv, lab, 25, seed=3)
    assert (tmp_path / "c.jsonl").read_text(encoding="utf-8") == inv.getvalue()
    assert (tmp_path / "l.csv").read_text(encoding="utf-8") == lab.getvalue()


# ------------------------------------------------------------------ re-scoring
def test_rescoring_matches_a_full_formulation_with_the_changed_pack() -> None:
    pack = load_pack("ipt-core")
    thr = pack.thresholds.primary_min
    invs = [parse_inventory(s.inventory) for s in scenario_records(120, 8)]
    groups = [record_groups(inv, pack) for inv in invs]
    rng = random.Random(3)
    w0 = pack_weights(pack)
    for _ in range(3):
        w = {r: round(rng.uniform(0.05, 0.95), 2) * (1 if v > 0 else -1) for r, v in w0.items()}
        changed = pack.with_rules(weights=w)
        for inv, g in zip(invs, groups, strict=True):
            f = formulate(inv, changed, engine="compiled", detail="brief")
            got = primary_of(g, w, thr)
            expected = None if f.primary is None else (f.primary.area, f.primary.focus.id or "")
            assert (None if got is None else (got.area, got.focus_id)) == expected
            assert present_areas(g, w, thr) == {h.area for h in f.hypotheses if h.score >= thr}


# ------------------------------------------------------------------ calibration
def test_calibration_recovers_perturbed_weights_on_held_out_folds(
    perturbed_report: CalibrationReport,
) -> None:
    """The base's weights were lowered: held-out primary kappa must rise, with a paired
    bootstrap interval of the gain above 0, and the perturbed weights must move back up."""
    r = perturbed_report
    gain = r.gain["primary"]
    assert gain.value is not None and gain.low is not None
    assert gain.value >= 0.03
    assert gain.low > 0
    assert r.fitted_kappa["primary"].value > r.base_kappa["primary"].value  # type: ignore[operator]
    moved = {w.rule_id: w for w in r.changes}
    assert any(rid in moved and moved[rid].after > w for rid, w in PERTURBED.items())
    for w in r.weights:
        assert abs(w.after) <= 0.99 and (w.after > 0) == (w.before > 0)  # sign kept
        assert len(w.folds) == FAST.folds


def test_calibration_reports_no_gain_on_shuffled_labels(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    """Labels shuffled across records carry no signal: the held-out gain must be about 0 and
    its interval must include 0 (a fit to noise is not reported as a gain)."""
    rows = list(csv.reader(cohort[1].open(encoding="utf-8")))
    head, body = rows[0], rows[1:]
    shuffled = [r[1:] for r in body]
    random.Random(1).shuffle(shuffled)
    path = tmp_path / "shuffled.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        w.writerows([r[0], *lab] for r, lab in zip(body, shuffled, strict=True))
    r = calibrate(cohort[0], path, load_pack("ipt-core"), options=FAST)
    gain = r.gain["primary"]
    assert gain.value is not None and gain.low is not None and gain.high is not None
    assert gain.low <= 0 <= gain.high
    assert abs(gain.value) < 0.03


def test_tuned_pack_extends_the_base_with_lineage_and_evidence(
    perturbed_report: CalibrationReport, perturbed: Path, cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    base = load_pack(perturbed)
    r = perturbed_report
    tuned = write_tuned_pack(r, base, tmp_path / "tuned", source="cohort / labels")
    assert tuned.name == "ipt-core-calibrated" and tuned.version == "1.2.0"
    assert tuned.lineage == (*base.lineage, "ipt-core-calibrated@1.2.0")
    manifest = tomllib.loads((tmp_path / "tuned" / "pack.toml").read_text(encoding="utf-8"))
    assert manifest["pack"]["extends"] == ["base"]  # a copy: not a bundled pack
    assert load_pack(tmp_path / "tuned" / "base").hash == base.hash
    diff = diff_packs(base, tuned)
    assert {rid: set(f) for rid, f in diff.changed.items()} == {
        w.rule_id: {"weight", "version"} for w in r.changes
    }
    text = (tmp_path / "tuned" / "calibrated.toml").read_text(encoding="utf-8")
    for w in r.changes:
        assert tuned.rule(w.rule_id).weight == w.after
        assert tuned.rule(w.rule_id).version == base.rule(w.rule_id).version + 1
        assert f"# {w.rule_id}: weight {w.before:+g} -> {w.after:+g}" in text
    assert f"primary focus kappa: {r.summary_line('primary')}" in text
    assert json.loads((tmp_path / "tuned" / "calibration.json").read_text())["used"] == r.used
    assert (tmp_path / "tuned" / "diff.txt").read_text() == diff.to_text()
    # the written pack formulates as re-scoring predicted
    thr, w_new = tuned.thresholds.primary_min, pack_weights(tuned)
    for line in cohort[0].read_text().splitlines()[:150]:
        inv = parse_inventory(line)
        got = primary_of(record_groups(inv, base), w_new, thr)
        f = formulate(inv, tuned, engine="compiled", detail="brief")
        assert (None if got is None else got.area) == (
            None if f.primary is None else f.primary.area
        )


def test_a_bundled_base_is_extended_by_name(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    base = load_pack("ipt-core")
    r = calibrate(*cohort, base, options=CalibrationOptions(bootstrap=0, only=("grief.adapting",)))
    tuned = write_tuned_pack(r, base, tmp_path / "t")
    manifest = tomllib.loads((tmp_path / "t" / "pack.toml").read_text(encoding="utf-8"))
    assert manifest["pack"]["extends"] == ["ipt-core"]
    assert not (tmp_path / "t" / "base").exists()
    assert tuned.lineage[-1] == "ipt-core-calibrated@1.2.0"
    assert [w.rule_id for w in r.weights] == ["grief.adapting"]  # --only


def test_too_few_labels_is_refused_naming_what_is_missing(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    rows = list(csv.reader(cohort[1].open(encoding="utf-8")))
    head, body = rows[0], rows[1:]
    grief = [r for r in body if r[head.index("primary")] == "grief"]
    kept = [r for r in body if r[head.index("primary")] != "grief"] + grief[:3]
    path = tmp_path / "few.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head, *kept])
    with pytest.raises(CalibrationError) as err:
        calibrate(cohort[0], path, load_pack("ipt-core"), options=FAST)
    assert err.value.code == "calibrate.too_few_labels"
    assert "primary=grief: 3 record(s) labelled with this primary, 10 needed" in str(err.value)
    assert "grief.death-near-onset" in str(err.value)
    assert "role_dispute" not in str(err.value)
    out = tmp_path / "never"
    run = cli("calibrate", str(cohort[0]), str(path), "-o", str(out))
    assert run.returncode == 2
    assert "[calibrate.too_few_labels]" in run.stderr and "grief: 3 record(s)" in run.stderr
    assert "grief.death-near-onset" in run.stderr and "--min-per-area" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_bad_only_and_existing_output_are_refused(
    cohort: tuple[Path, Path], perturbed_report: CalibrationReport, tmp_path: Path
) -> None:
    with pytest.raises(CalibrationError, match=r"--only no\.such-rule: rule is not in the pack"):
        calibrate(
            *cohort, load_pack("ipt-core"), options=CalibrationOptions(only=("no.such-rule",))
        )
    with pytest.raises(CalibrationError, match="carries no weight"):
        calibrate(
            *cohort, load_pack("ipt-core"), options=CalibrationOptions(only=("safety.psychosis",))
        )
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(CalibrationError) as err:
        write_tuned_pack(perturbed_report, load_pack("ipt-core"), busy)
    assert err.value.code == "calibrate.output_exists"
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".busy")]  # no temp left


def test_calibrate_cli_end_to_end(perturbed: Path, tmp_path: Path) -> None:
    write_scenarios(tmp_path / "c.jsonl", tmp_path / "l.csv", 300, seed=2)
    out = tmp_path / "tuned"
    cohort, labels = str(tmp_path / "c.jsonl"), str(tmp_path / "l.csv")
    args = ("-o", str(out), "--bootstrap", "200", "--format", "json")
    run = cli("calibrate", "--pack", str(perturbed), cohort, labels, *args)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["used"] == 300 and report["held_out"]["primary"]["base"]["n"] == 300
    tuned = load_pack(out)
    assert tuned.lineage[-1] == "ipt-core-calibrated@1.2.0"
    diff = (out / "diff.txt").read_text(encoding="utf-8")
    changed = report["primary_changes"]
    assert f"primary focus changed in {changed}" in diff


# ------------------------------------------------------------------ docs/auditing.md
DOC = Path(__file__).resolve().parents[1] / "docs" / "auditing.md"


def doc_block(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- doc-output: {name} -->\n```\w*\n(.*?)```", text, re.DOTALL)
    assert m, f"no block {name} in {DOC.name}"
    return m.group(1)


@pytest.fixture(scope="module")
def doc_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The commands of sections 6 and 7 of docs/auditing.md, run as written."""
    d = tmp_path_factory.mktemp("doc")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True, cwd=d
        )

    out: dict[str, str] = {}
    scen = run("scenarios", "-n", "500", "--seed", "7", "-o", "scenarios.jsonl",
               "--labels", "scenario-labels.csv")  # fmt: skip
    assert scen.returncode == 0, scen.stderr
    labels = (d / "scenario-labels.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    out["scenario-labels"] = "".join(labels[:4])
    agree = run("agreement", "scenarios.jsonl", "scenario-labels.csv")
    out["scenario-agreement"] = "".join(agree.stdout.splitlines(keepends=True)[:9])
    perturb(d / "perturbed", PERTURBED)
    cal = run("calibrate", "--pack", "perturbed", "scenarios.jsonl", "scenario-labels.csv",
              "-o", "tuned")  # fmt: skip
    assert cal.returncode == 0, cal.stderr
    out["calibrate-report"] = re.sub(r"sha256:[0-9a-f]{12}", "sha256:…", cal.stdout)
    comment = (d / "tuned" / "calibrated.toml").read_text(encoding="utf-8").splitlines(True)
    out["calibrate-comment"] = "".join(comment[:5])
    (d / "few.csv").write_text("".join(labels[:41]), encoding="utf-8")
    few = run("calibrate", "scenarios.jsonl", "few.csv", "-o", "tuned2")
    assert few.returncode == 2 and not (d / "tuned2").exists()
    out["calibrate-refusal"] = few.stderr
    out["lineage"] = repr(load_pack(d / "tuned").lineage)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "scenario-labels",
        "scenario-agreement",
        "calibrate-report",
        "calibrate-comment",
        "calibrate-refusal",
    ],
)
def test_auditing_doc_examples_are_reproduced(doc_run: dict[str, str], name: str) -> None:
    assert doc_block(name).strip("\n") == doc_run[name].strip("\n")


def test_auditing_doc_states_the_tuned_lineage(doc_run: dict[str, str]) -> None:
    assert f"Its lineage is `{doc_run['lineage']}`" in DOC.read_text(encoding="utf-8")


def test_worker_processes_do_not_change_the_report(cohort: tuple[Path, Path]) -> None:
    pack = load_pack("ipt-core")
    opts = CalibrationOptions(bootstrap=50)
    one = calibrate(*cohort, pack, options=opts, workers=1)
    two = calibrate(*cohort, pack, options=opts, workers=2)
    assert one.to_json() == two.to_json()


def test_report_counts_bad_lines_and_unlabelled_records(tmp_path: Path) -> None:
    cohort, labels = tmp_path / "c.jsonl", tmp_path / "l.csv"
    write_scenarios(cohort, labels, 300, seed=4)
    no_id = json.loads(cohort.read_text().splitlines()[0])
    del no_id["id"]
    with cohort.open("a", encoding="utf-8") as fh:
        fh.write("\n" + json.dumps(no_id) + "\n")
    r = calibrate(cohort, labels, load_pack("ipt-core"), options=CalibrationOptions(bootstrap=0))
    assert r.records == 302 and r.used == 300 and r.unlabelled == 1
    assert [e["code"] for e in r.errors] == ["input.blank"] and r.errors[0]["line"] == 301
    text = r.to_text()
    assert "Notes: 1 record(s) could not be formulated; 1 record(s) without an id" in text
    assert r.base_kappa["primary"].low is None  # no resamples, no interval
    assert r.summary_line().startswith(f"base {r.base_kappa['primary'].value:.2f} -> ")


def test_options_are_checked_and_pack_options_stay_fixed(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    for bad in (
        CalibrationOptions(folds=1),
        CalibrationOptions(step=0),
        CalibrationOptions(penalty=float("nan")),
    ):
        with pytest.raises(CalibrationError) as err:
            calibrate(*cohort, load_pack("ipt-core"), options=bad)
        assert err.value.code == "calibrate.options"
    for mix in ({"nope": 1.0}, {"dispute": 0.0}):
        with pytest.raises(InputError, match=r"scenario|mix"):
            ScenarioOptions(mix=mix)
    base = load_pack("ipt-core", recent_window_months=3.0)
    opts = CalibrationOptions(bootstrap=0, only=("transition.change-near-onset",))
    r = calibrate(*cohort, base, options=opts)
    tuned = write_tuned_pack(r, base, tmp_path / "t")
    assert tuned.options["recent_window_months"] == 3.0
    assert not diff_packs(base, tuned).options
