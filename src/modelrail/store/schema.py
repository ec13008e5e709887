"""All tables of every module that keeps data in the store, so Alembic sees one metadata.

A module that adds tables defines them on ``modelrail.store.models.Base`` and is imported here.
"""

from __future__ import annotations

from modelrail.store import models
from modelrail.usage.ledger_table import usage_ledger

metadata = models.Base.metadata
# The ledger defines its table on its own metadata (it can also run on a database of its own).
usage_ledger.to_metadata(metadata)

__all__ = ["metadata"]
