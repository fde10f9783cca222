"""`codewalk site`: a static, offline, cross-referenced site of the sources, notes and guides.

`build.build_site` is the entry point; `data` is the one module that imports the rest of
codewalk. Pages: `code_page` (one per source file, `highlight` + `panel`), `pages` (index, file
lists, guides, search index), `assets` (CSS/JS), `manifest` (incremental rebuilds); `player` writes
the scheduler and prefix-cache players (`play/`), fed by `player_data`.
"""
