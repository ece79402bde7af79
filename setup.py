"""Installs bn_keras: the BatchNorm ablation on MNIST in Keras 3 / TensorFlow."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="bn_keras",
    version="0.1.0",
    description="How does Batch Normalization help neural networks? An MNIST ablation in Keras 3.",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["bn_keras", "bn_keras.*"]),
    install_requires=[
        # CPU and GPU alike: with an NVIDIA GPU on Linux, first install
        # "tensorflow[and-cuda]==2.21.*".
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9.10,<4.10",
        # tensorflow/datasets#11212: TFDS 4.9.10 imports importlib_resources without declaring it.
        "importlib_resources>=6",
        "numpy>=1.26,<3",
        "matplotlib>=3.8",
        # Welch intervals and TOST of the summary's verdicts (bn_keras/reporting/statistics.py).
        "scipy>=1.11",
        "absl-py>=2.1",
        # TensorFlow 2.21 no longer installs TensorBoard; the metrics go to its event files too.
        "tensorboard>=2.20",
    ],
    extras_require={
        # pytest-randomly: the random-order run (pytest.ini); hypothesis: the flag fuzzer;
        # pytest-xdist: run_tests.sh runs the suite in two processes (one per core here); Ray:
        # tests/test_ray_cluster.py's two-node cluster (the `ray` extra's pin; about 25 s and
        # 240 MB to install, docs/cluster.md), so that CI runs the sweep on a real cluster.
        "test": [
            "pytest>=8",
            "ruff>=0.6",
            "pytest-randomly>=3.15",
            "hypothesis>=6.100",
            "pytest-xdist>=3.5",
            "ray>=2.50,<3",
        ],
        # The sweep's jobs on a Ray cluster (--executor=ray, docs/cluster.md): Ray Core only.
        "ray": ["ray>=2.50,<3"],
        # PyTorch: the twin (--framework=pytorch, bn_keras.twin) and the reference of
        # `python -m bn_keras.bench`. On Linux PyPI's wheel pulls the CUDA libraries (GBs): for
        # CPU only, first pip install torch --index-url https://download.pytorch.org/whl/cpu
        "torch": ["torch>=2.2"],
        "bench": ["torch>=2.2"],  # the same as "torch", under the name the README gave first
    },
    entry_points={"console_scripts": ["bn-keras=bn_keras.main:run"]},
)
