"""``eseal verify`` (the window's command line) and ``eseal bundle export``: exit 0 valid,
1 invalid, 2 error; the human summary is short and Chinese first, ``--json`` the verdict."""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from eseal.cli_common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    command_group,
    emit,
    holder_id_option,
    open_node,
    outside_node,
    plain_days,
    plain_int,
    read_file,
)
from eseal.problems import EXIT_CHECK_FAILED
from keys import ed25519
from keys.errors import CheckFailed, InvalidInput
from verifier.document import DecodedDocument
from verifier.holder import HolderNotApplicable, presented_id
from verifier.pipeline import (
    DEFAULT_MAX_STATUS_AGE,
    StatusAnswer,
    StatusSource,
    VerifyContext,
    unheld_seal_region,
    verify_text,
)
from verifier.scan import MAX_IMAGE_BYTES
from verifier.scan_pool import scan_image
from verifier.trust import CENTRAL_REGION, BundleNotPinned, TrustBundle, TrustStore, open_bundle
from verifier.urls import node_url
from verifier.verdict import (
    DOCUMENT_NOT_COMPARED,
    HOLDER_NOT_COMPARED,
    NO_STATUS,
    STALE_STATUS,
    STALE_TRUST,
    STATUS_TEXT,
    UNPINNED_TRUST,
    WARNING_TEXT,
    Status,
    Verdict,
    why_text,
)
from verifier.witness_policy import (
    MAX_POLICY_BYTES,
    MAX_POLICY_FILES,
    WitnessPolicies,
    WitnessPolicyUncovered,
    parse_policy,
)
from verifier.witnessing import MAX_WITNESSES, Witnessing, WitnessPolicy, WitnessRequirement

T = TypeVar("T")
bundle_app = command_group(help="The region's signed trust bundle.", no_args_is_help=True)
#: What to do about a warning, from this command line.
HINTS = {
    STALE_STATUS: "export a newer snapshot, or see --max-status-age",
    STALE_TRUST: "export a newer bundle, or see --max-status-age",
    DOCUMENT_NOT_COMPARED: "pass --document FILE",
    HOLDER_NOT_COMPARED: "compare the holder's name with the ID card instead",
    UNPINNED_TRUST: "pass --pin ROOT_KEY_ID",
    NO_STATUS: "pass --revocations FILE (a snapshot cut after the license was issued) or "
    "--online URL",
}


def qr_of_image(path: Path) -> str:
    """The text of the QR code in the image file ``path`` (``eseal verify --image``)."""
    return scan_image(read_file(path, "image", MAX_IMAGE_BYTES))


class TrustRefused(InvalidInput):
    """A trust file (bundle, snapshot) or the node's bundle was refused, so no verdict was
    reached: exit 2 like any bad input, never 1, which says the document is invalid."""

    code = "trust-refused"


def refusing(what: str, check: Callable[[], T]) -> T:
    """``check()``, its refusal (a bad signature, or a file that is not what it should be)
    naming the file or node it was about."""
    try:
        return check()
    except CheckFailed as e:  # exit 2, not 1: no verdict on the document was reached
        raise TrustRefused(f"{what}: {e.message}") from e
    except InvalidInput as e:  # its own problem code (malformed-bundle, …), the file named
        named = copy.copy(e)  # the refusal as raised stays as it was (it may be cached)
        named.message = f"{what}: {e.message}"
        named.args = (named.message,)
        raise named from e


#: Pinned root key ids by region code; the key None: a single pin, for whatever region.
Pins = dict[str | None, bytes]


