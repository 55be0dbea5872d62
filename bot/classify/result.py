"""What the classifier says about one message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain import Category, Urgency


@dataclass(frozen=True)
class Classification:
    category: Category
    confidence: float
    language: str
    reasons: tuple[str, ...]
    scores: dict[str, float]

    @property
    def urgency(self) -> Urgency:
        return self.category.urgency

    @property
    def page(self) -> bool:
        return self.category is Category.ADVERSE_EVENT

    def as_json(self, message_id: str | None) -> dict[str, Any]:
        return {
            "id": message_id,
            "category": self.category.value,
            "urgency": self.urgency.value,
            "page": self.page,
            "confidence": round(self.confidence, 4),
            "language": self.language,
            "reasons": list(self.reasons),
        }


class Classifier(Protocol):
    def classify(self, text: str) -> Classification: ...
