"""Screenshots of the HTML report of each bundled example, with headless Chromium.

    python benchmarks/screenshots.py [--out DIR] [--width 900] [--height 2400] [--trim]
                                     [--only EXAMPLE ...]

Writes ``DIR/report-<example>.png`` (default DIR: /tmp/ipt-report-shots). Chromium shoots a
fixed window, so ``--trim`` cuts the blank page below the report off (with Pillow, which comes
with matplotlib: ``[plot]`` or ``[test]``): with a tall ``--height`` that gives the whole page,
saved with a 256-colour palette.
Needs Debian's ``chromium`` package (``apt-get install -y chromium``) and Jinja2
(``pip install 'ipt-formulate[report]'``). The committed pictures in docs/img were made with
``--out docs/img --height 6000 --trim --only grief mixed-dispute-transition``.
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


def trim(png: Path, margin: int = 24) -> None:
    """Cut the rows below the last non-background pixel (keeping ``margin`` px): a fixed
    window is either too short for a long report or leaves a blank tail under a short one.
    Saved with a 256-colour palette, maximum-coverage (median-cut greyed the legend's greens;
    on the committed pages every pixel stays within 7/255 of the shot): a third of the bytes."""
    from PIL import Image, ImageChops

    with Image.open(png) as shot:
        im = shot.convert("RGB")
    blank = Image.new("RGB", im.size, im.getpixel((0, 0)))
    box = ImageChops.difference(im, blank).getbbox()
    bottom = im.height if box is None else min(im.height, box[3] + margin)
    page = im.crop((0, 0, im.width, bottom))
    page.quantize(256, Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(
        png, optimize=True
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/ipt-report-shots")
    ap.add_argument("--width", type=int, default=900)
    ap.add_argument("--height", type=int, default=2400)
    ap.add_argument("--only", nargs="*", help="example names (default: all)")
    ap.add_argument("--keep-html", action="store_true", help="keep the HTML next to the PNG")
    ap.add_argument(
        "--trim", action="store_true", help="cut the blank page below the report; 256 colours"
    )
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
        if args.trim:
            trim(png)
        if not args.keep_html:
            html.unlink()
        print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
