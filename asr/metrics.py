"""Word and character error rates (via jiwer) and the evaluation result files.

`write_results` writes, in the style of icefall's decode scripts:

- `summary.json`: WER, CER, error counts, utterance counts, what was skipped, RTF;
- `recogs.jsonl`: one line per utterance with its reference, hypothesis and WER;
- `summary.json`'s `confidence_auc` when the results carry
  `word_confidences` (see `confidence_auc`);
- `errs.txt`: per-utterance alignments, `(REF->HYP)` for a substitution,
  `(REF->*)` for a deletion and `(*->HYP)` for an insertion, then the most
  frequent substitutions, deletions and insertions and per-word statistics.

Rates are fractions (0.125, not 12.5). Texts are compared as given, after
collapsing whitespace; normalise both sides with `asr.text.normalise` first.
An empty reference is scored as if it had one word (or character), so its
insertions give a finite error rate.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from asr.files import atomic_write_text

logger = logging.getLogger(__name__)

# An aligned pair: (ref, hyp) for a hit or substitution, (ref, None) for a
# deletion, (None, hyp) for an insertion.
Pair = tuple[str | None, str | None]


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """Corpus-level WER and CER with the word-level error counts.

    Args:
        refs: reference transcripts.
        hyps: hypotheses, one per reference.

    Returns:
        `{"wer", "cer", "substitutions", "deletions", "insertions", "hits",
        "ref_words", "char_errors", "ref_chars"}`; counts are words.

    Raises:
        ValueError: `refs` and `hyps` differ in length.
    """
    refs, hyps = _clean(refs, hyps)
    counts = Counter()
    for pairs in align_words(refs, hyps):
        counts.update(_count(pairs))
    char_errors, ref_chars = _char_errors(refs, hyps)
    errors = counts["substitutions"] + counts["deletions"] + counts["insertions"]
    return {
        "wer": errors / max(counts["ref_words"], 1),
        "cer": char_errors / max(ref_chars, 1),
        "substitutions": counts["substitutions"],
        "deletions": counts["deletions"],
        "insertions": counts["insertions"],
        "hits": counts["hits"],
        "ref_words": counts["ref_words"],
        "char_errors": char_errors,
        "ref_chars": ref_chars,
    }


MISSING_GROUP = "(missing)"  # the group of rows that lack the grouping key


def error_rates_by_group(
    refs: Sequence[str], hyps: Sequence[str], labels: Sequence[str]
) -> dict[str, dict]:
    """WER and CER per group of utterances.

    Args:
        refs, hyps: as `error_rates`.
        labels: one group label per utterance.

    Returns:
        `{label: {"wer", "cer", "num_utterances", "ref_words", "word_errors",
        "char_errors", "ref_chars"}}`, labels sorted. Word and character
        counts over the groups add up to the corpus totals (each utterance is
        aligned on its own).

    Raises:
        ValueError: the three sequences differ in length.
    """
    if len(labels) != len(refs):
        raise ValueError(f"{len(refs)} references but {len(labels)} group labels")
    members: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    out = {}
    for label in sorted(members):
        idx = members[label]
        r = error_rates([refs[i] for i in idx], [hyps[i] for i in idx])
        out[label] = {
            "wer": r["wer"],
            "cer": r["cer"],
            "num_utterances": len(idx),
            "ref_words": r["ref_words"],
            "word_errors": r["substitutions"] + r["deletions"] + r["insertions"],
            "char_errors": r["char_errors"],
            "ref_chars": r["ref_chars"],
        }
    return out


def align_words(refs: Sequence[str], hyps: Sequence[str]) -> list[list[Pair]]:
    """Minimum-edit word alignment of each reference with its hypothesis.

    Returns:
        Per utterance, the aligned `(ref, hyp)` pairs in order; `None` marks
        the missing side of a deletion or an insertion.
    """
    refs, hyps = _clean(refs, hyps)
    ref_words = [r.split() for r in refs]
    hyp_words = [h.split() for h in hyps]
    out: list[list[Pair]] = [
        [(None, w) for w in h] if not r else [(w, None) for w in r]
        for r, h in zip(ref_words, hyp_words, strict=True)
    ]
    # jiwer 3 rejects empty references: align only the pairs with both sides.
    both = [i for i, (r, h) in enumerate(zip(refs, hyps, strict=True)) if r and h]
    if not both:
        return out
    import jiwer

    result = jiwer.process_words([refs[i] for i in both], [hyps[i] for i in both])
    for i, chunks in zip(both, result.alignments, strict=True):
        r, h = ref_words[i], hyp_words[i]
        pairs: list[Pair] = []
        for c in chunks:
            if c.type in ("equal", "substitute"):
                pairs += zip(
                    r[c.ref_start_idx : c.ref_end_idx],
                    h[c.hyp_start_idx : c.hyp_end_idx],
                    strict=True,
                )
            elif c.type == "delete":
                pairs += [(w, None) for w in r[c.ref_start_idx : c.ref_end_idx]]
            else:
                pairs += [(None, w) for w in h[c.hyp_start_idx : c.hyp_end_idx]]
        out[i] = pairs
    return out


def hyp_word_correct(pairs: list[Pair]) -> list[bool]:
    """Per hypothesis word, in order, whether the alignment `pairs` (of
    `align_words`) makes it a hit (False: substituted or inserted)."""
    return [ref == hyp for ref, hyp in pairs if hyp is not None]


def confidence_auc(
    confidences: Sequence[float], correct: Sequence[bool]
) -> float | None:
    """How well confidence separates right words from wrong ones: the
    probability that a correct word has a higher confidence than a wrong one
    (ties count half; the ROC AUC, Mann-Whitney U / (n_correct x n_wrong)).
    1.0: every correct word above every wrong one; 0.5: no better than chance.

    Returns:
        The AUC, or None without both correct and wrong words.

    Raises:
        ValueError: the two sequences differ in length.
    """
    import numpy as np

    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences for {len(correct)} words")
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    n_ok, n_bad = int(ok.sum()), int((~ok).sum())
    if not n_ok or not n_bad:
        return None
    # Average ranks (ties share theirs): U = sum of correct ranks - n(n+1)/2.
    order = np.argsort(conf, kind="stable")
    ranks = np.empty(len(conf))
    sorted_conf = conf[order]
    starts = np.flatnonzero(np.r_[True, sorted_conf[1:] != sorted_conf[:-1]])
    ends = np.r_[starts[1:], len(conf)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2  # mean of ranks s+1 .. e
    u = ranks[ok].sum() - n_ok * (n_ok + 1) / 2
    return float(u / (n_ok * n_bad))


def _results_auc(results: Sequence[dict], alignments: list[list[Pair]]) -> float | None:
    """`confidence_auc` over every hypothesis word of the results that have
    `word_confidences`, one per hypothesis word, correct per the WER alignment."""
    confs: list[float] = []
    flags: list[bool] = []
    for r, pairs in zip(results, alignments, strict=True):
        word_confs = r.get("word_confidences")
        correct = hyp_word_correct(pairs)
        if word_confs is None or len(word_confs) != len(correct):
            continue
        confs += word_confs
        flags += correct
    auc = confidence_auc(confs, flags)
    return None if auc is None else round(auc, 4)


def write_results(
    out_dir: str | os.PathLike,
    results: Sequence[dict],
    summary_extra: dict | None = None,
) -> dict:
    """Writes `summary.json`, `recogs.jsonl` and `errs.txt` into `out_dir`.

    Each file is written atomically.

    Args:
        out_dir: folder, created if missing.
        results: one dict per utterance with `audio_filepath`, `ref`, `hyp`
            and `duration`; other keys are copied into `recogs.jsonl`.
        summary_extra: merged into the summary, e.g. `skipped` (a list of
            `{"audio_filepath", "reason"}`) and `rtf`; `num_skipped` defaults to
            the length of `skipped`.

    Returns:
        The summary written to `summary.json`.
    """
    out_dir = Path(out_dir)
    refs = [r["ref"] for r in results]
    hyps = [r["hyp"] for r in results]
    refs, hyps = _clean(refs, hyps)
    alignments = align_words(refs, hyps)
    extra = dict(summary_extra or {})
    skipped = list(extra.pop("skipped", []))
    summary = {
        **error_rates(refs, hyps),
        "num_utterances": len(results),
        "num_skipped": len(skipped),
        "skipped": skipped,
        "rtf": None,
        "total_duration": round(sum(float(r.get("duration") or 0) for r in results), 3),
    }
    summary.update(extra)
    if any("word_confidences" in r for r in results):
        summary["confidence_auc"] = _results_auc(results, alignments)

    lines = []
    for r, ref, hyp, pairs in zip(results, refs, hyps, alignments, strict=True):
        c = _count(pairs)
        errors = c["substitutions"] + c["deletions"] + c["insertions"]
        row = {
            "audio_filepath": r["audio_filepath"],
            "duration": r.get("duration"),
            "ref": ref,
            "hyp": hyp,
            "wer": errors / max(c["ref_words"], 1),
            "ref_words": c["ref_words"],
            "substitutions": c["substitutions"],
            "deletions": c["deletions"],
            "insertions": c["insertions"],
        }
        row.update(
            {k: v for k, v in r.items() if k not in row and k not in ("ref", "hyp")}
        )
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")

    atomic_write_text(out_dir / "recogs.jsonl", "".join(lines))
    atomic_write_text(
        out_dir / "errs.txt",
        _errs_text([r["audio_filepath"] for r in results], alignments, summary),
    )
    atomic_write_text(
        out_dir / "summary.json",
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
    )
    logger.info(
        "%s: WER %.2f%%, CER %.2f%% over %d utterances",
        out_dir,
        100 * summary["wer"],
        100 * summary["cer"],
        len(results),
    )
    return summary


def _clean(refs: Sequence[str], hyps: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(refs, str) or isinstance(hyps, str):
        raise TypeError("refs and hyps must be sequences of strings, not strings")
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    return [" ".join(r.split()) for r in refs], [" ".join(h.split()) for h in hyps]


def _count(pairs: list[Pair]) -> Counter:
    c = Counter()
    for ref, hyp in pairs:
        if ref is None:
            c["insertions"] += 1
            continue
        c["ref_words"] += 1
        if hyp is None:
            c["deletions"] += 1
        elif hyp == ref:
            c["hits"] += 1
        else:
            c["substitutions"] += 1
    return c


def _char_errors(refs: list[str], hyps: list[str]) -> tuple[int, int]:
    """Character edit distance summed over utterances (spaces count), and the
    number of reference characters."""
    errors = 0
    both = []
    for r, h in zip(refs, hyps, strict=True):
        if r and h:
            both.append((r, h))
        else:
            errors += len(r) + len(h)
    if both:
        import jiwer

        out = jiwer.process_characters([r for r, _ in both], [h for _, h in both])
        errors += out.substitutions + out.deletions + out.insertions
    return errors, sum(len(r) for r in refs)


def _errs_text(utt_ids: list[str], alignments: list[list[Pair]], summary: dict) -> str:
    """icefall-style `errs.txt`."""
    subs: Counter = Counter()
    dels: Counter = Counter()
    ins: Counter = Counter()
    # word -> [correct, substituted as ref, substituted as hyp, deleted, inserted]
    words: dict[str, list[int]] = {}

    def stats(w: str) -> list[int]:
        return words.setdefault(w, [0, 0, 0, 0, 0])

    details = []
    for utt, pairs in zip(utt_ids, alignments, strict=True):
        shown = []
        for ref, hyp in pairs:
            if ref is None:
                ins[hyp] += 1
                stats(hyp)[4] += 1
                shown.append(f"(*->{hyp})")
            elif hyp is None:
                dels[ref] += 1
                stats(ref)[3] += 1
                shown.append(f"({ref}->*)")
            elif ref != hyp:
                subs[(ref, hyp)] += 1
                stats(ref)[1] += 1
                stats(hyp)[2] += 1
                shown.append(f"({ref}->{hyp})")
            else:
                stats(ref)[0] += 1
                shown.append(ref)
        details.append(f"{utt}:\t{' '.join(shown)}")

    s = summary
    errors = s["substitutions"] + s["deletions"] + s["insertions"]
    out = [
        f"%WER = {100 * s['wer']:.2f}",
        f"%CER = {100 * s['cer']:.2f}",
        f"Errors: {s['insertions']} insertions, {s['deletions']} deletions, "
        f"{s['substitutions']} substitutions, over {s['ref_words']} reference "
        f"words ({s['hits']} correct, {errors} errors)",
        f"Utterances: {s['num_utterances']} scored, {s['num_skipped']} skipped",
        "Search below for sections starting with PER-UTT DETAILS:, "
        "SUBSTITUTIONS:, DELETIONS:, INSERTIONS:, PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)",
        *details,
        "",
        "SUBSTITUTIONS: count ref -> hyp",
        *(f"{n}   {r} -> {h}" for (r, h), n in _most_common(subs)),
        "",
        "DELETIONS: count ref",
        *(f"{n}   {w}" for w, n in _most_common(dels)),
        "",
        "INSERTIONS: count hyp",
        *(f"{n}   {w}" for w, n in _most_common(ins)),
        "",
        "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp",
    ]
    rows = []
    for w, (corr, sub_ref, sub_hyp, dele, inse) in words.items():
        errs = sub_ref + sub_hyp + dele + inse
        rows.append(
            (-errs, w, corr, errs, corr + sub_ref + dele, corr + sub_hyp + inse)
        )
    for _, w, corr, errs, in_ref, in_hyp in sorted(rows):
        out.append(f"{w}   {corr} {errs} {in_ref} {in_hyp}")
    return "\n".join(out) + "\n"


def _most_common(counter: Counter) -> list:
    """Most frequent first, ties in a stable (sorted) order."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
