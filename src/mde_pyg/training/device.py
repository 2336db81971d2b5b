"""Choosing and naming the device a run trains on."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when available; asking for an absent CUDA device
    is an error rather than a silent fallback to the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device='{device}' is not a device (expected auto, cpu, cuda or "
            "cuda:<index>)"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device='{device}' but CUDA is not available; use device=cpu or auto"
        )
    return resolved


def device_name(device: torch.device) -> str:
    """``device`` with its hardware name, e.g. ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = (
            device.index if device.index is not None else torch.cuda.current_device()
        )
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
