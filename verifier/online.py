"""The verifier's only network edge: a node's status API (httpx), checked, not trusted.

The answer carries the issuance entry (a seal's creation), the entry of the latest status
change if there was one, their inclusion proofs and the signed checkpoint; the client
verifies the checkpoint with the region's log key from the trust bundle, the issuance
entry against the document's license id and digest, the status entry against the
issuance entry, and the proofs against the checkpoint root. A status other than valid is
believed only with the entry that records it (see docs/DESIGN.md, "Online status", for
what such proofs cannot show).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, overload
from urllib.parse import quote

import httpx

from keys.errors import PARSE_ERRORS, CheckFailed, ExternalFailure, InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict
from ledger.checkpoint import (
    Checkpoint,
    NoteVerifier,
    parse_verifier_key,
    strict_b64,
    verify_checkpoint,
)
from ledger.entries import Entry, decode_entry, digest
from ledger.merkle import (
    MAX_INDEX,
    MAX_PROOF_HASHES,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from verifier.claims import is_time
from verifier.deadline import client as deadline_client
from verifier.deadline import deadline
from verifier.document import DecodedDocument, LicenseClaims
from verifier.envelope import MAX_ENVELOPE, file_etag
from verifier.pipeline import StatusAnswer, status_reason
from verifier.revocation import MAX_SNAPSHOT
from verifier.trust import TrustBundle
from verifier.verdict import CODE_OF_STATUS_KIND, SEAL_REVOCATION, STATUS_OF_CODE, renewed_as
from verifier.witness_policy import WitnessPolicyUncovered
from verifier.witnessing import CheckpointPolicy, Witnessing, WitnessRequirement

MAX_RESPONSE = 256 * 1024
#: A trust bundle fetched from a node: a region's is a few KB (tens with seal images);
#: the 64 MiB an offline file may have would let a node make the window parse a payload
#: that costs gigabytes.
MAX_FETCHED_BUNDLE = 4 * 1024 * 1024
#: The longest one request to a node may take, from connecting to the body's last byte:
#: httpx's timeout is per read, so a node sending a byte every few seconds never trips it
#: (:mod:`verifier.deadline` bounds every read by the time left).
REQUEST_SECONDS = 15.0
ISSUANCE_KINDS = {"license.issue", "license.renew"}
#: A seal is active or revoked; a node that says anything else is not understood.
_SEAL_CODES = {"active": "01", "revoked": "07"}


#: What a status answer that is not one raises while it is read: a parse error, or an
#: entry, checkpoint or proof that is not even well formed.
_MALFORMED: tuple[type[Exception], ...] = (*PARSE_ERRORS, InvalidInput)


class NodeUnreachable(ExternalFailure):
    """The node could not be asked (network, timeout, or a non-JSON answer)."""

    code = "node-unreachable"


class _CheckpointNotStored(NodeUnreachable):
    """A status answer asked ``?at=SIZE`` was refused 404 unknown-checkpoint: the node does
    not store the checkpoint of that size (:meth:`OnlineStatus._asked` asks
    ``?witnessed=1`` then)."""


class NodeAnswerMalformed(ExternalFailure):
    """The node answered, but not in the shape of a status answer (missing or mistyped
    fields): a broken node or proxy, which proves nothing either way about the document."""

    code = "node-answer-malformed"


class NodeAnswerUnproven(ExternalFailure):
    """The node's answer does not check out (its checkpoint, proof or entry), or is about
    another entry: a broken or lying node, which proves nothing either way about the
    document. (An entry proved in the region's ledger that records another document under
    this license id is evidence, and gets the verdict NOT_IN_LEDGER.)"""

    code = "node-answer-unproven"


#: Asked of every request to a node, whose answer must then come as sent: httpx decodes a
#: compressed body whole, and one of a few KB in two layers of gzip inflates to gigabytes
#: before any limit on the body is seen (eseal's node compresses nothing; a proxy that does
#: honours this).
_IDENTITY = {"accept-encoding": "identity"}


def bounded_get(
    client: httpx.Client,
    url: str,
    limit: int,
    seconds: float | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """(status code, media type, body) of a GET, reading at most ``limit`` bytes of body
    within ``seconds`` in all (:data:`REQUEST_SECONDS` unless given; headers included,
    with a :func:`verifier.deadline.client`), sending ``headers`` too (an
    ``If-None-Match``)."""
    return bounded_request(client, "GET", url, limit, seconds, headers=headers)


def bounded_request(
    client: httpx.Client,
    method: str,
    url: str,
    limit: int,
    seconds: float | None = None,
    *,
    content: bytes | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """As :func:`bounded_get`, for a request of ``method`` sending ``content`` (a POST)."""
    status, media, body, _headers = _bounded_exchange(
        client,
        method,
        url,
        limit,
        seconds,
        content=content,
        content_type=content_type,
        headers=headers,
    )
    return status, media, body


def _bounded_exchange(
    client: httpx.Client,
    method: str,
    url: str,
    limit: int,
    seconds: float | None = None,
    *,
    content: bytes | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes, httpx.Headers]:
    """As :func:`bounded_request`, with the answer's headers too."""
    seconds = REQUEST_SECONDS if seconds is None else seconds
    headers = (
        dict(headers or {}) | _IDENTITY | ({"Content-Type": content_type} if content_type else {})
    )
    with deadline(seconds) as at:
        try:
            with client.stream(method, url, headers=headers, content=content) as response:
                coding = response.headers.get("content-encoding", "").strip().lower()
                if coding not in ("", "identity"):
                    raise NodeUnreachable(
                        f"{url} answered with content-encoding {shown(coding)}, "
                        "not the identity asked for"
                    )
                body = bytearray()
                # Raw: as sent (identity). A response read already (a test's or mock's,
                # never the network's) has its content as it is.
                chunks = [response.content] if response.is_stream_consumed else None
                for chunk in chunks or response.iter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise NodeUnreachable(f"{url} answered more than {limit // 1024} KiB")
                    if time.monotonic() > at:
                        raise httpx.ReadTimeout("deadline passed", request=response.request)
                media = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return response.status_code, media, bytes(body), response.headers
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            if time.monotonic() >= at:  # timed out, or cut off by the deadline's watchdog
                raise NodeUnreachable(f"{url} took longer than {seconds:g} s to answer") from e
            if isinstance(e, httpx.TimeoutException):  # one read, connect or write
                raise NodeUnreachable(f"cannot reach {url}: {type(e).__name__}") from e
            raise NodeUnreachable(f"cannot reach {url}: {e}") from e


