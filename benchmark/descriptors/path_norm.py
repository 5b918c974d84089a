"""Data-free baseline: the path norm (Neyshabur et al. 2015; Jiang et al. 2020's path.norm)."""

from __future__ import annotations

import math

import torch
from torch import nn

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.models import build_model, load_state

# leaf modules through which f_{w^2}(1) equals the sum over paths of squared weight products
PATH_LINEAR = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.ReLU,
    nn.Identity,
    nn.Flatten,
    nn.Dropout,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
)


@register_descriptor("path_norm")
class PathNorm(Descriptor):
    """``log_path_norm`` = ``log sum_outputs f_{w^2}(1)``: the network with every weight squared
    and biases set to zero, applied to an input of ones (Jiang et al. 2020, eq. 43). Defined for
    ReLU networks of linear, convolution and pooling layers (residual additions included);
    undefined (NaN, with the reason) for networks with normalisation layers or other activations.
    """

    kind = "baseline"
    requires = ("model",)
    version = "1"

    def __init__(self) -> None:
        pass

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return ["log_path_norm"]

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        record = inputs.model
        model = load_state(build_model(record.architecture), record.state, record.model_id).double().eval()
        other = sorted(
            {type(m).__name__ for m in model.modules() if not list(m.children()) and not isinstance(m, PATH_LINEAR)}
        )
        if other:
            raise UndefinedFeatureError(f"the path norm is defined here for ReLU networks; this one has {other}")
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p**2 if p.ndim >= 2 else torch.zeros_like(p))
            x = torch.ones(1, *record.architecture["input_shape"], dtype=torch.float64)
            total = float(model(x).sum())
        if not total > 0 or not math.isfinite(total):
            raise UndefinedFeatureError(f"f_(w^2)(1) = {total} has no logarithm (diverged or dead network)")
        return {"log_path_norm": math.log(total)}
