"""Pre-training steps in PyTorch on TacoKit shards: TacoDataset in a DataLoader, the model of `taco train`, TopologyLoss.
    python python/examples/torch_step.py out/demo/shards [steps]
"""
import sys
import torch
from torch.utils.data import DataLoader
from tacokit.torch import TacoDataset, TacoEncoderDecoder, TopologyLoss, loss_pairs

model = TacoEncoderDecoder({"channels": [8, 16, 32, 64]})               # tokens every 8 voxels, 64 channels
optimiser, loss = torch.optim.AdamW(model.parameters(), lr=1e-3), TopologyLoss()
dataset = TacoDataset(f"{sys.argv[1]}/dataset.json", batch_size=2, roi=(32, 32, 32), token_stride=8, seed=0)
loader = DataLoader(dataset, batch_size=None, num_workers=1)
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
for step, batch in zip(range(steps), loader):
    views = batch["views"]                                                 # (subjects, 2, 1, z, y, x)
    x = torch.cat([views[:, 0], views[:, 1]])                              # first views, then second views
    tokens, output = model(x)                                              # (2 * subjects, C, z/8, y/8, x/8)
    s = views.shape[0]
    terms = loss(tokens[:s], tokens[s:], loss_pairs(batch), reconstruction=(output, x))
    optimiser.zero_grad()
    terms["total"].backward()
    optimiser.step()
    print(f"step {step}: loss {terms['total'].item():.4f} (rec {terms['reconstruction'].item():.4f}, "
          f"intra {terms['intra'].item():.4f}, inter {terms['inter'].item():.4f}, pairs {terms['pairs_used']})")
