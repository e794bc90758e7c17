"""Sphinx configuration for the skllmers documentation.

Build (warnings are errors)::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import re

import skllmers

project = "skllmers"
author = "The skllmers developers"
copyright = "2026, the skllmers developers"
release = skllmers.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Off-line builds: references to other projects stay plain text.
intersphinx_mapping = {}
templates_path = []
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = "skllmers"
html_theme_options = {"navigation_with_keys": False}
# The pages have no sub-pages: no left sidebar, so that wide tables fit.
html_sidebars = {"**": []}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
nitpicky = False

# scikit-learn adds ``set_fit_request``, ``set_score_request``... (metadata routing) to
# every estimator class. Their docstrings cite sklearn's glossary and labels, which do
# not exist here; they document sklearn, not skllmers, so they are left out.
_SKLEARN_REQUEST_METHOD = re.compile(r"^set_\w+_request$")


def _skip_sklearn_request_methods(app, what, name, obj, skip, options):
    if _SKLEARN_REQUEST_METHOD.match(name.rsplit(".", 1)[-1]):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_request_methods)
