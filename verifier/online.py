"""The verifier's only network edge: a node's status API (httpx), checked, not trusted.

The answer carries the issuance entry, its inclusion proof and the signed checkpoint;
the client verifies the checkpoint with the region's log key from the trust bundle, the
entry against the document's digest, and the proof against the checkpoint root.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from keys.errors import PARSE_ERRORS, CheckFailed, ExternalFailure, InvalidInput, shown
from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from ledger.entries import decode_entry
from ledger.merkle import leaf_hash, verify_inclusion
from verifier.claims import is_time
from verifier.document import DecodedDocument, LicenseClaims
from verifier.envelope import MAX_ENVELOPE
from verifier.pipeline import StatusAnswer, status_reason
from verifier.trust import TrustBundle

MAX_RESPONSE = 256 * 1024
#: A trust bundle fetched from a node: a region's is a few KB (tens with seal images);
#: the 64 MiB an offline file may have would let a node make the window parse a payload
#: that costs gigabytes.
MAX_FETCHED_BUNDLE = 4 * 1024 * 1024
#: The longest one request to a node may take, from sending it to the body's last byte:
#: httpx's timeout is per read, so a node sending a byte every few seconds never trips it.
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


def _bounded_get(
    client: httpx.Client, url: str, limit: int, seconds: float = REQUEST_SECONDS
) -> tuple[int, str, bytes]:
    """(status code, media type, body) of a GET, reading at most ``limit`` bytes of body
    within ``seconds`` in all."""
    deadline = time.monotonic() + seconds
    try:
        with client.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise NodeUnreachable(f"{url} answered more than {limit // 1024} KiB")
                if time.monotonic() > deadline:
                    raise NodeUnreachable(f"{url} took longer than {seconds:g} s to answer")
            media = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return response.status_code, media, bytes(body)
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        raise NodeUnreachable(f"cannot reach {url}: {e}") from e


def fetch_bundle(base_url: str, *, timeout: float = 10.0) -> bytes:
    """A node's signed trust bundle (check it with :func:`verifier.trust.open_bundle`)."""
    url = base_url.rstrip("/") + "/v1/bundle"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        status, _media, body = _bounded_get(client, url, min(MAX_FETCHED_BUNDLE, MAX_ENVELOPE))
    if status != 200:
        raise NodeUnreachable(f"{url} answered {status}")
    return body


def _is_problem(media: str, body: bytes, code: str) -> bool:
    """Whether ``body`` is an eseal node's RFC 9457 problem of type ``code``: how a node
    says it does not know a license or seal (a 404 from a misrouted proxy says nothing)."""
    if media not in ("application/problem+json", "application/json"):
        return False
    try:
        problem = json.loads(body)
    except (ValueError, RecursionError):
        return False
    kind = problem.get("type") if isinstance(problem, dict) else None
    return isinstance(kind, str) and kind.endswith("/" + code)


