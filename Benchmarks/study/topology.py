"""The losses' study: pre-train the same recipe under several loss settings and seeds with pretrain.py, then score
every run (and random initialisation) with `taco evaluate`, and tabulate each task as mean and spread over seeds.

    .build-python/bin/python Benchmarks/study/topology.py SHARDS --taco .build/release/taco --out out/study \
        [--truth out/demo/truth --key-file out/demo-private/prep-key] [--seeds 0,1,2] [--steps 100] \
        [--settings taco,reconstruction-only,intra-1,inter-1] [--curve 25,50]

A setting is `taco` (the defaults: reconstruction 1, intra 10, inter 10), `reconstruction-only`, or
`r<w>-i<w>-e<w>` (reconstruction, intra and inter weights, e.g. r1-i0.1-e1). The recipe is the demo's:
model 8-16-32-64, 64^3 crops, batches of 2, warm-up 10 steps. `--curve` also scores the checkpoints at those
steps (the curve of score against steps). Writes OUT/study.json and prints a markdown table (docs/method-study.md).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRETRAIN = HERE.parent.parent / "python" / "examples" / "pretrain.py"


def weights(setting):
    if setting == "taco":
        return []
    if setting == "reconstruction-only":
        return ["--ablation", "reconstruction-only"]
    parts = dict((p[0], p[1:]) for p in setting.split("-"))
    return ["--reconstruction-weight", parts["r"], "--intra-weight", parts["i"], "--inter-weight", parts["e"]]


def main():
    a = argparse.ArgumentParser()
    a.add_argument("shards")
    a.add_argument("--taco", required=True, help="the taco binary (a release build evaluates several times faster)")
    a.add_argument("--out", required=True)
    a.add_argument("--truth")
    a.add_argument("--key-file")
    a.add_argument("--seeds", default="0,1,2")
    a.add_argument("--steps", type=int, default=100)
    a.add_argument("--settings", default="taco,reconstruction-only")
    a.add_argument("--curve", default="", help="checkpoint steps to score too, e.g. 25,50")
    args = a.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = args.settings.split(",")
    curve = [int(s) for s in args.curve.split(",") if s]
    runs = {}
    for setting in settings:
        for seed in seeds:
            run = out / f"{setting}-seed{seed}"
            runs[(setting, seed)] = run
            if (run / "model.safetensors").exists():
                continue
            command = [sys.executable, str(PRETRAIN), args.shards, "--out", str(run), "--steps", str(args.steps), "--crop", "64",
                       "--channels", "8,16,32,64", "--batch-size", "2", "--warmup-steps", "10", "--seed", str(seed),
                       "--checkpoint-every", str(min(curve) if curve else args.steps), "--keep-checkpoints", "100", "--workers", "0",
                       "--stream-threads", "2", "--term-gradients", "10"] + weights(setting)
            print("study:", " ".join(command), flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def evaluate(paths, folder):
        report = folder / "evaluation.json"
        if not report.exists():
            command = [args.taco, "evaluate", *map(str, paths), args.shards, "--out", str(folder)]
            command += ["--synth-truth", args.truth, "--key-file", args.key_file] if args.truth else ["--synthetic"]
            print("study:", " ".join(command), flush=True)
            subprocess.run(command, check=True)
        return json.loads(report.read_text())

    # One evaluation of every run at its end: the same folds and random initialisation for all.
    final = evaluate([runs[k] for k in sorted(runs)], out / "evaluation")
    table = {}
    for (setting, seed), result in zip(sorted(runs), final["results"]):
        for f in result["figures"]:
            table.setdefault((f["task"], f["metric"], f["input"]), {}).setdefault(setting, []).append(f["spread"]["mean"])
    random = final["results"][len(runs)]
    for f in random["figures"]:
        table.setdefault((f["task"], f["metric"], f["input"]), {})["random init"] = [f["spread"]["mean"]]
    curves = {}
    for step in curve:
        paths = [runs[k] / "checkpoints" / f"step-{step:07d}.safetensors" for k in sorted(runs)]
        report = evaluate(paths, out / f"evaluation-step{step}")
        for (setting, seed), result in zip(sorted(runs), report["results"]):
            f = next(f for f in result["figures"] if f["task"] == "tissue, linear probe" and f["metric"] == "mean Dice" and f["input"] == "both")
            curves.setdefault(setting, {}).setdefault(step, []).append(f["spread"]["mean"])
    for (setting, seed), result in zip(sorted(runs), final["results"]):
        f = next(f for f in result["figures"] if f["task"] == "tissue, linear probe" and f["metric"] == "mean Dice" and f["input"] == "both")
        curves.setdefault(setting, {}).setdefault(args.steps, []).append(f["spread"]["mean"])

    gradients = {}
    for (setting, seed), run in runs.items():
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        logged = [m for m in lines if "gradient_norm_intra" in m]
        for term in ["reconstruction", "intra", "inter"]:
            gradients.setdefault(setting, {}).setdefault(f"{term} gradient, first", []).append(logged[0][f"gradient_norm_{term}"])
            gradients[setting].setdefault(f"{term} gradient, last 3", []).append(statistics.mean(m[f"gradient_norm_{term}"] for m in logged[-3:]))
            gradients[setting].setdefault(f"{term} value, last 20", []).append(statistics.mean(m[term] for m in lines[-20:]))

    def spread(values):
        return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}

    summary = {"seeds": seeds, "steps": args.steps, "data": final["data"],
               "figures": [{"task": t, "metric": m, "input": i, **{s: spread(v) for s, v in by.items()}} for (t, m, i), by in table.items()],
               "curves": {s: {str(k): spread(v) for k, v in sorted(c.items())} for s, c in curves.items()},
               "terms": {s: {k: spread(v) for k, v in g.items()} for s, g in gradients.items()}}
    (out / "study.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")

    columns = settings + ["random init"]
    print("\n| task | metric | input | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for (t, m, i), by in table.items():
        cells = [f"{statistics.mean(by[c]):.3f} ± {statistics.stdev(by[c]) if len(by[c]) > 1 else 0:.3f}" if c in by else "—" for c in columns]
        print(f"| {t} | {m} | {i} | " + " | ".join(cells) + " |")
    print("\ncurve (tissue linear probe, mean Dice, both modalities; mean over seeds):")
    for s, c in curves.items():
        print(f"  {s}: " + ", ".join(f"step {k}: {statistics.mean(v):.3f}" for k, v in sorted(c.items())))
    print("\nunweighted terms and their gradient norms (mean over seeds)")
    for s, g in gradients.items():
        print(f"  {s}: " + ", ".join(f"{k} {statistics.mean(v):.4g}" for k, v in g.items()))


if __name__ == "__main__":
    main()
