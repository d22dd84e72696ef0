"""Screenshots of the book (`make book`) in headless Chromium, to look at before publishing it.

Usage:

    python tools/screenshot_book.py [PAGE ...] [--search TERM]   # default: index.html 01_foundations.html

Serves build/book/ on localhost (the browser reaches nothing else: the site carries its own MathJax, fonts
and scripts) and writes into build/book-screenshots/: ``<page>.png`` (the first screen, formulas typeset,
the launch-button menu opened on chapters) and ``<page>-full.png`` (the whole page), plus
``search-<TERM>.png`` with ``--search``. Uses Debian's /usr/bin/chromium (tools/install_chromium.sh)
through Playwright, never Playwright's own browser download.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
OUT = ROOT / "build" / "book-screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]  # offline but for localhost
VIEWPORT = {"width": 1280, "height": 900}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def wait_for_math(page) -> None:
    """Until MathJax 2 has typeset the page (pages without math have no MathJax: nothing to wait for)."""
    if page.evaluate("typeof MathJax !== 'undefined' && !!MathJax.Hub"):
        page.wait_for_function("MathJax.isReady === true", timeout=60_000)  # startup queued the typesetting
        page.evaluate("MathJax.Hub.Queue(function () { window.bookMathDone = true; })")
        page.wait_for_function("window.bookMathDone === true", timeout=60_000)


def shoot(page, url: str, stem: str) -> list[Path]:
    page.goto(url, wait_until="load")
    wait_for_math(page)
    shots = [OUT / f"{stem}-full.png", OUT / f"{stem}.png"]
    page.screenshot(path=str(shots[0]), full_page=True)
    launch = page.locator(".dropdown-launch-buttons button")
    if launch.count():
        launch.first.click()
        page.locator("a[href*='colab.research.google.com']").wait_for(state="visible")
    page.screenshot(path=str(shots[1]))
    return shots


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", default=["index.html", "01_foundations.html"])
    parser.add_argument("--search", default=None, help="also photograph the search page's results for TERM")
    args = parser.parse_args(argv)
    if not (BOOK / "index.html").is_file():
        raise SystemExit(f"screenshot_book: no book in {BOOK}; run `make run` and `make book` first")
    if not CHROMIUM.exists():
        raise SystemExit(f"screenshot_book: {CHROMIUM} is missing; run tools/install_chromium.sh")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    server, base = serve(BOOK)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            for name in args.pages:
                for shot in shoot(page, f"{base}/{name}", Path(name).stem):
                    print(f"wrote {shot}")
            if args.search:
                page.goto(f"{base}/search.html?q={args.search}", wait_until="load")
                page.locator("#search-results ul.search li").first.wait_for(state="visible", timeout=30_000)
                shot = OUT / f"search-{args.search}.png"
                page.screenshot(path=str(shot))
                print(f"wrote {shot}")
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
