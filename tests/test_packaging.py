"""pyproject.toml: a CPU install by default, a working GPU TensorFlow with
the `gpu` extra (`pip install -e ".[gpu]"`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip()


def test_gpu_extra_adds_cuda_to_the_one_tensorflow_package():
    base = [_name(r) for r in PROJECT["dependencies"]]
    # tensorflow-cpu beside tensorflow[and-cuda] would put two packages into
    # one `tensorflow` folder; the base must name the package the extra extends
    assert "tensorflow" in base and "tensorflow-cpu" not in base
    gpu = PROJECT["optional-dependencies"]["gpu"]
    assert [r.split(">")[0] for r in gpu] == ["tensorflow[and-cuda]"]
    tf_base = next(r for r in PROJECT["dependencies"] if _name(r) == "tensorflow")
    assert tf_base.removeprefix("tensorflow") == gpu[0].removeprefix(
        "tensorflow[and-cuda]"
    )  # the same version range


@pytest.mark.slow
def test_gpu_extra_resolves_to_tensorflow_with_cuda(tmp_path):
    """Asks PyPI (network) what `pip install ".[gpu]"` would install."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        + ["--quiet", "--report", str(report), f"{ROOT}[gpu]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        i["metadata"]["name"].lower().replace("_", "-")
        for i in json.loads(report.read_text())["install"]
    }
    assert "tensorflow" in names and "tensorflow-cpu" not in names
    assert "nvidia-cudnn-cu12" in names
