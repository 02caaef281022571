"""The word-level LSTM LM (`asr.lm`): vocabulary, training, save/load,
perplexity (and the n-gram's by the same convention)."""

import importlib.util
import json
import math

import keras
import numpy as np
import pytest

from asr.cli import main
from asr.decoding.arpa import build_arpa
from asr.lm import perplexity as ppl
from asr.lm.model import LanguageModel, LMConfig, LMConfigError, build_network
from asr.lm.train import train_lm
from asr.lm.vocabulary import UNK_ID, Vocabulary, VocabularyError
from tests.lm.conftest import FAST, TEXTS


def test_vocabulary_follows_the_ngram_convention(tmp_path):
    vocab = Vocabulary.from_texts(["The cat, the HAT!", "a cat"])
    assert vocab.tokens[:4] == ("<pad>", "<unk>", "<s>", "</s>")
    assert vocab.tokens[4:6] == ("cat", "the")  # most frequent first
    assert "cat" in vocab and "<s>" not in vocab and "dog" not in vocab
    assert list(vocab.sentences(["the dog"])) == [[2, vocab.ids["the"], UNK_ID, 3]]
    vocab.save(tmp_path / "vocab.txt")
    again = Vocabulary.load(tmp_path / "vocab.txt")
    assert again.tokens == vocab.tokens
    assert again.counts.tolist() == vocab.counts.tolist()
    (tmp_path / "bad.txt").write_text("<pad>\n<unk>\n<s>\n</s>\ncat\ntwo words\n")
    with pytest.raises(VocabularyError, match=r"bad.txt:6"):
        Vocabulary.load(tmp_path / "bad.txt")


def test_settings_are_checked():
    with pytest.raises(LMConfigError, match="layers"):
        LMConfig(layers=3)
    with pytest.raises(LMConfigError, match="unknown key 'units_'"):
        LMConfig.from_dict({"units_": 3}, "lm.json")


