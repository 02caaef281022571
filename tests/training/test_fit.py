import json

import keras
import numpy as np
import pytest
import soundfile as sf

import asr.training.fit
import asr.training.step
import asr.training.warmstart
from asr.config import ConfigError, dump_yaml, load_config
from asr.decoding.ctc import log_softmax
from asr.manifest import Utterance, write_manifest
from asr.training.averaging import average_run_snapshots
from asr.training.callbacks import NonFiniteLossError
from asr.training.fit import fit
from tests.conftest import TINY, speechlike


def corpus(tmp_path, n=8):
    rows = []
    for i in range(n):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, speechlike(0.5 + 0.05 * i, seed=i), 16000)
        rows.append(Utterance(str(path), 0.5 + 0.05 * i, ["ab", "ba"][i % 2]))
    write_manifest(tmp_path / "train.jsonl", rows)
    return str(tmp_path / "train.jsonl")


def config(manifest, *extra):
    return load_config(
        overrides=TINY
        + [f"data.train_manifest={manifest}", f"data.val_manifest={manifest}", *extra]
    )


def test_run_folder_holds_model_config_history_and_curve(tmp_path, caplog):
    manifest = corpus(tmp_path)
    with open(manifest, "ab") as f:
        f.write(b'{"audio_filepath": 3}\n\xff\xfe\n')  # bad lines: skipped
    cfg = config(manifest, "train.epochs=2")
    run = tmp_path / "run"
    fit(cfg, run, verbose=0)
    for name in (
        "model.keras",
        "last.keras",
        "config.yaml",
        "vocab.txt",
        "history.csv",
        "learning_curve.png",
        "skipped.jsonl",
    ):
        assert (run / name).is_file(), name
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:1] == ["epoch"] and len(history) == 3
    assert "val_wer" in history[0]
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("normalization").get_weights()[0].std() > 0  # stats set
    assert f"{manifest}:10: not valid UTF-8" in caplog.text


def test_interrupted_run_resumes_at_the_next_epoch(tmp_path, monkeypatch):
    cfg = config(corpus(tmp_path), "train.epochs=3")
    run = tmp_path / "run"

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # as if killed after epoch 1's backup

    original = asr.training.fit.LearningCurvePlot
    monkeypatch.setattr(asr.training.fit, "LearningCurvePlot", lambda *a, **k: Crash())
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, run, verbose=0)
    meta = json.loads((run / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1
    monkeypatch.setattr(asr.training.fit, "LearningCurvePlot", original)
    fit(cfg, run, verbose=0)
    epochs = [
        line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()
    ]
    assert epochs == ["epoch", "0", "1", "2"]  # not restarted at 0


def test_changed_config_does_not_resume_silently(tmp_path):
    manifest = corpus(tmp_path)
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)  # as left by an interrupted run
    (run / "config.yaml").write_text(dump_yaml(config(manifest, "train.epochs=1")))
    with pytest.raises(ValueError, match=r"different config \(model.rnn_units"):
        fit(config(manifest, "train.epochs=1", "model.rnn_units=6"), run, verbose=0)


def test_resume_may_change_the_time_budget(tmp_path):
    from asr.training.backup import check_resume_config

    manifest = corpus(tmp_path)
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "config.yaml").write_text(
        dump_yaml(config(manifest, "train.epochs=1", "train.max_minutes=38"))
    )
    shorter = config(manifest, "train.epochs=1", "train.max_minutes=20")
    check_resume_config(run, shorter)  # no error
    with pytest.raises(ValueError, match="train.epochs 1 -> 2"):
        check_resume_config(run, config(manifest, "train.epochs=2"))


