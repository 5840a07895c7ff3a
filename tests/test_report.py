"""The HTML report and the readable text, checked as a person would see them (issue #19)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, RULES
from ipt_formulate import default_pack, formulate, load_pack, parse_inventory, render_html, report
from ipt_formulate._html import NODE_R
from ipt_formulate.facts import event_name, timing_phrase

pytest.importorskip("jinja2")

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
SVG = "{http://www.w3.org/2000/svg}"


def _pack_for(name: str) -> Any:
    return load_pack(RULES / "ipsrt") if name.startswith("bipolar") else None


def _svg(html: str, svg_id: str) -> ET.Element:
    m = re.search(rf'<svg id="{svg_id}".*?</svg>', html, re.S)
    assert m, f"no <svg id={svg_id}>"
    return ET.fromstring(m.group(0).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _groups(svg: ET.Element, attr: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{SVG}g") if attr in g.attrib]


def _centre(g: ET.Element) -> tuple[float, float]:
    node = g.find(f"{SVG}circle[@class='node']")
    if node is not None:
        return float(node.attrib["cx"]), float(node.attrib["cy"])
    rect = g.find(f"{SVG}rect[@class='node']")
    assert rect is not None
    return float(rect.attrib["x"]) + 9, float(rect.attrib["y"]) + 9


@pytest.mark.parametrize("name", NAMES)
def test_each_example_report_structure(name: str) -> None:
    text = (EXAMPLES / f"{name}.json").read_text()
    inv = parse_inventory(text)
    f = formulate(inv, _pack_for(name), questions=5)
    html = render_html(f, inv)
    assert html.startswith("<!DOCTYPE html>") and "not a diagnosis" in html
    # self-contained: nothing is fetched
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\(|\bsrc=", html)
    # safety advisories come before the circle
    assert html.index('id="advisories"') < html.index('id="circle"') < html.index('id="timeline"')
    assert "<details>" in html and html.index("<details>") < html.index('id="provenance"')

    circle = _svg(html, "circle-svg")
    persons = {g.attrib["data-person"]: g for g in _groups(circle, "data-person")}
    assert set(persons) == {p.id for p in inv.persons}
    for p in inv.persons:
        g = persons[p.id]
        assert g.attrib["data-ring"] == (p.ring or "unknown")
        shown = "".join(t.text or "" for t in g.iter(f"{SVG}text"))
        if p.ring is None:
            assert "ring unknown" in shown
    centres = [_centre(g) for g in persons.values()]
    for i, a in enumerate(centres):  # nothing overlapping: nodes at least a diameter apart
        for b in centres[i + 1 :]:
            assert math.dist(a, b) >= 2 * NODE_R, (a, b)
    for h, word in ((f.primary, "primary"), (f.secondary, "secondary")):
        if h is not None and h.focus.kind == "person":
            g = persons[h.focus.id or ""]
            assert g.attrib.get("data-focus") == word
            assert g.find(f"{SVG}circle[@class='halo']") is not None

    timeline = _svg(html, "timeline-svg")
    placed = {g.attrib["data-event"]: g for g in _groups(timeline, "data-event")}
    for e in inv.events:  # every event placed on the timeline, or listed apart
        assert e.id in placed or event_name(e) in html
    for h in (f.primary, f.secondary):
        if h is not None and h.focus.kind == "event" and h.focus.id in placed:
            assert "data-focus" in placed[h.focus.id].attrib
    ys = [float(g.find(f"{SVG}circle").attrib["cy"]) for g in placed.values()]  # type: ignore[union-attr]
    assert all(y > 0 for y in ys)


def test_report_is_deterministic() -> None:
    text = (EXAMPLES / "mixed-dispute-transition.json").read_text()
    assert report(text) == report(text)
    assert report(json.loads(text)) == report(text)


HOSTILE = "<script>alert('x')</script>&<b>"


def _hostile_inventory() -> dict[str, Any]:
    data = json.loads((EXAMPLES / "role-dispute.json").read_text())
    data["id"] = HOSTILE
    for p in data["persons"]:
        p["label"] = HOSTILE + p["id"]
        p.pop("ring", None) if p["id"] == data["persons"][-1]["id"] else None
    data["events"].append(
        {"id": "e-hostile", "kind": "other", "description": '"><svg onload=alert(1)>' + HOSTILE}
    )
    return data


def test_hostile_labels_are_escaped() -> None:
    html = report(_hostile_inventory())
    assert "<script" not in html and "onload=alert" not in html.replace("&lt;svg onload", "")
    assert HOSTILE not in html  # nowhere raw, in text or attributes
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&lt;b&gt;" in html
    assert "&lt;svg onload=alert(1)&gt;" in html
    # the SVG still parses as XML with the hostile text inside
    circle = _svg(html, "circle-svg")
    assert any(HOSTILE in (t.text or "") for t in circle.iter(f"{SVG}title"))


def test_cli_report_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipt_formulate",
            "report",
            str(EXAMPLES / "grief.json"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    html = out.read_text(encoding="utf-8")
    for part in ('id="circle-svg"', 'id="timeline-svg"', 'id="hypotheses"', "Mother (Rosa)"):
        assert part in html
    assert 'data-person="mother"' in html and 'data-focus="primary"' in html


# ------------------------------------------------------------------------ readable text
@pytest.mark.parametrize("name", NAMES)
def test_text_reads_plainly(name: str) -> None:
    pack = _pack_for(name) or default_pack()
    f = formulate((EXAMPLES / f"{name}.json").read_text(), pack, questions=5)
    text = f.to_text()
    cites = {f.source(c.source).text for r in f.rules for c in r.citations}
    for line in text.splitlines():
        if re.match(r"\[\d+\] |    ", line):  # a footnote: wrapped
            assert len(line) <= 100, line
            continue
        for c in cites:  # citations are footnotes, never repeated after evidence lines
            assert c[:50] not in line, line
    body = text.split("\nProvenance\n")[0]  # provenance lists option values verbatim
    for finding in pack.finding_labels:
        assert not re.search(rf"\b{finding}\b", body), finding
    assert "unknown months" not in text
    # each source once
    notes = re.findall(r"^\[(\d+)\] ", text, re.M)
    assert notes == [str(i) for i in range(1, len(notes) + 1)]
    summary = f.to_summary()
    assert 3 <= len(summary.splitlines()) <= 9
    assert "not a diagnosis" in summary


def test_month_level_dates_read_as_months() -> None:
    f = formulate((EXAMPLES / "role-transition.json").read_text())
    assert "about 3 months before onset, range 2 to 4" in f.to_text()
    assert timing_phrase((3.0, 3.0), None) == "3 months before onset"
    assert timing_phrase((-2.2, -1.0), None).startswith("about 1.5 months after onset")
    assert timing_phrase((-0.2, 0.2), None) == "around onset"
    assert timing_phrase(None, "months_before") == "in the months before onset"
    assert timing_phrase(None, None) == "timing unknown"


def test_cli_summary_format() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipt_formulate",
            "formulate",
            str(EXAMPLES / "safety-risk.json"),
            "--format",
            "summary",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("SAFETY (urgent)") and len(lines) <= 9
    assert any(ln.startswith("Primary: Role transition") for ln in lines)


def test_every_bundled_finding_has_a_label() -> None:
    for pack in (default_pack(), load_pack(RULES / "ipsrt")):
        asserted = {r.asserts.finding for r in pack.rules if r.asserts is not None}
        assert asserted <= set(pack.finding_labels)
