"""The losses' study: pre-train the same recipe under several loss settings and seeds with pretrain.py, score
every run (and random initialisation once) with `taco evaluate`, and tabulate each task as mean and spread over seeds.

    .build-python/bin/python Benchmarks/study/topology.py SHARDS --taco .build/release/taco --out out/study \
        [--truth out/demo/truth --key-file out/demo-private/prep-key] [--seeds 0,1,2] [--steps 100] \
        [--settings taco,reconstruction-only,i1-e1,e0,w50] [--curve 50] [--table-only]

A setting is `taco` (the paper's weights: reconstruction 1, intra 10, inter 10; margins 0.05 and 0.4),
`reconstruction-only`,
or changes to the defaults (see `settings_options`). The recipe is the demo's: model 8-16-32-64, 64^3 crops, batches
of 2, learning-rate warm-up 10 steps. Runs and reports already under OUT are kept, so the study grows call by call;
`--curve` also scores the checkpoints at those steps. Every call tabulates all runs under OUT into OUT/study.json
and prints markdown tables (docs/method-study.md).
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


DEFAULTS = {"r": "1", "i": "10", "e": "10"}     # the paper's weights; `taco` names them
OPTIONS = {"r": "--reconstruction-weight", "i": "--intra-weight", "e": "--inter-weight", "w": "--topology-warmup",
           "m": "--intra-margin", "n": "--inter-margin"}


def settings_options(setting):
    """pretrain.py's options for a setting: `taco`, `reconstruction-only`, or dash-separated changes to TACO's
    defaults, each a letter and a value: r, i, e (reconstruction, intra, inter weights), w (topology warm-up steps),
    m, n (intra, inter margins); e.g. i1-e1, e0, w50, m0.2."""
    if setting == "taco":
        return ["--intra-weight", "10", "--inter-weight", "10"]
    if setting == "reconstruction-only":
        return ["--ablation", "reconstruction-only"]
    parts = dict(DEFAULTS, **{p[0]: p[1:] for p in setting.split("-")})
    unknown = set(parts) - set(OPTIONS)
    if unknown:
        raise SystemExit(f"setting {setting}: unknown letters {sorted(unknown)} (known: {sorted(OPTIONS)})")
    return [x for letter, value in parts.items() for x in (OPTIONS[letter], value)]


def run_name(setting, seed, steps):
    return f"{setting}-seed{seed}" if steps == 100 else f"{setting}-{steps}steps-seed{seed}"


def setting_of(run):
    """The setting (and budget) of a run's name: the name without its seed."""
    return run.rsplit("-seed", 1)[0]


def results_under(out):
    """Every scored encoder in the evaluation reports under `out`, by (run name, step); random init as ("random init", 0)."""
    found = {}
    for report in sorted(out.rglob("evaluation.json")):
        for result in json.loads(report.read_text())["results"]:
            name = result["model"]
            key = ("random init", 0) if name.startswith("random init") else (name.split(" (")[0], result["step"])
            found.setdefault(key, result)
    return found


