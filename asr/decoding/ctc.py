"""CTC decoders without a language model (the loss: `asr.training.loss`).

Blank is id 0 everywhere (see `asr.text`). The decoders are plain numpy on one
utterance's `(frames, vocab)` matrix and accept either unnormalised logits or
log-probabilities (a log-softmax is applied once, which leaves log-probabilities
unchanged), never softmax probabilities.

- `greedy_decode`, `greedy_decode_batch`: argmax, collapse repeats, drop blanks,
  trimmed to the true length.
- `beam_search`, `beam_search_batch`: CTC prefix beam search in log space,
  vectorised over beams, candidate characters and (batch) utterances.
- `mark_pauses`: a pause between two letters becomes a word break, for every
  decoder (applied by `asr.transcribe.Recognizer` before decoding; the
  streaming decoder in `asr.streaming.state` does the same frame by frame).
Word timings and confidences from the greedy alignment: `asr.decoding.alignment`.

Texts come out `asr.text.tidy` (no space at either end, one between words):
greedy texts and `beam_search_batch`'s best ones. The `(prefix, log_prob)`
pairs of `beam_search` and `beam_search_batch(nbest=True)` are the raw
prefixes, whose exact probabilities they carry.
"""

from __future__ import annotations

import logging

import numpy as np

from asr import text as text_lib

logger = logging.getLogger(__name__)

_BLANK = text_lib.BLANK
_SPACE = text_lib.VOCAB.index(" ")
_SYMBOLS = np.array(["" if i == _BLANK else s for i, s in enumerate(text_lib.VOCAB)])

PAUSE_SECONDS = 0.8
"""A silence this long between two letters is a word break: the streaming
endpoint's default (`streaming.endpoint_silence_ms`), so the whole-stream text
is its finals joined. Models trained on single sentences often write no space
between two sentences a second apart (`synth-en-streaming`: "rech" + "y
don't" -> "rechy don't"; `synth-en` on 20 such pairs of speechocean762
clips a second apart: all 20 came out with fewer words than the two clips
alone; with a 0.5 s break, 6), while within a word the greedy path of the bundled models
almost never pauses this long (stage-3 english dev WER 75.43 -> 75.52 % with it,
synth-en's test sets unchanged; at 0.3 s: 79.61 %)."""


def pause_frames(frame_seconds: float, pause_seconds: float = PAUSE_SECONDS) -> int:
    """Output frames of a word-breaking pause (0: never break on pauses)."""
    return max(2, round(pause_seconds / frame_seconds)) if pause_seconds > 0 else 0


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


def mark_pauses(
    logits: np.ndarray, min_frames: int, length: int | None = None
) -> np.ndarray:
    """Makes every pause between two letters a word break.

    Where the greedy path holds `min_frames` or more blank frames between two
    letters and no space, the blank and space scores of the pause's last frame
    are swapped: the greedy path writes a space there and the beam searches
    see a space as likely as the blank was. Other frames are untouched.

    Args:
        logits: (frames, vocab) logits or log-probabilities.
        min_frames: shortest pause that breaks a word (0: return `logits`).
        length: true number of frames; frames after it are padding.

    Returns:
        `logits` itself if nothing changes, else a changed copy.
    """
    logits = _check_matrix(logits, "logits")
    if min_frames <= 0:
        return logits
    best = np.argmax(logits[: _trim(length, logits.shape[0])], axis=-1)
    letters = np.flatnonzero((best != _BLANK) & (best != _SPACE))
    spaces = np.cumsum(best == _SPACE)
    before, after = letters[:-1], letters[1:]
    breaks = after[
        (after - before - 1 >= min_frames) & (spaces[after - 1] == spaces[before])
    ]
    if not len(breaks):
        return logits
    out = np.array(logits, copy=True)
    frames = breaks - 1
    out[frames, _SPACE] = logits[frames, _BLANK]
    out[frames, _BLANK] = logits[frames, _SPACE]
    tie = out[frames, _SPACE] <= out[frames, _BLANK]
    out[frames[tie], _SPACE] = np.nextafter(out[frames[tie], _BLANK], np.inf)
    return out


