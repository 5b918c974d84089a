"""The CIFAR ResNets of He et al. 2016 (ResNet-20, -32, -44, -56, -110), with or without skip connections.

He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.2:
a 3x3 stem convolution with ``width`` filters, then three stages of ``n`` basic blocks on feature
maps of 32, 16 and 8 pixels (for 32x32 input) with ``width``, ``2 width`` and ``4 width`` filters,
subsampling by stride-2 convolutions, global average pooling and a linear layer: ``6n + 2``
weighted layers (ResNet-20: n = 3, 0.27M parameters at width 16). Without ``residual`` the same
layers are stacked without shortcuts: Li et al. 2018's "-noshort" networks ("Visualizing the Loss
Landscape of Neural Nets"), the plain networks the seed paper (Xie et al. 2024) compares with.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.base import ARCHITECTURES

SHORTCUTS = ("pad", "conv")
"""How a residual block whose shape changes (stride 2, twice the channels) adds its input back:
``pad`` subsamples the input and pads the new channels with zeros (He et al.'s option A, no
parameters: the plain and residual networks then have the same parameters); ``conv`` projects it
with a strided 1x1 convolution and BatchNorm (option B, as in Li et al.'s code)."""


def resnet_blocks(depth: int) -> int:
    """Blocks per stage ``n`` of the CIFAR ResNet with ``depth = 6n + 2`` layers (20 -> 3)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"cifar_resnet needs depth = 6n + 2 with n >= 1 blocks per stage (8, 14, 20, 32, 44, 56, 110), "
            f"got depth={depth!r}; ResNet-20 is depth=20."
        )
    return (depth - 2) // 6


class PadShortcut(nn.Module):
    """Option A: ``x`` subsampled by ``stride`` and padded with zero channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


def _norm(channels: int, norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm else nn.Identity()


class BasicBlock(nn.Module):
    """``conv 3 (stride) -> norm -> ReLU -> conv 3 -> norm``, plus the shortcut when ``residual``,
    then ReLU. The plain block is the same without the addition."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, residual: bool, norm: bool, shortcut: str
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not norm)
        self.bn1 = _norm(out_channels, norm)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not norm)
        self.bn2 = _norm(out_channels, norm)
        self.act = nn.ReLU()
        self.residual = residual
        self.shortcut: nn.Module | None = None
        if residual:
            if stride == 1 and in_channels == out_channels:
                self.shortcut = nn.Identity()
            elif shortcut == "pad":
                self.shortcut = PadShortcut(in_channels, out_channels, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not norm), _norm(out_channels, norm)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(out + self.shortcut(x) if self.shortcut is not None else out)


class CifarResNet(nn.Module):
    """Stem, three stages of basic blocks, global average pooling, linear head (see the module docstring)."""

    def __init__(
        self, in_channels: int, n_outputs: int, blocks: int, width: int, residual: bool, norm: bool, shortcut: str
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=not norm), _norm(width, norm), nn.ReLU()
        )
        stages, channels = [], width
        for i, out in enumerate((width, 2 * width, 4 * width)):
            layers = []
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(BasicBlock(channels, out, stride, residual, norm, shortcut))
                channels = out
            stages.append(nn.Sequential(*layers))
        self.stage1, self.stage2, self.stage3 = stages
        self.fc = nn.Linear(channels, n_outputs)
        for m in self.modules():  # He et al. 2015 initialisation of every convolution
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))  # global average pooling (its gradient is deterministic on CUDA too)


@ARCHITECTURES.register("cifar_resnet")
def cifar_resnet(
    input_shape: tuple[int, ...],
    n_outputs: int,
    depth: int = 20,
    width: int = 16,
    residual: bool = True,
    norm: bool = True,
    shortcut: str = "pad",
) -> nn.Module:
    """The CIFAR ResNet of ``depth = 6n + 2`` layers (20: ResNet-20) on images ``(C, H, W)``.

    ``width``: filters of the first stage (16 in He et al.; 16k is the k-times wider network of
    Zagoruyko and Komodakis 2016). ``residual``: skip connections on (ResNet) or off (the plain
    network). ``norm``: BatchNorm after every convolution (He et al.), else convolutions with bias.
    ``shortcut``: one of :data:`SHORTCUTS` (residual networks only).
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"cifar_resnet needs image input (C, H, W), got input_shape {tuple(input_shape)}; "
            "set dataset.flatten=false."
        )
    blocks = resnet_blocks(depth)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(
            f"cifar_resnet needs an integer width >= 1 (filters of the first stage; 16 for ResNet-20), got {width!r}."
        )
    if shortcut not in SHORTCUTS:
        raise ValueError(f"cifar_resnet shortcut={shortcut!r} is unknown; use one of {list(SHORTCUTS)}.")
    return CifarResNet(int(input_shape[0]), n_outputs, blocks, width, bool(residual), bool(norm), shortcut)
