"""Architectures. ``ARCHITECTURES`` maps a name to a builder ``(input_shape, n_outputs, **hp)``."""

from benchmark.models import convnet as _convnet  # noqa: F401  (registers "convnet")
from benchmark.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from benchmark.models import public_zoos as _public_zoos  # noqa: F401  (registers "small_cnn_zoo", "model_zoos_cnn")
from benchmark.models import resnet as _resnet  # noqa: F401  (registers "cifar_resnet")
from benchmark.models import timm_models as _timm  # noqa: F401  (registers "timm")
from benchmark.models.base import (
    ARCHITECTURES,
    WeightsMismatchError,
    build_for_state,
    build_model,
    check_fits,
    load_state,
    record_module,
    state_to_numpy,
)

__all__ = [
    "ARCHITECTURES",
    "WeightsMismatchError",
    "build_for_state",
    "build_model",
    "check_fits",
    "load_state",
    "record_module",
    "state_to_numpy",
]