def greedy_decode(logits: np.ndarray, length: int | None = None) -> list[int]:
    """Greedy (best-path) CTC decode of one utterance.

    Args:
        logits: (frames, vocab) logits or log-probabilities.
        length: true number of frames; frames after it are padding.

    Returns:
        Label ids, blank never among them (`asr.text.decode` gives the text,
        untidied).
    """
    return greedy_spikes(logits, length)[0]


def greedy_spikes(
    logits: np.ndarray, length: int | None = None
) -> tuple[list[int], list[int]]:
    """The greedy path's labels and the frame where each one first appears:
    where a model "fires" each label (e.g. to compare two models' timing,
    `scripts/spike_offset.py`)."""
    logits = _check_matrix(logits, "logits")
    n = _trim(length, logits.shape[0])
    best = np.argmax(logits[:n], axis=-1)
    keep = best != _BLANK
    keep[1:] &= best[1:] != best[:-1]
    return best[keep].tolist(), np.flatnonzero(keep).tolist()


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
    keep = best != _BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    if lengths is not None:
        lengths = np.asarray(lengths).reshape(-1)
        if lengths.shape[0] != batch:
            raise ValueError(f"lengths: {lengths.shape[0]} values for batch {batch}")
        keep &= np.arange(frames)[None, :] < lengths[:, None]
    chars = _SYMBOLS[best]
    return [text_lib.tidy("".join(chars[b][keep[b]])) for b in range(batch)]


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
    `beam_search_batch` is much faster per utterance on a batch.

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
    log_probs = _check_matrix(log_probs, "log_probs")
    length = _trim(length, log_probs.shape[0])
    return _prefix_beam_search(
        log_probs[None],
        np.array([length]),
        beam_width,
        prune_threshold,
        top_k,
        beam_prune,
    )[0]


def beam_search_batch(
    log_probs: np.ndarray,
    lengths: np.ndarray | None = None,
    beam_width: int = 16,
    prune_threshold: float = -8.0,
    top_k: int | None = None,
    beam_prune: float = 20.0,
    nbest: bool = False,
) -> list[str] | list[list[tuple[str, float]]]:
    """`beam_search` on a padded batch, vectorised over its utterances.

    Args:
        log_probs: (batch, frames, vocab) logits or log-probabilities.
        lengths: (batch,) int true frame counts; None means all frames.
        beam_width, prune_threshold, top_k, beam_prune: as in `beam_search`.
        nbest: return every utterance's `(text, log_prob)` list, not its best text.

    Returns:
        One tidy text per utterance, or with `nbest` one list of (raw prefix,
        log_prob) pairs, best first.
    """
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(
            f"log_probs: expected (batch, frames, vocab), got {log_probs.shape}"
        )
    batch, frames, _ = log_probs.shape
    if lengths is None:
        lengths = np.full(batch, frames)
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if lengths.shape[0] != batch:
        raise ValueError(f"lengths: {lengths.shape[0]} values for batch {batch}")
    if np.any((lengths < 0) | (lengths > frames)):
        raise ValueError(f"lengths outside [0, {frames}]: {lengths.tolist()}")
    results = _prefix_beam_search(
        log_probs, lengths, beam_width, prune_threshold, top_k, beam_prune
    )
    return results if nbest else [text_lib.tidy(r[0][0]) for r in results]


