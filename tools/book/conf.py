"""Sphinx configuration of the book (`make book`): myst-nb renders the notebooks `make run` executed.

tools/build_book.py copies this file into the staging folder it builds from (build/book-src/), with the
executed notebooks, a generated index.md and the MathJax the site serves itself. Nothing is executed
here (nb_execution_mode "off") and nothing is fetched from the network, at build time or by a reader's
browser. The launch buttons read the repository's address from helpers.plumbing (REPOSITORY, GIT_REF),
the one place it is set.
"""

from helpers.plumbing import GIT_REF, REPOSITORY

project = "Neural memory agent"
html_title = "Neural memory agent"
author = "the series' authors"
copyright = "the series' authors, MIT licence"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks write $...$ and $$...$$, and \begin{...} environments inside display math.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

nb_execution_mode = "off"  # the outputs are those of `make run`; a second execution would double the time
nb_merge_streams = True
nb_ipywidgets_js = {}  # widgets' JavaScript would come from a CDN: the book shows their static output only
# Widgets have no static rendering and tracebacks (cells tagged raises-exception) no strict lexing:
# saying so for every slider and error is noise.
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]

# MathJax 2.7 from the jupyter-server-mathjax wheel, copied into _static/mathjax/ by tools/build_book.py.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    # myst-nb marks each notebook's section mathjax_ignore and its math elements with the class "math".
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processRefs": False, "processEnvironments": False,
                "ignoreClass": "tex2jax_ignore|mathjax_ignore",
                "processClass": "tex2jax_process|mathjax_process|math|output_area"},
    "HTML-CSS": {"scale": 115, "availableFonts": ["STIX-Web"], "preferredFont": "STIX-Web", "webFont": "STIX-Web",
                 "imageFont": None},
    "showMathMenu": False,
    "messageStyle": "none",
}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = True  # the download button offers each executed notebook (_sources/NAME.ipynb)
html_show_sourcelink = False
html_last_updated_fmt = ""
html_theme_options = {
    "repository_url": f"https://github.com/{REPOSITORY}",
    "repository_branch": GIT_REF,
    "path_to_docs": "notebooks",  # chapter NAME.ipynb is notebooks/NAME.ipynb in the repository
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "use_download_button": True,
    "use_repository_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
