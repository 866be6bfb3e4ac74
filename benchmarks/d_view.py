"""What a run's discriminator thinks of training images, held-out images and its own generator's samples.

    python benchmarks/d_view.py RUN_DIR [--data ../shared/data/cifar10-train.zip] [--n 5000]

Reads RUN_DIR's last checkpoint (`ckpt/latest.npz`, D and the raw G) and its `holdout.json`, and prints, for n
training images, the held-out images and n samples: D's mean logit, the share it calls real (logit > 0) and,
where D has a class head, how often the head names the right class. Two questions it answers:

- Does D overfit? Training images scored far above held-out ones mean it remembers them (DiffAugment's cue).
- Does the class head pull G towards caricatures? Samples read as their class more often than held-out real
  images means G makes what the head finds easy, not what the class looks like (AC-GAN's known bias).

D and its head are the run's own networks; nothing here is an evaluation metric.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BATCH = 200  # a multiple of the minibatch-stddev group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/cifar10-train.zip"))
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()

    from gan.backend import import_keras_quietly

    import_keras_quietly()
    import keras

    from gan.checkpoint import load_checkpoint
    from gan.config import TrainConfig
    from gan.data import load_dataset
    from gan.model import GAN, to_unit_range

    config = TrainConfig.load(args.run_dir / "config.json")
    status = json.loads((args.run_dir / "status.json").read_text())
    data = load_dataset(args.data, image_size=config.image_size)
    held = np.array(json.loads((args.run_dir / "holdout.json").read_text())["indices"], dtype=np.int64)
    gan = GAN(config, data.num_classes, total_steps=status["total_steps"])
    step = int(load_checkpoint(args.run_dir / "ckpt/latest.npz", gan.variables)["step"])
    rng = np.random.default_rng(0)
    trained = np.setdiff1d(np.arange(len(data.images)), held)

    def view(images: np.ndarray, labels: np.ndarray) -> str:
        logits, right = [], []
        for i in range(0, len(images) - BATCH + 1, BATCH):
            y = keras.ops.convert_to_tensor(labels[i:i + BATCH].astype(np.int32))
            x = to_unit_range(images[i:i + BATCH])
            out = gan.discriminator([x, y] if gan.num_classes else x, training=False)
            logit, head = (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)
            logits.append(np.asarray(logit).ravel())
            if head is not None:
                right.append(np.argmax(np.asarray(head)[:, :data.num_classes], axis=1) == labels[i:i + BATCH])
        logit = np.concatenate(logits)
        named = f"{np.concatenate(right).mean():.3f}" if right else "-"
        return f"mean logit {logit.mean():+.3f}  called real {(logit > 0).mean():.3f}  class head right {named}"

    pick = rng.choice(trained, min(args.n, len(trained)), replace=False)
    print(f"{args.run_dir} at step {step}")
    print(f"training images ({len(pick)}):  {view(data.images[pick], data.labels[pick])}")
    print(f"held-out images ({len(held)}):  {view(data.images[held], data.labels[held])}")
    labels = rng.integers(0, data.num_classes, args.n).astype(np.int32)
    samples = []
    for i in range(0, args.n, BATCH):
        z = rng.normal(size=(len(labels[i:i + BATCH]), config.latent_dim)).astype("float32")
        z = keras.ops.convert_to_tensor(z)
        y = keras.ops.convert_to_tensor(labels[i:i + BATCH])
        fake = gan.generator([z, y] if gan.num_classes else z, training=False)
        samples.append(np.clip(np.round((np.asarray(fake) + 1) * 127.5), 0, 255).astype(np.uint8))
    print(f"samples, raw G ({args.n}):  {view(np.concatenate(samples), labels)}")


if __name__ == "__main__":
    main()