def _prefix_beam_search(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    width: int,
    prune_threshold: float,
    top_k: int | None,
    beam_prune: float,
) -> list[list[tuple[str, float]]]:
    """CTC prefix beam search over a batch, one frame at a time.

    Shapes stay fixed so no step needs a mask: each utterance has `width` beam
    rows plus a dummy row (index `width`) whose probabilities stay -inf, and the
    candidate matrix has a stay column `k` and a dummy column `k + 1` (index
    -1) that stays -inf. Frames after an utterance's length become certain
    blanks, which change no prefix and no total score.

    Args:
        log_probs: (batch, frames, vocab) logits or log-probabilities.
        lengths: (batch,) int64 true frame counts.
    """
    if width < 1:
        raise ValueError(f"beam_width must be >= 1, got {width}")
    n, frames, vocab = log_probs.shape
    lp = np.full((n, frames, vocab + 1), -np.inf)  # column `vocab`: "no symbol"
    lp[..., :vocab] = log_softmax(log_probs)
    pad = np.arange(frames)[None, :] >= lengths[:, None]
    lp[pad] = -np.inf
    lp[pad, _BLANK] = 0.0
    none = vocab  # the empty prefix's last symbol
    cands, slots = _candidates(lp[..., :vocab], top_k or width, prune_threshold)

    # Prefixes live in a trie shared by the batch; a beam row holds a node id.
    n_ids = n * frames * width + n + 2
    junk, sentinel = n_ids - 2, n_ids - 1  # node of empty rows; roots' parent
    parent = np.full(n_ids, sentinel, dtype=np.int64)
    symbol = np.full(n_ids, none, dtype=np.int64)
    row_of = np.full(n_ids, width, dtype=np.int64)  # node -> beam row, or dummy
    nodes = np.full((n, width + 1), junk, dtype=np.int64)
    nodes[:, 0] = np.arange(n)  # the roots: empty prefixes
    row_of[:n] = 0
    n_nodes = n
    last = np.full((n, width + 1), none, dtype=np.int64)
    p_blank = np.full((n, width + 1), -np.inf)
    p_blank[:, 0] = 0.0
    p_char = np.full((n, width + 1), -np.inf)
    parent_row = np.full((n, width + 1), width, dtype=np.int64)  # row of prefix[:-1]
    utt = np.arange(n)[:, None]
    rows = np.arange(width + 1)[None, :]
    new_rows = np.broadcast_to(np.arange(width), (n, width))
    id_offsets = np.arange(n * width).reshape(n, width)
    longest = 0  # no prefix is longer than the number of frames tried
    prune = min(beam_prune, 1e300)  # finite: -inf scores never pass

    for t in range(frames):
        row = lp[:, t]
        total = np.logaddexp(p_blank, p_char)
        new_blank = total + row[:, _BLANK : _BLANK + 1]
        new_char = p_char + row[utt, last]
        cand = cands[t]  # (n, k + 2)
        k = cand.shape[1] - 2
        if k == 0:
            # No character is likely enough to try (this includes reaching a
            # prefix from its parent): prefixes only absorb blanks and repeats.
            p_blank, p_char = new_blank, new_char
            continue
        longest += 1
        lp_cand = row[utt, cand]  # stay and dummy: -inf
        ext = total[:, :, None] + lp_cand[:, None, :]  # (n, width + 1, k + 2)
        col = slots[:, t][utt, last]  # own last symbol's column
        # A repeat needs a blank in between.
        ext[utt, rows, col] = p_blank + lp_cand[utt, col]
        # A prefix in the beam is also reached by extending its parent: add that
        # to the prefix and drop it as a new candidate.
        new_char = np.logaddexp(new_char, ext[utt, parent_row, col])
        ext[utt, parent_row, col] = -np.inf
        ext[:, :, k] = np.logaddexp(new_blank, new_char)
        scores = ext.reshape(n, -1)
        flat = np.argpartition(scores, -width, axis=1)[:, -width:]
        score = scores[utt, flat]
        valid = score >= score.max(axis=1, keepdims=True) - prune
        beam, c = np.divmod(flat, k + 2)
        is_ext = c < k
        ids = id_offsets + n_nodes
        n_nodes += n * width
        src = nodes[utt, beam]
        new_last = cand[utt, c]
        parent[ids] = src
        symbol[ids] = new_last
        row_of[nodes] = width
        nodes[:, :width] = np.where(valid, np.where(is_ext, ids, src), junk)
        row_of[nodes[:, :width]] = new_rows
        parent_row[:, :width] = row_of[parent[nodes[:, :width]]]
        last[:, :width] = np.where(is_ext, new_last, last[utt, beam])
        # In place: the dummy row's -inf stays.
        p_blank[:, :width] = np.where(valid & ~is_ext, new_blank[utt, beam], -np.inf)
        p_char[:, :width] = np.where(
            valid, np.where(is_ext, score, new_char[utt, beam]), -np.inf
        )

    scores = np.logaddexp(p_blank, p_char)
    return _read_out(scores, nodes, parent, symbol, longest, none)


