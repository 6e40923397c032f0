"""The long-job runner every product shares: a work folder that survives Ctrl-C and kill -9, and progress a
person can follow in a terminal, a log file, CI or Gradio.

A `Job` is a folder holding
- `state.json`: what the job has decided so far (written atomically: a crash leaves the old or the new file,
  never half of one);
- `pieces/`: finished pieces (a transcribed window, a narrated sentence, a map step's JSON), each stored under
  a hash of everything that produced it, so a rerun skips them and a changed input recomputes only its piece.

`ProgressLine` turns the stages' plain `(fraction, message)` callable into one updating line with an ETA on a
terminal, and a plain line every few seconds or few percent when stderr is a file (CI, `2> log`). Gradio's
`gr.Progress` is itself a `(fraction, desc)` callable; `fan_out` feeds several sinks at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .stages import Progress

STATE = "state.json"


def content_key(*parts: Any) -> str:
    """A stable hash of the inputs that produce a piece (texts, numbers, settings dicts, file bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            data = part
        elif isinstance(part, Path):
            data = part.read_bytes()
        else:
            data = json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:32]


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write to a temp file beside `path`, fsync, then rename over it: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class Job:
    """A resumable job's work folder. Pieces are files; a piece exists only once it is complete."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pieces_dir = self.folder / "pieces"
        self.pieces_dir.mkdir(exist_ok=True)
        self.state = self._read_state()

    # --- state ---
    def _read_state(self) -> dict:
        path = self.folder / STATE
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # only possible if someone edited it by hand: start the bookkeeping again

    def save(self, **updates) -> None:
        self.state.update(updates)
        atomic_write(self.folder / STATE, json.dumps(self.state, indent=1, ensure_ascii=False, default=str))

    # --- pieces ---
    def piece(self, key: str, suffix: str = ".json") -> Path:
        return self.pieces_dir / key[:2] / f"{key}{suffix}"

    def has(self, key: str, suffix: str = ".json") -> bool:
        return self.piece(key, suffix).is_file()

    def put_bytes(self, key: str, data: bytes, suffix: str) -> Path:
        return atomic_write(self.piece(key, suffix), data)

    def put_json(self, key: str, value: Any) -> Path:
        return atomic_write(self.piece(key), json.dumps(value, ensure_ascii=False, indent=1))

    def get_json(self, key: str) -> Any | None:
        path = self.piece(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            path.unlink(missing_ok=True)  # cannot happen with atomic writes, but never trust a bad piece
            return None

    def cached_json(self, key: str, compute: Callable[[], Any]) -> Any:
        """The piece stored under `key`, computing and storing it first if it is missing."""
        value = self.get_json(key)
        if value is None:
            value = compute()
            self.put_json(key, value)
        return value

    def keys(self, suffix: str = ".json") -> set[str]:
        return {p.name[: -len(suffix)] for p in self.pieces_dir.glob(f"*/*{suffix}")}

    def prune(self, keep: Iterable[str], suffix: str) -> int:
        """Delete pieces with `suffix` not in `keep` (stale after an edit); returns how many went."""
        keep = set(keep)
        gone = 0
        for path in self.pieces_dir.glob(f"*/*{suffix}"):
            if path.name[: -len(suffix)] not in keep:
                path.unlink(missing_ok=True)
                gone += 1
        return gone


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """A `Progress` sink for people: an updating line with ETA on a terminal, plain lines in a log.

    In a log a line is printed when `every_s` seconds or `every_fraction` of the work have passed since the
    last one (and at the end), so a 20-minute job writes a few dozen lines, not thousands and not none.
    """

    def __init__(self, label: str, stream=None, *, every_s: float = 10.0, every_fraction: float = 0.05,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s, self.every_fraction = every_s, every_fraction
        self.clock = clock
        self.started = clock()
        self._last_time = -1e9
        self._last_fraction = -1.0
        self._samples: list[tuple[float, float]] = []   # (time, fraction) of recent reports
        self._last_message = self._last_kind = None       # what a log last printed, and its kind
        self.lines = 0

    PACE_WINDOW = 60.0   # seconds, or 30 % of the time elapsed if longer
    # a message that says its own time left ("~10 min of training and scoring left": a clone knows its steps'
    # pace and its evaluations to come) is not contradicted by the bar's pace ("~3:14:31 left" right after a
    # minute of scoring)
    OWN_TIME_LEFT = re.compile(r"~\d+(?::\d+)* min\b[^·]*\bleft\b")

    def eta(self, fraction: float) -> float | None:
        """Seconds left, from the pace over the last minute or so (the last 30 % of the time). Work skipped
        rather than done (a resumed clone jumped to 50 % in 10 s, then said "~0:40 left" for 26 minutes of
        training) shows as a stretch far faster than the others and is left out; a slow stretch (a clone
        scoring its voice) is real time and counts."""
        now = self.clock()
        points = list(self._samples)
        if points and now > points[-1][0]:   # called between reports: now counts too
            points.append((now, fraction))
        stretches = [(t1 - t0, f1 - f0) for (t0, f0), (t1, f1) in zip(points, points[1:]) if t1 > t0]
        moving = [df / dt for dt, df in stretches if df > 0]
        if len(stretches) < 2 or not moving:
            return None
        typical = statistics.median_low(moving)
        done = [(dt, df) for dt, df in stretches if df / dt <= 10 * typical]
        rate = sum(df for _, df in done) / sum(dt for dt, _ in done) if done else 0.0
        return (1.0 - fraction) / rate if rate > 0 else None

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = self.clock()
        self._samples.append((now, fraction))
        window = max(self.PACE_WINDOW, 0.3 * (now - self.started))
        while len(self._samples) > 2 and self._samples[1][0] < now - window:
            self._samples.pop(0)  # keep one sample just outside the window
        eta = self.eta(fraction)
        elapsed = _clock(now - self.started)
        says_own = bool(self.OWN_TIME_LEFT.search(message))
        tail = f" · {elapsed} elapsed" + (f", ~{_clock(eta)} left" if eta is not None and fraction < 1
                                          and not says_own else "")
        text = f"{self.label}: {fraction:4.0%}" + (f" {message}" if message else "") + tail
        done = fraction >= 1.0
        if self.tty:
            print(f"\r{text}\033[K", end="\n" if done else "", file=self.stream, flush=True)
            self.lines += 1
            return
        kind = re.sub(r"\d+", "#", message)   # "step 34/150" is another step; "the person speaks at ..." news
        due = (now - self._last_time >= self.every_s or fraction - self._last_fraction >= self.every_fraction
               or done or kind != self._last_kind)
        if due and (fraction, message) != (self._last_fraction, self._last_message):
            print(text, file=self.stream, flush=True)
            self._last_time, self._last_fraction, self._last_message, self._last_kind = now, fraction, message, kind
            self.lines += 1


def fan_out(*sinks: Progress | None) -> Progress:
    """One `Progress` that feeds several (a terminal line and a Gradio bar, say); None entries are skipped."""
    live = [s for s in sinks if s is not None]

    def progress(fraction: float, message: str = "") -> None:
        for sink in live:
            sink(fraction, message)
    return progress


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A sub-task's 0..1 mapped onto [start, end] of its parent's progress."""
    def inner(fraction: float, message: str = "") -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)
    return inner
