"""Streams one batch of crop pairs from TacoKit shards into numpy and evaluates the topology losses on
stand-in token features, as a PyTorch trainer would with its encoder's output.

    python python/examples/stream_and_loss.py out/demo/shards .build/release/libTacoTrain.so
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tacokit import TacoPlugin  # noqa: E402

shards, library = sys.argv[1], sys.argv[2]
taco = TacoPlugin(library)
with taco.stream(shards, batch_size=2, roi=[64, 64, 64], token_stride=8, seed=0, rank=0, world_size=1) as stream:
    batch = next(iter(stream))
print("views", batch["views"].shape, "tokens per crop", batch["atlas_coords"].shape[1], "pairs", len(batch["pairs"]))
for sample in batch["description"]["samples"]:
    print(" ", sample["key"], sample["modalities"], "crop at voxel", sample["origin"])

# Stand-in features: an encoder's stride-8 output (C, z, y, x) per view, permuted to (z, y, x, C) and flattened.
rng = np.random.default_rng(0)
gz, gy, gx = batch["token_grid"][2], batch["token_grid"][1], batch["token_grid"][0]
channels = 32
features = [[rng.standard_normal((channels, gz, gy, gx)).astype(np.float32) for _ in range(2)] for _ in batch["views"]]
tokens = [[f.transpose(1, 2, 3, 0).reshape(-1, channels) for f in views] for views in features]

intra = [taco.loss_intra(a, b, seed=1)[0] for a, b in tokens]
print("L_intra (mean over subjects): %.4f" % np.mean(intra))
for pair in batch["pairs"]:
    a, b = tokens[pair["p"]][0], tokens[pair["q"]][1]
    matches = taco.match_features(a, b) if pair["fallback"] else pair["matches"]
    weights = None if pair["fallback"] else pair["weights"]
    value, grad_b, used = taco.loss_inter(a, b, matches, weights, seed=2)
    print("L_pq (%d -> %d): %.4f from %d of %d matches" % (pair["p"], pair["q"], value, used, len(matches)))
