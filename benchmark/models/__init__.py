"""Architectures. ``ARCHITECTURES`` maps a name to a builder ``(input_shape, n_outputs, **hp)``."""

from benchmark.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from benchmark.models.base import ARCHITECTURES, build_model, load_state, state_to_numpy

__all__ = ["ARCHITECTURES", "build_model", "load_state", "state_to_numpy"]
