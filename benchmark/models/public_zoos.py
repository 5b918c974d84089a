"""The CNNs of two published model zoos, with their published parameter names and input preprocessing.

``small_cnn_zoo``: the network of the Small CNN Zoo (Unterthiner et al. 2020, "Predicting Neural
Network Accuracy from Weights", arXiv:2002.11448; ``build_cnn`` in google-research/google-research,
``dnn_predict_accuracy/train_network.py``). ``depth`` (3) Keras ``Conv2D`` layers of ``width`` (16)
filters, kernel 3, stride 2, ``valid`` padding, each followed by the activation, then global
average pooling and a dense layer to the classes: 4,970 parameters for 10 classes. The zoo's
images were scaled to [-1, 1] and averaged over their colour channels (``_preprocess_batch``:
``grayscale=True``), so the module maps this project's [0, 1] images the same way: ``2 x - 1``,
then the mean over channels when the input has more than one. Its weights arrive in Keras layout
(:data:`KERAS_NAMES`, :func:`from_keras`).

``model_zoos_cnn``: the CNNs of the Model Zoos (Schürholt et al. 2022, "Model Zoos: A Dataset of
Diverse Populations of Neural Network Models", NeurIPS Datasets and Benchmarks;
``code/model_definitions/def_net.py`` in ModelZoos/ModelZooDataset). ``variant="s"`` is CNN-s
(class ``CNN``, 28x28 input: conv 8@5x5, max-pool 2, act; conv 6@5x5, max-pool 2, act; conv 4@2x2,
act; flatten; linear 36->20, act; linear 20->classes: 2,464 parameters on one channel) and
``variant="l"`` is CNN-l (class ``CNN3``, 32x32 input: conv 16@3x3, conv 32@3x3, conv 15@3x3, each
with max-pool 2 and act; linear 60->20, act; linear 20->classes: 10,853 parameters on three
channels). Their layers sit in one ``module_list`` as published, so a checkpoint's state dict
loads unchanged: CNN-s has a ``Dropout`` module after each block only when ``dropout > 0``
(weights at ``module_list.{0,4,8,11,14}``, else ``{0,3,6,9,11}``), CNN-l always
(``{0,4,8,13,16}``). The zoos' images were normalised per channel with ``mean`` and ``std``
(``transforms.Normalize`` in the zoo generators) and, for CNN-s on 32x32 images, resized to 28x28;
the module does both (the resize as antialiased bilinear interpolation, close to the PIL resize
of the generators, not bit-identical with it).

Preprocessing constants are plain attributes, not buffers: the state dict holds exactly the
published parameters, and the first layer with weights sees an input no weight touches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.models.base import ARCHITECTURES

KERAS_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
    "linear": nn.Identity,
}
"""The Small CNN Zoo's activations (its ``--activation`` flag) as torch modules."""
MODEL_ZOOS_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "leakyrelu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}
"""The Model Zoos' ``model::nlin`` values (``CNN.get_nonlin`` in def_net.py) as torch modules."""
KERNEL = 3
STRIDE = 2


def _activation(table: dict[str, type[nn.Module]], name: str, arch: str) -> nn.Module:
    if name not in table:
        raise ValueError(f"{arch} has no activation {name!r}; use one of {sorted(table)}.")
    return table[name]()


def keras_names(depth: int = 3) -> list[tuple[str, str]]:
    """``(Keras variable, state-dict key)`` of the Small CNN Zoo's network, in the order of its
    flattened weight vector (the variable names sorted: each layer's bias before its kernel)."""
    layers = [("conv2d" if i == 0 else f"conv2d_{i}", f"convs.{i}") for i in range(depth)] + [("dense", "dense")]
    pairs = [
        (f"sequential/{k}/{part}:0", f"{t}.{'bias' if part == 'bias' else 'weight'}")
        for k, t in layers
        for part in ("bias", "kernel")
    ]
    return sorted(pairs)


KERAS_NAMES: dict[str, str] = dict(keras_names())
"""Keras variable name (``layout.csv``'s ``varname``) -> state-dict key, for the published depth 3."""


def keras_shape(torch_shape: Sequence[int]) -> tuple[int, ...]:
    """The Keras shape of a tensor of the given torch shape: a conv kernel ``(out, in, kh, kw)``
    is ``(kh, kw, in, out)``, a dense kernel ``(out, in)`` is ``(in, out)``, a bias is unchanged."""
    s = tuple(int(d) for d in torch_shape)
    if len(s) == 4:
        return (s[2], s[3], s[1], s[0])
    if len(s) == 2:
        return (s[1], s[0])
    return s


def from_keras(array: np.ndarray) -> np.ndarray:
    """A Keras variable as the torch tensor it is: a conv kernel ``(kh, kw, in, out)`` becomes
    ``(out, in, kh, kw)``, a dense kernel ``(in, out)`` becomes ``(out, in)`` (both convolve and
    multiply the same way: Keras' Conv2D is a cross-correlation, as torch's), a bias is unchanged."""
    a = np.asarray(array)
    if a.ndim == 4:
        return np.ascontiguousarray(a.transpose(3, 2, 0, 1))
    if a.ndim == 2:
        return np.ascontiguousarray(a.T)
    return np.ascontiguousarray(a)


def _conv_out(size: int, kernel: int, stride: int = 1) -> int:
    return (size - kernel) // stride + 1


