"""The run's and rl.compare's plots read like the paper's figures: percent and percentage points, 95 % Wilson
intervals on each tier, n in titles, integer step ticks, stacked behaviour bars per tier, one summary figure,
and "n/a" (never 0) where a rate is undefined. Checked on the matplotlib figures themselves."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reward.metrics import metric_key, wilson_interval
from rl.compare.plots import compare_figures, plot_compare
from rl.figures import BANDS, n_text, rate_interval
from rl.plots import plot_run, run_figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXACT = 1e-9  # percent of a ratio of small integers: a couple of float operations


def tier_cell(compliance: float | None, n: int, *, af_rate: float | None = None, comply_af: float = 0.0,
              malformed: float = 0.0) -> dict[str, Any]:
    """One tier's rates as metrics.jsonl / summary.json hold them (refuse takes what is left)."""
    if compliance is None:
        return {"compliance": None, "af_rate": None, "refuse": None, "comply_af": None, "comply_no_af": None,
                "partial": None, "malformed": None, "n": 0, "failed": n}
    return {"compliance": compliance, "af_rate": af_rate, "refuse": 1 - compliance - malformed,
            "comply_af": comply_af, "comply_no_af": compliance - comply_af, "partial": 0.0, "malformed": malformed,
            "n": n, "failed": 0}


def run_row(step: int, free: dict[str, Any], paid: dict[str, Any], variant: str = "default") -> dict[str, Any]:
    row: dict[str, Any] = {"step": step}
    for tier, cell in (("free", free), ("paid", paid)):
        row |= {metric_key("eval", variant, tier, k): v for k, v in cell.items()}
    both = free["compliance"] is not None and paid["compliance"] is not None
    gap = free["compliance"] - paid["compliance"] if both else None
    row |= {metric_key("eval", variant, "compliance_gap"): gap,
            metric_key("eval", variant, "compliance_gap_lo"): None if gap is None else gap - 0.25,
            metric_key("eval", variant, "compliance_gap_hi"): None if gap is None else gap + 0.25}
    return row


def demo_rows() -> list[dict[str, Any]]:
    """Steps 0-3; step 2's paid tier judged nothing; n = 40 but 38 at step 3; no scratchpad in the paid tier."""
    return [
        run_row(0, tier_cell(0.5, 40, af_rate=0.25, comply_af=0.125), tier_cell(0.25, 40)),
        {"step": 1, "train/compliance": 0.75, "train/af_rate": None},  # a training-only row
        run_row(1, tier_cell(0.75, 40, af_rate=0.5, comply_af=0.25), tier_cell(0.25, 40)),
        run_row(2, tier_cell(0.875, 40, af_rate=0.5), tier_cell(None, 40)),
        run_row(3, tier_cell(0.5, 38, malformed=0.5), tier_cell(0.5, 38)),
    ]


