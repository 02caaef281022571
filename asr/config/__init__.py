"""Experiment configuration: one tree of frozen dataclasses.

`schema.py` holds the tree and its defaults, `loading.py` reads YAML files and
`--set key=value` overrides onto it, `checks.py` validates the result. Import
from here: `from asr.config import load_config, ExperimentConfig`.
"""

from asr.config.checks import validate
from asr.config.loading import (
    dump_yaml,
    from_dict,
    load_config,
    merge,
    parse_set,
    to_dict,
)
from asr.config.schema import (
    AugmentConfig,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    FeatureConfig,
    ModelConfig,
    StreamingConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "FeatureConfig",
    "ModelConfig",
    "StreamingConfig",
    "TrainConfig",
    "dump_yaml",
    "from_dict",
    "load_config",
    "merge",
    "parse_set",
    "to_dict",
    "validate",
]
