"""CTC loss and decoders without a language model.

Blank is id 0 everywhere (see `asr.text`). The loss runs in the graph (Keras ops);
the decoders are plain numpy on one utterance's `(frames, vocab)` matrix and accept
either unnormalised logits or log-probabilities (a log-softmax is applied once,
which leaves log-probabilities unchanged), never softmax probabilities.

- `greedy_decode`, `greedy_decode_batch`: argmax, collapse repeats, drop blanks,
  trimmed to the true length.
- `beam_search`: CTC prefix beam search in log space, vectorised over beams and
  candidate characters.
- `word_timestamps`: word start/end times from the greedy alignment.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from asr import text as text_lib

logger = logging.getLogger(__name__)

BLANK_ID = text_lib.BLANK
_SPACE = text_lib.VOCAB.index(" ")
_SYMBOLS = np.array(
    ["" if i == text_lib.BLANK else s for i, s in enumerate(text_lib.VOCAB)]
)


def ctc_loss(labels, logits, label_lengths, logit_lengths):
    """Per-utterance CTC loss (negative log-likelihood), blank id 0.

    Args:
        labels: (batch, max_label_len) int, padded on the right; values beyond
            `label_lengths` are ignored. Blank id 0 never appears in a label.
        logits: (batch, out_frames, vocab) float, unnormalised.
        label_lengths: (batch,) int, true label lengths.
        logit_lengths: (batch,) int, `model.output_lengths(feature_lengths)`,
            never `logits.shape[1]`: padding would be scored as audio.

    Returns:
        (batch,) float32 losses.
    """
    logits = keras.ops.cast(logits, "float32")  # float16 would underflow
    return keras.ops.ctc_loss(
        keras.ops.cast(labels, "int32"),
        logits,
        keras.ops.cast(label_lengths, "int32"),
        keras.ops.cast(logit_lengths, "int32"),
        mask_index=text_lib.BLANK,
    )


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis (identity on log-probabilities).

    Args:
        x: (..., vocab) logits or log-probabilities.

    Returns:
        (..., vocab) float log-probabilities.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    shifted = x - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _check_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected shape (frames, vocab), got {x.shape}")
    return x


def _trim(length: int | None, frames: int) -> int:
    if length is None:
        return frames
    length = int(length)
    if not 0 <= length <= frames:
        raise ValueError(f"length {length} outside [0, {frames}]")
    return length


def greedy_decode(logits: np.ndarray, length: int | None = None) -> list[int]:
    """Greedy (best-path) CTC decode of one utterance.

    Args:
        logits: (frames, vocab) logits or log-probabilities.
        length: true number of frames; frames after it are padding.

    Returns:
        Label ids, blank never among them (`asr.text.decode` gives the text).
    """
    logits = _check_matrix(logits, "logits")
    n = _trim(length, logits.shape[0])
    best = np.argmax(logits[:n], axis=-1)
    keep = best != text_lib.BLANK
    keep[1:] &= best[1:] != best[:-1]
    return best[keep].tolist()


def greedy_decode_batch(
    logits: np.ndarray, lengths: np.ndarray | None = None
) -> list[str]:
    """Greedy CTC decode of a padded batch, vectorised.

    Args:
        logits: (batch, frames, vocab) logits or log-probabilities.
        lengths: (batch,) int true frame counts; None means all frames.

    Returns:
        One text per utterance.
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits: expected (batch, frames, vocab), got {logits.shape}")
    batch, frames, _ = logits.shape
    best = np.argmax(logits, axis=-1)  # (batch, frames)
    keep = best != text_lib.BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    if lengths is not None:
        lengths = np.asarray(lengths).reshape(-1)
        if lengths.shape[0] != batch:
            raise ValueError(f"lengths: {lengths.shape[0]} values for batch {batch}")
        keep &= np.arange(frames)[None, :] < lengths[:, None]
    chars = _SYMBOLS[best]
    return ["".join(chars[b][keep[b]]) for b in range(batch)]


