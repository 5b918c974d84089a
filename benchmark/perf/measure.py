"""Timing, forward FLOP counts and the machine's fp32 matmul peak."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmark.zoo import Objective


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), wall seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def forward_flops(model: torch.nn.Module, objective: Objective) -> int:
    """FLOPs of one evaluation of ``objective`` at the model's weights, counted by PyTorch's
    ``FlopCounterMode`` (matrix products and convolutions; elementwise work is not counted)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        objective(model)
    model.train(was_training)
    return int(counter.get_total_flops())


def synchronized(fn: Callable[[], Any], where: torch.device) -> Callable[[], Any]:
    """``fn`` followed by waiting for ``where``'s queued work (a GPU runs asynchronously), so that
    :func:`timed` measures the work, not its launch."""
    if where.type == "cpu":
        return fn
    sync = torch.cuda.synchronize if where.type == "cuda" else torch.mps.synchronize

    def run() -> Any:
        out = fn()
        sync()
        return out

    return run


def matmul_peak(size: int = 2048, repeats: int = 5, where: torch.device | None = None) -> float:
    """Best fp32 GFLOP/s of ``torch.mm`` on two ``size x size`` matrices on ``where`` (default the
    CPU, at the current thread count)."""
    where = where or torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(where)
    b = torch.randn(size, size, generator=g).to(where)
    mm = synchronized(lambda: torch.mm(a, b), where)
    mm()  # warm-up
    best = min(timed(mm)[1] for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9
