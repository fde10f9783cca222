"""Reading guides: their schema, their steps resolved against checkouts, computed diagrams, and
exports (`export/`)."""
