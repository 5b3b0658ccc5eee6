"""Pre-train an encoder on TacoKit shards with PyTorch: one process, or data-parallel under torchrun.

    python python/examples/pretrain.py out/demo/shards --out run --steps 100 --crop 64 --channels 8,16,32,64
    torchrun --nproc_per_node 4 python/examples/pretrain.py shards --out run --steps 20000   # gloo on CPU, NCCL on GPU
    taco probe run out/demo/shards --held-out 2                                                # reads this run

The run folder holds what `taco train` writes, under the same names and formats: configuration.json,
metrics.jsonl (one line per step: the loss terms, learning rate, gradient norm, time; here also the step's time
split into data wait, forward, loss and backward), checkpoints/step-NNNNNNN.safetensors (weights under the names
of tacokit.torch.TacoEncoderDecoder, AdamW's moments as optimizer.exp_avg.<name> / optimizer.exp_avg_sq.<name>,
the step and the stream's position in the metadata) and model.safetensors at the end. `--resume` continues the
latest checkpoint exactly as an uninterrupted run would have gone on; `--stop-after K` ends a job after step K
with a checkpoint (for allocations shorter than the run).

Each rank trains on its share of every epoch (TacoDataset: equal batch counts per rank); `--batch-size` is per
rank. DDP averages the gradients, so the weights stay identical on every rank; rank 0 writes the files. The
negatives of the losses are drawn from a generator seeded by (seed, step, rank), so a run is reproducible.
`--model swinunetr` trains MONAI's SwinUNETR (the paper's backbone; pip install monai einops) with the tokens of
its Swin encoder at `--token-stage` (4: stride 32, 27 tokens per 96^3 crop, as the paper); `taco probe` reads
only TacoKit's own model. On CUDA the forward pass runs under bfloat16 autocast (`--no-amp` to turn it off); the
losses are computed in float32. `--ablation reconstruction-only` trains the baseline `taco evaluate` compares
with; `--term-gradients N` logs each loss term's own gradient norm every N steps (docs/method-study.md).
"""
import argparse
import fcntl
import hashlib
import json
import math
import os
import socket
import time
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from tacokit.torch import TacoDataset, TacoEncoderDecoder, TopologyLoss, loss_pairs


def arguments(argv=None):
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("shards", help="a shard folder (its dataset.json) or a dataset.json")
    a.add_argument("--out", required=True, help="the run folder")
    a.add_argument("--steps", type=int, default=1000)
    a.add_argument("--batch-size", type=int, default=2, help="subjects per batch on each rank")
    a.add_argument("--crop", type=int, default=96, help="crop side, voxels (a multiple of the deepest stride)")
    a.add_argument("--model", choices=["taco", "swinunetr"], default="taco")
    a.add_argument("--channels", default="16,32,64,128", help="taco model: channels per stage")
    a.add_argument("--feature-size", type=int, default=48, help="swinunetr: feature size (a multiple of 12)")
    a.add_argument("--token-stage", type=int, help="the stage whose features are the tokens (default: the deepest)")
    a.add_argument("--learning-rate", type=float, default=1e-3)
    a.add_argument("--minimum-learning-rate", type=float, default=1e-5)
    a.add_argument("--warmup-steps", type=int, default=50)
    a.add_argument("--weight-decay", type=float, default=0.05)
    a.add_argument("--clip-norm", type=float, default=1.0, help="global gradient-norm clipping (0: none)")
    a.add_argument("--reconstruction-weight", type=float, default=1.0)
    a.add_argument("--intra-weight", type=float, help="default 0.1 (the paper's: 10; docs/method-study.md)")
    a.add_argument("--inter-weight", type=float, help="default 0.1 (the paper's: 10)")
    a.add_argument("--intra-margin", type=float, default=0.05, help="the intra-instance hinge's margin on cosine similarities")
    a.add_argument("--inter-margin", type=float, default=0.4, help="the inter-instance hinge's margin on cosine similarities")
    a.add_argument("--topology-warmup", type=int, default=0, metavar="N",
                   help="ramp the intra and inter weights linearly from 0 to their values over the first N steps")
    a.add_argument("--ablation", choices=["reconstruction-only"],
                   help="reconstruction-only: the topology weights set to 0, everything else equal (the baseline of taco evaluate)")
    a.add_argument("--checkpoint-every", type=int, default=100)
    a.add_argument("--keep-checkpoints", type=int, default=3)
    a.add_argument("--non-finite-limit", type=int, default=5, help="consecutive skipped (non-finite) steps that stop the run")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--workers", type=int, default=2, help="DataLoader workers per rank")
    a.add_argument("--stream-threads", type=int, default=1, help="the stream's threads in each worker")
    a.add_argument("--no-augmentation", action="store_true", help="no flips or rotations of the crops")
    a.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on CUDA")
    a.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    a.add_argument("--stop-after", type=int, help="end this job after step K (with a checkpoint)")
    a.add_argument("--term-gradients", type=int, default=0, metavar="N",
                   help="every N steps, log each loss term's own gradient norm (unweighted); one process only (three extra backward passes)")
    args = a.parse_args(argv)
    if args.ablation == "reconstruction-only":
        if args.intra_weight or args.inter_weight:
            a.error("--ablation reconstruction-only sets the intra and inter weights to 0; do not give them other values")
        args.intra_weight = args.inter_weight = 0.0
    args.intra_weight = 0.1 if args.intra_weight is None else args.intra_weight
    args.inter_weight = 0.1 if args.inter_weight is None else args.inter_weight
    return args


