"""Which torch device a run uses: "auto" or an explicit name, checked against what this machine has."""

from __future__ import annotations

import re

import torch

# At most 4 digits: no machine has 10,000 GPUs, and int() of a 5,000-digit index raises.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,4})?)$")


class DeviceError(ValueError):
    """The requested device does not exist here; the message says what to use instead."""


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" picks cuda, then mps, then cpu; an explicit name must exist on this machine."""
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise DeviceError(f"device must be auto, cpu, cuda, cuda:N or mps; got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise DeviceError(f"device {device} is not available: this machine has {have}; use --device cpu or auto")
    if device == "mps" and not _mps_available():
        raise DeviceError("device mps is not available on this machine; use --device cpu or auto")
    return torch.device(device)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()