class OnlineStatus:
    """Ask a node (``base_url``) of region ``region`` for the live status of licenses and
    seals. A license of another region gets no answer from it (not checked), while one of
    its own region that it cannot prove is NOT_IN_LEDGER; without ``region`` the node's
    silence proves nothing either way, so pass it (the CLI takes it from the node's
    bundle)."""

    def __init__(
        self,
        base_url: str,
        *,
        region: str | None = None,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.region = region
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def _get(self, path: str, unknown: str) -> dict[str, Any] | None:
        """The node's JSON object at ``path``, or None when it answers 404 with its problem
        ``unknown`` (it does not know the license or seal)."""
        status, media, body = _bounded_get(self._client, self.base_url + path, MAX_RESPONSE)
        if status == 404 and _is_problem(media, body, unknown):
            return None
        if status != 200:
            raise NodeUnreachable(f"{self.base_url}{path} answered {status}")
        if media != "application/json":
            raise NodeAnswerMalformed(f"{self.base_url}{path} answered {shown(media)}, not JSON")
        try:
            answer = json.loads(body.decode())  # UTF-8 only (bytes would pass UTF-16 too)
        except (ValueError, RecursionError) as e:
            raise NodeAnswerMalformed(f"{self.base_url}{path} did not answer JSON") from e
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
        path = f"/v1/licenses/{quote(claims.license_id, safe='')}/status"
        body = self._get(path, "unknown-license")
        if body is None:
            return StatusAnswer(
                None,
                "online",
                now,
                # Only the license's own region's node can say it was never recorded.
                ledger_included=False if self.region is not None else None,
                detail="the node does not know this license",
            )
        try:
            return _check_answer(body, bundle, doc, claims.license_id)
        except _MALFORMED as e:
            # Not a status answer at all: an error to report, not evidence against the
            # document (a flaky proxy must not tell a clerk a genuine license is unrecorded).
            raise NodeAnswerMalformed(
                f"the node's status answer is malformed: {shown(e, 200)}"
            ) from e
        except CheckFailed as e:
            # A checkpoint, proof or entry that does not check out proves nothing either.
            raise NodeAnswerUnproven(f"the node's answer does not check out: {e.message}") from e

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        body = self._get(f"/v1/seals/{quote(seal_id, safe='')}/status", "unknown-seal")
        if body is None:
            return None
        status = body.get("status")
        if not isinstance(status, str) or status not in _SEAL_CODES:
            raise NodeUnreachable(f"{self.base_url} answered seal status {shown(status)}")
        return StatusAnswer(_SEAL_CODES[status], "online", int(time.time()))

    def close(self) -> None:
        self._client.close()


def _integer(value: Any) -> int:
    if not is_time(value):
        raise TypeError(f"expected a non-negative integer, got {shown(value)}")
    return value


@functools.lru_cache(maxsize=16)
def _bundle_checkpoint_size(note: str, log_verifier: str) -> int:
    """The size of a trust bundle's checkpoint, checked once per bundle (a window asks
    about many licenses under one bundle)."""
    return verify_checkpoint(note, parse_verifier_key(log_verifier)).size


def _check_answer(
    body: Any, bundle: TrustBundle, doc: DecodedDocument, license_id: str
) -> StatusAnswer:
    """The status answer once its issuance entry is proved in the region's ledger: the
    checkpoint signed by the bundle's log key and no older than the bundle's own, the entry
    at ``ledger_index`` under that checkpoint, and the entry the issuance of
    ``license_id``. Raises CheckFailed where any of it does not check out."""
    code = body["status"]
    if code not in {"01", "02", "03", "04", "05", "06", "07"}:
        raise ValueError(f"unknown status {shown(code)}")
    cp = verify_checkpoint(body["checkpoint"], parse_verifier_key(bundle.log_verifier))
    floor = _bundle_checkpoint_size(bundle.checkpoint, bundle.log_verifier)
    if cp.size < floor:
        # An old answer replayed (a license revoked since would show as it was).
        raise UnprovenAnswer(
            f"its checkpoint (size {cp.size}) is older than the trust bundle's ({floor})"
        )
    index = _integer(body["ledger_index"])
    raw = base64.b64decode(body["entry"], validate=True)
    entry = decode_entry(raw)
    proof = [base64.b64decode(h, validate=True) for h in body["inclusion_proof"]]
    verify_inclusion(leaf_hash(raw), index, cp.size, proof, cp.root_hash)
    if entry.kind not in ISSUANCE_KINDS or entry.subject != license_id:
        raise UnprovenAnswer(f"its entry {index} is not the issuance of {license_id}")
    since = body.get("status_since")
    changed = code != "01"  # when and why it changed: only a changed status has them
    return StatusAnswer(
        code,
        "online",
        _integer(body.get("as_of", int(time.time()))),
        checkpoint_size=cp.size,
        # Proved in the region's ledger: the issuance of this license id, recording this
        # document or another one (signed with a stolen key, say).
        ledger_included=entry.digest == doc.digest(),
        since=since if changed and is_time(since) else None,
        reason=status_reason(body.get("status_reason")) if changed else None,
        replaced_by=status_reason(body.get("replaced_by")) if changed else None,
    )


class UnprovenAnswer(CheckFailed):
    """Part of a node's answer does not check out (see :class:`NodeAnswerUnproven`)."""
