"""Developer script: render a run's ``index.html`` in headless Chromium and save screenshots.

    python -m experiments.screenshot [runs/latest/index.html] [--out shots/] [--width 1440]

Looks at the page the way a person would: a laptop-sized window (1440×900 by default), the
top of the page and then the whole page in one tall image, so layout problems (overflowing
tables, figures too small to read, legends over data) show up. Needs a Chromium (Debian:
``apt-get install chromium``); nothing is fetched from the network (the page is
self-contained, and the browser runs with networking features off). Not used by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(f"no Chromium found (tried {', '.join(BROWSERS)}); apt-get install chromium")


def screenshot(page: Path, png: Path, width: int, height: int, timeout: float = 120) -> Path:
    """Render ``page`` at ``width``×``height`` CSS pixels into ``png``; returns ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    if not png.exists():
        raise SystemExit(f"Chromium wrote no screenshot for {page}")
    return png


def page_height(page: Path, width: int) -> int:
    """A generous estimate of the page's height at ``width``, from its figures and tables."""
    text = page.read_text()
    images = text.count("<img")
    rows = text.count("<tr>")
    return min(60_000, 1200 + images * 520 + rows * 30 + text.count("<p") * 40)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("page", nargs="?", default="runs/latest/index.html")
    p.add_argument("--out", default="shots", help="directory for the PNGs (default shots/)")
    p.add_argument("--width", type=int, default=1440)
    p.add_argument("--height", type=int, default=900)
    args = p.parse_args(argv)
    page = Path(args.page)
    if not page.exists():
        raise SystemExit(f"{page} does not exist; run python -m experiments first")
    out = Path(args.out)
    top = screenshot(page, out / "top.png", args.width, args.height)
    full = screenshot(page, out / "full.png", args.width, page_height(page, args.width))
    print(f"wrote {top} and {full}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
