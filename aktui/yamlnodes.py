"""Reading YAML as nodes, so every error can name ``file:line: key``: shared by the config, the
rules file and keymaps. Values are resolved exactly as ``yaml.safe_load`` would."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from aktui.errors import ConfigError


def did_you_mean(key: str, known: Any) -> str:
    """'; did you mean X?' for the closest known name, or '' (shared by every YAML reader)."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# Resolves scalars (true, 12, 1.5, null) with YAML 1.1 rules, exactly as safe_load would.
SCALARS = yaml.SafeLoader("")


def node_kind(node: yaml.Node, *, article: bool = False) -> str:
    """What a node is, for "expected X, got Y": ``mapping``/``list``/``value "v"``, or with
    ``article`` as a sentence reads it: ``a mapping``/``a list``/``"v"``."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping" if article else "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if article else "list"
    return f'"{node.value}"' if article else f'value "{node.value}"'


_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_yaml(
    text: str, path: object, error: type[ConfigError] = ConfigError
) -> yaml.Node | None:
    """The node tree (with line marks) of a YAML file; a syntax error becomes one
    ``path:line: invalid YAML: ...`` line."""
    try:
        # libyaml's composer when built in: same nodes and marks, ~13x faster (the rules
        # file alone took ~47 ms, before the first line of a log was read).
        return yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(f"{path}{line}: invalid YAML: {problem}") from None
