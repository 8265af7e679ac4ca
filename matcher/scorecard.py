"""The last evaluation's figures, kept in the home folder for the model card (``GET /model``).

``c2c evaluate`` writes its full results to ``<home>/evaluation/results.json`` on every run
(besides any ``--out`` folder); the model card reads the headline figures back from there, so
an installed service reports its own last evaluation and never reads the source tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from index.atomic import write_text_atomic
from matcher.settings import Settings


def evaluation_file(settings: Settings) -> Path:
    """Where the last evaluation's results are kept."""
    return Path(settings.home) / "evaluation" / "results.json"


def save_evaluation(results_json: str, settings: Settings) -> Path:
    """Keep ``results_json`` (an evaluation's ``to_json()``) as the last evaluation."""
    path = evaluation_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, results_json)
    return path


def last_evaluation(settings: Settings) -> dict[str, Any] | None:
    """Headline figures of the last evaluation; None when none has run yet (or its file is unreadable)."""
    path = evaluation_file(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        protocols = {
            name: {
                "pairs": proto.get("pairs"),
                "methods": {
                    method: {metric: est.get("value") if isinstance(est, dict) else est for metric, est in metrics.items()}
                    for method, metrics in proto.get("methods", {}).items()
                },
            }
            for name, proto in data.get("protocols", {}).items()
        }
    except (OSError, ValueError, AttributeError):
        return None
    # Relative to the home folder: clients are shown no server paths.
    return {"file": path.relative_to(Path(settings.home)).as_posix(), "settings": data.get("settings", {}),
            "protocols": protocols}
