"""Loading models and turning audio into text.

    model = asr.load_model("synth-en")        # bundled name, run dir or .keras file
    model.transcribe("clip.flac")             # -> str
    model.transcribe_batch(["a.wav", "b.wav"])

Short inputs are batched by length through one compiled function. Long inputs
(over 22 s) are read block by block, in memory flat in their length, and cut
(`segmentation`) either where speech pauses ("pauses", the default: at most
20 s a segment, recognised in batches, each decoded on its own, word times in
the whole recording) or into fixed 20 s windows with 2 s of context each side
whose centre frames are stitched and decoded at once ("windows"; equal to a
single pass; docs/transcription.md compares them).

`edge_seconds` (`--edge`, default 0) of digital silence around each utterance
or pause-cut segment of a CTC model gives a clip cut at its first and last
sample the frames after a sound that CTC writes its letters in; next to noise
filling the clip it costs (docs/robustness.md). Word times stay the input's.

A keyword classifier (`model.head: classifier`) gives one answer per input,
never cut: `classify` returns its `asr.classification.Prediction` (softmax
probabilities, the word, `_unknown_` when the best keyword is less probable
than `threshold`), and `decode` / `transcribe` return that word.

A batch of one is dispatch-bound: on CPU, from `xla_min_seconds` (8 s) of
audio up, it runs a copy of the network whose recurrences are XLA-compiled
loops (`asr.rnn.layer.FusedRNN` with `jit_compile`; `scripts/benchmark.py`:
`offline_xla_x_graph`), compiled once per length bucket (0.5-2 s a process),
which a shorter clip would not win back. `load_model` runs the second
convolution and the recurrent input projections in bfloat16 where the CPU
computes it natively (`asr.precision`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from asr import text as text_lib
from asr.audio import SAMPLE_RATE, iter_audio_blocks, load_audio
from asr.checkpoint import load_network
from asr.classification import DEFAULT_THRESHOLD, predict, softmax
from asr.config import ExperimentConfig
from asr.decoding import alignment, ctc
from asr.features import num_frames
from asr.model import make_predict_fn, output_lengths, time_stride
from asr.outputs import Segment, utterance_confidence
from asr.precision import inference_network
from asr.precision import resolve as resolve_precision
from asr.segmentation import blocks_of, window_logits

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "synth-en"
BEAM_WIDTH = 16  # prefix beam search without an LM
LM_BEAM_WIDTH = 32  # with an LM or hotwords


class Recognizer:
    """A trained model with its config and decoders; see the module docstring."""

    segmentation = "pauses"  # long inputs: "pauses" or "windows"
    window_seconds = 20.0  # long inputs: longest segment / frames kept per window
    context_seconds = 2.0  # long inputs, "windows": context on each side
    segments_per_batch = 8  # long inputs, "pauses": segments recognised at once
    segmentation_options: dict | None = None  # more `pause_segments` arguments
    xla_min_seconds = 8.0  # a batch of one this long runs XLA loops (CPU)
    threshold = DEFAULT_THRESHOLD  # classifiers: weaker keywords -> _unknown_
    pause_seconds = ctc.PAUSE_SECONDS  # a pause this long breaks a word (0: never)
    edge_seconds = 0.0  # CTC models: zeros added before and after an utterance

    def __init__(
        self,
        network: keras.Model,
        cfg: ExperimentConfig,
        name: str = "",
        xla_loops: bool | None = None,
        precision: str = "float32",
    ):
        """`xla_loops`: run batches of one with XLA-compiled recurrences (see
        the module docstring); None = on CPU only (on a GPU, Keras's cuDNN
        layers are faster). `precision`: "float32" (`network` as it is),
        "bfloat16" or "auto" (`asr.precision`). The XLA and bfloat16 copies do
        not see later changes to `network`'s weights; `network` (streaming,
        export) stays as given."""
        self.network, self.cfg, self.name = network, cfg, name
        self.precision = resolve_precision(precision)
        self.inference_network = inference_network(network, self.precision)
        self._predict = make_predict_fn(self.inference_network)
        if xla_loops is None:
            xla_loops = not tf.config.list_physical_devices("GPU")
        self.xla_loops = xla_loops
        self._predict_one: Callable | None = None
        self.xla_network: keras.Model | None = None  # made by _single_predict
        self.samples_per_frame = time_stride(cfg.model) * cfg.features.hop_length
        self.frame_seconds = self.samples_per_frame / SAMPLE_RATE
        self._lm_decoders: dict = {}
        self._rescoring_lms: dict = {}  # LSTM LMs by folder

    @property
    def is_classifier(self) -> bool:
        return self.cfg.model.head == "classifier"

    # -- acoustic model ---------------------------------------------------------
    def warmup(self) -> None:
        """Traces the compiled function once, so timings exclude tracing."""
        self.logits_batch([np.zeros(SAMPLE_RATE, np.float32)])

    def logits_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per-utterance (frames, classes) logits, batched by similar length."""
        out: list[np.ndarray | None] = [None] * len(waves)
        order = np.argsort([len(w) for w in waves])
        budget = 16 * 20 * SAMPLE_RATE  # samples per batch: ~16 x 20 s
        i = 0
        while i < len(order):
            longest = max(len(waves[order[i]]), 1)
            n = max(1, min(32, budget // longest))
            idx = order[i : i + n]
            width = max(len(waves[j]) for j in idx)
            width = max(
                self.cfg.features.win_length, -(-width // SAMPLE_RATE) * SAMPLE_RATE
            )
            batch = np.zeros((len(idx), width), np.float32)
            lengths = np.zeros(len(idx), np.int32)
            for k, j in enumerate(idx):
                batch[k, : len(waves[j])] = waves[j]
                lengths[k] = len(waves[j])
            single = len(idx) == 1 and width >= self.xla_min_seconds * SAMPLE_RATE
            predict = self._single_predict() if single else self._predict
            logits, logit_lengths = predict(batch, lengths)
            logits, logit_lengths = logits.numpy(), logit_lengths.numpy()
            for k, j in enumerate(idx):
                out[j] = (
                    logits[k] if self.is_classifier else logits[k, : logit_lengths[k]]
                )
            i += n
        return out  # type: ignore[return-value]

    @property
    def edge_samples(self) -> int:
        """Samples of silence `utterance_logits` adds on each side (0 for a
        classifier)."""
        return 0 if self.is_classifier else round(self.edge_seconds * SAMPLE_RATE)

    def utterance_logits(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """`logits_batch` of whole utterances, each with `edge_samples` of
        zeros before and after; the logits include the edges' frames."""
        n = self.edge_samples
        if not n:
            return self.logits_batch(waves)
        return self.logits_batch([np.pad(np.asarray(w, np.float32), n) for w in waves])

    def _single_predict(self) -> Callable:
        """The compiled function for a batch of one (built on first use)."""
        if self._predict_one is None:
            self._predict_one = self._predict
            if self.xla_loops:
                from asr.rnn.convert import fuse_model

                try:
                    self.xla_network = fuse_model(
                        self.inference_network, jit_compile=True
                    )
                    self._predict_one = make_predict_fn(self.xla_network)
                except ValueError as e:  # a recurrent layer FusedRNN cannot run
                    logger.debug("%s: no XLA loops: %s", self.name, e)
        return self._predict_one

    def logits_long(
        self,
        blocks: Iterable[np.ndarray],
        progress: Callable[[float], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Logits of a signal of any length, from its blocks (CTC models only).

        Returns:
            ((frames, classes) float32 logits, number of samples read).
        """
        logits, total = window_logits(
            blocks,
            lambda wave: self.logits_batch([wave])[0],
            self.samples_per_frame,
            self.window_seconds,
            self.context_seconds,
            progress,
        )
        n_out = int(
            output_lengths(num_frames(total, self.cfg.features), self.cfg.model)
        )
        return logits[:n_out], total

    # -- decoding ---------------------------------------------------------------
    def decode(
        self,
        logits: np.ndarray,
        decoder: str = "greedy",
        beam_width: int | None = None,
        lm: str | None = None,
        hotwords: tuple[str, ...] = (),
        rescore: str | None = None,
        rescore_weight: float | None = None,
        nbest: int | None = None,
        lm_weight: float | None = None,
        word_bonus: float | None = None,
    ) -> str:
        """Text of one utterance's (frames, classes) logits, `asr.text.tidy`.

        `beam_width` None means 32 with an LM or hotwords, 16 without (the LM
        decoder is cheap per beam, and the LM needs room to change the words).
        `lm_weight`, `word_bonus`: the LM beam search's weights (None: those
        tuned for `lm` by `asr lm tune-ngram`, else the backend's defaults).
        `rescore`: an `asr lm train` folder; the beam search's `nbest` best
        texts (default 16) are rescored with that LSTM LM at `rescore_weight`
        (`asr.lm.rescore`; default 0.5), whatever `decoder` says.
        """
        if self.is_classifier:
            return self.classify(logits).word
        logits = self.mark_pauses(logits)  # idempotent: marked logits pass as they are
        weights = (lm_weight, word_bonus)
        if rescore:
            from asr.lm.rescore import DEFAULT_NBEST

            n = nbest or DEFAULT_NBEST
            hyps = self.nbest(logits, beam_width, lm, hotwords, n, *weights)
            return self.rescorer(rescore, rescore_weight).best(hyps)
        if lm or hotwords:
            return self.lm_decoder(lm, beam_width, hotwords, *weights).decode(logits)
        if decoder == "beam":
            best = ctc.beam_search(logits, beam_width=beam_width or BEAM_WIDTH)
            return text_lib.tidy(best[0][0])
        return ctc.greedy_decode_batch(logits[None], np.array([len(logits)]))[0]

    def mark_pauses(self, logits: np.ndarray) -> np.ndarray:
        """`logits` with every pause of `pause_seconds` between two letters
        made a word break (`asr.decoding.ctc.mark_pauses`); every decoder and
        the word timings see them, as the streaming decoder does."""
        frames = ctc.pause_frames(self.frame_seconds, self.pause_seconds)
        return ctc.mark_pauses(logits, frames)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """A classifier's (classes,) logits -> (classes,) probabilities."""
        return softmax(logits)

    def classify(self, logits: np.ndarray, threshold: float | None = None):
        """A classifier's `asr.classification.Prediction` for one clip's
        (classes,) logits, rejecting keywords under `threshold` (default
        `self.threshold`)."""
        return predict(
            self.probabilities(logits),
            self.cfg.model.classes,
            self.threshold if threshold is None else threshold,
        )

    def lm_decoder(
        self,
        lm: str | None,
        beam_width: int | None = None,
        hotwords: tuple[str, ...] = (),
        lm_weight: float | None = None,
        word_bonus: float | None = None,
    ):
        """The (cached) `asr.decoding.ngram.LMDecoder` that `decode` uses for
        these options."""
        key = (lm, beam_width or LM_BEAM_WIDTH, tuple(hotwords), lm_weight, word_bonus)
        if key not in self._lm_decoders:
            from asr.decoding.ngram import LMDecoder

            self._lm_decoders[key] = LMDecoder(
                lm,
                alpha=lm_weight,
                beta=word_bonus,
                beam_width=key[1],
                hotwords=list(hotwords) or None,
            )
        return self._lm_decoders[key]

    def nbest(
        self,
        logits: np.ndarray,
        beam_width: int | None = None,
        lm: str | None = None,
        hotwords: tuple[str, ...] = (),
        n: int = 16,
        lm_weight: float | None = None,
        word_bonus: float | None = None,
    ) -> list[tuple[str, float]]:
        """The beam search's `n` best distinct tidy texts with their search
        log-scores, best first (with an LM or hotwords: the LM beam search's
        combined scores)."""
        logits = self.mark_pauses(logits)
        if lm or hotwords:
            decoder = self.lm_decoder(lm, beam_width, hotwords, lm_weight, word_bonus)
            return decoder.decode_nbest(logits, n=n)
        from asr.lm.rescore import merge_nbest

        width = max(beam_width or BEAM_WIDTH, n)
        pairs = ctc.beam_search(logits, beam_width=width)
        return merge_nbest([(text_lib.tidy(t), s) for t, s in pairs], n)

    def rescorer(self, folder: str, weight: float | None = None):
        """An `asr.lm.rescore.Rescorer` with the (cached) LM of an `asr lm
        train` folder."""
        from asr.lm.rescore import DEFAULT_WEIGHT, Rescorer

        if folder not in self._rescoring_lms:
            from asr.lm.model import LanguageModel

            self._rescoring_lms[folder] = LanguageModel.load(folder)
        lm = self._rescoring_lms[folder]
        return Rescorer(lm, DEFAULT_WEIGHT if weight is None else weight)

    # -- public API -------------------------------------------------------------
    def transcribe(
        self, audio: str | os.PathLike | np.ndarray, **decode_options
    ) -> str:
        """Text of one file or float32 16 kHz array."""
        return self.transcribe_batch([audio], **decode_options)[0]

    def transcribe_batch(self, inputs: list, **decode_options) -> list[str]:
        """Texts of files or arrays, in order."""
        return [s.text for s in self.transcribe_segments(inputs, **decode_options)]

    def transcribe_segments(
        self, inputs: list, progress: Callable | None = None, **decode_options
    ) -> list[Segment]:
        """Text, word times and duration of each input. Files longer than one
        window are recognised in windows (bounded memory)."""
        results: list[Segment | None] = [None] * len(inputs)
        short_idx, short_waves = [], []
        for i, item in enumerate(inputs):
            if isinstance(item, np.ndarray):
                wave = np.asarray(item, np.float32)
                if self.is_long(len(wave) / SAMPLE_RATE):
                    results[i] = self._long(blocks_of(wave), None, decode_options)
                    continue
                short_idx.append(i)
                short_waves.append(wave)
                continue
            from asr.audio import audio_info

            duration, _, _ = audio_info(item)
            if self.is_long(duration):
                results[i] = self._long(
                    iter_audio_blocks(item), progress, decode_options
                )
            else:
                short_idx.append(i)
                short_waves.append(load_audio(item))
        if short_waves:
            for i, wave, logits in zip(
                short_idx, short_waves, self.utterance_logits(short_waves)
            ):
                results[i] = self._segment(
                    logits, len(wave), decode_options, edged=True
                )
        return results  # type: ignore[return-value]

    def is_long(self, seconds: float) -> bool:
        """Whether an input this long is recognised in windows (a classifier
        never is: it gives one answer for its whole input)."""
        return (
            seconds > self.window_seconds + self.context_seconds
            and not self.is_classifier
        )

    def _long(
        self,
        blocks: Iterable[np.ndarray],
        progress: Callable[[float], None] | None,
        decode_options: dict,
    ) -> Segment:
        """A long input, by `self.segmentation` (module docstring)."""
        if self.segmentation == "windows":
            logits, total = self.logits_long(blocks, progress)
            return self._segment(logits, total, decode_options)
        if self.segmentation != "pauses":
            raise ValueError(
                f"segmentation must be 'pauses' or 'windows', got {self.segmentation!r}"
            )
        from asr.segmentation import pause_segments

        texts: list[str] = []
        words: list[dict] = []
        total = 0
        group: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            for (start, wave), logits in zip(
                group, self.utterance_logits([w for _, w in group])
            ):
                part = self._segment(logits, len(wave), decode_options, edged=True)
                if part.text:
                    texts.append(part.text)
                words.extend(alignment.shift_words(part.words, start / SAMPLE_RATE))
            if progress and group:
                progress((group[-1][0] + len(group[-1][1])) / SAMPLE_RATE)
            group.clear()

        for start, wave in pause_segments(
            blocks,
            **{"max_seconds": self.window_seconds, **(self.segmentation_options or {})},
        ):
            group.append((start, wave))
            total = start + len(wave)
            if len(group) >= self.segments_per_batch:
                flush()
        flush()
        return Segment(
            " ".join(texts), words, total / SAMPLE_RATE, utterance_confidence(words)
        )

    def _segment(self, logits, num_samples, decode_options, edged=False) -> Segment:
        """One input's Segment; `edged`: `logits` are `utterance_logits`'."""
        if self.is_classifier:
            answer = self.classify(logits)
            return Segment(
                answer.word,
                [],
                num_samples / SAMPLE_RATE,
                answer.probability,
                answer,
            )
        logits = self.mark_pauses(logits)  # once, for the text and the word times
        text = self.decode(logits, **decode_options)
        words = alignment.word_timestamps(
            logits, len(logits), self.frame_seconds, confidence=True
        )
        if edged and self.edge_samples:
            words = alignment.shift_words(
                words, -self.edge_samples / SAMPLE_RATE, num_samples / SAMPLE_RATE
            )
        return Segment(
            text, words, num_samples / SAMPLE_RATE, utterance_confidence(words)
        )


def load_model(
    model: str | os.PathLike = DEFAULT_MODEL, precision: str = "auto"
) -> Recognizer:
    """A bundled model name, a run directory or a `.keras` file -> Recognizer
    (see `asr.checkpoint.load_network`); `precision` as `Recognizer`'s."""
    resolve_precision(precision)  # a bad value fails before the model loads
    network, cfg = load_network(model)
    return Recognizer(network, cfg, name=str(model), precision=precision)