def _read_out(
    scores: np.ndarray,
    nodes: np.ndarray,
    parent: np.ndarray,
    symbol: np.ndarray,
    longest: int,
    none: int,
) -> list[list[tuple[str, float]]]:
    """Texts of the final beams, walking the trie up from every beam at once.

    Args:
        scores: (batch, beams) final log-probabilities.
        nodes: (batch, beams) trie node of each beam.
        parent, symbol: (nodes,) the trie; the roots' parent is its own parent.
        longest: no prefix is longer; the walk pads shorter ones with `none`.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    nodes = np.take_along_axis(nodes, order, 1)
    scores = np.take_along_axis(scores, order, 1)
    cur = nodes.ravel()
    steps = longest
    symbols = np.empty((steps, cur.size), dtype=np.int64)
    for d in range(steps - 1, -1, -1):  # last symbol first
        symbols[d] = symbol[cur]
        cur = parent[cur]
    lookup = np.append(_SYMBOLS[:none], "")  # "no symbol" (id `none`) reads ""
    chars = lookup[symbols].T.reshape(*nodes.shape, steps)
    return [
        [
            ("".join(chars[b, i]), float(scores[b, i]))
            for i in range(scores.shape[1])
            if scores[b, i] > -np.inf
        ]
        for b in range(scores.shape[0])
    ]


def _candidates(
    lp: np.ndarray, top_k: int, threshold: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per frame, the non-blank ids worth trying, and where each one sits.

    Args:
        lp: (batch, frames, vocab) log-probabilities.

    Returns:
        Per frame, (batch, k + 2) ids: the frame's candidates padded with
        `vocab` ("no symbol") to the batch's largest k, then two more `vocab`
        columns (stay and dummy); and (batch, frames, vocab + 1) int64: the
        column of each id in its frame's candidates, else -1.
    """
    n, frames, vocab = lp.shape
    nonblank = lp[..., 1:]
    k = max(1, min(top_k, vocab - 1))
    if k < vocab - 1:
        top = np.argpartition(-nonblank, k - 1, axis=-1)[..., :k]
    else:
        top = np.broadcast_to(np.arange(vocab - 1), (n, frames, vocab - 1))
    ok = np.take_along_axis(nonblank, top, axis=-1) >= threshold
    # The frame's argmax is always tried, even below the threshold.
    ok |= top == (np.argmax(lp, axis=-1) - 1)[..., None]
    # Tried ids first, each frame's id order kept; the rest become "no symbol".
    order = np.argsort(~ok, axis=-1, kind="stable")
    ids = np.take_along_axis(top, order, axis=-1) + 1
    ok = np.take_along_axis(ok, order, axis=-1)
    ids[~ok] = vocab
    counts = ok.sum(axis=-1).max(axis=0)  # (frames,)
    slots = np.full((n, frames, vocab + 1), -1, dtype=np.int64)
    np.put_along_axis(slots, ids, np.arange(ids.shape[-1]), axis=-1)
    slots[..., vocab] = -1  # "no symbol" has no column
    ids = np.concatenate([ids, np.full((n, frames, 2), vocab)], axis=-1)
    return [ids[:, t, : counts[t] + 2] for t in range(frames)], slots
