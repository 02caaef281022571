"""Beam search with an n-gram language model (pyctcdecode + KenLM), and a small
pure-Python ARPA builder.

`pyctcdecode` and `kenlm` are optional (`pip install 'asr[lm]'`) and imported only
when an `LMDecoder` is built. `build_arpa` needs neither: it writes an interpolated
modified Kneser-Ney model in ARPA format, so users without KenLM's `lmplz` binary
can make an LM from their training transcripts (fine for a few million words;
use `lmplz` for more).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from asr import text as text_lib
from asr.ctc import log_softmax
from asr.files import atomic_write_text

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'asr[lm]'"
# pyctcdecode labels: blank is "" and stays at index 0; the rest as in text.VOCAB.
LABELS: tuple[str, ...] = tuple(
    "" if i == text_lib.BLANK else s for i, s in enumerate(text_lib.VOCAB)
)
_SPECIAL = ("<s>", "</s>", "<unk>")


BACKENDS = ("auto", "flashlight", "pyctcdecode")
# LM weight and word bonus per backend, chosen on the bundled synth-en model's dev
# split (the two score words differently, so they need their own values).
DEFAULT_WEIGHTS = {"flashlight": (1.0, 0.0), "pyctcdecode": (0.5, 1.0)}


class LMDecoder:
    """CTC beam search with shallow fusion of a KenLM n-gram model.

    Two backends: `flashlight` (flashlight-text's C++ lexicon decoder, about 4x
    faster; output words come from the LM's word list) and `pyctcdecode`
    (pure Python; also decodes without an LM, boosts hotwords, and can produce
    words the LM lacks). `auto` takes flashlight for an ARPA LM without hotwords
    when flashlight-text is installed, pyctcdecode otherwise.

    Args:
        lm_path: ARPA or KenLM binary file; None decodes without an LM (hotwords
            still apply; pyctcdecode only).
        alpha: language model weight (None: the backend's default).
        beta: word insertion bonus (None: the backend's default).
        beam_width: beams kept per frame.
        hotwords: words (or phrases) to boost; they need not be in the LM.
        hotword_weight: log-score bonus per hotword.
        unigrams: the LM's words; read from the file when it is ARPA.
        token_min_logp: per frame, characters below this log-prob are skipped
            (the frame's best is always tried; pyctcdecode only).
        beam_prune_logp: beams this far below the best are dropped.
        backend: one of `BACKENDS`.

    Raises:
        ImportError: the backend's package (or, with `lm_path`, kenlm) is not
            installed.
        FileNotFoundError: `lm_path` does not exist.
        ValueError: unknown backend, or flashlight asked for what it cannot do.
    """

    def __init__(
        self,
        lm_path: str | os.PathLike | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        beam_width: int = 32,
        hotwords: Iterable[str] | None = None,
        hotword_weight: float = 10.0,
        unigrams: Iterable[str] | None = None,
        token_min_logp: float = -5.0,
        beam_prune_logp: float = -10.0,
        backend: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        lm_path = None if lm_path is None else str(lm_path)
        if lm_path is not None and not Path(lm_path).is_file():
            raise FileNotFoundError(f"{lm_path}: language model not found")
        if unigrams is None and lm_path is not None and lm_path.endswith(".arpa"):
            unigrams = read_arpa_unigrams(lm_path)
        self.lm_path = lm_path
        self.beam_width = beam_width
        self.hotwords = tuple(hotwords) if hotwords else ()
        self.hotword_weight = hotword_weight
        self.token_min_logp = token_min_logp
        self.beam_prune_logp = beam_prune_logp
        self.backend = self._pick_backend(backend, unigrams)
        default_alpha, default_beta = DEFAULT_WEIGHTS[self.backend]
        self.alpha = default_alpha if alpha is None else alpha
        self.beta = default_beta if beta is None else beta
        if self.backend == "flashlight":
            from asr.lexicon_decoder import LexiconBeamDecoder

            self._decoder = LexiconBeamDecoder(
                lm_path,
                unigrams,
                alpha=self.alpha,
                beta=self.beta,
                beam_width=beam_width,
                beam_threshold=-beam_prune_logp,
            )
        else:
            self._decoder = _pyctcdecode_decoder(
                lm_path, unigrams, self.alpha, self.beta
            )

    def _pick_backend(self, backend: str, unigrams) -> str:
        flashlight_ok = self.lm_path is not None and unigrams is not None
        if backend == "flashlight":
            if self.hotwords or not flashlight_ok:
                raise ValueError(
                    "the flashlight backend needs an LM with a word list (an ARPA "
                    "file, or unigrams=) and takes no hotwords; use pyctcdecode"
                )
            _require("flashlight", "flashlight-text")
            return backend
        if backend == "auto" and flashlight_ok and not self.hotwords:
            if importlib.util.find_spec("flashlight") is not None:
                return "flashlight"
            logger.info("flashlight-text not installed; LM decoding with pyctcdecode")
        return "pyctcdecode"

    def decode(self, log_probs: np.ndarray, length: int | None = None) -> str:
        """Best transcript of one utterance.

        Args:
            log_probs: (frames, vocab) logits or log-probabilities.
            length: true number of frames; frames after it are padding.
        """
        x = np.asarray(log_probs)
        if x.ndim != 2 or x.shape[1] != len(LABELS):
            raise ValueError(
                f"log_probs: expected (frames, {len(LABELS)}), got {x.shape}"
            )
        if length is not None:
            x = x[: int(length)]
        if x.shape[0] == 0:
            return ""
        # Both backends take log-probabilities (pyctcdecode would otherwise guess
        # probabilities vs logits from the row sums).
        x = log_softmax(x.astype(np.float32))
        if self.backend == "flashlight":
            return self._decoder.decode(x)
        return self._decoder.decode(
            x,
            beam_width=self.beam_width,
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
            hotwords=list(self.hotwords) or None,
            hotword_weight=self.hotword_weight,
        )

    def decode_batch(
        self,
        log_probs: Sequence[np.ndarray] | np.ndarray,
        lengths: Sequence[int] | np.ndarray | None = None,
    ) -> list[str]:
        """Best transcript of each utterance.

        Args:
            log_probs: (batch, frames, vocab) array, or a list of (frames, vocab).
            lengths: (batch,) true frame counts; None means all frames.
        """
        if lengths is None:
            lengths = [None] * len(log_probs)
        return [self.decode(x, n) for x, n in zip(log_probs, lengths, strict=True)]


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"LM decoding needs {package}: {INSTALL_HINT}")


def _pyctcdecode_decoder(lm_path, unigrams, alpha: float, beta: float):
    try:
        import pyctcdecode
    except ImportError as e:
        raise ImportError(
            f"LM decoding needs pyctcdecode and kenlm: {INSTALL_HINT}"
        ) from e
    if lm_path is not None:
        try:
            import kenlm  # noqa: F401
        except ImportError as e:
            raise ImportError(
                f"LM decoding needs the kenlm module: {INSTALL_HINT}"
            ) from e
        if unigrams is None:
            logger.warning(
                "%s: binary LM without a unigram list; pass unigrams= for "
                "better partial-word scoring",
                lm_path,
            )
    return pyctcdecode.build_ctcdecoder(
        list(LABELS),
        kenlm_model_path=lm_path,
        unigrams=None if unigrams is None else sorted(set(unigrams)),
        alpha=alpha,
        beta=beta,
    )


def read_arpa_unigrams(path: str | os.PathLike) -> list[str]:
    """Words of an ARPA file's 1-gram section, without <s>, </s>, <unk>."""
    words = []
    in_unigrams = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif line.startswith("\\"):
                if in_unigrams:
                    break
            elif in_unigrams and line:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[1] not in _SPECIAL:
                    words.append(parts[1])
    return words


def build_arpa(
    texts: Iterable[str],
    path: str | os.PathLike,
    order: int = 3,
    normalise: bool = True,
) -> dict[int, int]:
    """Writes a word n-gram LM in ARPA format, built from `texts`.

    Interpolated modified Kneser-Ney (as KenLM's `lmplz`): lower orders use
    continuation counts, three discounts per order from count-of-counts (with
    lmplz's fallback 0.5, 1.0, 1.5 where the corpus is too small for them), and
    the unigrams interpolate with a uniform distribution that gives `<unk>` its
    mass. Written atomically.

    Args:
        texts: one sentence per item.
        path: the .arpa file to write.
        order: n-gram order, >= 2.
        normalise: pass each text through `asr.text.normalise` first.

    Returns:
        Number of n-grams written per order.

    Raises:
        ValueError: `order` < 2, or no words in `texts`.
    """
    if order < 2:
        raise ValueError(f"order must be >= 2 (KenLM loads no unigram LM), got {order}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # [n][ngram]
    sentences = 0
    for line in texts:
        words = (text_lib.normalise(line) if normalise else line).split()
        if not words:
            continue
        sentences += 1
        tokens = ("<s>", *words, "</s>")
        for n in range(1, order + 1):
            c = counts[n]
            for i in range(len(tokens) - n + 1):
                c[tokens[i : i + n]] += 1
    if sentences == 0:
        raise ValueError("no words to build a language model from")
    top = max(n for n in range(1, order + 1) if counts[n])  # >= 2: "<s> w"
    if top < order:
        logger.warning("sentences too short for order %d; writing order %d", order, top)
        order = top

    adjusted = _adjusted_counts(counts, order)
    probs, backoffs = _interpolate(adjusted, order)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(probs[n])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(probs[n]):
            entry = f"{probs[n][gram]:.7g}\t{' '.join(gram)}"
            if n < order:
                entry += f"\t{backoffs.get(gram, 0.0):.7g}"
            lines.append(entry)
    lines += ["", "\\end\\", ""]
    atomic_write_text(path, "\n".join(lines))
    sizes = {n: len(probs[n]) for n in range(1, order + 1)}
    logger.info("%s: %d sentences, n-grams %s", path, sentences, sizes)
    return sizes


def _adjusted_counts(counts: list[Counter], order: int) -> list[dict]:
    """Kneser-Ney counts: raw for the top order and for n-grams starting with
    <s> (but <s> alone, never predicted, gets 0); otherwise the number of
    distinct words seen before the n-gram."""
    adjusted: list[dict] = [{} for _ in range(order + 1)]
    adjusted[order] = dict(counts[order])
    for n in range(order - 1, 0, -1):
        left = Counter(gram[1:] for gram in counts[n + 1])
        a = adjusted[n]
        for gram, raw in counts[n].items():
            a[gram] = raw if gram[0] == "<s>" and n > 1 else left[gram]
    return adjusted


def _discounts(adjusted: dict) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from count-of-counts."""
    t = Counter(min(c, 4) for c in adjusted.values())
    try:
        y = t[1] / (t[1] + 2 * t[2])
        d = (1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / t[3])
    except ZeroDivisionError:
        d = None
    if d is None or not all(0 < x < k for k, x in enumerate(d, 1)):
        logger.debug("discounts %s out of range; using 0.5, 1.0, 1.5", d)
        d = (0.5, 1.0, 1.5)
    return d


def _interpolate(
    adjusted: list[dict], order: int
) -> tuple[list[dict], dict[tuple[str, ...], float]]:
    """log10 interpolated probabilities per order, and log10 backoff weights."""
    vocab = {g[0] for g in adjusted[1]} - {"<s>"}
    vocab.add("<unk>")
    probs: list[dict] = [{} for _ in range(order + 1)]
    gammas: dict[tuple[str, ...], float] = {}
    lower: dict[tuple[str, ...], float] = {}  # natural probabilities, order n-1
    for n in range(1, order + 1):
        d = _discounts({g: c for g, c in adjusted[n].items() if c > 0})
        totals: dict[tuple[str, ...], float] = defaultdict(float)
        mass: dict[tuple[str, ...], float] = defaultdict(float)
        for gram, c in adjusted[n].items():
            if c > 0:
                totals[gram[:-1]] += c
                mass[gram[:-1]] += d[min(c, 3) - 1]
        current: dict[tuple[str, ...], float] = {}
        for gram, c in adjusted[n].items():
            context = gram[:-1]
            if c <= 0:  # <s> as a unigram: never predicted
                continue
            p = (c - d[min(c, 3) - 1]) / totals[context]
            gamma = mass[context] / totals[context]
            p += gamma * (1 / len(vocab) if n == 1 else lower[gram[1:]])
            current[gram] = p
        if n == 1:
            gamma = mass[()] / totals[()]
            current[("<unk>",)] = gamma / len(vocab)
        else:
            for context in totals:
                gammas[context] = mass[context] / totals[context]
        probs[n] = {g: math.log10(p) for g, p in current.items()}
        if n == 1:
            probs[1][("<s>",)] = -99.0
        lower = current
    backoffs = {g: math.log10(v) for g, v in gammas.items()}
    return probs, backoffs