def fetch_bundle(base_url: str, *, timeout: float = 10.0) -> bytes:
    """A node's signed trust bundle (check it with :func:`verifier.trust.open_bundle`)."""
    return _fetch(base_url, "/v1/bundle", min(MAX_FETCHED_BUNDLE, MAX_ENVELOPE), timeout)


@overload
def fetch_revocations(
    base_url: str,
    *,
    timeout: float = ...,
    witnessed: bool = ...,
    at: int | None = ...,
    held: None = ...,
) -> bytes: ...


@overload
def fetch_revocations(
    base_url: str,
    *,
    timeout: float = ...,
    witnessed: bool = ...,
    at: int | None = ...,
    held: bytes,
) -> bytes | None: ...


def fetch_revocations(
    base_url: str,
    *,
    timeout: float = 10.0,
    witnessed: bool = False,
    at: int | None = None,
    held: bytes | None = None,
) -> bytes | None:
    """A node's signed revocation snapshot (check it with
    :func:`verifier.revocation.open_snapshot`), at most what a snapshot file may hold, in
    at most :data:`SNAPSHOT_SECONDS`. With ``witnessed``, asked ``?witnessed=1``: cut at the
    checkpoint the node's witnesses cosigned most (a node of before it ignores the query).
    With ``at``, asked ``?at=SIZE``: cut at the checkpoint of that size (one
    :func:`fetch_cosigned` listed).

    With ``held``, the snapshot file the reader holds (of the same cut, or the request
    merely misses), asked ``If-None-Match`` its :func:`verifier.envelope.file_etag`: None
    where the node answers 304, its current snapshot of that cut being ``held`` itself (to
    be checked as the file it is, as if answered anew). A 304 with a body, or to a request
    that named no file, or whose ETag is not the one named, is :class:`NodeAnswerMalformed`;
    any status but 200 and that 304, :class:`NodeUnreachable`."""
    if witnessed and at is not None:
        raise InvalidInput("a snapshot is asked cut at the witnessed checkpoint or at a size")
    path = "/v1/revocations"
    if witnessed:
        path += "?witnessed=1"
    elif at is not None:
        path += f"?at={int(at)}"
    url = base_url.rstrip("/") + path
    named = {} if held is None else {"If-None-Match": file_etag(held)}
    status, body, etag = _fetch_status(url, MAX_SNAPSHOT, timeout, SNAPSHOT_SECONDS, named)
    if status == 304:
        if held is None:
            raise NodeAnswerMalformed(
                f"{url} answered 304 (not modified) to a request that named no file held"
            )
        if body:
            raise NodeAnswerMalformed(
                f"{url} answered 304 (not modified) with a body of {len(body)} bytes"
            )
        # The 304's ETag is the node's current snapshot's (RFC 9110 §15.4.5; the node always
        # sends it): one naming another file, or none, does not say the file held is current.
        if etag is None or etag.strip().removeprefix("W/") != named["If-None-Match"]:
            given = "no ETag" if etag is None else f"the ETag {shown(etag)}"
            raise NodeAnswerMalformed(
                f"{url} answered 304 (not modified) with {given}, not the "
                f"{named['If-None-Match']} of the snapshot held"
            )
        return None
    if status != 200:
        raise NodeUnreachable(f"{url} answered {status}")
    return body


