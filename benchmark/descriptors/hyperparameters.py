"""Reference row: the hyperparameters themselves (not a landscape measure)."""

from __future__ import annotations

import math

from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor


@register_descriptor("hyperparameters")
class Hyperparameters(Descriptor):
    """Every numeric or boolean (as 0/1) hyperparameter of the model except the seed, as features.
    Categorical ones (an architecture or timm model name) are left out.

    A reference, not a competitor: a descriptor that only re-encodes a hyperparameter scores
    about as well as this row, which tells the reader what "predicts accuracy" is worth here.
    """

    kind = "reference"
    requires = ("model",)
    version = "2"

    def __init__(self) -> None:
        pass

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        out = {}
        for k, v in sorted(inputs.model.hparams.items()):
            if k == "seed" or not isinstance(v, (int, float)):  # bool is an int
                continue
            out[k] = float(v) if math.isfinite(float(v)) else math.nan
        return out
