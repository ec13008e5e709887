"""All tables of every module that keeps data in the store, so Alembic sees one metadata.

A module that adds tables defines them on ``modelrail.store.models.Base`` and is imported here.
"""

from __future__ import annotations

from modelrail.store import models

metadata = models.Base.metadata

__all__ = ["metadata"]