def test_non_finite_loss_stops_naming_files_and_keeps_weights(tmp_path, monkeypatch):
    manifest = corpus(tmp_path, n=4)
    cfg = config(manifest, "train.epochs=1")
    run = tmp_path / "run"

    def poisoned(labels, logits, label_lengths, logit_lengths):
        return keras.ops.sum(logits, axis=(1, 2)) * np.inf

    monkeypatch.setattr(asr.training.step, "ctc_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"u\d\.wav"):
        fit(cfg, run, verbose=0)
    meta = run / "backup"
    assert meta.exists()


def test_classifier_head_trains_and_reports_accuracy(tmp_path):
    manifest = corpus(tmp_path)
    cfg = config(manifest, "train.epochs=1", "model.head=classifier")
    run = tmp_path / "run"
    fit(cfg, run, verbose=0)
    header = (run / "history.csv").read_text().splitlines()[0]
    assert "val_accuracy" in header
    assert "classes:\n  - ab\n  - ba" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("source_impl", ["keras", "fused"])
def test_init_from_copies_weights_across_rnn_implementations(tmp_path, source_impl):
    manifest = corpus(tmp_path, n=1)
    source = tmp_path / "source_run"
    source.mkdir()
    src_cfg = config(manifest, f"model.rnn_impl={source_impl}")
    keras.utils.set_random_seed(5)
    src = asr.training.fit.build_model(src_cfg)
    src.save(source / "model.keras")
    (source / "config.yaml").write_text(dump_yaml(src_cfg))
    rnn = src.get_layer("bi_rnn0")
    want = rnn.get_keras_weights() if source_impl == "fused" else rnn.get_weights()

    keras.utils.set_random_seed(6)  # other initial weights
    network = asr.training.fit.build_model(config(manifest))  # fused by default
    assert not np.allclose(network.get_layer("bi_rnn0").get_keras_weights()[0], want[0])
    asr.training.warmstart.init_from(network, str(source))
    got = network.get_layer("bi_rnn0").get_keras_weights()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(
        network.get_layer("logits").get_weights()[0],
        src.get_layer("logits").get_weights()[0],
    )


def test_average_best_keeps_n_best_epochs_and_the_better_of_average_and_best(
    tmp_path,
):
    cfg = config(corpus(tmp_path), "train.epochs=4", "train.average_best=2")
    run = tmp_path / "run"
    fit(cfg, run, verbose=0)
    kept = json.loads((run / "epochs" / "index.json").read_text())
    assert len(kept) == 2
    assert sorted(p.name for p in (run / "epochs").glob("*.h5")) == [
        f"epoch_{e['epoch']:03d}.weights.h5" for e in kept
    ]
    wers = [
        float(r.split(",")[-1]) for r in (run / "history.csv").read_text().split()[1:]
    ]
    # The two kept are the two best epochs by validation WER.
    assert sorted(e["value"] for e in kept) == pytest.approx(sorted(wers)[:2])
    assert (run / "averaged.keras").is_file()
    best = json.loads((run / "best.json").read_text())
    assert best["value"] <= min(wers)
    averaged = keras.saving.load_model(run / "averaged.keras", safe_mode=True)
    chosen = keras.saving.load_model(run / "model.keras", safe_mode=True)
    same = all(
        np.array_equal(a, b)
        for a, b in zip(averaged.get_weights(), chosen.get_weights())
    )
    assert same == ("averaged_epochs" in best)
    # A run's kept snapshots averaged after the fact give the same model.
    again = keras.saving.load_model(
        average_run_snapshots(run, tmp_path / "again"), safe_mode=True
    )
    for a, b in zip(again.get_weights(), averaged.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_init_from_a_shorter_look_ahead_keeps_the_models_output(tmp_path):
    from tests.tiny_models import CAUSAL, lookahead_model, offline

    source = tmp_path / "source_run"
    source.mkdir()
    src = lookahead_model(context=2)
    src.save(source / "model.keras")
    src_cfg = load_config(overrides=CAUSAL + ["model.lookahead=2"])
    (source / "config.yaml").write_text(dump_yaml(src_cfg))

    longer = asr.training.fit.build_model(
        load_config(overrides=CAUSAL + ["model.lookahead=5"])
    )
    asr.training.warmstart.init_from(longer, str(source))
    kernel = longer.get_layer("lookahead").get_weights()[0]
    assert kernel.shape[0] == 6 and not kernel[3:].any()  # new taps start at zero
    wave = speechlike(0.8, seed=3)
    np.testing.assert_allclose(offline(longer, wave), offline(src, wave), atol=1e-5)


def _teacher_run(tmp_path, manifest, *extra):
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    cfg = config(manifest, *extra)
    keras.utils.set_random_seed(11)
    asr.training.fit.build_model(cfg).save(teacher_dir / "model.keras")
    (teacher_dir / "config.yaml").write_text(dump_yaml(cfg))
    return teacher_dir


def _mean_kl(teacher_dir, student_path, manifest):
    from asr.audio import load_audio
    from asr.manifest import read_manifest
    from asr.transcribe import load_model

    waves = [load_audio(r.audio_filepath) for r in read_manifest(manifest)]
    t, s = (load_model(p).logits_batch(waves) for p in (teacher_dir, student_path))
    kls = []
    for a, b in zip(t, s):
        la, lb = log_softmax(a), log_softmax(b)
        kls.append((np.exp(la) * (la - lb)).sum(-1).mean())
    return float(np.mean(kls))


def test_distillation_pulls_the_student_toward_the_teacher(tmp_path):
    manifest = corpus(tmp_path)
    teacher = _teacher_run(tmp_path, manifest)
    kl = {}
    for weight in (0, 20):
        cfg = config(
            manifest,
            "train.epochs=3",
            "train.learning_rate=0.01",
            f"train.distill_from={teacher}",
            f"train.distill_weight={weight}",
        )
        fit(cfg, tmp_path / f"run{weight}", verbose=0)
        student = tmp_path / f"run{weight}" / "last.keras"
        kl[weight] = _mean_kl(teacher, student, manifest)
    assert kl[20] < 0.5 * kl[0], kl


def test_distillation_teacher_with_other_frames_is_a_config_error(tmp_path):
    manifest = corpus(tmp_path, n=1)
    teacher = _teacher_run(tmp_path, manifest, "model.conv_strides=[[4,2],[1,2]]")
    cfg = config(manifest, f"train.distill_from={teacher}")
    with pytest.raises(ConfigError, match="train.distill_from: .* frames"):
        fit(cfg, tmp_path / "run", verbose=0)


def test_distillation_needs_a_ctc_head():
    with pytest.raises(ConfigError, match="train.distill_from: .*model.head: ctc"):
        load_config(
            overrides=TINY + ["model.head=classifier", "train.distill_from=synth-en"]
        )


# Deterministic tiny training: no SpecAugment or dropout draws, no validation.
EXACT = ["augment.spec_time_masks=0", "augment.spec_freq_masks=0", "model.dropout=0"]


class _StopAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after step `step` (1-based) of epoch `epoch`
    (as if killed there), and counts the steps it saw."""

    def __init__(self, epoch=None, step=None):
        super().__init__()
        self.at, self.steps, self.epoch = (epoch, step), 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if (self.epoch, batch + 1) == self.at:
            raise KeyboardInterrupt


def _fit_with(monkeypatch, cfg, run, callback):
    monkeypatch.setattr(asr.training.fit, "LearningCurvePlot", lambda *a, **k: callback)
    fit(cfg, run, verbose=0)


def test_kill_mid_epoch_resumes_at_the_checkpointed_step_like_an_unbroken_run(
    tmp_path, monkeypatch
):
    manifest = corpus(tmp_path)
    cfg = load_config(
        overrides=TINY
        + EXACT
        + [f"data.train_manifest={manifest}", "train.epochs=2"]
        + ["train.steps_per_epoch=3", "train.checkpoint_every_steps=2"]
    )
    _fit_with(monkeypatch, cfg, tmp_path / "whole", _StopAt())
    broken = tmp_path / "broken"
    with pytest.raises(KeyboardInterrupt):  # killed after step 3 of epoch 2
        _fit_with(monkeypatch, cfg, broken, _StopAt(epoch=1, step=3))
    meta = json.loads((broken / "backup" / "training_metadata.json").read_text())
    # Checkpoints after epoch 1's step 2 (mid-epoch), epoch 1 (its end) and
    # epoch 2's step 2; step 3 was lost with the kill.
    assert (meta["epoch"], meta["batch"], meta["step"]) == (1, 2, 5)
    resumed = _StopAt()
    _fit_with(monkeypatch, cfg, broken, resumed)
    assert resumed.steps == 1  # step 3 of epoch 2: none repeated or skipped
    whole = keras.saving.load_model(tmp_path / "whole" / "last.keras")
    again = keras.saving.load_model(broken / "last.keras")
    for a, b in zip(whole.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    epochs = [line.split(",")[0] for line in (broken / "history.csv").open()]
    assert epochs == ["epoch", "0", "1"]
