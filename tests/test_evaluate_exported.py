"""`asr evaluate --model` takes an exported SavedModel folder or .tflite file
and gets the Keras model's texts."""

import json

import pytest
import soundfile as sf

from asr.cli import main
from asr.config import dump_yaml, load_config
from asr.export import export_savedmodel, export_tflite
from asr.manifest import Utterance, write_manifest
from asr.transcribe import load_model
from tests.conftest import speechlike
from tests.tiny_models import CAUSAL, causal_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A run folder, its SavedModel and TFLite exports, and a manifest."""
    root = tmp_path_factory.mktemp("exported")
    run = root / "run"
    run.mkdir()
    causal_model().save(run / "model.keras")
    (run / "config.yaml").write_text(dump_yaml(load_config(overrides=CAUSAL)))
    rec = load_model(run)
    rows = []
    for i, seconds in enumerate((0.43, 1.1, 0.8)):
        path = root / f"{i}.wav"
        sf.write(path, speechlike(seconds, seed=i), 16000)
        rows.append(Utterance(str(path), seconds, "a b"))
    write_manifest(root / "test.jsonl", rows)
    return {
        "keras": run,
        "savedmodel": export_savedmodel(rec, root / "saved"),
        "tflite": export_tflite(rec, root / "model.tflite"),
        "manifest": root / "test.jsonl",
    }


def hyps(model, manifest, out):
    argv = ["evaluate", "--model", str(model), "--manifest", str(manifest)]
    assert main([*argv, "--out", str(out)]) == 0
    lines = (out / "recogs.jsonl").read_text().splitlines()
    return [json.loads(line)["hyp"] for line in lines]


def test_evaluate_scores_exported_models_with_the_keras_texts(
    exported, tmp_path, capsys
):
    manifest = exported["manifest"]
    want = hyps(exported["keras"], manifest, tmp_path / "keras")
    assert len(want) == 3 and all(len(h) >= 3 for h in want)  # real texts
    for kind in ("savedmodel", "tflite"):
        assert hyps(exported[kind], manifest, tmp_path / kind) == want, kind
        summary = json.loads((tmp_path / kind / "summary.json").read_text())
        assert summary["model"] == str(exported[kind])
        assert summary["latency_ms_p95"] >= summary["latency_ms_p50"] > 0
        assert "chunk_latency_ms_p50" not in summary  # no streaming step to time
    printed = capsys.readouterr().out.splitlines()
    assert [line.count("latency p50") for line in printed if "WER" in line] == [1] * 3


def test_evaluate_reports_utterance_and_chunk_latency(exported, tmp_path, capsys):
    hyps(exported["keras"], exported["manifest"], tmp_path / "ev")
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["latency_ms_p95"] >= summary["latency_ms_p50"] > 0
    # the causal model is also streamed in chunks of streaming.chunk_ms
    assert summary["chunk_ms"] == pytest.approx(load_config().streaming.chunk_ms)
    assert summary["chunk_backend"] in ("tflite", "tf")
    assert summary["chunk_latency_ms_p95"] >= summary["chunk_latency_ms_p50"] > 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "WER" in x)
    assert "latency p50" in line and "ms chunk" in line