def test_the_lm_learns_a_tiny_text(lm_dir):
    lm = LanguageModel.load(lm_dir)
    vocab_size = len(lm.vocab) - 3  # the words, <unk> and </s>: what is predicted
    untrained = LanguageModel(build_network(FAST, len(lm.vocab)), lm.vocab)
    before = ppl.lstm_perplexity(untrained, TEXTS).perplexity
    after = ppl.lstm_perplexity(lm, TEXTS).perplexity
    assert before > 0.7 * vocab_size  # about uniform at first
    assert after < vocab_size / 4
    # A sentence of the grammar beats the same words shuffled.
    good, bad = lm.sentence_log_probs(["the cat sat on a mat", "mat on cat a sat the"])
    assert good > bad + 5
    history = (lm_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + FAST.epochs and "val_ppl" in history[0]
    assert (lm_dir / "learning_curve.png").stat().st_size > 1000


@pytest.mark.parametrize("tied", [True, False])
def test_save_load_round_trip_in_safe_mode(tmp_path, tied):
    cfg = LMConfig(embedding_dim=8, units=12, layers=2, tied=tied, epochs=1)
    network = build_network(cfg, 20)
    rng = np.random.default_rng(0)
    network.set_weights(
        [w + 0.1 * rng.standard_normal(w.shape) for w in network.get_weights()]
    )
    network.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    ids = rng.integers(1, 20, (3, 7)).astype("int32")
    np.testing.assert_allclose(loaded(ids), network(ids), atol=1e-6)
    # Tied: the output matrix is the embedding's; untied: a Dense layer.
    assert ("logits" in [layer.name for layer in network.layers]) is not tied


def test_a_trained_folder_loads_with_the_same_scores(lm_dir):
    lm = LanguageModel.load(lm_dir)
    network = keras.saving.load_model(lm_dir / "model.keras", safe_mode=True)
    direct = LanguageModel(network, Vocabulary.load(lm_dir / "vocab.txt"))
    texts = ["the cat sat on a mat", "a zebra ran"]  # zebra: <unk>
    np.testing.assert_allclose(
        lm.sentence_log_probs(texts), direct.sentence_log_probs(texts), atol=1e-6
    )
    # The probabilities of the next token sum to one (padding excluded).
    lp = lm.token_log_probs(["the"])[0]
    assert lp.shape == (2,) and np.all(lp < 0)


def test_training_resumes_where_it_stopped(tmp_path):
    cfg = LMConfig(embedding_dim=8, units=8, epochs=3, batch_size=16, dropout=0.0)

    class StopAfterOne(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.stop_training = True

    train_lm(
        TEXTS, tmp_path, cfg, val_texts=TEXTS[:2], verbose=0, callbacks=[StopAfterOne()]
    )
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 1
    train_lm(TEXTS, tmp_path, cfg, val_texts=TEXTS[:2], verbose=0)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    with pytest.raises(LMConfigError, match="other settings"):
        train_lm(TEXTS, tmp_path, LMConfig(epochs=5), verbose=0)


def test_arpa_perplexity_follows_the_backoff_by_hand(tmp_path):
    path = tmp_path / "lm.arpa"
    build_arpa(["a b", "a c", "b a"], path, order=2)
    model = ppl.ArpaModel(path)
    lines = path.read_text().splitlines()
    logp = {
        tuple(line.split("\t")[1].split()): float(line.split("\t")[0])
        for line in lines
        if "\t" in line
    }
    backoff = {
        tuple(line.split("\t")[1].split()): float(line.split("\t")[2])
        for line in lines
        if line.count("\t") == 2
    }
    # "c b": p(c|<s>) backs off, p(b|c) backs off, p(</s>|b) is a bigram.
    want = (
        backoff[("<s>",)]
        + logp[("c",)]
        + backoff[("c",)]
        + logp[("b",)]
        + logp[("b", "</s>")]
    ) * math.log(10)
    lp, oov = model.token_log_probs("c b")
    assert lp.sum() == pytest.approx(want)
    assert not oov.any()
    # An OOV is scored as <unk> and counted; the n-gram's and the LSTM's
    # vocabularies are the same words.
    result = ppl.arpa_perplexity(model, ["a zebra"])
    assert (result.words, result.oov, result.sentences) == (2, 1, 1)
    assert result.perplexity > result.perplexity_no_oov
    assert model.words == set(Vocabulary.from_texts(["a b", "a c", "b a"]).tokens[4:])


@pytest.mark.skipif(importlib.util.find_spec("kenlm") is None, reason="needs kenlm")
def test_arpa_perplexity_equals_kenlms(tmp_path):
    import kenlm

    path = tmp_path / "lm.arpa"
    build_arpa(TEXTS, path, order=3)
    texts = ["the cat sat on a hat", "a zebra sat on the dog", "dog"]
    ours = ppl.arpa_perplexity(ppl.ArpaModel(path), texts)
    kl = kenlm.Model(str(path))
    total = sum(kl.score(t, bos=True, eos=True) for t in texts) * math.log(10)
    assert ours.log_prob == pytest.approx(total, rel=1e-5)


def test_cli_perplexity_prints_both_models(lm_dir, tmp_path, capsys):
    build_arpa(TEXTS, tmp_path / "lm.arpa", order=3)
    (tmp_path / "dev.txt").write_text("the cat sat on a hat\na dog ran on the log\n")
    args = [
        "lm",
        "perplexity",
        "--lm",
        str(lm_dir),
        "--arpa",
        str(tmp_path / "lm.arpa"),
    ]
    assert main([*args, "--text", str(tmp_path / "dev.txt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lstm, arpa = out[f"lstm {lm_dir}"], out[f"arpa {tmp_path / 'lm.arpa'}"]
    assert lstm["words"] == arpa["words"] == 12 and lstm["sentences"] == 2
    assert 1 < lstm["perplexity"] < 16 and 1 < arpa["perplexity"] < 16
    assert (
        main(
            [
                "lm",
                "perplexity",
                "--lm",
                str(tmp_path / "nope"),
                "--text",
                str(tmp_path / "dev.txt"),
            ]
        )
        == 2
    )
    assert "nope" in capsys.readouterr().err