def parse_pins(pins: list[str]) -> Pins:
    """``--pin ROOT_ID`` (one region), or ``--pin REGION=ROOT_ID`` for each of several: a root
    must not vouch for another region than its own."""
    out: Pins = {}
    for pin in pins:
        region, _, hex_id = pin.rpartition("=")
        try:
            key_id = bytes.fromhex(hex_id)
        except ValueError as e:
            raise InvalidInput(f"--pin {pin!r} is not a hex key id") from e
        if len(key_id) != ed25519.KEY_ID_SIZE:
            raise InvalidInput(f"--pin {pin!r} is not a key id (16 hex digits)")
        if len(pins) > 1 and not region:
            raise InvalidInput(
                "with several --pin, give each as REGION=ROOT_KEY_ID (e.g. 500000=c3204…), "
                "so that no region's root can vouch for another"
            )
        if (region or None) in out:
            raise InvalidInput(f"region {region} is pinned twice")
        out[region or None] = key_id
    return out


def open_pinned(data: bytes, pins: Pins) -> TrustBundle:
    """A signed bundle whose root is the one pinned for its region (any, when no pin). With
    pins, a bundle that no pinned root signed is refused before its payload is parsed."""
    if not pins:
        return open_bundle(data)
    try:
        bundle = open_bundle(data, pinned_roots=set(pins.values()))
    except BundleNotPinned as e:
        if None in pins:
            raise
        listed = ", ".join(sorted(f"{region}={key.hex()}" for region, key in pins.items()))
        raise BundleNotPinned(
            f"{e.message} (no --pin for the bundle's region? pinned: {listed})"
        ) from e
    wanted = pins.get(bundle.region, pins.get(None))
    if wanted is None:
        raise BundleNotPinned(f"no --pin for the bundle's region {bundle.region}")
    if bundle.root_key_id != wanted:
        raise BundleNotPinned(
            f"bundle root key {bundle.root_key_id.hex()} is not the pinned {wanted.hex()}"
            f" of region {bundle.region}"
        )
    return bundle


def newest_per_root(bundles: list[TrustBundle]) -> list[TrustBundle]:
    """One bundle per root, the newest (an older one would still list keys revoked since);
    and one root per region (two roots claiming a region leave it to the operator)."""
    newest: dict[bytes, TrustBundle] = {}
    for b in bundles:  # on a tie the later one (the node's, fetched last) speaks
        known = newest.get(b.root_public_key)
        if known is not None and known.region != b.region:
            raise TrustRefused(
                f"root key {b.root_key_id.hex()} signed bundles of two regions "
                f"({known.region} and {b.region})"
            )
        if known is None or b.issued_at >= known.issued_at:
            newest[b.root_public_key] = b
    roots: dict[str, bytes] = {}
    for b in newest.values():
        if roots.setdefault(b.region, b.root_key_id) != b.root_key_id:
            raise TrustRefused(
                f"two root keys claim region {b.region} ({roots[b.region].hex()} and "
                f"{b.root_key_id.hex()}): give only that region's bundle, or pin its root"
            )
    return list(newest.values())


class StatusByRegion:
    """Each region's status from its own source: its node, where ``--online`` names one, else
    its snapshot (``offline``, the snapshots given; None when none was). A window of one
    region asks its own node online and keeps other regions' snapshots, or asks each
    region's node: a node answers only for its own region's licenses and seals."""

    def __init__(self, nodes: dict[str, StatusSource], offline: StatusSource | None) -> None:
        self.nodes = nodes
        self.offline = offline

    def _source(self, bundle: TrustBundle) -> StatusSource | None:
        return self.nodes.get(bundle.region, self.offline)

    def _none(self, what: str, bundle: TrustBundle) -> StatusAnswer:
        asked = ", ".join(sorted(self.nodes))
        detail = f"{what} of region {bundle.region}; the nodes asked are of {asked}"
        return StatusAnswer(None, "online", int(time.time()), detail=detail)

    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer:
        source = self._source(bundle)
        if source is None:
            return self._none("a license", bundle)
        return source.license_status(bundle, doc)

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        source = self._source(bundle)
        if source is None:
            return self._none("a seal", bundle)
        return source.seal_status(bundle, seal_id)


