"""The encoder-decoder of `taco train` as a PyTorch module, with a loader for its safetensors files.

Same architecture, parameter names and shapes as TacoKit's Swift model (Sources/Train/Model/EncoderDecoder.swift),
so `load_taco_weights` is a plain `load_state_dict(strict=True)`:

    from tacokit.torch import load_taco_model
    model = load_taco_model("run/model.safetensors")     # or a checkpoint: optimiser state is ignored
    tokens, reconstruction = model(x)                      # x: (N, 1, D, H, W), z-scored like the shards
    z = tokens.flatten(2).transpose(1, 2)                  # (N, T, C), position-major as docs/design.md's Z

Tensors are (N, C, D, H, W) with D = z, H = y, W = x, the order of the shards' (z, y, x) arrays.
Needs torch and safetensors (pip install torch safetensors); neither is needed by TacoKit itself.
"""
import json

import torch
from torch import nn


class ConvNormAct(nn.Sequential):
    def __init__(self, cin, cout, groups, slope, stride=1, act=True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.GroupNorm(min(groups, cout), cout, eps=1e-5)
        if act:
            self.act = nn.LeakyReLU(slope)


class ResidualBlock(nn.Module):
    def __init__(self, channels, groups, slope):
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(min(groups, channels), channels, eps=1e-5)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(min(groups, channels), channels, eps=1e-5)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x):
        y = self.act(self.norm1(self.conv1(x)))
        return self.act(self.norm2(self.conv2(y)) + x)


class Stage(nn.Module):
    def __init__(self, index, channels, blocks, groups, slope):
        super().__init__()
        if index > 0:
            self.down = ConvNormAct(channels[index - 1], channels[index], groups, slope, stride=2)
        self.blocks = nn.Sequential(*[ResidualBlock(channels[index], groups, slope) for _ in range(blocks)])

    def forward(self, x):
        if hasattr(self, "down"):
            x = self.down(x)
        return self.blocks(x)


class Encoder(nn.Module):
    def __init__(self, channels, blocks, groups, slope, input_channels):
        super().__init__()
        self.stem = ConvNormAct(input_channels, channels[0], groups, slope)
        self.stages = nn.ModuleList([Stage(i, channels, blocks, groups, slope) for i in range(len(channels))])

    def forward(self, x):
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs


class Up(nn.Module):
    def __init__(self, cin, cout, groups, slope):
        super().__init__()
        self.conv = nn.ConvTranspose3d(cin, cout, 2, stride=2, bias=False)
        self.norm = nn.GroupNorm(min(groups, cout), cout, eps=1e-5)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class Decoder(nn.Module):
    def __init__(self, channels, groups, slope, output_channels):
        super().__init__()
        self.ups = nn.ModuleList([Up(channels[s], channels[s - 1], groups, slope) for s in range(len(channels) - 1, 0, -1)])
        self.head = nn.Conv3d(channels[0], output_channels, 1)

    def forward(self, x):
        for up in self.ups:
            x = up(x)
        return self.head(x)


class TacoEncoderDecoder(nn.Module):
    """`configuration` is the `model` object of a TacoKit training configuration."""

    def __init__(self, configuration):
        super().__init__()
        channels = configuration.get("channels", [16, 32, 64, 128])
        blocks = configuration.get("blocks_per_stage", 1)
        groups = configuration.get("groups", 8)
        slope = configuration.get("slope", 0.01)
        inputs = configuration.get("input_channels", 1)
        self.token_stage = configuration.get("token_stage", len(channels) - 1)
        self.encoder = Encoder(channels, blocks, groups, slope, inputs)
        self.decoder = Decoder(channels, groups, slope, inputs)

    def forward(self, x):
        stages = self.encoder(x)
        return stages[self.token_stage], self.decoder(stages[-1])


def load_taco_model(path):
    """A TacoEncoderDecoder with the weights of a TacoKit model.safetensors or checkpoint."""
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        configuration = json.loads(f.metadata()["configuration"])
        state = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("optimizer.")}
    model = TacoEncoderDecoder(configuration["model"])
    model.load_state_dict(state, strict=True)
    return model
