"""python/examples/pretrain.py under torchrun with 2 processes (gloo) on a few steps: it finishes, the weights are
identical on both ranks, the losses are finite and the files are taco train's; a run stopped at step 2 and resumed
equals an uninterrupted one (weights, optimiser moments and logged losses). Leaves in FOLDER/whole the run that
the Swift test reads with TrainedModel and taco probe, with an input and the torch model's tokens on it
(probe-input.f32, probe-tokens.f32: (2, 1, 16, 16, 16) and, channel-major as Swift's FeatureMap, (C, 2, 4, 4, 4)) to compare
Swift's forward with.

    python pretrain_check.py /path/to/libTacoTrain.so SHARDS FOLDER
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

library, shards, folder = sys.argv[1], sys.argv[2], sys.argv[3]
here = os.path.dirname(os.path.abspath(__file__))
environment = dict(os.environ, TACO_TRAIN_LIBRARY=library, OMP_NUM_THREADS="1")
common = ["--steps", "4", "--batch-size", "2", "--crop", "32", "--channels", "8,16,32", "--warmup-steps", "2",
          "--checkpoint-every", "2", "--workers", "1", "--seed", "3"]


def torchrun(out, *extra):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               os.path.join(here, "pretrain_ranks.py"), shards, "--out", out, *common, *extra]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


whole, split = os.path.join(folder, "whole"), os.path.join(folder, "split")
torchrun(whole)
ranks = [load_file(os.path.join(whole, f"rank-{r}.safetensors")) for r in range(2)]
assert ranks[0].keys() == ranks[1].keys() and all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0]), "the ranks' weights differ"
lines = metrics(whole)
assert [m["step"] for m in lines] == [1, 2, 3, 4], lines
assert all(math.isfinite(m["loss"]) and m["loss"] > 0 and "skipped" not in m for m in lines), lines
assert all(m["intra"] > 0 and m["reconstruction"] > 0 for m in lines), lines
with safe_open(os.path.join(whole, "model.safetensors"), framework="pt") as f:
    assert f.metadata()["format"] == "taco-weights/1" and f.metadata()["step"] == "4"
    final = {k: f.get_tensor(k) for k in f.keys()}
assert all(torch.equal(final[k], ranks[0][k]) for k in final), "model.safetensors is not the ranks' final weights"
start = load_file(os.path.join(whole, "checkpoints", "step-0000002.safetensors"))
assert any(not torch.equal(start[k], final[k]) for k in final), "the weights did not change from step 2 to step 4"

# A second trainer on a run folder in use is refused (the folder's lock, as taco train's).
import fcntl  # noqa: E402
os.makedirs(os.path.join(folder, "held"), exist_ok=True)
with open(os.path.join(folder, "held", ".taco-lock-train"), "a+") as held:
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.write("a test, process 1\n")
    held.flush()
    refused = subprocess.run([sys.executable, os.path.join(here, "pretrain_ranks.py"), shards, "--out", os.path.join(folder, "held"), *common],
                             env=environment, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "in use by another run (a test, process 1)" in refused.stderr, refused.stderr[-2000:]

# Stopped after step 2, then resumed: the same weights, moments and losses as the uninterrupted run.
torchrun(split, "--stop-after", "2")
assert sorted(os.listdir(os.path.join(split, "checkpoints"))) == ["step-0000002.safetensors"]
assert not os.path.exists(os.path.join(split, "model.safetensors"))
torchrun(split, "--resume")
resumed = load_file(os.path.join(split, "checkpoints", "step-0000004.safetensors"))
uninterrupted = load_file(os.path.join(whole, "checkpoints", "step-0000004.safetensors"))
assert resumed.keys() == uninterrupted.keys()
different = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
assert not different, f"the resumed run differs in {different[:5]}"
keys = ["loss", "reconstruction", "intra", "inter", "gradient_norm", "learning_rate", "pairs_used", "epoch"]
assert [[m[k] for k in keys] for m in metrics(split)] == [[m[k] for k in keys] for m in lines], (metrics(split), lines)

# An input and the final model's tokens on it, for Swift's forward of the same file.
sys.path.insert(0, os.path.join(here, "..", "..", "python"))
from tacokit.torch import load_taco_model  # noqa: E402
model = load_taco_model(os.path.join(whole, "model.safetensors")).eval()
x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(9))
with torch.no_grad():
    tokens, _ = model(x)
x.numpy().astype(np.float32).tofile(os.path.join(whole, "probe-input.f32"))
tokens.permute(1, 0, 2, 3, 4).numpy().astype(np.float32).tofile(os.path.join(whole, "probe-tokens.f32"))  # Swift's (C, N, ...)
# MONAI's SwinUNETR (the paper's backbone), one process, one step: its tokens feed the losses, its checkpoint
# holds SwinUNETR's own parameter names (strictly loadable into MONAI's class) and says which architecture it is.
swin = os.path.join(folder, "swin")
command = [sys.executable, os.path.join(here, "pretrain_ranks.py"), shards, "--out", swin, "--model", "swinunetr", "--feature-size", "12",
           "--token-stage", "3", "--crop", "64", "--steps", "1", "--batch-size", "2", "--workers", "0"]
result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
line = metrics(swin)[0]
assert math.isfinite(line["loss"]) and line["intra"] > 0 and line["inter"] >= 0, line
from monai.networks.nets import SwinUNETR  # noqa: E402
with safe_open(os.path.join(swin, "model.safetensors"), framework="pt") as f:
    assert json.loads(f.metadata()["configuration"])["model"]["architecture"] == "swinunetr"
    SwinUNETR(in_channels=1, out_channels=1, feature_size=12).load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
# --term-gradients: each term's logged gradient norm equals one computed here by its own backward pass on the
# same first batch, initial weights and negatives; the intra margin given is the one used, and the topology
# warm-up scales the first step's topology weights by 1/4.
terms_run = os.path.join(folder, "terms")
command = [sys.executable, os.path.join(here, "pretrain_ranks.py"), shards, "--out", terms_run, "--steps", "1", "--batch-size", "2", "--crop", "32",
           "--channels", "8,16,32", "--workers", "0", "--seed", "3", "--no-augmentation", "--term-gradients", "1",
           "--intra-margin", "0.3", "--topology-warmup", "4"]
result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
logged = metrics(terms_run)[0]
sys.path.insert(0, os.path.join(here, "..", "..", "python", "examples"))
import pretrain  # noqa: E402
from tacokit.torch import TacoDataset, TacoEncoderDecoder, TopologyLoss, loss_pairs  # noqa: E402
dataset = TacoDataset(os.path.join(shards, "dataset.json"), batch_size=2, roi=[32, 32, 32], token_stride=4, seed=3, rank=0, world_size=1,
                      library=library, flips=False, rotations=False, threads=1, prefetch=4, max_pairs=6)
batch = next(iter(dataset))
for name in ["reconstruction", "intra", "inter"]:
    torch.manual_seed(3)
    net = TacoEncoderDecoder({"channels": [8, 16, 32], "blocks_per_stage": 1, "groups": 8, "slope": 0.01, "input_channels": 1, "token_stage": 2})
    x = torch.cat([batch["views"][:, 0], batch["views"][:, 1]])
    token_map, output = net(x)
    terms = TopologyLoss(margin_intra=0.3)(token_map[:2], token_map[2:], loss_pairs(batch), reconstruction=(output, x),
                           generator=torch.Generator().manual_seed(pretrain.negatives_seed(3, 0, 0)))
    terms[name].backward()
    direct = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters() if p.grad is not None))
    assert direct > 0 and abs(logged[f"gradient_norm_{name}"] - direct) <= 1e-5 * direct, (name, logged[f"gradient_norm_{name}"], direct)
    assert abs(logged[name] - float(terms[name])) <= 1e-5 * abs(float(terms[name])), (name, logged[name], float(terms[name]))
ramped = logged["reconstruction"] + 0.1 * (1 / 4) * (logged["intra"] + logged["inter"])   # pretrain.py's default weights
assert abs(logged["loss"] - ramped) <= 1e-5 * ramped, (logged, ramped)
assert json.load(open(os.path.join(terms_run, "configuration.json")))["loss"]["topology_warmup_steps"] == 4

print("ok: 2 ranks identical, losses", [round(m["loss"], 4) for m in lines], "resumed run equal")
