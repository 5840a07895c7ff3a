"""Batch runs: one output line per input line, in order, errors as records, resume, progress."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, open_fifo_writer, sigint_default
from ipt_formulate import IptFormulateError, RulePack, formulate
from ipt_formulate.audit import (
    BatchSummary,
    _batch,
    _jobs,
    _resume,
    batch_file,
    default_engine,
    formulate_many,
)
from ipt_formulate.audit._synth import synth_records

# Deliberately invalid lines and the error code each must produce.
INVALID: list[tuple[bytes, str]] = [
    (b"", "input.blank"),
    (b"   \t", "input.blank"),
    (b"{not json", "input.malformed"),
    (b"[1, 2, 3]", "input.malformed"),
    (b'"just a string"', "input.malformed"),
    (b"\xff\xfe{}", "input.malformed"),  # not UTF-8
    (b'{"episode": {}}', "inventory.missing_field"),
    (b'{"episode": {"assessment_date": "2026-01-01"}, "colour": "red"}', "inventory.unknown_field"),
    (
        b'{"episode": {"assessment_date": "2026-01-01"}, '
        b'"persons": [{"id": "patient", "role": "friend"}]}',
        "inventory.reserved_id",
    ),
    (b'{"episode": {"assessment_date": "2026-01-01"}, "persons": 3}', "inventory.wrong_type"),
]


def cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True, **kw
    )


def mixed_cohort(n_valid: int, seed: int = 3) -> tuple[list[bytes], dict[int, str]]:
    """Synthetic inventories with the invalid lines spread through; expected codes by line."""
    lines = [s.encode() for s in synth_records(n_valid, seed)]
    expected: dict[int, str] = {}
    step = max(1, len(lines) // (len(INVALID) + 1))
    for k, (raw, code) in enumerate(INVALID):
        pos = (k + 1) * step + k
        lines.insert(pos, raw)
        expected[pos + 1] = code
    return lines, expected


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    lines, expected = mixed_cohort(290)
    path = tmp_path_factory.mktemp("batch") / "cohort.jsonl"
    # CRLF on one line, no newline at the very end
    path.write_bytes(b"\n".join(lines[:5]) + b"\r\n" + b"\n".join(lines[5:]))
    assert len(lines) == 300
    return path, expected


def records(path: Path) -> list[dict[str, Any]]:
    """JSONL read strictly: records end with "\\n" and nothing else."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n")
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def check_output(out: Path, expected: dict[int, str], n: int) -> None:
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == n
    recs = records(out)
    assert [r["line"] for r in recs] == list(range(1, n + 1))
    for r in recs:
        if r["line"] in expected:
            assert set(r) == {"line", "error"}, r
            assert r["error"]["code"] == expected[r["line"]]
            assert r["error"]["message"]
        else:
            assert set(r) == {"line", "id", "formulation"}, r
            assert r["id"] == f"synth-3-{r['line'] - sum(k < r['line'] for k in expected):06d}"
            status = r["formulation"]["status"]
            assert (status == "established") == ("primary" in r["formulation"])


# ------------------------------------------------------------------ the file batch
def test_300_lines_with_invalid_ones_one_output_line_each(
    cohort: tuple[Path, dict[int, str]], tmp_path: Path, core_pack: RulePack
) -> None:
    path, expected = cohort
    out1, out2 = tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"
    s1 = batch_file(path, out1, core_pack, workers=1)
    s2 = batch_file(path, out2, core_pack, workers=2, chunksize=7)
    check_output(out1, expected, 300)
    assert out1.read_bytes() == out2.read_bytes()  # the same bytes, whatever the workers
    assert (s1.lines, s1.ok, s1.errors) == (300, 290, 10) == (s2.lines, s2.ok, s2.errors)
    assert s1.error_codes["input.blank"] == 2 and sum(s1.error_codes.values()) == 10
    # each formulation is exactly what formulate() gives for that line
    line = path.read_bytes().split(b"\n")[0]
    first = records(out1)[0]["formulation"]
    assert first == formulate(line.decode(), core_pack, engine=default_engine()).to_dict()
    assert first["provenance"]["engine"] == default_engine()


