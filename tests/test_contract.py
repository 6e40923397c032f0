"""Every registered engine honours the stage contract, and the CLI, the web UI and the registry agree."""
import dataclasses

import pytest

from pipelines import registry
from pipelines.apps.cli import build_parser
from pipelines.errors import UserInputError
from pipelines.stages import ASR, LLM, TTS, LipSync

PROTOCOLS = {"asr": ASR, "llm": LLM, "tts": TTS, "lipsync": LipSync}
ALL = [(kind, name) for kind in registry.REGISTRY for name in registry.names(kind)]


@pytest.mark.parametrize("kind, name", ALL)
def test_engine_has_a_frozen_config_and_builds_lazily(kind, name):
    cls = registry.engine_class(kind, name)
    assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen
    try:
        engine = cls(cls.Config())
    except UserInputError as exc:  # engines that need the user's own file say so at once
        assert "checkpoint" in str(exc)
        return
    assert isinstance(engine, PROTOCOLS[kind])
    loaded = [a for a in ("_model", "_llm") if getattr(engine, a, None) is not None]
    assert not loaded, f"{kind}/{name} loaded a model before its first use"


def test_every_kind_has_a_registered_default():
    assert set(registry.DEFAULTS) == set(registry.REGISTRY)


def test_cli_offers_exactly_the_registry_names_for_every_stage():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command, kind in (("transcribe", "asr"), ("reply", "llm"), ("chat", "llm"), ("say", "tts"),
                          ("render", "lipsync")):
        engine = next(a for a in sub[command]._actions if a.dest == "engine")
        assert list(engine.choices) == registry.names(kind), command


def test_web_ui_offers_exactly_the_registry_names_for_every_stage():
    from pipelines.config import load_config
    from pipelines.apps.web import build_app

    app = build_app(load_config())
    offered = [[v for v, _ in c["props"]["choices"]] for c in app.config["components"]
               if c.get("type") == "dropdown"]
    for kind in registry.REGISTRY:
        assert registry.names(kind) in offered, kind
