"""One rule for "auto" devices: CUDA when PyTorch sees a GPU, else the CPU."""
from __future__ import annotations


def torch_device(name: str = "auto") -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
