"""The report page: self-contained, every figure embedded, verdicts that say what they mean."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from experiments import report
from experiments.spec import Config

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from jaxnn import plot  # noqa: E402


def _png(path: Path) -> None:
    fig, ax = plot.figure()
    ax.plot([0, 1], [1, 0])
    plot.save(fig, path)


def _gif(path: Path) -> None:
    frames = {f"frame {i}": (lambda p, i=i: p[:, 0] > i) for i in range(2)}
    plot.boundary_animation(frames, [[0.0, 0.0], [1.0, 1.0]], [0, 1], path, resolution=10)


def _record(name: str, figures=(), backprop=(), rows=None, **extra) -> dict:
    return {
        "name": name,
        "title": f"the {name} tutorial",
        "source": f"Someone, “{name}”",
        "url": f"https://example.org/{name}",
        "notes": "uses `optax.sgd(0.01)` and *both* paths",
        "row_notes": [],
        "wall_s": 1.5,
        "rows": rows
        if rows is not None
        else [
            {"quantity": "a < b", "jaxnn": "1", "tutorial": "1", "match": "yes"},
            {"quantity": "c", "jaxnn": "2", "tutorial": "3", "match": "NO"},
            {"quantity": "d", "jaxnn": "5", "tutorial": "4", "match": "reported beside (unseeded)"},
        ],
        "backprop": list(backprop),
        "figures": [{"file": f, "caption": f"figure {f}", "wide": False} for f in figures],
        "console": "Error:0.5\n<printed>\n",
        **extra,
    }


def _part(name="p", apart=None, note=None, check="ok") -> dict:
    part = {
        "part": name,
        "steps": 10,
        "wall_s": {"manual": 0.1, "autodiff": 0.1},
        "max_param_diff": 0.0 if apart is None else 0.5,
        "max_loss_diff": 0.0,
        "paths_apart_from": apart,
        "check_grads": check,
    }
    if note:
        part["note"] = note
    return part


@pytest.fixture
def written(tmp_path):
    _png(tmp_path / "one_a.png")
    _gif(tmp_path / "one_b.gif")
    _png(tmp_path / "two_a.png")
    records = [
        _record("one", ["one_a.png", "one_b.gif"], [_part(), _part("q", 7, "it is chaotic")]),
        _record("two", ["two_a.png"], [_part(check="FAILED: [0].w")]),
        _record("three", rows=[]),
    ]
    md, index = report.write(records, Config(), tmp_path, 3.0)
    return records, md, index


def test_page_is_self_contained_and_embeds_every_figure(written):
    records, _, index = written
    assert report.validate(index, records) == []
    text = index.read_text()
    assert text.count("data:image/png;base64,") == 2 and text.count("data:image/gif;base64,") == 1
    for tag in ("<script", "<link", "<iframe", 'src="http', "src='http"):
        assert tag not in text
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids == ["summary", "one", "two", "three"]
    # The tutorials are named and linked, never a scraped-file path.
    assert '<a href="https://example.org/one">Someone, “one”</a>' in text
    assert "seeds/" not in text
    # Text is escaped, inline code and emphasis rendered, printed output kept.
    assert "a &lt; b" in text and "<code>optax.sgd(0.01)</code>" in text
    assert "<em>both</em>" in text and "&lt;printed&gt;" in text


def test_embedded_bytes_are_the_files(written):
    records, _, index = written
    text = index.read_text()
    for name in ("one_a.png", "one_b.gif", "two_a.png"):
        match = re.search(rf'src="data:image/\w+;base64,([^"]+)"[^>]*data-file="{name}"', text)
        assert match, name
        assert base64.b64decode(match.group(1)) == (index.parent / name).read_bytes()


def test_match_and_path_verdicts_are_marked(written):
    _, md, index = written
    text = index.read_text()
    assert '<td class="ok">yes</td>' in text and '<td class="bad">NO</td>' in text
    summary = text[text.index('id="summary"') : text.index('<section id="one"')]
    assert "1 of 2 parts agree; q apart from step 7 (explained)" in summary
    assert "check_grads FAILED: [0].w" in summary
    assert "no gradient training" in summary
    assert "Why q ends apart:</b> it is chaotic" in text
    markdown = md.read_text()
    assert "![figure one_a.png](one_a.png)" in markdown
    assert "Why q is apart: it is chaotic" in markdown


def test_verdicts():
    assert report.path_verdict(_part()) == ("ok", "agree")
    assert report.path_verdict(_part("x", 3))[0] == "bad"  # apart with no reason: flagged
    assert report.path_verdict(_part("x", 3, "why"))[0] == "explained"
    assert report.path_verdict({**_part(), "check_grads": "FAILED: [0].b"})[0] == "bad"
    single = {"part": "s", "steps": 1, "wall_s": {"manual": 0.1}, "check_grads": "ok"}
    assert report.path_verdict(single) == ("single", "one path run")
    counts = report.counts(_record("r"))
    assert counts == {"matched": 1, "mismatched": 1, "beside": 1, "shown": 0}


def test_validate_finds_what_is_wrong(written):
    records, _, index = written
    text = index.read_text()
    broken = index.parent / "broken.html"
    broken.write_text(
        text.replace('href="#one"', 'href="#nowhere"', 1).replace(
            "</main>", '<img src="one_a.png"><a href="one.json">j</a><script></script></main>'
        )
    )
    problems = report.validate(broken, records)
    assert any("missing anchor #nowhere" in p for p in problems)
    assert any("not embedded: 'one_a.png'" in p for p in problems)
    assert any("local file 'one.json'" in p for p in problems)
    assert any("<script>" in p for p in problems)
    (index.parent / "two_a.png").unlink()
    assert any("two_a.png does not exist" in p for p in report.validate(index, records))
    records[0]["figures"].append({"file": "one_c.png", "caption": "c"})
    _png(index.parent / "one_c.png")
    assert any("one_c.png is not embedded" in p for p in report.validate(index, records))
