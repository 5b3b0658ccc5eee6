"""tacokit.torch's losses against TacoKit's Swift losses (through libTacoTrain.so): the same tokens and the same
negatives give the same values and gradients, in float64 (relative 1e-5) and float32 (1e-4); edge cases; and the
reshape pitfall (a channels-first map flattened without a permute scrambles tokens and changes the loss).

    python torch_check.py /path/to/libTacoTrain.so
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from tacokit import TacoPlugin  # noqa: E402
from tacokit.torch import (TopologyLoss, draw_inter_negatives, draw_intra_negatives, feature_matches, inter_loss,  # noqa: E402
                           intra_loss, intra_neighbours, reconstruction_loss, tokens)
from tacokit.torch.losses import inter_positives  # noqa: E402

taco = TacoPlugin(sys.argv[1])
generator = torch.Generator().manual_seed(7)


def close(ours, theirs, tolerance, what):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = max(np.abs(theirs).max(), 1e-30)
    error = np.abs(ours - theirs).max() / scale
    assert error <= tolerance, f"{what}: relative difference {error:.3e} (tolerance {tolerance})"
    return error


def intra_case(dtype, tolerance, t=64, c=16, duplicate=False):
    za = torch.randn(t, c, dtype=dtype, generator=generator)
    zb = za + 0.7 * torch.randn(t, c, dtype=dtype, generator=generator)
    if duplicate:                      # duplicate rows: ties in the neighbour ranking go to the lower index
        za[5], zb[5] = za[3], zb[3]
    nab = draw_intra_negatives(intra_neighbours(za), generator)
    nba = draw_intra_negatives(intra_neighbours(zb), generator)
    a, b = za.clone().requires_grad_(), zb.clone().requires_grad_()
    value = intra_loss(a, b, negatives_ab=nab, negatives_ba=nba)
    value.backward()
    swift_value, ga, gb = taco.loss_intra(za.numpy(), zb.numpy(), negatives_ab=nab.numpy(), negatives_ba=nba.numpy())
    close(value.item(), swift_value, tolerance, f"intra value {dtype}")
    close(a.grad.numpy(), ga, tolerance, f"intra gradient of a {dtype}")
    close(b.grad.numpy(), gb, tolerance, f"intra gradient of b {dtype}")
    assert value.item() > 0 and np.abs(ga).max() > 0


def inter_case(dtype, tolerance, ta=64, tb=48, c=16, matched=20, weighted=True, every_b_matched=False):
    a = torch.randn(ta, c, dtype=dtype, generator=generator)
    b = torch.randn(tb, c, dtype=dtype, generator=generator)
    if every_b_matched:
        matched = tb
    rows_a = torch.randperm(ta, generator=generator)[:matched]
    rows_b = torch.randperm(tb, generator=generator)[:matched]
    b[rows_b] = a[rows_a] + 0.5 * torch.randn(matched, c, dtype=dtype, generator=generator)   # matched tokens look alike
    matches = torch.stack([rows_a, rows_b], 1)
    weights = torch.rand(matched, dtype=dtype, generator=generator) if weighted else None
    positives, real = inter_positives(a, matches, tb, 5)
    negatives, _ = draw_inter_negatives(matches, positives, real, tb, generator)
    bb = b.clone().requires_grad_()
    value, used = inter_loss(a, bb, matches, weights, negatives=negatives)
    value.backward()
    swift_value, gb, swift_used = taco.loss_inter(a.numpy(), b.numpy(), matches.numpy(), None if weights is None else weights.numpy(),
                                                  negatives=negatives.numpy())
    assert used == swift_used and used > 0, f"matches with positives: torch {used}, Swift {swift_used}"
    close(value.item(), swift_value, tolerance, f"inter value {dtype}")
    close(bb.grad.numpy(), gb, tolerance, f"inter gradient {dtype}")


for dtype, tolerance in [(torch.float64, 1e-5), (torch.float32, 1e-4)]:
    for _ in range(3):
        intra_case(dtype, tolerance)
        inter_case(dtype, tolerance)
    intra_case(dtype, tolerance, duplicate=True)
    inter_case(dtype, tolerance, weighted=False)
    inter_case(dtype, tolerance, every_b_matched=True)       # negatives then come from B minus u and the positives

# No matches: no term, no gradient, in both implementations.
a, b = torch.randn(32, 8, dtype=torch.float64), torch.randn(32, 8, dtype=torch.float64, requires_grad=True)
value, used = inter_loss(a, b, torch.zeros((0, 2), dtype=torch.long))
assert value.item() == 0 and used == 0
assert taco.loss_inter(a.numpy(), b.detach().numpy(), np.zeros((0, 2), np.int32))[2] == 0

# The fallback matches equal the plugin's.
a, b = torch.randn(40, 8, dtype=torch.float64), torch.randn(30, 8, dtype=torch.float64)
ours = feature_matches(a, b).numpy()
theirs = taco.match_features(a.numpy().astype(np.float32), b.numpy().astype(np.float32))
assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs)), (ours, theirs)

# Reconstruction.
output, target = torch.randn(2, 1, 8, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, 8, dtype=torch.float64)
close(reconstruction_loss(output, target).item(), taco.loss_reconstruction(output.numpy(), target.numpy())[0], 1e-6, "reconstruction")

# Token order: token t of tokens(map) is the map's voxel (z, y, x) with t = (z * gy + y) * gx + x.
feature_map = torch.randn(2, 6, 3, 4, 5, dtype=torch.float64)
flat = tokens(feature_map)
z, y, x = 2, 1, 3
assert torch.equal(flat[1, (z * 4 + y) * 5 + x], feature_map[1, :, z, y, x])

# The reshape pitfall: flattening a channels-first map to (B, -1, C) without a permute scrambles tokens and channels.
views = torch.randn(2, 2, 16, 4, 4, 4, dtype=torch.float64, generator=generator)    # (subjects, views, C, z, y, x)
first, second = views[:, 0], views[:, 0] + 0.3 * views[:, 1]
right = intra_loss(tokens(first)[0], tokens(second)[0], generator=torch.Generator().manual_seed(1))
wrong = intra_loss(first[0:1].reshape(1, -1, 16)[0], second[0:1].reshape(1, -1, 16)[0], generator=torch.Generator().manual_seed(1))
assert abs(right.item() - wrong.item()) > 1e-3, (right.item(), wrong.item())

# The module: the total is the weighted sum of its terms, and every view gets gradient.
first = torch.randn(3, 16, 4, 4, 4, dtype=torch.float64, requires_grad=True)
second = (first.detach() + 0.5 * torch.randn(3, 16, 4, 4, 4, dtype=torch.float64)).requires_grad_()
pairs = [{"p": 0, "q": 1, "matches": torch.stack([torch.arange(20), torch.arange(20)], 1)}, {"p": 2, "q": 0, "matches": None}]
terms = TopologyLoss()(first, second, pairs, reconstruction=(second, first.detach()), generator=torch.Generator().manual_seed(3))
expected = terms["reconstruction"] + 0.1 * terms["intra"] + 0.1 * terms["inter"]   # the defaults
assert abs(terms["total"].item() - expected.item()) < 1e-12 and terms["pairs_used"][0] >= 1
terms["total"].backward()
assert first.grad.abs().sum() > 0 and second.grad.abs().sum() > 0
print("ok")
