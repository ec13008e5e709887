"""The worst inputs of every stage that reads a request's content, sent to a real server while
/healthz is polled: the event loop never stalls on them."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import yaml

from tests.server.conftest import MASTER_KEY, serve_modelrail

pytestmark = pytest.mark.slow

SIZE = 3_000_000  # characters: well inside the 8 MiB body cap
HOSTILE = {
    # One word: quadratic BPE for the token counter, backtracking for the router's patterns.
    "one word": "a" * SIZE,
    "call without a brace": "f(" * (SIZE // 2),
    "select without from": "SELECT " * (SIZE // 7),
    "semicolons then spaces": ";" * 10_000 + " " * SIZE + "x",
    "base64-like": "Zm9vYmFy" * (SIZE // 8),
}


def test_healthz_answers_within_100ms_while_hostile_prompts_are_processed(tmp_path) -> None:
    config = tmp_path / "modelrail.yaml"
    models = [
        {"name": "small", "provider": "fake", "reply": "ok"},
        {"name": "large", "provider": "fake", "reply": "ok"},
    ]
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {"master_key": MASTER_KEY},
                "models": models,
                # auto's difficulty rules scan the prompt; limits make admission count its tokens.
                "router": {"auto": {"cheap": "small", "premium": "large"}},
                "limits": {"models": {"small": {"tpm": 10**12}, "large": {"tpm": 10**12}}},
                "server": {"log_level": "warning"},
            }
        )
    )
    with serve_modelrail(config, tmp_path / "data") as served:  # type: ignore[attr-defined]
        url = served.url
        gaps: list[float] = []
        done = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    assert client.get("/healthz").status_code == 200
                    gaps.append(time.perf_counter() - started)
                    time.sleep(0.01)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        statuses = []
        with httpx.Client(base_url=url, timeout=60, headers={"authorization": f"Bearer {MASTER_KEY}"}) as client:
            for text in HOSTILE.values():
                body = {"model": "auto", "messages": [{"role": "user", "content": text}], "max_tokens": 5}
                statuses.append(client.post("/v1/chat/completions", json=body).status_code)
        done.set()
        poller.join(10)
    assert statuses == [200] * len(HOSTILE)
    assert len(gaps) > 10
    assert max(gaps) < 0.1, f"/healthz took {max(gaps) * 1000:.0f} ms at worst"


def test_modelrail_serve_closes_slow_and_silent_connections(tmp_path) -> None:
    import socket
    from urllib.parse import urlsplit

    config = tmp_path / "modelrail.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {"master_key": MASTER_KEY},
                "models": [{"name": "fake-chat", "provider": "fake", "reply": "ok"}],
                "server": {"header_timeout": 0.5, "read_timeout": 0.5, "max_connections_per_client": 8},
            }
        )
    )
    with serve_modelrail(config, tmp_path / "data") as served:  # type: ignore[attr-defined]
        parts = urlsplit(served.url)
        address = (parts.hostname, parts.port)

        def answer(sock: socket.socket) -> bytes:
            sock.settimeout(5)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data

        started = time.monotonic()
        with socket.create_connection(address) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")  # headers never finished
            assert answer(sock).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(address) as sock:
            head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            head += f"authorization: Bearer {MASTER_KEY}\r\n".encode()  # past auth, to the body
            sock.sendall(head + b"content-length: 5000\r\n\r\n{")  # a body that never comes
            assert answer(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 4
        held = [socket.create_connection(address) for _ in range(8)]
        try:
            time.sleep(0.2)
            with socket.create_connection(address) as extra:
                assert answer(extra).startswith(b"HTTP/1.1 429 ")
        finally:
            for sock in held:
                sock.close()
