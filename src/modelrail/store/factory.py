"""Build the key store from Settings (for the app, the CLI and tests)."""

from __future__ import annotations

from modelrail.auth.key_secret import KeyHasher, load_or_create_pepper
from modelrail.settings import Settings
from modelrail.store.db import Database, default_url
from modelrail.store.keys import KeyStore


def database_url(settings: Settings) -> str:
    return settings.database.url or default_url(settings.resolved_data_dir())


def build_key_store(settings: Settings, *, migrate: bool | None = None) -> KeyStore:
    """A store on the configured database. ``migrate`` overrides ``database.migrate_on_start``."""
    db = Database(
        database_url(settings),
        migrate=settings.database.migrate_on_start if migrate is None else migrate,
        echo=settings.database.echo,
    )
    pepper = load_or_create_pepper(settings.resolved_data_dir(), settings.auth.key_pepper)
    return KeyStore(db, KeyHasher(pepper))
