"""`asr tune`: the search space file, KerasTuner driving `fit`, resume, the
ranked table and the best config. Most tests replace `fit` with a fake that
writes a history (seconds); one trains for real (slow)."""

import json
from pathlib import Path

import pytest

import asr.training.fit
from asr.cli import main
from asr.config import ConfigError, load_config
from asr.training.callbacks import NonFiniteLossError
from asr.training.search_space import SearchSpaceError, read_space
from asr.training.tuning import tune
from tests.conftest import TINY, tiny_corpus


def base(**extra):
    items = ["data.train_manifest=train.jsonl", "data.val_manifest=dev.jsonl"]
    return load_config(overrides=items + [f"{k}={v}" for k, v in extra.items()])


def space(tmp_path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


class FakeFit:
    """Stands in for `asr.training.fit.fit`: writes a `history.csv` whose
    val_wer is rnn_units / 100 at the last epoch (a little worse before)."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __call__(self, cfg, run_dir, verbose=0):
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.calls.append((cfg, run_dir))
        if self.fail:
            self.fail(cfg, len(self.calls))
        n = cfg.train.epochs
        wer = cfg.model.rnn_units / 100
        lines = ["epoch,loss,val_loss,val_wer"] + [
            f"{e},1.0,{2.0 - 0.1 * e},{wer + 0.01 * (n - 1 - e)}" for e in range(n)
        ]
        (run_dir / "history.csv").write_text("\n".join(lines) + "\n")
        (run_dir / "model.keras").write_text("fake")


@pytest.fixture
def fake_fit(monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(asr.training.fit, "fit", fake)
    return fake


def test_space_reads_choices_and_ranges(tmp_path):
    path = space(
        tmp_path,
        "model.rnn_units: [128, 256]\n"
        "model.rnn_cell: [lstm, gru]\n"
        "model.conv_filters: [[16, 16], [32, 32]]\n"
        "train.learning_rate: {log: [1e-4, 3e-3]}\n"
        "model.dropout: {linear: [0.0, 0.3], step: 0.1}\n"
        "model.rnn_layers: {linear: [2, 4]}\n",
    )
    dims = {d.key: d for d in read_space(path, base())}
    assert dims["model.rnn_units"].values == (128, 256)
    assert dims["model.conv_filters"].values == ([16, 16], [32, 32])
    lr = dims["train.learning_rate"]
    assert (lr.kind, lr.low, lr.high) == ("log", 1e-4, 3e-3)
    assert dims["model.dropout"].step == 0.1
    assert isinstance(dims["model.rnn_layers"].low, int)


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "configs" / "search").glob("*.yaml"))
)
def test_shipped_search_spaces_read(path):
    dims = read_space(
        path, load_config(Path(__file__).parents[2] / "configs/speech_commands.yaml")
    )
    assert len(dims) >= 3


@pytest.mark.parametrize(
    "line, problem",
    [
        ("model.rnn_unitz: [8]", "unknown key"),
        ("model.rnn_cell: [lstm, bogus]", "'bogus' is not one of"),
        ("model.rnn_units: [8, 0]", "must be >= 1"),
        ("train.learning_rate: {log: [0, 1e-3]}", "bounds must be > 0"),
        ("train.learning_rate: {linear: [1e-3, 1e-4]}", "low < high"),
        ("train.learning_rate: {uniform: [1e-4, 1e-3]}", "a range is"),
        ("model.rnn_units: 8", "expected a list of values"),
        ("train.epochs: [1, 2]", "--epochs"),
        ("rnn_units: [8]", "dotted config key"),
    ],
)
def test_space_errors_name_file_line_and_key(tmp_path, line, problem):
    path = space(tmp_path, "# search\nmodel.dropout: [0.1]\n" + line + "\n")
    with pytest.raises(SearchSpaceError, match=problem) as e:
        read_space(path, base())
    assert str(e.value).startswith(f"{path}:3: ")


def test_choices_of_lists_round_trip_through_keras_tuner(tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")
    path = space(
        tmp_path,
        "model.conv_filters: [[16, 16], [32, 32]]\n"
        "train.init_from: [null, synth-en]\n"
        "model.dropout: [0, 0.1]\n",
    )
    hp = keras_tuner.HyperParameters()
    dims = read_space(path, base())
    for dim in dims:
        dim.declare(hp)
    decoded = {d.key: d.decode(hp.values[d.key]) for d in dims}
    assert decoded["model.conv_filters"] == [16, 16]
    assert decoded["train.init_from"] is None
    assert decoded["model.dropout"] == 0.0


def test_trials_are_ranked_and_the_best_config_has_the_best_values(tmp_path, fake_fit):
    cfg = base(**{"train.epochs": 30})
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 8, 4]\n"), cfg)
    result = tune(cfg, dims, tmp_path / "out", trials=3, epochs=2, algorithm="random")
    assert [r["model.rnn_units"] for r in result.rows] == [2, 4, 8]
    assert [r["rank"] for r in result.rows] == [1, 2, 3]
    assert result.rows[0]["val_wer"] == pytest.approx(0.02)  # best epoch
    assert {c.train.epochs for c, _ in fake_fit.calls} == {2}  # the trial budget
    md = result.table_md.read_text().splitlines()
    assert md[0].startswith("| rank | trial | status | val_wer |")
    assert len(md) == 5 and "| 1 |" in md[2]
    csv_lines = result.table_csv.read_text().splitlines()
    assert csv_lines[0].startswith("rank,trial,status,val_wer") and len(csv_lines) == 4
    best = load_config(result.best_yaml)  # as `asr train --config` reads it
    assert best.model.rnn_units == 2 and best.train.epochs == 30
    assert best == result.best_config


def test_an_interrupted_search_resumes_its_trial(tmp_path, monkeypatch):
    def crash_on_second(cfg, n):
        if n == 2:
            raise KeyboardInterrupt

    fake = FakeFit(fail=crash_on_second)
    monkeypatch.setattr(asr.training.fit, "fit", fake)
    cfg = base()
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 4, 8, 16]\n"), cfg)
    with pytest.raises(KeyboardInterrupt):
        tune(cfg, dims, tmp_path / "out", trials=2, epochs=1, algorithm="random")
    (_, first), (cfg2, second) = fake.calls
    result = tune(cfg, dims, tmp_path / "out", trials=2, epochs=1, algorithm="random")
    assert [run for _, run in fake.calls[2:]] == [second]  # trial 1 not redone
    assert fake.calls[2][0] == cfg2  # the same values, in the same run folder
    assert len(result.rows) == 2 and all(r["rank"] for r in result.rows)
    # a larger --trials goes on with the same search
    result = tune(cfg, dims, tmp_path / "out", trials=3, epochs=1, algorithm="random")
    assert len(fake.calls) == 4 and len(result.rows) == 3


def test_hyperband_rounds_start_from_the_earlier_trial(tmp_path, fake_fit):
    cfg = base()
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 4, 8, 16, 32]\n"), cfg)
    result = tune(
        cfg, dims, tmp_path / "out", trials=4, epochs=3, algorithm="hyperband"
    )
    continued = [c for c, _ in fake_fit.calls if c.train.init_from]
    assert continued, [c.train.epochs for c, _ in fake_fit.calls]
    parent = Path(continued[0].train.init_from)
    assert parent.name == "model.keras" and parent.parent.name.startswith("trial_")
    assert continued[0].train.epochs == 2  # 3 epochs in all, 1 done before
    assert len(result.rows) == 4
    row = next(r for r in result.rows if r.get("from_trial"))
    assert row["epochs"] == 3 and row["best_epoch"] == 3  # counted from the start
    assert "from_trial" in result.table_md.read_text()
    assert load_config(result.best_yaml).train.init_from is None


def test_a_failed_trial_is_listed_and_the_search_goes_on(tmp_path, monkeypatch):
    def nan_first(cfg, n):
        if n == 1:
            raise NonFiniteLossError("loss is nan at step 3")

    monkeypatch.setattr(asr.training.fit, "fit", FakeFit(fail=nan_first))
    cfg = base()
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 4, 8]\n"), cfg)
    result = tune(cfg, dims, tmp_path / "out", trials=2, epochs=1, algorithm="random")
    assert [r["status"] for r in result.rows] == ["COMPLETED", "FAILED"]
    assert result.rows[1]["rank"] is None and result.best_config is not None


def test_bad_input_during_a_trial_stops_the_search_with_its_error(
    tmp_path, monkeypatch
):
    def missing(cfg, n):
        raise ConfigError("data.train_manifest: train.jsonl: manifest not found")

    monkeypatch.setattr(asr.training.fit, "fit", FakeFit(fail=missing))
    cfg = base()
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 4]\n"), cfg)
    with pytest.raises(ConfigError, match="manifest not found"):
        tune(cfg, dims, tmp_path / "out", trials=2, epochs=1, algorithm="random")


def test_a_folder_of_another_search_is_refused(tmp_path, fake_fit):
    cfg = base()
    dims = read_space(space(tmp_path, "model.rnn_units: [2, 4]\n"), cfg)
    tune(cfg, dims, tmp_path / "out", trials=1, epochs=1, algorithm="random")
    with pytest.raises(ConfigError, match="different epochs"):
        tune(cfg, dims, tmp_path / "out", trials=1, epochs=2, algorithm="random")


def test_tuning_needs_validation_data(tmp_path):
    cfg = load_config(overrides=["data.train_manifest=train.jsonl"])
    with pytest.raises(ConfigError, match="data.val_manifest"):
        tune(cfg, [], tmp_path / "out", trials=1, epochs=1)


def test_cli_prints_the_table_and_reports_a_bad_space(tmp_path, fake_fit, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data: {train_manifest: t.jsonl, val_manifest: v.jsonl}\n")
    good = space(tmp_path, "model.rnn_units: [2, 4]\n")
    args = ["tune", "-c", str(config), "--trials", "2", "--epochs", "1"]
    out = ["--out", str(tmp_path / "out"), "--algorithm", "random"]
    assert main(args + ["--space", str(good)] + out) == 0
    printed = capsys.readouterr().out
    assert "| 1 |" in printed and "best_config.yaml" in printed
    bad = tmp_path / "bad.yaml"
    bad.write_text("model.rnn_units: [2]\nmodel.cell: [gru]\n")
    assert main(args + ["--space", str(bad)] + out) == 2
    assert f"{bad}:2: model.cell: unknown key" in capsys.readouterr().err


@pytest.mark.slow
def test_two_real_trials_and_the_best_config_trains(tmp_path):
    """Done-when of issue 27 item 2: 2 trials of a tiny config, then `fit` on
    the best config as written."""
    pytest.importorskip("keras_tuner")
    manifest = tiny_corpus(tmp_path)
    cfg = load_config(
        overrides=TINY
        + [f"data.train_manifest={manifest}", f"data.val_manifest={manifest}"]
        + ["train.epochs=1"]
    )
    dims = read_space(
        space(
            tmp_path,
            "model.rnn_units: [4, 8]\ntrain.learning_rate: {log: [1e-4, 3e-3]}\n",
        ),
        cfg,
    )
    result = tune(cfg, dims, tmp_path / "search", trials=2, epochs=1, verbose=0)
    assert len(result.rows) == 2 and [r["rank"] for r in result.rows] == [1, 2]
    assert result.rows[0]["val_wer"] <= result.rows[1]["val_wer"]
    for row in result.rows:
        trial = tmp_path / "search" / f"trial_{row['trial']}"
        assert (trial / "model.keras").is_file()
        assert json.loads((trial / "result.json").read_text())["values"] == {
            d.key: row[d.key] for d in dims
        }
    best = load_config(result.best_yaml)
    assert best.model.rnn_units == result.rows[0]["model.rnn_units"]
    asr.training.fit.fit(best, tmp_path / "best", verbose=0)
    assert (tmp_path / "best" / "model.keras").is_file()
