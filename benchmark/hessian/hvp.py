"""Hessian-vector products by double backpropagation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

MatVec = Callable[[torch.Tensor], torch.Tensor]


class TwiceDifferentiableHardsigmoid(nn.Module):
    """``relu6(x + 3) / 6``: the function ``nn.Hardsigmoid`` computes (torch's kernel evaluates
    the same ``min(max(x + 3, 0), 6) / 6``), built from operations torch differentiates twice.
    torch has no derivative of hardsigmoid's backward, so a Hessian-vector product through the
    hard-sigmoid gates of MobileNetV3, LCNet or GhostNet fails without it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(x + 3.0) / 6.0


def twice_differentiable(model: nn.Module) -> nn.Module:
    """``model`` with every ``nn.Hardsigmoid`` submodule replaced, in place, by
    :class:`TwiceDifferentiableHardsigmoid` (the same function); returns ``model``."""
    for name in [name for name, m in model.named_modules() if name and isinstance(m, nn.Hardsigmoid)]:
        model.set_submodule(name, TwiceDifferentiableHardsigmoid())
    return model


def make_hvp(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]) -> tuple[MatVec, int]:
    """``(v -> H v, n)`` for the Hessian H of ``loss(model)`` (a scalar) w.r.t. all trainable
    parameters, flattened in ``named_parameters`` order; ``n`` is their count.

    The model runs in eval mode on the fixed batch, made :func:`twice_differentiable` (in place);
    the gradient graph is built once and reused by every product (one backward pass per product).
    The model and the batch may be on any device; ``v`` and ``H v`` are on the CPU, where the
    Lanczos and Hutchinson vectors live.
    """
    twice_differentiable(model).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(model), params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    n = flat_grad.numel()

    def hvp(v: torch.Tensor) -> torch.Tensor:
        v = v.to(device=flat_grad.device, dtype=flat_grad.dtype)
        hv = torch.autograd.grad(flat_grad, params, grad_outputs=v, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).detach().cpu()

    return hvp, n


def make_micro_batch_hvp(
    model: nn.Module, parts: Sequence[tuple[float, Callable[[nn.Module], torch.Tensor]]]
) -> tuple[MatVec, int]:
    """``(v -> H v, n)`` for ``H`` the Hessian of ``sum_b w_b loss_b(model)`` over ``parts`` of
    ``(w_b, loss_b)`` (a mean loss split into micro-batches, ``w_b`` their shares of the examples):
    each product runs every micro-batch's forward and double backward in turn and sums, so memory
    holds one micro-batch's graph, at about twice the time of :func:`make_hvp`'s products, whose
    single graph is built once. Equal to :func:`make_hvp` on the whole batch up to float rounding
    (the model, too, made :func:`twice_differentiable` and put in eval mode)."""
    twice_differentiable(model).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    on = params[0].device if params else torch.device("cpu")

    def hvp(v: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(n, dtype=params[0].dtype, device=on)
        pieces = v.to(device=on, dtype=total.dtype).split([p.numel() for p in params])
        vs = [piece.reshape(p.shape) for piece, p in zip(pieces, params, strict=True)]
        for weight, loss in parts:
            grads = torch.autograd.grad(loss(model), params, create_graph=True)
            hv = torch.autograd.grad(grads, params, grad_outputs=vs)
            total.add_(torch.cat([h.reshape(-1) for h in hv]), alpha=weight)
        return total.detach().cpu()

    return hvp, n


def parameter_blocks(model: nn.Module) -> list[tuple[str, slice]]:
    """``(layer, slice)`` per module owning trainable parameters, in the flat order of
    :func:`make_hvp`; a layer is the module that owns the tensors (``"3"`` for ``3.weight`` and
    ``3.bias``), the root module is ``"<root>"``."""
    blocks: list[tuple[str, slice]] = []
    start = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        layer = name.rpartition(".")[0] or "<root>"
        if blocks and blocks[-1][0] == layer and blocks[-1][1].stop == start:
            blocks[-1] = (layer, slice(blocks[-1][1].start, start + p.numel()))
        else:
            blocks.append((layer, slice(start, start + p.numel())))
        start += p.numel()
    return blocks


def parameter_index(model: nn.Module, names: set[str]) -> torch.Tensor:
    """Flat indices (in the order of :func:`make_hvp`) of the trainable parameters in ``names``."""
    parts, start = [], 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in names:
            parts.append(torch.arange(start, start + p.numel()))
        start += p.numel()
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
