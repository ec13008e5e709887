"""A hostile upstream over real HTTP (the mock's faults): whatever it answers, the client gets a clean
error in OpenAI's shape (never a 500), and never the provider key modelrail sent it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelrail.app import create_app
from modelrail.testing import Fault, MockConfig, MockOpenAI
from modelrail.testing.servers import serve_in_thread
from tests.conftest import AUTH, make_settings, running

KEY = "sk-upstream-secret-9876"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[MockOpenAI, str]]:
    mock = MockOpenAI(MockConfig(api_key=KEY, chunks=4))
    with serve_in_thread(mock) as url:
        yield mock, url


def app_for(url: str):
    model = {"name": "m", "provider": "openai", "model": "gpt-4o-mini", "api_base": url + "/v1", "api_key": KEY}
    # No retries: each fault is seen by the client as the upstream gave it.
    return create_app(make_settings([model], router={"retry": {"max_retries": 0}, "breaker": {"enabled": False}}))


FAULTS = {
    "infinite retry-after": Fault(status=429, headers={"retry-after": "inf"}),
    "nonsense retry-after": Fault(status=429, headers={"retry-after": "soon-ish"}),
    "far-future retry-after": Fault(status=503, headers={"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}),
    "key echoed in the error": Fault(
        status=400, error={"message": f"bad header Authorization: Bearer {KEY}", "type": "invalid_request_error"}
    ),
    "key echoed in a 500": Fault(status=500, error={"message": f"upstream saw api_key={KEY}"}),
    "garbage body": Fault(garbage=True),
    "cut mid-answer": Fault(cut_after_chunks=1),
}


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
async def test_hostile_answers_become_clean_errors(upstream, fault: Fault, stream: bool) -> None:
    mock, url = upstream
    mock.reset()
    mock.add_faults([fault])
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with running(app_for(url)) as client:
        r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    text = r.text
    assert KEY not in text
    assert r.status_code < 500 or r.status_code in (502, 503, 504), text
    if r.status_code >= 400:
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert r.status_code != 500
    elif stream:
        # A stream that went wrong after its first byte ends with an error event, not [DONE].
        assert text.rstrip().endswith("[DONE]") or '"error"' in text
    if "retry-after" in r.headers:
        assert 1 <= int(r.headers["retry-after"]) <= 3600
