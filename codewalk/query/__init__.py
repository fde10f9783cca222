"""The query layer: name lookup, call resolution, graphs, the index session, and the answers
(`answer.py`) the views render: plain documents built from the store and the notes."""
