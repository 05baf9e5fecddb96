"""Flag values the library takes in another form: a GPU list, an ``--enqueue`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sweeper.errors import UsageError


def parse_gpus(text: str) -> list[str]:
    """``--gpus 0,1`` -> ["0", "1"]; ``--gpus none`` -> [] (CPU only)."""
    if text.strip().lower() in ("none", "cpu", ""):
        return []
    ids = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() for g in ids) or len(set(ids)) != len(ids):
        raise UsageError(
            f"bad --gpus {text!r}: expected distinct GPU numbers such as 0,1, or none for CPU only"
        )
    return ids


def load_points(path: str | Path) -> list[dict[str, Any]]:
    """Configurations from a JSON or YAML file holding a list of {parameter: value}."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --enqueue file {path}: {exc.strerror}") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            points = yaml.safe_load(text)
        else:
            points = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - JSON's and YAML's errors alike
        first = str(exc).strip().splitlines()[0]
        raise UsageError(f"--enqueue file {path} is not valid JSON or YAML ({first})") from exc
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise UsageError(
            f"--enqueue file {path} must hold a list of {{parameter: value}} objects, "
            f'e.g. [{{"optimizer": "adam", "learning_rate": 0.001}}]'
        )
    return points