def witness_policy(
    keys: list[str], quorum: int | None, online: list[str], files: list[Path] | None = None
) -> WitnessRequirement | None:
    """The ``--witness`` keys and ``--quorum`` as a policy for every node asked ``--online``
    (None without ``--witness``); all the keys are required unless ``--quorum`` says fewer.
    Or the ``--witness-policy`` files, a quorum for each log they list."""
    if files:
        if keys or quorum is not None:
            raise InvalidInput(
                "--witness-policy and --witness/--quorum both say which witnesses to require: "
                "give one of them (a --witness-policy file names the witnesses and quorum)"
            )
        if not online:
            raise InvalidInput(
                "--witness-policy applies to the checkpoints of nodes asked online: give "
                "--online URL"
            )
        if len(files) > MAX_POLICY_FILES:
            raise InvalidInput(f"at most {MAX_POLICY_FILES} --witness-policy files are taken")
        parsed = [
            refusing(
                f"--witness-policy {path}",
                functools.partial(
                    parse_policy,
                    read_file(path, "witness policy", MAX_POLICY_BYTES),
                    f"--witness-policy {path}",
                ),
            )
            for path in files
        ]
        return WitnessPolicies(tuple(parsed))
    if not keys:
        if quorum is not None:
            raise InvalidInput("--quorum needs the witnesses it counts: give --witness VKEY")
        return None
    if not online:
        raise InvalidInput(
            "--witness applies to the checkpoints of nodes asked online: give --online URL"
        )
    return WitnessPolicy.parse(keys, quorum)


def _nodes(
    online: list[str],
    pinned: Pins,
    files: list[TrustBundle],
    witnesses: WitnessRequirement | None = None,
) -> tuple[list[TrustBundle], dict[str, StatusSource], dict[str, str]]:
    """The bundles of the nodes named by ``--online``, each checked against the pins (or the
    bundle files given), and each node's status source (under the witness policy, if any)
    and URL by its region. A node whose log the witness policy names no quorum for is
    refused before it is asked about any document."""
    from ledger.checkpoint import parse_verifier_key
    from verifier.online import OnlineStatus, fetch_bundle

    fetched_bundles: list[TrustBundle] = []
    nodes: dict[str, StatusSource] = {}
    urls: dict[str, str] = {}
    for url in online:
        node_url(url, "--online")
        data = fetch_bundle(url)
        fetched = refusing(f"the bundle of {url}", functools.partial(open_pinned, data, pinned))
        if files and not any(b.root_public_key == fetched.root_public_key for b in files):
            raise TrustRefused(
                f"the node at {url} is of region {fetched.region}, whose root key is in "
                "none of the given bundles"
            )
        if fetched.region in urls:
            raise InvalidInput(
                f"--online {urls[fetched.region]} and --online {url} are both nodes of "
                f"region {fetched.region}: give one node a region"
            )
        if witnesses is not None:
            log = parse_verifier_key(fetched.log_verifier)
            try:
                witnesses.for_log(log)
            except WitnessPolicyUncovered as e:
                raise WitnessPolicyUncovered(
                    f"the node at {url} (region {fetched.region}) keeps the log {log}, which "
                    "no --witness-policy file names: add the line 'log <that key>' to the file "
                    "whose quorum its checkpoints must meet ('quorum none' in a file of its "
                    "own asks it without witnesses)"
                ) from e
        fetched_bundles.append(fetched)
        nodes[fetched.region] = OnlineStatus(url, region=fetched.region, witnesses=witnesses)
        urls[fetched.region] = url
    return fetched_bundles, nodes, urls


