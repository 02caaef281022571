"""The key slow test: a small model memorises four spoken sentences."""

import pytest
import soundfile as sf

from asr.config import load_config
from asr.manifest import Utterance, write_manifest
from asr.training.fit import fit
from asr.transcribe import load_model

SENTENCES = ["yes", "no thanks", "open the door", "seven dogs"]


@pytest.mark.slow
def test_overfits_four_utterances_to_wer_zero(tmp_path):
    synthetic = pytest.importorskip("asr.datasets.synthetic")
    rows = []
    for i, sentence in enumerate(SENTENCES):
        path = tmp_path / f"{i}.wav"
        audio = synthetic.synthesize(sentence, voice="en-us", rate_wpm=150)
        sf.write(path, audio, 16000)
        rows.append(Utterance(str(path), len(audio) / 16000, sentence))
    manifest = tmp_path / "train.jsonl"
    write_manifest(manifest, rows)
    cfg = load_config(
        overrides=[
            "model.rnn_units=64",
            "model.rnn_layers=2",
            "model.conv_filters=[8,8]",
            "model.dropout=0.0",
            "augment.spec_time_masks=0",
            "augment.spec_freq_masks=0",
            f"data.train_manifest={manifest}",
            f"data.val_manifest={manifest}",
            "data.batch_size=4",
            "train.epochs=150",
            "train.learning_rate=0.003",
            "train.warmup_steps=10",
            "train.weight_decay=0.0",
        ]
    )
    history = fit(cfg, tmp_path / "run", verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.05 * losses[0]
    texts = load_model(tmp_path / "run").transcribe_batch(
        [r.audio_filepath for r in rows]
    )
    assert texts == SENTENCES
