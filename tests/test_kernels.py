"""Which CPU kernels TensorFlow runs: bn_keras's oneDNN default, the CPU's description, and the
stack's grouped convolutions on whichever kernels this process has."""

from __future__ import annotations

import os
import platform

import pytest
import tensorflow as tf

from bn_keras.common import cpu, onednn
from bn_keras.models import stacked

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2
"""


@pytest.mark.parametrize(
    "environ, machine, expected",
    [
        ({}, "x86_64", {onednn.ONEDNN_ENV: "1", onednn.CHOSEN_BY_ENV: "bn_keras"}),
        ({}, "AMD64", {onednn.ONEDNN_ENV: "1", onednn.CHOSEN_BY_ENV: "bn_keras"}),
        ({onednn.ONEDNN_ENV: "0"}, "x86_64", {}),  # the user's choice stands
        ({}, "aarch64", {}),  # TensorFlow's own choice stands off x86-64
    ],
)
def test_onednn_is_turned_on_only_where_nobody_chose(environ, machine, expected):
    assert onednn.default_settings(environ, machine) == expected


@pytest.mark.parametrize(
    "environ, chosen_by, says",
    [
        ({onednn.ONEDNN_ENV: "1", onednn.CHOSEN_BY_ENV: "bn_keras"}, "bn_keras", "oneDNN on"),
        ({onednn.ONEDNN_ENV: "1"}, "user", "oneDNN on"),
        ({onednn.ONEDNN_ENV: "0", onednn.CHOSEN_BY_ENV: "bn_keras"}, "user", "oneDNN off"),
        ({}, "tensorflow", "TensorFlow's default"),
    ],
)
def test_the_record_says_who_chose_onednn(environ, chosen_by, says):
    assert onednn.describe(environ)["chosen_by"] == chosen_by
    assert says in onednn.summary(environ)


def test_the_cpu_is_described_by_its_model_and_vector_features(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    described = cpu.describe(cpuinfo)
    assert described == {"model": "AMD EPYC 7B13", "features": ["avx2", "fma"]}
    assert cpu.features_text(described) == "avx2 fma"
    assert cpu.describe(tmp_path / "missing")["features"] is None
    assert cpu.features_text({"model": "x", "features": []}) == "none"


@pytest.mark.kernels
def test_grouped_gradients_are_found_where_onednn_is_on():
    """On an x86-64 CPU without GPUs, TensorFlow has the grouped convolution's gradient exactly
    when oneDNN is on (this process's TF_ENABLE_ONEDNN_OPTS, set before TensorFlow loaded)."""
    value = os.environ.get(onednn.ONEDNN_ENV)
    if value is None or platform.machine().lower() not in onednn.X86_64:
        pytest.skip("oneDNN left to TensorFlow's default, or not an x86-64 CPU")
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("GPUs have cuDNN's grouped convolutions")
    assert stacked.grouped_gradients_supported() == (value.lower() in ("1", "true"))


def test_run_tests_finds_every_file_with_tests_marked_kernels(request):
    """run_tests.sh's second leg collects only the files that name `mark.kernels`: a test marked
    another way (e.g. through pytestmark in a file that does not say so) would miss that leg."""
    marked = {item.path for item in request.session.items if item.get_closest_marker("kernels")}
    assert marked, "no test is marked kernels: the second leg would run nothing"
    for path in marked:
        assert "mark.kernels" in path.read_text(), path
