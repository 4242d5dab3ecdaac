"""The verifier's only network edge: a node's status API (httpx), checked, not trusted.

The answer carries the issuance entry, its inclusion proof and the signed checkpoint;
the client verifies the checkpoint with the region's log key from the trust bundle, the
entry against the document's digest, and the proof against the checkpoint root.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from keys.errors import PARSE_ERRORS, EsealError, ExternalFailure, shown
from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from ledger.entries import decode_entry
from ledger.merkle import leaf_hash, verify_inclusion
from verifier.claims import is_time
from verifier.document import DecodedDocument, LicenseClaims
from verifier.envelope import MAX_ENVELOPE
from verifier.pipeline import StatusAnswer, status_reason
from verifier.trust import TrustBundle

MAX_RESPONSE = 256 * 1024
ISSUANCE_KINDS = {"license.issue", "license.renew"}
#: A seal is active or revoked; a node that says anything else is not understood.
_SEAL_CODES = {"active": "01", "revoked": "07"}


class NodeUnreachable(ExternalFailure):
    """The node could not be asked (network, timeout, or a non-JSON answer)."""

    code = "node-unreachable"


class NodeAnswerMalformed(ExternalFailure):
    """The node answered, but not in the shape of a status answer (missing or mistyped
    fields): a broken node or proxy, which proves nothing either way about the document."""

    code = "node-answer-malformed"


def _bounded_get(client: httpx.Client, url: str, limit: int) -> tuple[int, bytes]:
    """(status code, body) of a GET, reading at most ``limit`` bytes of body."""
    try:
        with client.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise NodeUnreachable(f"{url} answered more than {limit // 1024} KiB")
            return response.status_code, bytes(body)
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        raise NodeUnreachable(f"cannot reach {url}: {e}") from e


def fetch_bundle(base_url: str, *, timeout: float = 10.0) -> bytes:
    """A node's signed trust bundle (check it with :func:`verifier.trust.open_bundle`)."""
    url = base_url.rstrip("/") + "/v1/bundle"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        status, body = _bounded_get(client, url, MAX_ENVELOPE)
    if status != 200:
        raise NodeUnreachable(f"{url} answered {status}")
    return body


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

    def _get(self, path: str) -> dict[str, Any] | None:
        """The node's JSON object at ``path``, or None when it answers 404 (unknown)."""
        status, body = _bounded_get(self._client, self.base_url + path, MAX_RESPONSE)
        if status == 404:
            return None
        if status != 200:
            raise NodeUnreachable(f"{self.base_url}{path} answered {status}")
        try:
            answer = json.loads(body)
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
        body = self._get(f"/v1/licenses/{quote(claims.license_id, safe='')}/status")
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
        except PARSE_ERRORS as e:
            # Not a status answer at all: an error to report, not evidence against the
            # document (a flaky proxy must not tell a clerk a genuine license is unrecorded).
            raise NodeAnswerMalformed(
                f"the node's status answer is malformed: {shown(e, 200)}"
            ) from e
        except EsealError as e:
            # A well-formed answer whose checkpoint, entry or proof does not check out.
            detail = e.message
            return StatusAnswer(
                None,
                "online",
                now,
                ledger_included=False,
                detail=f"the node's answer does not check out: {detail}",
            )

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        body = self._get(f"/v1/seals/{quote(seal_id, safe='')}/status")
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


def _check_answer(
    body: Any, bundle: TrustBundle, doc: DecodedDocument, license_id: str
) -> StatusAnswer:
    code = body["status"]
    if code not in {"01", "02", "03", "04", "05", "06", "07"}:
        raise ValueError(f"unknown status {shown(code)}")
    cp = verify_checkpoint(body["checkpoint"], parse_verifier_key(bundle.log_verifier))
    index = _integer(body["ledger_index"])
    raw = base64.b64decode(body["entry"], validate=True)
    entry = decode_entry(raw)
    included = (
        entry.kind in ISSUANCE_KINDS
        and entry.subject == license_id
        and entry.digest == doc.digest()
    )
    if included:
        proof = [base64.b64decode(h, validate=True) for h in body["inclusion_proof"]]
        verify_inclusion(leaf_hash(raw), index, cp.size, proof, cp.root_hash)
    since = body.get("status_since")
    changed = code != "01"  # when and why it changed: only a changed status has them
    return StatusAnswer(
        code,
        "online",
        _integer(body.get("as_of", int(time.time()))),
        checkpoint_size=cp.size,
        ledger_included=included,
        since=since if changed and is_time(since) else None,
        reason=status_reason(body.get("status_reason")) if changed else None,
        replaced_by=status_reason(body.get("replaced_by")) if changed else None,
    )
