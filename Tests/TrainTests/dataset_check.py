"""tacokit.torch.TacoDataset through torch's DataLoader: 2 ranks x 2 workers see every sample of an epoch once
with equal batch counts per rank; the same seed gives the same batches whatever the worker count; a loader resumed
from a state mid-epoch continues with exactly the batches of an uninterrupted run; views equal h5py's reading of
the shard at the crop origins the description names; pin_memory and persistent workers over two epochs.

    python dataset_check.py /path/to/libTacoTrain.so SHARDS
"""
import os
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from tacokit.torch import TacoDataset  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shard_boxes import described_boxes  # noqa: E402

library, shards = sys.argv[1], sys.argv[2]
plain = dict(roi=(16, 16, 16), token_stride=4, seed=5, library=library, flips=False, rotations=False,
             intensity_scale=[1, 1], intensity_shift=[0, 0])


def run(workers, rank=0, world=1, state=None, batches=None, **extra):
    dataset = TacoDataset(shards, batch_size=2, rank=rank, world_size=world, **dict(plain, **extra))
    if state is not None:
        dataset.load_state_dict(state)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    out = []
    for batch in loader:
        out.append(batch)
        if batches is not None and len(out) == batches:
            break
    return out


def keys(batch):
    return [s["key"] for s in batch["description"]["samples"]]


manifest_keys = sorted(k for k in __import__("json").load(open(os.path.join(shards, "dataset.json")))["subjects"] for k in [k["key"]])

# 2 ranks x 2 workers: every sample once, equal batch counts per rank.
per_rank = [run(2, rank, 2) for rank in range(2)]
seen = sorted(k for batches in per_rank for b in batches for k in keys(b))
assert seen == manifest_keys, (seen, manifest_keys)
assert len(per_rank[0]) == len(per_rank[1]), [len(b) for b in per_rank]

# The same batches whatever the worker count (0, 1, 2), in the same order.
reference = run(0)
for workers in (1, 2):
    other = run(workers)
    assert [keys(b) for b in other] == [keys(b) for b in reference], workers
    assert all(torch.equal(a["views"], b["views"]) for a, b in zip(other, reference)), workers
assert [b["batch"] for b in reference] == list(range(len(reference)))

# Resume mid-epoch: the first 2 batches, then a new loader from the state, equals the uninterrupted epoch.
head = run(2, batches=2)
tail = run(2, state={"epoch": 0, "batch": 2})
assert [keys(b) for b in head + tail] == [keys(b) for b in reference]
assert all(torch.equal(a["views"], b["views"]) for a, b in zip(head + tail, reference))
# Without workers the dataset's own state_dict says where it is.
dataset = TacoDataset(shards, batch_size=2, rank=0, world_size=1, **plain)
iterator = iter(dataset)
next(iterator)
assert dataset.state_dict() == {"epoch": 0, "batch": 1}, dataset.state_dict()
iterator.close()      # a stream open in this process while a loader forks its workers would hand them its locks

# Views: shape (S, 2, 1, z, y, x), and equal to h5py's reading at the origins the description names.
for batch in reference:
    assert batch["views"].shape[1:] == (2, 1, 16, 16, 16) and batch["views"].dtype == torch.float32
    assert batch["atlas_coords"].shape[1:] == (64, 3) and batch["pairs"].shape[1] == 3
    assert len(batch["matches"]) == len(batch["pairs"]) and all(m.dtype == torch.long for m in batch["matches"])
    for s, view, sample, expected in described_boxes(shards, batch, 16):
        assert np.array_equal(batch["views"][s, view, 0].numpy(), expected), (sample, view)

# Two epochs with pinned memory and persistent workers: each epoch complete, the order new.
dataset = TacoDataset(shards, batch_size=2, rank=0, world_size=1, **plain)
loader = DataLoader(dataset, batch_size=None, num_workers=2, pin_memory=True, persistent_workers=True)
epochs = []
for epoch in range(2):
    dataset.set_epoch(epoch)
    epochs.append([k for b in loader for k in keys(b)])
assert sorted(epochs[0]) == sorted(epochs[1]) == manifest_keys and epochs[0] != epochs[1]
print("ok")
