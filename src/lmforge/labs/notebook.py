"""A lab as a Jupyter notebook: its introduction, its source to read, and cells that run it and show the result.

The notebook runs the registered lab through :func:`lmforge.labs.registry.run_lab`, so what a
learner executes is exactly what ``lmforge lab ID`` runs; the lab's source is shown as text
(re-running the ``@lab`` definition in a kernel would register a second copy of it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lmforge.io import atomic_write
from lmforge.labs.registry import PHASES, get_lab

_SHOW_RESULT = '''from IPython.display import HTML, Image, Markdown, display

rows = "\\n".join(f"| {name} | {value:.4g} |" for name, value in result.metrics.items())
display(Markdown(f"**Measured:** {result.headline}\\n\\n**Reference:** {result.reference.figure} "
                 f"({result.reference.source})\\n\\n| metric | value |\\n|---|---|\\n{rows}"))
if result.notes:
    display(Markdown(f"*Note:* {result.notes}"))
for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))
    elif path.suffix == ".html":
        display(HTML(path.read_text(encoding="utf-8")))'''


def lab_notebook(lab_id: str, budget_minutes: float | None = None, smoke: bool = False,
                 seed: int = 0) -> nbformat.NotebookNode:
    """Build the notebook for ``lab_id``: markdown introduction, the lab's source, a run cell, a result cell."""
    lb = get_lab(lab_id)
    phase = next(p for p in PHASES if p.key == lb.phase)
    number = PHASES.index(phase) + 1
    budget = "its default budget" if budget_minutes is None else f"a {budget_minutes:g}-minute budget"
    intro = (
        f"# {lb.title}\n\n"
        f"Lab `{lb.id}`, roadmap phase {number}: **{phase.title}**.\n\n"
        f"It teaches: {', '.join(f'`{m}`' for m in lb.teaches)}. Documentation: `{lb.docs}`.\n\n"
        f"The lab uses the library (never a copy of it), runs within {budget} "
        f"(about {lb.minutes:g} minutes on a 2-core CPU by default) and prints its measured result "
        "beside the published or reference figure it compares with, with that figure's source."
    )
    run = (
        "from pathlib import Path\n\n"
        "from lmforge.labs.registry import run_lab\n\n"
        f"result = run_lab({lb.id!r}, out_dir=Path({f'{lb.id}-output'!r}), "
        f"budget_minutes={budget_minutes!r}, smoke={smoke!r}, seed={seed!r})"
    )
    nb = new_notebook(cells=[
        new_markdown_cell(intro),
        new_markdown_cell(f"## The lab's code (for reading)\n\n```python\n{lb.source.rstrip()}\n```"),
        new_markdown_cell("## Run it\n\nThis writes `result.json` and the plots into the output folder."),
        new_code_cell(run),
        new_markdown_cell("## The result beside the reference"),
        new_code_cell(_SHOW_RESULT),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_notebook(lab_id: str, out_dir: Path, budget_minutes: float | None = None, smoke: bool = False,
                   seed: int = 0) -> Path:
    """Write ``out_dir/<lab_id>.ipynb`` atomically and return its path."""
    nb = lab_notebook(lab_id, budget_minutes, smoke, seed)
    nbformat.validate(nb)
    path = Path(out_dir) / f"{lab_id}.ipynb"
    with atomic_write(path) as f:
        nbformat.write(nb, f)
    return path