#: The most bytes of a node's list of cosigned checkpoints read: 64 notes, each with the log's
#: line and at most 99 witnesses' (a line of a long key name is some 370 bytes): 64 × 99 ×
#: 370 is about 2.3 MB, so a node at the limits of its own format is still read.
MAX_COSIGNED_LIST = 4 * 1024 * 1024
#: The most checkpoints a node's list may hold (its witnesses' history depth).
MAX_COSIGNED_LISTED = 64
#: The largest size a node's list may name: the bound of the ``?at=`` it is asked with.
MAX_LISTED_SIZE = MAX_INDEX
#: Where a node lists the checkpoints its witnesses cosigned.
COSIGNED_PATH = "/v1/ledger/cosigned"
#: How long an :class:`OnlineStatus` keeps a node's list of cosigned checkpoints of a log
#: (the newest its policy's quorum met, picked from it): a window verifying a pile of
#: documents reads it once, not at every scan. A newer checkpoint the witnesses cosign
#: meanwhile is found sooner where it matters: good news withheld (an answer relying on an
#: entry at or beyond the one picked) has the list read again, where the one kept is
#: :data:`COSIGNED_REREAD_SECONDS` old.
COSIGNED_LIST_SECONDS = 30.0
#: How old the list kept must be before good news withheld has it read again: a window
#: scanning a pile of licenses recorded since the witnesses last cosigned (each answer
#: falls short) reads it once in this time, not once a scan (witnesses cosign when the
#: region's operator asks them, every few minutes).
COSIGNED_REREAD_SECONDS = 5.0


#: What a listed note that does not verify raises: malformed, or signed by another key.
_UNVERIFIED: tuple[type[Exception], ...] = (*_MALFORMED, CheckFailed)


def fetch_cosigned(
    base_url: str, log: NoteVerifier, *, timeout: float = 10.0
) -> list[tuple[int, str]] | None:
    """The checkpoints a node lists as cosigned by its witnesses (``GET /v1/ledger/cosigned``),
    newest first, as (size, note with its cosignature lines), each note verified under the
    region's log key ``log``; None where the node answers 404 (a node of before the list,
    which a reader then asks ``?witnessed=1``). A list that is not strict JSON of the
    documented shape, holds more than :data:`MAX_COSIGNED_LISTED`, is not newest first one
    a size (a size-0 checkpoint counted, though passed over: it speaks for no entry), names a
    size beyond :data:`MAX_LISTED_SIZE`, or holds a note that does not verify, or whose size
    is not the one given, is :class:`NodeAnswerMalformed` (the notes
    :class:`NodeAnswerUnproven`)."""
    url = base_url.rstrip("/") + COSIGNED_PATH
    with deadline_client(url, timeout) as client:
        return read_cosigned(client, url, log)


def read_cosigned(
    client: httpx.Client, url: str, log: NoteVerifier
) -> list[tuple[int, str]] | None:
    """:func:`fetch_cosigned` through ``client`` (the list at ``url``)."""
    status, _media, body = bounded_get(client, url, MAX_COSIGNED_LIST)
    if status == 404:
        return None
    if status != 200:
        raise NodeUnreachable(f"{url} answered {status}")
    return parse_cosigned(body, log, url)


def parse_cosigned(body: bytes, log: NoteVerifier, url: str) -> list[tuple[int, str]]:
    """The list of :func:`fetch_cosigned` (the body ``url`` answered), checked."""
    try:
        answer = loads_strict(body, what=f"the answer of {url}", max_bytes=MAX_COSIGNED_LIST)
    except MalformedJson as e:
        raise NodeAnswerMalformed(f"{url} answered no strict JSON: {e.message}") from e
    listed = answer.get("checkpoints") if isinstance(answer, dict) else None
    if not isinstance(listed, list) or set(answer) != {"checkpoints"}:
        raise NodeAnswerMalformed(f"{url} answered no object with a list checkpoints alone")
    if len(listed) > MAX_COSIGNED_LISTED:
        raise NodeAnswerMalformed(
            f"{url} listed {len(listed)} checkpoints, more than {MAX_COSIGNED_LISTED}"
        )
    out: list[tuple[int, str]] = []
    before: int | None = None  # the size listed before (a size-0 one too, though not kept)
    for i, item in enumerate(listed):
        size = item.get("size") if isinstance(item, dict) else None
        note = item.get("checkpoint") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or set(item) != {"size", "checkpoint"}
            or type(size) is not int
            or not isinstance(note, str)
        ):
            raise NodeAnswerMalformed(
                f"{url}: checkpoint {i} is no object of an integer size and a note"
            )
        if before is not None and size >= before:
            raise NodeAnswerMalformed(
                f"{url}: checkpoint {i} (size {size}) is not below the one before it "
                "(newest first, one a size)"
            )
        before = size
        try:
            checked = verify_checkpoint(note, log)
        except _UNVERIFIED as e:
            raise NodeAnswerUnproven(
                f"{url}: checkpoint {i} (size {size}) does not verify under the region's "
                f"log key: {e}"
            ) from e
        if checked.size != size:
            raise NodeAnswerUnproven(
                f"{url}: checkpoint {i} is of size {checked.size}, listed as {size}"
            )
        if size > MAX_LISTED_SIZE:
            raise NodeAnswerMalformed(
                f"{url}: checkpoint {i} is of size {size}, beyond any ledger's ({MAX_LISTED_SIZE})"
            )
        if size > 0:  # the empty tree's speaks for no entry, and is asked for nothing
            out.append((size, note))
    return out


