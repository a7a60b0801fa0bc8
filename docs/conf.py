"""Sphinx configuration of ganlit's documentation (MyST Markdown pages, API from the docstrings, furo theme).

Build: ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from ganlit import __version__  # noqa: E402

project = "ganlit"
author = "the ganlit authors"
copyright = "the ganlit authors, MIT license"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the site itself: the pages load nothing from the internet
    "ganlit_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"ganlit {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Every reference into ganlit must resolve (-n); names of other projects (torch, Lightning, the standard library)
# are not resolvable offline, so they are the only ones let through.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!ganlit\b).*")]
