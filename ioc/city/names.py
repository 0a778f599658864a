"""Place names as people say them: a division's full name and its short form (长安镇 → 长安,
莞城街道 → 莞城, 松山湖(功能区) → 松山湖)."""

from __future__ import annotations

import re

# What a town's name carries after the place itself; the longest first.
_SUFFIXES = ("街道办事处", "街道办", "街道", "镇人民政府", "镇", "乡", "区", "市")
_BRACKETS = re.compile(r"[（(][^）)]*[）)]$")


def short_name(name_zh: str) -> str:
    """The name without its kind (镇 / 街道 / (功能区)); the full name when nothing would be left
    but one character (a town called 乡 stays 乡)."""
    bare = _BRACKETS.sub("", name_zh.strip())
    for suffix in _SUFFIXES:
        if bare.endswith(suffix) and len(bare) - len(suffix) >= 2:
            return bare[: -len(suffix)]
    return bare


def forms(name_zh: str) -> list[str]:
    """Every way a text may name the division: the full name, without brackets, the short form."""
    out = [name_zh.strip(), _BRACKETS.sub("", name_zh.strip()), short_name(name_zh)]
    return list(dict.fromkeys(n for n in out if n))