def beam_search(
    log_probs: np.ndarray,
    beam_width: int = 16,
    prune_threshold: float = -8.0,
    top_k: int | None = None,
    beam_prune: float = 20.0,
    length: int | None = None,
) -> list[tuple[str, float]]:
    """CTC prefix beam search without a language model.

    Each prefix keeps two log-probabilities: of the paths ending in blank and of
    those ending in its last character, so `aa` needs a blank between the two
    a's while `a a` (one run) stays `a`. With a beam wide enough to hold every
    prefix and no pruning, the scores are exact prefix log-probabilities.

    Args:
        log_probs: (frames, vocab) logits or log-probabilities.
        beam_width: prefixes kept after each frame.
        prune_threshold: per frame, characters with log-prob below this are not
            tried (the frame's best character always is); a frame with none
            left only extends prefixes with blank or their own last character.
        top_k: per frame, at most this many characters are tried; default
            `beam_width`.
        beam_prune: prefixes scoring more than this many nats below the best
            are dropped.
        length: true number of frames; frames after it are padding.

    Returns:
        Up to `beam_width` `(text, log_prob)` pairs, best first.
    """
    lp = log_softmax(_check_matrix(log_probs, "log_probs")).astype(np.float64)
    lp = lp[: _trim(length, lp.shape[0])]
    frames, vocab = lp.shape
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    width = beam_width
    none = vocab  # "no symbol": the empty prefix's last one; log-prob -inf
    cands, slots = _candidates(lp, top_k or width, prune_threshold, none)
    lp = np.concatenate([lp, np.full((frames, 1), -np.inf)], axis=1)

    # Fixed shapes, no masks: `width` beam rows plus a dummy row `width` whose
    # probabilities stay -inf; the candidate matrix gets a stay column `k` and a
    # dummy column `k + 1` (index -1) that stays -inf.
    # Prefixes live in a trie; a beam row holds a node id (0: empty prefix).
    n_ids = frames * width + 3
    junk, sentinel = n_ids - 2, n_ids - 1  # node of empty rows; root's parent
    parent = np.full(n_ids, sentinel, dtype=np.int64)
    symbol = np.full(n_ids, none, dtype=np.int64)
    row_of = np.full(n_ids, width, dtype=np.int64)  # node -> beam row, or dummy
    row_of[0] = 0
    n_nodes = 1
    nodes = np.full(width + 1, junk, dtype=np.int64)
    nodes[0] = 0
    last = np.full(width + 1, none, dtype=np.int64)
    p_blank = np.full(width + 1, -np.inf)
    p_blank[0] = 0.0
    p_char = np.full(width + 1, -np.inf)
    parent_row = np.full(width + 1, width, dtype=np.int64)  # row of prefix[:-1]
    rows = np.arange(width + 1)
    new_rows = np.arange(width)

    for t in range(frames):
        row = lp[t]
        total = np.logaddexp(p_blank, p_char)
        new_blank = total + row[BLANK_ID]
        new_char = p_char + row[last]
        cand = cands[t]
        k = cand.size - 2
        if k == 0:
            # No character is likely enough to try (this includes reaching a
            # prefix from its parent): prefixes only absorb blank and repeats.
            p_blank, p_char = new_blank, new_char
            continue
        lp_cand = row[cand]  # stay and dummy columns: -inf
        ext = np.add.outer(total, lp_cand)  # (width + 1, k + 2)
        col = slots[t][last]  # column of each row's own last symbol, else -1
        ext[rows, col] = p_blank + lp_cand[col]  # a repeat needs a blank between
        # A prefix in the beam is also reached by extending its parent: add that
        # to the prefix and drop it as a new candidate.
        new_char = np.logaddexp(new_char, ext[parent_row, col])
        ext[parent_row, col] = -np.inf
        ext[:, k] = np.logaddexp(new_blank, new_char)
        scores = ext.ravel()
        flat = np.argpartition(scores, -width)[-width:]
        score = scores[flat]
        floor = score.max() - beam_prune
        valid = score >= (floor if floor > -np.inf else np.finfo(np.float64).min)
        beam, c = np.divmod(flat, k + 2)
        is_ext = c < k
        ids = n_nodes + new_rows
        n_nodes += width
        src = nodes[beam]
        parent[ids] = src
        symbol[ids] = cand[c]
        row_of[nodes] = width
        nodes[:width] = np.where(valid, np.where(is_ext, ids, src), junk)
        row_of[nodes[:width]] = new_rows
        row_of[junk] = width
        parent_row[:width] = row_of[parent[nodes[:width]]]
        last[:width] = np.where(is_ext, cand[c], last[beam])
        p_blank[:width] = np.where(valid & ~is_ext, new_blank[beam], -np.inf)
        p_char[:width] = np.where(
            valid, np.where(is_ext, score, new_char[beam]), -np.inf
        )
        p_blank[width] = p_char[width] = -np.inf

    scores = np.logaddexp(p_blank, p_char)
    results = []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] == -np.inf:
            break
        ids = []
        node = nodes[i]
        while node > 0:
            ids.append(int(symbol[node]))
            node = parent[node]
        results.append((text_lib.decode(reversed(ids)), float(scores[i])))
    return results


