"""The triage phrases officers keep correcting (智能分拨): what ``triage.toml`` should change.

Counted by ``ioc.chain.reclassify`` each time a suggestion is accepted or corrected; read here,
the most corrected first, for ``python -m ioc phrases``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select

from ioc.store import models

_P = models.TriagePhrase


@dataclass(frozen=True)
class PhraseCount:
    kind: str  # "category" or "division"
    phrase: str
    suggested: str
    accepted: int
    corrected: int
    corrected_to: dict[str, int]  # value → times, the most frequent first

    @property
    def corrected_share(self) -> float:
        return self.corrected / max(self.accepted + self.corrected, 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "corrected_share": round(self.corrected_share, 3)}


def most_corrected(engine: Engine, kind: str | None = None, min_corrected: int = 1,
                   limit: int = 50) -> list[PhraseCount]:
    """Phrases corrected at least ``min_corrected`` times, the most corrected first."""
    query = select(_P).where(_P.corrected >= min_corrected)
    if kind:
        query = query.where(_P.kind == kind)
    query = query.order_by(_P.corrected.desc(), _P.accepted, _P.kind, _P.phrase).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [PhraseCount(r.kind, r.phrase, r.suggested, r.accepted, r.corrected,
                        dict(sorted((r.corrected_to or {}).items(), key=lambda kv: -kv[1])))
            for r in rows]
