"""The verifier's only network edge: a node's status API (httpx), checked, not trusted.

The answer carries the issuance entry, its inclusion proof and the signed checkpoint;
the client verifies the checkpoint with the region's log key from the trust bundle, the
entry against the document's digest, and the proof against the checkpoint root.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import quote

import httpx

from keys.errors import EsealError, ExternalFailure
from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from ledger.entries import decode_entry
from ledger.merkle import leaf_hash, verify_inclusion
from verifier.claims import MAX_TIME
from verifier.document import DecodedDocument, LicenseClaims
from verifier.pipeline import StatusAnswer, status_reason
from verifier.trust import TrustBundle

MAX_RESPONSE = 256 * 1024
ISSUANCE_KINDS = {"license.issue", "license.renew"}
#: A seal is active or revoked; a node that says anything else is not understood.
_SEAL_CODES = {"active": "01", "revoked": "07"}


class NodeUnreachable(ExternalFailure):
    """The node could not be asked (network, timeout, or a non-JSON answer)."""

    code = "node-unreachable"


def fetch_bundle(base_url: str, *, timeout: float = 10.0) -> bytes:
    """A node's signed trust bundle (check it with :func:`verifier.trust.open_bundle`)."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/v1/bundle", timeout=timeout)
    except httpx.HTTPError as e:
        raise NodeUnreachable(f"cannot reach {base_url}: {e}") from e
    if response.status_code != 200:
        raise NodeUnreachable(f"{base_url}/v1/bundle answered {response.status_code}")
    return response.content


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

    def _get(self, path: str) -> Any:
        try:
            response = self._client.get(self.base_url + path)
        except httpx.HTTPError as e:
            raise NodeUnreachable(f"cannot reach {self.base_url}: {e}") from e
        if response.status_code == 404:
            return None
        if response.status_code != 200 or len(response.content) > MAX_RESPONSE:
            raise NodeUnreachable(f"{self.base_url}{path} answered {response.status_code}")
        try:
            return response.json()
        except (ValueError, RecursionError) as e:
            raise NodeUnreachable(f"{self.base_url}{path} did not answer JSON") from e

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
        except (
            EsealError,
            KeyError,
            TypeError,
            ValueError,
            ArithmeticError,
            RecursionError,
            binascii.Error,
        ) as e:
            detail = e.message if isinstance(e, EsealError) else repr(e)
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
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str) or status not in _SEAL_CODES:
            raise NodeUnreachable(f"{self.base_url} answered seal status {status!r}")
        return StatusAnswer(_SEAL_CODES[status], "online", int(time.time()))

    def close(self) -> None:
        self._client.close()


def _check_answer(
    body: Any, bundle: TrustBundle, doc: DecodedDocument, license_id: str
) -> StatusAnswer:
    code = str(body["status"])
    if code not in {"01", "02", "03", "04", "05", "06", "07"}:
        raise ValueError(f"unknown status {code!r}")
    cp = verify_checkpoint(body["checkpoint"], parse_verifier_key(bundle.log_verifier))
    index = int(body["ledger_index"])
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
    return StatusAnswer(
        code,
        "online",
        int(body.get("as_of", time.time())),
        checkpoint_size=cp.size,
        ledger_included=included,
        since=since if type(since) is int and 0 <= since <= MAX_TIME else None,
        reason=status_reason(body.get("status_reason")),
    )
