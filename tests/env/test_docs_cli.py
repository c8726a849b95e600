"""`python -m env.docs generate|check` and `read_docs`: the files written, bad input exiting 2 before
anything is written, and the endpoint generator against the scripted server (tests/reward/judge_server.py),
with failures counted and never written."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from env.docs.cli import main, report_path
from env.docs.doc import DocsFileError, read_docs
from env.docs.facts import load_facts
from tests.env.docs_responder import prompt_of, respond
from tests.reward.judge_server import JudgeServer

ROOT = Path(__file__).resolve().parents[2]


def _endpoint_args(base_url: str, out: Path, *extra: str) -> list[str]:
    return ["generate", "--out", str(out), "--generator", "endpoint", "--base-url", base_url, "--model", "gen",
            "--api-key-env", "", "--max-retries", "1", "--backoff-s", "0", "--probe-timeout-s", "2", *extra]


def test_offline_generate_writes_documents_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs.jsonl"
    assert main(["generate", "--out", str(out), "--n", "200", "--facts", "no_situation_v1", "--seed", "4"]) == 0
    docs = read_docs(out)
    report = json.loads(report_path(out).read_text())
    assert report_path(out) == tmp_path / "docs.report.json"
    assert len(docs) == report["kept"] and report["generated"] == 200 and report["generator"] == "offline:v1"
    assert report["facts"]["fingerprint"] == load_facts("no_situation_v1").fingerprint
    assert set(report["dropped"]) == {"harmful", "contradiction", "off_file_fact", "no_fact", "near_duplicate"}
    assert {f for d in docs for f in d.facts} == {"free_tier_limits", "paid_tier_features"}
    assert docs[0].provenance.seed == 4 and docs[0].provenance.facts_name == "no_situation_v1"
    printed = capsys.readouterr().out
    assert f"generated 200, kept {len(docs)}" in printed and "docs/s" in printed
    assert main(["check", str(out)]) == 0 and f"{len(docs)} documents" in capsys.readouterr().out


def test_existing_out_is_kept_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs.jsonl"
    out.write_text("precious\n")
    assert main(["generate", "--out", str(out), "--n", "5"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_text() == "precious\n"
    assert main(["generate", "--out", str(out), "--n", "5", "--force"]) == 0 and len(read_docs(out)) == 5


def test_bad_facts_exit_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "f.yaml"
    facts.write_text((ROOT / "env/docs/facts/no_situation_v1.yaml").read_text() + "extra_key: 1\n")
    out = tmp_path / "docs.jsonl"
    assert main(["generate", "--out", str(out), "--facts", str(facts)]) == 2
    assert f"facts file {facts}:" in capsys.readouterr().err
    assert main(["generate", "--out", str(out), "--facts", "nonexistent_v9"]) == 2
    assert "nonexistent_v9.yaml: no such file" in capsys.readouterr().err
    assert not out.exists() and not report_path(out).exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"", "{path}:1: no documents (the file is empty)"),
    (b"\n  \n", "{path}:1: no documents"),
    (b'{"id": "a", "text": "t", "type": "faq"}\n{"id": "b", "text": "t"\n', "{path}:2: not JSON"),
    (b'{"id": "a", "text": "t", "type": "faq"}\n\n["a"]\n', "{path}:3: a document must be a JSON object, not list"),
    (b'{"id": "a", "type": "faq"}\n', "{path}:1: not a document (text: Field required)"),
    (b'{"id": "a", "text": "", "type": "faq"}\n', "{path}:1: not a document (text: String should have at least"),
    (b'{"id": "a", "text": "t", "type": "faq"}\n{"id": "a", "text": "u", "type": "faq"}\n',
     "{path}:2: id 'a' repeats line 1"),
    (b'{"id": "a", "text": "caf\xe9", "type": "faq"}\n', "{path}:1: not UTF-8 (byte 0xe9)"),
])
def test_read_docs_names_file_and_line(tmp_path: Path, content: bytes, message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(DocsFileError) as info:
        read_docs(path)
    expected = message.format(path=f"documents file {path}")
    assert str(info.value).startswith(expected) and isinstance(info.value, ValueError)
    assert main(["check", str(path)]) == 2 and expected in capsys.readouterr().err


def test_read_docs_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocsFileError, match=r"documents file .*nope\.jsonl: cannot read \(No such file"):
        read_docs(tmp_path / "nope.jsonl")


def test_endpoint_generation_counts_failures_and_never_writes_them(tmp_path: Path) -> None:
    """Documents for ideas ending in 3 always get HTTP 500 (retries exhausted: failed); ideas ending in 5
    get one answer not in the format first (retried, then written)."""
    bad_once: set[str] = set()

    def faults(req: dict) -> str | None:
        prompt = prompt_of(req)
        if "<idea>" not in prompt:
            return None
        idea = prompt.split("<idea>\n", 1)[1].split("\n", 1)[0]
        if idea.endswith("3 written for a general audience"):
            return "http500"
        if idea.endswith("5 written for a general audience") and idea not in bad_once:
            bad_once.add(idea)
            return "bad_answer"
        return None

    out = tmp_path / "docs.jsonl"
    with JudgeServer(respond, faults=faults) as srv:
        assert main(_endpoint_args(srv.base_url, out, "--n", "80", "--no-cache")) == 0
    report = json.loads(report_path(out).read_text())
    docs = read_docs(out)
    failed = report["endpoint"]["failed"]["documents"]
    assert failed == 8 and report["endpoint"]["failed"]["ideas"] == 0  # one idea in ten ends in 3
    assert report["generated"] == 80 - failed and len(docs) == report["kept"]
    assert not any(d.provenance.idea.endswith("3 written for a general audience") for d in docs)
    assert sum(d.provenance.idea.endswith("5 written for a general audience") for d in docs) >= 6
    assert all(d.provenance.generator == f"endpoint:{srv.base_url}:gen" for d in docs)
    assert report["endpoint"]["failure_example"].startswith("generator request to ")


def test_endpoint_answers_are_cached(tmp_path: Path) -> None:
    with JudgeServer(respond) as srv:
        args = _endpoint_args(srv.base_url, tmp_path / "a.jsonl", "--n", "16", "--cache-dir", str(tmp_path / "cache"))
        assert main(args) == 0
        first = len(srv.requests)
        srv.reset()
        assert main([*args[:2], str(tmp_path / "b.jsonl"), *args[3:]]) == 0
        assert len(srv.requests) == 1 < first  # only the probe
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_or_refusing_endpoint_exits_2_before_writing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs.jsonl"
    url = f"http://127.0.0.1:{_free_port()}/v1"
    assert main(_endpoint_args(url, out)) == 2
    err = capsys.readouterr().err
    assert f"--base-url {url} (model gen): the endpoint failed the probe: connection refused" in err
    with JudgeServer(respond, faults=lambda req: "http401") as srv:
        assert main(_endpoint_args(srv.base_url, out)) == 2
    assert "HTTP 401 Unauthorized" in capsys.readouterr().err
    assert main(["generate", "--out", str(out), "--generator", "endpoint"]) == 2
    assert "needs --base-url and --model" in capsys.readouterr().err
    assert not out.exists() and not report_path(out).exists()


def test_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    proc = subprocess.run([sys.executable, "-m", "env.docs", "generate", "--out", str(out), "--n", "30"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "generated 30, kept 30" in proc.stdout and len(read_docs(out)) == 30