def test_cli_batch_matches_the_api(
    cohort: tuple[Path, dict[int, str]], tmp_path: Path, core_pack: RulePack
) -> None:
    path, _ = cohort
    res = cli("batch", str(path), "-o", str(tmp_path / "cli.jsonl"), "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # quiet when stderr is not a terminal
    batch_file(path, tmp_path / "api.jsonl", core_pack)
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "api.jsonl").read_bytes()
    # stdin to stdout
    res = cli("batch", "-", input=(EXAMPLES / "grief.json").read_text().replace("\n", " "))
    assert res.returncode == 0, res.stderr
    (rec,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert (
        rec["id"] == "grief"
        and rec["formulation"]["hypotheses"][rec["formulation"]["primary"] - 1]["area"] == "grief"
    )


def test_unicode_line_separators_stay_inside_their_record(tmp_path: Path) -> None:
    inv = json.loads((EXAMPLES / "grief.json").read_text())
    inv["id"] = "a\u2028b"
    inv["persons"][0]["label"] = "x\x85y\u2029z"
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(inv, ensure_ascii=False) + "\n\u2028\n", encoding="utf-8")
    batch_file(src, out)
    text = out.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2  # even str.splitlines() sees two records
    first, second = (json.loads(x) for x in text.splitlines())
    assert first["id"] == "a\u2028b"
    assert "x\x85y\u2029z" in json.dumps(first["formulation"], ensure_ascii=False)
    assert second["error"]["code"] == "input.blank"  # U+2028 alone is whitespace


def test_line_ends_and_blank_lines(tmp_path: Path) -> None:
    grief = json.dumps(json.loads((EXAMPLES / "grief.json").read_text()))
    for text, codes in [
        ("", []),
        ("\n", ["input.blank"]),
        (grief, [None]),
        (grief + "\n", [None]),
        (grief + "\n\n", [None, "input.blank"]),
        ("\n" + grief + "\r\n\r\n" + grief, ["input.blank", None, "input.blank", None]),
    ]:
        src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        src.write_text(text, encoding="utf-8", newline="")
        batch_file(src, out)
        got = [r.get("error", {}).get("code") for r in records(out)]
        assert got == codes, text


def test_resume_after_a_partial_write(
    cohort: tuple[Path, dict[int, str]], tmp_path: Path, core_pack: RulePack
) -> None:
    path, _ = cohort
    full = tmp_path / "full.jsonl"
    batch_file(path, full, core_pack)
    lines = full.read_bytes().splitlines(keepends=True)
    head = tmp_path / "head.jsonl"  # the run got 123 lines done ...
    head.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:123]))
    part = tmp_path / "part.jsonl"
    batch_file(head, part, core_pack)
    with part.open("ab") as fh:  # ... then was killed writing line 124
        fh.write(lines[123][:40])
    summary = batch_file(path, part, core_pack, resume=True, workers=2)
    assert summary.skipped == 123 and summary.lines == 300 - 123
    assert part.read_bytes() == full.read_bytes()
    # resuming a finished output does nothing; a missing output starts from scratch
    assert batch_file(path, part, core_pack, resume=True).lines == 0
    fresh = tmp_path / "fresh.jsonl"
    assert batch_file(path, fresh, core_pack, resume=True).lines == 300


