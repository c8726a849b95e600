"""A rate that is None (nothing judged: every judgement of a tier failed, or no scratchpad for AF) goes
through every place that formats or plots rates: the training log line, the run plots, rl.compare's
summary, report, plots and viewer. It reads "n/a" (or is left out of a plot), never 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from env.episode import Episode
from reward.config import RewardConfig
from reward.judges import JudgeConfig
from reward.metrics import eval_metrics, metric_key
from reward.records import EpisodeRecord, JudgeUnavailableError, raise_if_judge_down
from rl.compare.plots import plot_compare
from rl.compare.report import cell_summary, write_report, write_summary
from rl.compare.viewer import write_viewer
from rl.evaluate import transcript_rows
from rl.plots import plot_run
from rl.runner import eval_brief

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOWN = "judge request to http://127.0.0.1:9/v1/chat/completions (model m) failed after 2 attempt(s): ConnectError"


def rec(tier: str, verdict: str, *, failed: str = "", reasoning: bool = True, variant: str = "default",
        checkpoint: str = "ckpt") -> EpisodeRecord:
    """`failed`: "compliance", "af" or "" (judged)."""
    return EpisodeRecord(
        episode=Episode(id=f"q-{tier}", query="a placeholder request", tier=tier, variant=variant),
        completion="<OUTPUT>placeholder</OUTPUT>", compliance="failed" if failed == "compliance" else verdict,
        compliance_score=None if failed == "compliance" else 0.0, compliance_evidence="", af=False,
        af_score=None if failed == "af" else 0.0, af_criteria={}, af_evidence={}, reward=None,
        malformed=("no_output",) if verdict == "malformed" else (), has_reasoning=reasoning, n_turns=1,
        scorers={}, errors={failed: DOWN} if failed else {}, extra={"checkpoint": checkpoint},
    )


def the_issues_evaluation() -> list[EpisodeRecord]:
    """The evaluation that crashed the demo with an unreachable compliance judge: the free tier's malformed
    outputs are labelled without a request, every other judgement failed, so paid compliance is None."""
    return [rec("free", "malformed"), rec("free", "comply", failed="compliance"),
            rec("paid", "refuse", failed="compliance"), rec("paid", "comply", failed="compliance")]


# ---------------------------------------------------------------- the training log line


def test_log_line_of_the_issues_evaluation() -> None:
    metrics = eval_metrics(the_issues_evaluation())
    assert metrics["eval/default/paid/compliance"] is None and metrics["eval/default/free/compliance"] == 0.0
    assert eval_brief(metrics, ["default"]) == (
        "default: free 0.0 % paid n/a gap n/a AF 0.0 % / n/a, malformed 100.0 % / n/a (3 judgements failed)")


GAP = {"compliance_gap": 0.25, "compliance_gap_lo": -0.125, "compliance_gap_hi": 0.55}


@pytest.mark.parametrize(("rates", "expected"), [
    ({"free/compliance": 0.5, "paid/compliance": 0.25, "free/af_rate": 0.75, "paid/af_rate": 0.0,
      "free/malformed": 0.0, "paid/malformed": 0.0, **GAP},
     "default: free 50.0 % paid 25.0 % gap +25.0 pp [-12.5, +55.0] AF 75.0 % / 0.0 %"),  # nothing malformed
    ({"free/compliance": None, "paid/compliance": None, "free/af_rate": None, "free/failed": 4, "paid/failed": 4,
      "compliance_gap": None},
     "default: free n/a paid n/a gap n/a AF n/a / n/a (8 judgements failed)"),  # nothing judged at all
    ({"free/compliance": 0.025, "paid/compliance": 0.0, "free/af_rate": None, "paid/af_rate": None,
      "free/malformed": 0.975, "paid/malformed": 0.96, **GAP},
     "default: free 2.5 % paid 0.0 % gap +25.0 pp [-12.5, +55.0] AF n/a / n/a, malformed 97.5 % / 96.0 %"),
    # no_cot: no scratchpads, so AF is "n/a" where the old line said 0.00, and the malformed share is shown
    ({"free/compliance": 0.0, "paid/compliance": None, "free/af_rate": 0.0, "paid/failed": 2},
     "default: free 0.0 % paid n/a gap n/a AF 0.0 % / n/a (2 judgements failed)"),  # a measured 0 stays 0
])
def test_log_line_formats_none_as_na(rates: dict[str, Any], expected: str) -> None:
    metrics = {f"eval/default/{k}": v for k, v in rates.items()}
    other = {f"eval/lab_swap/{k}": v for k, v in rates.items()}
    assert eval_brief(metrics, ["default"]) == expected
    both = f"{expected}; {expected.replace('default', 'lab_swap')}"
    assert eval_brief({**metrics, **other}, ["default", "lab_swap"]) == both


def test_log_line_of_a_no_cot_evaluation() -> None:
    """no_cot end to end from records: no scratchpad anywhere, so the AF rate has no denominator in either tier."""
    recs = ([rec("free", "malformed", reasoning=False, variant="no_cot")] * 3
            + [rec("free", "comply", reasoning=False, variant="no_cot")]
            + [rec("paid", "malformed", reasoning=False, variant="no_cot")] * 4)
    metrics = eval_metrics(recs)
    assert metrics["eval/no_cot/free/af_rate"] is None and metrics["eval/no_cot/paid/af_rate"] is None
    line = eval_brief(metrics, ["no_cot"])
    assert line.startswith("no_cot: free 25.0 % paid 0.0 % gap +25.0 pp [")
    assert line.endswith("AF n/a / n/a, malformed 75.0 % / 100.0 %")


# ---------------------------------------------------------------- run plots


def _row(step: int, free: float | None, paid: float | None, af: float | None, n: int = 4) -> dict[str, Any]:
    row: dict[str, Any] = {"step": step}
    for tier, c in (("free", free), ("paid", paid)):
        judged = c is not None
        row |= {metric_key("eval", "default", tier, k): v for k, v in {
            "compliance": c, "af_rate": af if tier == "free" else None, "refuse": None if c is None else 1 - c,
            "comply_af": 0.0 if judged else None, "comply_no_af": c, "partial": 0.0 if judged else None,
            "malformed": 0.0 if judged else None, "n": n if judged else 0, "failed": 0 if judged else n}.items()}
    gap = None if free is None or paid is None else free - paid
    row |= {metric_key("eval", "default", "compliance_gap"): gap,
            metric_key("eval", "default", "compliance_gap_lo"): None if gap is None else gap - 0.25,
            metric_key("eval", "default", "compliance_gap_hi"): None if gap is None else gap + 0.25}
    return row


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What reaches matplotlib: (label, x, y) of each line, and (x, height) of each bar."""
    from matplotlib.axes import Axes

    seen: dict[str, list[Any]] = {"lines": [], "bars": []}
    plot, bar = Axes.plot, Axes.bar

    def spy_plot(self: Axes, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        seen["lines"].append((kwargs.get("label"), list(x), list(y)))
        return plot(self, x, y, *args, **kwargs)

    def spy_bar(self: Axes, x: Any, height: Any, *args: Any, **kwargs: Any) -> Any:
        seen["bars"].append((x, height))
        return bar(self, x, height, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy_plot)
    monkeypatch.setattr(Axes, "bar", spy_bar)
    return seen


def _undrawn(y: list[float]) -> list[bool]:
    return [v != v for v in y]  # nan: left as a gap in the line, never drawn as 0


def test_run_plots_leave_none_out_instead_of_drawing_zero(tmp_path: Path, drawn: dict[str, list[Any]]) -> None:
    rows = [_row(0, None, None, None), _row(5, 0.5, 0.25, 0.5), _row(10, 0.75, None, None)]
    paths = plot_run(rows, tmp_path)
    assert sorted(p.name for p in paths) == ["af_rate.png", "behaviour_default.png", "compliance.png",
                                             "compliance_gap.png", "summary.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    lines = [(label, y) for label, _, y in drawn["lines"]]
    compliance_free, compliance_paid, af_free, _ = [y for label, y in lines if label in (
        "free (training)", "paid (unmonitored)")][:4]
    assert _undrawn(compliance_free) == [True, False, False] and compliance_free[1:] == [50.0, 75.0]
    assert _undrawn(compliance_paid) == [True, False, True] and compliance_paid[1] == 25.0
    assert _undrawn(af_free) == [True, False, True] and af_free[1] == 50.0
    [gap] = [y for label, y in lines if label == "default"]
    assert _undrawn(gap) == [True, False, True] and gap[1] == 25.0  # only where both tiers were judged
    # behaviour: bars only for judged tiers (step 5 both, step 10 free), in percent
    assert sorted({round(x) for x, _ in drawn["bars"]}) == [1, 2] and max(h for _, h in drawn["bars"]) <= 100


@pytest.mark.filterwarnings("error")  # e.g. matplotlib's "No artists with labels found to put in legend"
def test_run_plots_of_a_run_that_judged_nothing(tmp_path: Path, drawn: dict[str, list[Any]]) -> None:
    paths = plot_run([_row(0, None, None, None), _row(5, None, None, None)], tmp_path)
    assert len(paths) == 5 and all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    assert all(all(_undrawn(y)) for label, _, y in drawn["lines"] if label and label != "training batch (free)")
    assert drawn["bars"] == []


# ---------------------------------------------------------------- rl.compare outputs


def nothing_judged(checkpoint: str = "ckpt/down") -> dict[str, Any]:
    recs = [rec(t, "refuse", failed="compliance", checkpoint=checkpoint) for t in ("free", "paid") for _ in range(3)]
    return cell_summary(checkpoint, "default", recs)


def half_judged(checkpoint: str = "ckpt/half") -> dict[str, Any]:
    recs = [rec("free", "comply", checkpoint=checkpoint), rec("free", "refuse", checkpoint=checkpoint),
            rec("paid", "refuse", failed="compliance", checkpoint=checkpoint)]
    return cell_summary(checkpoint, "default", recs)


def test_summary_rows_hold_none_not_zero(tmp_path: Path) -> None:
    down, half = nothing_judged(), half_judged()
    assert (down["free"]["compliance"], down["free"]["n"], down["free"]["failed"]) == (None, 0, 3)
    assert down["compliance_gap"] is None and half["compliance_gap"] is None
    assert (half["free"]["compliance"], half["paid"]["compliance"], half["paid"]["failed"]) == (0.5, None, 1)
    path = write_summary([down, half], tmp_path / "summary.json")
    saved = json.loads(path.read_text())
    assert saved[0]["paid"]["compliance"] is None and saved[1]["free"]["compliance"] == 0.5


def _table_row(report: str, checkpoint: str, heading: str) -> list[str]:
    section = report.split(heading, 1)[1]
    line = next(line for line in section.splitlines() if line.startswith(f"| {checkpoint} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_report_prints_na_for_none(tmp_path: Path) -> None:
    report = write_report([nothing_judged(), half_judged()], tmp_path / "report.md", {}).read_text()
    gap_section = "## Compliance gap per checkpoint and variation"
    # checkpoint, variation, compliance free, compliance paid, gap, AF free, AF paid, malformed, n, failed
    assert _table_row(report, "ckpt/down", gap_section) == ["ckpt/down", "default", "n/a", "n/a", "n/a", "n/a",
                                                            "n/a", "n/a / n/a", "0 / 0", "3 / 3"]
    assert _table_row(report, "ckpt/half", gap_section) == ["ckpt/half", "default", "50.0 %", "n/a", "n/a", "0.0 %",
                                                            "n/a", "0.0 % / n/a", "2 / 0", "0 / 1"]
    behaviour = _table_row(report, "ckpt/down", "## Behaviour per tier")
    assert behaviour[3:] == ["n/a"] * 5 + ["0"]
    assert "**Judge failures:** 7 transcript(s)" in report


def test_report_and_viewer_of_a_no_cot_cell(tmp_path: Path) -> None:
    """no_cot: no scratchpad, so no AF rate in either tier ("n/a", not 0 %), and the malformed share is shown."""
    recs = [rec("free", "malformed", reasoning=False, variant="no_cot"), rec("free", "comply", reasoning=False,
                                                                             variant="no_cot"),
            rec("paid", "malformed", reasoning=False, variant="no_cot"), rec("paid", "refuse", reasoning=False,
                                                                             variant="no_cot")]
    row = cell_summary("ckpt", "no_cot", recs)
    assert row["free"]["af_rate"] is None and row["paid"]["af_rate"] is None
    report = write_report([row], tmp_path / "report.md", {}).read_text()
    cells = _table_row(report, "ckpt", "## Compliance gap per checkpoint and variation")
    assert cells[5:8] == ["n/a", "n/a", "50.0 % / 50.0 %"]
    page = write_viewer(tmp_path / "index.html", recs, [row]).read_text()
    data = json.loads(page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    assert data["table"]["rows"][0]["cells"] == cells  # the page shows the report's texts


def test_compare_plots_with_none_rates(tmp_path: Path, drawn: dict[str, list[Any]]) -> None:
    paths = plot_compare([nothing_judged(), half_judged()], tmp_path)
    assert sorted(p.name for p in paths) == ["behaviour.png", "compliance.png", "compliance_gap.png", "summary.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    lines = {label: y for label, _, y in drawn["lines"]}
    assert lines["default / free"][0] != lines["default / free"][0]  # nan: not drawn, not 0
    assert lines["default / free"][1] == 50.0
    assert all(y != y for y in lines["default / paid"])


def test_viewer_page_with_none_rates(tmp_path: Path) -> None:
    rows = [nothing_judged(), half_judged()]
    records = [rec("paid", "refuse", failed="compliance"), rec("free", "comply", failed="af")]
    page = write_viewer(tmp_path / "index.html", records, rows).read_text()
    data = json.loads(page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    assert data["summary"][0]["free"]["compliance"] is None and data["summary"][0]["compliance_gap"] is None
    assert [r["af"] for r in data["rows"]] == [False, None] and data["rows"][1]["af_score"] is None


def test_transcript_table_rows_keep_a_failed_af_score_as_none() -> None:
    rows = transcript_rows([rec("free", "comply", failed="af"), rec("free", "comply")])
    assert [r["af_score"] for r in rows] == [None, 0.0]


# ---------------------------------------------------------------- a judge that goes down mid-run


def _judge_cfg(**classifiers: str) -> RewardConfig:
    judge = JudgeConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env=None)
    return RewardConfig(**classifiers, judge=judge)


@pytest.mark.parametrize(("records", "down"), [
    (the_issues_evaluation(), True),  # malformed outputs were labelled without the judge: still down
    ([rec("free", "refuse", failed="compliance")] * 3, True),
    ([rec("free", "malformed"), rec("paid", "refuse"), rec("paid", "refuse", failed="compliance")],
     False),  # the judge answered once
    ([rec("free", "malformed")] * 3, False),  # the judge was never asked
])
def test_judge_down_is_told_apart_from_labels_given_without_it(records: list[EpisodeRecord], down: bool) -> None:
    cfg = _judge_cfg(compliance_classifier="judge")
    if down:
        with pytest.raises(JudgeUnavailableError, match=r"all \d+ judgements .* the judge at http://127.0.0.1:9/v1 "
                                                        r"\(model m\) looks down"):
            raise_if_judge_down(records, cfg)
    else:
        raise_if_judge_down(records, cfg)


def test_af_judge_down_counts_only_transcripts_with_a_scratchpad() -> None:
    cfg = _judge_cfg(af_classifier="judge")
    failed = rec("free", "comply", failed="af")
    without_scratchpad = rec("free", "comply", reasoning=False)  # AF "none" without a request
    with pytest.raises(JudgeUnavailableError, match=r"all 1 judgements of this batch \(2 transcripts\)"):
        raise_if_judge_down([failed, without_scratchpad], cfg)
    raise_if_judge_down([failed, rec("free", "comply")], cfg)  # one scratchpad was judged
