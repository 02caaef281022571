import importlib.abc
import os
import shutil
import subprocess
import sys
import threading
import types

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio, save_audio
from asr.cli import main
from asr.config import dump_yaml, load_config
from asr.streaming import microphone
from asr.streaming.microphone import MicrophoneError, stream_file, stream_microphone
from asr.streaming.recognizer import StreamingRecognizer
from tests.conftest import speechlike
from tests.tiny_models import CAUSAL, causal_model


@pytest.fixture(scope="module")
def model():
    return causal_model()


@pytest.fixture(scope="module")
def wave():
    return speechlike(1.1, seed=9)


def direct_text(model, wave):
    rec = StreamingRecognizer(model, chunk_ms=100, endpoint_silence_ms=0)
    rec.accept_waveform(wave)
    return rec.finalize()


# -- missing pieces -----------------------------------------------------------------
class _Refuse(importlib.abc.MetaPathFinder):
    """Makes `import sounddevice` fail as it does without PortAudio."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_sounddevice_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    with pytest.raises(MicrophoneError) as err:
        microphone.list_input_devices()
    message = str(err.value)
    assert "sounddevice" in message and "pip install 'asr[mic]'" in message
    assert "\n" not in message


def test_missing_portaudio_names_the_library(monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Refuse(), *sys.meta_path])
    with pytest.raises(MicrophoneError) as err:
        microphone.check_microphone()
    message = str(err.value)
    assert "PortAudio library not found" in message and "libportaudio2" in message
    assert "pip install 'asr[mic]'" in message and "\n" not in message


def test_cli_mic_error_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert main(["stream", "--mic", "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr stream: error:") and "asr[mic]" in err
    assert len(err.splitlines()) == 1


# -- a fake sounddevice: the real callback path without hardware ----------------------
class FakeFlags:
    def __init__(self, overflow: bool):
        self.input_overflow = overflow


def fake_sounddevice(wave, rate=16000, overflow_blocks=(), inputs=1):
    """A module with the parts of the sounddevice API the microphone uses; the
    stream delivers `wave` (at `rate`) from its own thread, like PortAudio."""
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = type("PortAudioError", (Exception,), {})
    sd.default = types.SimpleNamespace(device=[0, 1])
    device = {
        "name": "fake mic",
        "max_input_channels": inputs,
        "default_samplerate": float(rate),
    }

    def query_devices(device_id=None, kind=None):
        if kind == "input" and not inputs:
            raise sd.PortAudioError("Error querying device -1")
        return device if kind else [device]

    def check_input_settings(device=None, channels=None, samplerate=None, dtype=None):
        if samplerate != rate:
            raise sd.PortAudioError("Invalid sample rate")

    class InputStream:
        def __init__(self, device, channels, samplerate, dtype, blocksize, callback):
            assert samplerate == rate and channels == 1 and dtype == "float32"
            self.blocksize, self.callback = blocksize, callback

        def _run(self):
            for k, i in enumerate(range(0, len(wave), self.blocksize)):
                block = wave[i : i + self.blocksize, None].astype(np.float32)
                self.callback(block, len(block), None, FakeFlags(k in overflow_blocks))

        def __enter__(self):
            self.thread = threading.Thread(target=self._run)
            self.thread.start()
            return self

        def __exit__(self, *exc):
            self.thread.join()

    sd.query_devices = query_devices
    sd.check_input_settings = check_input_settings
    sd.InputStream = InputStream
    return sd


def test_no_input_device(monkeypatch, wave):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(wave, inputs=0))
    with pytest.raises(MicrophoneError, match="no audio input device"):
        microphone.check_microphone()


def test_microphone_path_equals_direct_text(monkeypatch, model, wave, tmp_path):
    monkeypatch.setitem(
        sys.modules, "sounddevice", fake_sounddevice(wave, overflow_blocks={2})
    )
    rec = StreamingRecognizer(model, chunk_ms=100, endpoint_silence_ms=0)
    finals = []
    result = stream_microphone(
        rec,
        on_final=finals.append,
        save_recording=tmp_path / "mic.wav",
        max_seconds=len(wave) / 16000,
    )
    assert result.text == direct_text(model, wave)
    assert result.overflows == 1  # counted and reported, not silent
    assert [f["text"] for f in finals] == [" ".join(result.text.split())]
    saved, rate = sf.read(tmp_path / "mic.wav", dtype="float32")
    assert rate == 16000 and np.array_equal(saved, wave)
    assert not list(tmp_path.glob(".*tmp"))


def test_microphone_at_another_rate_is_resampled(monkeypatch, model, wave, tmp_path):
    import soxr

    wave48 = soxr.resample(wave, 16000, 48000).astype(np.float32)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(wave48, 48000))
    rec = StreamingRecognizer(model, chunk_ms=100)
    result = stream_microphone(
        rec, save_recording=tmp_path / "mic.flac", max_seconds=len(wave48) / 48000
    )
    assert abs(result.seconds - len(wave) / 16000) < 0.01
    assert sf.info(tmp_path / "mic.flac").samplerate == 48000


# -- files ------------------------------------------------------------------------
def test_file_path_equals_direct_text(model, wave, tmp_path):
    path = tmp_path / "clip.wav"
    save_audio(path, wave)
    rec = StreamingRecognizer(model, chunk_ms=100, endpoint_silence_ms=0)
    partials = []
    result = stream_file(rec, path, on_partial=partials.append)
    assert result.text == direct_text(model, load_audio(path))
    assert partials and result.text.startswith(partials[-1])
    assert stream_file(rec, path, realtime=True).text == result.text


def test_cli_stream_file_prints_finals(model, wave, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "config.yaml").write_text(dump_yaml(load_config(overrides=CAUSAL)))
    path = tmp_path / "clip.wav"
    save_audio(path, wave)
    code = main(
        ["stream", "--file", str(path), "--model", str(run), "--endpoint-ms", "0"]
    )
    out = capsys.readouterr().out
    assert code == 0
    text = " ".join(direct_text(model, load_audio(path)).split())
    assert out.splitlines()[-1].endswith("] " + text)


# -- a real audio device ------------------------------------------------------------
@pytest.mark.slow
def test_real_device_through_pulseaudio_null_sink(model, wave, tmp_path, monkeypatch):
    for tool in ("pactl", "paplay"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (PulseAudio utilities)")
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        pytest.skip("no PulseAudio server running")
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as e:
        pytest.skip(f"sounddevice unusable: {e}")
    loaded = subprocess.run(
        ["pactl", "load-module", "module-null-sink", "sink_name=asr_test"],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        monkeypatch.setenv("PULSE_SOURCE", "asr_test.monitor")
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(
            np.float32
        )
        save_audio(tmp_path / "tone.wav", tone)
        player = subprocess.Popen(
            ["paplay", "--device=asr_test", str(tmp_path / "tone.wav")]
        )
        rec = StreamingRecognizer(model, chunk_ms=100)
        result = stream_microphone(
            rec, save_recording=tmp_path / "heard.wav", max_seconds=2.5
        )
        player.wait(timeout=10)
    finally:
        subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], check=False)
    heard, _ = sf.read(tmp_path / "heard.wav", dtype="float32")
    assert result.seconds > 2.0 and result.device
    assert np.sqrt(np.mean(heard**2)) > 0.01, "the monitor source delivered silence"
    assert os.path.getsize(tmp_path / "heard.wav") > 0