class SmallCNNZooNet(nn.Module):
    """The Small CNN Zoo's CNN (see the module docstring); input ``(N, C, H, W)`` in [0, 1]."""

    def __init__(self, in_channels: int, n_outputs: int, activation: str, width: int, depth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else width, width, KERNEL, stride=STRIDE) for i in range(depth)
        )
        self.act = _activation(KERAS_ACTIVATIONS, activation, "small_cnn_zoo")
        self.dense = nn.Linear(width, n_outputs)
        self.grayscale = in_channels > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = 2.0 * x - 1.0  # the zoo's inputs lie in [-1, 1]
        if self.grayscale:
            x = x.mean(dim=1, keepdim=True)
        for conv in self.convs:
            x = self.act(conv(x))
        return self.dense(x.mean(dim=(2, 3)))


@ARCHITECTURES.register("small_cnn_zoo")
def small_cnn_zoo(
    input_shape: tuple[int, ...],
    n_outputs: int,
    activation: str = "relu",
    width: int = 16,
    depth: int = 3,
) -> nn.Module:
    """The Small CNN Zoo's network (Unterthiner et al. 2020) on images ``(C, H, W)``; ``width``
    and ``depth`` are the zoo's ``num_units`` and ``num_layers`` (always 16 and 3 there)."""
    if len(input_shape) != 3:
        raise ValueError(f"small_cnn_zoo needs input_shape (C, H, W), got {tuple(input_shape)}.")
    if width < 1 or depth < 1:
        raise ValueError(f"small_cnn_zoo needs width >= 1 and depth >= 1, got width={width}, depth={depth}.")
    h, w = input_shape[1], input_shape[2]
    for _ in range(depth):
        h, w = _conv_out(h, KERNEL, STRIDE), _conv_out(w, KERNEL, STRIDE)
    if min(h, w) < 1:
        raise ValueError(
            f"small_cnn_zoo: {depth} stride-2 convolutions leave nothing of a {input_shape[1]}x{input_shape[2]} "
            "image; use a larger image or a smaller depth."
        )
    return SmallCNNZooNet(int(input_shape[0]), int(n_outputs), activation, int(width), int(depth))


# (conv channels, kernel, max-pool after it) per block, the linear hidden width, the input size
VARIANTS: dict[str, tuple[tuple[tuple[int, int, bool], ...], int, int]] = {
    "s": (((8, 5, True), (6, 5, True), (4, 2, False)), 20, 28),
    "l": (((16, 3, True), (32, 3, True), (15, 3, True)), 20, 32),
}


class ModelZoosCNN(nn.Module):
    """CNN-s or CNN-l of the Model Zoos (see the module docstring); input ``(N, C, H, W)`` in [0, 1]."""

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        variant: str,
        activation: str,
        dropout: float,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        blocks, hidden, size = VARIANTS[variant]
        always_dropout = variant == "l"  # CNN3 adds its Dropout modules whatever the rate

        def act() -> nn.Module:
            return _activation(MODEL_ZOOS_ACTIVATIONS, activation, "model_zoos_cnn")

        layers: list[nn.Module] = []
        channels, side = in_channels, size
        for out, kernel, pool in blocks:
            layers.append(nn.Conv2d(channels, out, kernel))
            side = _conv_out(side, kernel)
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
                side //= 2
            layers.append(act())
            if (always_dropout or dropout > 0) and (pool or variant == "l"):
                layers.append(nn.Dropout(dropout))
            channels = out
        layers += [nn.Flatten(), nn.Linear(channels * side * side, hidden), act()]
        if always_dropout or dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(hidden, n_outputs))
        self.module_list = nn.ModuleList(layers)
        self.size = size
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        shape = (1, -1, 1, 1)
        x = (x - x.new_tensor(self.mean).view(shape)) / x.new_tensor(self.std).view(shape)
        for layer in self.module_list:
            x = layer(x)
        return x


@ARCHITECTURES.register("model_zoos_cnn")
def model_zoos_cnn(
    input_shape: tuple[int, ...],
    n_outputs: int,
    variant: str = "s",
    activation: str = "tanh",
    dropout: float = 0.0,
    mean: Sequence[float] = (0.5,),
    std: Sequence[float] = (0.5,),
) -> nn.Module:
    """CNN-s (``variant="s"``) or CNN-l (``"l"``) of the Model Zoos (Schürholt et al. 2022) on
    images ``(C, H, W)``; ``activation`` is the zoo's ``model::nlin``, ``dropout`` its
    ``model::dropout``, ``mean`` and ``std`` the per-channel normalisation its images had."""
    if len(input_shape) != 3:
        raise ValueError(f"model_zoos_cnn needs input_shape (C, H, W), got {tuple(input_shape)}.")
    if variant not in VARIANTS:
        raise ValueError(f"model_zoos_cnn has no variant {variant!r}; use 's' (CNN-s) or 'l' (CNN-l).")
    channels = int(input_shape[0])
    if len(mean) not in (1, channels) or len(std) not in (1, channels):
        raise ValueError(
            f"model_zoos_cnn: mean {list(mean)} and std {list(std)} need one value or one per channel ({channels})."
        )
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"model_zoos_cnn: dropout={dropout} is out of range; use a value in [0, 1).")
    return ModelZoosCNN(channels, int(n_outputs), variant, activation, float(dropout), mean, std)
