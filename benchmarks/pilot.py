"""Pilot at equal wall-clock: train each candidate recipe for the same minutes on this machine.

    python benchmarks/pilot.py --data ../shared/data/cifar10-train.zip --minutes 12 --out runs/pilot

Each candidate's speed is measured first (gan.bench, synthetic data), then it trains for the
number of steps that fill `--minutes` at that speed, so a linear learning-rate decay reaches 0
at the end as it would in a planned run. Same seed for every candidate. Afterwards score each run:

    python -m gan evaluate --run-dir runs/pilot/NAME --metrics fd_cifar10k,ifd_cifar10k,pr_cifar10k,class_acc10k \\
        --data ../shared/data/cifar10-train.zip

Then score them all (10,000 samples each, the EMA sampler and the raw generator of every run):

    python benchmarks/pilot.py --data ../shared/data/cifar10-train.zip --out runs/pilot --score

The results and the command of every row are in benchmarks/PILOT.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CIFAR_IMAGES = 50_000

# name -> (preset, overrides of TrainConfig fields; "extra" is merged into the preset's)
CANDIDATES: dict[str, tuple[str, dict]] = {
    "small": ("small", {"conditional": True}),  # the recipe of the model shipped before (raw G, no EMA)
    "sngan128-ms": ("sngan-cpu", {}),  # the preset as it ships: mode seeking on
    "sngan128": ("sngan-cpu", {"mode_seeking": 0.0}),
    "sngan128-concat": ("sngan-cpu", {"mode_seeking": 0.0, "extra": {"conditional_bn": False}}),
    "sngan128-ttur": ("sngan-cpu", {"mode_seeking": 0.0, "g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9}),
    "sngan192": ("sngan-cpu", {"extra": {"g_channels": 192, "d_channels": 192}}),
    "sngan128-nombstd": ("sngan-cpu", {"extra": {"mbstd_group": 0}}),
    # Round 2, after the first long run's D proved weak (hinge outputs +0.4 on real, +0.1 on fake): a 2x wider D
    # with TTUR. Rows above this one were measured with Keras' SpectralNormalization (see EARLIER).
    "d256-ttur-sn": ("sngan-cpu", {"mode_seeking": 0.0, "g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9,
                                   "extra": {"d_channels": 256}}),
    "d128-ttur-sn": ("sngan-cpu", {"mode_seeking": 0.0, "g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9}),
    # Round 4 (issue 22): capacity against images seen, a wider D than G, and DiffAugment with the corrected norm.
    "r4-base": ("sngan-cpu", {"extra": {"g_channels": 128, "d_channels": 128}}),  # the round-3 preset (AC head)
    "r4-w192": ("sngan-cpu", {"extra": {"g_channels": 192, "d_channels": 192}}),
    "r4-w256": ("sngan-cpu", {"extra": {"g_channels": 256, "d_channels": 256}}),
    "r4-d256": ("sngan-cpu", {"extra": {"g_channels": 128, "d_channels": 256}}),
    "r4-daug": ("sngan-cpu", {"augment": "color,translation", "extra": {"g_channels": 128, "d_channels": 128}}),
    "r4-nearest": ("sngan-cpu", {"extra": {"g_up": "nearest", "g_channels": 128, "d_channels": 128}}),
    # round 4 ran on width 128
    "r4-dsteps2": ("sngan-cpu", {"d_steps": 2, "extra": {"g_channels": 128, "d_channels": 128}}),
}
# Runs of earlier recipes, kept in the table (their D differs: see benchmarks/PILOT.md).
EARLIER = {
    # d256-ttur-sn with Keras' SpectralNormalization, before gan.layers.SpectralNorm: one lattice for every sample.
    "d256-ttur": ("sngan-cpu", {"mode_seeking": 0.0, "g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9,
                                "extra": {"d_channels": 256}}),
    "sumpool-ttur": ("sngan-cpu", {"mode_seeking": 0.0, "g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9,
                                   "augment": "translation", "extra": {"d_pool": "sum"}}),
    "aborted-translation-sngan128": ("sngan-cpu", {"mode_seeking": 0.0, "augment": "translation"}),
    "flatproj-sngan128": ("sngan-cpu", {"mode_seeking": 0.0}),  # then the class projection saw flattened features
}


def candidate_config(name: str, data: str, seed: int):
    from gan.config import TrainConfig

    preset, overrides = {**CANDIDATES, **EARLIER}[name]
    overrides = dict(overrides)
    extra = overrides.pop("extra", {})
    return TrainConfig(preset=preset, data=data, seed=seed, extra=extra, **overrides).resolved()


SCORES = ("fd_cifar10k", "ifd_cifar10k", "pr_cifar10k", "ipr_cifar10k", "class_acc10k")
COLUMNS = ("fd_cifar10k", "ifd_cifar10k", "pr_cifar10k_precision", "pr_cifar10k_recall", "ipr_cifar10k_recall",
           "class_acc10k", "class_coverage10k", "fid_inception2k")


def raw_generator(run_dir: Path):
    """The run's raw (non-EMA) generator, rebuilt from its checkpoint: the "without EMA" ablation for free."""
    from gan.checkpoint import load_checkpoint
    from gan.config import TrainConfig
    from gan.model import GAN
    from gan.runs import Run

    run = Run(run_dir)
    config = TrainConfig.load(run.config_path)
    gan = GAN(config, len(run.class_names()), total_steps=config.steps)
    load_checkpoint(run.checkpoint_path, gan.variables)
    return gan.generator


