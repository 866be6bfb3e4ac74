"""gan.distribute without a second device: replicas, single-device runs, launches that cannot work.

`--distribute`: one step on 2 devices is the same update as one step on 1 device (same global batch):
those multi-device tests run in subprocesses, in tests/e2e/test_distribute.py.
"""

from __future__ import annotations

import pytest


def test_replicas_refuse_uneven_split(monkeypatch):
    """A global batch that does not split evenly is a ConfigError (exit 2), not a silent pad."""
    from gan import distribute
    from gan.config import ConfigError, TrainConfig

    monkeypatch.setattr(distribute, "local_devices", lambda backend: ["cpu:0", "cpu:1", "cpu:2"])
    config = TrainConfig.for_preset("tiny", batch_size=8, distribute=True)
    with pytest.raises(ConfigError, match="does not split evenly over 3 devices"):
        distribute.replicas_for(config, backend="jax")


def test_single_device_without_distribute():
    from gan.config import TrainConfig
    from gan.distribute import SINGLE, replicas_for

    assert replicas_for(TrainConfig.for_preset("tiny")) is SINGLE
    assert SINGLE.count == 1 and not SINGLE.distributed
    with SINGLE.scope():
        pass
    assert SINGLE.per_replica_batch(8) == 8


TWO_WORKERS = '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}'


@pytest.mark.parametrize(("environ", "fields", "backend", "words"), [
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, {}, "jax", "pass --distribute"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, {"distribute": True}, "tensorflow", "workers in TF_CONFIG"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, {"distribute": True, "eval_every": 10}, "jax", "--eval-every"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, {"distribute": True}, "jax", "whole number"),
    ({"TF_CONFIG": TWO_WORKERS}, {}, "tensorflow", "TF_CONFIG names several processes: pass --distribute"),
    ({"TF_CONFIG": "{not json"}, {"distribute": True}, "tensorflow", "TF_CONFIG must name"),
    ({"TF_CONFIG": '{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}}'},
     {"distribute": True}, "tensorflow", "only a 'worker' cluster"),
    ({"TF_CONFIG": TWO_WORKERS.replace('"index": 1', '"index": 5')}, {"distribute": True}, "tensorflow",
     "task.index inside it"),
])
def test_a_multi_process_launch_that_cannot_work_is_refused_in_one_line(environ, fields, backend, words):
    from gan.config import ConfigError, TrainConfig
    from gan.distribute import join_processes

    with pytest.raises(ConfigError, match=words):
        join_processes(TrainConfig.for_preset("tiny", **fields), backend=backend, environ=environ)


@pytest.mark.parametrize(("environ", "backend"), [
    ({}, "jax"), ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "1"}, "jax"), ({"TF_CONFIG": TWO_WORKERS}, "jax"),
    ({}, "tensorflow"), ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}'},
                         "tensorflow"),
])
def test_one_process_joins_nothing(environ, backend):
    from gan.config import TrainConfig
    from gan.distribute import ALONE, join_processes

    assert join_processes(TrainConfig.for_preset("tiny", distribute=True), backend=backend, environ=environ) is ALONE
