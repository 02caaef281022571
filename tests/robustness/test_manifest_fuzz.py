"""Fuzzing `read_manifest`: any bytes give rows or `ManifestError`s naming
`file:line`, never another exception; with `bad_lines` every good line is
read and every bad one reported. Examples are derandomized."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr import manifest as manifest_mod
from asr.manifest import ManifestError, read_manifest

SMALL_LIMIT = 300  # MAX_LINE_BYTES while fuzzing: enormous lines stay cheap

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
good_rows = st.fixed_dictionaries(
    {
        "audio_filepath": st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
            min_size=1,
            max_size=20,
        ),
        "duration": st.floats(0, 1e6) | st.integers(0, 10**6),
        "text": st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    },
    optional={"offset": st.floats(0, 100), "speaker": json_values},
)
huge = st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "9" * 400, "9" * 5000])


def _with(row: dict, key: str, raw: str) -> bytes:
    """`row` as JSON with `key`'s value written as the raw text `raw`."""
    text = json.dumps({**row, key: "@@"})
    return text.replace('"@@"', raw).encode()


bad_lines = st.one_of(
    json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: json.dumps(v).encode()
    ),
    st.tuples(good_rows, st.sampled_from(["audio_filepath", "duration", "text"])).map(
        lambda t: json.dumps({k: v for k, v in t[0].items() if k != t[1]}).encode()
    ),
    st.tuples(
        good_rows, st.sampled_from(["audio_filepath", "duration", "text"]), json_values
    )
    .filter(
        lambda t: (
            not isinstance(t[2], str if t[1] != "duration" else (int, float))
            or isinstance(t[2], bool)
        )
    )
    .map(lambda t: json.dumps({**t[0], t[1]: t[2]}).encode()),
    st.tuples(good_rows, st.sampled_from(["duration", "offset"]), huge).map(
        lambda t: _with(t[0], t[1], t[2])
    ),
    st.binary(max_size=40).map(lambda b: b"\xff" + b.replace(b"\n", b"")),
    st.integers(SMALL_LIMIT + 1, 3 * SMALL_LIMIT).map(
        lambda n: b'{"text": "' + b"a" * n
    ),
    st.integers(1, 3000).map(lambda n: b"[" * n),
    st.text(max_size=30)
    .map(lambda t: ("{" + t).replace("\n", "").encode())
    .filter(lambda b: b.strip() != b"{}"),
)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(
        st.tuples(st.booleans(), good_rows, bad_lines).map(
            lambda t: (
                (True, json.dumps(t[1], ensure_ascii=t[0]).encode())
                if t[0]
                else (False, t[2])
            )
        ),
        max_size=8,
    )
)
def test_any_lines_give_rows_or_errors_naming_the_line(tmp_path, monkeypatch, lines):
    monkeypatch.setattr(manifest_mod, "MAX_LINE_BYTES", SMALL_LIMIT)
    monkeypatch.setattr(manifest_mod.logger, "disabled", True)
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(raw + b"\n" for _, raw in lines))
    bad = [
        i
        for i, (good, raw) in enumerate(lines, 1)
        if not good or len(raw) > SMALL_LIMIT
    ]
    try:
        rows = read_manifest(path)
        assert not bad
        assert len(rows) == len(lines)
    except ManifestError as e:
        assert bad and str(e).startswith(f"{path}:{bad[0]}: "), (str(e), bad)
    errors: list[ManifestError] = []
    rows = read_manifest(path, bad_lines=errors)
    assert len(rows) == len(lines) - len(bad)
    assert [str(e).split(": ")[0] for e in errors] == [f"{path}:{i}" for i in bad]


def test_an_enormous_line_is_reported_and_the_next_line_read(tmp_path, caplog):
    path = tmp_path / "m.jsonl"
    good = json.dumps({"audio_filepath": "a.wav", "duration": 1, "text": "hi"})
    with path.open("wb") as f:
        f.write(b'{"text": "' + b"x" * (3 * manifest_mod.MAX_LINE_BYTES) + b'"}\n')
        f.write(good.encode() + b"\n")
    errors: list[ManifestError] = []
    with caplog.at_level(logging.WARNING):
        rows = read_manifest(path, bad_lines=errors)
    assert [r.text for r in rows] == ["hi"]
    assert [str(e) for e in errors] == [
        f"{path}:1: line longer than {manifest_mod.MAX_LINE_BYTES} bytes"
    ]
    assert f"{path}:1: line longer" in caplog.text
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: line longer"):
        read_manifest(path)
