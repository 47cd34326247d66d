"""
Regenerates the notebooks in place: each runs from a clean copy (no outputs) in a fresh kernel with nbclient, offline,
from this folder, and is stored with its outputs so that it reads on GitHub.

Usage: python notebooks/run.py [NOTEBOOK ...]   (default: every notebook in this folder)

tests/test_notebook.py runs them the same way and compares their text outputs with the stored ones.
"""

import os
import sys
import tempfile
import time

from pathlib import Path

import nbformat

from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parent
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))

# Output types whose text is compared with the stored notebook (images may differ byte for byte)
TEXTS = ("text/plain", "text/html", "text/markdown")

# The kernel's environment: tqdm warns on import that ipywidgets is missing (its text names the install path)
ENVIRONMENT = {"PYTHONWARNINGS": "ignore:IProgress not found"}


def clean(notebook):
    """
    Removes the outputs of a notebook.

    Args:
        notebook: NotebookNode, changed in place

    Returns:
        notebook
    """

    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)

    return notebook


def execute(path, timeout=600):
    """
    Runs a notebook from a clean copy in a fresh kernel, from the notebooks folder.

    Args:
        path: notebook file
        timeout: seconds a cell may run

    Returns:
        executed NotebookNode (the file is not written)
    """

    notebook = clean(nbformat.read(path, as_version=4))

    # One stream output per cell and name where prints follow each other, no timestamps
    resources = {"metadata": {"path": str(FOLDER)}}
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False, coalesce_streams=True, resources=resources)

    # The temporary folders the notebook makes are removed with the kernel's own
    with tempfile.TemporaryDirectory(prefix="notebook-") as temporary:
        client.execute(env={**os.environ, **ENVIRONMENT, "TMPDIR": temporary})

    return notebook


def texts(notebook):
    """
    The text outputs of a notebook, cell by cell: what it printed (standard output and error, each as one text: how
    the two interleave depends on timing), text representations and errors.

    Args:
        notebook: NotebookNode

    Returns:
        list with one list of (kind, text) per code cell
    """

    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue

        streams, outputs = {}, []
        for output in cell.outputs:
            if output.output_type == "stream":
                streams[output.name] = streams.get(output.name, "") + text(output.text)
            elif output.output_type == "error":
                outputs.append(("error", f"{output.ename}: {output.evalue}"))
            else:
                outputs.extend((kind, text(output.data[kind])) for kind in TEXTS if kind in output.data)

        cells.append(sorted(streams.items()) + outputs)

    return cells


def text(value):
    """
    Joins a text output stored as a list of lines.

    Args:
        value: string or list of strings

    Returns:
        string
    """

    return "".join(value) if isinstance(value, list) else value


def main(paths):
    """
    Regenerates notebooks in place.

    Args:
        paths: notebook files, every notebook of this folder when empty
    """

    for path in [Path(path).resolve() for path in paths] or NOTEBOOKS:
        start = time.perf_counter()
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"{path.name}: {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:])
