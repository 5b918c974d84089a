"""Where models run: the ``device`` setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

Training, landscapes and curvature run their models on the run's device (:func:`current`, set by
:func:`using` around a run); stored weights, grids and spectra are always on the CPU. ``auto``
takes a CUDA GPU when torch sees one, else Apple's MPS, else the CPU. A device other than the CPU
joins the store keys of what it computes (:func:`key_part`), as a thread count other than one
does: float sums on another device round differently, so its results are kept apart, and results
computed on the CPU keep their keys and values.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch

CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""What ``device`` accepts (``cuda:N``: the N-th CUDA device)."""
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_CURRENT: ContextVar[torch.device | None] = ContextVar("device", default=None)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_problems(setting: Any) -> list[str]:
    """What is wrong with a ``device`` setting on this machine, one message each (empty: fine).
    Asking for an accelerator torch cannot see is an error here, before any work."""
    if not isinstance(setting, str) or not _PATTERN.match(setting):
        return [f"device={setting!r} is unknown; use one of {list(CHOICES)} (auto: an accelerator when present)."]
    kind, _, index = setting.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none"
            return [
                f"device={setting} asks for a CUDA GPU, but torch sees none on this machine (torch "
                f"{torch.__version__}, built for CUDA {built}); use device=cpu, or device=auto to take a GPU "
                "only when there is one."
            ]
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            return [f"device={setting}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}."]
    if kind == "mps" and not _mps_available():
        return ["device=mps asks for Apple's MPS backend, which torch does not see here; use device=cpu or auto."]
    return []


def resolve(setting: str) -> torch.device:
    """The torch device of a valid ``device`` setting (``auto``: CUDA, else MPS, else the CPU)."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    return torch.device(setting)


def of(cfg: Mapping[str, Any]) -> torch.device:
    """The device of a resolved config (``device`` absent: the CPU)."""
    return resolve(str(cfg.get("device") or "cpu"))


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def describe(device: torch.device) -> str:
    """The device type and its model: ``cuda (NVIDIA H200)``; for the CPU, also the vector
    instructions torch's kernels use (``cpu (Intel(R) Xeon(R) Processor, AVX512 kernels)``), which
    decide how floats round, so what trains to the same weights on two machines."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({cpu_name()}, {torch.backends.cpu.get_cpu_capability()} kernels)"
    return device.type


def key_part(device: torch.device) -> dict[str, str]:
    """What the device adds to a store key: nothing for the CPU (the reference), else its
    :func:`describe` (the type and model of the GPU, not its index: two GPUs of one model agree)."""
    return {} if device.type == "cpu" else {"device": describe(device)}


def current() -> torch.device:
    """The device the running stage puts its models on (the CPU outside :func:`using`)."""
    return _CURRENT.get() or torch.device("cpu")


@contextlib.contextmanager
def using(device: torch.device) -> Iterator[torch.device]:
    """Inside the block, :func:`current` is ``device``. On CUDA, cuBLAS is given the fixed workspace
    that torch's deterministic mode (which every run turns on) needs, unless the environment sets one."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    token = _CURRENT.set(device)
    try:
        yield device
    finally:
        _CURRENT.reset(token)


def moved(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor in it (nested in dicts, lists and tuples) on ``device``; other
    values as they are. On the tensor's own device, the tensor itself (no copy)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: moved(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(moved(v, device) for v in value)
    return value