def test_resume_refuses_an_unrelated_output(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n\n\n", encoding="utf-8")
    out.write_text('{"hello": 1}\n', encoding="utf-8")
    res = cli("batch", str(src), "-o", str(out), "--resume")
    assert res.returncode == 2 and "batch.resume_mismatch" in res.stderr


def test_interrupt_then_resume(tmp_path: Path, core_pack: RulePack) -> None:
    """The input is a FIFO that we keep open, so the run cannot finish before the signal: the
    interrupt half always checks something (exit 130, a --resume hint, a partial output)."""
    lines = [s.encode() for s in synth_records(400, 11)]
    src = tmp_path / "in.jsonl"
    os.mkfifo(src)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipt_formulate", "batch", str(src), "-o", str(out), "--chunksize=2"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    writer = open_fifo_writer(src)
    os.set_blocking(writer, True)
    os.write(writer, b"\n".join(lines[:100]) + b"\n")  # the rest never comes
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before the signal"
    proc.send_signal(signal.SIGINT)
    try:  # generous: on a loaded 2-core machine the shutdown of spawned workers is slow
        _, err = proc.communicate(timeout=180)
    finally:
        os.close(writer)
    done = out.read_bytes().count(b"\n")
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err, err
    assert 20 <= done <= 100
    src.unlink()  # the same path, now the whole input as a regular file
    src.write_bytes(b"\n".join(lines) + b"\n")
    res = cli("batch", str(src), "-o", str(out), "--resume", "--workers", "2")
    assert res.returncode == 0, res.stderr
    full = tmp_path / "full.jsonl"
    batch_file(src, full, core_pack)
    assert out.read_bytes() == full.read_bytes()


# ------------------------------------------------------------------ the Python API
def test_formulate_many_yields_one_result_per_input_in_order(core_pack: RulePack) -> None:
    grief = json.loads((EXAMPLES / "grief.json").read_text())
    inputs: list[Any] = [grief, "", "{oops", json.dumps(grief), b"\n", grief]
    for workers in (1, 2):
        results = list(formulate_many(inputs, core_pack, workers=workers, chunksize=1))
        assert [r.line for r in results] == [1, 2, 3, 4, 5, 6]
        assert [r.ok for r in results] == [True, False, False, True, False, True]
        assert [r.error["code"] for r in results if r.error] == [
            "input.blank",
            "input.malformed",
            "input.blank",
        ]
        assert results[0].formulation == formulate(grief, core_pack, engine=default_engine())
        assert results[0].id == "grief"
        assert results[1].to_dict()["error"]["code"] == "input.blank"


def test_formulate_many_is_lazy_and_bounded() -> None:
    pulled = 0

    def source() -> Iterator[str]:
        nonlocal pulled
        for s in synth_records(200, 5):
            pulled += 1
            yield s

    it = formulate_many(source(), workers=2, chunksize=4)
    first = next(it)
    assert first.ok
    # at most window (= 4 chunks per worker) chunks of 4 were read ahead
    assert pulled <= 2 * 4 * 4 + 4
    it.close()


def _crashing_job(state: Any, chunk: Any) -> Any:
    for _, raw in chunk:
        if b"CRASH" in raw:
            os._exit(3)  # a worker dying hard: no exception, no cleanup
    return _jobs._lines_job(state, chunk)


def test_a_crashing_worker_loses_only_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_jobs._JOBS, "lines", (_crashing_job, _jobs._lines_crash))
    lines = [s.encode() for s in synth_records(40, 2)]
    lines[17] = b'{"CRASH": 1}'
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    ctx = multiprocessing.get_context("fork")  # children inherit the patched job table
    summary = batch_file(src, out, workers=2, chunksize=4, mp_context=ctx)
    recs = records(out)
    assert [r["line"] for r in recs] == list(range(1, 41))
    assert [r["line"] for r in recs if "error" in r] == [18]
    assert recs[17]["error"]["code"] == "batch.worker_crashed"
    assert summary.error_codes == {"batch.worker_crashed": 1}


def test_progress_only_on_a_terminal(cohort: tuple[Path, dict[int, str]], tmp_path: Path) -> None:
    path, _ = cohort
    quiet = io.StringIO()
    batch_file(path, tmp_path / "a.jsonl", progress_stream=quiet)
    assert quiet.getvalue() == ""  # a StringIO is not a terminal

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    batch_file(path, tmp_path / "b.jsonl", progress_stream=tty)
    shown = tty.getvalue()
    assert "lines/s" in shown and "ETA" in shown and "100%" in shown and shown.endswith("\n")


