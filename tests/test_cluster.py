"""TF_CONFIG and the distribution flags, checked before TensorFlow loads."""

from __future__ import annotations

import json

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.distribution import cluster

TWO_WORKERS = {"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}}


@pytest.mark.parametrize(
    ("task", "chief", "name"),
    [
        ({"type": "worker", "index": 0}, True, "worker_0"),
        ({"type": "worker", "index": 1}, False, "worker_1"),
    ],
)
def test_worker_zero_is_chief_without_a_chief_task(task, chief, name):
    parsed = cluster.parse_tf_config(json.dumps({**TWO_WORKERS, "task": task}))
    assert (parsed.is_chief, parsed.name, parsed.num_tasks) == (chief, name, 2)


def test_a_chief_task_is_the_chief_and_worker_zero_is_not():
    spec = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}}
    chief = cluster.parse_tf_config(json.dumps({**spec, "task": {"type": "chief", "index": 0}}))
    worker = cluster.parse_tf_config(json.dumps({**spec, "task": {"type": "worker", "index": 0}}))
    assert chief.is_chief and not worker.is_chief and worker.num_tasks == 2


def test_launcher_tf_config_round_trips():
    text = cluster.make_tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1)
    assert cluster.parse_tf_config(text) == cluster.ClusterTask("worker", 1, 2)
    assert cluster.current_task({"TF_CONFIG": text}).index == 1
    assert cluster.current_task({}) is None and cluster.current_task({"TF_CONFIG": " "}) is None


@pytest.mark.parametrize(
    ("tf_config", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', 'has no "cluster" object'),
        ('{"cluster": {"worker": ["a:1"]}}', 'has no "task" object'),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "bad addresses"),
        ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', "bad addresses"),
        ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}', "bad"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "not in the"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "outside"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}', "integer"),
        (
            '{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "ps", "index": 0}}',
            "ps",
        ),
    ],
)
def test_malformed_tf_config_is_refused_naming_the_problem(tf_config, problem):
    with pytest.raises(ConfigError, match="TF_CONFIG") as raised:
        cluster.parse_tf_config(tf_config)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (dict(strategy="ring"), "--strategy='ring' is unknown"),
        (dict(devices="/gpu:0"), "--devices='/gpu:0' needs --strategy=mirrored or one_device"),
        (dict(strategy="one_device", devices="/gpu:0,/gpu:1"), "takes one device"),
        (dict(sync_bn="sometimes"), "--sync_bn='sometimes' is unknown"),
    ],
)
def test_contradictory_distribution_settings_are_refused(settings, problem):
    with pytest.raises(ConfigError, match=problem):
        Config(**settings).validate()


def test_multi_worker_without_tf_config_is_refused_before_tensorflow_loads(tmp_path, main_here):
    # (Before TensorFlow loads: test_architecture runs main's refusals in a fresh interpreter.)
    done = main_here("--strategy=multi_worker", f"--results_dir={tmp_path}")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "bn_keras: error: --strategy=multi_worker needs TF_CONFIG naming the cluster and this "
        "task: set it on each host, or start local workers with python -m bn_keras.launch"
    )
    assert not any(tmp_path.iterdir())


def test_the_launcher_needs_the_workers_flags_after_a_double_dash(cli):
    done = cli.run("bn_keras.launch", "--workers=2", "--model=mlp", timeout=60)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("bn_keras.launch: error: Unknown command line flag 'model'")
    assert "separate the workers' flags with --" in line
