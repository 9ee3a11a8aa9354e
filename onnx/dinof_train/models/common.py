"""Small layers shared by the networks, written so that the ONNX graphs stay simple.

`GroupNorm` computes the same thing as nn.GroupNorm, but in export mode it uses ReduceMean and constant MatMuls
only, instead of torch's InstanceNormalization + Shape-driven Reshape (simpler graphs for tract).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupNorm(nn.GroupNorm):
    export_mode = False

    def __init__(self, num_groups, num_channels, eps=1e-6):
        super().__init__(num_groups, num_channels, eps=eps)
        # [C, G] one-hot channel->group matrix: group statistics without any shape-dependent reshape.
        m = torch.zeros(num_channels, num_groups)
        m[torch.arange(num_channels), torch.arange(num_channels) // (num_channels // num_groups)] = 1.0
        self.register_buffer("to_group", m / (num_channels // num_groups), persistent=False)
        self.register_buffer("to_channel", m.T.contiguous(), persistent=False)

    def forward(self, x):
        if not self.export_mode:
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        # Two-pass statistics (exact like torch's): per-channel spatial means, averaged within each group.
        mean = (x.mean(dim=(2, 3)) @ self.to_group) @ self.to_channel  # [B, C]
        xc = x - mean[:, :, None, None]
        var = ((xc * xc).mean(dim=(2, 3)) @ self.to_group) @ self.to_channel
        inv = torch.rsqrt(var + self.eps) * self.weight
        return xc * inv[:, :, None, None] + self.bias[None, :, None, None]


def set_export_mode(module: nn.Module, on: bool = True) -> None:
    for m in module.modules():
        if isinstance(m, GroupNorm):
            m.export_mode = on
