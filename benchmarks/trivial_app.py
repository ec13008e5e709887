"""A trivial raw ASGI app for comparing servers: read and parse the JSON body, answer a small JSON
object, or (on /stream) ten SSE events, so the server's own cost per request and per chunk shows."""

import orjson

ANSWER = orjson.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "text": "ok"}]})
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    if body:
        orjson.loads(body)
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for _ in range(10):
            await send({"type": "http.response.body", "body": EVENT, "more_body": True})
        return await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})
