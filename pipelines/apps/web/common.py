"""What every tab of the Gradio demo shares: the app context (stages from the registry) and error display.

"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ... import registry
from ...config import stage_choice
from ...errors import DigitalHumanError, UserInputError

MAX_UPLOAD = "200mb"
LANGUAGES = {"auto-detect": None, "English": "en", "中文 (Mandarin)": "zh"}
PORTRAITS_DIR = Path(__file__).resolve().parents[3] / "avatar" / "portraits"
UPLOAD = "(upload your own)"


@dataclass
class AppContext:
    config: dict
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dh-web-")))

    def stage(self, kind: str, engine: str | None = None, **extra):
        choice = stage_choice(self.config, kind)
        name = engine or choice.engine
        options = dict(choice.options if name == choice.engine else self.config.get(kind, {}).get(name, {}))
        options.update(extra)
        return registry.build(kind, name, **options)

    def session_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.workdir))


def portraits() -> dict[str, Path]:
    return {p.stem.replace("_", " ").title(): p for p in sorted(PORTRAITS_DIR.glob("*.jpg"))}


def user_error(exc: BaseException):
    import gradio as gr

    if isinstance(exc, UserInputError) and exc.path:
        return gr.Error(f"{Path(exc.path).name}: {exc.message}")  # not the server's temp path
    if isinstance(exc, DigitalHumanError):
        return gr.Error(str(exc))
    return gr.Error(f"unexpected {type(exc).__name__}: {exc}")
