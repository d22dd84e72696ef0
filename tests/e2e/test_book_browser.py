"""The book (`make book`) in headless Chromium: a chapter's formulas are typeset by the MathJax the site
serves itself, its launch buttons point at Colab and Binder, and the search page finds a term of
notebook 04. The site is served from localhost and the browser reaches nothing else.

Source: the executed notebook 04 of `make run` (build/04_experience_replay.ipynb) when it is there, else
notebook 04 is executed here first (about 1-2 minutes on 2 cores). Screenshots: build/e2e/book-*.png.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import shutil
import threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "04_experience_replay"
SEARCH_TERM = "stratified"  # a word of notebook 04's prose and code, in no other chapter


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request
        pass


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _executed(path: Path) -> bool:
    return path.is_file() and any(c.cell_type == "code" and c.get("outputs")
                                  for c in nbformat.read(path, as_version=4).cells)


@pytest.fixture(scope="module")
def book_url(tmp_path_factory):
    try:
        import myst_nb  # noqa: F401
    except ImportError:  # NMA_E2E=1 (the only way here): a missing tool fails, it does not skip
        pytest.fail("NMA_E2E=1 but the book's tools are missing: pip install -r requirements-book.txt")
    base = tmp_path_factory.mktemp("book")
    source = base / "build"
    source.mkdir()
    built = ROOT / "build" / f"{CHAPTER}.ipynb"
    if _executed(built):
        shutil.copy(built, source / built.name)
    else:
        with pytest.MonkeyPatch.context() as env:  # restored afterwards: run_one drops MPLBACKEND for its kernel
            env.delenv("MPLBACKEND", raising=False)
            env.setenv("NMA_BUILD_DIR", str(source))  # the chapter's figures stay in the temporary folder
            record = _tool("run_notebooks").run_one(ROOT / "notebooks" / f"{CHAPTER}.ipynb", source, 600)
        (source / "times.json").write_text(json.dumps({"notebooks": {f"{CHAPTER}.ipynb": record}}))
    _tool("build_book").build(source, base / "book", strict=False)  # links to other chapters dangle
    handler = functools.partial(QuietHandler, directory=str(base / "book"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def book_browser(tmp_path_factory):
    """Headless Debian Chromium (fresh profile, offline flags of lab_harness) without a JupyterLab server."""
    from lab_harness import CHROMIUM, chromium_session

    if not CHROMIUM.exists():
        pytest.fail(f"NMA_E2E=1 but {CHROMIUM} is missing: run tools/install_chromium.sh (as root)")
    with chromium_session(tmp_path_factory.mktemp("book-chromium-profile")) as context:
        yield context


@pytest.fixture
def book_page(book_browser, book_url):
    """A fresh tab that records every request leaving localhost and every failed local request."""
    page = book_browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.outside, page.failed = [], []
    local = (book_url, "data:", "about:")
    page.on("request", lambda r: None if r.url.startswith(local) else page.outside.append(r.url))
    page.on("requestfailed", lambda r: page.failed.append(r.url) if r.url.startswith(book_url) else None)
    try:
        yield page
    finally:
        page.close()


@pytest.mark.e2e
def test_chapter_formulas_are_typeset_offline_with_launch_buttons(book_page, book_url, e2e_out):
    page = book_page
    page.goto(f"{book_url}/{CHAPTER}.html", wait_until="load")
    # MathJax 2 queues the page's typesetting during its startup: once it is ready, a callback queued
    # after that runs when the formulas are typeset.
    page.wait_for_function("window.MathJax && MathJax.isReady === true", timeout=60_000)
    page.evaluate("MathJax.Hub.Queue(function () { window.bookMathDone = true; })")
    page.wait_for_function("window.bookMathDone === true", timeout=60_000)
    # Under load MathJax may still be inserting its output when the callback runs: wait for the first element
    # (a page whose formulas never typeset still fails, after the timeout).
    found = "document.querySelectorAll('article .MathJax, article .MathJax_Display').length"
    try:
        page.wait_for_function(f"{found} > 0", timeout=60_000)
    except Exception:  # playwright's TimeoutError: the assert below says what is missing
        pass
    typeset = page.evaluate(found)
    errors = page.evaluate("document.querySelectorAll('article .MathJax_Error, article .merror').length")
    raw = page.evaluate("document.querySelector('article').innerText")
    assert typeset > 0, "no MathJax output elements in the chapter"
    assert errors == 0, f"{errors} formulas failed to typeset"
    assert "$$" not in raw and "\\(" not in raw and "\\[" not in raw, "raw TeX left in the chapter"
    colab = page.locator("a[href*='colab.research.google.com']")
    binder = page.locator("a[href*='mybinder.org']")
    assert colab.count() == 1 and binder.count() == 1
    assert page.locator(f"a[href*='_sources/{CHAPTER}.ipynb']").count() == 1, "no download of the notebook"
    page.locator(".dropdown-launch-buttons button").first.click()
    colab.wait_for(state="visible")
    page.screenshot(path=str(e2e_out / "book-chapter.png"))  # the top: title and the opened launch menu
    page.evaluate("(() => { const top = document.querySelector('.MathJax_Display').getBoundingClientRect().top;"
                  " window.scrollTo({top: top + window.scrollY - 250, behavior: 'instant'}); })()")
    page.wait_for_timeout(300)
    page.screenshot(path=str(e2e_out / "book-chapter-formula.png"))  # the first display formula, typeset
    # The wheel's MathJax has STIX-Web fonts only; HTML-CSS probes for a TeX font it may lack (harmless).
    failed = [url for url in page.failed if "/mathjax/fonts/HTML-CSS/TeX/" not in url]
    assert not failed, f"local requests failed: {failed}"
    assert not page.outside, f"the book reached outside its site: {page.outside[:5]}"


@pytest.mark.e2e
def test_search_finds_a_term_of_notebook_04(book_page, book_url, e2e_out):
    page = book_page
    page.goto(f"{book_url}/search.html?q={SEARCH_TERM}", wait_until="load")
    hits = page.locator("#search-results ul.search li")
    hits.first.wait_for(state="visible", timeout=30_000)
    links = page.locator("#search-results ul.search li a").evaluate_all("els => els.map(e => e.href)")
    assert any(f"{CHAPTER}.html" in link for link in links), links
    page.screenshot(path=str(e2e_out / "book-search.png"))
    assert not page.failed, f"local requests failed: {page.failed}"
    assert not page.outside, f"the book reached outside its site: {page.outside[:5]}"