def test_progress_rate_and_eta() -> None:
    bar = _batch.Progress(io.StringIO(), enabled=True, total_bytes=1000)
    bar.skipped(200)  # resumed: already done, not part of the rate
    bar.lines, bar.bytes = 50, 600
    text = bar.render(elapsed=10.0)
    assert text.startswith(" 60%") and "5 lines/s" in text and "ETA 00:10" in text
    assert "ETA" not in _batch.Progress(io.StringIO(), enabled=True, total_bytes=None).render(1)


def test_default_engine_follows_the_engine_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipt_formulate import engine

    if hasattr(engine, "DEFAULT_BATCH_ENGINE"):
        assert default_engine() == engine.DEFAULT_BATCH_ENGINE
    else:
        assert default_engine() == "experta"
    monkeypatch.setattr(engine, "DEFAULT_BATCH_ENGINE", "some-engine", raising=False)
    assert default_engine() == "some-engine"


def test_summary_describes_the_run() -> None:
    s = BatchSummary(lines=10, ok=8, errors=2, seconds=2.0)
    s.error_codes.update({"input.blank": 2})
    assert s.describe() == (
        "10 line(s): 8 formulated, 2 error(s) (input.blank 2) in 2.0 s (5 lines/s)"
    )


# ------------------------------------------------------------------ the acceptance run
def _run_slow(request: pytest.FixtureRequest) -> bool:
    flag = False
    with contextlib.suppress(ValueError):  # ValueError: the option is not registered
        flag = bool(request.config.getoption("--run-slow"))
    return flag or os.environ.get("IPT_RUN_SLOW") == "1"


@pytest.mark.slow
def test_10000_synthetic_inventories_with_invalid_lines(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not _run_slow(request):
        pytest.skip("slow: run with --run-slow or IPT_RUN_SLOW=1")
    cohort = tmp_path / "cohort.jsonl"
    res = cli("synth", "-n", "10000", "--seed", "3", "-o", str(cohort), "--workers", "2")
    assert res.returncode == 0, res.stderr
    lines = cohort.read_bytes().splitlines()
    expected: dict[int, str] = {}
    for k, (raw, code) in enumerate(INVALID):
        pos = (k + 1) * 900 + k
        lines.insert(pos, raw)
        expected[pos + 1] = code
    cohort.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    t0 = time.perf_counter()
    res = cli("batch", str(cohort), "-o", str(out), "--workers", "2")
    elapsed = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    check_output(out, expected, 10000 + len(INVALID))
    print(f"10,010-line batch, 2 workers: {elapsed:.1f} s")


# ------------------------------------------------------------------ Dask (optional extra)
def test_dask_batch_matches_the_local_batch(
    cohort: tuple[Path, dict[int, str]], tmp_path: Path, core_pack: RulePack
) -> None:
    pytest.importorskip("dask.bag")
    distributed = pytest.importorskip("distributed")
    import dask.bag as db

    from ipt_formulate.audit import batch_dask, formulate_bag

    path, expected = cohort
    local = tmp_path / "local.jsonl"
    batch_file(path, local, core_pack)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = tmp_path / "dask.jsonl"
        summary = batch_dask(path, out, core_pack, client=client, chunksize=8)
        assert summary.lines == 300 and summary.errors == len(expected)
        assert out.read_bytes() == local.read_bytes()
        # the command line, connecting to the scheduler's loopback address
        res = cli("batch", str(path), "-o", str(tmp_path / "cli.jsonl"), "--dask",
                  cluster.scheduler_address)  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "cli.jsonl").read_bytes() == local.read_bytes()
        # a bag of (line, inventory) pairs
        raw = path.read_bytes().split(b"\n")
        bag = db.from_sequence(list(enumerate(raw, start=1)), npartitions=4)
        recs = formulate_bag(bag, core_pack).compute(scheduler=client.get)
        assert recs == records(local)
        _dask_reads_ahead_a_bounded_number_of_lines(client, core_pack)


