"""The README's Python examples run as written, and print what the README says they print."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _printed_by(printed: dict[str, str], first_code: str) -> str:
    """What the block containing ``first_code`` printed."""
    hits = [out for code, out in printed.items() if first_code in code]
    assert len(hits) == 1, f"expected one README block with {first_code!r}"
    return hits[0]


def test_readme_examples_run_and_print_what_they_claim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the io example writes a file
    blocks = _python_blocks()
    assert len(blocks) >= 10, "the README lost its examples"
    namespace: dict = {}
    printed = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), namespace)
        printed[block] = out.getvalue()
    text = README.read_text()

    first = _printed_by(printed, "manual = jaxnn.grad(model, loss)")
    assert "verdict: ok" in first and "[0].w" in first and "input" in first
    failing = _printed_by(printed, "def MySigmoid")
    assert "verdict: FAILED: [0].b, [0].w, input" in failing
    assert "[1] MySigmoid" in failing and "between [0] and [2]" in failing
    assert "verdict: FAILED: arg0" in _printed_by(printed, "def softplus_bwd")
    assert namespace["Square"]().name == "Square"

    summary = _printed_by(printed, "jaxnn.summary(model, (2,))")
    assert "total params: 522" in summary and summary in text  # the README shows it verbatim
    assert "[0.3149" in _printed_by(printed, "optax.sgd(2.0), params, x, y, steps=5000")
    converged = re.search(r"(\d+) of 1000 converged", _printed_by(printed, "1000 converged"))
    assert converged and int(converged.group(1)) > 900
    sweep = _printed_by(printed, "for lr, first, last in zip")
    assert sweep.count("loss 0.265 ->") == 5 and sweep.strip() in text

    early = _printed_by(printed, "patience=5")
    best, val_acc, _ = early.split()
    assert int(best) % 100 == 0 and float(val_acc) > 0.9
    checked = _printed_by(printed, "labels = jnp.array([0, 1, 1, 5])")
    assert "out of range for 2 classes" in checked and "is a factory: call it" in checked
    assert checked.strip().endswith("nan")
    assert "(1438, 64) (359, 64)" in _printed_by(printed, "datasets.digits(scale=True)")
