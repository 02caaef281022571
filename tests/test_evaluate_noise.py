"""`asr evaluate --noise/--snr/--pad-silence/--group-by` on a tiny model."""

import json

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.mixing import snr_db
from asr.robustness import Condition, NoiseBank, make_transform, parse_snr_list
from tests.conftest import speechlike
from tests.test_evaluate_cli import run_dir  # noqa: F401  (the tiny model)

SPEAKERS = ["ann", "bob", "ann", None, "cyd"]
TEXTS = ["hello world", "a b c", "go do you hear", "yes", "no more"]


@pytest.fixture
def corpus(tmp_path):
    """Five clips (one without a speaker key) and a folder of two noise files."""
    rows = []
    for i, (spk, txt) in enumerate(zip(SPEAKERS, TEXTS, strict=True)):
        path = tmp_path / "clips" / f"{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, speechlike(0.5 + 0.1 * i, seed=i), 16000)
        row = {"audio_filepath": str(path), "duration": 0.5 + 0.1 * i, "text": txt}
        if spk:
            row["speaker"] = spk
        rows.append(row)
    write_manifest(tmp_path / "test.jsonl", rows)
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    r = np.random.default_rng(0)
    sf.write(noise_dir / "white.wav", 0.1 * r.standard_normal(4000), 16000)
    sf.write(noise_dir / "hum.flac", 0.1 * np.sin(np.arange(9000) / 5.0), 16000)
    (noise_dir / "README.txt").write_text("not audio, ignored")
    return tmp_path / "test.jsonl", noise_dir


def _evaluate(model, manifest, out, *extra):
    argv = ["evaluate", "--model", str(model), "--manifest", str(manifest)]
    return main([*argv, "--out", str(out), *extra])


def test_snr_conditions_write_a_table_per_condition_and_a_plot(
    run_dir,  # noqa: F811
    corpus,
    tmp_path,
    capsys,
):
    manifest, noise = corpus
    out = tmp_path / "out"
    argv = ["--noise", str(noise), "--snr", "clean,10,0", "--pad-silence", "0.25"]
    assert _evaluate(run_dir, manifest, out, *argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["conditions"]) == ["clean", "snr_10", "snr_0"]
    assert [c["snr_db"] for c in summary["conditions"].values()] == [None, 10, 0]
    assert summary["noise_files"] == 2 and summary["pad_seconds"] == 0.25
    for name, row in summary["conditions"].items():
        assert row["num_utterances"] == 5 and name in printed
        assert f"{row['word_errors']}/{row['ref_words']}" in printed
        assert row["ref_words"] == 12
        per = json.loads((out / name / "summary.json").read_text())
        assert per["wer"] == row["wer"] and per["cer"] == row["cer"]
        recogs = [
            json.loads(line)
            for line in (out / name / "recogs.jsonl").read_text().splitlines()
        ]
        # every clip got 0.25 s of padding before and after
        assert [r["duration"] for r in recogs] == pytest.approx(
            [0.5 + 0.1 * i + 0.5 for i in range(5)]
        )
        assert (out / name / "errs.txt").is_file()
    assert (out / "noise_robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pad_silence_alone_is_one_condition_without_a_plot(
    run_dir,  # noqa: F811
    corpus,
    tmp_path,
):
    manifest, _ = corpus
    out = tmp_path / "out"
    assert _evaluate(run_dir, manifest, out, "--pad-silence", "1") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["conditions"]) == ["clean"]
    assert summary["pad_level_dbfs"] == -60.0
    assert not (out / "noise_robustness.png").exists()
    durations = [
        json.loads(line)["duration"]
        for line in (out / "clean" / "recogs.jsonl").read_text().splitlines()
    ]
    assert durations == pytest.approx([0.5 + 0.1 * i + 2 for i in range(5)])


def test_group_by_speaker_rows_add_up_to_the_total(
    run_dir,  # noqa: F811
    corpus,
    tmp_path,
    capsys,
):
    manifest, _ = corpus
    out = tmp_path / "out"
    assert _evaluate(run_dir, manifest, out, "--group-by", "speaker") == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    groups = summary["groups"]["speaker"]
    assert sorted(groups) == ["(missing)", "ann", "bob", "cyd"]
    assert groups["ann"]["num_utterances"] == 2
    assert groups["(missing)"]["ref_words"] == 1
    for key in ("num_utterances", "ref_words", "char_errors", "ref_chars"):
        assert sum(g[key] for g in groups.values()) == summary[key]
    total_errors = summary["substitutions"] + summary["deletions"]
    total_errors += summary["insertions"]
    assert sum(g["word_errors"] for g in groups.values()) == total_errors
    for spk in groups:
        assert spk in printed
    recogs = (out / "recogs.jsonl").read_text().splitlines()
    assert json.loads(recogs[0])["speaker"] == "ann"


def test_group_by_works_per_condition(run_dir, corpus, tmp_path):  # noqa: F811
    manifest, noise = corpus
    out = tmp_path / "out"
    argv = ["--noise", str(noise / "white.wav"), "--snr", "5,clean"]
    assert _evaluate(run_dir, manifest, out, *argv, "--group-by", "speaker,text") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["group_by"] == ["speaker", "text"]
    for row in summary["conditions"].values():
        assert sum(g["num_utterances"] for g in row["groups"]["speaker"].values()) == 5
        assert len(row["groups"]["text"]) == 5


def test_mixes_depend_on_seed_and_path_only_not_on_order_or_subset(corpus, tmp_path):
    manifest, noise = corpus
    rows = read_manifest(manifest)
    bank = NoiseBank.from_path(noise)
    subset = tmp_path / "subset.jsonl"  # beside the manifest, reordered
    write_manifest(subset, [rows[3], rows[1]])
    waves = [sf.read(r.audio_filepath, dtype="float32")[0] for r in rows]

    def mixed(path, seed, i, row):
        return make_transform(Condition(5.0), path, bank, 0.1, seed=seed)(waves[i], row)

    sub_rows = read_manifest(subset)
    np.testing.assert_array_equal(
        mixed(manifest, 0, 1, rows[1]), mixed(subset, 0, 1, sub_rows[1])
    )
    np.testing.assert_array_equal(
        mixed(manifest, 0, 3, rows[3]), mixed(manifest, 0, 3, rows[3])
    )
    assert not np.array_equal(
        mixed(manifest, 0, 3, rows[3]), mixed(manifest, 1, 3, rows[3])
    )
    out = mixed(manifest, 0, 3, rows[3])
    assert abs(snr_db(waves[3], out[1600:-1600] - waves[3]) - 5.0) < 0.1


def test_snr_list_parsing():
    conds = parse_snr_list("clean, 20,10,5,0,-5")
    assert [c.name for c in conds] == [
        "clean",
        "snr_20",
        "snr_10",
        "snr_5",
        "snr_0",
        "snr_-5",
    ]
    assert parse_snr_list("inf")[0] == Condition()
    for bad in ("", "10,,5", "10,loud", "-inf", "nan", "10,10", "clean,inf"):
        with pytest.raises(ValueError):
            parse_snr_list(bad)


def test_an_utterance_without_the_key_is_missing_not_dropped(tmp_path):
    from asr.evaluate import group_value

    row = Utterance("x.wav", 1.0, "a", (("speaker", 12), ("age", None)))
    assert group_value(row, "speaker") == "12"
    assert group_value(row, "age") == "(missing)"
    assert group_value(row, "gender") == "(missing)"