def _dask_reads_ahead_a_bounded_number_of_lines(client: Any, pack: RulePack) -> None:
    """Chunks in flight: 4 per worker thread for small chunks, 2 for large ones (so a large
    default chunk does not multiply what the caller holds)."""
    from ipt_formulate.audit._dask import dask_ordered_map
    from ipt_formulate.audit._jobs import state_of

    lines = [s.encode() for s in synth_records(600, 6)]
    for chunksize, per_thread in ((16, 4), (64, 2)):
        pulled = 0

        def source() -> Iterator[tuple[int, bytes]]:
            nonlocal pulled
            for n, raw in enumerate(lines, start=1):
                pulled += 1
                yield n, raw

        state = state_of(pack, None, False, "full")
        it = dask_ordered_map("lines", source(), state, client, chunksize=chunksize)
        chunk, results = next(it)
        assert len(chunk) == len(results) == chunksize
        assert pulled <= (2 * per_thread + 1) * chunksize  # 2 threads; one chunk being read
        it.close()


# ------------------------------------------------------------------ data integrity (issue 11)
def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    return path


def test_resume_refuses_another_input_pack_or_engine(tmp_path: Path, core_pack: RulePack) -> None:
    a = [s.encode() for s in synth_records(8, 21)]
    b = [s.encode() for s in synth_records(8, 22)]
    src_a, src_b = _write_lines(tmp_path / "a.jsonl", a), _write_lines(tmp_path / "b.jsonl", b)
    out = tmp_path / "out.jsonl"
    batch_file(_write_lines(tmp_path / "a3.jsonl", a[:3]), out, core_pack)  # 3 lines of A done
    before = out.read_bytes()
    # the cohort of the issue: the first lines of an output, without its resume record
    p3 = tmp_path / "p3.jsonl"
    p3.write_bytes(before)
    res = cli("batch", str(src_b), "-o", str(p3), "--resume")
    assert res.returncode == 2 and "batch.resume_mismatch" in res.stderr, res.stderr
    assert "resume record" in res.stderr and p3.read_bytes() == before
    for src, kw in (
        (src_b, {}),  # another input
        (src_a, {"pack": core_pack.with_options(grief_scope="broad_loss")}),  # other options
        (src_a, {"engine": "experta"}),
        (src_a, {"trace": True}),
        (src_a, {"detail": "brief"}),  # another output level
    ):
        assert _refused(src, out, **{"pack": core_pack, **kw}) == "batch.resume_mismatch", kw
        assert out.read_bytes() == before, kw
    # the same input, pack and engine continue, to the bytes of a fresh run
    assert batch_file(src_a, out, core_pack, resume=True).skipped == 3
    assert out.read_bytes() == batch_file_bytes(src_a, tmp_path / "fresh.jsonl", core_pack)


def test_resume_refuses_an_output_of_another_schema(tmp_path: Path, core_pack: RulePack) -> None:
    """An output written before schema 3 (its resume record has no schema) is not continued
    in schema 3: one file would hold two formats."""
    lines = [s.encode() for s in synth_records(6, 25)]
    src = _write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    batch_file(_write_lines(tmp_path / "in3.jsonl", lines[:3]), out, core_pack)
    record = tmp_path / "out.jsonl.resume.json"
    rec = json.loads(record.read_text(encoding="utf-8"))
    assert rec.pop("schema") == "3"
    record.write_text(json.dumps(rec), encoding="utf-8")
    before = out.read_bytes()
    res = cli("batch", str(src), "-o", str(out), "--resume")
    assert res.returncode == 2 and "batch.resume_mismatch" in res.stderr, res.stderr
    assert "schema '2 or earlier' (now '3')" in res.stderr and out.read_bytes() == before


def batch_file_bytes(src: Path, out: Path, pack: RulePack) -> bytes:
    batch_file(src, out, pack)
    return out.read_bytes()