def configuration(args, world):
    """The run's settings under `taco train`'s configuration keys (docs/train.md), plus the world size."""
    if args.model == "taco":
        channels = [int(c) for c in args.channels.split(",")]
        stage = len(channels) - 1 if args.token_stage is None else args.token_stage
        model = {"channels": channels, "blocks_per_stage": 1, "groups": 8, "slope": 0.01, "input_channels": 1, "token_stage": stage}
    else:
        stage = 4 if args.token_stage is None else args.token_stage
        model = {"architecture": "swinunetr", "feature_size": args.feature_size, "token_stage": stage, "input_channels": 1}
    return {
        "seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "crop": [args.crop] * 3,
        "learning_rate": args.learning_rate, "minimum_learning_rate": args.minimum_learning_rate,
        "warmup_steps": args.warmup_steps, "weight_decay": args.weight_decay, "clip_norm": args.clip_norm,
        "checkpoint_every": args.checkpoint_every, "keep_checkpoints": args.keep_checkpoints, "picture_every": 10,
        "non_finite_limit": args.non_finite_limit, "threads": args.stream_threads, "prefetch": 4, "skip_corrupt": False,
        "flips": not args.no_augmentation, "rotations": not args.no_augmentation,
        "loss": {"reconstruction": args.reconstruction_weight, "intra": args.intra_weight, "inter": args.inter_weight,
                 "neighbours": 5, "intra_margin": args.intra_margin, "inter_margin": args.inter_margin, "max_pairs": 6,
                 "topology_warmup_steps": args.topology_warmup},
        "model": model, "world_size": world,
    }


class SwinUNETRTokens(torch.nn.Module):
    """MONAI's SwinUNETR returning (tokens, reconstruction): the tokens are its Swin encoder's hidden state at
    `token_stage` (stride 2^(stage+1)), the reconstruction its decoder's output. State names are SwinUNETR's."""

    def __init__(self, feature_size, token_stage):
        super().__init__()
        from monai.networks.nets import SwinUNETR
        self.net = SwinUNETR(in_channels=1, out_channels=1, feature_size=feature_size)
        self.token_stage = token_stage

    def forward(self, x):
        hidden = []
        hook = self.net.swinViT.register_forward_hook(lambda module, inputs, output: hidden.append(output))
        try:
            reconstruction = self.net(x)
        finally:
            hook.remove()
        return hidden[0][self.token_stage], reconstruction

    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state, strict=True):
        return self.net.load_state_dict(state, strict=strict)


def make_model(config):
    model = config["model"]
    if model.get("architecture") == "swinunetr":
        return SwinUNETRTokens(model["feature_size"], model["token_stage"]), 2 ** (model["token_stage"] + 1)
    return TacoEncoderDecoder(model), 2 ** model["token_stage"]


