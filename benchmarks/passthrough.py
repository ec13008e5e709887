"""The bare Python floor: the least a Python gateway can do per request.

One ASGI function on uvicorn (uvloop, httptools): read the body, parse it with orjson, check one
Authorization header, forward through one pooled aiohttp session, re-serialize the answer (or pass
SSE bytes through as they arrive). modelrail's added latency is judged against this.

    python benchmarks/passthrough.py --port 9200 --upstream http://127.0.0.1:9100/v1
"""

import argparse

import aiohttp
import orjson
import uvicorn


def make_app(upstream: str, key: str, upstream_key: str):
    expected = f"Bearer {key}".encode()
    forward_headers = {"Authorization": f"Bearer {upstream_key}", "Content-Type": "application/json"}
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            await state["session"].close()
            return await send({"type": "lifespan.shutdown.complete"})
        if dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            return await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        data = orjson.loads(body)
        url = upstream + scope["path"].removeprefix("/v1")
        async with state["session"].post(url, data=orjson.dumps(data), headers=forward_headers) as r:
            kind = r.headers.get("content-type", "application/json").encode()
            await send({"type": "http.response.start", "status": r.status, "headers": [(b"content-type", kind)]})
            if data.get("stream"):
                async for chunk in r.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                return await send({"type": "http.response.body", "body": b""})
            answer = orjson.dumps(orjson.loads(await r.read()))
            await send({"type": "http.response.body", "body": answer})

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--upstream", default="http://127.0.0.1:9100/v1")
    parser.add_argument("--key", default="sk-bench")
    parser.add_argument("--upstream-key", default="sk-bench-upstream")
    args = parser.parse_args()
    app = make_app(args.upstream, args.key, args.upstream_key)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