def test_resume_refuses_a_longer_or_corrupted_output(tmp_path: Path, core_pack: RulePack) -> None:
    lines = [s.encode() for s in synth_records(10, 23)]
    src = _write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    batch_file(src, out, core_pack)
    good = out.read_bytes()
    short = _write_lines(tmp_path / "short.jsonl", lines[:5])  # same first lines, fewer of them
    res = cli("batch", str(short), "-o", str(out), "--resume")
    assert res.returncode == 2 and "batch.resume_mismatch" in res.stderr, res.stderr
    assert "only 5 lines" in res.stderr and out.read_bytes() == good
    recs = good.split(b"\n")
    for bad, code in (
        (b"\n".join([*recs[:3], recs[3].replace(b'"line":4', b'"line":7'), *recs[4:]]),
         "batch.resume_corrupt"),
        (good.replace(b"tentative", b"tentativE", 1), "batch.resume_corrupt"),  # one byte
        (good[: len(good) // 2], "batch.resume_corrupt"),  # truncated in the middle
        (good + b'{"line":11,"id":"x","formulation":{}}\n', "batch.resume_mismatch"),  # 11 > 10
        (good + b"garbage", "batch.resume_corrupt"),
    ):  # fmt: skip
        out.write_bytes(bad)
        assert _refused(src, out, pack=core_pack) == code
        assert out.read_bytes() == bad  # refused: nothing changed
    out.write_bytes(good + recs[0][:25])  # not a piece of record 11: refused
    assert _refused(src, out, pack=core_pack) == "batch.resume_corrupt"
    out.write_bytes(good + b'{"line":1')  # provably torn: cut and redone
    assert batch_file(src, out, core_pack, resume=True).lines == 0
    assert out.read_bytes() == good


def _refused(src: Path, out: Path, **kw: Any) -> str:
    with pytest.raises(IptFormulateError) as info:
        batch_file(src, out, resume=True, **kw)
    return info.value.code


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "stdin"])
def test_output_onto_the_input_is_refused(how: str, tmp_path: Path) -> None:
    src = _write_lines(tmp_path / "x.jsonl", [s.encode() for s in synth_records(4, 24)])
    before = src.read_bytes()
    out = src
    if how == "symlink":
        out = tmp_path / "link.jsonl"
        out.symlink_to(src)
    elif how == "hardlink":
        out = tmp_path / "hard.jsonl"
        os.link(src, out)
    if how == "stdin":
        with src.open("rb") as fh:
            res = subprocess.run(
                [sys.executable, "-m", "ipt_formulate", "batch", "-", "-o", str(src)],
                stdin=fh, capture_output=True, text=True,
            )  # fmt: skip
    else:
        res = cli("batch", str(src), "-o", str(out))
    assert res.returncode == 2 and "batch.same_file" in res.stderr, res.stderr
    assert src.read_bytes() == before
    assert not (tmp_path / ("x.jsonl" + _resume.RECORD_SUFFIX)).exists()


def test_a_locked_output_is_refused_at_once(tmp_path: Path) -> None:
    import fcntl

    src = _write_lines(tmp_path / "in.jsonl", [s.encode() for s in synth_records(4, 25)])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"held by another run\n")
    with out.open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        for extra in ([], ["--resume"]):
            t0 = time.monotonic()
            res = cli("batch", str(src), "-o", str(out), *extra)
            assert res.returncode == 2 and "batch.locked" in res.stderr, res.stderr
            assert time.monotonic() - t0 < 30  # fails fast: never waits for the lock
            assert out.read_bytes() == b"held by another run\n"  # not truncated


def _wait_for_lines(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"the batch run did not write {n} lines (exit {proc.poll()})")


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            kids |= {int(x) for x in (task / "children").read_text().split()}
    return kids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_with_the_parent(sig: int, tmp_path: Path, core_pack: RulePack) -> None:
    lines = [s.encode() for s in synth_records(400, 27)]
    src = _write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipt_formulate", "batch", str(src), "-o", str(out),
         "--workers=2", "--chunksize=1"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for_lines(out, 4, proc)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(w) for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if _running(w)], "workers outlived their parent"
    if sig == signal.SIGTERM:  # like Ctrl-C: a clean stop with a resume hint
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "--resume" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    summary = batch_file(src, out, core_pack, resume=True)  # what was written is resumable
    assert summary.skipped + summary.lines == 400
    assert out.read_bytes() == batch_file_bytes(src, tmp_path / "full.jsonl", core_pack)


