"""Progress of a long phase (generation, judging, SFT): a tqdm bar on an interactive terminal, else a
tidy line every ~10 s and one at the end, e.g. `[af-rl] eval step 0: 40/80 transcripts, 312 tok/s, ETA 1m10s`.

Ray actors, Ray jobs and log files have no terminal, and a bar there turns into thousands of lines or
interleaves with other processes' output; periodic lines stay readable wherever they land. Stdlib only
(tqdm is imported when a bar is shown), so env/, reward/ and rl/ can all use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
import time
from typing import Any, Callable, Iterator, Literal

INTERVAL_S = 12.0
"""Seconds between two progress lines (the final line is always printed)."""
GENERATION_ETA_FROM = 0.25
"""Batched generation shows an ETA once this share of its units is done (see Progress's `eta_from`)."""

_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("af_rl_progress_label", default=None)


@contextlib.contextmanager
def progress_label(label: str) -> Iterator[None]:
    """Name the phase for the progress reporters created inside (e.g. "eval step 5"), for code that
    reports progress but does not know which phase it serves (generation inside an evaluation)."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def current_label(default: str) -> str:
    """The label set by the innermost `progress_label`, else `default`."""
    return _LABEL.get() or default


def format_duration(seconds: float) -> str:
    """45 -> "45s", 70 -> "1m10s", 3720 -> "1h02m"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def interactive() -> bool:
    """A person watches a terminal: stderr is a TTY and tqdm is not disabled (TQDM_DISABLE=1)."""
    if os.environ.get("TQDM_DISABLE") == "1":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _print(line: str) -> None:
    print(line, flush=True)


class Progress:
    """Counts `done` of `total` units (and optionally generated tokens) and shows it.

    Args:
        total: units expected; `done` never passes it (extra updates are ignored).
        label: the phase, e.g. "eval step 0".
        unit: plural noun of the unit, e.g. "transcripts".
        interval: seconds between lines.
        clock: monotonic seconds (tests pass a fake one).
        printer: receives each line (default: print to stdout). Passing one means lines, never a bar.
        bar: a tqdm bar instead of lines; None: only on an interactive terminal with the default printer.
        final: "always" prints the final line; "if_shown" only when a progress line was printed before (a
            phase repeated every few seconds, such as one training step's rollouts, then stays quiet).
        eta_from: the share of `total` done before an ETA is shown (elapsed time so far until then). Batched
            generation finishes its units in bursts, the short answers first: extrapolating from the first
            one forecast a 36-minute evaluation that took 4 (SmolLM2 on CPU), so generation waits for a
            quarter; steady work (training or SFT steps) forecasts from the first unit (0).
    """

    def __init__(self, total: int, label: str, unit: str = "items", *, interval: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, printer: Callable[[str], None] | None = None,
                 bar: bool | None = None, final: Literal["always", "if_shown"] = "always",
                 eta_from: float = 0.0) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.unit = unit
        self.done = 0
        self.tokens = 0
        self.note = ""
        """Free text shown after the counts (e.g. "loss 2.31"); set it between updates."""
        self.interval = interval
        self._clock = clock
        self._printer = printer or _print
        self._start = clock()
        self._last = self._start
        self._lock = threading.Lock()  # judges report from two threads at once
        self._closed = False
        self._final = final
        self._eta_from = eta_from
        self._shown = False
        self._bar: Any = None
        if bar if bar is not None else (printer is None and interactive()):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=label, unit=unit.rstrip("s") or unit, leave=False,
                             dynamic_ncols=True)

    def update(self, n: int = 1, *, tokens: int = 0) -> None:
        """Add `n` finished units (clamped so that done <= total) and `tokens` generated tokens; prints a
        line when `interval` seconds have passed since the last one. Thread-safe."""
        with self._lock:
            self._update(n, tokens)

    def _update(self, n: int, tokens: int) -> None:
        n = max(0, min(int(n), self.total - self.done))
        self.done += n
        self.tokens += max(0, int(tokens))
        if self._closed:
            return
        if self._bar is not None:
            if n:
                self._bar.update(n)
            if self.tokens or self.note:
                self._bar.set_postfix_str(self._extras(self._clock() - self._start), refresh=False)
            return
        now = self._clock()
        # Once everything is counted only the final line is left to say (close() prints it).
        if now - self._last >= self.interval and self.done < self.total:
            self._last = now
            self._shown = True
            self._printer(self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line as of `now` (default: the clock)."""
        elapsed = (self._clock() if now is None else now) - self._start
        text = f"[af-rl] {self.label}: {self.done}/{self.total} {self.unit}"
        extras = self._extras(elapsed)
        if extras:
            text += f", {extras}"
        forecast = self.done > 0 and self.done >= self._eta_from * self.total
        eta = elapsed * (self.total - self.done) / self.done if forecast else 0.0
        if eta >= 1:  # below a second the last units are stragglers, not a forecast
            text += f", ETA {format_duration(eta)}"
        elif not forecast:
            text += f", {format_duration(elapsed)} so far"
        return text

    def _extras(self, elapsed: float) -> str:
        parts = []
        if self.tokens and elapsed > 0:
            parts.append(f"{self.tokens / elapsed:.0f} tok/s")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)

    def close(self) -> None:
        """Print the final line once: what was done, in how long."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._bar is not None:
            self._bar.close()
        if self._final == "if_shown" and not self._shown:
            return
        elapsed = self._clock() - self._start
        text = f"[af-rl] {self.label}: {self.done}/{self.total} {self.unit} in {format_duration(elapsed)}"
        extras = self._extras(elapsed)
        text += f", {extras}" if extras else ""
        if self._bar is not None and self._printer is _print:
            from tqdm import tqdm

            tqdm.write(text)  # keeps other bars on the terminal (rl.compare's) intact
        else:
            self._printer(text)

    def above(self) -> contextlib.AbstractContextManager[Any]:
        """A context for printing a line of one's own while the bar is up: the bar steps aside and is redrawn
        below it (no bar: nothing to do)."""
        if self._bar is None:
            return contextlib.nullcontext()
        from tqdm import tqdm

        return tqdm.external_write_mode()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
