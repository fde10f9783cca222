"""Notes on the code: their schema and loading, fingerprints, drift checks, refresh, the two
languages, and the git history of a symbol."""