def _candidates(
    lp: np.ndarray, top_k: int, threshold: float, none: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per frame, the non-blank ids worth trying, and where each one sits.

    Args:
        lp: (frames, vocab) log-probabilities.

    Returns:
        Per frame, the ids followed by two `none` columns (stay and dummy);
        and (frames, vocab + 1) int: column of each id in its frame, else -1.
    """
    frames, vocab = lp.shape
    nonblank = lp[:, 1:]
    k = max(1, min(top_k, vocab - 1))
    if k < vocab - 1:
        top = np.argpartition(-nonblank, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(vocab - 1), (frames, vocab - 1))
    ok = np.take_along_axis(nonblank, top, axis=1) >= threshold
    # The frame's argmax is always tried, even below the threshold.
    ok |= top == (np.argmax(lp, axis=1) - 1)[:, None]
    ids = top + 1
    slots = np.full((frames, vocab + 1), -1, dtype=np.int64)
    t, j = np.nonzero(ok)
    slots[t, ids[t, j]] = (np.cumsum(ok, axis=1) - 1)[t, j]
    tail = np.array([none, none])
    return [np.concatenate([ids[t][ok[t]], tail]) for t in range(frames)], slots


def beam_search_batch(
    log_probs: np.ndarray, lengths: np.ndarray | None = None, **kwargs
) -> list[str]:
    """Best `beam_search` text for each utterance of a padded batch.

    Args:
        log_probs: (batch, frames, vocab) logits or log-probabilities.
        lengths: (batch,) int true frame counts; None means all frames.
        **kwargs: passed to `beam_search`.

    Returns:
        One text per utterance.
    """
    log_probs = np.asarray(log_probs)
    if lengths is None:
        lengths = [log_probs.shape[1]] * log_probs.shape[0]
    return [
        beam_search(x, length=int(n), **kwargs)[0][0]
        for x, n in zip(log_probs, lengths, strict=True)
    ]


def word_timestamps(
    logits: np.ndarray, length: int | None, frame_seconds: float
) -> list[dict]:
    """Words with start and end times from the greedy alignment.

    A character's span runs from the first to the last frame of its argmax run;
    a word spans its characters, so the blanks around it are excluded.

    Args:
        logits: (frames, vocab) logits or log-probabilities.
        length: true number of frames; None means all.
        frame_seconds: seconds per output frame (hop x time stride, e.g. 0.02).

    Returns:
        `[{"word": str, "start": float, "end": float}, ...]` in seconds.
    """
    logits = _check_matrix(logits, "logits")
    n = _trim(length, logits.shape[0])
    best = np.argmax(logits[:n], axis=-1)
    if n == 0:
        return []
    # Runs of equal argmax: [starts[i], ends[i]) with symbol best[starts[i]].
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    ends = np.r_[starts[1:], n]
    words = []
    chars: list[str] = []
    start = end = 0
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        sym = int(best[s])
        if sym == text_lib.BLANK:
            continue
        if sym == _SPACE:
            if chars:
                words.append(_word(chars, start, end, frame_seconds))
                chars = []
            continue
        if not chars:
            start = s
        chars.append(text_lib.VOCAB[sym])
        end = e
    if chars:
        words.append(_word(chars, start, end, frame_seconds))
    return words


def _word(chars: list[str], start: int, end: int, frame_seconds: float) -> dict:
    return {
        "word": "".join(chars),
        "start": round(start * frame_seconds, 6),
        "end": round(end * frame_seconds, 6),
    }
