"""The run's two reports: ``index.html`` (one self-contained page) and ``report.md``.

Both put every experiment's numbers beside the tutorial's, its manual-vs-autodiff verdicts
and its figures. The HTML page embeds every figure as a ``data:`` URI and carries its own
style sheet, so the one file opens anywhere, offline; its only links are the tutorials'
addresses and anchors within the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import jax

from experiments.spec import Config

MIME = {".png": "image/png", ".gif": "image/gif"}

INTRO = (
    "Each gradient-trained part runs once per backprop path: the layers' hand-written "
    "vjps (manual) and `jax.grad` (autodiff). Its *manual vs autodiff* row gives how far apart "
    "the two runs end, from which step their objectives differ beyond rounding (1e-6 "
    "relative in float64, 1e-4 in float32), and `jaxnn.check_grads` at the initial params. "
    "The two paths compute the same math with operations in a different order, so they "
    "agree to the last bits unless the run itself amplifies rounding (an unstable learning "
    "rate, an oscillating run); where that happens the row says so."
)


# --------------------------------------------------------------------------------------------
# What both reports say
# --------------------------------------------------------------------------------------------


def counts(record: dict) -> dict[str, int]:
    """How the experiment's rows compare: matched, mismatched, reported beside, shown only."""
    matches = [r["match"] for r in record["rows"]]
    loose = sum(m.startswith(("≈", "reported", "n/a")) for m in matches)
    matched = sum(m == "yes" for m in matches)
    mismatched = sum(m == "NO" for m in matches)
    return {
        "matched": matched,
        "mismatched": mismatched,
        "beside": loose,
        "shown": len(matches) - matched - mismatched - loose,
    }


def path_verdict(part: dict) -> tuple[str, str]:
    """``(class, text)`` of one part's manual-vs-autodiff comparison.

    class is ``ok`` (the paths agree), ``explained`` (apart, and the part says why), ``bad``
    (apart with no explanation, or a failed gradient check) or ``single`` (one path ran).
    """
    checked = part.get("check_grads", "not run")
    if checked.startswith("FAIL"):
        return "bad", f"check_grads {checked}"
    if "max_param_diff" not in part:
        return "single", "one path run"
    apart = part.get("paths_apart_from")
    if apart is None:
        return "ok", "agree"
    if part.get("note"):
        return "explained", f"{part['part']} apart from step {apart} (explained)"
    return "bad", f"{part['part']} apart from step {apart}, unexplained"


def experiment_verdict(record: dict) -> tuple[str, str]:
    """The worst of the experiment's part verdicts, as ``(class, text)``."""
    verdicts = [path_verdict(p) for p in record["backprop"]]
    if not verdicts:
        return "none", "no gradient training"
    for cls in ("bad", "explained", "ok", "single"):
        hit = [t for c, t in verdicts if c == cls]
        if hit:
            agree = sum(c == "ok" for c, _ in verdicts)
            if cls == "ok":
                return cls, "agree" if len(verdicts) == 1 else f"all {len(verdicts)} parts agree"
            if cls == "single":
                return cls, "one path run"
            head = f"{agree} of {len(verdicts)} parts agree; " if len(verdicts) > 1 else ""
            return cls, head + "; ".join(hit)
    raise AssertionError("unreachable")


def _wall(rec: dict) -> str:
    cpu = f" (CPU {rec['cpu_s']:.1f} s)" if "cpu_s" in rec else ""
    return f"{rec['wall_s']:.1f} s{cpu}"