def window_trust(
    bundles: list[Path],
    pins: list[str],
    online: list[str],
    revocations: list[Path],
    witnesses: WitnessRequirement | None = None,
) -> tuple[TrustStore, StatusSource | None, dict[str, int]]:
    """The trust store, the status source and the newest signed time seen of each region,
    from the files and nodes given (``eseal verify``'s ``--bundle``, ``--pin``, ``--online``
    and ``--revocations``; ``eseal demo``'s window)."""
    pinned = parse_pins(pins)
    trusted: list[TrustBundle] = []
    for path in bundles:
        raw = read_file(path, "bundle")
        trusted.append(refusing(f"bundle {path}", functools.partial(open_pinned, raw, pinned)))
    # The nodes' bundles, signed by trusted roots, are newer than files: they carry the keys
    # revoked since (a revoked agency key must not pass because a file is old).
    fetched, nodes, node_urls = (
        _nodes(online, pinned, trusted, witnesses) if online else ([], {}, {})
    )
    trusted = newest_per_root(trusted + fetched)
    store = TrustStore(trusted)
    newest = dict(store.signed_at)
    status: StatusSource | None = None
    if len(nodes) == 1:
        status = next(iter(nodes.values()))  # it says itself what it does not answer for
    elif nodes:
        status = StatusByRegion(nodes, None)
    if revocations:
        from verifier.revocation import (
            MAX_SNAPSHOT,
            RevocationSnapshot,
            SnapshotStatus,
            open_snapshot,
        )

        if not trusted:
            raise InvalidInput("--revocations needs the region's trust: give --bundle FILE")
        by_region: dict[str, RevocationSnapshot] = {}
        # One per region; of two, the newer speaks: by as_of, then by the size of the
        # checkpoint it was cut at (RevocationSnapshot.cut, the one rule of snapshot order).
        for path in revocations:
            raw = read_file(path, "revocation snapshot", MAX_SNAPSHOT)
            snapshot = refusing(f"snapshot {path}", functools.partial(open_snapshot, raw, store))
            if snapshot.region in node_urls:
                raise InvalidInput(
                    f"--revocations {path} is of region {snapshot.region}, whose node "
                    f"--online {node_urls[snapshot.region]} gives its status: give a region's "
                    "node or its snapshot, not both"
                )
            known = by_region.get(snapshot.region)
            if known is None or snapshot.cut > known.cut:
                by_region[snapshot.region] = snapshot
            newest[snapshot.region] = max(newest.get(snapshot.region, 0), snapshot.as_of)
        offline = SnapshotStatus(list(by_region.values()))
        status = StatusByRegion(nodes, offline) if nodes else offline
    if not store.bundles:
        raise InvalidInput("no trust: give --bundle FILE (or --online URL)")
    return store, status, newest


def _hint(
    warning: str, verdict: Verdict, online: list[str], witnessing: Witnessing | None = None
) -> str:
    """What to do about ``warning``, from this command line: the status of a license that
    the node asked online did not give (another region's) is its own region's to say."""
    region = (verdict.document or {}).get("region") if verdict.kind == "license" else None
    if warning == NO_STATUS and witnessing is not None and not witnessing.met:
        what = (
            "this document's latest entry is newer than the checkpoint its witnesses cosigned"
            if witnessing.unwitnessed
            else "the node's witnesses have not cosigned its checkpoint"
        )
        looser = (
            "a looser quorum in the --witness-policy file"
            if witnessing.rule is not None
            else "fewer --witness or a lower --quorum"
        )
        again = "verify again once its operator has run eseal witness ask"
        return f"{what}: {again}, or ask with {looser}"
    if warning == NO_STATUS and online:
        if region:
            return (
                f"the status of a license of region {region} is its own node's to say: add "
                "--online and that node's URL, or that region's --bundle and --revocations"
            )
        return "verify again offline with --bundle FILE and --revocations FILE"
    if warning == NO_STATUS and verdict.kind == "stamp":  # a seal has no issuance to follow
        return "pass --revocations FILE (the seal's region's snapshot) or --online URL"
    return HINTS.get(warning, "")