def _crash_after_marker(state: Any, chunk: Any) -> Any:
    for _, raw in chunk:
        if b"CRASH" in raw:
            Path(raw.decode().split("CRASH ")[1]).write_text("dying")
            os._exit(3)
    return _jobs._lines_job(state, chunk)


def test_a_worker_dying_before_its_chunk_is_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, core_pack: RulePack
) -> None:
    """The pool breaks while the caller holds a finished chunk: the next submit meets a
    broken pool (BrokenProcessPool from submit, not only from result)."""
    monkeypatch.setitem(_jobs._JOBS, "lines", (_crash_after_marker, _jobs._lines_crash))
    marker = tmp_path / "marker"
    good = [s.encode() for s in synth_records(6, 28)]
    items = list(enumerate([good[0], b"CRASH " + str(marker).encode(), *good[1:]], start=1))
    state = _jobs.state_of(core_pack, None)
    ctx = multiprocessing.get_context("fork")
    it = _batch.ordered_map(
        "lines", iter(items), state, workers=2, chunksize=1, window=2, mp_context=ctx
    )
    first_chunk, first = next(it)  # chunk 1 done; chunk 2 (the crash) in flight
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # the pool notices the dead worker and marks itself broken
    rest = list(it)  # the next top_up submits to the broken pool
    got = [first_chunk[0][0]] + [chunk[0][0] for chunk, _ in rest]
    assert got == list(range(1, 8))
    codes = [code for _, results in [(first_chunk, first), *rest] for _, code in results]
    assert codes == [None, "batch.worker_crashed", None, None, None, None, None]


def _dask_process(*args: str) -> subprocess.Popen[str]:
    code = "import sys; from distributed.cli.dask_{} import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code.format(args[0]), *args[1:]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_losing_the_dask_scheduler_fails_and_stays_resumable(
    tmp_path: Path, core_pack: RulePack, request: pytest.FixtureRequest
) -> None:
    """A real scheduler process on loopback, killed mid-run: exit 2 (batch.dask_lost), no
    hang, and the lines written so far resume to the bytes of a local run. Slow (~40 s here:
    three processes, 3,000 lines)."""
    if not _run_slow(request):
        pytest.skip("slow: run with --run-slow or IPT_RUN_SLOW=1")
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    src = _write_lines(tmp_path / "in.jsonl", [s.encode() for s in synth_records(3000, 29)])
    out = tmp_path / "out.jsonl"
    scheduler = _dask_process("scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard")  # fmt: skip
    worker = _dask_process("worker", address, "--nthreads", "1", "--no-nanny",
                           "--no-dashboard")  # fmt: skip
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "ipt_formulate", "batch", str(src), "-o", str(out),
             "--dask", address, "--chunksize=4"],
            stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        _wait_for_lines(out, 20, run, timeout=120)
        scheduler.kill()
        t0 = time.monotonic()
        _, err = run.communicate(timeout=120)
        print(f"batch gave up {time.monotonic() - t0:.1f} s after the scheduler died")
        assert run.returncode == 2 and "batch.dask_lost" in err, err
        assert "Traceback" not in err and err.count("\n") == 1, err
    finally:
        for proc in (scheduler, worker):
            proc.kill()
            proc.wait(timeout=30)
    done = batch_file(src, out, core_pack, resume=True)
    assert done.skipped + done.lines == 3000
    assert out.read_bytes() == batch_file_bytes(src, tmp_path / "local.jsonl", core_pack)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_parent_is_dead_while_still_a_zombie() -> None:
    """A worker that starts just as the batch is killed checks whether its parent is alive:
    a killed process lingers as a zombie (until reaped) and still answers kill(pid, 0). This
    made test_workers_exit_with_the_parent[SIGKILL] hang once in CI."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _jobs._alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not _jobs._alive(child.pid)  # a zombie, not yet reaped: dead all the same
    finally:
        child.wait()