def _diff(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def path_row(part: dict) -> list[str]:
    """The cells of one part's manual-vs-autodiff row."""
    params = _diff(part.get("max_param_diff"))
    if "members_apart" in part:
        apart, total = part["members_apart"]
        params += f" ({apart}/{total} members > {part.get('tolerance', 1e-6):g})"
    apart = part.get("paths_apart_from")
    return [
        part["part"],
        str(part["steps"]),
        params,
        _diff(part.get("max_loss_diff")),
        "—" if apart is None else str(apart),
        part.get("check_grads", "—"),
        " / ".join(f"{k} {v:.2f} s" for k, v in part["wall_s"].items()),
    ]


PATH_HEADER = (
    "part",
    "steps",
    "max |θ_manual − θ_autodiff|",
    "max |Δ objective|",
    "objectives apart from step",
    "check_grads at init",
    "wall (compile incl.)",
)


def settings(config: Config, wall_s: float, cpu_s: float | None = None) -> str:
    cpu = "" if cpu_s is None else f" (CPU time {cpu_s:.1f} s, all threads)"
    return (
        f"Run {_dt.datetime.now():%Y-%m-%d %H:%M:%S}; total wall time {wall_s:.1f} s{cpu}; "
        f"JAX {jax.__version__} on {jax.default_backend()}. Settings: backprop "
        f"`{config.backprop}`, dtype `{config.dtype}`, seeds {config.seeds}, steps "
        f"×{config.steps_scale:g}. Digits are compared only in a float64 run at the "
        "tutorials' step counts (elsewhere the match column says n/a)."
    )


# --------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _source_md(record: dict) -> str:
    url = record.get("url")
    return f"{record['source']} — <{url}>" if url else record["source"]


def markdown(
    records: Sequence[dict], config: Config, wall_s: float, cpu_s: float | None = None
) -> str:
    """report.md: the same content as the page, figures linked rather than embedded."""
    lines = [
        "# jaxnn experiments",
        "",
        settings(config, wall_s, cpu_s),
        "",
        INTRO,
        "",
        "## Summary",
        "",
    ]
    summary = []
    for rec in records:
        c = counts(rec)
        verdict = experiment_verdict(rec)[1]
        summary.append(
            (
                rec["name"],
                c["matched"],
                c["mismatched"],
                c["beside"],
                verdict,
                _wall(rec),
            )
        )
    header = (
        "experiment",
        "matched",
        "mismatched",
        "reported beside",
        "manual vs autodiff",
        "wall",
    )
    lines += _md_table(header, summary) + [""]
    for rec in records:
        lines += [f"## {rec['name']} — {rec['title']}", "", f"From: {_source_md(rec)}.", ""]
        if rec["notes"]:
            lines += [rec["notes"], ""]
        lines += [f"Wall time {rec['wall_s']:.1f} s.", ""]
        if rec["rows"]:
            rows = [(r["quantity"], r["jaxnn"], r["tutorial"], r["match"]) for r in rec["rows"]]
            lines += _md_table(("quantity", "jaxnn", "tutorial", "match"), rows) + [""]
            lines += [f"Note: {n}" for n in rec.get("row_notes", [])] + [""]
        if rec["backprop"]:
            rows = [path_row(b) for b in rec["backprop"]]
            lines += ["Manual vs autodiff:", ""] + _md_table(PATH_HEADER, rows) + [""]
            lines += [
                f"Why {b['part']} is apart: {b['note']}" for b in rec["backprop"] if b.get("note")
            ]
            lines += [""]
        for fig in rec["figures"]:
            lines += [f"![{fig['caption']}]({fig['file']})", "", f"*{fig['caption']}*", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# index.html
# --------------------------------------------------------------------------------------------

STYLE = """
:root { --fg: #1d1f23; --muted: #5b6170; --line: #d9dce3; --bg: #ffffff; --alt: #f5f6f9;
  --ok: #1a7f37; --ok-bg: #e6f4ea; --bad: #b42318; --bad-bg: #fdecea; --warn: #8a5a00;
  --warn-bg: #fff4dc; --info-bg: #eef3fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 4px; padding-top: 8px; border-top: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p { margin: 6px 0; max-width: 100ch; }
.meta, .source { color: var(--muted); }
nav { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0; }
nav a { padding: 2px 10px; border: 1px solid var(--line); border-radius: 12px;
  text-decoration: none; color: var(--fg); font-size: 13px; background: var(--alt); }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--alt); padding: 0 3px; border-radius: 3px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--alt); font-weight: 600; }
tbody tr:hover td { outline: 1px solid #c9d3e6; }
td.wall { white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 13px; }
td.ok, span.ok { color: var(--ok); background: var(--ok-bg); font-weight: 600; }
td.bad, span.bad { color: var(--bad); background: var(--bad-bg); font-weight: 600; }
td.explained, span.explained { color: var(--warn); background: var(--warn-bg); }
td.loose { color: var(--muted); }
span.ok, span.bad, span.explained { padding: 0 6px; border-radius: 8px; }
.note { background: var(--info-bg); border-left: 4px solid #4a78c2; padding: 6px 10px;
  margin: 6px 0; max-width: 110ch; }
.figures { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 6px 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); display: block; }
figure.wide { flex-basis: 100%; }
figcaption { color: var(--muted); font-size: 13px; max-width: 90ch; margin-top: 4px; }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--alt); padding: 10px; overflow-x: auto; font-size: 12.5px;
  max-height: 420px; }
"""


class Raw(str):
    """Cell content that is already HTML (not escaped again)."""


def _text(text: str) -> str:
    """Escape for HTML, then render Markdown-style `code` spans (`Raw` is kept as it is)."""
    if isinstance(text, Raw):
        return str(text)
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", escaped)


def _match_class(match: str) -> str:
    if match == "yes":
        return "ok"
    if match == "NO":
        return "bad"
    return "loose" if match != "—" else ""


def _table(header: Sequence[str], rows: Sequence[Sequence], classes=None) -> str:
    """An HTML table; ``classes[i][j]`` (optional) is the class of cell ``j`` of row ``i``."""
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes[i][j] if classes else ""
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{_text(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def data_uri(path: Path) -> str:
    """``data:<mime>;base64,...`` of a figure file."""
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"report: cannot embed {path.name} (only {sorted(MIME)} figures)")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(out: Path, fig: dict) -> str:
    wide = ' class="wide"' if fig.get("wide") else ""
    src, alt = data_uri(out / fig["file"]), html.escape(fig["caption"])
    return (
        f'<figure{wide}><img src="{src}" alt="{alt}" data-file="{html.escape(fig["file"])}">'
        f"<figcaption>{_text(fig['caption'])}</figcaption></figure>"
    )


def _summary(records: Sequence[dict]) -> str:
    rows, classes = [], []
    for rec in records:
        c = counts(rec)
        cls, verdict = experiment_verdict(rec)
        name = html.escape(rec["name"])
        rows.append(
            [
                Raw(f'<a href="#{name}">{name}</a>'),
                rec["title"],
                str(c["matched"]),
                str(c["mismatched"]),
                str(c["beside"]),
                verdict,
                _wall(rec),
            ]
        )
        classes.append(
            [
                "",
                "",
                "ok" if c["matched"] else "",
                "bad" if c["mismatched"] else "",
                "",
                cls,
                "num wall",
            ]
        )
    header = (
        "experiment",
        "what",
        "matched",
        "mismatched",
        "reported beside (unseeded or loose)",
        "manual vs autodiff",
        "wall time",
    )
    return _table(header, rows, classes)


def _section(rec: dict, out: Path) -> str:
    name = html.escape(rec["name"])
    parts = [f'<section id="{name}"><h2>{name} — {_text(rec["title"])}</h2>']
    url = rec.get("url")
    source = _text(rec["source"])
    if url:
        source = f'<a href="{html.escape(url)}">{source}</a>'
    parts.append(f'<p class="source">From: {source} · wall time {rec["wall_s"]:.1f} s</p>')
    if rec["notes"]:
        parts.append(f"<p>{_text(rec['notes'])}</p>")
    if rec["rows"]:
        parts.append("<h3>Numbers beside the tutorial's</h3>")
        rows = [(r["quantity"], r["jaxnn"], r["tutorial"], r["match"]) for r in rec["rows"]]
        classes = [["", "num", "num", _match_class(r["match"])] for r in rec["rows"]]
        parts.append(_table(("quantity", "jaxnn", "tutorial", "match"), rows, classes))
        parts += [f'<p class="note">{_text(n)}</p>' for n in rec.get("row_notes", [])]
    if rec["backprop"]:
        parts.append("<h3>Manual vs autodiff</h3>")
        rows = [path_row(b) for b in rec["backprop"]]
        classes = []
        for b in rec["backprop"]:
            cls = path_verdict(b)[0]
            classes.append(
                [
                    "",
                    "num",
                    "num " + cls,
                    "num",
                    cls,
                    "ok" if b.get("check_grads", "").startswith("ok") else "bad",
                    "num",
                ]
            )
        parts.append(_table(PATH_HEADER, rows, classes))
        parts += [
            f'<p class="note"><b>Why {_text(b["part"])} ends apart:</b> {_text(b["note"])}</p>'
            for b in rec["backprop"]
            if b.get("note")
        ]
    if rec["figures"]:
        parts.append('<div class="figures">')
        parts += [_figure(out, fig) for fig in rec["figures"]]
        parts.append("</div>")
    if rec.get("console"):
        parts.append(
            "<details><summary>What it printed (the tutorial's form)</summary>"
            f"<pre>{html.escape(rec['console'])}</pre></details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def page(
    records: Sequence[dict], config: Config, out: Path, wall_s: float, cpu_s: float | None = None
) -> str:
    """index.html: one self-contained page (inline style, figures as data URIs, no scripts)."""
    nav = "".join(
        f'<a href="#{html.escape(r["name"])}">{html.escape(r["name"])}</a>' for r in records
    )
    body = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>jaxnn experiments — {_dt.datetime.now():%Y-%m-%d %H:%M}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><h1>jaxnn experiments</h1>",
        f'<p class="meta">{_text(settings(config, wall_s, cpu_s))}</p>',
        f'<nav><a href="#summary">summary</a>{nav}</nav></header><main>',
        '<section id="summary"><h2>Summary</h2>',
        f"<p>{_text(INTRO)}</p>",
        _summary(records),
        "</section>",
    ]
    body += [_section(rec, out) for rec in records]
    body.append("</main></body></html>")
    return "\n".join(body) + "\n"


def write(
    records: Sequence[dict], config: Config, out: Path, wall_s: float, cpu_s: float | None = None
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``index.html`` into ``out``; returns both paths."""
    md = out / "report.md"
    md.write_text(markdown(records, config, wall_s, cpu_s))
    index = out / "index.html"
    index.write_text(page(records, config, out, wall_s, cpu_s))
    return md, index


# --------------------------------------------------------------------------------------------
# Checking a page (the tests, and the screenshot script)
# --------------------------------------------------------------------------------------------

MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/gif": b"GIF8"}


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.tags = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag in ("img", "script", "link", "iframe", "source", "video", "audio", "embed"):
            self.images.append((tag, attrs))


def validate(index: Path, records: Sequence[dict] | None = None) -> list[str]:
    """Problems with a written ``index.html`` (an empty list when it is sound).

    Checks: one page with a title and a summary; nothing loaded from outside the file (no
    scripts, style sheets or frames; every image a ``data:`` URI whose bytes are the image
    type it claims); every in-page link points at an id on the page, every other link is a
    web address; and, given the run's ``records``, a section per experiment embedding each of
    its figures (byte for byte the file on disk beside the page).
    """
    text = index.read_text()
    scan = _Scan()
    scan.feed(text)
    problems = []
    if not text.lstrip().lower().startswith("<!doctype html>"):
        problems.append("no <!doctype html>")
    if "title" not in scan.tags or "summary" not in scan.ids:
        problems.append("no <title> or no summary section")
    embedded = {}
    for tag, attrs in scan.images:
        if tag != "img":
            problems.append(f"<{tag}> loads something outside the page: {attrs}")
            continue
        src = attrs.get("src", "")
        match = re.fullmatch(r"data:(image/\w+);base64,([A-Za-z0-9+/=]+)", src)
        if not match:
            problems.append(f"<img> not embedded: {src[:60]!r}")
            continue
        data = base64.b64decode(match.group(2))
        if not data.startswith(MAGIC.get(match.group(1), b"?")):
            problems.append(f"<img> {attrs.get('data-file')}: bytes are not {match.group(1)}")
        embedded[attrs.get("data-file")] = data
    for href in scan.links:
        if href.startswith("#"):
            if href[1:] not in scan.ids:
                problems.append(f"link to a missing anchor {href}")
        elif not href.startswith(("http://", "https://")):
            problems.append(f"link to a local file {href!r}")
    for rec in records or ():
        if rec["name"] not in scan.ids:
            problems.append(f"no section for {rec['name']}")
        for fig in rec["figures"]:
            on_disk = index.parent / fig["file"]
            if not on_disk.exists():
                problems.append(f"{rec['name']}: figure {fig['file']} does not exist")
            elif embedded.get(fig["file"]) != on_disk.read_bytes():
                problems.append(f"{rec['name']}: figure {fig['file']} is not embedded")
    return problems
