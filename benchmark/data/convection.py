"""Points for the 1-D convection equation (Krishnapriyan et al. 2021).

    u_t + beta u_x = 0,   x in [0, 2 pi) periodic,  t in [0, 1],  u(x, 0) = sin x,
    exact solution u(x, t) = sin(x - beta t).

The points do not depend on beta (a model hyperparameter): collocation points drawn uniformly
(seeded), initial-condition points on t = 0, boundary points paired at x = 0 and x = 2 pi, and the
evaluation grid on which errors against the exact solution are measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from benchmark.data.base import DATASETS


@dataclass(frozen=True)
class ConvectionPoints:
    """All tensors are float32; points are rows ``(x, t)``."""

    collocation: torch.Tensor  # (n_collocation, 2)
    initial: torch.Tensor  # (n_initial, 2), t = 0
    initial_u: torch.Tensor  # (n_initial,) = sin x
    boundary_left: torch.Tensor  # (n_boundary, 2), x = 0
    boundary_right: torch.Tensor  # (n_boundary, 2), x = 2 pi, same t
    eval_x: torch.Tensor  # (nx,)
    eval_t: torch.Tensor  # (nt,)

    @property
    def eval_points(self) -> torch.Tensor:
        """The evaluation grid as rows (x, t), x varying slowest: shape (nx * nt, 2)."""
        xx, tt = torch.meshgrid(self.eval_x, self.eval_t, indexing="ij")
        return torch.stack([xx.reshape(-1), tt.reshape(-1)], dim=1)


def exact_solution(x: torch.Tensor, t: torch.Tensor, beta: float) -> torch.Tensor:
    """u(x, t) = sin(x - beta t)."""
    return torch.sin(x - beta * t)


@DATASETS.register("convection")
def convection(
    n_collocation: int = 1000, n_initial: int = 256, n_boundary: int = 100, nx: int = 256, nt: int = 100, seed: int = 0
) -> ConvectionPoints:
    for name, v in {
        "n_collocation": n_collocation,
        "n_initial": n_initial,
        "n_boundary": n_boundary,
        "nx": nx,
        "nt": nt,
    }.items():
        if v < 2:
            raise ValueError(f"dataset.{name}={v} is too small; use at least 2.")
    g = torch.Generator().manual_seed(seed)
    two_pi = 2 * math.pi
    col = torch.rand(n_collocation, 2, generator=g) * torch.tensor([two_pi, 1.0])
    x0 = torch.linspace(0, two_pi, n_initial + 1)[:-1]
    initial = torch.stack([x0, torch.zeros_like(x0)], dim=1)
    tb = torch.linspace(0, 1, n_boundary)
    left = torch.stack([torch.zeros_like(tb), tb], dim=1)
    right = torch.stack([torch.full_like(tb, two_pi), tb], dim=1)
    return ConvectionPoints(
        collocation=col,
        initial=initial,
        initial_u=torch.sin(x0),
        boundary_left=left,
        boundary_right=right,
        eval_x=torch.linspace(0, two_pi, nx + 1)[:-1],
        eval_t=torch.linspace(0, 1, nt),
    )