def learning_rate(config, step):
    """Linear warm-up, then a half cosine to the minimum (taco train's WarmupCosineSchedule); `step` 0-based."""
    rate, low, warmup, total = config["learning_rate"], config["minimum_learning_rate"], config["warmup_steps"], config["steps"]
    if step < warmup:
        return rate * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return low + 0.5 * (rate - low) * (1 + math.cos(math.pi * progress))


def topology_ramp(config, step):
    """The share (0 to 1] of the intra and inter weights at a step (0-based): linear over topology_warmup_steps."""
    warmup = config["loss"].get("topology_warmup_steps", 0)
    return 1.0 if step >= warmup else (step + 1) / warmup


def optimiser_for(model, config):
    """AdamW decaying convolution weights only (not normalisation scales or biases), as taco train does."""
    named = list(model.named_parameters())
    decayed = [p for n, p in named if n.endswith(".weight") and "norm" not in n]
    kept = [p for n, p in named if not (n.endswith(".weight") and "norm" not in n)]
    return torch.optim.AdamW([{"params": decayed, "weight_decay": config["weight_decay"]}, {"params": kept, "weight_decay": 0.0}],
                             lr=config["learning_rate"], betas=(0.9, 0.999), eps=1e-8)


class RunFolder:
    """The files of a run, named and written as `taco train` writes them (each file complete or absent)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.checkpoints = self.folder / "checkpoints"
        self.metrics = self.folder / "metrics.jsonl"

    def claim(self):
        """Claims the folder as taco train does (an flock on .taco-lock-train, released when the process ends), so that
        two trainers never write one run; returns the open lock file (keep it open). Where the file system has no locks,
        returns None and the run goes on unguarded."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / ".taco-lock-train", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SystemExit(f"{self.folder} is in use by another run ({holder}); wait for it to finish or choose another --out")
        except OSError:
            return None
        handle.truncate(0)
        handle.write(f"pretrain.py, process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        return handle

    def latest_checkpoint(self):
        files = sorted(self.checkpoints.glob("step-*.safetensors")) if self.checkpoints.is_dir() else []
        return files[-1] if files else None

    def write_safetensors(self, path, tensors, metadata):
        temporary = path.with_name(f".{path.name}.partial")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(temporary), metadata=metadata)
        os.replace(temporary, path)

    def save_checkpoint(self, model, optimiser, config, state):
        tensors = dict(model.state_dict())
        names = {id(p): n for n, p in model.named_parameters()}
        for group in optimiser.param_groups:
            for p in group["params"]:
                moments = optimiser.state.get(p, {})
                tensors[f"optimizer.exp_avg.{names[id(p)]}"] = moments.get("exp_avg", torch.zeros_like(p))
                tensors[f"optimizer.exp_avg_sq.{names[id(p)]}"] = moments.get("exp_avg_sq", torch.zeros_like(p))
        metadata = {"format": "taco-checkpoint/1", "configuration": json.dumps(config, sort_keys=True), "trainer": "pretrain.py",
                    **{k: str(v) for k, v in state.items()}}
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.write_safetensors(self.checkpoints / f"step-{state['step']:07d}.safetensors", tensors, metadata)
        for old in sorted(self.checkpoints.glob("step-*.safetensors"))[:-config["keep_checkpoints"]]:
            old.unlink()

    def save_weights(self, model, config, step):
        metadata = {"format": "taco-weights/1", "step": str(step), "configuration": json.dumps(config, sort_keys=True), "trainer": "pretrain.py"}
        self.write_safetensors(self.folder / "model.safetensors", dict(model.state_dict()), metadata)


