"""Screenshots of the HTML report of each bundled example, with headless Chromium.

    python benchmarks/screenshots.py [--out DIR] [--width 900] [--height 2400] [EXAMPLE ...]

Writes ``DIR/<example>.html`` and ``DIR/<example>.png`` (default DIR: /tmp/ipt-report-shots).
Needs Debian's ``chromium`` package (``apt-get install -y chromium``) and Jinja2
(``pip install 'ipt-formulate[report]'``). The committed pictures in docs/ were made with
``--out docs/img --only grief role-dispute``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ipt_formulate._html import report

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def shoot(html: Path, png: Path, width: int, height: int, chromium: str) -> None:
    """One screenshot of ``html`` (a local file: the page needs no network)."""
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/ipt-report-shots")
    ap.add_argument("--width", type=int, default=900)
    ap.add_argument("--height", type=int, default=2400)
    ap.add_argument("--only", nargs="*", help="example names (default: all)")
    ap.add_argument("--keep-html", action="store_true", help="keep the HTML next to the PNG")
    args = ap.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or sorted(p.stem for p in EXAMPLES.glob("*.json"))
    for name in names:
        html = out / f"{name}.html"
        html.write_text(report((EXAMPLES / f"{name}.json").read_text()), encoding="utf-8")
        png = out / f"report-{name}.png"
        shoot(html, png, args.width, args.height, chromium)
        if not args.keep_html:
            html.unlink()
        print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
