"""What every tab of the Gradio demo shares: the app context (stages from the registry), the line that
turns take on the shared CPU, what may be served, and error display (one message, one log line)."""
from __future__ import annotations

import collections
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ... import registry
from ...config import stage_choice
from ...errors import DigitalHumanError, UserInputError

log = logging.getLogger("dh.web")
MAX_UPLOAD = "200mb"
LANGUAGES = {"auto-detect": None, "English": "en", "中文 (Mandarin)": "zh"}
PORTRAITS_DIR = Path(__file__).resolve().parents[3] / "avatar" / "portraits"
UPLOAD = "(upload your own)"
# The built-in portraits, the default first: a man's face, because the bundled voice (joe) is a man's, and a
# woman's face speaking in it is the first thing a visitor would find wrong. Other .jpg files put in the folder
# follow, named from their file names.
PORTRAIT_LABELS = {"grid_reader.jpg": "GRID reader", "eileen_collins.jpg": "Eileen Collins"}
CSS = """
.dh-status { font-weight: 600; padding: 1px 8px; border-radius: 4px; margin-right: 4px; color: #fff; }
.dh-error { background: #b91c1c; } .dh-ok, .dh-ready { background: #15803d; } .dh-wait { background: #6b7280; }
.dh-listen, .dh-think, .dh-speak, .dh-render { background: #1d4ed8; }
#talk-status { min-height: 1.6em; }
"""


class Line:
    """A first-come-first-served line for the heavy work: one turn at a time on the shared CPU, and every
    waiting visitor can be told where they stand and about how long it will take."""

    STALE_S = 10.0  # a waiting ticket whose page stopped asking for this long has left the line

    def __init__(self, first_guess_s: float = 10.0):
        self._cond = threading.Condition()
        self._waiting: collections.deque = collections.deque()
        self._average = first_guess_s
        self._measured = False

    def join(self) -> "Ticket":
        with self._cond:
            ticket = Ticket(self)
            self._waiting.append(ticket)
            return ticket

    def position(self, ticket: "Ticket") -> int:
        """0: it is this ticket's turn; n: n people are ahead."""
        with self._cond:
            return self._waiting.index(ticket) if ticket in self._waiting else 0

    def wait_s(self, ahead: int) -> float | None:
        """About how long `ahead` turns take (None until one turn was measured)."""
        return self._average * ahead if self._measured else None

    def _wait(self, ticket: "Ticket", timeout: float) -> bool:
        with self._cond:
            ticket.seen = time.monotonic()
            self._drop_stale()
            if ticket not in self._waiting and ticket.started is None:  # dropped while its page was slow
                self._waiting.append(ticket)
            return bool(self._cond.wait_for(lambda: self._waiting and self._waiting[0] is ticket, timeout))

    def _drop_stale(self) -> None:
        """Tickets whose visitor went away while waiting (their page no longer polls) must not block the line."""
        now = time.monotonic()
        for ticket in [t for t in self._waiting if t.started is None and now - t.seen > self.STALE_S]:
            self._waiting.remove(ticket)
        self._cond.notify_all()

    def _leave(self, ticket: "Ticket", served_s: float | None) -> None:
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            if served_s is not None:
                self._average = served_s if not self._measured else 0.7 * self._average + 0.3 * served_s
                self._measured = True
            self._cond.notify_all()


class Ticket:
    def __init__(self, line: Line):
        self.line = line
        self.joined = self.seen = time.monotonic()
        self.started: float | None = None

    def ahead(self) -> int:
        return self.line.position(self)

    def wait(self, timeout: float) -> bool:
        """True once it is this ticket's turn (then the work may start)."""
        if self.line._wait(self, timeout):
            self.started = self.started or time.monotonic()
            return True
        return False

    def leave(self) -> None:
        served = time.monotonic() - self.started if self.started is not None else None
        self.line._leave(self, served)


@dataclass
class AppContext:
    config: dict
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dh-web-")))
    line: Line = field(default_factory=Line)
    owner_present: bool = False  # served on localhost only: the visitor is the machine's owner (may resume
    #                              a voice started in another session)

    def stage(self, kind: str, engine: str | None = None, **extra):
        choice = stage_choice(self.config, kind)
        name = engine or choice.engine
        options = dict(choice.options if name == choice.engine else self.config.get(kind, {}).get(name, {}))
        options.update(extra)
        return registry.build(kind, name, **options)

    def session_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.workdir))

    def serve_copy(self, path: str | Path) -> str:
        """A copy of one file in the app's own temp folder: the page gets that, never a path into a person's
        voice folder (which the server refuses to serve)."""
        source = Path(path)
        target = self.session_dir() / source.name
        shutil.copyfile(source, target)
        return str(target)


def private_paths() -> list[str]:
    """Folders that hold people's data or weights: never served, even if a path into them is guessed."""
    from voices.profiles import user_voices_dir

    from ...cache import cache_dir

    return [str(user_voices_dir()), str(cache_dir()), str(personas_dir())]


def personas_dir() -> Path:
    from ...persona.store import personas_dir as folder  # one definition of where personas live

    return folder()


def portraits() -> dict[str, Path]:
    """Label -> file, the default portrait first."""
    known = [PORTRAITS_DIR / name for name in PORTRAIT_LABELS if (PORTRAITS_DIR / name).is_file()]
    others = [p for p in sorted(PORTRAITS_DIR.glob("*.jpg")) if p.name not in PORTRAIT_LABELS]
    return {PORTRAIT_LABELS.get(p.name) or p.stem.replace("_", " ").title(): p for p in known + others}


def message_of(exc: BaseException) -> str:
    """What to tell the user: the file's own name (not the server's temp path) and the problem."""
    if isinstance(exc, UserInputError) and exc.path:
        return f"{Path(exc.path).name}: {exc.message}"
    if isinstance(exc, DigitalHumanError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def log_failure(where: str, exc: BaseException) -> str:
    """One log line for a user's mistake; a traceback only for our own bugs."""
    message = message_of(exc)
    if isinstance(exc, DigitalHumanError):
        log.warning("%s: %s", where, message)
    else:
        log.error("%s: %s", where, message, exc_info=exc)
    return message


def user_error(exc: BaseException, where: str = "web"):
    """A gr.Error for a tab whose outputs may all show it (Listen, Voice Lab), logged in one line."""
    import gradio as gr

    return gr.Error(log_failure(where, exc), print_exception=False)
