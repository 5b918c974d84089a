"""Any timm architecture, created with ``pretrained=False`` (no download).

Nothing a config or a manifest passes may make timm read weights or configs itself: keyword
arguments that name pretrained weights, a checkpoint, a cache or a hub (:func:`loading_kwargs`)
are refused, since timm would open any path or address they give, outside the manifest folder a
manifest's checkpoints are confined to. Weights come from training or from a manifest's own
state-dict checkpoints, loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.base import ARCHITECTURES

LOADING_KWARGS = frozenset(
    {
        "pretrained",
        "pretrained_cfg",
        "pretrained_cfg_overlay",
        "pretrained_strict",
        "pretrained_filter_fn",
        "checkpoint_path",
        "checkpoint_filter_fn",
        "cache_dir",
    }
)
"""``timm.create_model`` arguments that load pretrained weights, a checkpoint or a config from a
file, a cache or the network (timm 1.0). :func:`loading_kwargs` also refuses names of the same
shapes (``pretrained*``, ``checkpoint*``, ``*_path``, ``*_dir``, ``*_file``, ``*_url``, ``*hub*``),
for arguments a later timm adds."""


def loading_kwargs(timm_kwargs: Mapping[str, Any] | None) -> list[str]:
    """The keys of ``timm_kwargs`` that would make timm open a file or the network, sorted."""
    return sorted(
        str(k)
        for k in (timm_kwargs or {})
        if str(k) in LOADING_KWARGS
        or str(k).startswith(("pretrained", "checkpoint"))
        or str(k).endswith(("_path", "_dir", "_file", "_url"))
        or "hub" in str(k)
    )


def loading_kwargs_message(keys: list[str]) -> str:
    """Why ``keys`` of ``timm_kwargs`` are refused, and the fix."""
    return (
        f"timm_kwargs {keys} would make timm load weights or a config from a file or the network, "
        "outside the folders this benchmark reads; refused. Remove them: models are built with random "
        "weights (pretrained=False), and a manifest model's weights come from its own checkpoint "
        "(a state dict inside the manifest's folder)."
    )


@ARCHITECTURES.register("timm")
def timm_model(
    input_shape: tuple[int, ...], n_outputs: int, model_name: str = "resnet10t", timm_kwargs: dict | None = None
) -> nn.Module:
    """``timm.create_model(model_name, pretrained=False, num_classes=n_outputs, in_chans=C, **timm_kwargs)``.

    Images only: ``input_shape`` is (C, H, W). Attention is built unfused (see below). Vision
    transformers get ``img_size`` = the input size and ``patch_size`` = 1/4 of its side (a 4x4
    patch grid) unless ``timm_kwargs`` sets them. ``timm_kwargs`` that would load weights or a
    config (:func:`loading_kwargs`) raise a ``ConfigError`` (a ``ValueError``).
    """
    import timm  # here, not with the package: timm (and the torchvision it imports) take seconds
    from timm.layers import set_fused_attn

    if len(input_shape) != 3:
        raise ValueError(
            f"timm models need image input (C, H, W), got {tuple(input_shape)}; set dataset.flatten=false."
        )
    if model_name not in timm.list_models():
        close = timm.list_models(f"*{str(model_name).split('_')[0]}*")[:8]
        raise ValueError(f"timm has no model {model_name!r}; similar names: {close}.")
    if timm_kwargs is not None and not isinstance(timm_kwargs, Mapping):
        raise ValueError(f"timm_kwargs={timm_kwargs!r} is not a mapping of keyword arguments; give an object.")
    refused = loading_kwargs(timm_kwargs)
    if refused:
        raise ConfigError(loading_kwargs_message(refused))
    kwargs = dict(timm_kwargs or {})
    # fused scaled-dot-product attention has no second derivative on CPU; Hessian-vector products
    # need the plain softmax(QK^T)V form, which computes the same function
    set_fused_attn(False)
    if "vit" in model_name or "deit" in model_name:
        # vision transformers fix their patch grid at creation: size it to the input
        kwargs.setdefault("img_size", tuple(input_shape[1:]))
        kwargs.setdefault("patch_size", max(1, min(input_shape[1:]) // 4))
    return timm.create_model(model_name, pretrained=False, num_classes=n_outputs, in_chans=input_shape[0], **kwargs)