INCEPTION = "fid_inception2k"  # 2,000 samples against INCEPTION_REFERENCE training images: ~10 min per run
INCEPTION_REFERENCE = 10_000  # a seeded subset: the 50,000 take ~3 hours through Inception on this CPU


def score(out: Path, data: str, only: list[str] | None = None) -> str:
    """Score every pilot run (or `only` those) on 10,000 samples in the project classifier's features, and the
    EMA sampler also with Inception FID on 2,000; the markdown table of benchmarks/PILOT.md."""
    from gan import metrics
    from gan.data import load_dataset
    from gan.sampling import load_generator

    dataset = load_dataset(data)
    subset = load_dataset(data, limit=INCEPTION_REFERENCE, seed=0)
    rows = []
    for run_dir in sorted(p for p in out.iterdir() if (p / "generator.keras").is_file()
                          and not p.name.startswith("aborted-")  # stopped half way: their grids say enough
                          and (not only or p.name in only)):
        info = json.loads((run_dir / "pilot.json").read_text()) if (run_dir / "pilot.json").is_file() else {}
        status = json.loads((run_dir / "status.json").read_text())
        ema = json.loads((run_dir / "config.json").read_text()).get("ema")
        models = [("EMA, BN re-estimated" if ema else "G", load_generator(run_dir / "generator.keras"))]
        if ema:
            try:
                models.append(("raw G (no EMA)", raw_generator(run_dir)))
            except Exception as e:  # an earlier recipe whose D the current code builds differently
                print(f"{run_dir.name}: raw generator not rebuilt ({type(e).__name__})", flush=True)
        for label, model in models:
            results = metrics.score_generator(model, dataset, SCORES)
            if label != "raw G (no EMA)":
                results += metrics.score_generator(model, subset, [INCEPTION])
            values = {r.metric: r.value for r in results}
            floors = {r.metric: r.floor for r in results}
            rows.append((run_dir.name, label, status, info, values, floors))
            print(run_dir.name, label, {k: round(v, 3) for k, v in values.items() if "_c" not in k}, flush=True)
    head = ("| run | sampler | steps | images seen | wall min | " + " | ".join(COLUMNS) + " |\n|"
            + "---|" * (5 + len(COLUMNS)))
    lines = [head]
    for name, label, status, info, values, _ in rows:
        wall = info.get("wall_s") or (status.get("updated_at", 0) - status.get("started_at", 0))
        images = status.get("step", 0) * json.loads((out / name / "config.json").read_text())["batch_size"]
        cells = [f"{values[c]:.3f}" if c in values else "-" for c in COLUMNS]
        lines.append(f"| {name} | {label} | {status.get('step')} | {images:,} | {wall / 60:.1f} | "
                     + " | ".join(cells) + " |")
    floors = rows[0][5] if rows else {}
    lines.append("| real images (floor) | | | | | " + " | ".join(
        f"{floors[c]:.3f}" if c in floors and floors[c] == floors[c] else "-" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--out", default="runs/pilot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="candidates to run (default: all)")
    parser.add_argument("--score", action="store_true", help="score the finished runs in --out; print the table")
    parser.add_argument("--speed", nargs="*", default=[], metavar="NAME=IMGS_PER_S",
                        help="speeds measured beforehand on the idle machine (for pilots run side by side)")
    args = parser.parse_args()

    from gan.backend import import_keras_quietly

    import_keras_quietly()
    if args.score:
        print(score(Path(args.out), args.data, args.only))
        return 0
    from gan.bench import bench_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [name for name in args.only or CANDIDATES if not (out / name).exists()]
    # Every speed is measured first, back to back on an idle machine: a measurement taken while
    # something else runs would plan too few steps, and a slower run only stretches wall time.
    speeds = {name: float(value) for name, value in (item.split("=") for item in args.speed)}
    for name in [name for name in names if name not in speeds]:
        config = candidate_config(name, args.data, args.seed)
        speeds[name] = bench_config(config, steps=max(10, 3000 // config.batch_size))["imgs_per_s"]
        print(f"{name}: {speeds[name]:.0f} img/s", flush=True)
    for name in names:
        run_dir = out / name
        config = candidate_config(name, args.data, args.seed)
        speed = speeds[name]
        # Per-epoch grids and checkpoints cost a few percent; measured steps are a little slower in a run.
        steps = int(args.minutes * 60 * speed * 0.93 / (config.batch_size * config.d_steps))
        config.steps = steps
        config_path = out / f"{name}.json"
        config_path.write_text(config.to_json())
        command = [sys.executable, "-m", "gan", "train", "--config", str(config_path), "--run-dir", str(run_dir),
                   "--quiet"]
        print(f"{name}: {speed:.0f} img/s measured -> {steps} steps; {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO)
        wall = time.perf_counter() - start
        (run_dir / "pilot.json").write_text(json.dumps(
            {"name": name, "steps": steps, "bench_imgs_per_s": speed, "wall_s": wall, "returncode": result.returncode,
             "images_seen": steps * config.batch_size * config.d_steps}, indent=2))
        print(f"{name}: done in {wall / 60:.1f} min (exit {result.returncode})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
