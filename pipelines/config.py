"""TOML configuration: one section per stage kind, per-engine option tables, CLI overrides.

    [asr]
    engine = "whisper"          # which engine of the registry
    [asr.whisper]               # options for that engine (its Config dataclass)
    model = "base"

`--set asr.engine=faster-whisper --set asr.whisper.model=tiny` overrides a loaded file.
"""
from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .errors import ConfigError, UserInputError

APP_KEYS = {"app": {"persona"}}


@dataclass(frozen=True)
class StageChoice:
    kind: str
    engine: str
    options: dict


def default_config() -> dict:
    return {kind: {"engine": name} for kind, name in registry.DEFAULTS.items()}


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> dict:
    config = default_config()
    if path is not None:
        _merge(config, read_toml(path, "config file"))
    for item in overrides or []:
        _merge(config, parse_override(item))
    validate(config)
    return config


def read_toml(path: str | os.PathLike, what: str = "file") -> dict:
    """A user's TOML file, or an error that names it and says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{what} not found", path=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"not valid TOML: {exc}", path=path) from None


def parse_override(item: str) -> dict:
    """`a.b.c=value` -> {"a": {"b": {"c": value}}}; the value is read as TOML, else as a string."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{item}' must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    parts = [p.strip() for p in key.split(".")]
    out: dict = {}
    node = out
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def _merge(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def validate(config: dict) -> None:
    for section, body in config.items():
        if section in APP_KEYS:
            unknown = set(body) - APP_KEYS[section]
            if unknown:
                raise ConfigError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}; "
                                  f"valid: {', '.join(sorted(APP_KEYS[section]))}")
            continue
        if section not in registry.REGISTRY:
            valid = ", ".join(list(registry.REGISTRY) + list(APP_KEYS))
            raise ConfigError(f"unknown config section [{section}]; valid sections: {valid}")
        if not isinstance(body, dict):
            raise ConfigError(f"[{section}] must be a table")
        for key, value in body.items():
            if key == "engine":
                registry.entry(section, value)
            elif isinstance(value, dict):
                registry.entry(section, key)  # options table must name a real engine
            else:
                raise ConfigError(f"[{section}] {key}: engine options go in a [{section}.<engine>] table")


def stage_choice(config: dict, kind: str) -> StageChoice:
    body = config.get(kind, {})
    engine = body.get("engine") or registry.DEFAULTS.get(kind)
    if engine is None:
        raise ConfigError(f"no {kind} engine configured; valid choices: {', '.join(registry.names(kind))}")
    return StageChoice(kind, engine, dict(body.get(engine, {})))


def build_stage(config: dict, kind: str):
    choice = stage_choice(config, kind)
    return registry.build(kind, choice.engine, **choice.options)
