"""Cross-check of libTacoTrain.so through ctypes (as a PyTorch trainer uses it), against code written here:
numpy loops of docs/design.md §2's losses on the same negatives, and h5py reading the crops itself.

    python plugin_check.py LIBRARY SHARDS_FOLDER
Prints "ok" and exits 0 when everything agrees.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from tacokit import TacoError, TacoPlugin  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shard_boxes import described_boxes  # noqa: E402

library, shards = sys.argv[1], sys.argv[2]
taco = TacoPlugin(library)
rng = np.random.default_rng(4)


def dcos(z, i, j):
    u, v = z[i] / max(np.linalg.norm(z[i]), 1e-12), z[j] / max(np.linalg.norm(z[j]), 1e-12)
    return 1.0 - float(u @ v)


def intra_direction(za, zb, k, margin, negatives):
    t = len(za)
    total = 0.0
    for i in range(t):
        d = [(float(np.sum((za[i] - za[j]) ** 2)), j) for j in range(t) if j != i]
        neighbours = [j for _, j in sorted(d)[:k]]
        for m, p in enumerate(neighbours):
            total += max(0.0, dcos(zb, i, p) - dcos(zb, i, negatives[i][m]) + margin)
    return total / (t * k)


def inter(a, b, matches, weights, k, margin, negatives):
    partner = {int(i): int(u) for i, u in matches}
    num = den = 0.0
    for index, (i, u) in enumerate(matches):
        order = sorted((dcos(a, i, j), j) for j in range(len(a)) if j != i)[:k]
        positives = [partner[j] for _, j in order if j in partner]
        if not positives:
            continue
        s = sum(max(0.0, dcos(b, u, p) - dcos(b, u, negatives[index][j]) + margin) for j, p in enumerate(positives))
        num += weights[index] * s / len(positives)
        den += weights[index]
    return num / den if den else 0.0


# Intra-instance: explicit negatives (never i, distinct; the plugin refuses neighbours, so draw away from them).
t, c, k = 48, 16, 5
za, zb = rng.standard_normal((t, c)).astype(np.float32), rng.standard_normal((t, c)).astype(np.float32)


def negatives_for(z):
    out = []
    for i in range(t):
        d = sorted((float(np.sum((z[i] - z[j]) ** 2)), j) for j in range(t) if j != i)
        banned = {i} | {j for _, j in d[:k]}
        out.append(rng.choice([j for j in range(t) if j not in banned], size=k, replace=False))
    return np.array(out, np.int32)


nab, nba = negatives_for(za.astype(np.float64)), negatives_for(zb.astype(np.float64))
value, ga, gb = taco.loss_intra(za, zb, k=k, margin=0.05, negatives_ab=nab, negatives_ba=nba)
expected = intra_direction(za.astype(np.float64), zb.astype(np.float64), k, 0.05, nab) + intra_direction(zb.astype(np.float64), za.astype(np.float64), k, 0.05, nba)
assert abs(value - expected) <= 1e-4 * max(1.0, expected), (value, expected)
assert ga.shape == za.shape and np.any(ga != 0) and np.any(gb != 0)
# Inter-instance: weighted matches, explicit negatives from B's unmatched tokens.
ta, tb = 40, 36
a, b = rng.standard_normal((ta, c)).astype(np.float32), rng.standard_normal((tb, c)).astype(np.float32)
pa, pb = rng.permutation(ta)[:20], rng.permutation(tb)[:20]
matches = np.stack([pa, pb], 1).astype(np.int32)
weights = rng.uniform(0.2, 1.0, 20).astype(np.float32)
unmatched = [j for j in range(tb) if j not in set(pb.tolist())]
negatives = rng.choice(unmatched, size=(20, k)).astype(np.int32)
value, grad_b, used = taco.loss_inter(a, b, matches, weights, k=k, margin=0.4, negatives=negatives)
expected = inter(a.astype(np.float64), b.astype(np.float64), matches.tolist(), weights.astype(np.float64), k, 0.4, negatives)
assert abs(value - expected) <= 1e-4 * max(1.0, expected), (value, expected)
assert 0 < used <= 20 and np.any(grad_b != 0)
# The gradient moves the value as it says (float32, central differences along the gradient's own direction;
# A fixes the positives, the negatives are given, so nothing but B's distances changes).
direction = (grad_b / np.linalg.norm(grad_b)).astype(np.float32)
h = 1e-3
plus = taco.loss_inter(a, b + h * direction, matches, weights, k=k, negatives=negatives)[0]
minus = taco.loss_inter(a, b - h * direction, matches, weights, k=k, negatives=negatives)[0]
analytic = float(np.sum(grad_b * direction))
assert abs((plus - minus) / (2 * h) - analytic) <= 1e-2 * abs(analytic) + 1e-4, ((plus - minus) / (2 * h), analytic)

# Reconstruction and the feature-space fallback.
out, inp = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
value, grad = taco.loss_reconstruction(out, inp)
assert abs(value - float(np.mean((out.astype(np.float64) - inp) ** 2))) < 1e-5 and np.allclose(grad, 2 * (out - inp) / 1000, atol=1e-7)
perm = rng.permutation(ta)[:25]
found = taco.match_features(a, 3 * a[perm])
assert len(found) == 25 and all(perm[u] == i for i, u in found)

# Bad input is an error with a message, not a crash.
try:
    taco.loss_intra(za[:8], zb[:8], k=5)
    raise AssertionError("8 tokens accepted for k = 5")
except TacoError as error:
    assert "tokens" in str(error), error

# The stream: crops equal h5py's own reading of the shard at the reported place, orientation and intensities.
with taco.stream(shards, batch_size=2, roi=[16, 16, 16], token_stride=4, seed=3, rank=0, world_size=1) as stream:
    batches = list(stream)
    state = stream.state()
assert state == (1, 0), state
assert sum(len(b["description"]["samples"]) for b in batches) == 5, [b["description"] for b in batches]
for batch in batches:
    assert batch["views"].shape[1:] == (2, 16, 16, 16) and batch["atlas_coords"].shape[1:] == (64, 3)
    for s, view, sample, box in described_boxes(shards, batch, 16):
        # Orientation: output axis j reads input axis axes[j], reversed when flipped[j]; arrays are (z, y, x).
        axes, flipped = sample["orientation"]["axes"], sample["orientation"]["flipped"]
        zz, yy, xx = np.meshgrid(np.arange(16), np.arange(16), np.arange(16), indexing="ij")
        o = [xx, yy, zz]
        src_index = [None, None, None]
        for j in range(3):
            src_index[axes[j]] = 15 - o[j] if flipped[j] else o[j]
        out = box[src_index[2], src_index[1], src_index[0]]
        scale, shift = sample["intensity"][view]
        expected = out * np.float32(scale) + np.float32(shift)
        assert np.allclose(batch["views"][s, view], expected, atol=1e-6), (sample, view)
print("ok")
