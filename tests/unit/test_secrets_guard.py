"""The suite's secrets guard finds each kind of secret it claims to find, and no display prefix."""

from __future__ import annotations

import logging

from modelrail.auth.key_secret import display_of, new_secret
from tests.secrets_registry import SecretsGuard


def guarded(line: str, *args: object) -> list[str]:
    guard = SecretsGuard()
    # Its own logger, cut off from the session's guard: these lines leak on purpose.
    logger = logging.getLogger("secrets-guard-self-test")
    logger.propagate = False
    logger.addHandler(guard)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug(line, *args)
    finally:
        logger.removeHandler(guard)
    return guard.leaks()


def test_known_secrets_are_found() -> None:
    assert guarded("master key is %s", "mr-test-master-key-0123456789")
    assert guarded("upstream said: Bearer %s", "sk-upstream-secret-9876")
    assert guarded("pepper %s", "test-pepper-0123456789abcdef")


def test_secrets_are_found_by_their_shape() -> None:
    assert guarded("key %s", new_secret())
    assert guarded("generated mr-master-%s", "A" * 43)
    assert guarded("provider key sk-proj-%s", "b" * 40)
    assert guarded("provider key sk-ant-api03-%s", "c" * 40)


def test_display_prefixes_and_wrong_keys_are_not_secrets() -> None:
    assert not guarded("key %s used", display_of(new_secret()))
    assert not guarded("refused Bearer wrong-key-123")
    assert not guarded("request mr-a1b2c3d4 for team t")


def test_registered_secrets_are_found_in_added_text() -> None:
    guard = SecretsGuard()
    secret = guard.add("a-registered-secret-value")
    guard.add_text(f"server output ... {secret} ...")
    assert guard.leaks() == ["a-regi..."]