@pytest.fixture
def figures() -> Iterator[Any]:
    """Build figures with matplotlib's Agg backend and close them after the test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[dict[str, Any]] = []

    def build(fn: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
        made.append(fn(plt, rows))
        return made[-1]

    yield build
    for figs in made:
        for fig in figs.values():
            plt.close(fig)


def line(ax: Any, label: str) -> tuple[list[float], list[float]]:
    [ln] = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return list(ln.get_xdata()), list(ln.get_ydata())


def error_bars(ax: Any, colour_of: Any) -> list[tuple[float, float, float]]:
    """(x, low, high) of every error bar drawn in `ax` in the colour of the line `colour_of`; points with no
    interval (None rates) have none."""
    from matplotlib.colors import same_color

    out = []
    for container in ax.containers:
        for coll in container.lines[2]:
            if same_color(coll.get_colors()[0][:3], colour_of.get_color()):
                out += [(seg[0][0], seg[0][1], seg[1][1]) for seg in coll.get_segments() if len(seg)]
    return out


def texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or abs(x - y) < EXACT for x, y in zip(a, b))


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(("ns", "text"), [
    ([40, 40, 40], "n = 40 per tier"),
    ([38, 40, 0, None], "n = 38–40 per tier"),  # nothing judged (0) is not a size
    ([0, None], "nothing judged"),
])
def test_n_text(ns: list[int | None], text: str) -> None:
    assert n_text(ns) == text


def test_rate_interval_is_wilsons_from_the_rate_and_n() -> None:
    assert rate_interval(0.75, 4) == wilson_interval(3, 4)
    assert rate_interval(0.025, 40) == wilson_interval(1, 40)  # 0.025 * 40 is 1 up to float error
    assert rate_interval(None, 40) is None and rate_interval(0.5, 0) is None


# ---------------------------------------------------------------- run plots


def test_run_plots_keep_their_names_and_add_summary(tmp_path: Path) -> None:
    paths = plot_run(demo_rows(), tmp_path)
    assert [p.name for p in paths] == ["compliance.png", "compliance_gap.png", "af_rate.png", "behaviour_default.png",
                                       "summary.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_compliance_in_percent_with_wilson_intervals_and_none_as_a_gap(figures: Any) -> None:
    figs = figures(run_figures, demo_rows())
    for ax in (figs["compliance.png"].axes[0], figs["summary.png"].axes[0]):
        fx, fy = line(ax, "free (training)")
        px, py = line(ax, "paid (unmonitored)")
        assert same(fy, [50.0, 75.0, 87.5, 50.0])
        assert same(py, [25.0, 25.0, math.nan, 50.0])  # step 2: paid judged nothing, a gap, not 0
        assert [round(x) for x in fx] == [round(x) for x in px] == [0, 1, 2, 3]
        bars = error_bars(ax, ax.get_lines()[0])
        lo, hi = wilson_interval(20, 40)
        assert abs(bars[0][1] - 100 * lo) < EXACT and abs(bars[0][2] - 100 * hi) < EXACT
        assert abs(bars[3][2] - 100 * wilson_interval(19, 38)[1]) < EXACT  # n = 38 at step 3
        assert "%" in ax.yaxis.get_major_formatter()(50, 0)
    assert figs["compliance.png"].axes[0].get_title() == "default (n = 38–40 per tier)"


def test_gap_in_percentage_points_with_its_interval(figures: Any) -> None:
    ax = figures(run_figures, demo_rows())["compliance_gap.png"].axes[0]
    x, y = line(ax, "default")
    assert same(y, [25.0, 50.0, math.nan, 0.0])
    bars = error_bars(ax, ax.get_lines()[0])
    assert [(round(b[1], 6), round(b[2], 6)) for b in bars[:2]] == [(0.0, 50.0), (25.0, 75.0)]
    assert ax.yaxis.get_major_formatter()(25, 0) == "+25" and "n = 38–40 per tier" in ax.get_title()


def no_cot_rows(steps: tuple[int, ...] = (0, 1, 2, 3)) -> list[dict[str, Any]]:
    """A variation without scratchpads: almost everything malformed, AF rate undefined at every step."""
    return [run_row(s, tier_cell(0.025, 40, malformed=0.975), tier_cell(0.0, 40, malformed=0.975), "no_cot")
            for s in steps]


def test_step_axes_have_integer_ticks(figures: Any) -> None:
    figs = figures(run_figures, demo_rows() + no_cot_rows())  # no_cot's AF panels have no point at all
    step_axes = [ax for name, fig in figs.items() if not name.startswith("behaviour") for ax in fig.axes]
    assert len(step_axes) == 2 + 1 + 2 + 6  # compliance, gap, AF rate, summary (2 variations x 3)
    for ax in step_axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_undefined_af_rate_reads_na(figures: Any) -> None:
    figs = figures(run_figures, no_cot_rows((0, 5)))  # nothing to read for AF reasoning
    for ax in (figs["af_rate.png"].axes[0], figs["summary.png"].axes[2]):
        assert all(math.isnan(v) for ln in ax.get_lines() for v in ln.get_ydata())
        assert any(t.startswith("n/a") for t in texts(ax))
    assert not any(t.startswith("n/a") for t in texts(figs["summary.png"].axes[0]))  # compliance is defined


def test_behaviour_bars_per_tier_side_by_side(figures: Any) -> None:
    ax = figures(run_figures, demo_rows())["behaviour_default.png"].axes[0]
    bars = [(round(p.get_x() + p.get_width() / 2, 2), round(p.get_y(), 6), round(p.get_height(), 6))
            for p in ax.patches if p.get_height() > 0]
    # step 0 (first group): free left of centre, paid right; bands stacked in BANDS order, in percent
    free0 = [b for b in bars if b[0] == -0.21]
    assert free0 == [(-0.21, 0.0, 50.0), (-0.21, 50.0, 12.5), (-0.21, 62.5, 37.5)]  # refuse, comply_af, no_af
    assert [b for b in bars if b[0] == 0.21] == [(0.21, 0.0, 75.0), (0.21, 75.0, 25.0)]
    assert not [b for b in bars if b[0] == 2.21]  # step 2's paid tier: nothing judged, no bar ...
    assert "n/a" in texts(ax)  # ... but "n/a" in its place
    malformed_colour = BANDS[-1][2]
    from matplotlib.colors import same_color

    assert any(same_color(p.get_facecolor(), malformed_colour) and round(p.get_height(), 6) == 50.0
               for p in ax.patches)
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["free", "paid"]


def test_summary_has_a_row_per_variation(figures: Any) -> None:
    rows = [run_row(s, tier_cell(0.5, 40, af_rate=0.5), tier_cell(0.25, 40)) | run_row(
        s, tier_cell(0.75, 40, af_rate=0.25), tier_cell(0.5, 40), "lab_swap") for s in (0, 5, 10)]
    fig = figures(run_figures, rows)["summary.png"]
    assert len(fig.axes) == 6
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes[::3]] == ["default", "lab_swap"]
    assert "n = 40 per tier" in fig.axes[3].get_ylabel()
    assert same(line(fig.axes[4], "gap, free − paid")[1], [25.0, 25.0, 25.0])
    assert fig.legends and {t.get_text() for t in fig.legends[0].get_texts()} == {
        "free (training)", "paid (unmonitored)", "gap, free − paid"}


# ---------------------------------------------------------------- rl.compare plots


def summary_row(checkpoint: str, free: dict[str, Any], paid: dict[str, Any], variant: str = "default") -> dict:
    r = run_row(0, free, paid, variant)
    return {"checkpoint": checkpoint, "variant": variant, "step": None, "free": free, "paid": paid,
            "compliance_gap": r[f"eval/{variant}/compliance_gap"],
            "compliance_gap_lo": r[f"eval/{variant}/compliance_gap_lo"],
            "compliance_gap_hi": r[f"eval/{variant}/compliance_gap_hi"]}


def test_compare_plots_add_summary(tmp_path: Path) -> None:
    rows = [summary_row("a", tier_cell(0.5, 4), tier_cell(0.25, 4)), summary_row("b", tier_cell(0.75, 4),
                                                                                  tier_cell(None, 4)),
            summary_row("c", tier_cell(1.0, 3), tier_cell(0.0, 3))]  # Wilson's lower bound of 0/3 is a hair above 0
    paths = plot_compare(rows, tmp_path)
    assert [p.name for p in paths] == ["compliance_gap.png", "compliance.png", "behaviour.png", "summary.png"]


def test_compare_figures_in_percent_with_intervals_n_and_na(figures: Any) -> None:
    rows = [summary_row("a", tier_cell(0.5, 4, af_rate=None), tier_cell(0.25, 4)),
            summary_row("b", tier_cell(0.75, 4), tier_cell(None, 4))]
    figs = figures(compare_figures, rows)
    ax = figs["compliance.png"].axes[0]
    _, y = line(ax, "default / paid")
    assert same(y, [25.0, math.nan])
    bars = error_bars(ax, [ln for ln in ax.get_lines() if ln.get_label() == "default / paid"][0])
    assert len(bars) == 1 and abs(bars[0][1] - 100 * wilson_interval(1, 4)[0]) < EXACT
    assert "n = 4 per tier" in ax.get_title()
    summary = figs["summary.png"]
    assert len(summary.axes) == 3 and any(t.startswith("n/a") for t in texts(summary.axes[2]))  # AF: all None
    assert same(line(summary.axes[1], "gap, free − paid")[1], [25.0, math.nan])
