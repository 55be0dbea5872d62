"""Staff reclassifications as labelled examples, in the training data's own format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import CorrectionRow


def corrections(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.scalars(select(CorrectionRow).order_by(CorrectionRow.id)):
        yield {"id": f"corr-{row.id}", "channel": row.channel, "text": row.text, "category": row.corrected,
               "predicted": row.predicted}