def restore(path, model, optimiser, config):
    """Loads a checkpoint into the model and the optimiser; returns its state (step, stream position, counters)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        saved = json.loads(meta["configuration"])
        if saved != config:
            differing = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
            raise SystemExit(f"{path} was written with another configuration ({', '.join(differing)} differ); "
                             "--resume continues a run as it was configured")
        model.load_state_dict({k: f.get_tensor(k) for k in f.keys() if not k.startswith("optimizer.")}, strict=True)
        steps = int(meta["optimizer_steps"])
        for name, p in model.named_parameters():
            optimiser.state[p] = {"step": torch.tensor(float(steps)), "exp_avg": f.get_tensor(f"optimizer.exp_avg.{name}").to(p.device),
                                  "exp_avg_sq": f.get_tensor(f"optimizer.exp_avg_sq.{name}").to(p.device)}
    return {k: int(meta[k]) for k in ["step", "optimizer_steps", "stream_epoch", "stream_batch", "consecutive_skipped", "skipped"]}


def term_gradient_norms(model, terms):
    """The L2 norm over all parameters of each unweighted term's gradient, before clipping: how hard each term
    pulls, to set against the weights (a term that does not depend on the parameters has norm 0)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    norms = {}
    for name in ["reconstruction", "intra", "inter"]:
        if not terms[name].requires_grad:
            norms[f"gradient_norm_{name}"] = 0.0
            continue
        grads = torch.autograd.grad(terms[name], parameters, retain_graph=True, allow_unused=True)
        norms[f"gradient_norm_{name}"] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))
    return norms


