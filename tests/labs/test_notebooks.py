"""Generated lab notebooks execute in a real Jupyter kernel (nbclient + ipykernel), in smoke mode."""

import json

import pytest

from lmforge.labs.notebook import write_notebook

nbclient = pytest.importorskip("nbclient", reason="executing notebooks needs nbclient and ipykernel ([dev])")
pytest.importorskip("ipykernel", reason="executing notebooks needs nbclient and ipykernel ([dev])")


# the two cheapest labs with a plot, at a minimal budget: the cost is the kernel's start and imports
@pytest.mark.parametrize("lab_id", ["evaluation-perplexity", "deployment-batching"])
def test_a_generated_notebook_runs_the_lab_and_shows_its_result(lab_id, tmp_path):
    path = write_notebook(lab_id, tmp_path, budget_minutes=0.01, smoke=True)
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    result = json.loads((tmp_path / f"{lab_id}-output" / "result.json").read_text(encoding="utf-8"))
    assert result["id"] == lab_id and result["smoke"] is True
    shown = [o for o in nb.cells[-1].outputs if o.output_type == "display_data"]
    markdown = "".join(o.data.get("text/markdown", "") for o in shown)
    assert f"**Measured:** {result['headline']}" in markdown and result["reference"]["source"] in markdown
    assert any("image/png" in o.data for o in shown)  # the lab's plot