#: The longest fetching a revocation snapshot may take: up to 32 MiB (:data:`MAX_SNAPSHOT`),
#: half a minute at 1 MB/s.
SNAPSHOT_SECONDS = 120.0


def _fetch(
    base_url: str, path: str, limit: int, timeout: float, seconds: float | None = None
) -> bytes:
    url = base_url.rstrip("/") + path
    status, body, _etag = _fetch_status(url, limit, timeout, seconds)
    if status != 200:
        raise NodeUnreachable(f"{url} answered {status}")
    return body


def _fetch_status(
    url: str,
    limit: int,
    timeout: float,
    seconds: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes, str | None]:
    """(status code, body, ETag if any) of a GET of ``url`` (as :func:`bounded_get`, a
    client of its own)."""
    with deadline_client(url, timeout) as client:
        status, _media, body, answered = _bounded_exchange(
            client, "GET", url, limit, seconds, headers=headers
        )
    return status, body, answered.get("etag")


#: How a node says it never recorded a license or seal, by the HTTP status of its RFC 9457
#: problem: it holds nothing under the id (404 unknown-…), or the id is none it could have
#: recorded (400 invalid-…-id: malformed, or its check character wrong).
_NEVER_RECORDED: dict[str, dict[int, str]] = {
    "license": {404: "unknown-license", 400: "invalid-license-id"},
    "seal": {404: "unknown-seal", 400: "invalid-seal-id"},
}


def _is_problem(media: str, body: bytes, code: str) -> bool:
    """Whether ``body`` is an eseal node's RFC 9457 problem of type ``code``: how a node
    says it does not know a license or seal (a 404 from a misrouted proxy says nothing)."""
    if media not in ("application/problem+json", "application/json"):
        return False
    try:  # read as strictly as any other answer: one key twice is no problem of the node's
        problem = loads_strict(body, what="the problem", max_bytes=MAX_RESPONSE)
    except MalformedJson:
        return False
    kind = problem.get("type") if isinstance(problem, dict) else None
    return isinstance(kind, str) and kind.endswith("/" + code)


@dataclass(frozen=True)
class _Pick:
    """What an :class:`OnlineStatus` read from a node's list of cosigned checkpoints of one
    log: the size of the newest its policy's quorum met (None: none did, or the node lists
    none), and when (``time.monotonic()``)."""

    size: int | None
    read_at: float

    @property
    def query(self) -> str:
        """How a status answer is asked: at that checkpoint, else the witnessed one."""
        return "?witnessed=1" if self.size is None else f"?at={self.size}"


def _newest_met(
    listed: list[tuple[int, str]], policy: CheckpointPolicy, log: NoteVerifier, url: str
) -> int | None:
    """The size of the newest of the ``listed`` checkpoints (newest first) whose
    witnessing under ``policy`` is met; None where none's is. A line of a witness the
    quorum counts that does not verify is :class:`NodeAnswerUnproven`."""
    for size, note in listed:
        try:
            witnessing = policy.check(note, log)
        except _UNVERIFIED as e:
            raise NodeAnswerUnproven(
                f"{url}: the checkpoint of size {size} does not check out: {shown(e, 200)}"
            ) from e
        if witnessing.met:
            return size
    return None


