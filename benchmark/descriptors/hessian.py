"""Hessian curvature at the trained weights: lambda_max and trace."""

from __future__ import annotations

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor


@register_descriptor("hessian")
class Hessian(Descriptor):
    """``lambda_max`` (largest Hessian eigenvalue, Lanczos) and ``trace`` (Hutchinson).

    Settings (batch, iterations, probes) live in the ``curvature`` config group.
    """

    kind = "curvature"
    requires = ("curvature",)
    version = "1"

    def __init__(self) -> None:
        pass

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return ["lambda_max", "trace"]

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        c = inputs.curvature
        assert c is not None
        if c.note:
            raise UndefinedFeatureError(c.note)
        return {"lambda_max": c.lambda_max, "trace": c.trace}
