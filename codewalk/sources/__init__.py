"""Named sources: the registry, fetching code (git, pip, folders), the built-in corpus, and which
checkout a source name means (`checkouts.py`)."""
