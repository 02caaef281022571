import numpy as np
import soundfile as sf

from asr.config import load_config
from asr.manifest import Utterance, write_manifest
from asr.training.pipeline import Skipped, bucket_boundaries, check_rows, make_dataset
from tests.conftest import speechlike


def make_corpus(tmp_path, specs):
    """specs: (name, seconds, text); a seconds of None writes random bytes."""
    rows = []
    for name, seconds, text in specs:
        path = tmp_path / f"{name}.wav"
        if seconds is None:
            path.write_bytes(np.random.default_rng(0).bytes(3000))
            seconds = 1.0
        else:
            sf.write(path, speechlike(seconds, seed=len(rows)), 16000)
        rows.append(Utterance(str(path), seconds, text))
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, rows)
    return manifest, rows


def test_check_rows_drops_what_cannot_train_with_reasons(tmp_path):
    cfg = load_config(overrides=["data.max_duration=5.0"])
    rows = [
        Utterance("ok.wav", 1.0, "hello world"),
        Utterance("long.wav", 6.0, "too long"),
        Utterance("oov.wav", 1.0, "caf\u00e9 42"),
        # 0.1 s gives 8 feature frames -> 4 output frames; "aaaa" needs 7.
        Utterance("short.wav", 0.1, "aaaa"),
        Utterance("empty.wav", 1.0, ""),
    ]
    skipped = Skipped()
    kept = check_rows(rows, cfg, skipped)
    assert [r.audio_filepath for r, _ in kept] == ["ok.wav"]
    reasons = {r["audio_filepath"]: r["reason"] for r in skipped.rows}
    assert set(reasons) == {"long.wav", "oov.wav", "short.wav", "empty.wav"}
    assert "max_duration" in reasons["long.wav"]
    assert "vocabulary" in reasons["oov.wav"]
    assert "needs 7 CTC frames" in reasons["short.wav"]


def test_batches_carry_true_lengths_and_skip_broken_files(tmp_path):
    manifest, rows = make_corpus(
        tmp_path,
        [("a", 0.5, "ab"), ("b", 1.2, "abc"), ("bad", None, "bad"), ("c", 0.8, "c")],
    )
    cfg = load_config(overrides=["data.batch_size=8", "data.num_buckets=1"])
    skipped = Skipped()
    ds = make_dataset(str(manifest), cfg, training=False, skipped=skipped)
    batches = list(ds)
    assert len(batches) == 1
    x, y = batches[0]
    lengths = sorted(x["audio_lengths"].numpy().tolist())
    assert lengths == [8000, 12800, 19200]
    assert x["audio"].shape == (3, 19200)
    by_path = {p.decode(): i for i, p in enumerate(y["paths"].numpy())}
    i = by_path[rows[1].audio_filepath]
    assert y["label_lengths"].numpy()[i] == 3
    assert y["labels"].numpy()[i, :3].tolist() == [3, 4, 5]  # a=3, b=4, c=5
    assert [r["audio_filepath"] for r in skipped.rows] == [rows[2].audio_filepath]
    assert "unreadable" in skipped.rows[0]["reason"]


def test_segment_rows_load_their_part_of_the_file(tmp_path):
    path = tmp_path / "long.wav"
    wave = speechlike(2.0)
    sf.write(path, wave, 16000, subtype="FLOAT")
    rows = [
        Utterance(str(path), 0.5, "ab", (("offset", 0.25),)),
        Utterance(str(path), 1.0, "abc", (("offset", 1.0),)),
    ]
    cfg = load_config(overrides=["data.batch_size=8", "data.num_buckets=1"])
    ds = make_dataset(rows, cfg, training=False)
    x, y = next(iter(ds))
    got = {
        int(y["label_lengths"][i]): x["audio"][i, : x["audio_lengths"][i]].numpy()
        for i in range(2)
    }
    np.testing.assert_array_equal(got[2], wave[4000:12000])
    np.testing.assert_array_equal(got[3], wave[16000:32000])


def test_bucket_boundaries_split_durations_into_equal_counts():
    durations = list(np.linspace(1.0, 10.0, 100))
    bounds = bucket_boundaries(durations, 4)
    assert len(bounds) == 3
    counts = np.histogram(np.array(durations) * 16000, [0, *bounds, 1e9])[0]
    assert all(abs(c - 25) <= 1 for c in counts)
    assert bucket_boundaries(durations[:5], 4) == []


def test_waveform_augmentation_changes_audio_only_when_training(tmp_path):
    manifest, _ = make_corpus(tmp_path, [("a", 1.0, "ab")])
    cfg = load_config(overrides=["augment.speed_factors=[1.1]", "augment.gain_db=6.0"])
    x_train, _ = next(iter(make_dataset(str(manifest), cfg, training=True)))
    x_eval, _ = next(iter(make_dataset(str(manifest), cfg, training=False)))
    assert int(x_eval["audio_lengths"][0]) == 16000
    assert int(x_train["audio_lengths"][0]) == int(16000 / 1.1)
