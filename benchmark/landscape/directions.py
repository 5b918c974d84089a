"""Random directions in weight space (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets").

A direction is a dict ``name -> tensor`` shaped like the model's parameters. Normalisations:

- ``filter``: for every filter (slice along the first axis) of a parameter with ndim >= 2,
  scale the random slice to the norm of the weight slice: ``d_i <- d_i * ||w_i|| / ||d_i||``.
  For a linear layer a filter is one output neuron's incoming weights.
- ``layer``: the same per parameter tensor.
- ``model``: one scale for the whole vector, ``||d|| = ||w||`` over the included parameters.
- ``none``: plain N(0, 1) entries.

Excluded parameters (by default biases and normalisation-layer parameters, as Li et al.'s
``ignore='biasbn'``) get a zero direction: they stay at their trained values.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

NORMALIZATIONS = ("filter", "layer", "model", "none")
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
EPS = 1e-10


def perturbable_parameters(model: nn.Module, include_bias: bool = False, include_norm: bool = False) -> dict[str, bool]:
    """``name -> whether the direction moves it`` for every parameter, in registration order."""
    norm_params = {
        f"{mod_name}.{p_name}" if mod_name else p_name
        for mod_name, module in model.named_modules()
        if isinstance(module, NORM_LAYERS)
        for p_name, _ in module.named_parameters(recurse=False)
    }
    out = {}
    for name, p in model.named_parameters():
        if name in norm_params:
            out[name] = include_norm
        elif p.ndim <= 1:
            out[name] = include_bias
        else:
            out[name] = True
    return out


def random_direction(
    params: Mapping[str, torch.Tensor],
    include: Mapping[str, bool],
    generator: torch.Generator,
    normalization: str = "filter",
) -> dict[str, torch.Tensor]:
    """One seeded Gaussian direction, normalised against ``params``.

    Entries are drawn for every parameter in order (excluded ones too, then zeroed) so the
    direction of an included parameter does not depend on which others are excluded.
    """
    draws = {name: torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device) for name, w in params.items()}
    return normalize_direction(draws, params, include, normalization)


def direction_norm(direction: Mapping[str, torch.Tensor]) -> float:
    """Euclidean norm of the whole direction vector."""
    return float(torch.sqrt(sum((v.double() ** 2).sum() for v in direction.values())))


def flatten(direction: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The direction as one float64 vector, in the mapping's order."""
    return torch.cat([v.reshape(-1).double() for v in direction.values()])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`flatten`: split ``vector`` into tensors shaped (and typed) like ``like``."""
    out, start = {}, 0
    for name, t in like.items():
        out[name] = vector[start : start + t.numel()].reshape(t.shape).to(device=t.device, dtype=t.dtype).clone()
        start += t.numel()
    if start != vector.numel():
        raise ValueError(f"a vector of {vector.numel()} entries does not fit parameters of {start} entries.")
    return out


def orthogonalize(directions: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Gram-Schmidt (twice, in float64) in the order given; each result is rescaled to the norm
    its input had, so the normalisation's scale is kept while the directions become exactly
    orthogonal. (Per-filter norms then hold only approximately.)"""
    basis: list[torch.Tensor] = []
    out = []
    for d in directions:
        v = flatten(d)
        norm = v.norm()
        for _ in range(2):
            for b in basis:
                v = v - (v @ b) * b
        if v.norm() <= 1e-12 * max(float(norm), 1e-300):
            raise ValueError("landscape directions are linearly dependent; they cannot be orthogonalised.")
        unit = v / v.norm()
        basis.append(unit)
        out.append(unflatten(unit * norm, d))
    return out


def normalize_direction(
    direction: Mapping[str, torch.Tensor],
    params: Mapping[str, torch.Tensor],
    include: Mapping[str, bool],
    normalization: str,
) -> dict[str, torch.Tensor]:
    """Rescale a given direction (e.g. a Hessian eigenvector) as :func:`random_direction` rescales
    its Gaussian draws; excluded parameters are zeroed."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"landscape.normalization={normalization!r} is unknown; use one of {NORMALIZATIONS}.")
    d = {}
    for name, w in params.items():
        r = direction[name].detach().clone().to(w.dtype)
        if not include[name]:
            r.zero_()
        elif normalization == "filter" and w.ndim > 1:
            wn = w.reshape(w.shape[0], -1).norm(dim=1)
            rn = r.reshape(r.shape[0], -1).norm(dim=1)
            r.mul_((wn / (rn + EPS)).reshape(-1, *([1] * (w.ndim - 1))))
        elif normalization in ("filter", "layer"):
            r.mul_(w.norm() / (r.norm() + EPS))
        d[name] = r
    if normalization == "model":
        w_norm = torch.sqrt(sum((params[n] ** 2).sum() for n in params if include[n]))
        d_norm = torch.sqrt(sum((v**2).sum() for v in d.values()))
        for v in d.values():
            v.mul_(w_norm / (d_norm + EPS))
    return d
