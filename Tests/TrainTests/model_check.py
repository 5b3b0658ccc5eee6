"""Independent check of TacoKit's model file and forward pass, in numpy only (no torch needed).

Reads a model.safetensors by the public format (8-byte length, JSON header, raw data), rebuilds the network
that python/tacokit/torch/model.py declares (same parameter names, PyTorch's layouts: Conv3d (out, in, kz, ky, kx),
ConvTranspose3d (in, out, 2, 2, 2), GroupNorm weight/bias, (N, C, D, H, W) tensors) with loops written here, and
compares its tokens and reconstruction with the Swift forward pass saved beside the file.

usage: model_check.py MODEL.safetensors INPUT.f32 TOKENS.f32 OUTPUT.f32 N D H W
"""
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", name
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + length + begin:8 + length + end], dtype="<f4").reshape(entry["shape"]).astype(np.float64)
    return tensors, meta


def conv3d(x, w, stride=1, bias=None):
    """Cross-correlation with zero padding k // 2, written from the definition (x: N, C, D, H, W)."""
    k = w.shape[2]
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (p, p)))
    n, c, d, h, wd = x.shape
    od, oh, ow = (d + 2 * p - k) // stride + 1, (h + 2 * p - k) // stride + 1, (wd + 2 * p - k) // stride + 1
    out = np.zeros((n, w.shape[0], od, oh, ow))
    for kz in range(k):
        for ky in range(k):
            for kx in range(k):
                patch = xp[:, :, kz:kz + stride * od:stride, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
                out += np.einsum("ncdhw,oc->nodhw", patch, w[:, :, kz, ky, kx])
    if bias is not None:
        out += bias[None, :, None, None, None]
    return out


def conv_transpose2(x, w):
    n, c, d, h, wd = x.shape
    out = np.zeros((n, w.shape[1], 2 * d, 2 * h, 2 * wd))
    for a in range(2):
        for b in range(2):
            for cc in range(2):
                out[:, :, a::2, b::2, cc::2] = np.einsum("ncdhw,co->nodhw", x, w[:, :, a, b, cc])
    return out


def group_norm(x, groups, weight, bias):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    mean = g.mean(axis=2, keepdims=True)
    var = g.var(axis=2, keepdims=True)
    y = ((g - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    return y * weight[None, :, None, None, None] + bias[None, :, None, None, None]


def leaky(x, slope):
    return np.where(x < 0, slope * x, x)


def forward(t, model, x):
    channels, groups, slope = model["channels"], model["groups"], model["slope"]
    blocks, token_stage = model["blocks_per_stage"], model["token_stage"]

    def cna(prefix, x, c, stride=1, act=True):
        y = group_norm(conv3d(x, t[prefix + ".conv.weight"], stride), min(groups, c), t[prefix + ".norm.weight"], t[prefix + ".norm.bias"])
        return leaky(y, slope) if act else y

    x = cna("encoder.stem", x, channels[0])
    stages = []
    for s, c in enumerate(channels):
        if s > 0:
            x = cna(f"encoder.stages.{s}.down", x, c, stride=2)
        for b in range(blocks):
            p = f"encoder.stages.{s}.blocks.{b}"
            y = leaky(group_norm(conv3d(x, t[p + ".conv1.weight"]), min(groups, c), t[p + ".norm1.weight"], t[p + ".norm1.bias"]), slope)
            y = group_norm(conv3d(y, t[p + ".conv2.weight"]), min(groups, c), t[p + ".norm2.weight"], t[p + ".norm2.bias"])
            x = leaky(y + x, slope)
        stages.append(x)
    y = stages[-1]
    for j, s in enumerate(range(len(channels) - 1, 0, -1)):
        c = channels[s - 1]
        y = leaky(group_norm(conv_transpose2(y, t[f"decoder.ups.{j}.conv.weight"]), min(groups, c),
                             t[f"decoder.ups.{j}.norm.weight"], t[f"decoder.ups.{j}.norm.bias"]), slope)
    y = conv3d(y, t["decoder.head.weight"], bias=t["decoder.head.bias"])
    return stages[token_stage], y


def main():
    model_path, input_path, tokens_path, output_path = sys.argv[1:5]
    n, d, h, w = map(int, sys.argv[5:9])
    tensors, meta = read_safetensors(model_path)
    model = json.loads(meta["configuration"])["model"]
    # The Swift maps are channel-major (C, N, D, H, W); PyTorch's order is (N, C, D, H, W).
    x = np.fromfile(input_path, dtype="<f4").reshape(1, n, d, h, w).transpose(1, 0, 2, 3, 4).astype(np.float64)
    tokens, output = forward(tensors, model, x)
    swift_tokens = np.fromfile(tokens_path, dtype="<f4").reshape((tokens.shape[1], n) + tokens.shape[2:]).transpose(1, 0, 2, 3, 4)
    swift_output = np.fromfile(output_path, dtype="<f4").reshape((1, n) + output.shape[2:]).transpose(1, 0, 2, 3, 4)
    token_error = np.abs(tokens - swift_tokens).max() / np.abs(tokens).max()
    output_error = np.abs(output - swift_output).max() / np.abs(output).max()
    assert token_error < 1e-4, f"tokens differ: relative {token_error}"
    assert output_error < 1e-4, f"reconstruction differs: relative {output_error}"
    # The PyTorch module, loaded as a user loads it (safetensors, strict), against the Swift forward.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import torch
    from tacokit.torch import load_taco_model
    module = load_taco_model(model_path).double()
    assert set(module.state_dict().keys()) == set(tensors), "the PyTorch module's names differ"
    with torch.no_grad():
        torch_tokens, torch_output = module(torch.from_numpy(x))
    for name, ours, theirs in [("tokens", torch_tokens.numpy(), swift_tokens), ("reconstruction", torch_output.numpy(), swift_output)]:
        error = np.abs(ours - theirs).max() / np.abs(theirs).max()
        assert error < 1e-4, f"torch {name} differ from Swift's: relative {error}"
    print("torch module agrees with the Swift forward")
    print(f"ok: tokens {tokens.shape} relative error {token_error:.2e}, reconstruction {output.shape} {output_error:.2e}")


if __name__ == "__main__":
    main()
