"""A small DRUNet-like denoiser with a noise-level map input (Zhang et al. 2021, "Plug-and-Play
Image Restoration with Deep Denoiser Prior", DRUNet: a U-Net of residual blocks, bias-free
convolutions, strided-convolution down-sampling, transposed-convolution up-sampling and
additive skips).

Contract of the network (and of its ONNX export):

- input (N, C + 1, H, W) float32: the noisy image's C channels (linear light, nominally in
  [0, 1], not clipped) followed by one channel holding the noise standard deviation of
  each pixel, in the image's units (sigma 25/255 -> 0.098);
- output (N, C, H, W) float32: the denoised image;
- H and W must be multiples of 2**levels (8 by default): each level halves the size with a
  stride-2 convolution and the decoder doubles it back. Callers pad (reflect) to the next
  multiple and crop after.

The network is residual: its last convolution predicts the correction (minus the noise)
that is added to the noisy input, so the output is the clean estimate. The last
convolution starts at zero, so the untrained model is the identity, and a short training
can only improve on the noisy image. Bias-free layers (as in DRUNet) make the correction
scale with the input, which helps at noise levels between the trained ones.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """conv 3x3 - ReLU - conv 3x3, added to the input."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


def _identity_block(width: int) -> ResidualBlock:
    block = ResidualBlock(width)
    nn.init.zeros_(block.conv2.weight)
    return block


class Denoiser(nn.Module):
    """U-Net of residual blocks; widths width * 2**level, `blocks` residual blocks per level
    on each side and at the bottom.

    Defaults (width 16, 3 levels, 2 blocks): 1.06 M parameters, for CPU training and
    inference; `width=32, blocks=4` (8.2 M) or DRUNet's own `width=64, blocks=4` (32.6 M)
    are the larger GPU variants.

    `extra` residual blocks per side are added at every level but the bottom, after the
    others (before the down-sampling, after the up-sampling's blocks): the blocks a trained
    model is grown by (training/grow.py). Their second convolution starts at zero, so each
    starts as the identity and the grown model computes what its parent did. `extra=1`
    adds 0.19 M parameters (1.26 M) and about 40% to the cost of a call.
    """

    def __init__(self, channels: int = 3, width: int = 16, levels: int = 3, blocks: int = 2, extra: int = 0):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if extra < 0:
            raise ValueError(f"extra must be >= 0, got {extra}")
        self.channels = channels
        self.width = width
        self.levels = levels
        self.blocks = blocks
        widths = [width * 2**i for i in range(levels + 1)]
        self.head = nn.Conv2d(channels + 1, widths[0], 3, padding=1, bias=False)
        self.down = nn.ModuleList(
            nn.Sequential(
                *(ResidualBlock(widths[i]) for _ in range(blocks)),
                nn.Conv2d(widths[i], widths[i + 1], 2, stride=2, bias=False),
            )
            for i in range(levels)
        )
        self.body = nn.Sequential(*(ResidualBlock(widths[-1]) for _ in range(blocks)))
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, bias=False),
                *(ResidualBlock(widths[i]) for _ in range(blocks)),
            )
            for i in range(levels)
        )
        self.tail = nn.Conv2d(widths[0], channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.tail.weight)  # start as the identity (see the module's notes)
        # The grown blocks come last, so the parent's modules draw the same random numbers
        # as in a model without them.
        self.extra = extra
        for i in range(levels):
            grown_down = [_identity_block(widths[i]) for _ in range(extra)]
            grown_up = [_identity_block(widths[i]) for _ in range(extra)]
            if extra:
                down = list(self.down[i])
                self.down[i] = nn.Sequential(*down[:-1], *grown_down, down[-1])
                self.up[i] = nn.Sequential(*self.up[i], *grown_up)

    @property
    def multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2**self.levels

    def config(self) -> dict:
        config = {"channels": self.channels, "width": self.width, "levels": self.levels, "blocks": self.blocks}
        if self.extra:  # absent when 0, as in the checkpoints written before it existed
            config["extra"] = self.extra
        return config

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        """What is added to the noisy image: (N, C + 1, H, W) -> (N, C, H, W)."""
        skips = []
        h = self.head(x)
        for down in self.down:
            skips.append(h)
            h = down(h)
        h = self.body(h)
        for i in reversed(range(self.levels)):
            h = self.up[i](h) + skips[i]
        return self.tail(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.channels] + self.correction(x)


class HalfPrecisionDenoiser(nn.Module):
    """The denoiser computing in float16 with float32 input and output: the input is cast to
    float16, the correction computed in float16 and cast back, and the residual sum done in
    float32 (so the output keeps the input's precision where the correction is small)."""

    def __init__(self, denoiser: Denoiser):
        super().__init__()
        self.channels = denoiser.channels
        self.net = denoiser.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.channels] + self.net.correction(x.half()).float()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