def negatives_seed(seed, step, rank):
    """The seed of the losses' negatives at a step on a rank: a hash of the three (nothing else enters)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{step}/{rank}".encode(), digest_size=8).digest(), "little") >> 1


def batches(dataset, loader, epoch):
    """The loader's batches epoch after epoch, from where the dataset's state says."""
    while True:
        for batch in loader:
            yield batch
        epoch += 1
        dataset.set_epoch(epoch)       # persistent workers' copies of the dataset move on by themselves


def main(argv=None):
    """Trains and returns the model (unwrapped); rank 0 writes the run folder."""
    args = arguments(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = torch.device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if args.term_gradients and distributed:
        raise SystemExit("--term-gradients runs in one process (DDP's gradient hooks allow one backward pass per step)")
    config = configuration(args, world)
    run = RunFolder(args.out)
    claim = run.claim() if rank == 0 else None  # noqa: F841 (held open for the run's life)

    torch.manual_seed(config["seed"])
    model, token_stride = make_model(config)
    model.to(device)
    optimiser = optimiser_for(model, config)
    state = {"step": 0, "optimizer_steps": 0, "stream_epoch": 0, "stream_batch": 0, "consecutive_skipped": 0, "skipped": 0}
    if args.resume:
        latest = run.latest_checkpoint()
        if latest is None:
            raise SystemExit(f"{run.folder}: --resume, but there is no checkpoint in {run.checkpoints}")
        state = restore(latest, model, optimiser, config)
    elif run.latest_checkpoint() is not None:
        raise SystemExit(f"{run.folder} already holds a run (checkpoints/); pass --resume to continue it or choose another --out")
    wrapped = DistributedDataParallel(model) if distributed else model   # DDP copies rank 0's weights to every rank

    manifest = Path(args.shards)
    manifest = manifest if manifest.suffix == ".json" else manifest / "dataset.json"
    dataset = TacoDataset(manifest, batch_size=config["batch_size"], roi=config["crop"], token_stride=token_stride, seed=config["seed"],
                          rank=rank, world_size=world, flips=config["flips"], rotations=config["rotations"],
                          threads=config["threads"], prefetch=config["prefetch"], max_pairs=config["loss"]["max_pairs"])
    dataset.load_state_dict({"epoch": state["stream_epoch"], "batch": state["stream_batch"]})
    loader = DataLoader(dataset, batch_size=None, num_workers=args.workers, pin_memory=device.type == "cuda",
                        persistent_workers=args.workers > 0)
    weights = config["loss"]
    loss = TopologyLoss(weights["reconstruction"], weights["intra"], weights["inter"], k=weights["neighbours"],
                        margin_intra=weights["intra_margin"], margin_inter=weights["inter_margin"])
    amp = device.type == "cuda" and not args.no_amp
    end = min(config["steps"], args.stop_after or config["steps"])

    if rank == 0:
        run.folder.mkdir(parents=True, exist_ok=True)
        (run.folder / "configuration.json").write_text(json.dumps(config, sort_keys=True) + "\n")
        kept = [line for line in (run.metrics.read_text().splitlines() if run.metrics.exists() else [])
                if line and json.loads(line)["step"] <= state["step"]]
        run.metrics.write_text("".join(line + "\n" for line in kept))
    log = run.metrics.open("a") if rank == 0 else None

    def clock():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    source = batches(dataset, loader, state["stream_epoch"])
    while state["step"] < end:
        started = clock()
        batch = next(source)
        views = batch["views"].to(device, non_blocking=True)                   # (S, 2, 1, z, y, x)
        x = torch.cat([views[:, 0], views[:, 1]])                              # first views, then second views
        s = views.shape[0]
        loaded = clock()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            token_map, output = wrapped(x)
        forwarded = clock()
        generator = torch.Generator().manual_seed(negatives_seed(config["seed"], state["step"], rank))
        ramp = topology_ramp(config, state["step"])
        loss.intra_weight, loss.inter_weight = weights["intra"] * ramp, weights["inter"] * ramp
        terms = loss(token_map[:s].float(), token_map[s:].float(), loss_pairs(batch, device),
                     reconstruction=(output.float(), x) if weights["reconstruction"] > 0 or args.term_gradients else None, generator=generator)
        lossed = clock()
        term_norms = term_gradient_norms(model, terms) if args.term_gradients and state["step"] % args.term_gradients == 0 else {}
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()                                               # DDP averages the gradients here
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip_norm"] or float("inf")))
        backward = clock()

        figures = torch.tensor([terms[k].item() for k in ["total", "reconstruction", "intra", "inter"]] + list(terms["pairs_used"]),
                               dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(figures)                                            # sums; the losses are averaged below
        total, rec, intra, inter = (figures[:4] / world).tolist()
        pairs_used = [int(v) for v in figures[4:].tolist()]
        skipped = None
        if not math.isfinite(total) or not math.isfinite(norm):
            skipped = "non-finite loss" if not math.isfinite(total) else "non-finite gradient"
            state["consecutive_skipped"] += 1
            state["skipped"] += 1
        else:
            rate = learning_rate(config, state["step"])
            for group in optimiser.param_groups:
                group["lr"] = rate
            optimiser.step()
            state["optimizer_steps"] += 1
            state["consecutive_skipped"] = 0
        state["step"] += 1
        state["stream_epoch"], state["stream_batch"] = batch["epoch"], batch["batch"] + 1
        finished = clock()

        if log is not None:
            seconds = finished - started
            line = {"step": state["step"], "epoch": batch["epoch"], "loss": total, "reconstruction": rec, "intra": intra, "inter": inter,
                    "learning_rate": learning_rate(config, state["step"] - 1), "gradient_norm": norm, "step_seconds": seconds,
                    "samples_per_second": s * world / max(seconds, 1e-9), "pairs_used": pairs_used,
                    "data_seconds": loaded - started, "forward_seconds": forwarded - loaded, "loss_seconds": lossed - forwarded,
                    "backward_seconds": backward - lossed, **term_norms}
            if skipped:
                line["skipped"] = skipped
            log.write(json.dumps({k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in line.items()},
                                 sort_keys=True) + "\n")
            log.flush()
            print(f"step {state['step']}/{config['steps']}: loss {total:.4f} (reconstruction {rec:.4f}, intra {intra:.4f}, "
                  f"inter {inter:.4f}) {seconds:.2f} s, data wait {loaded - started:.2f} s" + (f", skipped: {skipped}" if skipped else ""),
                  flush=True)
        if state["consecutive_skipped"] >= config["non_finite_limit"]:
            raise SystemExit(f"stopped at step {state['step']}: {state['consecutive_skipped']} consecutive steps had a {skipped} "
                             f"(limit {config['non_finite_limit']})")
        if rank == 0 and (state["step"] % config["checkpoint_every"] == 0 or state["step"] == end):
            run.save_checkpoint(model, optimiser, config, state)
    if rank == 0 and state["step"] == config["steps"]:
        run.save_weights(model, config, state["step"])
    if log is not None:
        log.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return model


if __name__ == "__main__":
    main()