def _unheld_hint(region: str | None, seal_region: str | None) -> str | None:
    """What to add for a license of ``region``, or a stamp of a seal of an agency of
    ``seal_region``, whose region's trust bundle was not given, or None."""
    if region is not None:
        whose = (
            f"中央国家机关签发 a license of the central government ({region})"
            if region == CENTRAL_REGION
            else f"其他地区签发 a license of region {region}"
        )
        return (
            f"{whose}, whose trust bundle was not given: add its --bundle FILE (eseal bundle "
            "fetch its node's URL --pin ITS_ROOT_KEY_ID --out FILE) and its --revocations "
            "FILE, or --online its node's URL"
        )
    if seal_region is None:
        return None
    # What the stamp says of its seal's agency, not to be believed: its seal is unknown.
    whose = (
        "盖章标明的用章单位为中央国家机关，其印章可能登记在未提供信任名单的地区 the stamp "
        "names a seal of a central government agency, which the bundle of any region may list, "
        "and none given does"
        if seal_region == CENTRAL_REGION
        else f"盖章标明的用章单位属其他地区 the stamp names a seal of an agency of region "
        f"{seal_region}, whose trust bundle was not given"
    )
    return (
        f"{whose}: add the --bundle FILE of the region whose node registered it (eseal bundle "
        "fetch its node's URL --pin ITS_ROOT_KEY_ID --out FILE) and its --revocations FILE, "
        "or --online its node's URL"
    )


def _summary(
    verdict: Verdict,
    online: list[str] | None = None,
    trusted: frozenset[str] = frozenset(),
    witnessing: Witnessing | None = None,
) -> None:
    """The short human summary, Chinese first; ``trusted``, the regions whose bundles were
    given; ``witnessing``, how the checkpoint of the node's answer was witnessed."""
    mark = {"green": "✔", "amber": "!", "red": "✘"}[verdict.colour]
    typer.echo(f"{mark} {STATUS_TEXT[verdict.status]}")
    d = verdict.document
    region = d.get("region") if d and verdict.kind == "license" else None
    elsewhere = verdict.status is Status.UNKNOWN_ISSUER and bool(region) and region not in trusted
    # A stamp names no region: its seal's agency does, by its credit code.
    seal_region = unheld_seal_region(verdict, trusted)
    # Of a region whose list was not given: not "possibly forged", the hint below says why.
    unheld = elsewhere or seal_region is not None
    said = None if verdict.valid or unheld else why_text(verdict.status, verdict.kind)
    if said:
        typer.echo(f"  说明 Why: {said}")
    if d and not verdict.valid:
        typer.echo("  未通过核验，以下内容仅供参考 not verified: shown for reference only")
    if verdict.kind == "license" and d:
        typer.echo(f"  {d.get('type_name') or d.get('type_code')}  {d.get('id')}")
        typer.echo(f"  持证主体 Holder: {d.get('holder')}")
        typer.echo(f"  有效期至 Valid until: {d.get('valid_until') or '长期'}")
    elif verdict.kind == "stamp" and d:
        typer.echo(f"  {d.get('seal_name') or d.get('seal_id')} — {d.get('file_name')}")
    holder = next((c for c in verdict.checks if c.step == "holder" and c.ok), None)
    if holder is not None:
        typer.echo(f"  持证人核对 Holder check: 证件号码与持证人一致 {holder.detail}")
    if verdict.issuer:
        who = "发证机关 Issuer" if verdict.kind == "license" else "用章单位 Seal of"
        typer.echo(
            f"  {who}: {verdict.issuer.get('agency_name')} ({verdict.issuer.get('region_name')})"
        )
    why = verdict.freshness.status_reason
    if why and not any(why in reason for reason in verdict.reasons):  # said once is enough
        typer.echo(f"  原因 Reason: {why}")
    if verdict.freshness.replaced_by:
        said = (
            "已转出，新证照 Transferred to"
            if verdict.status is Status.TRANSFERRED
            else "新证 Replaced by"
        )
        typer.echo(f"  {said}: {verdict.freshness.replaced_by}")
    for reason in verdict.reasons:
        typer.echo(f"  {reason}")
    if witnessing is not None:
        k, n, q = len(witnessing.cosigners), witnessing.witnesses, witnessing.quorum
        met = "" if witnessing.met else "，未达要求 not enough"
        need = f"需 {q} 个" if witnessing.rule is None else "按见证策略 by the policy"
        # A policy file counts witness keys (a witness that changed its key has two).
        who = "个见证方" if witnessing.rule is None else "个见证密钥"
        typer.echo(f"  见证 Witnessed: {k}/{n} {who}联署（{need}）{met}: {witnessing.describe()}")
    hint = _unheld_hint(region if elsewhere else None, seal_region)
    if hint:
        typer.echo(f"  hint: {hint}")
    unchecked = {c.step: c.detail for c in verdict.checks if not c.ok}
    for warning in verdict.warnings:
        seen = f" ({unchecked['status']})" if warning == NO_STATUS and "status" in unchecked else ""
        said = _hint(warning, verdict, online or [], witnessing)
        hint = f": {said}" if said else ""
        typer.echo(f"  warning: {WARNING_TEXT.get(warning, warning)}{seen}{hint}")


