import subprocess
import sys

import pytest

from pipelines import config as cfg
from pipelines import registry
from pipelines.apps.cli import build_parser
from pipelines.errors import ConfigError, MissingDependency, UserInputError
from pipelines.stages import ASR, KINDS


def test_every_kind_has_a_table_and_defaults_are_registered():
    assert set(registry.REGISTRY) == set(KINDS)
    for kind, name in registry.DEFAULTS.items():
        registry.entry(kind, name)


def test_unknown_engine_lists_valid_choices():
    with pytest.raises(ConfigError) as err:
        registry.entry("asr", "nope")
    for name in registry.names("asr"):
        assert name in str(err.value)


def test_unknown_kind_lists_kinds():
    with pytest.raises(ConfigError, match="asr, llm, tts, lipsync"):
        registry.names("vision")


def test_missing_extra_names_the_pip_command(monkeypatch):
    fake = registry.Engine("no_such_pkg.mod:Cls", "fancy", ("no_such_pkg",), "test")
    monkeypatch.setitem(registry.REGISTRY["asr"], "fancy", fake)
    with pytest.raises(MissingDependency, match=r'pip install "digital-human\[fancy\]"'):
        registry.build("asr", "fancy")


def test_unknown_option_is_named_with_valid_options():
    with pytest.raises(ConfigError) as err:
        registry.make_config("asr", "whisper", {"modle": "base"})
    assert "modle" in str(err.value) and "model" in str(err.value)


def test_bad_option_value_is_a_config_error():
    with pytest.raises(ConfigError, match="chinese"):
        registry.make_config("asr", "faster-whisper", {"chinese": "klingon"})


@pytest.mark.parametrize("options, message", [
    ({"noise_scale": "loud"}, "noise_scale must be a number, got 'loud'"),   # float | None
    ({"seed": True}, "seed must be a whole number, got True"),               # true/false is not a number
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"voice": 3}, "voice must be a string"),
])
def test_an_option_of_the_wrong_type_is_named_before_anything_runs(options, message):
    with pytest.raises(ConfigError, match=message):
        registry.make_config("tts", "vits-onnx", options)
    assert registry.make_config("tts", "vits-onnx", {"noise_scale": 1}).noise_scale == 1   # an int is a number


def test_engines_satisfy_the_protocol_without_loading_models():
    for name in registry.names("asr"):
        engine = registry.engine_class("asr", name)()
        assert isinstance(engine, ASR)
        assert engine._model is None  # lazy: nothing loaded until first use


def test_build_shares_one_instance_per_options():
    a = registry.build("asr", "whisper", language="en")
    assert registry.build("asr", "whisper", language="en") is a
    assert registry.build("asr", "whisper", language="zh") is not a


def test_cli_choices_match_registry():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    engine = next(a for a in sub.choices["transcribe"]._actions if a.dest == "engine")
    assert list(engine.choices) == registry.names("asr")


def test_help_and_registry_work_without_heavy_imports():
    code = ("import sys; from pipelines.apps.cli import main\n"
            "main(['engines'])\n"
            "heavy = [m for m in ('torch', 'whisper', 'faster_whisper', 'gradio', 'ctranslate2') if m in sys.modules]\n"
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "faster-whisper" in out.stdout and "[default]" in out.stdout


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "dh.toml"
    path.write_text('[asr]\nengine = "whisper"\n[asr.whisper]\nlanguage = "en"\nbeam_size = 3\n')
    conf = cfg.load_config(path, ["asr.whisper.beam_size=5", "asr.whisper.chinese=as-is"])
    choice = cfg.stage_choice(conf, "asr")
    assert choice.engine == "whisper"
    assert choice.options == {"language": "en", "beam_size": 5, "chinese": "as-is"}
    conf = cfg.load_config(path, ["asr.engine=faster-whisper"])
    assert cfg.stage_choice(conf, "asr").engine == "faster-whisper"


@pytest.mark.parametrize("text, message", [
    ("[vision]\nengine='x'\n", "unknown config section"),
    ("[asr]\nengine='nope'\n", "valid choices"),
    ("[asr]\nbeam_size=3\n", r"\[asr.<engine>\]"),
    ("[asr.bogus]\nx=1\n", "unknown asr engine 'bogus'"),
])
def test_bad_config_is_explained(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        cfg.load_config(path)


def test_unreadable_config_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[asr\n")
    with pytest.raises(UserInputError, match="broken.toml: not valid TOML"):
        cfg.load_config(path)
    with pytest.raises(UserInputError, match="missing.toml: config file not found"):
        cfg.load_config(tmp_path / "missing.toml")


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    from pipelines.apps.cli import main

    assert main(["--set", "asr.engine=nope", "engines"]) == 2
    err = capsys.readouterr().err
    assert "valid choices" in err and "Traceback" not in err
