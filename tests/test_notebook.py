"""
The notebooks are stored with their outputs: each executes from a clean copy (outputs removed) in a real kernel, as
notebooks/run.py regenerates them, and prints what is stored. When the code changes what a notebook prints, this
fails: regenerate with `python notebooks/run.py` and review the diff.
"""

import importlib.util

from pathlib import Path

import nbformat
import pytest

FOLDER = Path(__file__).parent.parent / "notebooks"

# Largest stored notebook, bytes: thumbnails are small JPEGs
LARGEST = 1024 * 1024


def runner():
    """
    Loads notebooks/run.py, the script that regenerates the notebooks (the folder is not a package).
    """

    spec = importlib.util.spec_from_file_location("notebooks_run", FOLDER / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = runner()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["near_duplicate_image_detection.ipynb", "photo_folder_cleanup.ipynb"])
def test_notebook_outputs(name):
    """
    A clean copy of the notebook runs without errors and prints, cell by cell, exactly the stored text outputs
    (printed text, text representations); images are only required where they are stored.
    """

    path = FOLDER / name
    stored = nbformat.read(path, as_version=4)
    assert path.stat().st_size < LARGEST

    # The stored notebook has outputs, images among them, and no errors
    assert all(cell.outputs for cell in stored.cells if cell.cell_type == "code" and "show(" in cell.source)
    assert any("image/jpeg" in output.get("data", {}) for cell in stored.cells if cell.cell_type == "code" for output in cell.outputs)
    assert not any(output.output_type == "error" for cell in stored.cells if cell.cell_type == "code" for output in cell.outputs)

    executed = RUN.execute(path)
    expected, actual = RUN.texts(stored), RUN.texts(executed)
    assert len(actual) == len(expected)
    for number, (want, got) in enumerate(zip(expected, actual)):
        assert got == want, f"{name}: code cell {number} prints other text than stored (python notebooks/run.py {name})"

    # Every image output is produced again where one is stored
    kinds = lambda notebook: [[sorted(output.get("data", {})) for output in cell.outputs] for cell in notebook.cells if cell.cell_type == "code"]
    assert kinds(executed) == kinds(stored)


def test_texts_compare_what_is_printed():
    """
    The comparison sees printed text and text representations, not images, and not how standard output and error
    interleave.
    """

    def notebook(*outputs):
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=list(outputs))])

    stream = nbformat.v4.new_output
    out, err = stream("stream", name="stdout", text="a\n"), stream("stream", name="stderr", text="warning\n")
    image = stream("display_data", data={"image/jpeg": "AAAA", "text/plain": "<IPython.core.display.Image object>"})
    other = stream("display_data", data={"image/jpeg": "BBBB", "text/plain": "<IPython.core.display.Image object>"})

    assert RUN.texts(notebook(out, err, image)) == RUN.texts(notebook(err, out, other))
    assert RUN.texts(notebook(out, stream("stream", name="stdout", text="b\n"))) == [[("stdout", "a\nb\n")]]
    assert RUN.texts(notebook(out)) != RUN.texts(notebook(stream("stream", name="stdout", text="b\n")))
    assert RUN.texts(notebook(stream("execute_result", data={"text/plain": "1"}, execution_count=1))) != RUN.texts(
        notebook(stream("execute_result", data={"text/plain": "2"}, execution_count=1))
    )
