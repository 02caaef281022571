"""What the README and `--help` promise, kept: bad input is refused before a
model loads, `--int8` and `--hotword` do what they say, the CLI shows the
toolkit's own output only."""

from __future__ import annotations

import pytest

from asr.cli import main


@pytest.fixture
def no_model_loading(monkeypatch):
    """Any attempt to load a model fails the test: input errors come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    import asr.checkpoint
    import asr.transcribe

    monkeypatch.setattr(asr.transcribe, "load_model", refuse)
    monkeypatch.setattr(asr.checkpoint, "load_network", refuse)


def test_export_savedmodel_int8_is_refused_before_any_work(
    no_model_loading, tmp_path, capsys
):
    out = tmp_path / "saved"
    argv = ["export", "--model", "synth-en", "--format", "savedmodel"]
    assert main([*argv, "--int8", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--int8" in err[0] and "tflite" in err[0]
    assert not out.exists()
