"""
The notebook demo executes and prints what the article shows.
"""

from pathlib import Path

import nbformat
import pytest

from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "near_duplicate_image_detection.ipynb"


@pytest.mark.slow
def test_notebook_executes():
    """
    Runs every cell in a real kernel and checks the key outputs.
    """

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    text = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )

    # Without txtai's test images (tests.tar.gz-fetch.sh), the notebook searches scikit-image photos
    target = "" if list((NOTEBOOK.parent.parent / "images" / "txtai").glob("*.jpg")) else "rocket.jpg"

    assert "same as txtai: True" in text
    assert f"nearest: {target}" in text
    assert f"reloaded nearest: {target}" in text
    assert "order by hamming(text, '" in text

    # The result image is displayed
    assert any("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
