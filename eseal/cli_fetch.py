"""``eseal bundle fetch`` and ``eseal revocations fetch``: a window's offline trust material,
fetched from its region's node and checked before it replaces the file the window holds.

A fetched bundle must be signed by the pinned root (``--pin``, or the root of the bundle
already kept), a fetched snapshot by the log key of the kept bundle's region; neither may be
older than the file it would replace (a node whose clock went back, or one replaying an old
file, must not take back a key revocation or a license revocation the window knows of), nor
take the place of another region's file (a window keeping several regions' files, one --out
mistyped or left at its default). The file is then written whole or not at all. A snapshot
kept that opens is named to the node by its hash (``If-None-Match``, the ETag the node gives
the file): a 304 says it is the node's current snapshot, and the 2.3 MB of a large region are
not sent again. Run both
from cron on a window that verifies offline; exit 0 written or up to date, 2 refused or not
reached (the file kept as it was).
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from eseal.cli_common import JsonOpt, emit, outside_node, read_file, utc_time
from eseal.cli_verify import (
    TrustRefused,
    bundle_app,
    newest_per_root,
    open_pinned,
    parse_pins,
    refusing,
    revocations_app,
)
from keys import ed25519
from keys.errors import CheckFailed, InvalidInput
from verifier.envelope import MAX_ENVELOPE, read_envelope
from verifier.pipeline import DEFAULT_SKEW
from verifier.trust import BUNDLE_TYPE, TrustBundle, TrustStore, open_bundle
from verifier.urls import node_url

T = TypeVar("T")

UrlArg = Annotated[
    str, typer.Argument(metavar="URL", help="The region's node, e.g. https://node.example.")
]


def _ahead(out: Path, when: int) -> str:
    """A hint for a kept file dated after this computer's clock: it blocks every correct
    file of the node until then, and the operator must be told why (ahead by more than the
    verifier's clock-skew allowance)."""
    if when <= time.time() + DEFAULT_SKEW:
        return ""
    return (
        f"; {out} is dated after this computer's clock ({utc_time(int(time.time()))}): if this "
        f"clock is right, the node that signed {out} ran ahead, and {out} should be removed"
    )


def _output(path: Path) -> Path:
    """``path`` checked as a file to write, before anything is fetched: not one of the
    node's own files either (a window may share a host with its node's data directory)."""
    from eseal.printing import output_path

    out = output_path(path) or path
    outside_node(None, out)
    return out


def _held(
    path: Path, what: str, payload_type: str, open_: Callable[[bytes], T], limit: int
) -> tuple[bytes, T | None, str]:
    """The file kept at ``path`` (b"" when there is none) and what it opens to, or None and
    why it does not open (signed by a key no longer trusted, say: it is replaced). A file
    that is not such a signed file at all (a mistyped --out), or larger than ``limit``, is
    refused, and kept."""
    if not path.exists():
        return b"", None, ""
    raw = read_file(path, what, limit)  # not a file, or too large: an error, kept
    try:
        read_envelope(raw, payload_type)
    except InvalidInput as e:
        raise InvalidInput(
            f"{path} is not a {what} ({e.message}): not replaced; remove it, or give another --out"
        ) from e
    try:
        return raw, open_(raw), ""
    except (InvalidInput, CheckFailed) as e:
        return raw, None, e.message


def _keep_or_write(path: Path, raw: bytes, data: bytes, why: str) -> bool:
    """Write ``data`` to ``path`` unless it holds it already (``raw``); whether it wrote."""
    if data == raw:
        return False
    if why:
        typer.echo(f"note: replacing {path}, which does not open: {why}", err=True)
    from eseal.printing import write_atomic

    write_atomic(path, data)
    return True


@bundle_app.command("fetch")
def bundle_fetch(
    url: UrlArg,
    pin: Annotated[
        str | None,
        typer.Option(
            metavar="ROOT_KEY_ID",
            help="The region's root key id (bundle export prints it). Without it, the "
            "root of the bundle already in --out.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(metavar="FILE", help="The bundle the window keeps.")] = Path(
        "bundle.json"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Fetch the region's trust bundle from its node into --out, once it checks out against
    the pinned root and is not older than the bundle kept there."""
    from verifier.online import fetch_bundle

    base = node_url(url, "URL")
    out = _output(out)
    given = parse_pins([pin]) if pin is not None else {}
    # With --pin, the kept file too is opened only if that root signed it (a file of another
    # root, or none, does not open and is replaced by the node's, once that checks out).
    opened = functools.partial(open_pinned, pins=given)
    raw, held, why = _held(out, "trust bundle", BUNDLE_TYPE, opened, MAX_ENVELOPE)
    if given:
        pins = given
    elif held is not None:
        pins = {held.region: held.root_key_id}
    elif why:
        raise InvalidInput(f"{out} does not open ({why}): pass --pin ROOT_KEY_ID to replace it")
    else:
        raise InvalidInput(
            "pass --pin ROOT_KEY_ID, the region's root key id (`eseal bundle export` prints "
            "it): a bundle fetched without a pin is trusted from whoever answers"
        )
    data = fetch_bundle(base)
    fetched = refusing(f"the bundle of {base}", functools.partial(open_pinned, data, pins))
    claimed = _claimed_region(raw) if held is None and why else None
    if claimed is not None and claimed != fetched.region:
        raise TrustRefused(
            f"{out} holds a bundle that says it is of region {claimed} (not opened: {why}), "
            f"and {base} is of region {fetched.region}: {out} kept (give each region's bundle "
            f"its own --out; remove {out} to take the node's all the same)"
        )
    if (
        held is not None
        and held.root_public_key == fetched.root_public_key
        and fetched.issued_at < held.issued_at
    ):
        raise TrustRefused(
            f"the bundle of {base} was signed at {utc_time(fetched.issued_at)}, before the one "
            f"in {out} ({utc_time(held.issued_at)}): {out} kept (a node whose clock went back, "
            f"or an old bundle replayed; remove {out} to take the node's all the same)"
            + _ahead(out, held.issued_at)
        )
    changed = _keep_or_write(out, raw, data, why)
    about = f"region {fetched.region}, signed as of {utc_time(fetched.issued_at)}"
    _report(out, data, changed, _bundle_facts(fetched), about, as_json)


#: A bundle payload's region member, as JSON writers write it (see :func:`_claimed_region`).
_REGION_MEMBER = re.compile(rb'"region"[ \t\n\r]*:[ \t\n\r]*"([0-9]{6})"')


def _claimed_region(raw: bytes) -> str | None:
    """The region a kept bundle that does not open says it is of, read from its payload's
    bytes (not parsed, nor believed: it only keeps the file from being replaced by another
    region's), or None where it names none, or several.

    With --pin, a kept bundle that the pinned root did not sign is replaced (a region whose
    root changed); but one of another region is most often a second region's file, its
    --out mistyped or left at its default, and replacing it would leave the window without
    that region's trust."""
    try:
        payload, _ = read_envelope(raw, BUNDLE_TYPE)
    except InvalidInput:
        return None
    said = {m.group(1).decode() for m in itertools.islice(_REGION_MEMBER.finditer(payload), 4)}
    return said.pop() if len(said) == 1 else None


def _bundle_facts(bundle: TrustBundle) -> dict[str, object]:
    return {
        "region": bundle.region,
        "name": bundle.name,
        "root_key_id": bundle.root_key_id.hex(),
        "issued_at": bundle.issued_at,
    }


@revocations_app.command("fetch")
def revocations_fetch(
    url: UrlArg,
    bundle: Annotated[
        list[Path],
        typer.Option(
            metavar="FILE",
            help="The region's trust bundle (as `bundle fetch` keeps it): its log key "
            "signs the snapshot. Repeat with the window's other regions' bundles, so that a "
            "snapshot of theirs kept in --out is told apart.",
        ),
    ],
    out: Annotated[
        Path, typer.Option(metavar="FILE", help="The snapshot the window keeps.")
    ] = Path("revocations.json"),
    as_json: JsonOpt = False,
) -> None:
    """Fetch the region's revocation snapshot from its node into --out, once its signature
    checks out and it is not older than the snapshot kept there."""
    from verifier.online import fetch_revocations
    from verifier.revocation import MAX_SNAPSHOT, SNAPSHOT_TYPE, open_snapshot

    base = node_url(url, "URL")
    out = _output(out)
    trusted = [
        refusing(f"bundle {path}", functools.partial(open_bundle, read_file(path, "bundle")))
        for path in bundle
    ]
    # The snapshot must not take the place of the bundle that checks it (a file that does
    # not open as a snapshot is replaced): that bundle would be lost.
    if out.exists() and any(out.samefile(path) for path in bundle):
        raise InvalidInput(f"--out {out} is a --bundle file: write the snapshot elsewhere")
    store = TrustStore(newest_per_root(trusted))
    opened = functools.partial(open_snapshot, store=store)
    raw, held, why = _held(out, "revocation snapshot", SNAPSHOT_TYPE, opened, MAX_SNAPSHOT)
    if held is None and why:
        _signed_by_a_log_key_given(out, raw, store)
    # A snapshot held that opens is named to the node (If-None-Match, its hash): a 304 says
    # the node's current snapshot is that very file, which opened already, and is kept.
    answered = fetch_revocations(base) if held is None else fetch_revocations(base, held=raw)
    data = raw if answered is None else answered
    fetched = held if held is not None and answered is None else None
    if fetched is None:
        fetched = refusing(f"the snapshot of {base}", functools.partial(opened, data))
    if held is not None and held.region != fetched.region:
        raise TrustRefused(
            f"{out} holds the snapshot of region {held.region}, and {base} is of region "
            f"{fetched.region}: {out} kept (give each region's snapshot its own --out)"
        )
    if held is not None and fetched.as_of < held.as_of:
        raise TrustRefused(
            f"the snapshot of {base} is as of {utc_time(fetched.as_of)}, before the one in {out} "
            f"({utc_time(held.as_of)}): {out} kept (a node whose clock went back, or an old "
            f"snapshot replayed; remove {out} to take the node's all the same)"
            + _ahead(out, held.as_of)
        )
    if held is not None and fetched.cut < held.cut:
        raise TrustRefused(
            f"the snapshot of {base} is as of the same second as the one in {out} and cut at "
            f"an earlier checkpoint (tree size {fetched.cut[1]:,} against {held.cut[1]:,}): "
            f"{out} kept (an old snapshot replayed; remove {out} to take the node's all the "
            "same)"
        )
    kept = held is not None and fetched.cut == held.cut and data != raw
    if kept:
        typer.echo(
            f"note: the snapshot of {base} is cut where the one in {out} is, as of the same "
            f"second: nothing tells which is newer, so {out} is kept (its next snapshot, "
            "cut later, will replace it)",
            err=True,
        )
    changed = not kept and _keep_or_write(out, raw, data, why)
    current = answered is None  # 304: the file held is the node's current snapshot
    facts: dict[str, object] = {
        "region": fetched.region,
        "as_of": fetched.as_of,
        "not_modified": current,
    }
    # The snapshot's time is that of its cut (a margin before the node's clock), not of its
    # signing: the window is told what it means for a license issued since.
    about = (
        f"region {fetched.region}, the status of licenses issued up to "
        f"{utc_time(fetched.as_of)}: one issued later has no status offline"
    )
    said = f"{out} is the node's current snapshot (not modified; {about})" if current else None
    _report(out, raw if kept else data, changed, facts, about, as_json, said)


def _signed_by_a_log_key_given(out: Path, raw: bytes, store: TrustStore) -> None:
    """Nothing when the kept snapshot ``raw``, which does not open, names the log key of a
    bundle given among its signers (a damaged file of a region trusted: replaced); else
    refused, the file kept. A snapshot that no given bundle's log key signed cannot be read
    (bytes no trusted key signed are never decoded), so its region is unknown: most often it
    is another region's, whose bundle was not given (a window keeping several regions'
    snapshots, one --out mistyped or left at its default), and replacing it would leave that
    region's licenses without an offline status."""
    from ledger.checkpoint import VerifierKeyInvalid, parse_verifier_key
    from verifier.revocation import SNAPSHOT_TYPE

    ours: set[bytes] = set()
    for trusted in store.bundles:
        try:
            ours.add(ed25519.key_id(parse_verifier_key(trusted.log_verifier).public_key))
        except VerifierKeyInvalid:
            continue  # open_snapshot names it when it checks the node's snapshot
    _, signatures = read_envelope(raw, SNAPSHOT_TYPE)
    if any(keyid in ours for keyid, _ in signatures):
        return
    signers = ", ".join(sorted(keyid.hex() for keyid, _ in signatures))
    raise TrustRefused(
        f"{out} holds a snapshot signed by log key {signers}, of none of the bundles given: "
        f"another region's (give each region's snapshot its own --out, or give its region's "
        f"bundle too), or of a node no longer trusted: {out} kept (remove it to take the "
        f"node's)"
    )


def _report(
    out: Path,
    data: bytes,
    changed: bool,
    facts: dict[str, object],
    about: str,
    as_json: bool,
    said: str | None = None,
) -> None:
    if said is None:
        said = (
            f"wrote {out} ({len(data)} bytes; {about})"
            if changed
            else f"{out} is up to date ({about})"
        )
    emit(
        {"path": str(out), "changed": changed, "bytes": len(data), **facts},
        as_json,
        lambda: typer.echo(said),
    )
