"""Screenshots of the HTML book (`make book`) in headless Chromium, to look at before publishing it.

Usage:

    python tools/screenshot_book.py [PAGE ...]     # default: index.html 01_foundations.html

For each page in build/book/ it writes, into build/book/screenshots/:
``<page>.png`` (the whole page), ``<page>-top.png`` (the first screen) and, when the page has
exercises, ``<page>-exercises.png`` (the exercises section with its first solution opened, to check
that solutions are folded and open on click). Uses Debian's /usr/bin/chromium (tools/install_chromium.sh)
through Playwright, never Playwright's own browser download. The browser is offline: the book's MathJax,
which a reader's browser loads from a CDN, is served from Debian's libjs-mathjax when it is installed
(tools/install_chromium.sh installs it), so formulas look as readers see them; without it they show as
TeX source. Other remote resources (the launch badges' images, RequireJS) are not loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: remote badges and CDNs fail at once
VIEWPORT = {"width": 1280, "height": 900}
MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"  # nbconvert's default MathJax
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax")  # Debian's libjs-mathjax, the same MathJax 2.7
# The CDN's latest.js loads the newest MathJax.js with the same query; offline, load the local one.
LATEST_LOADER = (f"(function () {{ var s = document.createElement('script'); "
                 f"s.src = '{MATHJAX_CDN}MathJax.js?config=TeX-AMS_CHTML-full,Safe'; "
                 "document.head.appendChild(s); })();")
# Runs before the page's scripts: MathJax 2 calls AuthorInit, and "End" fires after the first typeset.
MATHJAX_DONE_FLAG = ("window.MathJax = {AuthorInit: function () { MathJax.Hub.Register.StartupHook("
                     "'End', function () { window.bookMathDone = true; }); }};")


def serve_mathjax(route) -> None:
    """Answer a request for the CDN's MathJax from the local copy (abort what it lacks)."""
    rest = route.request.url[len(MATHJAX_CDN):].split("?")[0]
    if rest == "latest.js":
        route.fulfill(content_type="application/javascript", body=LATEST_LOADER)
        return
    path = (LOCAL_MATHJAX / rest).resolve()
    if path.is_file() and path.is_relative_to(LOCAL_MATHJAX.resolve()):
        route.fulfill(path=str(path))
    else:
        route.abort()


def shoot(page, html: Path, out: Path) -> list[Path]:
    """Write the screenshots of one page; return their paths."""
    page.goto(html.as_uri(), wait_until="load")
    if LOCAL_MATHJAX.is_dir() and "mathjax" in html.read_text(encoding="utf-8").lower():
        page.wait_for_function("window.bookMathDone === true", timeout=60_000)
    stem = html.stem
    shots = [out / f"{stem}.png", out / f"{stem}-top.png"]
    page.screenshot(path=str(shots[0]), full_page=True)
    page.screenshot(path=str(shots[1]))
    details = page.locator("details.book-solution")
    if details.count():
        heading = page.locator("h2#Exercises")
        if heading.count():
            heading.first.scroll_into_view_if_needed()
        if page.evaluate("[...document.querySelectorAll('details.book-solution')].some(d => d.open)"):
            raise SystemExit(f"screenshot_book: a solution in {html.name} is open before any click")
        details.first.locator("summary").click()
        if not details.first.evaluate("d => d.open"):
            raise SystemExit(f"screenshot_book: clicking 'Solution' in {html.name} did not open it")
        top = heading.first.bounding_box() if heading.count() else details.first.bounding_box()
        page.evaluate(f"window.scrollTo(0, {max(top['y'] + page.evaluate('window.scrollY') - 20, 0)})")
        shots.append(out / f"{stem}-exercises.png")
        page.screenshot(path=str(shots[-1]))
    return shots


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", default=["index.html", "01_foundations.html"])
    parser.add_argument("--book", type=Path, default=BOOK, help="folder of the built book")
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        raise SystemExit(f"screenshot_book: {CHROMIUM} is missing; run tools/install_chromium.sh (as root)")
    from playwright.sync_api import sync_playwright

    out = args.book / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            if LOCAL_MATHJAX.is_dir():
                page.add_init_script(MATHJAX_DONE_FLAG)
                page.route(MATHJAX_CDN + "**", serve_mathjax)
            else:
                print(f"note: {LOCAL_MATHJAX} is missing (apt-get install libjs-mathjax): formulas show as TeX")
            for name in args.pages:
                html = args.book / name
                if not html.is_file():
                    raise SystemExit(f"screenshot_book: {html} does not exist; run `make book` first")
                for shot in shoot(page, html, out):
                    print(f"wrote {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
