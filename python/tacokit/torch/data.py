"""`TacoDataset`: TacoKit's shard stream as a PyTorch `IterableDataset`, for DataLoaders with any number of
workers and for data-parallel training under torchrun.

    dataset = TacoDataset("shards/dataset.json", batch_size=4, roi=(96, 96, 96), token_stride=8, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2, pin_memory=True)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for batch in loader: ...

Each item is a whole batch (so the DataLoader's `batch_size` is None): `views` (S, 2, 1, z, y, x) float32, the
tokens' `atlas_coords` (S, T, 3), `confidence` (S, T), `labels` (S, T), `points` (S, T, 3), the subject `pairs`
(P, 3: p, q, fallback) with their `matches` (a list of (M, 2) int64 tensors) and `weights` (a list of (M,)), the
`description` (keys, crop origins, orientations, intensity draws) and where it is in the stream (`epoch`, `batch`).

Partitioning: the rank (torch.distributed, else $RANK) gets its share of every epoch from the stream, with the
same number of batches on every rank (an uneven count would hang DDP); DataLoader worker w of W takes the rank's
batches w, w + W, ..., so that the loader gives the rank's batches in their order whatever the number of
workers, and every sample of an epoch once. Every draw (crop, orientation, intensities, negatives' pairs) is keyed
by the seed, the epoch and the sample's place in the epoch, never by a worker or by timing. The plugin is opened
lazily in each worker (never shared across a fork).

Resuming: `state_dict()` is the next batch of the epoch (for a loader without workers, or inside each worker as
torchdata's StatefulDataLoader calls it); `load_state_dict({"epoch": e, "batch": n})` makes the next iteration
start at batch n of epoch e, `n` being how many batches of the epoch the loader had given: each worker then starts
at its first batch at or after n.
"""
import os

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..plugin import TacoPlugin


def _world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def batch_to_torch(batch):
    """A plugin batch (numpy) as torch tensors."""
    views = torch.from_numpy(batch["views"])
    return {
        "views": views[:, :, None],
        "atlas_coords": torch.from_numpy(batch["atlas_coords"]),
        "confidence": torch.from_numpy(batch["confidence"]),
        "labels": torch.from_numpy(batch["labels"]),
        "points": torch.from_numpy(batch["points"]),
        "pairs": torch.tensor([[p["p"], p["q"], int(p["fallback"])] for p in batch["pairs"]], dtype=torch.long).reshape(-1, 3),
        "matches": [torch.from_numpy(p["matches"]).long() for p in batch["pairs"]],
        "weights": [torch.from_numpy(p["weights"]) for p in batch["pairs"]],
        "token_grid": tuple(batch["token_grid"]),
        "description": batch["description"],
        "epoch": int(batch["epoch"]),
        "batch": int(batch["batch"]),
    }


def loss_pairs(batch, device=None):
    """The batch's subject pairs in the form TopologyLoss takes: dicts of p, q, matches (None for a pair that
    falls back to matching in feature space) and weights, on `device`."""
    out = []
    for (p, q, fallback), matches, weights in zip(batch["pairs"].tolist(), batch["matches"], batch["weights"]):
        out.append({"p": p, "q": q, "matches": None if fallback else matches.to(device),
                    "weights": None if fallback else weights.to(device)})
    return out


class TacoDataset(IterableDataset):
    """Batches of crop pairs from TacoKit shards; see the module's description."""

    def __init__(self, manifest, batch_size=2, roi=(96, 96, 96), token_stride=8, seed=0, rank=None, world_size=None,
                 library=None, **stream_options):
        super().__init__()
        self.manifest, self.library = str(manifest), library
        self.rank, self.world_size = rank, world_size
        self.options = dict(stream_options, batch_size=batch_size, roi=list(roi), token_stride=token_stride, seed=seed)
        self.epoch = 0
        self._start = 0          # the batch of `epoch` the next iteration starts at
        self._next = 0           # the batch after the last one this instance gave

    def set_epoch(self, epoch):
        """The epoch the next iteration gives (from its first batch, unless load_state_dict said otherwise for it)."""
        if epoch != self.epoch:
            self.epoch, self._start = int(epoch), 0

    def state_dict(self):
        return {"epoch": self.epoch, "batch": self._next}

    def load_state_dict(self, state):
        self.epoch, self._start = int(state["epoch"]), int(state["batch"])
        self._next = self._start

    def __iter__(self):
        rank, world = (self.rank, self.world_size) if self.rank is not None else _world()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        options = dict(self.options, rank=rank, world_size=world if self.world_size is None else self.world_size,
                       equal_batches=True, batch_step=workers, batch_offset=worker, epoch=self.epoch, batch=self._start)
        plugin = TacoPlugin(self.library)
        with plugin.stream(self.manifest, **options) as stream:
            for batch in stream:
                self._next = int(batch["batch"]) + 1
                yield batch_to_torch(batch)
        self.epoch, self._start, self._next = self.epoch + 1, 0, 0
