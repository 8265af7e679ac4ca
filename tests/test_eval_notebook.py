"""The evaluation notebook runs end to end and shows a results table with every method."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_evaluation.ipynb"


def _text(output) -> str:
    data = output.get("data", {})
    return "".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html", "text/markdown")) + str(output.get("text", ""))


@pytest.mark.slow
@pytest.mark.model
def test_evaluation_notebook_executes_and_reports_every_baseline():
    import nbformat
    from nbclient import NotebookClient

    from matcher.evaluation import BASELINES, METHODS, METRICS

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    tables = [c for c in nb.cells if "results-table" in c.get("metadata", {}).get("tags", [])]
    assert len(tables) == 1
    shown = "".join(_text(o) for o in tables[0].outputs)
    for name in (*METHODS, *BASELINES, *METRICS, "leave-one-pair-out", "leave-one-organisation-out"):
        assert name in shown, name
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # metric bars, rank histogram, per-pair scatter
