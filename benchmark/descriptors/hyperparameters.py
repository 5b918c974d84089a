"""Reference row: the hyperparameters themselves (not a landscape measure)."""

from __future__ import annotations

import math

from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor


@register_descriptor("hyperparameters")
class Hyperparameters(Descriptor):
    """Every numeric hyperparameter of the model except the seed, as features.

    A reference, not a competitor: a descriptor that only re-encodes a hyperparameter scores
    about as well as this row, which tells the reader what "predicts accuracy" is worth here.
    """

    kind = "reference"
    requires = ("model",)
    version = "1"

    def __init__(self) -> None:
        pass

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        out = {}
        for k, v in sorted(inputs.model.hparams.items()):
            if k == "seed" or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            out[k] = float(v) if math.isfinite(float(v)) else math.nan
        return out
