"""``python -m modelrail.testing.mock_openai``: the mock OpenAI upstream on uvicorn, for a user's
own app or a benchmark to call over the network."""

from __future__ import annotations

import argparse
import logging

from modelrail.testing.mock_config import DEFAULT_MODELS, DEFAULT_REPLY, MockConfig
from modelrail.testing.mock_openai import MockOpenAI


class _DropCutWarning(logging.Filter):
    """uvicorn logs an error for each deliberately cut response; here that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run the mock OpenAI upstream on uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token")
    parser.add_argument("--chunk-ms", type=float, default=0.0, help="delay between stream chunks")
    parser.add_argument("--chunks", type=int, default=10, help="content chunks per stream")
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    parser.add_argument("--echo", action="store_true", help="reply with the last user message")
    parser.add_argument("--api-key", default=None, help="answer 401 unless this bearer key is sent")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model ids")
    parser.add_argument("--check-models", action="store_true", help="404 for models not listed")
    parser.add_argument("--record", action="store_true", help="keep requests for GET /_mock/requests")
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = build_parser().parse_args(argv)
    config = MockConfig(
        reply=args.reply,
        echo=args.echo,
        chunks=args.chunks,
        ttft=args.ttft_ms / 1000,
        chunk_delay=args.chunk_ms / 1000,
        models=tuple(m for m in args.models.split(",") if m),
        api_key=args.api_key,
        check_models=args.check_models,
        record=args.record,
    )
    logging.getLogger("uvicorn.error").addFilter(_DropCutWarning())
    uvicorn.run(
        MockOpenAI(config),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=args.log_level,
        lifespan="on",
        # A hung fault never ends by itself; don't let it hold up shutdown.
        timeout_graceful_shutdown=1,
    )
