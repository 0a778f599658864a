"""Triage of citizens' words (智能分拨): the division and the category a free text suggests, the
department that owns it, and why.

Only the city pack is needed (its divisions, key points and ``triage.toml``), so this sits in
``ioc/city``, below everything that uses it: the intake (a suggestion for reports that come with no
place or no category), the chain (the department of a corrected category), the read models (the
suggestion on the incident page) and the CLI (``python -m ioc triage FILE.csv``).

Matching: every phrase and place name found in the text, the longest first; a shorter one inside a
longer one already found does not count (公交站牌 is a facility, not 公交). Phrases of a single
character count only as whole words, which jieba finds with the pack's phrases and places added
to its dictionary (火 is fire, 火车站 is not). The category and the division with the most matched
characters win; a tie goes to the one named first in the text.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from ioc.city.names import forms
from ioc.city.pack import CityPack, read_toml
from ioc.errors import UserError
from ioc.i18n import t
from ioc.records import CATEGORIES

log = logging.getLogger(__name__)

TRIAGE = "triage.toml"
TOWN = "town"  # the department of a category owned by the office of the report's division
SHOWN_REASONS = {"division": 2, "category": 3}  # the phrases a suggestion names, first in the text first


class CategoryRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = TOWN
    phrases: list[str] = []


class TriageFile(BaseModel):
    """``triage.toml``: places (village, community, landmark → division) and category phrases."""

    model_config = ConfigDict(extra="forbid")

    places: dict[str, str] = {}
    categories: dict[str, CategoryRule] = {}

    @field_validator("categories")
    @classmethod
    def _known(cls, value: dict[str, CategoryRule]) -> dict[str, CategoryRule]:
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {', '.join(unknown)} (known: those of ioc/records.py)")
        return value


@dataclass(frozen=True)
class Reason:
    kind: Literal["division", "category"]
    phrase: str
    value: str  # the division code or the category the phrase points to


@dataclass(frozen=True)
class Suggestion:
    division: str | None = None
    category: str | None = None
    org: str | None = None
    reasons: tuple[Reason, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.division or self.category)

    def as_dict(self) -> dict[str, Any]:
        return {"division": self.division, "category": self.category, "org": self.org,
                "reasons": [[r.kind, r.phrase, r.value] for r in self.reasons]}

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Suggestion:
        data = data or {}
        return cls(data.get("division"), data.get("category"), data.get("org"),
                   tuple(Reason(k, p, v) for k, p, v in data.get("reasons") or ()))

    def only(self, division: bool, category: bool) -> Suggestion:
        """The parts a report lacks: keep the division and / or the category (and their reasons)."""
        keep = {"division"} if division else set()
        keep |= {"category"} if category else set()
        return Suggestion(self.division if division else None, self.category if category else None,
                          self.org if category else None, tuple(r for r in self.reasons if r.kind in keep))


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    phrase: str
    kind: str
    value: str


class Triage:
    """One pack's phrases and places, ready to read texts."""

    def __init__(self, pack: CityPack) -> None:
        self.pack = pack
        rules = read_file(pack.path)
        self.categories = rules.categories
        codes = {d.code for d in pack.divisions()}
        self.names = {d.code: (d.name_zh, d.name_en) for d in pack.divisions()}
        places: dict[str, str] = {}
        for point in pack.key_points():
            if point.district_code in codes and len(point.name_zh) >= 3:
                places[point.name_zh] = point.district_code
        for name, code in rules.places.items():
            if code not in codes:
                raise UserError(f"{pack.path / TRIAGE}: [places] {name!r}: {code} is not a division of the pack")
            places[name] = code
        for d in pack.divisions():  # the divisions' own names last: they win over a same-named place
            places |= dict.fromkeys(forms(d.name_zh), d.code)
        self.places = places
        phrases = [(p, c) for c, rule in self.categories.items() for p in rule.phrases if p]
        self._long = [(p, "category", c) for p, c in phrases if len(p) > 1] + \
                     [(p, "division", code) for p, code in places.items()]
        self._long.sort(key=lambda x: -len(x[0]))
        # by first two characters (one for a phrase of one), in that longest-first order: a text
        # is only searched for the phrases that start with one of its character pairs
        self._starting: dict[str, list[int]] = {}
        for n, (phrase, _, _) in enumerate(self._long):
            self._starting.setdefault(phrase[:2], []).append(n)
        self._single = {p: c for p, c in phrases if len(p) == 1}
        self._tokenizer = None
        self._lock = threading.Lock()

    # -- reading a text -----------------------------------------------------------------------

    def suggest(self, text: str) -> Suggestion:
        text = normalise(text)
        spans = self._spans(text)
        division = _winner([s for s in spans if s.kind == "division"])
        category = _winner([s for s in spans if s.kind == "category"])
        reasons = [Reason("division", s.phrase, s.value) for s in _firsts(spans, "division", division)][:SHOWN_REASONS["division"]]
        reasons += [Reason("category", s.phrase, s.value)
                    for s in _firsts(spans, "category", category)][:SHOWN_REASONS["category"]]
        org = self.owner(category, division) if category else None
        return Suggestion(division, category, org, tuple(reasons))

    def _spans(self, text: str) -> list[_Span]:
        taken = [False] * len(text)
        spans: list[_Span] = []
        starts = {text[i:i + 2] for i in range(len(text))}  # every pair and (below) every character
        starts.update(text)
        candidates = sorted(n for key in starts for n in self._starting.get(key, ()))
        for phrase, kind, value in (self._long[n] for n in candidates):
            # str.find, not a regex per phrase: a thousand patterns overflow re's cache and every
            # text recompiled them all (ingest fell to 30 reports a second).
            start = text.find(phrase)
            while start != -1:
                end = start + len(phrase)
                if not any(taken[start:end]):
                    spans.append(_Span(start, end, phrase, kind, value))
                    taken[start:end] = [True] * (end - start)
                start = text.find(phrase, end)
        if self._single and any(ch in text for ch in self._single):
            at = 0
            for word in self.tokenizer().lcut(text):
                if word in self._single and not taken[at]:
                    spans.append(_Span(at, at + 1, word, "category", self._single[word]))
                at += len(word)
        return sorted(spans, key=lambda s: s.start)

    def tokenizer(self):  # noqa: ANN201 - jieba.Tokenizer
        """jieba with the pack's words, loaded on first need (0.6 s, offline)."""
        with self._lock:
            if self._tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                for phrase, kind, _ in self._long:
                    tokenizer.add_word(phrase, tag="ns" if kind == "division" else "n")
                self._tokenizer = tokenizer
            return self._tokenizer

    # -- who owns it --------------------------------------------------------------------------

    def owner(self, category: str, division: str | None) -> str | None:
        """The department of ``category`` from ``triage.toml`` (the division's office for "town"),
        else the pack's routing."""
        rule = self.categories.get(category)
        department = rule.department if rule else _routed_department(self.pack, category)
        if department == TOWN:
            return next((o.code for o in self.pack.orgs() if o.kind == "office" and o.district_code == division),
                        None)
        return department


