"""`asr stream --mic` on a terminal: the partial text is rewritten in place on
one line, each final gets its own line (through a fake sounddevice)."""

from __future__ import annotations

import functools
import io
import re
import sys

import numpy as np
import pytest

pytest.importorskip("asr.datasets.synthetic")

from asr import demo  # noqa: E402
from asr.cli import main  # noqa: E402
from asr.streaming import microphone  # noqa: E402
from tests.streaming.test_microphone import fake_sounddevice  # noqa: E402

CLEAR = "\r\x1b[K"  # carriage return, erase to the end of the line
FINAL = re.compile(r"\[ *\d+\.\d\d - +\d+\.\d\d\] (.+)")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mic_partials_rewrite_one_line_and_finals_get_their_own(monkeypatch):
    made = demo.make_clips(2, seed=8)
    gap = np.zeros(16000, np.float32)
    wave = np.concatenate([gap[:4000], made.waves[0], gap, made.waves[1], gap])
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(wave))
    real = microphone.stream_microphone
    monkeypatch.setattr(  # the fake device's audio, then stop (as Ctrl+C)
        microphone,
        "stream_microphone",
        functools.partial(real, max_seconds=len(wave) / 16000),
    )
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["stream", "--mic", "--model", "synth-en-streaming", "--backend", "tf"])
    assert code == 0
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""  # the last final ended its line
    finals = []
    for line in lines[:-1]:
        writes = line.split(CLEAR)
        assert writes[0] == ""  # every write starts by clearing the line
        final = FINAL.fullmatch(writes[-1])
        assert final, line
        finals.append(final.group(1))
        partials = writes[1:-1]
        assert partials, "no partial text shown before the final"
        assert partials[-1] and final.group(1).startswith(partials[-1].strip())
    assert len(finals) == 2 and all(finals)
