"""`asr crossval`: speaker-grouped folds (no speaker on both sides of a fold),
one run per fold, mean ± standard deviation, resume fold by fold. Most tests
replace `fit` with a fake (seconds); one trains for real (slow)."""

import json
import statistics
from pathlib import Path

import pytest

import asr.training.fit
from asr.cli import main
from asr.config import ConfigError, load_config
from asr.manifest import ManifestError, Utterance, read_manifest, write_manifest
from asr.training.crossval import assign_folds, crossval, group_of, make_folds
from tests.conftest import TINY, tiny_corpus

# speakers with 1 to 6 utterances each
SIZES = {"ann": 6, "bob": 5, "cy": 4, "dee": 3, "ed": 2, "flo": 1}


def speaker_manifest(tmp_path, sizes=SIZES, name="all.jsonl") -> Path:
    rows = [
        Utterance(str(tmp_path / f"{spk}_{i}.wav"), 0.5, "ab", (("speaker", spk),))
        for spk, n in sizes.items()
        for i in range(n)
    ]
    write_manifest(tmp_path / name, rows)
    return tmp_path / name


def test_group_comes_from_the_key_or_the_file_name():
    row = Utterance("/d/x.wav", 1.0, "a", (("speaker", 7), ("gender", "f")))
    assert group_of(row, "speaker") == "7" and group_of(row, "gender") == "f"
    speech_commands = Utterance("/d/eight/george_nohash_12.wav", 1.0, "eight")
    fsdd = Utterance("/d/recordings/3_jackson_41.wav", 1.0, "three")
    assert group_of(speech_commands, "speaker") == "george"
    assert group_of(fsdd, "speaker") == "jackson"
    with pytest.raises(ManifestError, match=r"m\.jsonl: /d/clip\.wav: no 'speaker'"):
        group_of(Utterance("/d/clip.wav", 1.0, "a"), "speaker", "m.jsonl")
    with pytest.raises(ManifestError, match="no 'gender' key"):
        group_of(speech_commands, "gender")


def test_folds_hold_whole_groups_and_close_sizes():
    folds = assign_folds(SIZES, 3)
    assert sorted(g for f in folds for g in f) == sorted(SIZES)  # each once
    totals = [sum(SIZES[g] for g in f) for f in folds]
    assert max(totals) - min(totals) <= 1, totals
    assert assign_folds(SIZES, 3) == folds  # deterministic
    with pytest.raises(ConfigError, match="only 6 groups"):
        assign_folds(SIZES, 7)
    with pytest.raises(ConfigError, match="at least 2"):
        assign_folds(SIZES, 1)


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_no_speaker_is_in_both_train_and_test_of_a_fold(tmp_path, k):
    manifest = speaker_manifest(tmp_path)
    folds = make_folds([manifest], k)
    tested = []
    for fold in folds:
        train = {group_of(r, "speaker") for r in fold.train}
        test = {group_of(r, "speaker") for r in fold.test}
        assert train and test and not train & test
        assert train | test == set(SIZES)
        tested += [r.audio_filepath for r in fold.test]
    every = [r.audio_filepath for r in read_manifest(manifest)]
    assert sorted(tested) == sorted(every)  # each utterance tested once


