"""YAML as configs read it: YAML 1.2 scalars on PyYAML's safe loader.

Only `true`/`false` are booleans (so the keywords `yes`, `no`, `on`, `off`
stay strings), `1e-3` is a number, and dates stay strings; `yaml_dump` writes
what `yaml_load` (and `yaml.safe_load`) read back the same.
"""

from __future__ import annotations

import re

import yaml

# -- YAML 1.2 scalars on PyYAML's safe loader (files and --set values) -----------
_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Exponent without a dot (`1e-3`, `5E4`): YAML 1.1 leaves these as strings.
_EXP_FLOAT = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, `1e-3` floats and no timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_FLOAT_TAG, _EXP_FLOAT, list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes strings `_Loader` would read as floats, so
    dumped configs reload the same with either loader."""


_Dumper.add_implicit_resolver(_FLOAT_TAG, _EXP_FLOAT, list("-+0123456789."))

# Boolean keys also accept YAML 1.1's words (`yes`/`no`/`on`/`off`).
YAML_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "false": False,
    "no": False,
    "off": False,
}


def yaml_load(text: str):
    """Parses YAML text as config files and `--set` values are parsed."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def yaml_dump(data) -> str:
    """Dumps plain data so that `yaml_load` (and `yaml.safe_load`) read it back."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)
