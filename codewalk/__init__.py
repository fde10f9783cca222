"""codewalk: read KsanaLLM and vLLM through a symbol graph, notes, guides and a runnable core."""

from pkgutil import extend_path

# Run from a source checkout after `pip install .`, the checkout's codewalk/ shadows the installed
# one but has no compiled `_core` beside it: let the installed package's folder serve what the
# checkout lacks (the extension), while the checkout's own modules still come first.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
