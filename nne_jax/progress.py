"""Progress of a long run: a live tqdm bar on a terminal, plain lines otherwise; compilation timed apart.

The first chunk of a run (or of a resumed run) pays for XLA's compilation, so a rate that includes it is
meaningless (0.47 gen/s shown for a steady 25). :class:`Progress` reports the first chunk's time once, as
"first chunk (with compilation)", then the compilation estimate once a steady rate is known, and from then on
the steady generations per second of the chunks after the first, and an ETA from it.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import IO, Any

__all__ = ["Progress", "steady_rate"]

logger = logging.getLogger(__name__)


def steady_rate(chunks: list[tuple[int, float]]) -> float | None:
    """Generations per second over all chunks but the first (``(generations, seconds)`` each); None before two."""
    later = chunks[1:]
    seconds = sum(s for _, s in later)
    return sum(g for g, _ in later) / seconds if later and seconds > 0 else None


class Progress:
    """Reports chunks of a run.

    Args:
      total: the run's last generation.
      start: the generation it starts (or resumes) from.
      label: prefix of every line, e.g. ``"[0-9 fast seed 0]"``.
      stream: where the bar goes (default ``sys.stdout``).
      bar: ``True`` a tqdm bar, ``False`` plain lines, ``None`` a bar iff ``stream`` is a terminal.
      log: plain mode's line sink (default: ``print`` to ``stream``).
    """

    def __init__(self, total: int, start: int, label: str, stream: IO[str] | None = None, bar: bool | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.total, self.start, self.label = total, start, label
        self.stream = stream or sys.stdout
        self.chunks: list[tuple[int, float]] = []
        self._compile_reported = False
        self._log = log or (lambda line: print(line, file=self.stream, flush=True))
        use_bar = bar if bar is not None else _isatty(self.stream)
        self._bar = None
        if use_bar:
            from tqdm import tqdm

            # tqdm's own rate and ETA would include compilation: the postfix carries the steady ones
            self._bar = tqdm(total=total, initial=start, desc=label, unit="gen", file=self.stream, mininterval=0,
                             ncols=_size(self.stream).columns or 120, nrows=_size(self.stream).lines or 40,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} gen [{elapsed}]{postfix}")

    @property
    def is_bar(self) -> bool:
        return self._bar is not None

    def message(self, text: str) -> None:
        """A line that must not break the bar (``tqdm.write`` on a terminal)."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self._log(text)

    def update(self, generation: int, chunk_seconds: float, metrics: dict[str, Any]) -> str:
        """One finished chunk ending at ``generation`` that took ``chunk_seconds`` of training; returns its summary."""
        done = generation - (self.start + sum(g for g, _ in self.chunks))
        self.chunks.append((done, chunk_seconds))
        rate = steady_rate(self.chunks)
        if rate is not None and not self._compile_reported:
            first_gens, first_seconds = self.chunks[0]
            compile_s = max(first_seconds - first_gens / rate, 0.0)
            self.message(f"{self.label} compilation ≈ {compile_s:.1f} s (first chunk {first_seconds:.1f} s "
                         f"for {first_gens} generations; steady {rate:.2f} gen/s)")
            self._compile_reported = True
        speed = (f"{rate:6.2f} gen/s" if rate is not None
                 else f"first chunk {chunk_seconds:.1f} s (with compilation)")
        eta = f"ETA {(self.total - generation) / rate / 60:5.1f} min" if rate else "ETA after the next chunk"
        stats = (f"mean fitness {metrics['mean_fitness']:.3f}  test acc (W·p) {100 * metrics['test_accuracy']:5.2f}%  "
                 f"p near 0/1: {100 * metrics['near_0_or_1']:4.1f}%")
        if self._bar is not None:
            self._bar.set_postfix_str(f"{speed.strip()}, fitness {metrics['mean_fitness']:.3f}, acc "
                                      f"{100 * metrics['test_accuracy']:.2f}%, near 0/1 {100 * metrics['near_0_or_1']:.1f}%, "
                                      f"{eta.replace('  ', ' ')}", refresh=False)
            self._bar.update(generation - self._bar.n)
        else:
            self._log(f"{self.label} gen {generation:6d}/{self.total}  {speed}  {stats}  {eta}")
        logger.debug("chunk to generation %d: %.3f s", generation, chunk_seconds)
        return speed

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _size(stream: IO[str]) -> os.terminal_size:
    """The terminal's size; 0 columns and lines where it reports none (a fresh pseudo-terminal), where
    tqdm would draw a zero-width bar or hide it as below the screen, so the caller substitutes defaults."""
    try:
        return os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return os.terminal_size((0, 0))


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