def figure(result, task="tissue, linear probe", metric="mean Dice", input="both"):
    return next(f for f in result["figures"] if f["task"] == task and f["metric"] == metric and f["input"] == input)["spread"]["mean"]


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
    a.add_argument("--table-only", action="store_true", help="train and score nothing: tabulate what is under --out")
    args = a.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    curve = [int(s) for s in args.curve.split(",") if s]

    def evaluate(path, name, step):
        """Scores one encoder into its own folder (the folds depend on the shards only, so every report agrees);
        the first evaluation of the study also scores random initialisation."""
        if (name, step) in results_under(out):
            return
        command = [args.taco, "evaluate", str(path), args.shards, "--out", str(out / "evaluations" / f"{name}-step{step}")]
        command += ["--synth-truth", args.truth, "--key-file", args.key_file] if args.truth else ["--synthetic"]
        command += [] if ("random init", 0) not in results_under(out) else ["--no-random-init"]
        print("study:", " ".join(command), flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    for setting in ([] if args.table_only else args.settings.split(",")):
        for seed in seeds:
            name = run_name(setting, seed, args.steps)
            run = out / name
            if not (run / "model.safetensors").exists():
                command = [sys.executable, str(PRETRAIN), args.shards, "--out", str(run), "--steps", str(args.steps), "--crop", "64",
                           "--channels", "8,16,32,64", "--batch-size", "2", "--warmup-steps", "10", "--seed", str(seed),
                           "--checkpoint-every", str(min(curve + [args.steps])), "--keep-checkpoints", "100", "--workers", "0",
                           "--stream-threads", "2", "--term-gradients", "10"] + settings_options(setting)
                print("study:", " ".join(command), flush=True)
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            evaluate(run, name, args.steps)
            for step in curve:
                evaluate(run / "checkpoints" / f"step-{step:07d}.safetensors", name, step)
    tabulate(out)


def tabulate(out):
    """Every run's figures under `out` as mean and spread over seeds per setting: OUT/study.json and a markdown table."""
    def spread(values):
        return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}

    found = results_under(out)
    final = {}
    for (name, step), result in found.items():
        run = out / name
        if name != "random init" and (run / "configuration.json").exists() and step == json.loads((run / "configuration.json").read_text())["steps"]:
            final[name] = result
    table, curves, gradients = {}, {}, {}
    for name, result in sorted(final.items()):
        for f in result["figures"]:
            table.setdefault((f["task"], f["metric"], f["input"]), {}).setdefault(setting_of(name), []).append(f["spread"]["mean"])
    if ("random init", 0) in found:
        for f in found[("random init", 0)]["figures"]:
            table.setdefault((f["task"], f["metric"], f["input"]), {})["random init"] = [f["spread"]["mean"]]
    for (name, step), result in found.items():
        if name in final:
            curves.setdefault(setting_of(name), {}).setdefault(step, []).append(figure(result))
    for name in final:
        lines = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        logged = [m for m in lines if "gradient_norm_intra" in m]
        g = gradients.setdefault(setting_of(name), {})
        for term in ["reconstruction", "intra", "inter"]:
            g.setdefault(f"{term} gradient, first", []).append(logged[0][f"gradient_norm_{term}"])
            g.setdefault(f"{term} gradient, last 3", []).append(statistics.mean(m[f"gradient_norm_{term}"] for m in logged[-3:]))
            g.setdefault(f"{term} value, last 20", []).append(statistics.mean(m[term] for m in lines[-20:]))

    seeds = {s: sorted(int(n.rsplit("-seed", 1)[1]) for n in final if setting_of(n) == s) for s in {setting_of(n) for n in final}}
    summary = {"seeds": seeds, "figures": [{"task": t, "metric": m, "input": i, **{s: spread(v) for s, v in by.items()}} for (t, m, i), by in table.items()],
               "curves": {s: {str(k): spread(v) for k, v in sorted(c.items())} for s, c in curves.items()},
               "terms": {s: {k: spread(v) for k, v in g.items()} for s, g in gradients.items()}}
    (out / "study.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")

    columns = sorted(seeds, key=lambda s: (s not in ("taco", "reconstruction-only"), s)) + ["random init"]
    print("\n| task | metric | input | " + " | ".join(f"{c} ({len(seeds.get(c, [0]))})" for c in columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for (t, m, i), by in table.items():
        cells = [f"{statistics.mean(by[c]):.3f} ± {statistics.stdev(by[c]) if len(by[c]) > 1 else 0:.3f}" if c in by else "—" for c in columns]
        print(f"| {t} | {m} | {i} | " + " | ".join(cells) + " |")
    print("\ncurve (tissue linear probe, mean Dice, both modalities; mean ± sd over seeds):")
    for s, c in sorted(curves.items()):
        print(f"  {s}: " + ", ".join(f"step {k}: {statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}" for k, v in sorted(c.items())))
    print("\nunweighted terms and their gradient norms (mean over seeds)")
    for s, g in sorted(gradients.items()):
        print(f"  {s}: " + ", ".join(f"{k} {statistics.mean(v):.4g}" for k, v in g.items()))


if __name__ == "__main__":
    main()
