"""Hessian-vector products by double backpropagation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MatVec = Callable[[torch.Tensor], torch.Tensor]


def make_hvp(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]) -> tuple[MatVec, int]:
    """``(v -> H v, n)`` for the Hessian H of ``loss(model)`` (a scalar) w.r.t. all trainable
    parameters, flattened in ``named_parameters`` order; ``n`` is their count.

    The model runs in eval mode on the fixed batch; the gradient graph is built once and reused
    by every product (one backward pass per product).
    """
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(model), params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    n = flat_grad.numel()

    def hvp(v: torch.Tensor) -> torch.Tensor:
        v = v.to(flat_grad.dtype)
        hv = torch.autograd.grad(flat_grad, params, grad_outputs=v, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).detach()

    return hvp, n
