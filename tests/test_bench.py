"""A smoke test of the benchmarks with a tiny budget (the real runs live in bench/, not CI)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.helpers import BACKEND
from zoo.datasets import default_data_dir

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (default_data_dir() / "binarized_mnist_train.npz").exists(),
                    reason=f"binarized MNIST is not in {default_data_dir()} (set VAE_ZOO_DATA)")
def test_throughput_smoke(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "throughput.py"), "--worker", "--max-examples", "600",
         "--batch-sizes", "100", "--is-images", "20", "--is-samples", "10",
         "--results-dir", str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads((tmp_path / f"throughput-{BACKEND}.json").read_text())
    numbers = row["batches"]["100"]
    assert numbers["fit_examples_per_s"] > 0 and numbers["loop_examples_per_s"] > 0
    assert row["is_eval"]["images"] == 20 and row["peak_rss_mb"] > 0


def test_likelihood_smoke(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "likelihood.py"), "--model", "grey", "--minutes", "0.005",
         "--max-examples", "100", "--eval-samples", "5", "--results-dir", str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / f"likelihood-grey-{BACKEND}.json").read_text())
    rows = record["results"]
    assert len(rows) == 8 and "| likelihood | backend |" in result.stdout
    for name, row in rows.items():
        # Bounds on 17-level 8×8 data: positive code lengths below 4.09 bits/dim (uniform).
        assert 0 < row["test_bits_per_dim"] < 20, (name, row)
        assert row["epochs"] >= 1 and row["train_cpu_minutes"] >= 0 and row["examples_per_s"] > 0
