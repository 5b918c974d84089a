"""Architecture registry and conversions between modules and stored weights."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.records import ModelRecord
from benchmark.registry import Registry

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")


def architecture_kwargs(name: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``hparams`` that architecture ``name``'s builder takes."""
    builder = ARCHITECTURES.get(name)
    params = inspect.signature(builder).parameters
    return {k: hparams[k] for k in params if k in hparams and k not in ("input_shape", "n_outputs")}


def architecture_spec(
    name: str, input_shape: Sequence[int], n_outputs: int, hparams: Mapping[str, Any]
) -> dict[str, Any]:
    """The spec :func:`build_model` takes: the builder's name, input shape, outputs, and the
    hyperparameters that builder uses."""
    return {
        "name": name,
        "input_shape": [int(d) for d in input_shape],
        "n_outputs": int(n_outputs),
        **architecture_kwargs(name, hparams),
    }


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """Build the module described by an architecture spec ``{"name", "input_shape", "n_outputs", ...}``."""
    spec = dict(spec)
    builder = ARCHITECTURES.get(spec.pop("name"))
    input_shape = tuple(spec.pop("input_shape"))
    n_outputs = int(spec.pop("n_outputs"))
    return builder(input_shape=input_shape, n_outputs=n_outputs, **spec)


def state_to_numpy(module: nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as numpy arrays (copies), in ``state_dict`` order."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


class WeightsMismatchError(ValueError):
    """Stored or handed-in weights are not the tensors of the architecture they are loaded into."""


def check_fits(module: nn.Module, state: Mapping[str, Any], model_id: str = "?") -> None:
    """A :class:`WeightsMismatchError` naming the model and the tensors when ``state`` (arrays or
    tensors, by name) is not ``module``'s set of tensors and shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        raise WeightsMismatchError(
            f"weights of model {model_id!r} do not fit its architecture: missing {missing}, "
            f"unexpected {unexpected}, shape mismatch {shapes}. Check the architecture spec."
        )


def load_state(module: nn.Module, state: Mapping[str, np.ndarray], model_id: str = "?") -> nn.Module:
    """Load stored weights into ``module``; a mismatch names the model and the tensors."""
    check_fits(module, state, model_id)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return module


def build_for_state(spec: Mapping[str, Any], state: Mapping[str, np.ndarray], model_id: str = "?") -> nn.Module:
    """The module of ``spec`` with ``state`` loaded, for weights handed in from outside (a
    manifest). The architecture is first built on torch's meta device, which has shapes and no
    memory, so a spec that does not fit the weights (a width of 10^12, say) fails with
    :func:`check_fits`'s error before anything is allocated. A builder that computes with its
    tensors while it builds cannot run there; it is then built for real and checked after."""
    try:
        with torch.device("meta"):
            skeleton = build_model(spec)
    except RuntimeError:  # NotImplementedError included: an op with no meta kernel
        skeleton = None
    if skeleton is not None:
        check_fits(skeleton, state, model_id)
    return load_state(build_model(spec), state, model_id)


def record_module(record: ModelRecord) -> nn.Module:
    """The trained module of a stored model record (architecture built, weights loaded)."""
    return load_state(build_model(record.architecture), record.state, record.model_id)
