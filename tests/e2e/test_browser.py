"""Browser end-to-end: the notebooks' widgets render and redraw in a real JupyterLab.

nbval runs the Python side of every notebook; these tests open notebooks in JupyterLab in headless
Chromium, press Run > Run All Cells, and operate the controls as a learner would. Screenshots before
and after each interaction go to build/e2e/. Run with `make e2e` (NMA_E2E=1; see conftest.py).
"""

from __future__ import annotations

import pytest
from lab_harness import NOTEBOOKS, SCRATCH

pytestmark = pytest.mark.e2e

BETA = "β (sharpness)"  # the description of the memory-bank notebook's sharpness slider (02 also has "β for N")


def _notebook(prefix: str) -> str | None:
    found = sorted(NOTEBOOKS.glob(f"{prefix}_*.ipynb"))
    return found[0].name if found else None


def _beta_slider_redraws(nb, shot_prefix: str, out) -> None:
    """Find the β slider, move it, and assert that the plot it drives was redrawn differently."""
    selector = nb.slider_selector(BETA)
    slider = nb.require(selector, f"ipywidgets slider whose description contains {BETA!r}")
    scope = nb.output_scope(selector)  # the slider and its plot
    before = nb.wait_for_images(scope)
    shot_before = nb.screenshot(scope, out / f"{shot_prefix}_before.png")

    old_value, new_value = nb.nudge_slider(slider)
    try:
        after = nb.wait_for_new_images(scope, before)
    except TimeoutError:
        after = nb.image_srcs(scope)
    shot_after = nb.screenshot(scope, out / f"{shot_prefix}_after.png")

    assert after != before, f"β moved {old_value} -> {new_value} but the plot's image did not change"
    assert shot_after.read_bytes() != shot_before.read_bytes()


def _run_button_redraws(nb, shot_prefix: str, out, new_pixels: bool) -> None:
    """Find the 'Run' button, press it, and assert that a new figure is drawn in its cell (with
    ``new_pixels``: one that differs from before, e.g. 07's history of runs grows by one point)."""
    selector = nb.button_selector("Run")
    button = nb.require(selector, "ipywidgets Button with description 'Run'")
    outputs = nb.cell_of(selector).locator(".jp-Cell-outputArea").first  # controls and figure
    before = nb.image_srcs(outputs)
    nb.mark_images(outputs)  # a redraw of identical pixels still shows as a new <img>
    nb.screenshot(outputs, out / f"{shot_prefix}_before.png")

    button.click()
    try:
        after = nb.wait_for_redraw(outputs)
    except TimeoutError as err:
        raise AssertionError(f"pressing Run drew no new figure: {err}") from err
    nb.screenshot(outputs, out / f"{shot_prefix}_after.png")
    assert after, "pressing Run drew no figure"
    assert len(after) >= len(before), f"the cell showed {len(before)} images before Run, {len(after)} after"
    if new_pixels:
        assert after != before, "pressing Run redrew the figure, but identical to the one before"


def test_harness_scratch_notebook(open_notebook, e2e_out):
    """Self-test of the harness on its own small notebook, written into the temporary copy: a β
    FloatLogSlider driving an interactive_output plot, a raises-exception cell that Run All must
    pass, and a 'Run' button that redraws an identical figure."""
    nb = open_notebook(SCRATCH)
    nb.run_all(timeout=60)
    _beta_slider_redraws(nb, "scratch_beta", e2e_out)
    _run_button_redraws(nb, "scratch_run", e2e_out, new_pixels=False)


@pytest.mark.skipif(_notebook("02") is None, reason="notebooks/02_*.ipynb (memory bank) is not in the checkout yet")
def test_02_beta_slider_redraws_read_weights(open_notebook, e2e_out):
    """Notebook 02: run all cells, move the β (sharpness) slider, the read-weight plot changes."""
    nb = open_notebook(_notebook("02"))
    nb.run_all(timeout=150)
    _beta_slider_redraws(nb, "02_beta", e2e_out)


@pytest.mark.skipif(_notebook("07") is None, reason="notebooks/07_*.ipynb (the playground) is not in the checkout")
def test_07_playground_sliders_and_run_update_figure(open_notebook, e2e_out):
    """Notebook 07: run all cells, move the β and memory-size sliders, press Run: a new point is drawn."""
    nb = open_notebook(_notebook("07"))
    nb.run_all(timeout=300)
    for description in ("β (read sharpness)", "memory size"):
        slider = nb.require(nb.slider_selector(description), f"ipywidgets slider {description!r}")
        before, after = nb.nudge_slider(slider, presses=2)
        assert before != after, f"the {description!r} slider did not move"
    _run_button_redraws(nb, "07_run", e2e_out, new_pixels=True)
    status = nb.panel.locator(".widget-label", has_text="run 6:")
    assert status.count(), "the status line does not report the sixth run (five ran headless, one by the click)"
