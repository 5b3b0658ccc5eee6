"""A box of a subject's image as h5py reads it from a TacoKit shard: the independent reading the checks compare
the plugin's crops with."""
import numpy as np


def image_box(group, modality, origin, size):
    """Modality `modality` (index) of `group` (/subjects/<key>) at voxel `origin` (x, y, z), `size` voxels per axis,
    as (z, y, x) float32, zero where the box overhangs the volume."""
    ox, oy, oz = origin
    box = np.zeros((size, size, size), np.float32)
    src = group["image"][modality, max(oz, 0):oz + size, max(oy, 0):oy + size, max(ox, 0):ox + size].astype(np.float32)
    box[max(-oz, 0):max(-oz, 0) + src.shape[0], max(-oy, 0):max(-oy, 0) + src.shape[1], max(-ox, 0):max(-ox, 0) + src.shape[2]] = src
    return box


def described_boxes(shards, batch, size):
    """(sample index, view, sample description, h5py box) for both views of every sample a batch's description
    names, at the crop origin it gives."""
    import os
    import h5py
    for s, sample in enumerate(batch["description"]["samples"]):
        with h5py.File(os.path.join(shards, sample["shard"]), "r") as f:
            g = f["subjects"][sample["key"]]
            modalities = [m.decode() if isinstance(m, bytes) else m for m in g.attrs["modalities"]]
            for view in range(2):
                yield s, view, sample, image_box(g, modalities.index(sample["modalities"][view]), sample["origin"], size)
