"""prepare_kaldi and `asr prepare kaldi` on tiny made-up Kaldi data directories."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.cli import main
from asr.datasets.kaldi import KaldiDataError, hold_out_speakers, prepare_kaldi
from asr.manifest import read_manifest


def _audio(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * 16000))
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    sf.write(path, noise, 16000, format=fmt)
    return path


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(line + "\n" for line in lines))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()]


@pytest.fixture
def kaldi_dir(tmp_path) -> Path:
    """Three utterances of two speakers, one FLAC, two WAVs, one path absolute."""
    d = tmp_path / "data" / "train"
    _audio(d / "wav" / "spk1-a.flac", 0.5)
    _audio(d / "wav" / "spk1-b.wav", 0.25, 1)
    absolute = _audio(tmp_path / "elsewhere" / "spk2-a.wav", 0.75, 2)
    _write(
        d,
        "text",
        ["spk1-a HELLO World", "spk1-b Don't STOP", "spk2-a Café 42"],
    )
    _write(
        d,
        "wav.scp",
        ["spk1-a wav/spk1-a.flac", "spk1-b wav/spk1-b.wav", f"spk2-a {absolute}"],
    )
    _write(d, "utt2spk", ["spk1-a s1", "spk1-b s1", "spk2-a s2"])
    _write(d, "spk2gender", ["s1 f", "s2 m"])
    _write(d, "spk2age", ["s1 9", "s2 40"])
    return d


def test_normal_dir_gives_keys_and_header_durations(kaldi_dir, tmp_path):
    out = tmp_path / "out"
    got = prepare_kaldi(kaldi_dir, out)
    assert got["manifests"] == {"all": out / "all.jsonl"}
    assert got["written"] == {"all": 3}
    assert got["skipped"] == []
    assert sorted(p.name for p in out.iterdir()) == ["all.jsonl"]
    rows = _rows(out / "all.jsonl")
    assert rows[0] == {
        "audio_filepath": str(kaldi_dir / "wav" / "spk1-a.flac"),
        "duration": 0.5,
        "text": "hello world",
        "id": "spk1-a",
        "speaker": "s1",
        "gender": "f",
        "age": 9,
        "age_group": "child",
    }
    assert [(r["duration"], r["text"]) for r in rows[1:]] == [
        (0.25, "don't stop"),
        (0.75, "cafe four two"),
    ]
    assert rows[2]["audio_filepath"] == str(tmp_path / "elsewhere" / "spk2-a.wav")
    assert (rows[2]["gender"], rows[2]["age"], rows[2]["age_group"]) == (
        "m",
        40,
        "adult",
    )
    # The toolkit's reader takes it, from any working folder.
    assert [u.duration for u in read_manifest(out / "all.jsonl")] == [0.5, 0.25, 0.75]


def test_relative_dir_argument_resolves_paths(kaldi_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(kaldi_dir.parent)
    prepare_kaldi("train", tmp_path / "out")
    rows = read_manifest(tmp_path / "out" / "all.jsonl")
    assert rows[0].audio_filepath == str(kaldi_dir / "wav" / "spk1-a.flac")
    assert all(Path(r.audio_filepath).is_file() for r in rows)


def test_without_utt2spk_the_speaker_is_the_id_prefix(tmp_path):
    d = tmp_path / "d"
    for utt in ("A1-x", "A1_y", "B2"):
        _audio(d / f"{utt}.wav", 0.1)
    _write(d, "text", ["A1-x yes", "A1_y no", "B2 maybe"])
    _write(d, "wav.scp", ["A1-x A1-x.wav", "A1_y A1_y.wav", "B2 B2.wav"])
    prepare_kaldi(d, tmp_path / "out")
    rows = _rows(tmp_path / "out" / "all.jsonl")
    assert [(r["id"], r["speaker"]) for r in rows] == [
        ("A1-x", "A1"),
        ("A1_y", "A1"),
        ("B2", "B2"),
    ]
    assert all("gender" not in r and "age" not in r for r in rows)


def test_segments_become_offset_rows_the_loader_cuts(tmp_path):
    d = tmp_path / "d"
    rec = _audio(d / "rec1.wav", 2.0)
    _write(d, "wav.scp", ["rec1 rec1.wav"])
    _write(
        d,
        "segments",
        ["u1 rec1 0.0 0.5", "u2 rec1 0.5 1.25", "u3 rec1 1.5 -1", "u4 rec1 1.75 2.3"],
    )
    _write(d, "text", ["u1 one", "u2 two", "u3 three", "u4 four"])
    got = prepare_kaldi(d, tmp_path / "out")
    assert got["skipped"] == []
    rows = _rows(tmp_path / "out" / "all.jsonl")
    assert [(r["id"], r["offset"], r["duration"]) for r in rows] == [
        ("u1", 0.0, 0.5),
        ("u2", 0.5, 0.75),
        ("u3", 1.5, 0.5),  # -1: to the end
        ("u4", 1.75, 0.25),  # 0.3 s past the end: cut to the end
    ]
    assert all(r["audio_filepath"] == str(rec) for r in rows)
    whole = load_audio(rec)
    u2 = read_manifest(tmp_path / "out" / "all.jsonl")[1]
    assert u2.segment == (0.5, 0.75)
    np.testing.assert_array_equal(load_audio(rec, *u2.segment), whole[8000:20000])


def _broken_dir(tmp_path: Path) -> Path:
    d = tmp_path / "broken"
    for utt in ("ok1", "ok2", "ok3"):
        _audio(d / f"{utt}.wav", 0.2)
    (d / "garbage.wav").write_bytes(b"RIFF not really a wav file at all")
    _write(
        d,
        "text",
        [
            "ok1 fine",
            "ok2 also fine",
            "ok3 fine too",
            "pipe words",
            "gone words",
            "bad words",
            "notext_has_no_wav words",
            "ok1 duplicate",
        ],
    )
    _write(
        d,
        "wav.scp",
        [
            "ok1 ok1.wav",
            "ok2 ok2.wav",
            "ok3 ok3.wav",
            "pipe sox in.wav -t wav - |",
            "gone missing.wav",
            "bad garbage.wav",
            "lonely ok1.wav",
        ],
    )
    _write(d, "utt2spk", ["ok1 s1", "ok2 s2", "ok3 s3 extra", "pipe s4"])
    _write(d, "spk2gender", ["s1 f", "s2 x"])
    _write(d, "spk2age", ["s1 nine", "s2 30"])
    return d


def test_every_broken_line_is_reported_with_file_and_line(tmp_path, caplog):
    d = _broken_dir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="asr.datasets.kaldi"):
        got = prepare_kaldi(d, tmp_path / "out")
    rows = _rows(tmp_path / "out" / "all.jsonl")
    assert [(r["id"], r["speaker"]) for r in rows] == [("ok1", "s1"), ("ok2", "s2")]
    assert rows[0]["gender"] == "f" and "age" not in rows[0]  # bad age line
    assert "gender" not in rows[1] and rows[1]["age"] == 30  # bad gender line
    skipped = {(s["where"], s["kind"]) for s in got["skipped"]}
    assert skipped == {
        (f"{d / 'text'}:8", "duplicate id"),
        (f"{d / 'text'}:7", "no audio"),  # text id without wav
        (f"{d / 'wav.scp'}:7", "no transcript"),  # wav id without text
        (f"{d / 'wav.scp'}:4", "command pipe"),
        (f"{d / 'wav.scp'}:5", "audio missing"),
        (f"{d / 'wav.scp'}:6", "audio unreadable"),
        (f"{d / 'utt2spk'}:3", "malformed line"),  # wrong field count
        (f"{d / 'text'}:3", "no speaker"),  # ok3 lost its utt2spk line
        (f"{d / 'spk2gender'}:2", "malformed line"),
        (f"{d / 'spk2age'}:1", "malformed line"),
    }
    reasons = {s["where"]: s["reason"] for s in got["skipped"]}
    assert "not supported" in reasons[f"{d / 'wav.scp'}:4"]
    assert str(d / "missing.wav") in reasons[f"{d / 'wav.scp'}:5"]
    assert "expected 2 fields, got 3" in reasons[f"{d / 'utt2spk'}:3"]
    for where, reason in reasons.items():
        assert f"{where}: {reason}" in caplog.text
    assert "10 line(s) skipped" in caplog.text


def test_broken_segments_are_reported(tmp_path):
    d = tmp_path / "d"
    _audio(d / "r1.wav", 1.0)
    _write(d, "wav.scp", ["r1 r1.wav", "r2 r2.wav", "r3 r1.wav"])
    _write(
        d,
        "segments",
        [
            "s1 r1 0 0.5",
            "s2 r1 zero 0.5",
            "s3 r1 0.5",
            "s4 r1 0.6 0.4",
            "s5 r1 1.2 1.4",
            "s6 r1 0.2 2.0",
            "s7 r9 0 1",
            "s8 r2 0 1",
            "s10 r1 0 0.2",
        ],
    )
    texts = ["s1 a", "s2 b", "s3 c", "s4 d", "s5 e", "s6 f", "s7 g", "s8 h", "s9 i"]
    texts.append("s10 ?! --")
    _write(d, "text", texts)
    got = prepare_kaldi(d, tmp_path / "out")
    assert [r["id"] for r in _rows(tmp_path / "out" / "all.jsonl")] == ["s1"]
    seg, text, wav = d / "segments", d / "text", d / "wav.scp"
    assert {(s["where"], s["kind"]) for s in got["skipped"]} == {
        (f"{seg}:2", "malformed line"),  # bad number
        (f"{seg}:3", "malformed line"),  # field count
        (f"{seg}:4", "malformed line"),  # end before start
        (f"{seg}:5", "segment out of range"),  # starts after the end
        (f"{seg}:6", "segment out of range"),  # ends 1 s past the end
        (f"{seg}:7", "no audio"),  # recording not in wav.scp
        (f"{wav}:2", "audio missing"),
        (f"{seg}:8", "no audio"),  # ... so its segment has none
        (f"{wav}:3", "no transcript"),  # recording without segments
        (f"{text}:9", "no audio"),  # s2-s4 are reported at their segments line
        (f"{text}:10", "empty transcript"),
    }


def test_missing_text_or_wav_scp_fails_before_any_work(tmp_path):
    d = tmp_path / "d"
    _write(d, "text", ["a hello"])
    with pytest.raises(FileNotFoundError, match=r"missing wav\.scp"):
        prepare_kaldi(d, tmp_path / "out")
    (d / "text").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing text and wav\.scp"):
        prepare_kaldi(d, tmp_path / "out")
    with pytest.raises(NotADirectoryError):
        prepare_kaldi(tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_usable_utterance_is_an_error(tmp_path):
    d = tmp_path / "d"
    _write(d, "text", ["a hello"])
    _write(d, "wav.scp", ["a missing.wav"])
    with pytest.raises(KaldiDataError, match=r"no usable utterances.*wav\.scp:1"):
        prepare_kaldi(d, tmp_path / "out")


def _speaker_dir(tmp_path: Path, n_per_group: int = 4, utts: int = 2) -> Path:
    """4 groups (f/m x child/adult) of `n_per_group` speakers, `utts` each."""
    d = tmp_path / "spk"
    text, wav, utt2spk, gender, age = [], [], [], [], []
    k = 0
    for g in ("f", "m"):
        for years in (8, 30):
            for _ in range(n_per_group):
                spk = f"sp{k:02d}"
                gender.append(f"{spk} {g}")
                age.append(f"{spk} {years}")
                for u in range(utts):
                    utt = f"{spk}-{u}"
                    _audio(d / f"{utt}.wav", 0.1, k)
                    text.append(f"{utt} word")
                    wav.append(f"{utt} {utt}.wav")
                    utt2spk.append(f"{utt} {spk}")
                k += 1
    for name, lines in [
        ("text", text),
        ("wav.scp", wav),
        ("utt2spk", utt2spk),
        ("spk2gender", gender),
        ("spk2age", age),
    ]:
        _write(d, name, lines)
    return d


def test_dev_speakers_are_whole_and_balanced_over_groups(tmp_path):
    d = _speaker_dir(tmp_path)
    out = tmp_path / "out"
    got = prepare_kaldi(d, out, dev_speakers=6, seed=3)
    assert sorted(got["manifests"]) == ["dev", "train"]
    assert not (out / "all.jsonl").exists()
    train, dev = _rows(out / "train.jsonl"), _rows(out / "dev.jsonl")
    assert len(train) + len(dev) == 32
    train_spk = {r["speaker"] for r in train}
    dev_spk = {r["speaker"] for r in dev}
    assert not train_spk & dev_spk
    assert len(dev_spk) == 6 and len(dev) == 12  # whole speakers, both utterances
    groups = sorted((r["gender"], r["age_group"]) for r in dev if r["id"][-1] == "0")
    # Round robin in sorted key order: two of the first two groups, one of the rest.
    assert groups == [
        ("f", "adult"),
        ("f", "adult"),
        ("f", "child"),
        ("f", "child"),
        ("m", "adult"),
        ("m", "child"),
    ]
    assert [s["speaker"] for s in got["dev_speakers"]] == hold_out_speakers(
        sorted(train_spk | dev_spk),
        6,
        3,
        {r["speaker"]: r["gender"] for r in train + dev},
        {r["speaker"]: r["age"] for r in train + dev},
    )


def _reference_choice(speakers, n, seed, gender, age):
    """The algorithm as the issue states it, written out independently."""
    groups = {}
    for s in speakers:
        a = ("child" if age[s] < 18 else "adult") if s in age else ""
        groups.setdefault((gender.get(s) or "", a), []).append(s)
    groups = {k: sorted(v) for k, v in groups.items()}
    rng = random.Random(seed)
    for key in sorted(groups):
        rng.shuffle(groups[key])
    chosen = []
    while len(chosen) < n and any(groups.values()):
        for key in sorted(groups):
            if groups[key] and len(chosen) < n:
                chosen.append(groups[key].pop(0))
    return chosen


def test_hold_out_matches_the_stated_algorithm():
    rng = random.Random(1)
    speakers = [f"s{i}" for i in range(40)]
    gender = {s: rng.choice("mf") for s in speakers if rng.random() < 0.8}
    age = {s: rng.randrange(5, 70) for s in speakers if rng.random() < 0.8}
    for seed in range(5):
        for n in (1, 7, 39):
            shuffled = rng.sample(speakers, len(speakers))  # input order is irrelevant
            assert hold_out_speakers(shuffled, n, seed, gender, age) == (
                _reference_choice(speakers, n, seed, gender, age)
            )


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    d = _speaker_dir(tmp_path, n_per_group=5, utts=1)

    def dev(seed, name):
        prepare_kaldi(d, tmp_path / name, dev_speakers=8, seed=seed)
        return (tmp_path / name / "dev.jsonl").read_bytes()

    first = dev(0, "a")
    assert dev(0, "b") == first
    others = {dev(seed, f"s{seed}") for seed in range(1, 5)}
    assert others - {first}  # 5 choose 2 per group: a repeat in all four is unlikely


def test_too_many_dev_speakers_is_refused(tmp_path, kaldi_dir):
    with pytest.raises(KaldiDataError, match="only 2 speaker"):
        prepare_kaldi(kaldi_dir, tmp_path / "out", dev_speakers=2)
    assert not (tmp_path / "out").exists()
    got = prepare_kaldi(kaldi_dir, tmp_path / "out", dev_speakers=1)
    assert got["speakers"] == {"train": 1, "dev": 1}


def test_cli_end_to_end(tmp_path, capsys, caplog):
    d = _broken_dir(tmp_path)
    out = tmp_path / "out"
    argv = ["prepare", "kaldi", "--dir", str(d), "--out", str(out)]
    with caplog.at_level(logging.WARNING, logger="asr.datasets.kaldi"):
        assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"all: 2 utterances, 0.00 h, 2 speakers -> {out / 'all.jsonl'}" in (
        captured.out
    )
    assert "2 written, 10 skipped (" in captured.out
    assert "1 command pipe" in captured.out
    assert f"{d / 'wav.scp'}:4: recording pipe: command pipes" in caplog.text

    d = _speaker_dir(tmp_path)
    argv = ["prepare", "kaldi", "--dir", str(d), "--out", str(out)]
    assert main([*argv, "--dev-speakers", "4", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert "dev: 8 utterances" in captured.out
    assert "f/adult 1, f/child 1, m/adult 1, m/child 1" in captured.out
    assert "32 written, 0 skipped\n" in captured.out

    assert main([*argv, "--dev-speakers", "16"]) == 2
    assert "cannot hold out 16 dev speaker(s)" in capsys.readouterr().err
    assert main(["prepare", "kaldi", "--dir", str(tmp_path), "--out", str(out)]) == 2
    assert "missing text and wav.scp" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([*argv, "--dev-speakers", "-1"])
    assert e.value.code == 2
