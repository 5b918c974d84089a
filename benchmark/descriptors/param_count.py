"""Baseline: the number of parameters."""

from __future__ import annotations

from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor


@register_descriptor("param_count")
class ParamCount(Descriptor):
    """``n_params``: number of trainable parameters (buffers excluded). Data-free baseline."""

    kind = "baseline"
    requires = ("model",)
    version = "1"

    def __init__(self) -> None:
        pass

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        from benchmark.models import build_model

        module = build_model(inputs.model.architecture)
        return {"n_params": float(sum(p.numel() for p in module.parameters()))}
