"""`python -m gan bench` on a machine without a GPU refuses GPU-only presets before it builds anything (issue 24).

No benchmark runs here: the measurements are replaced by fakes, and the real command is stopped by the refusal.
"""

from __future__ import annotations

import pytest

from gan import backend, bench
from gan.cli import main


def test_only_gpu_only_presets_without_a_gpu_are_refused():
    why = bench.cpu_refusal(["seed", "strong"], gpu=False, environ={})
    assert why.startswith("strong is a GPU-only preset and no GPU is visible: ")
    assert "GAN_BENCH_ON_CPU=1" in why and "\n" not in why
    assert bench.cpu_refusal(["sngan-cpu", "seed", "tiny", "small"], gpu=False, environ={}) is None
    assert bench.cpu_refusal(["strong"], gpu=True, environ={}) is None
    assert bench.cpu_refusal(["strong"], gpu=False, environ={"GAN_BENCH_ON_CPU": "1"}) is None


@pytest.fixture
def no_gpu_no_measuring(monkeypatch):
    """A machine without a GPU, where building or timing a model fails the test."""
    def must_not_run(*args, **kwargs):
        raise AssertionError("a model was built or timed")

    monkeypatch.setattr(backend, "has_gpu", lambda: False)
    monkeypatch.setattr(bench, "bench_preset", must_not_run)
    monkeypatch.setattr(bench, "reference_images_per_second", must_not_run)
    monkeypatch.delenv("GAN_BENCH_ON_CPU", raising=False)


def test_the_readme_gpu_command_is_one_error_line_on_a_cpu(no_gpu_no_measuring, capsys):
    assert main(["bench", "--preset", "strong", "--steps", "50", "--mixed-precision"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("error: strong is a GPU-only preset") and "GAN_BENCH_ON_CPU=1" in err


def test_the_override_times_it_anyway(no_gpu_no_measuring, monkeypatch, capsys):
    fake = {"preset": "strong", "jit": False, "batch": 64, "d_steps": 2, "imgs_per_s": 21.0, "step_ms": 3000.0,
            "compile_s": 1.0, "sample64_ms": 9.0, "params_g": 1, "params_d": 1}
    monkeypatch.setattr(bench, "bench_preset", lambda preset, *args, jit=None: {**fake, "jit": jit})
    monkeypatch.setattr(bench, "reference_images_per_second", lambda steps: None)
    monkeypatch.setenv("GAN_BENCH_ON_CPU", "1")
    assert main(["bench", "--preset", "strong", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "| strong | no | 64 |" in out and "| strong | yes | 64 |" in out
