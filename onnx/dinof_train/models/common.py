"""Small layers shared by the networks, written so that the ONNX graphs stay simple.

`GroupNorm` computes the same thing as nn.GroupNorm, but in export mode it only uses Reshape with constant
shapes (batch = -1) and ReduceMean, instead of torch's InstanceNormalization + Shape-driven reshape.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupNorm(nn.GroupNorm):
    export_mode = False

    def __init__(self, num_groups, num_channels, eps=1e-6):
        super().__init__(num_groups, num_channels, eps=eps)

    def forward(self, x):
        if not self.export_mode:
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        c, h, w = x.shape[1], x.shape[2], x.shape[3]
        c, h, w = int(c), int(h), int(w)  # static ints so the trace bakes constants
        g = x.reshape(-1, self.num_groups, (c // self.num_groups) * h * w)
        mean = g.mean(dim=2, keepdim=True)
        var = ((g - mean) ** 2).mean(dim=2, keepdim=True)
        g = (g - mean) / torch.sqrt(var + self.eps)
        return g.reshape(-1, c, h, w) * self.weight.reshape(1, c, 1, 1) + self.bias.reshape(1, c, 1, 1)


def set_export_mode(module: nn.Module, on: bool = True) -> None:
    for m in module.modules():
        if isinstance(m, GroupNorm):
            m.export_mode = on
