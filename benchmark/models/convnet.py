"""Small convolutional networks, plain or residual, for 1-D sequences and 2-D images."""

from __future__ import annotations

from torch import nn

from benchmark.models.base import ARCHITECTURES


class ConvBlock(nn.Module):
    """``conv 3 -> norm -> ReLU``; with ``residual`` the input is added back before the ReLU
    (He et al. 2016), the only difference between the plain and the residual network."""

    def __init__(self, width: int, dims: int, residual: bool, norm: bool) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.conv = conv(width, width, 3, padding=1, bias=not norm)
        self.norm = bn(width) if norm else nn.Identity()
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.norm(self.conv(x))
        return self.act(out + x if self.residual else out)


@ARCHITECTURES.register("convnet")
def convnet(
    input_shape: tuple[int, ...],
    n_outputs: int,
    width: int = 16,
    depth: int = 4,
    residual: bool = False,
    norm: bool = True,
) -> nn.Module:
    """Stem conv (channels -> width), ``depth`` blocks of width ``width``, global average pool, linear.

    ``input_shape`` is (channels, length) for sequences or (channels, height, width) for images.
    """
    if len(input_shape) not in (2, 3):
        raise ValueError(f"convnet needs input_shape (C, L) or (C, H, W), got {tuple(input_shape)}.")
    if depth < 0 or width < 1:
        raise ValueError(f"convnet needs depth >= 0 and width >= 1, got depth={depth}, width={width}.")
    dims = len(input_shape) - 1
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    layers: list[nn.Module] = [
        conv(input_shape[0], width, 3, padding=1, bias=not norm),
        bn(width) if norm else nn.Identity(),
        nn.ReLU(),
    ]
    layers += [ConvBlock(width, dims, residual, norm) for _ in range(depth)]
    layers += [pool, nn.Flatten(), nn.Linear(width, n_outputs)]
    return nn.Sequential(*layers)
