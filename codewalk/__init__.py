"""codewalk: read KsanaLLM and vLLM through a symbol graph, notes, guides and a runnable core."""

__version__ = "0.1.0"
