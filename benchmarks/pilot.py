"""Pilot at equal wall-clock: train each candidate recipe for the same minutes on this machine.

    python benchmarks/pilot.py --data ../shared/data/cifar10-train.zip --minutes 12 --out runs/pilot

Each candidate's speed is measured first (gan.bench, synthetic data), then it trains for the
number of steps that fill `--minutes` at that speed, so a linear learning-rate decay reaches 0
at the end as it would in a planned run. Same seed for every candidate. Afterwards score each run:

    python -m gan evaluate --run-dir runs/pilot/NAME --metrics fd_cifar10k,ifd_cifar10k,pr_cifar10k,class_acc10k \\
        --data ../shared/data/cifar10-train.zip

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
    "sngan128": ("sngan-cpu", {}),
    "sngan128-ttur": ("sngan-cpu", {"g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9}),
    "sngan128-nearest": ("sngan-cpu", {"extra": {"g_up": "nearest"}}),
    "sngan192": ("sngan-cpu", {"extra": {"g_channels": 192, "d_channels": 192}}),
    "sngan128-nombstd": ("sngan-cpu", {"extra": {"mbstd_group": 0}}),
}
# Runs of an earlier recipe, kept in the table: global sum pooling in D (d_pool="sum"), TTUR.
EARLIER = {"sumpool-ttur": ("sngan-cpu", {"g_lr": 1e-4, "d_lr": 4e-4, "beta1": 0.0, "beta2": 0.9,
                                          "extra": {"d_pool": "sum"}})}
def candidate_config(name: str, data: str, seed: int):
    from gan.config import TrainConfig

    preset, overrides = {**CANDIDATES, **EARLIER}[name]
    overrides = dict(overrides)
    extra = overrides.pop("extra", {})
    return TrainConfig(preset=preset, data=data, seed=seed, extra=extra, **overrides).resolved()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--out", default="runs/pilot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="candidates to run (default: all)")
    args = parser.parse_args()

    from gan.backend import import_keras_quietly

    import_keras_quietly()
    from gan.bench import bench_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or CANDIDATES:
        run_dir = out / name
        if run_dir.exists():
            print(f"{name}: {run_dir} exists, skipped", flush=True)
            continue
        config = candidate_config(name, args.data, args.seed)
        speed = bench_config(config, steps=max(10, 2000 // config.batch_size))["imgs_per_s"]
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
