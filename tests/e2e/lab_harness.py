"""Harness for the browser end-to-end tests: a throw-away JupyterLab server and headless Chromium.

Nothing here is specific to one notebook. The pieces:

* `JupyterLabServer`: `jupyter lab` on 127.0.0.1, a free port and a random token, serving a folder
  (the tests give it a temporary copy of notebooks/), with its own settings, workspaces and runtime
  folders so that neither the user's JupyterLab state nor the network changes what the browser sees.
  `stop()` shuts kernels and server down through the REST API, then kills the process group.
* `launch_chromium`: Debian's /usr/bin/chromium driven by Playwright (never Playwright's own browser
  download), headless, fresh profile, no network except 127.0.0.1.
* `Notebook`: open a notebook in a page, run all cells from the Run menu, wait until the kernel is idle
  and every code cell has run, find a widget, read the images a cell shows.
* `write_scratch_notebook`: the harness' own self-test notebook (a β FloatLogSlider redrawing a
  matplotlib plot), written into the temporary copy, never into the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
OUT = REPO / "build" / "e2e"  # screenshots and the JupyterLab log; build/ is gitignored
SCRATCH = "e2e_scratch.ipynb"  # the self-test notebook, written into the temporary copy only

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Flags for a quiet, deterministic, offline headless browser. `--headless` itself is added by
# Playwright (headless=True); the profile directory is passed by launch_persistent_context.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Only the local JupyterLab is reachable: the notebooks' badge images (colab, mybinder) would
    # otherwise hang on DNS on an offline CI machine and slow every page load.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_executable() -> Path:
    """The `jupyter` next to the running Python (the project's .venv), else the one on PATH."""
    here = Path(sys.executable).parent / "jupyter"
    if here.exists():
        return here
    found = shutil.which("jupyter")
    if found is None:
        raise FileNotFoundError("no `jupyter` next to this Python or on PATH: run `make setup`")
    return Path(found)


class JupyterLabServer:
    """`jupyter lab` serving ``root_dir`` on 127.0.0.1 with a token; use as a context manager."""

    def __init__(self, root_dir: Path, state_dir: Path, log_path: Path, startup_timeout: float = 90.0):
        self.root_dir = Path(root_dir)
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, notebook: str) -> str:
        """URL that opens ``notebook`` (relative to root_dir) alone in JupyterLab, logged in by token.

        Each notebook gets a workspace of its own, so tabs opened by an earlier test are not restored.
        """
        workspace = re.sub(r"[^A-Za-z0-9]+", "-", notebook).strip("-")
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    # -- REST --------------------------------------------------------------------------------------
    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(
            f"{self.base_url}/api{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in ("POST", "DELETE") else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut every running kernel down (frees the CPU between tests)."""
        with contextlib.suppress(Exception):
            for kernel in self.api("/kernels"):
                with contextlib.suppress(Exception):
                    self.api(f"/kernels/{kernel['id']}", method="DELETE", timeout=15)

    # -- life cycle --------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Isolated JupyterLab state: no user settings or saved workspace, no news/update pop-ups.
        settings = self.state_dir / "settings"
        for plugin, values in [
            ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
            # Every cell stays in the DOM (no virtual scrolling), so prompts and widgets can be read.
            ("notebook-extension/tracker", {"windowingMode": "none"}),
        ]:
            path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        for var, sub in [
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("IPYTHONDIR", "ipython"),
            ("NMA_BUILD_DIR", "nma-build"),  # notebooks' save_figure output stays out of the repo
        ]:
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.state_dir / sub)
        # CI exports MPLBACKEND=Agg; in a kernel that would make plt.show() draw nothing. Let
        # ipykernel pick the inline backend, as on a learner's machine.
        env.pop("MPLBACKEND", None)
        env.setdefault("NMA_DEVICE", "cpu")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> JupyterLabServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # closed in stop()
        last_error = None
        for _attempt in range(3):  # the free port can be taken between free_port() and bind
            self.port = free_port()
            cmd = [
                str(jupyter_executable()),
                "lab",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={self.root_dir}",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--ServerApp.shutdown_no_activity_timeout=900",  # a leaked server ends itself
                "--MappingKernelManager.cull_idle_timeout=900",
                "--MappingKernelManager.cull_interval=60",
            ]
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() kills it whole
                # A killed pytest (CI timeout, SIGKILL) never runs stop(): the server then ends
                # itself, and its kernels follow it (they watch their parent's pid).
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            try:
                self._wait_ready()
                return self
            except RuntimeError as err:
                last_error = err
                self._kill()
        self.stop()
        raise RuntimeError(f"JupyterLab did not start: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; log: {self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                if "version" in self.api("", timeout=2):
                    return
            time.sleep(0.25)
        raise RuntimeError(f"/api not answering after {self.startup_timeout:.0f} s; log: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def _kill(self) -> None:
        if self.proc is None:
            return
        for sig, wait in [(signal.SIGTERM, 10), (signal.SIGKILL, 5)]:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)
        # The group leader is gone; kill whatever else is left in its group (the server's helpers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Shut down kernels (they run in sessions of their own), the server, then its process group."""
        if self.proc is not None and self.proc.poll() is None:
            self.shutdown_kernels()
            with contextlib.suppress(Exception):
                self.api("/shutdown", method="POST", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> JupyterLabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- browser ---------------------------------------------------------------------------------------
def launch_chromium(playwright, user_data_dir: Path):
    """A persistent (fresh-profile) headless Chromium context using Debian's /usr/bin/chromium."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1400},
        device_scale_factor=1,
        timeout=60_000,
    )


@contextlib.contextmanager
def chromium_session(user_data_dir: Path):
    """Playwright driving ``launch_chromium`` (30 s default timeout), closed on exit; a missing Playwright is
    an error (the e2e tests run only when asked to, so they never skip silently)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise RuntimeError("NMA_E2E=1 but playwright is not installed: pip install -r requirements-test.txt") from err
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, user_data_dir)
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


# -- notebook in a page ----------------------------------------------------------------------------
_PROMPT_RUNNING = re.compile(r"\[\*\]")


class Notebook:
    """The open JupyterLab notebook in ``page``: run it, wait for it, find its widgets."""

    def __init__(self, page, server: JupyterLabServer, name: str):
        self.page = page
        self.server = server
        self.name = name
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first

    def open(self, timeout: float = 90.0) -> Notebook:
        self.page.goto(self.server.lab_url(self.name), wait_until="domcontentloaded", timeout=timeout * 1000)
        self.panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="attached", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        return self

    def kernel_status(self) -> str:
        """'idle', 'busy', 'starting', ... of the notebook's kernel, '' while it has none.

        Both the status bar ("Python 3 (ipykernel) | Idle") and the toolbar's execution indicator
        must agree: the indicator alone says 'idle' for a moment before any kernel is connected, and
        a Run All sent then is silently dropped.
        """
        return self.page.evaluate(
            """() => {
                const item = document.querySelector('.jp-StatusBar-TextItem[title^="Change kernel"]');
                const text = item ? item.textContent : '';
                const cut = text.lastIndexOf(' | ');
                if (cut < 0 || text.startsWith('No Kernel')) return '';
                const bar = text.slice(cut + 3).trim().toLowerCase();
                const ind = document.querySelector(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                const tool = ind ? (ind.getAttribute('data-status') || '') : '';
                return bar === tool ? bar : bar + '/' + tool;
            }"""
        )

    def prompts(self) -> list[str]:
        """Input prompts of every code cell, e.g. '[3]:', '[*]:', '[ ]:'."""
        return self.panel.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()

    def wait_kernel_idle(self, timeout: float = 60.0, settle: float = 0.5) -> None:
        """Wait until the kernel reports idle and no cell is running or queued, for ``settle`` s."""
        deadline = time.monotonic() + timeout
        idle_since = None
        while time.monotonic() < deadline:
            busy = self.kernel_status() != "idle" or any(_PROMPT_RUNNING.search(p) for p in self.prompts())
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= settle:
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name}: kernel not idle after {timeout:.0f} s (status {self.kernel_status()!r}, "
            f"prompts {self.prompts()})"
        )

    def menu(self, menu: str, item: str) -> None:
        """Click main-menu ``menu`` (e.g. 'Run') then its item ``item`` (e.g. 'Run All Cells')."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{re.escape(menu)}\s*$")).first.click()
        entry = self.page.locator(
            ".lm-Menu .lm-Menu-item:not(.lm-mod-disabled)",
            has=self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^\s*{re.escape(item)}\s*$")),
        ).first
        entry.click()

    def run_all(self, timeout: float = 120.0) -> float:
        """Run > Run All Cells, wait for the kernel, assert every code cell ran. Returns seconds."""
        start = time.monotonic()
        started = lambda: any(p.strip() != "[ ]:" for p in self.prompts())  # noqa: E731
        for attempt in range(2):
            # Focus the notebook so the Run menu targets it.
            self.panel.locator(".jp-Cell").first.click(position={"x": 5, "y": 5})
            self.menu("Run", "Run All Cells")
            try:  # wait until execution has visibly started...
                self._wait(started, 15)
                break
            except TimeoutError:
                if attempt:
                    raise
                print(f"{self.name}: Run All Cells started nothing in 15 s; retrying once")
                self.wait_kernel_idle(60)  # ...else the request was lost: once more, kernel ready
        self.wait_kernel_idle(timeout)  # ...then until everything has finished
        not_run = [i for i, p in enumerate(self.prompts()) if not re.search(r"\[\d+\]", p)]
        if not_run:
            raise AssertionError(
                f"{self.name}: code cells {not_run} did not run after Run All Cells; errors shown: {self.error_texts()}"
            )
        return time.monotonic() - start

    def error_texts(self) -> list[str]:
        return [
            t[-1500:]
            for t in self.panel.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            ).all_inner_texts()
        ]

    def _wait(self, predicate, timeout: float, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{self.name}: condition not met in {timeout:.0f} s")

    # -- widgets -----------------------------------------------------------------------------------
    # Each finder returns a locator relative to nothing (built on the page) so that it can be used
    # both inside the notebook panel and as the `has=` filter of `cell_of`.
    def slider_selector(self, description: str):
        """The ipywidgets slider whose description label contains ``description``."""
        return self.page.locator(".widget-slider", has=self.page.locator(".widget-label", has_text=description))

    def button_selector(self, description: str):
        """The ipywidgets button whose text is exactly ``description``."""
        return self.page.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))

    def find(self, selector):
        """First match of ``selector`` inside the open notebook."""
        return self.panel.locator(selector).first

    def require(self, selector, what: str, timeout: float = 30.0):
        """First visible match of ``selector``; a clear AssertionError naming ``what`` if none shows."""
        found = self.find(selector)
        try:
            found.wait_for(state="visible", timeout=timeout * 1000)
        except Exception as err:  # playwright's TimeoutError
            raise AssertionError(
                f"{self.name}: no {what} visible {timeout:.0f} s after Run All Cells "
                f"({self.panel.locator(selector).count()} in the DOM)"
            ) from err
        return found

    def cell_of(self, selector):
        """The notebook cell that contains a match of ``selector``."""
        return self.panel.locator(".jp-Cell", has=selector).first

    def output_scope(self, selector):
        """Where a control's plot is drawn: its `interact` box when it has one, else its cell's outputs."""
        interact = self.panel.locator(".widget-interact", has=selector)
        if interact.count():
            return interact.last
        return self.cell_of(selector).locator(".jp-Cell-outputArea").first

    @staticmethod
    def image_srcs(scope) -> list[str]:
        """`src` of every rendered image (matplotlib inline PNGs are data: URLs) inside ``scope``."""
        return scope.locator(".jp-OutputArea-output img").evaluate_all("els => els.map(e => e.src)")

    def wait_for_images(self, scope, timeout: float = 30.0) -> list[str]:
        """The image srcs in ``scope`` once there is at least one."""
        return self._wait(lambda: self.image_srcs(scope), timeout)

    def nudge_slider(self, slider, presses: int = 5) -> tuple[str, str]:
        """Move ``slider`` by ``presses`` keyboard steps, towards whichever end is farther away.

        Uses the arrow keys on the focused noUiSlider handle, as a keyboard user would. Returns the
        readout text before and after.
        """
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout").first
        before = readout.inner_text()
        now, lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
        key = "ArrowRight" if hi - now >= now - lo else "ArrowLeft"
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(presses):
            handle.press(key)
        after = self._wait(lambda: (t := readout.inner_text()) != before and t, 10)
        return before, after

    def wait_for_new_images(self, scope, before: list[str], timeout: float = 60.0) -> list[str]:
        """Wait until the images in ``scope`` differ from ``before`` and the kernel is idle again."""
        self._wait(lambda: (srcs := self.image_srcs(scope)) and srcs != before, timeout)
        self.wait_kernel_idle(timeout)
        return self.image_srcs(scope)

    @staticmethod
    def mark_images(scope) -> int:
        """Tag the images now in ``scope`` so that a redraw (even of identical pixels) can be seen."""
        return scope.locator(".jp-OutputArea-output img").evaluate_all(
            "els => { els.forEach(e => e.setAttribute('data-e2e-old', '1')); return els.length; }"
        )

    def wait_for_redraw(self, scope, timeout: float = 120.0) -> list[str]:
        """Wait until ``scope`` shows an image that was not there at `mark_images`; kernel idle."""
        fresh = scope.locator(".jp-OutputArea-output img:not([data-e2e-old])")
        self._wait(lambda: fresh.count() > 0, timeout, interval=0.5)
        self.wait_kernel_idle(timeout)
        return self.image_srcs(scope)

    @staticmethod
    def screenshot(locator, path: Path) -> Path:
        """Screenshot of one element (scrolled into view) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(path), animations="disabled")
        return path


