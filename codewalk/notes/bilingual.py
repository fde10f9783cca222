"""The two languages of the notes: which one the locale asks for (`default_lang`), and is every
note readable in both (`gaps`, `codewalk check --strict`)?

The schema already requires `en` and `zh`; this catches notes that satisfy it in form only: a
body that is blank, a Chinese body without Chinese text, or one that sends the reader to the
other language instead of saying the thing ("见英文部分", "see the English").
"""

from __future__ import annotations

import re
from typing import Any

_CJK = re.compile(r"[\u3400-\u9fff]")
_DEFERS = re.compile(r"见英文|参见英文|請見英文|see (the )?(english|chinese)|见中文", re.IGNORECASE)


def default_lang() -> str:
    """'zh' when the locale says Chinese, else 'en'."""
    import os

    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def gaps(notes: Any) -> list[str]:
    """One `file:line: message` per note whose en or zh text is missing, not in its language, or deferring."""
    out = []
    for n in notes.notes:
        where = f"{n.path}:{n.line}: note '{n.id}'"
        if not n.en.strip():
            out.append(f"{where} has no English text (en)")
        elif _DEFERS.search(n.en):
            out.append(f"{where}: en refers the reader to the other language")
        if not n.zh.strip():
            out.append(f"{where} has no Chinese text (zh)")
        elif not _CJK.search(n.zh):
            out.append(f"{where}: zh contains no Chinese text")
        elif _DEFERS.search(n.zh):
            out.append(f"{where}: zh refers the reader to the English text instead of giving it")
    return out
