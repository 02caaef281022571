"""JSON-lines manifests: round trips, relative paths, errors, atomic writes
(the write helper itself: tests/test_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from asr import manifest as manifest_mod
from asr.manifest import (
    ManifestError,
    Utterance,
    read_manifest,
    write_manifest,
)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path.resolve()


def _rows(root: Path) -> list[Utterance]:
    return [
        Utterance(str(root / "audio" / "a.flac"), 1.505, "go do you hear"),
        Utterance(
            str(root / "audio" / "sub" / "b.wav"),
            2.0,
            "don't",
            (("speaker", "84"), ("lang", "en"), ("tags", ["x", 1])),
        ),
    ]


def test_write_then_read_gives_equal_rows(root):
    rows = _rows(root)
    path = root / "train.jsonl"
    assert write_manifest(path, rows) == 2
    assert read_manifest(path) == rows


def test_paths_are_written_relative_to_the_manifest_folder(root):
    path = root / "train.jsonl"
    write_manifest(path, _rows(root))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "audio_filepath": "audio/a.flac",
        "duration": 1.505,
        "text": "go do you hear",
    }
    assert lines[1]["audio_filepath"] == "audio/sub/b.wav"


def test_extra_keys_are_preserved_in_order(root):
    path = root / "m.jsonl"
    write_manifest(path, _rows(root))
    assert list(json.loads(path.read_text().splitlines()[1])) == [
        "audio_filepath",
        "duration",
        "text",
        "speaker",
        "lang",
        "tags",
    ]
    row = read_manifest(path)[1]
    assert row.extra == (("speaker", "84"), ("lang", "en"), ("tags", ["x", 1]))


def test_audio_outside_the_manifest_folder_round_trips(root):
    # Written as ../audio/x.wav; read back without the "..".
    rows = [Utterance(str(root / "audio" / "x.wav"), 1.0, "x")]
    path = root / "manifests" / "dev.jsonl"
    write_manifest(path, rows)
    assert json.loads(path.read_text())["audio_filepath"] == "../audio/x.wav"
    assert read_manifest(path) == rows


def test_relative_paths_resolve_against_the_manifest_folder_not_cwd(root, monkeypatch):
    path = root / "data" / "m.jsonl"
    path.parent.mkdir()
    path.write_text('{"audio_filepath": "clips/a.wav", "duration": 1, "text": "a"}\n')
    monkeypatch.chdir(root)
    (row,) = read_manifest(Path("data") / "m.jsonl")
    assert row.audio_filepath == str(root / "data" / "clips" / "a.wav")
    assert row.duration == 1.0 and type(row.duration) is float


def test_absolute_paths_are_kept_when_not_relative(root):
    rows = _rows(root)
    path = root / "abs.jsonl"
    write_manifest(path, rows, relative=False)
    first = json.loads(path.read_text().splitlines()[0])
    assert first["audio_filepath"] == str(root / "audio" / "a.flac")
    assert read_manifest(path) == rows


def test_dict_rows_absolute_paths_made_relative_others_kept(root):
    path = root / "skipped.jsonl"
    rows = [
        {"audio_filepath": str(root / "x" / "a.wav"), "reason": "empty"},
        {"audio_filepath": "already/relative.wav", "reason": "NaN"},
        {"audio_filepath": root / "x" / "p.wav", "reason": "a Path"},
        {"reason": "no path at all"},
    ]
    assert write_manifest(path, rows) == 4
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {"audio_filepath": "x/a.wav", "reason": "empty"},
        {"audio_filepath": "already/relative.wav", "reason": "NaN"},
        {"audio_filepath": "x/p.wav", "reason": "a Path"},
        {"reason": "no path at all"},
    ]
    assert rows[0]["audio_filepath"] == str(root / "x" / "a.wav")  # not mutated


def test_numpy_scalars_are_written_as_numbers(root):
    path = root / "np.jsonl"
    write_manifest(path, [Utterance(str(root / "a.wav"), np.float32(0.5), "a")])
    assert read_manifest(path)[0].duration == 0.5


def test_unicode_text_written_as_is(root):
    path = root / "u.jsonl"
    write_manifest(path, [{"audio_filepath": "a.wav", "duration": 1, "text": "café"}])
    assert path.read_text(encoding="utf-8") == (
        '{"audio_filepath": "a.wav", "duration": 1, "text": "café"}\n'
    )


def test_blank_lines_and_crlf_are_ignored(root):
    path = root / "m.jsonl"
    path.write_bytes(
        b'\n{"audio_filepath": "a.wav", "duration": 1.5, "text": "a"}\r\n'
        b"   \n\r\n"
        b'{"audio_filepath": "b.wav", "duration": 2, "text": "b"}'
    )
    rows = read_manifest(path)
    assert [(Path(r.audio_filepath).name, r.duration, r.text) for r in rows] == [
        ("a.wav", 1.5, "a"),
        ("b.wav", 2.0, "b"),
    ]


def test_utf8_byte_order_mark_is_accepted(root):
    path = root / "bom.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"audio_filepath": "a.wav", "duration": 1, "text": "a"}\n'
    )
    assert read_manifest(path)[0].text == "a"


def test_empty_manifest_reads_as_no_rows(root):
    path = root / "empty.jsonl"
    assert write_manifest(path, []) == 0
    assert path.read_text() == ""
    assert read_manifest(path) == []


GOOD = '{"audio_filepath": "a.wav", "duration": 1.0, "text": "a"}'


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ('{"audio_filepath": "b.wav", "duration": 1.0, "text": ', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ('["a.wav", 1.0, "a"]', "expected a JSON object"),
        ('{"duration": 1.0, "text": "a"}', "missing key 'audio_filepath'"),
        ('{"audio_filepath": "b.wav", "text": "a"}', "missing key 'duration'"),
        ('{"audio_filepath": "b.wav", "duration": 1.0}', "missing key 'text'"),
        (
            '{"audio_filepath": "b.wav", "duration": "1.0", "text": "a"}',
            "'duration' must be a number",
        ),
        (
            '{"audio_filepath": "b.wav", "duration": true, "text": "a"}',
            "'duration' must be a number",
        ),
        (
            '{"audio_filepath": "b.wav", "duration": -1, "text": "a"}',
            "'duration' must be >= 0",
        ),
        (
            '{"audio_filepath": "b.wav", "duration": NaN, "text": "a"}',
            "'duration' must be >= 0",
        ),
        (
            '{"audio_filepath": "b.wav", "duration": 1.0, "text": 3}',
            "'text' must be a string",
        ),
        (
            '{"audio_filepath": null, "duration": 1.0, "text": "a"}',
            "'audio_filepath' must be a string",
        ),
        (
            '{"audio_filepath": "", "duration": 1.0, "text": "a"}',
            "'audio_filepath' is empty",
        ),
    ],
)
def test_bad_line_reports_path_and_line_number(root, bad_line, problem):
    path = root / "bad.jsonl"
    # Line 4: a blank line still counts.
    path.write_text(f"{GOOD}\n\n{GOOD}\n{bad_line}\n{GOOD}\n")
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    message = str(e.value)
    assert message.startswith(f"{path}:4: {problem}")
    assert "\n" not in message


def test_invalid_utf8_reports_the_line(root):
    path = root / "latin1.jsonl"
    path.write_bytes(
        GOOD.encode()
        + b'\n{"audio_filepath": "a.wav", "duration": 1, "text": "caf\xe9"}\n'
    )
    with pytest.raises(ManifestError, match=r"latin1\.jsonl:2: not valid UTF-8"):
        read_manifest(path)


def test_missing_manifest(root):
    with pytest.raises(ManifestError, match=r"nope\.jsonl: manifest not found"):
        read_manifest(root / "nope.jsonl")


def test_unwritable_row_raises_and_leaves_the_old_file(root):
    path = root / "m.jsonl"
    write_manifest(path, _rows(root))
    before = path.read_bytes()
    rows = [*_rows(root), Utterance(str(root / "c.wav"), float("nan"), "c")]
    with pytest.raises(ManifestError, match=r"m\.jsonl: row 3: cannot write as JSON"):
        write_manifest(path, rows)
    assert path.read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == ["m.jsonl"]


def _generated_rows(root: Path, fail_at: int):
    for i in range(5):
        if i == fail_at:
            raise RuntimeError("producer died")
        yield Utterance(str(root / f"{i}.wav"), 1.0, "x")


def test_failing_row_generator_leaves_the_old_file(root):
    path = root / "m.jsonl"
    write_manifest(path, _rows(root))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="producer died"):
        write_manifest(path, _generated_rows(root, fail_at=3))
    assert path.read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == ["m.jsonl"]


def test_failure_mid_json_dumps_leaves_the_old_file(root, monkeypatch):
    path = root / "m.jsonl"
    write_manifest(path, _rows(root))
    before = path.read_bytes()
    calls = []
    real_dumps = json.dumps

    def dumps_failing_on_second(obj, **kwargs):
        calls.append(obj)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_dumps(obj, **kwargs)

    monkeypatch.setattr(manifest_mod.json, "dumps", dumps_failing_on_second)
    with pytest.raises(KeyboardInterrupt):
        write_manifest(path, _rows(root))
    assert path.read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == ["m.jsonl"]


def test_offset_rows_are_segments(root):
    path = root / "m.jsonl"
    path.write_text(
        '{"audio_filepath": "a.wav", "duration": 0.75, "text": "x", "offset": 1.5}\n'
        '{"audio_filepath": "a.wav", "duration": 2.0, "text": "y"}\n'
    )
    seg, whole = read_manifest(path)
    assert seg.segment == (1.5, 0.75)
    assert whole.segment == (0.0, None)
    write_manifest(root / "again.jsonl", [seg, whole])
    assert read_manifest(root / "again.jsonl") == [seg, whole]


@pytest.mark.parametrize("offset", ["-1", '"1.5"', "true", "NaN", "null"])
def test_bad_offset_names_file_and_line(root, offset):
    path = root / "m.jsonl"
    path.write_text(
        '{"audio_filepath": "a.wav", "duration": 1, "text": "x"}\n'
        f'{{"audio_filepath": "b.wav", "duration": 1, "text": "y", "offset": {offset}}}'
    )
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: 'offset' must be a number"):
        read_manifest(path)