def write_scratch_notebook(path: Path) -> Path:
    """The harness' self-test notebook: a β FloatLogSlider that redraws a matplotlib plot, and a
    'Run' button that redraws a figure.

    Same shape as notebook 02's demo (softmax read weights over memory slots, sharpened by β),
    built only from numpy/matplotlib/ipywidgets so the self-test does not depend on the series.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [
        new_markdown_cell("# e2e scratch: β slider redraws read weights"),
        new_code_cell(
            "import ipywidgets as widgets\n"
            "import matplotlib.pyplot as plt\n"
            "import numpy as np\n"
            "from IPython.display import display\n"
            "\n"
            "similarity = np.cos(np.linspace(0, 3, 12))"
        ),
        # Notebooks of the series have cells tagged raises-exception; Run All must go past them.
        new_code_cell(
            "raise ValueError('expected: this cell is tagged raises-exception')",
            metadata={"tags": ["raises-exception"]},
        ),
        new_code_cell(
            "beta = widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=2, step=0.1,\n"
            "                              description='β (sharpness)', continuous_update=False)\n"
            "\n"
            "def plot(beta):\n"
            "    w = np.exp(beta * similarity)\n"
            "    w /= w.sum()\n"
            "    fig, ax = plt.subplots(figsize=(5, 2.5))\n"
            "    ax.bar(np.arange(len(w)), w)\n"
            "    ax.set(title=f'read weights, β = {beta:.3g}', xlabel='slot', ylabel='weight', ylim=(0, 1))\n"
            "    plt.show()\n"
            "\n"
            "out = widgets.interactive_output(plot, {'beta': beta})\n"
            "display(beta, out)"
        ),
        # Like notebook 07's playground: a 'Run' button that redraws a figure (identical each time,
        # so the harness must notice a redraw, not just different pixels).
        new_code_cell(
            "run = widgets.Button(description='Run')\n"
            "figure = widgets.Output()\n"
            "\n"
            "def on_run(_=None):\n"
            "    with figure:\n"
            "        figure.clear_output(wait=True)\n"
            "        fig, ax = plt.subplots(figsize=(5, 2.5))\n"
            "        ax.plot(np.arange(12), similarity)\n"
            "        ax.set(title='playground', xlabel='slot', ylabel='similarity')\n"
            "        plt.show()\n"
            "\n"
            "run.on_click(on_run)\n"
            "on_run()\n"
            "display(run, figure)"
        ),
        new_code_cell("print('done')"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    path = Path(path)
    nbformat.write(nb, path)
    return path
