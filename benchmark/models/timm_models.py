"""Any timm architecture, created with ``pretrained=False`` (no download)."""

from __future__ import annotations

import timm
from timm.layers import set_fused_attn
from torch import nn

from benchmark.models.base import ARCHITECTURES


@ARCHITECTURES.register("timm")
def timm_model(
    input_shape: tuple[int, ...], n_outputs: int, model_name: str = "resnet10t", timm_kwargs: dict | None = None
) -> nn.Module:
    """``timm.create_model(model_name, pretrained=False, num_classes=n_outputs, in_chans=C, **timm_kwargs)``.

    Images only: ``input_shape`` is (C, H, W). Attention is built unfused (see below). Vision
    transformers get ``img_size`` = the input size and ``patch_size`` = 1/4 of its side (a 4x4
    patch grid) unless ``timm_kwargs`` sets them.
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"timm models need image input (C, H, W), got {tuple(input_shape)}; set dataset.flatten=false."
        )
    if model_name not in timm.list_models():
        close = timm.list_models(f"*{model_name.split('_')[0]}*")[:8]
        raise ValueError(f"timm has no model {model_name!r}; similar names: {close}.")
    kwargs = dict(timm_kwargs or {})
    # fused scaled-dot-product attention has no second derivative on CPU; Hessian-vector products
    # need the plain softmax(QK^T)V form, which computes the same function
    set_fused_attn(False)
    if "vit" in model_name or "deit" in model_name:
        # vision transformers fix their patch grid at creation: size it to the input
        kwargs.setdefault("img_size", tuple(input_shape[1:]))
        kwargs.setdefault("patch_size", max(1, min(input_shape[1:]) // 4))
    return timm.create_model(model_name, pretrained=False, num_classes=n_outputs, in_chans=input_shape[0], **kwargs)