def verify_command(
    text: Annotated[
        str | None, typer.Argument(help="The QR text (EL1:… or ES1:…).", metavar="TEXT")
    ] = None,
    image: Annotated[
        Path | None, typer.Option(help="A photo or screenshot of the QR.", metavar="FILE")
    ] = None,
    document: Annotated[
        Path | None, typer.Option(help="For a seal stamp: the file.", metavar="FILE")
    ] = None,
    bundle: Annotated[
        list[Path] | None, typer.Option(help="Trust bundle file (repeat).", metavar="FILE")
    ] = None,
    pin: Annotated[
        list[str] | None,
        typer.Option(
            help="Required root key id (hex) of the bundle; for several regions, repeat as "
            "REGION=ROOT_KEY_ID.",
            metavar="[REGION=]ROOT_KEY_ID",
        ),
    ] = None,
    revocations: Annotated[
        list[Path] | None,
        typer.Option(help="Revocation snapshot file (repeat, one a region).", metavar="FILE"),
    ] = None,
    online: Annotated[
        list[str] | None,
        typer.Option(
            help="Ask this node for live status, with ledger proofs. It answers for its own "
            "region's licenses and seals: repeat for other regions' nodes (one a region), or "
            "give other regions' --revocations.",
            metavar="URL",
        ),
    ] = None,
    holder_id: Annotated[
        str | None,
        typer.Option(
            help="For a license: the id number on the presenter's ID card (or the company's "
            "credit code), to check that they are its holder. Never printed. '-' reads it "
            "from standard input (asked for, unechoed, in a terminal), so that it stays out "
            "of the shell's history.",
            metavar="ID",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            help="With --online: a witness whose cosignature the node's checkpoint must carry "
            "(its cosignature/v1 verifier key, as eseal witness key prints it; repeat, at "
            f"most {MAX_WITNESSES}). Short of the quorum, a status 01 is not believed: the "
            "verdict warns that the status was not checked.",
            metavar="VKEY",
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(
            help="How many of the --witness keys must have cosigned (default: all of them).",
            metavar="K",
            parser=plain_int(1, MAX_WITNESSES),
        ),
    ] = None,
    witness_policy_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--witness-policy",
            help="With --online, instead of --witness/--quorum: a witness policy file (the "
            "Sigsum policy format with C2SP verifier keys: log, witness, group and quorum "
            "lines) whose quorum the checkpoints of each log it lists must meet. Repeat for "
            "logs that need other witnesses, one file a quorum; every node asked must keep "
            "a log that one of them lists.",
            metavar="FILE",
        ),
    ] = None,
    max_status_age: Annotated[
        float,
        typer.Option(
            help="Days after which an offline snapshot or a trust bundle is stale.",
            metavar="DAYS",
            parser=plain_days(3650),
        ),
    ] = DEFAULT_MAX_STATUS_AGE / 86400,
    as_json: JsonOpt = False,
) -> None:
    """Verify a license or a sealed document, offline (bundle + snapshot) or online.

    Exit 0 valid (green, or amber with warnings), 1 invalid (a verdict was reached: revoked,
    expired, forged, malformed…), 2 no verdict (bad input, a trust file refused, a node not
    reached or answering what does not check out): then one error line on stderr and
    nothing on stdout, with --json too."""
    if (text is None) == (image is None):
        raise InvalidInput("give the QR text or --image FILE (one of them)")
    if image is not None:
        text = qr_of_image(image)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("the QR text is empty")
    if document is not None and not text.startswith("ES1:"):
        raise InvalidInput("--document is for a sealed document's stamp (ES1:), not a license")
    holder_id = holder_id_option(holder_id)
    if holder_id is not None:
        presented_id(holder_id)  # refused before any file is read; the message never names it
        if text.startswith("ES1:"):
            raise HolderNotApplicable("--holder-id is for a license: a seal stamp has no holder")
    witnesses = witness_policy(witness or [], quorum, online or [], witness_policy_file)
    store, status, newest = window_trust(
        bundle or [], pin or [], online or [], revocations or [], witnesses
    )
    document_bytes = read_file(document, "document") if document else None
    ctx = VerifyContext(
        store,
        int(time.time()),
        status=status,
        newest_seen=newest,
        max_status_age=int(max_status_age * 86400),
    )
    verdict = verify_text(text, ctx, document=document_bytes, holder_id=holder_id)
    if online and not bundle and not pin:
        verdict.warnings.append(UNPINNED_TRUST)  # amber: whoever answers is trusted
    trusted = frozenset(b.region for b in store.bundles)
    witnessing = verdict.freshness.witnessing
    emit(verdict.to_json(), as_json, lambda: _summary(verdict, online, trusted, witnessing))
    if not verdict.valid:
        raise typer.Exit(EXIT_CHECK_FAILED)


