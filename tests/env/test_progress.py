"""env/progress.py: periodic lines on a fake clock (no sleeping, no timing asserts), clamping, the final line."""

from __future__ import annotations

import pytest

from env.progress import Progress, current_label, format_duration, progress_label


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(total: int = 80, **kwargs: object) -> tuple[Progress, FakeClock, list[str]]:
    clock, lines = FakeClock(), []
    report = Progress(total, "eval step 0", "transcripts", interval=10, clock=clock, printer=lines.append, **kwargs)
    return report, clock, lines


def test_a_line_only_once_the_interval_has_passed_since_the_last() -> None:
    report, clock, lines = _progress()
    report.update(10, tokens=500)
    clock.now += 9.9
    report.update(10, tokens=500)
    assert lines == []  # 9.9 s: not yet
    clock.now += 0.1
    report.update(20, tokens=1000)
    assert lines == ["[af-rl] eval step 0: 40/80 transcripts, 200 tok/s, ETA 10s"]
    clock.now += 5
    report.update(1)
    assert len(lines) == 1  # 5 s after the last line
    clock.now += 5
    report.update(0, tokens=20)  # tokens alone (a long batch) also bring the line when it is due
    assert lines[-1] == "[af-rl] eval step 0: 41/80 transcripts, 101 tok/s, ETA 19s"  # 2020 tok / 20 s; 20 s * 39 / 41


def test_updates_never_pass_the_total() -> None:
    report, clock, lines = _progress(total=80)
    report.update(60)
    report.update(21)  # one more than is left: 81 would be the overshoot users saw
    report.update(5)
    assert report.done == 80
    clock.now += 30
    report.close()
    assert lines == ["[af-rl] eval step 0: 80/80 transcripts in 30s"]


def test_final_line_once_with_the_rate() -> None:
    report, clock, lines = _progress(total=4)
    report.update(4, tokens=1200)
    clock.now += 70
    report.close()
    report.close()
    assert lines == ["[af-rl] eval step 0: 4/4 transcripts in 1m10s, 17 tok/s"]


def test_before_anything_is_done_the_line_says_how_long_so_far() -> None:
    report, clock, lines = _progress()
    clock.now += 12
    report.update(0, tokens=240)
    assert lines == ["[af-rl] eval step 0: 0/80 transcripts, 20 tok/s, 12s so far"]


def test_note_is_shown() -> None:
    report, clock, lines = _progress(total=10)
    report.note = "loss 2.310"
    report.update(5)
    clock.now += 10
    report.update(0)
    assert lines == ["[af-rl] eval step 0: 5/10 transcripts, loss 2.310, ETA 10s"]


def test_if_shown_keeps_a_short_phase_quiet() -> None:
    quiet, _, quiet_lines = _progress(total=8, final="if_shown")
    quiet.update(8)
    quiet.close()
    assert quiet_lines == []
    slow, clock, slow_lines = _progress(total=8, final="if_shown")
    clock.now += 10
    slow.update(4)
    clock.now += 5
    slow.update(4)
    slow.close()
    assert slow_lines == ["[af-rl] eval step 0: 4/8 transcripts, ETA 10s", "[af-rl] eval step 0: 8/8 transcripts in 15s"]


def test_an_injected_printer_means_lines_never_a_bar() -> None:
    report, _, _ = _progress()
    assert report._bar is None


def test_progress_label_nests_and_restores() -> None:
    assert current_label("generating") == "generating"
    with progress_label("eval step 5"):
        assert current_label("generating") == "eval step 5"
        with progress_label("ckpt / lab_swap"):
            assert current_label("x") == "ckpt / lab_swap"
        assert current_label("x") == "eval step 5"
    assert current_label("generating") == "generating"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"),
    (59.4, "59s"),
    (60, "1m00s"),
    (70, "1m10s"),
    (3599, "59m59s"),
    (3720, "1h02m"),
    (-3, "0s"),  # a clock step backwards never prints a negative time
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_no_periodic_line_once_all_is_counted_only_the_final_one() -> None:
    report, clock, lines = _progress(total=4)
    report.update(4)
    clock.now += 30
    report.update(0, tokens=50)  # e.g. <NEXT/> turns still generating
    assert lines == []
    report.close()
    assert lines == ["[af-rl] eval step 0: 4/4 transcripts in 30s, 2 tok/s"]  # 50 tokens / 30 s


def test_no_eta_before_eta_from_of_the_total_is_done() -> None:
    # Batched generation: 1 of 16 done after 60 s says nothing about the other 15 (they finish together).
    report, clock, lines = _progress(total=16, eta_from=0.25)
    clock.now += 60
    report.update(1)
    assert lines == ["[af-rl] eval step 0: 1/16 transcripts, 1m00s so far"]
    clock.now += 60
    report.update(3)  # 4 of 16: a quarter, so the rate so far is a forecast
    assert lines[-1] == "[af-rl] eval step 0: 4/16 transcripts, ETA 6m00s"  # 120 s * 12 / 4
