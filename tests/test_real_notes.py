"""Opt-in: every shipped note is `ok` on the pinned engines, and an older KsanaLLM only drifts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codewalk.cli import main

pytestmark = pytest.mark.real


def _env(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (point it at a checkout to run this test)")
    return Path(value)


def _check(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    status = main(["check", "--json", *args])
    return status, json.loads(capsys.readouterr().out)


def test_every_note_ok_on_pinned_engines(capsys: pytest.CaptureFixture) -> None:
    ksana, vllm = _env("CODEWALK_KSANALLM"), _env("CODEWALK_VLLM")
    status, report = _check(capsys, "--source", f"ksanallm={ksana}", "--source", f"vllm={vllm}")
    bad = [(n["id"], n["status"], n["detail"]) for n in report["notes"]
           if n["source"] in ("ksanallm", "vllm") and n["status"] != "ok"]
    assert report["errors"] == [] and bad == []
    counts = report["summary"]
    assert counts["ksanallm"]["ok"] >= 40 and counts["vllm"]["ok"] >= 14


def test_older_ksanallm_reports_drift_not_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ksana = _env("CODEWALK_KSANALLM")
    old = tmp_path / "ksanallm-fe4d6dd0"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(ksana), str(old)], check=True)
    subprocess.run(["git", "-C", str(old), "checkout", "-q", "fe4d6dd0"], check=True)
    status, report = _check(capsys, "--source", f"ksanallm={old}")
    statuses = {n["status"] for n in report["notes"] if n["source"] == "ksanallm"}
    assert status == 1 and "missing" in statuses and "drifted" in statuses
    drifted = next(n for n in report["notes"] if n["status"] == "drifted")
    assert drifted["detail"].startswith("fingerprint changed")