class OnlineStatus:
    """Ask a node (``base_url``) of region ``region`` for the live status of licenses and
    seals. A license or seal of another region gets no answer from it (not checked), while
    one of its own region that it cannot prove is NOT_IN_LEDGER; without ``region`` the
    node's silence proves nothing either way, so pass it (the CLI takes it from the node's
    bundle).

    With ``witnesses`` (one policy for every log, or a policy file's for each:
    :meth:`~verifier.witnessing.WitnessRequirement.for_log` of the region's log key; a
    document of a log it names no quorum for gets no status, the node not asked), the
    checkpoint of each
    answer must also carry the cosignatures of a quorum of those witnesses on that very
    checkpoint, or the answer must rest on an older
    checkpoint that does (:meth:`_witnessed`), before the good news it proves (status 01, a
    seal active) is believed: short of it, the answer is no status (NO_STATUS, its
    check detail saying how many of which witnesses cosigned), as if it had not been asked;
    a status other than 01 that the region's own signed ledger proves still counts (see
    docs/DESIGN.md, "Online status"). A cosignature line by one of them that does not verify
    is a node answer that does not check out (:class:`NodeAnswerUnproven`). The older
    checkpoint is the reader's choice, not the node's: the newest the node lists as cosigned
    (``GET /v1/ledger/cosigned``) that the policy's quorum met, asked ``?at=SIZE``
    (:meth:`_asked`); the list is kept :data:`COSIGNED_LIST_SECONDS` per log."""

    def __init__(
        self,
        base_url: str,
        *,
        region: str | None = None,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        witnesses: WitnessRequirement | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.region = region
        self.witnesses = witnesses
        self._client = client or deadline_client(self.base_url, timeout)
        #: The checkpoint picked from the node's cosigned list, by log key (:meth:`_pick`).
        self._cosigned: dict[str, _Pick] = {}

    def _get(self, path: str, kind: Literal["license", "seal"]) -> dict[str, Any] | None:
        """The node's JSON object at ``path``, or None when it answers with its problem
        saying it never recorded the ``kind`` (:data:`_NEVER_RECORDED`)."""
        status, media, body = bounded_get(self._client, self.base_url + path, MAX_RESPONSE)
        never = _NEVER_RECORDED[kind].get(status)
        if never is not None and _is_problem(media, body, never):
            return None
        if status == 404 and _is_problem(media, body, "unknown-checkpoint"):
            raise _CheckpointNotStored(f"{self.base_url}{path} answered 404 unknown-checkpoint")
        if status != 200:
            raise NodeUnreachable(f"{self.base_url}{path} answered {status}")
        if media != "application/json":
            raise NodeAnswerMalformed(f"{self.base_url}{path} answered {shown(media)}, not JSON")
        try:
            # UTF-8 only, each key once (one parser would read the first of a key named
            # twice, another the last), no NaN or Infinity, bounded numbers.
            answer = loads_strict(body, what="the answer", max_bytes=MAX_RESPONSE)
        except MalformedJson as e:
            raise NodeAnswerMalformed(
                f"{self.base_url}{path} did not answer strict JSON: {e.message}"
            ) from e
        if not isinstance(answer, dict):
            raise NodeAnswerMalformed(f"{self.base_url}{path} did not answer a JSON object")
        return answer

    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer:
        now = int(time.time())
        claims = doc.claims
        if not isinstance(claims, LicenseClaims):
            return StatusAnswer(None, "online", now, detail="not a license")
        if self.region is not None and bundle.region != self.region:
            detail = f"a license of region {bundle.region}; the node is of {self.region}"
            return StatusAnswer(None, "online", now, detail=detail)
        policy, uncovered = self._policy(bundle)
        if uncovered:
            return StatusAnswer(None, "online", now, detail=uncovered)
        path = f"/v1/licenses/{quote(claims.license_id, safe='')}/status"
        answer = self._asked(
            path,
            "license",
            bundle,
            policy,
            lambda body: _check_answer(body, bundle, doc, claims.license_id),
        )
        if answer is None:
            return StatusAnswer(
                None,
                "online",
                now,
                # Only the license's own region's node can say it was never recorded.
                ledger_included=False if self.region is not None else None,
                detail="the node does not know this license",
            )
        return answer

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        """The seal's status from the node of its bundle's region (a stamp names no region
        of its own). A seal that node does not know was never recorded in its region's
        ledger, whatever its bundle says: NOT_IN_LEDGER, as for a license."""
        now = int(time.time())
        if self.region is not None and bundle.region != self.region:
            detail = f"a seal of region {bundle.region}; the node is of {self.region}"
            return StatusAnswer(None, "online", now, detail=detail)
        policy, uncovered = self._policy(bundle)
        if uncovered:
            return StatusAnswer(None, "online", now, detail=uncovered)
        answer = self._asked(
            f"/v1/seals/{quote(seal_id, safe='')}/status",
            "seal",
            bundle,
            policy,
            lambda body: _check_seal_answer(body, bundle, seal_id),
        )
        if answer is None:
            if self.region is None:  # the node's silence proves nothing either way
                return None
            return StatusAnswer(
                None,
                "online",
                now,
                ledger_included=False,
                detail="the node does not know this seal: its creation is not in the ledger",
            )
        return answer

    def _asked(
        self,
        path: str,
        kind: Literal["license", "seal"],
        bundle: TrustBundle,
        policy: CheckpointPolicy | None,
        check: Callable[[Any], StatusAnswer],
    ) -> StatusAnswer | None:
        """The node's status answer at ``path``, read by ``check`` and held to ``policy``
        (:meth:`_witnessed`); None where the node says it never recorded the ``kind``.

        Without a policy the node is asked plainly. With one it is asked ``?at=SIZE``, the
        newest checkpoint it lists as cosigned that the policy's quorum met
        (:meth:`_pick`), or ``?witnessed=1`` where it lists none that did, or no list at
        all (a node of before the list: the checkpoint its own witnesses cosigned most).
        Good news withheld (an entry the answer relies on at or beyond the checkpoint
        picked, or none picked) under a list kept from an earlier question, at least
        :data:`COSIGNED_REREAD_SECONDS` old, has the list read again, a newer checkpoint
        the quorum met perhaps among it, and is asked again where the pick changed. An
        adverse status counts whatever the witnessing: its answer reads nothing more (a
        list failing then must not turn a proved revocation into an error)."""
        if policy is None:
            body = self._get(path, kind)
            return None if body is None else _node_checked(functools.partial(check, body))
        pick, fresh = self._pick(bundle, policy, again=False)
        while True:
            try:
                body = self._get(path + pick.query, kind)
            except _CheckpointNotStored:
                if pick.size is None:
                    raise
                # The node does not store the checkpoint picked (one behind a proxy whose
                # database lags the one that listed it, say): asked its own witnessed one,
                # and the list read anew for the next question.
                self._cosigned.pop(bundle.log_verifier, None)
                pick, fresh = _Pick(None, time.monotonic()), True
                continue
            if body is None:
                return None
            answer = _node_checked(
                functools.partial(self._held, check, body, bundle, policy, pick.size)
            )
            withheld = answer.code is None and answer.witnessing is not None
            if fresh or not withheld:
                return answer
            newer, fresh = self._pick(bundle, policy, again=True)
            if not fresh or newer.query == pick.query:
                return answer
            pick = newer

    def _held(
        self,
        check: Callable[[Any], StatusAnswer],
        body: Any,
        bundle: TrustBundle,
        policy: CheckpointPolicy,
        at: int | None,
    ) -> StatusAnswer:
        return self._witnessed(check(body), body, bundle, policy, at)

    def _pick(
        self, bundle: TrustBundle, policy: CheckpointPolicy, *, again: bool
    ) -> tuple[_Pick, bool]:
        """(the newest checkpoint of ``bundle``'s log that the node lists as cosigned and
        ``policy``'s quorum met, whether the list was read now): the one kept for the log
        if read within :data:`COSIGNED_LIST_SECONDS` (``again``, within
        :data:`COSIGNED_REREAD_SECONDS`: the question's answer fell short), else the list read
        (:func:`read_cosigned`, each note verified under the log key) and checked anew. A
        line on a listed checkpoint of a witness the quorum counts that does not verify is
        a node answer that does not check out (:class:`NodeAnswerUnproven`)."""
        key = bundle.log_verifier
        held = self._cosigned.get(key)
        if held is not None:
            age = time.monotonic() - held.read_at
            if 0 <= age < (COSIGNED_REREAD_SECONDS if again else COSIGNED_LIST_SECONDS):
                return held, False
        log = parse_verifier_key(key)
        url = self.base_url + COSIGNED_PATH
        listed = read_cosigned(self._client, url, log)
        size = None if listed is None else _newest_met(listed, policy, log, url)
        pick = _Pick(size, time.monotonic())
        self._cosigned[key] = pick
        return pick, True

    def _policy(self, bundle: TrustBundle) -> tuple[CheckpointPolicy | None, str]:
        """The witness policy for the checkpoints of ``bundle``'s log (None without
        witnesses), or, where the policies name no quorum for that log, why the node is not
        asked: with no quorum its answer would be believed on its word alone, which is what
        a verifier giving witness policies means to avoid (the command line refuses such a
        node before it asks it anything)."""
        if self.witnesses is None:
            return None, ""
        try:
            return self.witnesses.for_log(parse_verifier_key(bundle.log_verifier)), ""
        except WitnessPolicyUncovered as e:
            return None, f"not asked: {e.message}"

    def _witnessed(
        self,
        answer: StatusAnswer,
        body: Any,
        bundle: TrustBundle,
        policy: CheckpointPolicy | None,
        at: int | None = None,
    ) -> StatusAnswer:
        """``answer`` (checked already, under the answer's checkpoint M) under the witness
        policy: with how it was witnessed, and no status where the quorum is not met and the
        answer is good news (status 01 of a document the ledger proves, or not against it).

        The quorum is met by M's own cosignatures, or by those on the older checkpoint N the
        answer may add (``witnessed_checkpoint``) when its consistency proof to M verifies
        and every entry the answer relies on lies below N's size: then the witnesses saw a
        history holding those entries, and M extends it (:func:`_older_witnessed`). Asked
        ``?at=SIZE`` (``at``), an N of another size does not check out: the node, or a
        cache before it, chose otherwise than the reader (an answer adding no N, from a
        node of before ``?at=`` that ignores it, is held to M alone)."""
        if policy is None:
            return answer
        log = parse_verifier_key(bundle.log_verifier)
        witnessing = policy.check(body["checkpoint"], log)
        older = _older_witnessed(body, log, policy, witnessing.size)
        if older is not None and at is not None and older.size != at:
            raise UnprovenAnswer(
                f"asked for the checkpoint of size {at} as witnessed, it adds the one of "
                f"size {older.size}"
            )
        if older is not None and not witnessing.met:
            witnessing = older
        good_news = answer.code == "01" and answer.ledger_included is not False
        if witnessing.met or not good_news:
            return replace(answer, witnessing=witnessing)
        return StatusAnswer(
            None,
            "online",
            answer.as_of,
            detail=f"the node's checkpoint is not witnessed as required: {witnessing.describe()}",
            witnessing=witnessing,
        )

    def close(self) -> None:
        self._client.close()


def _node_checked(check: Callable[[], StatusAnswer]) -> StatusAnswer:
    """``check()`` of a node's answer: what is not a status answer at all raises
    NodeAnswerMalformed, and what does not check out NodeAnswerUnproven; errors to report,
    neither evidence against the document (a flaky proxy must not tell a clerk a genuine
    license is unrecorded)."""
    try:
        return check()
    except _MALFORMED as e:
        raise NodeAnswerMalformed(f"the node's status answer is malformed: {shown(e, 200)}") from e
    except CheckFailed as e:
        raise NodeAnswerUnproven(f"the node's answer does not check out: {e.message}") from e


def _older_witnessed(
    body: Any, log: NoteVerifier, witnesses: CheckpointPolicy, size: int
) -> Witnessing | None:
    """How the older checkpoint N an answer adds (``witnessed_checkpoint``, None when it adds
    none) was witnessed, for the answer's checkpoint M of ``size`` (checked already): N is
    signed by the log key, every line of a listed witness on it verifies, N's size is below
    M's and ``witnessed_consistency_proof`` proves M extends N, else the answer does not
    check out; and ``unwitnessed`` names the first entry the answer relies on (its
    ``ledger_index`` and ``status_index``) that lies beyond N."""
    note = body.get("witnessed_checkpoint")
    if note is None:
        return None
    if not isinstance(note, str):
        raise TypeError(f"witnessed_checkpoint is not a string: {shown(note)}")
    proof = _hashes(body, "witnessed_consistency_proof")
    witnessing = witnesses.check(note, log)
    old = verify_checkpoint(note, log)
    new = verify_checkpoint(body["checkpoint"], log)
    if not old.size < new.size:
        raise UnprovenAnswer(
            f"its witnessed checkpoint (size {old.size}) is not older than its checkpoint "
            f"({new.size})"
        )
    verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    relied = [("issuance", _integer(body["ledger_index"]))]
    if body.get("status_index") is not None:
        relied.append(("status", _integer(body["status_index"])))
    beyond = next(
        (f"its {what} entry {i} was recorded after it" for what, i in relied if i >= old.size),
        "",
    )
    return replace(witnessing, extended_to=size, unwitnessed=beyond)


def _integer(value: Any) -> int:
    if not is_time(value):
        raise TypeError(f"expected a non-negative integer, got {shown(value)}")
    return value


def _bytes(value: Any, what: str) -> bytes:
    """The bytes of ``value``, standard padded base64 in its one spelling (as a node writes
    it): no other spelling of the same bytes is taken."""
    raw = strict_b64(value) if type(value) is str else None
    if raw is None:
        raise ValueError(f"{what} is not canonical base64: {shown(value)}")
    return raw


def _hashes(body: Any, key: str) -> list[bytes]:
    """The proof at ``key``: a list of at most :data:`MAX_PROOF_HASHES` hashes in base64."""
    hashes = body[key]
    if type(hashes) is not list or len(hashes) > MAX_PROOF_HASHES:
        raise TypeError(f"{key} is no list of at most {MAX_PROOF_HASHES} hashes: {shown(hashes)}")
    return [_bytes(h, f"a hash of {key}") for h in hashes]


@functools.lru_cache(maxsize=16)
def _bundle_checkpoint_size(note: str, log_verifier: str) -> int:
    """The size of a trust bundle's checkpoint, checked once per bundle (a window asks
    about many licenses under one bundle)."""
    return verify_checkpoint(note, parse_verifier_key(log_verifier)).size


def _checkpoint(body: Any, bundle: TrustBundle) -> Checkpoint:
    """The answer's checkpoint, signed by the bundle's log key and no older than the
    bundle's own."""
    cp = verify_checkpoint(body["checkpoint"], parse_verifier_key(bundle.log_verifier))
    floor = _bundle_checkpoint_size(bundle.checkpoint, bundle.log_verifier)
    if cp.size < floor:
        # An old answer replayed (a license revoked since would show as it was).
        raise UnprovenAnswer(
            f"its checkpoint (size {cp.size}) is older than the trust bundle's ({floor})"
        )
    return cp


def _proved_entry(
    body: Any, cp: Checkpoint, index_key: str, entry_key: str, proof_key: str
) -> tuple[int, Entry]:
    """(index, entry) of an entry the answer carries, proved included under ``cp``."""
    index = _integer(body[index_key])
    raw = _bytes(body[entry_key], entry_key)
    entry = decode_entry(raw)
    proof = _hashes(body, proof_key)
    verify_inclusion(leaf_hash(raw), index, cp.size, proof, cp.root_hash)
    return index, entry


def _status_entry(body: Any, cp: Checkpoint, created: Entry, kinds: Container[str]) -> Entry | None:
    """The latest status change the answer carries (None if it carries none), proved under
    ``cp``: an entry of one of ``kinds`` about the same subject and signed object as
    ``created``, the entry that created it."""
    if body.get("status_index") is None:
        return None
    index, entry = _proved_entry(body, cp, "status_index", "status_entry", "status_proof")
    same = (entry.subject, entry.digest) == (created.subject, created.digest)
    if entry.kind not in kinds or not same:
        raise UnprovenAnswer(f"its entry {index} is not a status change of {created.subject}")
    return entry


def _check_answer(
    body: Any, bundle: TrustBundle, doc: DecodedDocument, license_id: str
) -> StatusAnswer:
    """The status answer once the ledger proves it: the checkpoint signed by the bundle's
    log key and no older than the bundle's own; the issuance of ``license_id`` at
    ``ledger_index`` under it; and the entry at ``status_index`` if there is one, which
    must record the status given (any status but 01 needs one), and from which the time and
    reason of the change are taken. Raises CheckFailed where any of it does not check
    out.

    The ledger proves what was recorded, not that nothing was recorded since: a node can
    still answer with an older true status (say, suspended when it has been reinstated),
    but not with a status the region never recorded."""
    code = body["status"]
    if code not in STATUS_OF_CODE:
        raise ValueError(f"unknown status {shown(code)}")
    cp = _checkpoint(body, bundle)
    index, entry = _proved_entry(body, cp, "ledger_index", "entry", "inclusion_proof")
    if entry.kind not in ISSUANCE_KINDS or entry.subject != license_id:
        raise UnprovenAnswer(f"its entry {index} is not the issuance of {license_id}")
    change = _status_entry(body, cp, entry, CODE_OF_STATUS_KIND)
    recorded = "01" if change is None else CODE_OF_STATUS_KIND[change.kind]
    if recorded != code:
        raise UnprovenAnswer(
            f"it says status {code}, but the ledger entry it proves records {recorded}"
        )
    # When and why the status changed: only a status other than 01 has them.
    changed = change if code != "01" else None
    reason = changed.reason if changed is not None else None
    # The license that replaced it: a transfer's, as its entry names it (``to``); a
    # renewal's, the node's word only where the lapse entry names that license.
    replaced_by = body.get("replaced_by")
    if code == "06" and changed is not None:
        replaced_by = changed.to or None
    elif code != "05" or not isinstance(replaced_by, str) or reason != renewed_as(replaced_by):
        replaced_by = None
    return StatusAnswer(
        code,
        "online",
        _integer(body.get("as_of", int(time.time()))),
        checkpoint_size=cp.size,
        # Proved in the region's ledger: the issuance of this license id, recording this
        # document or another one (signed with a stolen key, say).
        ledger_included=entry.digest == doc.digest(),
        since=changed.time if changed is not None else None,
        reason=status_reason(reason),
        replaced_by=status_reason(replaced_by),
    )


def _check_seal_answer(body: Any, bundle: TrustBundle, seal_id: str) -> StatusAnswer:
    """A seal's status answer once the ledger proves it: the seal's creation, and for a
    revoked seal its revocation."""
    status = body["status"]
    if status not in _SEAL_CODES:
        raise ValueError(f"unknown seal status {shown(status)}")
    cp = _checkpoint(body, bundle)
    index, entry = _proved_entry(body, cp, "ledger_index", "entry", "inclusion_proof")
    if entry.kind != "seal.create" or entry.subject != seal_id:
        raise UnprovenAnswer(f"its entry {index} is not the creation of seal {seal_id}")
    change = _status_entry(body, cp, entry, {SEAL_REVOCATION})
    if (change is not None) != (status == "revoked"):
        said = "revoked" if status == "revoked" else "active"
        raise UnprovenAnswer(f"it says the seal is {said}, but proves no revocation to match")
    # The creation entry records the seal's signed key statement (its SHA-256): proved in
    # the region's ledger, another statement than the bundle's means the region recorded
    # another key under this seal id, and the stamp's key is not the one it recorded.
    listed = next((s.key.statement for s in bundle.seals if s.id == seal_id), None)
    other = listed is not None and entry.digest != digest(listed.to_bytes())
    return StatusAnswer(
        _SEAL_CODES[status],
        "online",
        int(time.time()),
        checkpoint_size=cp.size,
        ledger_included=False if other else None,
        detail=f"the ledger records another key for seal {seal_id} than its bundle"
        if other
        else "",
        since=change.time if change is not None else None,
        reason=status_reason(change.reason) if change is not None else None,
    )


class UnprovenAnswer(CheckFailed):
    """Part of a node's answer does not check out (see :class:`NodeAnswerUnproven`)."""
