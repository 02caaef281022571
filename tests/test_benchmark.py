"""scripts/benchmark.py: a partial rerun (`--only`) merges into the table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


def test_unknown_section_is_an_error(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "stremaing", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "unknown sections: stremaing" in out.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_only_merges_one_section_into_the_existing_results(tmp_path):
    old = {"quick": False, "train_audio_s_per_s": 14.7, "matmul_gflops": 227.0}
    (tmp_path / "results.json").write_text(json.dumps(old))
    subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "streaming", "--quick"]
        + ["--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    new = json.loads((tmp_path / "results.json").read_text())
    # Rows of sections not rerun, and the peak that pairs with training, stay.
    assert new["train_audio_s_per_s"] == 14.7 and new["matmul_gflops"] == 227.0
    assert new["stream_chunk_ms_p50"] > 0 and new["stream_lookahead_frames"] >= 0
    assert new["section_runs"]["streaming"]["quick"] is True
    assert new["section_runs"]["streaming"]["cpu"]
    assert "streaming" in new["section_runs"] and "train" not in new["section_runs"]
    assert "`stream_chunk_ms_p50`" in (tmp_path / "results.md").read_text()
    assert isinstance(new["section_runs"]["streaming"]["isa"], list)


def test_cpu_info_names_the_model_and_vector_flags():
    from asr.cpu import cpu_isa, cpu_name

    cpuinfo = (
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
        "flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_bf16 amx_tile\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
    )
    assert cpu_name(cpuinfo) == "Intel(R) Xeon(R) Platinum 8481C"
    assert cpu_isa(cpuinfo) == [
        "sse4_2",
        "avx2",
        "fma",
        "avx512f",
        "avx512_bf16",
        "amx_tile",
    ]
    assert cpu_isa("flags\t: fpu sse4_2 avx avx2\n")[-1] == "avx2"  # no AVX-512


def test_vs_pytorch_gives_each_goal_as_a_ratio_of_the_same_sitting():
    sys.path.insert(0, str(SCRIPT.parent))
    import benchmark

    ours = {
        "train_audio_s_per_s": 40.0,
        "train_flop_utilisation": 0.5,
        "offline_rtf": 0.008,
        "stream_chunk_ms_p50": 2,
        "features_x_librosa": 3.0,
    }
    torch = {
        "train_audio_s_per_s": 32.0,
        "offline_rtf": 0.010,
        "stream_chunk_ms_p50": 8.0,
        "train_flop_utilisation": 0.44,
        "librosa_logmel_x_realtime": 3500.0,
        "torch_logmel_x_realtime": 7000.0,
        "env": {"cpu": "AMD EPYC", "torch_cpu_capability": "AVX512"},
    }
    out = benchmark.vs_pytorch(ours, torch)
    assert out["train_audio_s_per_s_x"] == 1.25 and out["offline_rtf_x"] == 0.8
    assert out["stream_chunk_ms_p50_x"] == 0.25 and out["pytorch_logmel_x_librosa"] == 2
    assert out["pytorch_cpu"] == "AMD EPYC"
    table = benchmark.markdown_table({"vs_pytorch": out, "env": {"isa": ["avx2"]}})
    assert "| `vs_pytorch.offline_rtf_x` | 0.8 | <= 0.8 |" in table
    assert "(avx2)" in table
    # a section not run in this sitting gives no ratio rather than a stale one
    assert "offline_rtf_x" not in benchmark.vs_pytorch({}, torch)
    only_inference = benchmark.vs_pytorch({"offline_rtf": 0.008}, torch)
    assert "pytorch_logmel_x_librosa" not in only_inference
    assert "pytorch_train_flop_utilisation" not in only_inference
