"""The CDS Hooks service, against a real `ipt-formulate serve` on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ipt_formulate as ipt
from ipt_formulate.fhir import cards_for, inventory_to_questionnaire_response

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
SERVICE = "/cds-services/ipt-formulation"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ipt_formulate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/cds-services", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"server did not start: {err}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _request(
    inventory_text: str, instance: str = "d1577c69-0000-4000-8000-000000000001"
) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": instance,
        "context": {"patientId": "123", "userId": "Practitioner/1"},
        "prefetch": {"inventory": inventory_to_questionnaire_response(inventory_text)},
    }


def _expected(inventory_text: str, instance: str) -> list[dict[str, Any]]:
    return cards_for(ipt.formulate(inventory_text), instance)


def test_discovery(base_url: str) -> None:
    r = httpx.get(f"{base_url}/cds-services")
    assert r.status_code == 200
    (svc,) = r.json()["services"]
    assert svc["id"] == "ipt-formulation" and svc["hook"] == "patient-view"
    assert "inventory" in svc["prefetch"]


def test_grief(base_url: str) -> None:
    text = (ROOT / "examples" / "grief.json").read_text()
    body = _request(text)
    r = httpx.post(f"{base_url}{SERVICE}", json=body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert cards == _expected(text, body["hookInstance"])
    assert [c["indicator"] for c in cards] == ["info"]
    assert "Grief" in cards[0]["summary"] and len(cards[0]["summary"]) < 140
    assert (
        cards[0]["source"]["label"]
        == f"ipt-formulate rule pack ipt-core {ipt.default_pack().version}"
    )


def test_search_bundle_prefetch(base_url: str) -> None:
    text = (ROOT / "examples" / "role-dispute.json").read_text()
    body = _request(text)
    qr = body["prefetch"]["inventory"]
    body["prefetch"]["inventory"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": qr}],
    }
    r = httpx.post(f"{base_url}{SERVICE}", json=body)
    assert r.status_code == 200 and "Role dispute" in r.json()["cards"][-1]["summary"]


def test_safety_cards_first(base_url: str) -> None:
    text = (ROOT / "examples" / "safety-risk.json").read_text()
    r = httpx.post(f"{base_url}{SERVICE}", json=_request(text))
    indicators = [c["indicator"] for c in r.json()["cards"]]
    assert indicators == ["critical", "critical", "critical", "info"]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "request.malformed_json"),
        (b"[]", 400, "cds.bad_request"),
        (b'{"hook": "patient-view"}', 400, "cds.bad_request"),
        (
            b'{"hook": "patient-view", "hookInstance": "x", "prefetch": {}}',
            412,
            "cds.prefetch_missing",
        ),
        (
            b'{"hook": "patient-view", "hookInstance": "x", "prefetch": {"inventory": '
            b'{"resourceType": "QuestionnaireResponse", "item": [{"linkId": "nope"}]}}}',
            400,
            "fhir.unknown_link_id",
        ),
    ],
)
def test_bad_payloads(base_url: str, content: bytes, status: int, code: str) -> None:
    r = httpx.post(f"{base_url}{SERVICE}", content=content)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["path"].startswith("$")
    assert "Traceback" not in r.text


def test_invalid_inventory_names_link_path(base_url: str) -> None:
    body = _request((ROOT / "examples" / "grief.json").read_text())
    persons = [i for i in body["prefetch"]["inventory"]["item"] if i["linkId"] == "persons"]
    persons[1]["item"][0]["answer"] = [{"valueString": "bad id!"}]
    r = httpx.post(f"{base_url}{SERVICE}", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert "persons[1]/persons.id" in err["path"] and "$.persons[1].id" in err["path"]
    assert err["issues"][0]["link_path"] == "persons[1]/persons.id"


def test_ten_megabyte_body(base_url: str) -> None:
    r = httpx.post(f"{base_url}{SERVICE}", content=b" " * 10_000_000, timeout=30)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request.too_large"
    # and the server still answers
    assert httpx.get(f"{base_url}/cds-services").status_code == 200


def test_two_hundred_concurrent_requests(base_url: str) -> None:
    texts = [p.read_text() for p in EXAMPLES]
    bodies = [_request(texts[i % len(texts)], f"instance-{i}") for i in range(200)]
    expected = [_expected(texts[i % len(texts)], f"instance-{i}") for i in range(200)]

    async def run() -> list[Any]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(client.post(SERVICE, json=b) for b in bodies))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 200
    assert [r.json()["cards"] for r in responses] == expected


def test_documented_curl_request_matches(base_url: str) -> None:
    """docs/integration.md's request file answers as documented."""
    body = json.loads((ROOT / "docs" / "fhir" / "hook-request.json").read_text())
    r = httpx.post(f"{base_url}{SERVICE}", json=body)
    documented = json.loads((ROOT / "docs" / "fhir" / "hook-response.json").read_text())
    assert r.json() == documented