class FakeFit:
    """Writes a history whose last epoch's val_wer is 0.1 × the fold's number
    of test utterances (its val manifest), so folds differ."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def __call__(self, cfg, run_dir, verbose=0):
        run_dir = Path(run_dir)
        self.calls.append((cfg, run_dir))
        if self.fail_on == len(self.calls):
            raise KeyboardInterrupt
        n = len(read_manifest(cfg.data.val_manifest))
        (run_dir / "model.keras").write_text("best epoch")
        (run_dir / "last.keras").write_text(f"last epoch of {run_dir.name}")
        (run_dir / "history.csv").write_text(
            f"epoch,loss,val_wer,val_cer\n0,2.0,0.9,0.5\n1,1.0,{0.1 * n},{0.05 * n}\n"
        )


def test_each_fold_trains_on_the_others_and_tests_on_its_speakers(
    tmp_path, monkeypatch
):
    fake = FakeFit()
    monkeypatch.setattr(asr.training.fit, "fit", fake)
    cfg = load_config(overrides=["train.early_stopping_patience=3"])
    result = crossval(cfg, [speaker_manifest(tmp_path)], 3, tmp_path / "cv")
    assert len(fake.calls) == 3
    for i, (fold_cfg, run) in enumerate(fake.calls):
        assert run == tmp_path / "cv" / f"fold_{i}"
        assert fold_cfg.data.val_manifest == str(run / "test.jsonl")
        assert fold_cfg.data.train_manifest == str(run / "train.jsonl")
        n_test = len(read_manifest(run / "test.jsonl"))
        assert fold_cfg.train.val_max_utterances == n_test  # the whole fold
        assert fold_cfg.train.early_stopping_patience == 0  # no peeking
    wers = [r["wer"] for r in result.rows]
    assert wers == [pytest.approx(0.1 * r["test"]) for r in result.rows]
    for _, run in fake.calls:  # the network the WER came from, not the best
        assert (run / "model.keras").read_text() == f"last epoch of {run.name}"
    assert result.mean["wer"] == pytest.approx(statistics.mean(wers))
    assert result.std["wer"] == pytest.approx(statistics.stdev(wers))
    md = result.table_md.read_text()
    assert md.startswith("| fold | speaker | train | test | wer | cer | epochs |")
    assert "| mean |" in md and "| std |" in md
    summary = json.loads((tmp_path / "cv" / "summary.json").read_text())
    assert summary["mean"]["wer"] == pytest.approx(result.mean["wer"])


def test_rerun_skips_finished_folds_and_resumes_the_interrupted_one(
    tmp_path, monkeypatch
):
    manifest = speaker_manifest(tmp_path)
    fake = FakeFit(fail_on=2)
    monkeypatch.setattr(asr.training.fit, "fit", fake)
    cfg = load_config()
    with pytest.raises(KeyboardInterrupt):
        crossval(cfg, [manifest], 3, tmp_path / "cv")
    assert (tmp_path / "cv" / "fold_0" / "result.json").exists()
    assert not (tmp_path / "cv" / "fold_1" / "result.json").exists()
    fake.fail_on = None
    result = crossval(cfg, [manifest], 3, tmp_path / "cv")
    assert [run.name for _, run in fake.calls] == ["fold_0", "fold_1"] + [
        "fold_1",
        "fold_2",
    ]
    assert len(result.rows) == 3
    with pytest.raises(ConfigError, match="different folds"):
        crossval(cfg, [manifest], 2, tmp_path / "cv")


def test_cli_reports_mean_and_sd(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(asr.training.fit, "fit", FakeFit())
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 2}\n")
    a = speaker_manifest(tmp_path, {"ann": 2, "bob": 2}, "a.jsonl")
    b = speaker_manifest(tmp_path, {"cy": 2, "dee": 2}, "b.jsonl")
    args = ["crossval", "-c", str(config), "--folds", "2", "--out", str(tmp_path)]
    code = main(args + ["--manifest", str(a), "--manifest", str(b)])
    out = capsys.readouterr().out
    assert code == 0 and "WER 40.00 % ± 0.00 (mean ± sd over 2 folds)" in out
    assert main(args[:-2] + ["--out", str(tmp_path / "x")]) == 2
    assert "--manifest: no utterances" in capsys.readouterr().err


def test_extra_training_data_is_in_every_fold_and_never_tested(tmp_path, monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(asr.training.fit, "fit", fake)
    extra = speaker_manifest(tmp_path, {"synth": 3}, "extra.jsonl")
    args = ["crossval", "--folds", "3", "--out", str(tmp_path / "cv")]
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 2}\n")
    args += ["-c", str(config), "--manifest", str(speaker_manifest(tmp_path))]
    assert main(args + ["--extra-train", str(extra)]) == 0
    extra_paths = {r.audio_filepath for r in read_manifest(extra)}
    for _, run in fake.calls:
        train = {r.audio_filepath for r in read_manifest(run / "train.jsonl")}
        test = {r.audio_filepath for r in read_manifest(run / "test.jsonl")}
        assert extra_paths <= train and not extra_paths & test
    # the extra data is part of the settings: another set is refused
    other = speaker_manifest(tmp_path, {"other": 2}, "other.jsonl")
    assert main(args + ["--extra-train", str(other)]) == 2


@pytest.mark.slow
def test_two_real_folds(tmp_path):
    """Done-when of issue 27 item 3: real runs on speaker-grouped folds."""
    manifest = tiny_corpus(tmp_path)
    rows = [
        Utterance(r.audio_filepath, r.duration, r.text, (("speaker", f"s{i % 4}"),))
        for i, r in enumerate(read_manifest(manifest))
    ]
    write_manifest(manifest, rows)
    cfg = load_config(overrides=TINY + ["train.epochs=1"])
    result = crossval(cfg, [manifest], 2, tmp_path / "cv", verbose=0)
    assert [r["test"] for r in result.rows] == [4, 4]
    assert all(0 <= r["wer"] for r in result.rows) and "wer" in result.std
    for i in range(2):
        assert (tmp_path / "cv" / f"fold_{i}" / "model.keras").is_file()
