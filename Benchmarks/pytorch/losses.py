"""tacokit.torch's losses (forward + backward, CPU) beside the plugin's Swift losses and beside per-token Python
loops in the style of the paper's public reference code, at T = 512 tokens, C = 256 channels, one run.

    .build-python/bin/python Benchmarks/pytorch/losses.py [.build/release/libTacoTrain.so]
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from tacokit import TacoPlugin  # noqa: E402
from tacokit.torch import draw_inter_negatives, draw_intra_negatives, inter_loss, intra_loss, intra_neighbours  # noqa: E402
from tacokit.torch.losses import inter_positives  # noqa: E402

T, C, K = 512, 256, 5
torch.manual_seed(0)
generator = torch.Generator().manual_seed(0)
za, zb = torch.randn(T, C), torch.randn(T, C)
nab, nba = draw_intra_negatives(intra_neighbours(za), generator), draw_intra_negatives(intra_neighbours(zb), generator)
matches = torch.stack([torch.randperm(T)[:T // 2], torch.randperm(T)[:T // 2]], 1)
positives, real = inter_positives(za, matches, T, K)
negatives, _ = draw_inter_negatives(matches, positives, real, T, generator)


def timed(function, repeats):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def torch_intra():
    a, b = za.clone().requires_grad_(), zb.clone().requires_grad_()
    intra_loss(a, b, negatives_ab=nab, negatives_ba=nba).backward()


def torch_inter():
    b = zb.clone().requires_grad_()
    inter_loss(za, b, matches, negatives=negatives)[0].backward()


def loop_intra():
    """One direction per token and neighbour, scalar by scalar, as the reference code's loops do (both directions)."""
    a, b = za.clone().requires_grad_(), zb.clone().requires_grad_()
    total = 0
    for anchor, other, neighbours_of, negs in [(a, b, intra_neighbours(za), nab), (b, a, intra_neighbours(zb), nba)]:
        for i in range(T):
            for m in range(K):
                d_pos = 1 - torch.nn.functional.cosine_similarity(other[i], other[neighbours_of[i, m]], dim=0)
                d_neg = 1 - torch.nn.functional.cosine_similarity(other[i], other[negs[i, m]], dim=0)
                total = total + torch.relu(d_pos - d_neg + 0.05)
    (total / (T * K)).backward()


taco = TacoPlugin(sys.argv[1] if len(sys.argv) > 1 else None)
torch.set_num_threads(os.cpu_count())
rows = [
    ("intra L_ab + L_ba, tacokit.torch", timed(torch_intra, 20)),
    ("intra, Swift through the plugin", timed(lambda: taco.loss_intra(za.numpy(), zb.numpy(), negatives_ab=nab.numpy(), negatives_ba=nba.numpy()), 20)),
    ("intra, per-token Python loops", timed(loop_intra, 1)),
    ("inter L_pq (256 matches), tacokit.torch", timed(torch_inter, 20)),
    ("inter, Swift through the plugin", timed(lambda: taco.loss_inter(za.numpy(), zb.numpy(), matches.numpy(), negatives=negatives.numpy()), 20)),
]
print(f"forward + backward on the CPU ({os.cpu_count()} cores, torch {torch.__version__}), T = {T}, C = {C}, k = {K}")
for name, seconds in rows:
    print(f"  {name:42s} {1000 * seconds:9.2f} ms")
print(f"tacokit.torch intra vs the per-token loops: {rows[2][1] / rows[0][1]:.0f}x faster; vs the plugin: {rows[1][1] / rows[0][1]:.2f}x")
print(f"tacokit.torch inter vs the plugin: {rows[4][1] / rows[3][1]:.2f}x")
