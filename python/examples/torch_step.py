"""Pre-training steps in PyTorch on TacoKit shards: the plugin's stream, the model of `taco train`, TopologyLoss.
    python python/examples/torch_step.py out/demo/shards [steps]
"""
import sys
import torch
from tacokit import TacoPlugin
from tacokit.torch import TacoEncoderDecoder, TopologyLoss

model = TacoEncoderDecoder({"channels": [8, 16, 32, 64]})             # tokens every 8 voxels, 64 channels
optimiser, loss = torch.optim.AdamW(model.parameters(), lr=1e-3), TopologyLoss()
with TacoPlugin().stream(sys.argv[1], batch_size=2, roi=[32, 32, 32], token_stride=8, seed=0) as stream:
    for step, batch in zip(range(int(sys.argv[2]) if len(sys.argv) > 2 else 3), stream):
        views = torch.from_numpy(batch["views"])                       # (subjects, 2, z, y, x)
        tokens, output = model(views.flatten(0, 1)[:, None])            # both views of every subject at once
        first, second = tokens[0::2], tokens[1::2]                       # (subjects, C, z', y', x') each
        pairs = [{"p": p["p"], "q": p["q"], "weights": torch.from_numpy(p["weights"]),
                  "matches": None if p["fallback"] else torch.from_numpy(p["matches"]).long()} for p in batch["pairs"]]
        terms = loss(first, second, pairs, reconstruction=(output, views.flatten(0, 1)[:, None]))
        optimiser.zero_grad()
        terms["total"].backward()
        optimiser.step()
        print(f"step {step}: loss {terms['total'].item():.4f} (rec {terms['reconstruction'].item():.4f}, "
              f"intra {terms['intra'].item():.4f}, inter {terms['inter'].item():.4f}, pairs {terms['pairs_used']})")
