"""``fetch_revocations(..., held=FILE)``: the snapshot file held is named by its hash
(``If-None-Match``), and a 304 says the node's current snapshot is that file; a 304 that
does not check out is refused, not taken for "unchanged"."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from verifier import online
from verifier.envelope import file_etag
from verifier.online import NodeAnswerMalformed, NodeUnreachable, fetch_revocations

HELD = b'{"payloadType": "application/vnd.eseal.revocations+cbor", "held": 1}'
NEWER = b'{"payloadType": "application/vnd.eseal.revocations+cbor", "newer": 2}'

Reply = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> Callable[[Reply], list[httpx.Request]]:
    """The node fetch_revocations asks answers with the reply given; the requests it saw."""

    def install(reply: Reply) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def recorded(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return reply(request)

        @contextmanager
        def client(_url: str, _timeout: float) -> Iterator[httpx.Client]:
            with httpx.Client(transport=httpx.MockTransport(recorded)) as c:
                yield c

        monkeypatch.setattr(online, "deadline_client", client)
        return seen

    return install


def _conditional(request: httpx.Request) -> httpx.Response:
    """A node whose current snapshot is HELD: 304 to an If-None-Match naming it."""
    if request.headers.get("if-none-match") == file_etag(HELD):
        return httpx.Response(304, headers={"ETag": file_etag(HELD)})
    return httpx.Response(200, content=HELD, headers={"ETag": file_etag(HELD)})


def test_the_etag_of_a_file_is_its_hash() -> None:
    assert file_etag(HELD) == '"' + hashlib.sha256(HELD).hexdigest()[:32] + '"'
    assert file_etag(HELD) != file_etag(NEWER)


def test_a_file_held_is_named_and_a_304_says_it_is_current(
    node: Callable[[Reply], list[httpx.Request]],
) -> None:
    seen = node(_conditional)
    assert fetch_revocations("http://node", held=HELD) is None
    assert fetch_revocations("http://node", held=NEWER) == HELD  # another file: answered
    assert fetch_revocations("http://node") == HELD  # none held: nothing named
    named = [r.headers.get("if-none-match") for r in seen]
    assert named == [file_etag(HELD), file_etag(NEWER), None]
    assert all(r.headers["accept-encoding"] == "identity" for r in seen)


@pytest.mark.parametrize(
    ("kwargs", "query"), [({"at": 7}, "at=7"), ({"witnessed": True}, "witnessed=1")]
)
def test_a_cut_asked_is_asked_with_the_file_held(
    node: Callable[[Reply], list[httpx.Request]], kwargs: dict[str, object], query: str
) -> None:
    seen = node(_conditional)
    assert fetch_revocations("http://node", held=HELD, **kwargs) is None  # type: ignore[call-overload]
    assert seen[0].url.query.decode() == query
    assert seen[0].headers["if-none-match"] == file_etag(HELD)


def test_a_304_with_a_body_is_refused(node: Callable[[Reply], list[httpx.Request]]) -> None:
    node(lambda _r: httpx.Response(304, content=NEWER))
    with pytest.raises(NodeAnswerMalformed, match=r"304 .* with a body of"):
        fetch_revocations("http://node", held=HELD)


def test_a_304_when_nothing_was_held_is_refused(
    node: Callable[[Reply], list[httpx.Request]],
) -> None:
    node(lambda _r: httpx.Response(304))
    with pytest.raises(NodeAnswerMalformed, match="named no file held"):
        fetch_revocations("http://node")


@pytest.mark.parametrize("status", [204, 412, 500])
def test_any_other_status_is_refused_as_before(
    node: Callable[[Reply], list[httpx.Request]], status: int
) -> None:
    node(lambda _r: httpx.Response(status))
    with pytest.raises(NodeUnreachable, match=f"answered {status}"):
        fetch_revocations("http://node", held=HELD)


@pytest.mark.parametrize(
    "headers",
    [{"ETag": file_etag(NEWER)}, {}, {"ETag": "*"}],
    ids=["another file's", "none", "a star"],
)
def test_a_304_whose_etag_is_not_the_file_held_is_refused(
    node: Callable[[Reply], list[httpx.Request]], headers: dict[str, str]
) -> None:
    """A 304 carries the ETag of the node's current snapshot (RFC 9110 §15.4.5; the node
    always sends it): one naming another file (a proxy answering for another snapshot it
    cached), or none, does not say the file held is current, and is not taken for it."""
    node(lambda _r: httpx.Response(304, headers=headers))
    with pytest.raises(NodeAnswerMalformed, match=r"304 .* with (the|no) ETag.*snapshot held"):
        fetch_revocations("http://node", held=HELD)


def test_a_304_with_the_etag_of_the_file_held_weakened_is_its(
    node: Callable[[Reply], list[httpx.Request]],
) -> None:
    node(lambda _r: httpx.Response(304, headers={"ETag": "W/" + file_etag(HELD)}))
    assert fetch_revocations("http://node", held=HELD) is None
