"""Load a clinic config file; every problem is reported with the file, the key, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config.models import ClinicConfig


class ConfigError(Exception):
    """A config file that cannot be used. The message is meant for the clinic's admin."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"config error in {path}:\n" + "\n".join(f"  - {p}" for p in problems))


def load_config(path: str | Path) -> ClinicConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read file: {exc}"]) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}not valid YAML ({reason})"]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the file must be a mapping of settings (clinic:, booking:, ...)"])
    try:
        return ClinicConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = ".".join(str(part) for part in loc) or "(top level)"
            line = _line_of(root, loc)
            where = f" (line {line})" if line else ""
            given = error.get("input")
            shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
            problems.append(f"{key}{where}: {error['msg']}{shown}")
        raise ConfigError(path, problems) from None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the error's path."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == str(part)), None)
                return (key_node.start_mark.line + 1) if key_node else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    if line is None and node is not None:
        line = node.start_mark.line + 1
    return line
