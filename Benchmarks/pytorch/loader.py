"""Crop pairs per second into torch through a DataLoader (TacoDataset with 0, 1, 2 workers) beside the plugin's
native stream on the same shards and settings, then a pretrain.py step split into data wait, forward, loss and
backward with 0 and 2 workers. One run; the shards are TrainBenchmarks' four 1 mm subjects (make bench-pytorch).

    .build-python/bin/python Benchmarks/pytorch/loader.py LIBRARY SHARDS
"""
import json
import os
import statistics
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "python"))
sys.path.insert(0, os.path.join(here, "..", "..", "python", "examples"))
from tacokit import TacoPlugin  # noqa: E402
from tacokit.torch import TacoDataset  # noqa: E402
import pretrain  # noqa: E402

library, shards = sys.argv[1], sys.argv[2]
os.environ["TACO_TRAIN_LIBRARY"] = library
settings = dict(batch_size=2, roi=[96, 96, 96], token_stride=8, seed=0)
EPOCHS = 6          # 4 subjects: 2 batches of 2 pairs per epoch; the first epoch (start-up) is not timed


def native(threads):
    with TacoPlugin(library).stream(os.path.join(shards, "dataset.json"), threads=threads, prefetch=4, **settings) as stream:
        for _ in stream:
            pass
        pairs, start = 0, time.perf_counter()
        for _ in range(EPOCHS - 1):
            for batch in stream:
                pairs += batch["views"].shape[0]
        return pairs / (time.perf_counter() - start)


def loader(workers, threads):
    dataset = TacoDataset(os.path.join(shards, "dataset.json"), library=library, threads=threads, prefetch=4, **settings)
    data = DataLoader(dataset, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
    pairs, start = 0, None
    for epoch in range(EPOCHS):
        dataset.set_epoch(epoch)
        if epoch == 1:
            start = time.perf_counter()
        for batch in data:
            if epoch > 0:
                pairs += batch["views"].shape[0]
    return pairs / (time.perf_counter() - start)


print(f"torch {torch.__version__}, {os.cpu_count()} cores; crops 96^3, two modalities, batches of 2, one run\n")
reference = native(2)
print(f"{'native stream (plugin), 2 threads':50} | {reference:6.1f} pairs/s | 1.00x")
for workers, threads in [(0, 2), (1, 2), (2, 1)]:
    figure = loader(workers, threads)
    name = f"TacoDataset, DataLoader {workers} worker{'s' if workers != 1 else ''}, {threads} thread{'s' if threads > 1 else ''} each"
    print(f"{name:50} | {figure:6.1f} pairs/s | {figure / reference:.2f}x the native stream")

print("\npretrain.py steps (model 8-16-32-64, crops 64^3, batches of 2; mean of steps 3-8):")
for workers in [0, 2]:
    with tempfile.TemporaryDirectory() as run:
        pretrain.main([shards, "--out", run, "--steps", "8", "--crop", "64", "--channels", "8,16,32,64", "--batch-size", "2",
                       "--workers", str(workers), "--stream-threads", "2" if workers == 0 else "1", "--checkpoint-every", "100"])
        lines = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))][2:]
    parts = {k: statistics.mean(m[f"{k}_seconds"] for m in lines) for k in ["data", "forward", "loss", "backward"]}
    step = statistics.mean(m["step_seconds"] for m in lines)
    print(f"  {workers} workers: step {step:.2f} s = data wait {parts['data']:.2f} s ({parts['data'] / step:.0%}), forward {parts['forward']:.2f} s, "
          f"loss {parts['loss']:.2f} s, backward {parts['backward']:.2f} s, optimiser and logging {step - sum(parts.values()):.2f} s")