def _routed_department(pack: CityPack, category: str) -> str:
    service = pack.rules.routing.services.get(category, pack.rules.routing.default)
    if service == TOWN:
        return TOWN
    return next((o.code for o in pack.orgs() if o.kind == "department" and o.service == service), TOWN)


def _winner(spans: list[_Span]) -> str | None:
    score: dict[str, int] = {}
    first: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for s in spans:
        first.setdefault(s.value, s.start)
        if (s.value, s.phrase) not in seen:  # a phrase said twice counts once
            seen.add((s.value, s.phrase))
            score[s.value] = score.get(s.value, 0) + (s.end - s.start)
    if not score:
        return None
    return min(score, key=lambda v: (-score[v], first[v]))


def _firsts(spans: list[_Span], kind: str, value: str | None) -> list[_Span]:
    """The distinct phrases that led to ``value``, in the order of the text."""
    out: dict[str, _Span] = {}
    for s in spans:
        if s.kind == kind and s.value == value:
            out.setdefault(s.phrase, s)
    return list(out.values())


_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Full-width letters and digits as ASCII, upper case, spaces removed (KTV, ｋｔｖ, k t v alike)."""
    text = "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text or "")
    return _SPACE.sub("", text).upper()


# --- the file ---------------------------------------------------------------------------------


def read_file(pack_dir: Path) -> TriageFile:
    """``triage.toml`` of a pack (empty rules when the pack has none)."""
    return read_toml(pack_dir / TRIAGE, TriageFile)


_CACHE: dict[Path, Triage] = {}
_CACHE_LOCK = threading.Lock()


def for_pack(pack: CityPack) -> Triage:
    """The pack's triage, built once per process."""
    with _CACHE_LOCK:
        triage = _CACHE.get(pack.path)
        if triage is None or triage.pack is not pack:
            triage = _CACHE[pack.path] = Triage(pack)
        return triage


# --- saying why -------------------------------------------------------------------------------


def explain(suggestion: Suggestion, lang: str, names: dict[str, tuple[str, str | None]]) -> str:
    """"'长安' in the text; '噪音' → Noise" (or in Chinese: 文中有“长安”；“噪音” → 噪音扰民)."""
    parts = []
    for r in suggestion.reasons:
        if r.kind == "division":
            zh, en = names.get(r.value, (r.value, None))
            shown = (en or zh) if lang == "en" else zh
            named = r.phrase in forms(zh or "")
            parts.append(t("triage.reason.place" if named else "triage.reason.place_in", lang,
                           phrase=r.phrase, division=shown))
        else:
            parts.append(t("triage.reason.category", lang, phrase=r.phrase, category=t(f"category.{r.value}", lang)))
    return t("triage.reason.sep", lang).join(parts) if parts else t("triage.reason.none", lang)
