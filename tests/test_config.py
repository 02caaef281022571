"""Config tree: defaults, YAML files, `--set` overrides, errors, round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from asr.config import (
    AugmentConfig,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    FeatureConfig,
    ModelConfig,
    StreamingConfig,
    TrainConfig,
    dump_yaml,
    from_dict,
    load_config,
    merge,
    parse_set,
    to_dict,
    validate,
)

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.y*ml"))


def test_defaults_construct_and_validate():
    cfg = ExperimentConfig()
    assert validate(cfg) is cfg
    assert load_config() == cfg
    assert isinstance(cfg.model, ModelConfig)
    assert cfg.model.conv_kernels == ((11, 41), (11, 21))
    assert cfg.features.sample_rate == 16000


def test_sections_are_frozen():
    cfg = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.rnn_units = 3


def test_yaml_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "streaming.yaml"
    path.write_text(
        "model: {bidirectional: false, rnn_layers: 5, conv_filters: [8, 16]}\n"
        "streaming: {chunk_ms: 320}\n"
    )
    cfg = load_config(path)
    assert cfg.model.bidirectional is False
    assert cfg.model.rnn_layers == 5
    assert cfg.model.conv_filters == (8, 16)
    assert cfg.streaming.chunk_ms == 320
    assert cfg.model.rnn_units == ModelConfig().rnn_units
    assert cfg.train == TrainConfig()


def test_empty_yaml_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to override\n")
    assert load_config(path) == ExperimentConfig()


def test_set_applies_after_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {rnn_units: 128, rnn_layers: 2}\n")
    cfg = load_config(path, ["model.rnn_units=512", "train.epochs=3"])
    assert cfg.model.rnn_units == 512
    assert cfg.model.rnn_layers == 2
    assert cfg.train.epochs == 3


def test_dict_overrides(tmp_path):
    cfg = load_config(overrides={"data": {"batch_size": 4}})
    assert cfg.data.batch_size == 4


def test_parse_set_types_and_nesting():
    tree = parse_set(
        [
            "model.rnn_units=512",
            "train.learning_rate=3e-4",
            "train.weight_decay=0.5",
            "model.bidirectional=false",
            "data.train_manifest=null",
            "model.conv_filters=[8, 16]",
            "data.val_manifest=a=b.jsonl",
            " model.rnn_layers = 2",
        ]
    )
    assert tree == {
        "model": {
            "rnn_units": 512,
            "bidirectional": False,
            "conv_filters": [8, 16],
            "rnn_layers": 2,
        },
        "train": {"learning_rate": 3e-4, "weight_decay": 0.5},
        "data": {"train_manifest": None, "val_manifest": "a=b.jsonl"},
    }
    assert type(tree["model"]["rnn_units"]) is int
    assert type(tree["train"]["learning_rate"]) is float


def test_parse_set_later_item_wins():
    assert parse_set(["train.epochs=1", "train.epochs=7"]) == {"train": {"epochs": 7}}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("model.rnn_units", "expected key=value"),
        ("=3", "empty key"),
        ("model..rnn_units=3", "empty key"),
        ("model.rnn_units=[1", "not valid YAML"),
    ],
)
def test_parse_set_bad_items(item, fragment):
    with pytest.raises(ConfigError, match=fragment) as e:
        parse_set([item])
    assert "\n" not in str(e.value)


def test_parse_set_key_under_a_value_raises():
    with pytest.raises(ConfigError, match=r"model\.rnn_units: model was already set"):
        parse_set(["model=3", "model.rnn_units=512"])


def test_exponent_without_dot_is_a_float_in_files_and_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {learning_rate: 1e-3, weight_decay: 5E-5}\n")
    assert load_config(path).train.learning_rate == 1e-3
    assert load_config(path).train.weight_decay == 5e-5
    assert load_config(overrides=["train.learning_rate=2e-4"]).train.learning_rate == (
        2e-4
    )


def test_keyword_classes_stay_strings(tmp_path):
    # YAML 1.1 would read yes/no/on/off as booleans.
    path = tmp_path / "kws.yaml"
    path.write_text("model: {head: classifier, classes: [yes, no, on, off, up]}\n")
    cfg = load_config(path)
    assert cfg.model.classes == ("yes", "no", "on", "off", "up")
    assert load_config(path, ["model.classes=[yes, no]"]).model.classes == (
        "yes",
        "no",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("false", False), ("yes", True), ("no", False), ("off", False)],
)
def test_boolean_keys_accept_yaml_words(raw, expected):
    cfg = load_config(overrides=[f"model.bidirectional={raw}"])
    assert cfg.model.bidirectional is expected


def test_number_types_convert():
    cfg = load_config(overrides=["features.fmax=8000", "augment.noise_snr_db=[0, 10]"])
    assert cfg.features.fmax == 8000.0 and type(cfg.features.fmax) is float
    assert cfg.augment.noise_snr_db == (0.0, 10.0)
    assert all(type(v) is float for v in cfg.augment.noise_snr_db)


def test_optional_value_can_be_set_and_cleared():
    cfg = load_config(overrides=["data.train_manifest=m/train.jsonl"])
    assert cfg.data.train_manifest == "m/train.jsonl"
    assert load_config(overrides={"features": {"fmax": None}}).features.fmax is None


def test_unknown_key_names_the_full_dotted_path():
    with pytest.raises(ConfigError, match=r"^model\.rnn_unitz: unknown key") as e:
        load_config(overrides=["model.rnn_unitz=3"])
    assert "rnn_units" in str(e.value)  # lists the known keys


def test_unknown_section_raises(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("modle: {rnn_units: 3}\n")
    with pytest.raises(ConfigError, match=r"^modle: unknown key"):
        load_config(path)


def test_section_given_a_value_raises():
    with pytest.raises(ConfigError, match=r"^model: expected a mapping, got 3"):
        load_config(overrides=["model=3"])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("model.rnn_units=abc", "model.rnn_units: expected an integer, got 'abc'"),
        ("model.rnn_units=2.5", "model.rnn_units: expected an integer, got 2.5"),
        ("model.rnn_units=true", "model.rnn_units: expected an integer, got True"),
        ("train.learning_rate=fast", "train.learning_rate: expected a number"),
        ("train.learning_rate=.nan", "train.learning_rate: expected a number"),
        ("model.bidirectional=2", "model.bidirectional: expected true or false"),
        ("model.head=3", "model.head: expected a string, got 3"),
        ("model.conv_filters=8", "model.conv_filters: expected a list, got 8"),
        ("model.conv_filters=[8, x]", "model.conv_filters[1]: expected an integer"),
        (
            "model.conv_kernels=[[3, 3], [3]]",
            "model.conv_kernels[1]: expected 2 values",
        ),
        ("augment.noise_snr_db=[1, 2, 3]", "augment.noise_snr_db: expected 2 values"),
        ("features.fmax=high", "features.fmax: expected a number, got 'high'"),
    ],
)
def test_wrong_type_names_the_key(item, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[item])
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.head", "rnnt"),
        ("model.rnn_cell", "transformer"),
        ("model.rnn_norm", "group"),
        ("model.conv_activation", "gelu"),
        ("train.optimizer", "sgd"),
        ("train.schedule", "linear"),
        ("train.nan_policy", "ignore"),
    ],
)
def test_invalid_choice_lists_the_choices(key, value):
    with pytest.raises(ConfigError, match=rf"^{key}: '{value}' is not one of ") as e:
        load_config(overrides=[f"{key}={value}"])
    default = str(e.value).split("is not one of ")[1].split(", ")
    section, name = key.split(".")
    assert getattr(getattr(ExperimentConfig(), section), name) in default


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.conv_strides=[[2, 100], [1, 2]]"], "model.conv_strides[0]"),
        # 80 bands -> 40 after the first layer's stride 2; 64 > 40.
        (["model.conv_strides=[[2, 2], [1, 64]]"], "model.conv_strides[1]"),
        (["model.conv_strides=[[2, 2]]"], "model.conv_strides"),
        (["model.conv_kernels=[[3, 3]]"], "model.conv_kernels"),
        (["model.conv_strides=[[0, 2], [1, 2]]"], "model.conv_strides[0]"),
        (["model.conv_kernels=[[3, 0], [3, 3]]"], "model.conv_kernels[0]"),
        (["model.conv_filters=[8, 0]"], "model.conv_filters[1]"),
        (["model.rnn_units=0"], "model.rnn_units"),
        (["model.rnn_layers=0"], "model.rnn_layers"),
        (["model.dropout=1.0"], "model.dropout"),
        (["model.l2=-1"], "model.l2"),
        (["model.classes=[yes, no, yes]"], "model.classes"),
        (["features.sample_rate=0"], "features.sample_rate"),
        (["features.hop_length=0"], "features.hop_length"),
        (["features.win_length=100", "features.hop_length=160"], "features.win_length"),
        (["features.n_mels=0"], "features.n_mels"),
        (["features.fmin=9000"], "features.fmin"),
        (["features.fmin=4000", "features.fmax=3000"], "features.fmax"),
        (["features.fmax=9000"], "features.fmax"),
        (["features.log_floor=0"], "features.log_floor"),
        (["augment.noise_prob=2"], "augment.noise_prob"),
        (["augment.noise_snr_db=[30, 5]"], "augment.noise_snr_db"),
        (["augment.noise_mix_prob=1.5"], "augment.noise_mix_prob"),
        (["augment.noise_mix_db=[0, -10]"], "augment.noise_mix_db"),
        (["augment.speed_factors=[0.9, 0]"], "augment.speed_factors"),
        (["augment.spec_freq_width=-1"], "augment.spec_freq_width"),
        (["augment.spec_time_masks=-1"], "augment.spec_time_masks"),
        (["data.batch_size=0"], "data.batch_size"),
        (["data.max_duration=0"], "data.max_duration"),
        (["data.num_buckets=0"], "data.num_buckets"),
        (["train.epochs=0"], "train.epochs"),
        (["train.learning_rate=0"], "train.learning_rate"),
        (["train.learning_rate=.inf"], "train.learning_rate"),
        (["train.clip_norm=-1"], "train.clip_norm"),
        (["train.steps_per_epoch=0"], "train.steps_per_epoch"),
        (["streaming.chunk_ms=0"], "streaming.chunk_ms"),
    ],
)
def test_impossible_values_name_the_key_in_one_line(overrides, key):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=overrides)
    message = str(e.value)
    assert message.startswith(f"{key}: ")
    assert "\n" not in message


def test_boundary_values_are_allowed():
    cfg = load_config(
        overrides=[
            "model.conv_strides=[[2, 80], [1, 1]]",  # stride equal to the input
            "model.dropout=0",
            "features.fmax=8000",  # Nyquist
            "augment.noise_prob=1",
            "train.clip_norm=0",  # disables clipping
            "model.conv_filters=[]",
            "model.conv_kernels=[]",
            "model.conv_strides=[]",
        ]
    )
    assert cfg.model.conv_filters == ()
    assert cfg.features.fmax == 8000.0


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {rnn_units: [1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML") as e:
        load_config(bad)
    assert "\n" not in str(e.value)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(top)


def test_yaml_lists_become_tuples_nested_for_conv_kernels(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model:\n"
        "  conv_filters: [4, 8, 8]\n"
        "  conv_kernels: [[3, 5], [3, 5], [1, 1]]\n"
        "  conv_strides: [[2, 2], [1, 2], [1, 1]]\n"
        "augment: {speed_factors: [0.9, 1.1]}\n"
    )
    m = load_config(path).model
    assert m.conv_kernels == ((3, 5), (3, 5), (1, 1))
    assert type(m.conv_kernels) is tuple
    assert all(type(k) is tuple for k in m.conv_kernels)
    assert type(m.conv_filters) is tuple
    assert load_config(path).augment.speed_factors == (0.9, 1.1)


def _non_default() -> ExperimentConfig:
    return ExperimentConfig(
        features=FeatureConfig(n_mels=40, fmax=7600.0),
        augment=AugmentConfig(speed_factors=(0.9, 1.0, 1.1), noise_dir="noise"),
        data=DataConfig(train_manifest="a/train.jsonl", batch_size=3),
        model=ModelConfig(
            head="classifier",
            classes=("yes", "no", "1e5", "null"),
            conv_filters=(4,),
            conv_kernels=((3, 5),),
            conv_strides=((2, 2),),
            bidirectional=False,
        ),
        train=TrainConfig(learning_rate=3e-4, steps_per_epoch=10),
        streaming=StreamingConfig(chunk_ms=320),
    )


@pytest.mark.parametrize("cfg", [ExperimentConfig(), _non_default()])
def test_to_dict_from_dict_round_trip(cfg):
    tree = to_dict(cfg)
    assert tree["model"]["conv_kernels"] == [
        list(k) for k in cfg.model.conv_kernels
    ]  # tuples become lists
    assert from_dict(tree) == cfg


@pytest.mark.parametrize("cfg", [ExperimentConfig(), _non_default()])
def test_dump_yaml_reloads_to_the_same_tree(tmp_path, cfg):
    text = dump_yaml(cfg)
    assert yaml.safe_load(text) == to_dict(cfg)  # readable by plain YAML 1.1 too
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert load_config(path) == cfg
    assert dump_yaml(load_config(path)) == text


def test_merge_returns_a_copy():
    cfg = ExperimentConfig()
    new = merge(cfg, {"model": {"rnn_units": 8}})
    assert new.model.rnn_units == 8
    assert cfg.model.rnn_units == ModelConfig().rnn_units
    assert new.train is cfg.train


def test_load_config_leaves_the_overrides_dict_alone():
    overrides = {"model": {"rnn_units": 8}}
    load_config(overrides=overrides)
    assert overrides == {"model": {"rnn_units": 8}}


@pytest.mark.skipif(not CONFIGS, reason="no YAML files in configs/ yet")
@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_parse(path):
    cfg = load_config(path)
    assert isinstance(cfg, ExperimentConfig)
    assert from_dict(to_dict(cfg)) == cfg
