"""Highlighted text (HTML, PNG) and the logit-lens grid are written, escaped and coloured by sign."""

from __future__ import annotations

import pytest

from lmforge.errors import ConfigError
from lmforge.interpret.logit_lens import LensCell
from lmforge.interpret.render import Highlight, plot_logit_lens, render_html, render_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_html_escapes_tokens_and_colours_by_sign(tmp_path):
    rows = [Highlight("integrated gradients", ["<b>", "good", "bad"], [0.0, 2.0, -1.0])]
    page = render_html(rows, tmp_path / "a.html", title="why 'positive'").read_text()
    assert "&lt;b&gt;" in page and "<b>" not in page
    assert "rgba(26,158,64,0.75)" in page  # the largest positive score: full green
    assert "rgba(214,48,38,0.38)" in page  # half the largest magnitude, negative: half red
    assert "title='-1.0000'" in page


def test_png_and_lens_grid_are_pngs(tmp_path):
    rows = [Highlight("grad x input", [f"tok{i}" for i in range(40)], [i - 20.0 for i in range(40)]),
            Highlight("rollout", ["$x$", "y"], [0.5, 0.5])]
    assert render_png(rows, tmp_path / "a.png", title="t").read_bytes().startswith(PNG_MAGIC)
    cells = [[LensCell("a", 0.1), LensCell("\n", 0.9)], [LensCell("$", 0.5), LensCell("b", 1.0)]]
    assert plot_logit_lens(cells, ["x", "y"], tmp_path / "lens.png", "lens").read_bytes().startswith(PNG_MAGIC)


def test_scores_must_match_tokens():
    with pytest.raises(ConfigError, match="2 tokens but 1 scores"):
        Highlight("x", ["a", "b"], [1.0])