@bundle_app.command("export")
def bundle_export(
    out: Annotated[Path, typer.Option(help="Where to write the bundle.")] = Path("bundle.json"),
    with_images: Annotated[bool, typer.Option(help="Include seal images.")] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the region's trust bundle, signed by its root key."""
    from eseal.printing import output_path, write_atomic
    from eseal.trust_export import export_bundle

    output_path(out)
    outside_node(data, out)
    with open_node(data, database_url, unlock=True) as node:
        raw = export_bundle(node, now=int(time.time()), with_images=with_images)
        root = node.root_key_id.hex()
    write_atomic(out, raw)
    emit(
        {"path": str(out), "bytes": len(raw), "root_key_id": root},
        as_json,
        lambda: typer.echo(f"wrote {out} ({len(raw)} bytes); pin root key id {root}"),
    )


revocations_app = command_group(help="The signed revocation snapshot.", no_args_is_help=True)


@revocations_app.command("export")
def revocations_export(
    out: Annotated[Path, typer.Option(help="Where to write the snapshot.")] = Path(
        "revocations.json"
    ),
    margin: Annotated[
        int,
        typer.Option(
            help="Seconds before now that the snapshot speaks for: licenses issued later "
            "may still be on their way into the ledger and get no offline status.",
            parser=plain_int(0, 86400),
        ),
    ] = 120,
    witnessed: Annotated[
        bool,
        typer.Option(
            "--witnessed",
            help="Cut at the checkpoint the node's witnesses cosigned most, where the latest "
            "carries fewer of their lines (for peers that hold the region to a witness "
            "policy; GET /v1/revocations?witnessed=1).",
        ),
    ] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the revocation snapshot, signed by the log key and cut at the checkpoint (its
    note with the cosignature lines of the node's witnesses on it)."""
    from eseal.printing import output_path, write_atomic
    from eseal.trust_export import export_snapshot

    output_path(out)
    outside_node(data, out)
    with open_node(data, database_url, unlock=True) as node:
        raw = export_snapshot(node, now=int(time.time()), margin=margin, witnessed=witnessed)
    write_atomic(out, raw)
    emit(
        {"path": str(out), "bytes": len(raw)},
        as_json,
        lambda: typer.echo(f"wrote {out} ({len(raw)} bytes)"),
    )
