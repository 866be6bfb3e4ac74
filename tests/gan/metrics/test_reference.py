"""gan.metrics.reference: cached reference statistics, old versions, resumed chunks.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

RNG = np.random.default_rng(0)


def test_reference_cache_of_an_older_version_still_loads(tmp_path, monkeypatch):
    """Older caches also stored `floor_halves` (a full-dataset FD nothing read); they load without recomputing."""
    import hashlib
    from types import SimpleNamespace

    from gan.metrics.reference import fingerprint, load_or_compute

    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    images = RNG.integers(0, 256, size=(8, 4, 4, 3), dtype=np.uint8)
    extractor = SimpleNamespace(name="fake", key="k", features=None, features_and_probabilities=None)
    path = tmp_path / f"ref-fake-{hashlib.sha1(b'k').hexdigest()[:8]}-{fingerprint(images)}.npz"
    np.savez(path, mu=np.zeros(2), sigma=np.eye(2), features=np.ones((8, 2), np.float32),
             probs=np.zeros((0, 0), np.float32), rows=np.arange(8), n_images=8, floor_halves=1.5)
    ref = load_or_compute(extractor, images)
    assert ref.n_images == 8 and ref.features.shape == (8, 2)


def test_a_stopped_reference_computation_resumes_from_its_saved_chunks(tmp_path, monkeypatch):
    """The first Inception reference takes ~100 min on a CPU: a run stopped half-way keeps the chunks it
    finished, the next run computes only the rest, gets the same statistics, and leaves no parts behind."""
    from gan.metrics import reference

    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(reference, "CHUNK", 4)
    images = RNG.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)

    class Counting:
        name, key = "counting", "k"

        def __init__(self, fail_after=None):
            self.seen, self.fail_after = [], fail_after

        def features(self, batch):
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise KeyboardInterrupt
            self.seen.append(len(batch))
            return batch.reshape(len(batch), -1)[:, :6].astype(np.float64)

        def features_and_probabilities(self, batch):
            raise ValueError("no class head")

    with pytest.raises(KeyboardInterrupt):
        reference.load_or_compute(Counting(fail_after=2), images)
    assert len(list(tmp_path.glob("*.part*"))) == 2
    second = Counting()
    ref = reference.load_or_compute(second, images)
    assert second.seen == [2]  # only the last chunk was computed again
    whole = reference.compute(Counting(), images)
    np.testing.assert_allclose(ref.mu, whole.mu)
    np.testing.assert_allclose(ref.sigma, whole.sigma)
    assert not list(tmp_path.glob("*.part*"))
