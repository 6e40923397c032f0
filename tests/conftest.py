import csv
import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("DH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def read_tsv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"real test media not found at {SHARED}; set DH_SHARED_DATA")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests write derived files under tmp, except the assembled Whisper (shared to keep the suite fast)."""
    monkeypatch.setenv("DH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dh-cache"))


def tone(seconds: float = 1.0, sr: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
