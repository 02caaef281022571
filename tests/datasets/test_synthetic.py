"""Tests for the espeak-ng synthetic corpus (asr.datasets.synthetic)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip(
    "espeakng_loader",
    reason="espeakng-loader (libespeak-ng wheel) not installed: pip install "
    "espeakng-loader",
)

from asr.audio import SAMPLE_RATE  # noqa: E402
from asr.datasets import clips, espeak, synthetic  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.text import normalise  # noqa: E402

HOURS = 0.01  # ~36 s of audio, ~15 clips


def _snapshot(out: Path) -> dict[str, str]:
    """Relative path -> md5 of every manifest and clip under `out`."""
    files = [*out.glob("*.jsonl"), *out.rglob("*.flac")]
    return {
        str(p.relative_to(out)): hashlib.md5(p.read_bytes()).hexdigest() for p in files
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.prepare_synthetic(out, hours=HOURS, seed=0, workers=1, progress=False)
    return out


def _rows(out: Path) -> dict[str, list]:
    return {s: read_manifest(out / f"{s}.jsonl") for s in synthetic.SPLITS}


def test_manifests_point_at_audio_of_the_stated_duration(corpus):
    rows = _rows(corpus)
    assert all(rows[s] for s in ("train", "dev", "test"))
    for split, utterances in rows.items():
        for u in utterances:
            assert Path(u.audio_filepath).is_file()
            assert f"/audio/{split}/" in u.audio_filepath
            samples, rate = sf.read(u.audio_filepath, dtype="float32")
            assert rate == SAMPLE_RATE and samples.ndim == 1
            assert abs(len(samples) / rate - u.duration) < 0.010
            assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence
    # Paths in the file are relative to the manifest's folder.
    first = json.loads((corpus / "train.jsonl").read_text().splitlines()[0])
    assert first["audio_filepath"].startswith("audio/train/")
    total = sum(u.duration for us in rows.values() for u in us)
    assert 0.7 * HOURS * 3600 < total < 1.4 * HOURS * 3600


def test_splits_share_no_voice_and_no_sentence(corpus):
    rows = _rows(corpus)
    voices = {s: {dict(u.extra)["voice"] for u in rows[s]} for s in rows}
    texts = {s: {u.text for u in rows[s]} for s in rows}
    metadata = json.loads((corpus / "metadata.json").read_text())
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not voices[a] & voices[b]
        assert not texts[a] & texts[b]
        # Whole partitions are disjoint, not only the voices drawn.
        assert not set(metadata["splits"][a]["voices"]) & set(
            metadata["splits"][b]["voices"]
        )
    for split in rows:
        assert voices[split] <= set(metadata["splits"][split]["voices"])
        assert not voices[split] & set(metadata["demo_voices"])


def test_sentences_are_normalised(corpus):
    for utterances in _rows(corpus).values():
        for u in utterances:
            assert normalise(u.text) == u.text
            assert 3 <= len(u.text.split()) <= 15


def test_same_seed_gives_the_same_corpus_and_workers_do_not_matter(corpus, tmp_path):
    again = tmp_path / "again"
    synthetic.prepare_synthetic(again, hours=HOURS, seed=0, workers=2, progress=False)
    assert _snapshot(again) == _snapshot(corpus)

    other = tmp_path / "other"
    synthetic.prepare_synthetic(other, hours=HOURS, seed=1, workers=1, progress=False)
    assert (other / "train.jsonl").read_text() != (corpus / "train.jsonl").read_text()


def test_rerun_is_a_no_op(corpus, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file()}

    def fail(*args, **kwargs):
        raise AssertionError("synthesize called on a completed corpus")

    monkeypatch.setattr(synthetic, "synthesize", fail)
    manifests = synthetic.prepare_synthetic(corpus, hours=HOURS, seed=0, workers=1)
    assert manifests == {s: corpus / f"{s}.jsonl" for s in ("train", "dev", "test")}
    after = {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file()}
    assert after == before


def test_interrupted_run_resumes_and_reuses_complete_clips(tmp_path, monkeypatch):
    out = tmp_path / "corpus"
    synthetic.prepare_synthetic(out, hours=0.003, seed=3, workers=1, progress=False)
    before = _snapshot(out)
    # Simulate a run killed before the end: marker gone, one clip missing.
    (out / ".completed").unlink()
    missing = sorted(out.rglob("*.flac"))[0]
    missing.unlink()

    calls = []
    real = synthetic.synthesize

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(clips, "synthesize", counting)  # what writes clips
    synthetic.prepare_synthetic(out, hours=0.003, seed=3, workers=1, progress=False)
    assert len(calls) == 1
    assert _snapshot(out) == before
    assert (out / ".completed").is_file()


# caleb: Klatt breath noise from libc rand(); f1: pitch flutter kept in C statics.
@pytest.mark.parametrize("voice", ["en-gb-scotland+caleb", "en-us+f1"])
def test_synthesize_returns_deterministic_speech_at_16k(voice):
    text = "the quick brown fox jumps over the lazy dog"
    audio = synthetic.synthesize(text, voice, rate_wpm=160)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < len(audio) / SAMPLE_RATE < 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.01
    assert np.abs(audio).max() <= 1.0
    # About 150 ms of silence kept at each end.
    pad = int(0.1 * SAMPLE_RATE)
    assert np.abs(audio[:pad]).max() < 0.01 and np.abs(audio[-pad:]).max() < 0.01
    # Same output whatever was spoken before.
    synthetic.synthesize("something else entirely", "en-us+klatt4")
    synthetic.synthesize("and more", "en-gb+m3", rate_wpm=300)
    again = synthetic.synthesize(text, voice, rate_wpm=160)
    assert np.array_equal(again, audio)


def test_variants_change_the_voice_on_every_accent():
    # espeak-ng silently ignores a variant on a name it only knows as a language
    # (`en-gb+f3`); every accent must really take it.
    accents = [v for v in synthetic.list_voices() if "+" not in v]
    assert len(accents) == 8
    for accent in accents:
        plain = synthetic.synthesize("hello there", accent)
        varied = synthetic.synthesize("hello there", f"{accent}+f3")
        assert plain.shape != varied.shape or not np.array_equal(plain, varied)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "", "voice": "en-us"},
        {"text": "hi", "voice": "en-xx"},
        {"text": "hi", "voice": "en-us+nosuchvariant"},
        {"text": "hi", "voice": "en-us", "rate_wpm": 20},
        {"text": "hi", "voice": "en-us", "pitch": 120},
    ],
)
def test_synthesize_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic.synthesize(**kwargs)


def test_list_voices_has_accents_and_variants():
    voices = synthetic.list_voices()
    assert len(set(voices)) == len(voices)
    assert voices == synthetic.list_voices()
    for name in ("en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-029+klatt4"):
        assert name in voices
    assert not any(v.startswith("en-shaw") for v in voices)
    assert len(voices) > 500


def test_split_voices_keeps_families_together():
    voices = synthetic.list_voices()
    parts = synthetic.split_voices(voices, seed=0)
    assert sorted(v for vs in parts.values() for v in vs) == sorted(voices)
    assert all(parts[s] for s in ("train", "dev", "test", "demo"))
    assert "en-us" in parts["train"] and "en-us+klatt" in parts["train"]

    def split_of(variant: str) -> set[str]:
        return {s for s, vs in parts.items() for v in vs if v.endswith("+" + variant)}

    assert len(split_of("iven") | split_of("iven2") | split_of("iven4")) == 1
    female = espeak._catalog().female
    for split in ("dev", "test", "demo"):
        assert any(v.partition("+")[2] in female for v in parts[split])
    assert synthetic.split_voices(voices, seed=0) == parts
    assert synthetic.split_voices(voices, seed=1) != parts
    assert synthetic.held_out_voices() == parts["demo"]


def test_generate_sentences_is_deterministic_distinct_and_normalised():
    sentences = synthetic.generate_sentences(2000, seed=5)
    assert len(set(sentences)) == 2000
    assert all(normalise(s) == s and 4 <= len(s.split()) <= 14 for s in sentences)
    assert synthetic.generate_sentences(2000, seed=5) == sentences
    assert synthetic.generate_sentences(100, seed=5) == sentences[:100]
    assert synthetic.generate_sentences(100, seed=6) != sentences[:100]
    assert len({w for s in sentences for w in s.split()}) > 500


def test_prepare_rejects_non_positive_hours(tmp_path):
    with pytest.raises(ValueError, match="hours"):
        synthetic.prepare_synthetic(tmp_path, hours=0)


def test_digit_corpus_says_one_digit_per_clip_with_disjoint_voices(tmp_path):
    out = tmp_path / "digits"
    synthetic.prepare_synthetic(
        out, hours=0.01, seed=0, workers=1, progress=False, texts="digits"
    )
    rows = _rows(out)
    assert all(rows[s] for s in synthetic.SPLITS)
    words = [u.text for us in rows.values() for u in us]
    assert set(words) <= set(synthetic.DIGITS) and len(set(words)) > 5
    voices = {s: {dict(u.extra)["voice"] for u in rows[s]} for s in rows}
    assert not voices["train"] & (voices["dev"] | voices["test"])
    for u in rows["train"][:3]:
        assert 0.3 < u.duration < 2.0
    # The marker records what was said: the sentence corpus is not "already done".
    marker = json.loads((out / ".completed").read_text())
    assert marker["texts"] == "digits"
    with pytest.raises(ValueError, match="texts"):
        synthetic.prepare_synthetic(out, hours=0.01, texts="numbers")


# ---------------------------------------------------------------------------
# Open vocabulary (asr.datasets.wordlist)


@pytest.fixture(scope="module")
def words():
    pytest.importorskip("wordfreq", reason="pip install wordfreq")
    from asr.datasets import wordlist
    from asr.datasets.sentences import closed_vocabulary

    full = wordlist.word_list()
    return full, wordlist.split_vocabulary(full, 0, keep=closed_vocabulary())


def test_spellable_keeps_plain_words_only():
    from asr.datasets.wordlist import spellable

    for word in ("cat", "don't", "a", "i", "rhythm", "zeppelin"):
        assert spellable(word), word
    for word in ("b", "c3po", "café", "u.s", "ahhh", "hmm", "'tis", "Cat", "it''s"):
        assert not spellable(word), word


def test_spoken_as_word_drops_spelled_and_expanded_words():
    from asr.datasets.espeak import phonemize
    from asr.datasets.wordlist import spoken_as_word

    good = ["hello", "the", "nasa", "don't", "a", "okay"]
    bad = ["bbc", "uk", "fbi", "xvi", "dr", "mr", "etc", "khloe"]
    for word, phonemes in zip(good + bad, phonemize(good + bad)):
        assert spoken_as_word(word, phonemes) == (word in good), (word, phonemes)


def test_word_list_is_large_spellable_and_in_frequency_order(words):
    from asr.datasets.wordlist import spellable

    full, _ = words
    assert len(full.words) > 40_000 and len(set(full.words)) == len(full.words)
    assert full.words[:3] == ("the", "to", "and")
    assert all(spellable(w) and normalise(w) == w for w in full.words)
    assert not {"bbc", "uk", "xvi", "dr", "b"} & set(full.words)
    assert all(f > 0 for f in full.frequencies)
    assert full.frequencies[0] > 100 * full.frequencies[-1]


def test_held_out_words_are_disjoint_rare_and_stable(words):
    from asr.datasets import wordlist
    from asr.datasets.sentences import closed_vocabulary

    full, parts = words
    train, dev, test = (set(parts[s].words) for s in ("train", "dev", "test"))
    assert not train & dev and not train & test and not dev & test
    assert train | dev | test == set(full.words)
    for split in (dev, test):
        assert 0.015 * len(full.words) < len(split) < 0.035 * len(full.words)
    top = set(full.words[: wordlist.TOP_KEPT])
    assert top <= train and closed_vocabulary() & set(full.words) <= train
    # Hash-based: a word's fate does not depend on the rest of the list.
    keep = closed_vocabulary()
    half = wordlist.held_out_words(full.words[: len(full.words) // 2], 0, keep=keep)
    assert set(half["test"]) <= test and set(half["dev"]) <= dev
    other = wordlist.held_out_words(full.words, 1, keep=keep)
    assert set(other["test"]) != test


def test_open_sentences_use_many_words_and_are_deterministic(words):
    from asr.datasets.wordlist import LENGTHS, open_sentence_stream

    _, parts = words
    stream = open_sentence_stream("s", parts["train"])
    pairs = [next(stream) for _ in range(2000)]
    sentences = [s for s, _ in pairs]
    vocabulary = {w for s in sentences for w in s.split()}
    assert len(vocabulary) >= 2000
    assert vocabulary <= set(parts["train"].words)
    assert {k for _, k in pairs} == {"words", "frames"}
    assert all(normalise(s) == s for s in sentences)
    lengths = [len(s.split()) for s in sentences]
    assert min(lengths) == LENGTHS[0] and max(lengths) == LENGTHS[1]
    # Flattened Zipf: frequent words come first, but not overwhelmingly.
    counts = {}
    for s in sentences:
        for w in s.split():
            counts[w] = counts.get(w, 0) + 1
    assert counts.get("the", 0) > 10
    assert counts["the"] < 0.05 * sum(lengths)
    again = open_sentence_stream("s", parts["train"])
    assert [next(again) for _ in range(2000)] == pairs
    other = open_sentence_stream("t", parts["train"])
    assert [next(other) for _ in range(50)] != pairs[:50]


def test_held_out_stream_puts_a_held_out_word_in_every_sentence(words):
    from asr.datasets.wordlist import open_sentence_stream

    _, parts = words
    held = set(parts["test"].words)
    stream = open_sentence_stream("h", parts["train"], parts["test"])
    for _ in range(500):
        text, _ = next(stream)
        assert 1 <= len(held.intersection(text.split())) <= 3, text


@pytest.fixture(scope="module")
def open_corpus(tmp_path_factory, words) -> Path:
    out = tmp_path_factory.mktemp("open")
    synthetic.prepare_synthetic(
        out, hours=0.006, seed=2, workers=1, progress=False, old_fraction=0.3
    )
    return out


def test_open_corpus_test_sentences_hold_words_train_never_says(open_corpus):
    rows = _rows(open_corpus)
    assert all(rows[s] for s in synthetic.SPLITS)
    train_words = {w for u in rows["train"] for w in u.text.split()}
    for split in ("dev", "test"):
        held = set(
            (open_corpus / f"held_out_words.{split}.txt").read_text().split("\n")[:-1]
        )
        assert len(held) > 500
        for u in rows[split]:
            unheard = set(u.text.split()) - train_words
            assert unheard & held, u.text
    extra = [dict(u.extra) for us in rows.values() for u in us]
    assert {e["text_kind"] for e in extra} >= {"words", "frames"}
    assert all(0.87 <= e["formant_scale"] <= 1.15 for e in extra)
    assert all(0 <= e["word_gap"] <= 6 for e in extra)
    voices = {s: {dict(u.extra)["voice"] for u in rows[s]} for s in rows}
    assert not voices["train"] & (voices["dev"] | voices["test"])
    for utterances in rows.values():
        for u in utterances:
            assert Path(u.audio_filepath).is_file()
            assert 3 <= len(u.text.split()) <= 15 and normalise(u.text) == u.text
    marker = json.loads((open_corpus / ".completed").read_text())
    assert marker["vocabulary"] == "open" and marker["old_fraction"] == 0.3


def test_open_corpus_is_deterministic_and_closed_is_not_open(open_corpus, tmp_path):
    before = (open_corpus / "test.jsonl").read_text()
    synthetic.prepare_synthetic(
        open_corpus, hours=0.006, seed=2, workers=1, progress=False, old_fraction=0.3
    )
    assert (open_corpus / "test.jsonl").read_text() == before
    closed = tmp_path / "closed"
    synthetic.prepare_synthetic(
        closed, hours=0.003, seed=2, workers=1, progress=False, vocabulary="closed"
    )
    assert not list(closed.glob("held_out_words*"))
    # The closed corpus is the one earlier versions wrote: same clips, same names.
    assert sorted(p.name for p in closed.rglob("*.flac")) == [
        "dev-000000-77575c37b5.flac", "test-000000-5dc0899c04.flac",
        "train-000000-7a3d5fa139.flac", "train-000001-08786837a9.flac",
        "train-000002-278a6c4747.flac", "train-000003-e0b3077d81.flac",
    ]  # fmt: skip
    first = json.loads((closed / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {
        "audio_filepath", "duration", "text", "voice", "rate_wpm", "pitch",
        "pitch_range",
    }  # fmt: skip
    with pytest.raises(ValueError, match="vocabulary"):
        synthetic.prepare_synthetic(tmp_path / "x", hours=0.01, vocabulary="big")
    with pytest.raises(ValueError, match="old_fraction"):
        synthetic.prepare_synthetic(tmp_path / "x", hours=0.01, old_fraction=1.5)


def test_formant_scale_moves_formants_and_keeps_duration():
    text = "we were away a year ago"
    plain = synthetic.synthesize(text, "en-us+m3", pitch_range=0)
    spectra = {}
    for scale in (0.87, 1.15):
        audio = synthetic.synthesize(
            text, "en-us+m3", pitch_range=0, formant_scale=scale
        )
        assert abs(len(audio) - len(plain)) < 0.15 * len(plain)
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
        spectra[scale] = float((power * freqs).sum() / power.sum())
    assert spectra[1.15] > 1.15 * spectra[0.87]
    gap = synthetic.synthesize(text, "en-us", word_gap=10)
    assert len(gap) > len(synthetic.synthesize(text, "en-us")) + 0.2 * SAMPLE_RATE
