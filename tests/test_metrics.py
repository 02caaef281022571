import json

import pytest

from asr import metrics

# Counted by hand (words; characters include spaces):
#   1. cat->hat, on deleted, now inserted: S1 D1 I1, 4 hits of 6; chars: 1 sub,
#      "on " deleted, " now" inserted = 8 of 22.
#   2. b->x, e and f inserted: S1 I2, 3 hits of 4; chars: 1 + " e f" = 5 of 7.
#   3. empty hypothesis: D2 of 2; 11 of 11 characters.
#   4. empty reference: I1; 2 characters inserted, 0 in the reference.
PAIRS = [
    ("the cat sat on the mat", "the hat sat the mat now"),
    ("a b c d", "a x c d e f"),
    ("hello world", ""),
    ("", "uh"),
]
REFS = [r for r, _ in PAIRS]
HYPS = [h for _, h in PAIRS]


def test_error_rates_match_hand_counts():
    got = metrics.error_rates(REFS, HYPS)
    assert got == {
        "wer": pytest.approx(9 / 12),
        "cer": pytest.approx(26 / 40),
        "substitutions": 2,
        "deletions": 3,
        "insertions": 4,
        "hits": 7,
        "ref_words": 12,
        "char_errors": 26,
        "ref_chars": 40,
    }


def test_error_rates_of_single_pairs():
    one = metrics.error_rates(REFS[:1], HYPS[:1])
    assert (one["substitutions"], one["deletions"], one["insertions"]) == (1, 1, 1)
    assert one["wer"] == pytest.approx(0.5)
    assert one["cer"] == pytest.approx(8 / 22)
    perfect = metrics.error_rates(["a  b "], [" a b"])  # whitespace collapses
    assert perfect["wer"] == 0.0 and perfect["cer"] == 0.0 and perfect["hits"] == 2


def test_empty_references():
    assert metrics.error_rates([""], [""])["wer"] == 0.0
    only_insertions = metrics.error_rates(["", ""], ["uh", "oh no"])
    assert only_insertions["insertions"] == 3
    assert only_insertions["ref_words"] == 0
    assert only_insertions["wer"] == 3.0  # scored as if the references had 1 word


def test_error_rates_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        metrics.error_rates(["a", "b"], ["a"])
    with pytest.raises(TypeError):
        metrics.error_rates("a b", "a b")


def test_align_words_marks_each_edit():
    assert metrics.align_words(REFS, HYPS) == [
        [("the", "the"), ("cat", "hat"), ("sat", "sat"), ("on", None),
         ("the", "the"), ("mat", "mat"), (None, "now")],
        [("a", "a"), ("b", "x"), ("c", "c"), ("d", "d"), (None, "e"), (None, "f")],
        [("hello", None), ("world", None)],
        [(None, "uh")],
    ]  # fmt: skip


def test_write_results_writes_the_three_files(tmp_path):
    results = [
        {"audio_filepath": f"u{i}.wav", "ref": r, "hyp": h, "duration": 1.5}
        for i, (r, h) in enumerate(PAIRS)
    ]
    results[0]["words"] = [{"word": "the", "start": 0.0, "end": 0.1}]
    skipped = [{"audio_filepath": "bad.wav", "reason": "audio not found"}]
    out = tmp_path / "eval"
    summary = metrics.write_results(out, results, {"skipped": skipped, "rtf": 0.05})
    assert sorted(p.name for p in out.iterdir()) == [
        "errs.txt",
        "recogs.jsonl",
        "summary.json",
    ]

    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert on_disk["wer"] == pytest.approx(0.75)
    assert on_disk["cer"] == pytest.approx(0.65)
    assert (on_disk["substitutions"], on_disk["deletions"], on_disk["insertions"]) == (
        2,
        3,
        4,
    )
    assert on_disk["num_utterances"] == 4
    assert on_disk["num_skipped"] == 1
    assert on_disk["skipped"] == skipped
    assert on_disk["rtf"] == 0.05
    assert on_disk["total_duration"] == 6.0

    recogs = [
        json.loads(line) for line in (out / "recogs.jsonl").read_text().splitlines()
    ]
    assert [r["audio_filepath"] for r in recogs] == [
        "u0.wav",
        "u1.wav",
        "u2.wav",
        "u3.wav",
    ]
    assert [r["wer"] for r in recogs] == [pytest.approx(0.5), 0.75, 1.0, 1.0]
    assert recogs[0]["ref"] == PAIRS[0][0] and recogs[0]["hyp"] == PAIRS[0][1]
    assert recogs[0]["words"] == results[0]["words"]  # extra keys kept
    assert (recogs[1]["substitutions"], recogs[1]["insertions"]) == (1, 2)

    errs = (out / "errs.txt").read_text().splitlines()
    assert errs[0] == "%WER = 75.00"
    assert errs[1] == "%CER = 65.00"
    assert "u0.wav:\tthe (cat->hat) sat (on->*) the mat (*->now)" in errs
    assert "u1.wav:\ta (b->x) c d (*->e) (*->f)" in errs
    assert "u2.wav:\t(hello->*) (world->*)" in errs
    assert "u3.wav:\t(*->uh)" in errs

    def section(title: str) -> list[str]:
        start = errs.index(title) + 1
        return errs[start : errs.index("", start)]

    assert section("SUBSTITUTIONS: count ref -> hyp") == [
        "1   b -> x",
        "1   cat -> hat",
    ]
    assert section("DELETIONS: count ref") == ["1   hello", "1   on", "1   world"]
    assert section("INSERTIONS: count hyp") == ["1   e", "1   f", "1   now", "1   uh"]
    per_word = errs[
        errs.index("PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp")
        + 1 :
    ]
    assert "the   2 0 2 2" in per_word
    assert "cat   0 1 1 0" in per_word


def test_write_results_defaults_and_rewrites(tmp_path):
    results = [{"audio_filepath": "a.wav", "ref": "yes", "hyp": "yes", "duration": 1}]
    summary = metrics.write_results(tmp_path, results)
    assert summary["skipped"] == [] and summary["num_skipped"] == 0
    assert summary["rtf"] is None and summary["wer"] == 0.0
    results[0]["hyp"] = "no"
    metrics.write_results(tmp_path, results, {"rtf": 0.2})
    assert json.loads((tmp_path / "summary.json").read_text())["wer"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "errs.txt",
        "recogs.jsonl",
        "summary.json",
    ]
