"""Where derived files (assembled weights, caches) live: $DH_CACHE_DIR or ~/.cache/digital-human."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("DH_CACHE_DIR") or Path.home() / ".cache" / "digital-human")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
