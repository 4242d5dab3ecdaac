"""Offline verification on one core: QR text to verdict, with a trust bundle and a signed
revocation snapshot, beside raw PyNaCl verify and beside pycose.

A node issues ``--licenses`` business licenses (``issue_many``, batches of 1,000) and
revokes 1 % of them; it exports its signed revocation snapshot (``export_snapshot``,
timed: the file's bytes, bytes per revoked license, build seconds) and its trust bundle.
The verifier side opens both (``open_snapshot``, timed) and runs ``verify_text`` on the QR
texts of ``--count`` distinct valid licenses: decode (base45, zlib, COSE_Sign1, claims),
issuer lookup, Ed25519 signature, authority chain, time, offline status from the cascade,
and the verdict. Beside it, in the same process and interleaved round by round (order
rotated):

- raw PyNaCl: ``VerifyKey.verify`` of signed messages each as long as that license's COSE
  Sig_structure (the signature check alone, the most any verifier could reach);
- pycose 1.1 on the same QR texts, as a Python user would otherwise write it: ``base45``
  decode, ``zlib.decompress``, ``Sign1Message.decode``, ``.key = OKPKey(crv=Ed25519, x=…)``
  (the key picked by the message's kid), ``verify_signature()``, ``cbor2.loads`` of the
  payload; no status, no chain, no claim checks.

Then, paired: eseal and raw PyNaCl alternated over chunks of 200 of the same texts (the
first of the two switched each pair), the share taken pair by pair, its median over every
pair of every round. On a shared machine whose load moves from second to second this is
the steadier figure; the goal counts as met only if both it and the rounds' median reach it.

Then where eseal's time goes, each stage timed alone over the same texts (µs each): decode
and its parts, the signature and its parts, and every later pipeline step.

    python -m bench.verify [--quick] [--repeats 5] [--count 10000] [--licenses 100000]
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import base45
import cbor2
import nacl.bindings
from nacl.signing import SigningKey, VerifyKey
from pycose.headers import KID
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from bench._common import base_parser, median, out_dir, pin_one_core, table, write_json
from bench.issue import AGENCY, holder
from eseal.licenses import change_status, issue_many
from eseal.trust_export import build_bundle, export_snapshot
from keys import ed25519
from tests.eseal.conftest import MARKET, NOW, business_request, make_region
from verifier import pipeline
from verifier.base45 import b45decode
from verifier.claims import parse_claims
from verifier.cose import _canonical_sign1, parse_cose_sign1, plain_cbor, sig_structure
from verifier.document import (
    MAX_INFLATED,
    DecodedDocument,
    decode,
    decode_base45,
    inflate,
    split_prefix,
)
from verifier.pipeline import VerifyContext, verify_text
from verifier.revocation import RevocationSnapshot, SnapshotStatus, open_snapshot
from verifier.trust import TrustBundle, TrustStore
from verifier.verdict import Status, Verdict

GOAL_SHARE_OF_RAW = 0.65
REVOKED_EVERY = 100  # 1 % of the licenses revoked
BATCH = 1_000
ISSUED_AT = NOW + 60
REVOKED_AT = NOW + 120
SNAPSHOT_AT = NOW + 600  # after SNAPSHOT_MARGIN, so the licenses are in the snapshot
VERIFY_AT = NOW + 660
SNAPSHOT_BUILDS = 3


# -- the region, its snapshot and the texts ------------------------------------------------


@dataclass(frozen=True)
class Material:
    """What the verifier side holds, and the workload (made before any clock starts)."""

    ctx: VerifyContext
    texts: list[str]  # QR texts of valid licenses, all distinct
    revoked_texts: list[str]
    public_key: bytes
    snapshot: dict[str, Any]
    bundle: TrustBundle  # what the verifier side trusts, and the signed snapshot's bytes
    snapshot_data: bytes


def build_material(scratch: Path, licenses: int, count: int) -> Material:
    region = make_region(scratch / "node")
    node = region.node
    try:
        started = time.perf_counter()
        ids: list[str] = []
        texts: list[str] = []
        for lo in range(0, licenses, BATCH):
            hi = min(lo + BATCH, licenses)
            reqs = [business_request(holder(i)) for i in range(lo, hi)]
            issued = issue_many(node, AGENCY, MARKET, reqs, now=ISSUED_AT, with_proofs=False)
            ids += [i.id for i in issued]
            texts += [i.qr_text for i in issued]
        issue_s = time.perf_counter() - started
        revoked = set(range(0, licenses, REVOKED_EVERY))
        started = time.perf_counter()
        for i in sorted(revoked):
            change_status(node, AGENCY, ids[i], "revoke", reason="bench", now=REVOKED_AT)
        revoke_s = time.perf_counter() - started
        print(
            f"  issued {licenses:,} licenses in {issue_s:.1f} s, revoked {len(revoked):,} "
            f"in {revoke_s:.1f} s",
            flush=True,
        )
        build_s: list[float] = []
        data = b""
        for _ in range(SNAPSHOT_BUILDS):
            started = time.perf_counter()
            data = export_snapshot(node, now=SNAPSHOT_AT)
            build_s.append(time.perf_counter() - started)
        bundle = build_bundle(node, now=SNAPSHOT_AT)
    finally:
        node.close()
    store = TrustStore([bundle])
    open_ms: list[float] = []
    snap: RevocationSnapshot | None = None
    for _ in range(SNAPSHOT_BUILDS):
        started = time.perf_counter()
        snap = open_snapshot(data, store)
        open_ms.append((time.perf_counter() - started) * 1e3)
    assert snap is not None
    # Exact for every license: the revoked ones 07, all others 01.
    wrong = sum((snap.status_of(lic) == "07") != (i in revoked) for i, lic in enumerate(ids))
    assert wrong == 0, f"{wrong} wrong snapshot answers"
    cascade_bytes = sum(len(c.to_bytes()) for c in snap.statuses.values())
    snapshot = {
        "licenses": licenses,
        "revoked": len(revoked),
        "file_bytes": len(data),
        "bytes_per_revoked": len(data) / len(revoked),
        "cascade_bytes": cascade_bytes,
        "cascade_bytes_per_revoked": cascade_bytes / len(revoked),
        "build_s": build_s,
        "build_s_median": median(build_s),
        "open_ms": open_ms,
        "open_ms_median": median(open_ms),
        "issue_s": issue_s,
        "revoke_s": revoke_s,
    }
    ctx = VerifyContext(store, VERIFY_AT, status=SnapshotStatus([snap]))
    valid = [t for i, t in enumerate(texts) if i not in revoked]
    revoked_texts = [texts[i] for i in sorted(revoked)][:100]
    key = bytes(bundle_key(store, valid[0]))
    return Material(ctx, valid[:count], revoked_texts, key, snapshot, bundle, data)


def bundle_key(store: TrustStore, text: str) -> bytes:
    return store.signers(decode(text).kid)[0].key.public_key


# -- the three verifiers, timed ------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def us_each(self) -> float:
        return self.seconds / self.count * 1e6


def _timed(body: Callable[[], int], count: int) -> Sample:
    started = time.perf_counter()
    bad = body()
    seconds = time.perf_counter() - started
    assert bad == 0, f"{bad} of {count} did not verify"
    return Sample(count, seconds)


class Workload:
    def __init__(self, material: Material) -> None:
        self.material = material
        self.texts = material.texts
        # Raw baseline: one signed message per text, as long as its Sig_structure.
        raw_key = SigningKey(b"\x07" * 32)
        self.raw_verify_key = VerifyKey(bytes(raw_key.verify_key))
        self.signed = [raw_key.sign(os.urandom(len(decode(t).signed_bytes()))) for t in self.texts]
        # pycose baseline: the verifier's keys by kid, as pycose's user would hold them.
        doc = decode(self.texts[0])
        self.keys_by_kid = {doc.kid: material.public_key}

    def eseal(self) -> Sample:
        ctx, texts = self.material.ctx, self.texts

        def body() -> int:
            return sum(not verify_text(t, ctx).valid for t in texts)

        return _timed(body, len(texts))

    def raw(self) -> Sample:
        verify, signed = self.raw_verify_key.verify, self.signed

        def body() -> int:
            for message in signed:
                verify(message)  # raises BadSignatureError if it does not verify
            return 0

        return _timed(body, len(signed))

    def floor(self) -> Sample:
        """The least any strict verifier of this format must do, fused into one function:
        base45, bounded inflate, the COSE_Sign1 layout, the claims' CBOR and its canonical
        re-encoding, the signature, and the snapshot lookup. No claim validation, no
        issuer, chain or time checks, no verdict."""
        texts, key = self.texts, self.material.public_key
        snapshot = self.material.ctx.status
        assert isinstance(snapshot, SnapshotStatus)
        lookup = snapshot.snapshots[0].status_of

        def one(text: str) -> str:
            inflater = zlib.decompressobj()
            cose = _canonical_sign1(inflater.decompress(b45decode(text[4:]), MAX_INFLATED))
            assert cose is not None
            assert inflater.eof
            claims = cbor2.loads(cose.payload)
            assert plain_cbor(claims) == cose.payload
            signed = cose.signature + sig_structure(cose.protected, cose.payload)
            nacl.bindings.crypto_sign_open(signed, key)  # raises if it does not verify
            return lookup(claims[7].decode())

        def body() -> int:
            return sum(one(t) != "01" for t in texts)

        return _timed(body, len(texts))

    def pycose(self) -> Sample:
        keys, texts = self.keys_by_kid, self.texts

        def body() -> int:
            bad = 0
            for text in texts:
                msg = Sign1Message.decode(zlib.decompress(base45.b45decode(text[4:])))
                msg.key = OKPKey(crv=Ed25519, x=keys[cast(bytes, msg.get_attr(KID))])
                if not msg.verify_signature():
                    bad += 1
                cbor2.loads(cast(bytes, msg.payload))
            return bad

        return _timed(body, len(texts))


#: Texts per half of a pair in the paired figure: about 15–40 ms of work, short enough that
#: another tenant's load is much the same for both halves.
PAIR_CHUNK = 200


def paired(work: Workload, chunk: int = PAIR_CHUNK) -> list[float]:
    """eseal and raw PyNaCl alternated over short chunks of the same texts (which goes first
    switches each pair): per pair, raw seconds ÷ eseal seconds, the share of the raw rate.

    On a shared machine the load of other tenants changes from second to second, and a
    round of 10,000 verifications per system sees different loads; two halves a few
    milliseconds apart see much the same."""
    ctx, texts = work.material.ctx, work.texts
    verify, signed = work.raw_verify_key.verify, work.signed
    clock = time.perf_counter

    def eseal(items: Sequence[str]) -> float:
        started = clock()
        for text in items:
            if not verify_text(text, ctx).valid:
                raise AssertionError(f"{text[:20]}… did not verify")
        return clock() - started

    def raw(items: Sequence[bytes]) -> float:
        started = clock()
        for message in items:
            verify(message)
        return clock() - started

    shares: list[float] = []
    for i, lo in enumerate(range(0, len(texts) - chunk + 1, chunk)):
        mine, theirs = texts[lo : lo + chunk], signed[lo : lo + chunk]
        if i % 2:
            raw_s = raw(theirs)
            eseal_s = eseal(mine)
        else:
            eseal_s = eseal(mine)
            raw_s = raw(theirs)
        shares.append(raw_s / eseal_s)
    return shares


SYSTEMS: dict[str, str] = {
    "eseal": "verify_text: QR text to verdict (bundle + snapshot)",
    "PyNaCl": "VerifyKey.verify, message as long as the Sig_structure",
    "pycose": "base45 + zlib + Sign1Message.decode + verify_signature + cbor2.loads",
    "floor": "fused: decode, canonical check, signature, snapshot lookup; nothing else",
}


# -- where the time goes -------------------------------------------------------------------


def _per_item(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
    """µs per call of ``fn`` over ``items``."""
    started = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def _staged(text: str, ctx: VerifyContext, acc: dict[str, float]) -> Verdict:
    """``verify_text`` with each step timed (ns added to ``acc``); the same steps in the
    same order (the pipeline's own STEPS), so the sum of the steps is the pipeline."""
    clock = time.perf_counter_ns
    run = pipeline._Run(ctx, Verdict(Status.VALID, checked_at=ctx.now))
    t = clock()
    pipeline.decode_step(run, text)
    now = clock()
    acc["decode_step"] += now - t
    for step in pipeline.STEPS:
        t = now
        step(run)
        now = clock()
        acc[step.__name__] += now - t
    t = now
    pipeline.check_document(run, None)
    pipeline._conclude(run)
    acc["document + describe"] += clock() - t
    return run.verdict


def breakdown(work: Workload) -> dict[str, float]:
    """µs per text of each stage, each timed alone over the workload's texts."""
    texts, ctx, pub = work.texts, work.material.ctx, work.material.public_key
    bodies = [split_prefix(t) for t in texts]
    b45 = [decode_base45(b) for _, b in bodies]
    cose_bytes = [inflate(b) for b in b45]
    coses = [parse_cose_sign1(c) for c in cose_bytes]
    docs: list[DecodedDocument] = [decode(t) for t in texts]
    sig = [(d.signed_bytes(), d.signature) for d in docs]
    out: dict[str, float] = {
        "decode (verifier.document.decode)": _per_item(decode, texts),
        "  split_prefix + base45": _per_item(lambda t: decode_base45(split_prefix(t)[1]), texts),
        "  zlib inflate": _per_item(inflate, b45),
        "  parse_cose_sign1": _per_item(parse_cose_sign1, cose_bytes),
        "  parse_claims": _per_item(lambda c: parse_claims("license", c.payload), coses),
        "signature (DecodedDocument.verify_with)": _per_item(lambda d: d.verify_with(pub), docs),
        "  Sig_structure": _per_item(lambda d: sig_structure(d.protected, d.payload), docs),
        "  ed25519.verify (PyNaCl)": _per_item(lambda s: ed25519.verify(pub, s[0], s[1]), sig),
    }
    acc: dict[str, float] = dict.fromkeys(
        ["decode_step", *(s.__name__ for s in pipeline.STEPS), "document + describe"], 0.0
    )
    for text in texts:
        assert _staged(text, ctx, acc).valid
    for name, ns in acc.items():
        out[f"step: {name}"] = ns / len(texts) / 1e3
    out["whole (verify_text)"] = _per_item(lambda t: verify_text(t, ctx), texts)
    return out


def report(samples: dict[str, list[Sample]], repeats: int) -> list[dict[str, Any]]:
    """Print the rates beside the raw rate; the figures for the JSON."""
    raw_rate = median([s.rate for s in samples["PyNaCl"]])
    results: list[dict[str, Any]] = []
    rows: list[list[object]] = []
    for name, runs in samples.items():
        rates = [s.rate for s in runs]
        share = median(rates) / raw_rate
        per_round = [s.rate / r.rate for s, r in zip(runs, samples["PyNaCl"], strict=True)]
        results.append(
            {
                "system": name,
                "what": SYSTEMS[name],
                "count": runs[0].count,
                "median_per_s": median(rates),
                "best_per_s": max(rates),
                "us_each_median": median([s.us_each for s in runs]),
                "share_of_raw": share,
                "share_of_raw_per_round": per_round,
                "rounds": [{"seconds": s.seconds, "rate": s.rate} for s in runs],
            }
        )
        rows.append(
            [
                name,
                SYSTEMS[name],
                median(rates),
                max(rates),
                median([s.us_each for s in runs]),
                f"{share:.0%}",
                f"{min(per_round):.0%}–{max(per_round):.0%}",
            ]
        )
    print()
    print(
        table(
            [
                "system",
                "what",
                f"median/s ({repeats})",
                "best/s",
                "µs each",
                "% of raw",
                "per round",
            ],
            rows,
        )
    )
    return results


def report_pairs(shares: list[float]) -> dict[str, Any]:
    """Print the paired figure (eseal's share of the raw rate, pair by pair)."""
    ordered = sorted(shares)
    n = len(ordered)
    figure = {
        "chunk": PAIR_CHUNK,
        "pairs": n,
        "median": median(ordered),
        "p25": ordered[n // 4],
        "p75": ordered[(3 * n) // 4],
        "shares": shares,
    }
    print(
        f"\npaired: eseal and raw alternated over {n:,} pairs of {PAIR_CHUNK} texts each: "
        f"eseal at {figure['median']:.1%} of the raw rate (median; quartiles "
        f"{figure['p25']:.1%}–{figure['p75']:.1%})"
    )
    return figure


def report_stages(stages: list[dict[str, float]], repeats: int) -> tuple[dict[str, float], float]:
    """Print the stage breakdown (medians over the rounds); it, and the rest of the
    pipeline after decode and signature, in µs."""
    stage_median = {k: median([s[k] for s in stages]) for k in stages[0]}
    whole = stage_median["whole (verify_text)"]
    print()
    print(
        table(
            ["stage (each timed alone)", f"µs median ({repeats})", "share of whole"],
            [[k, v, f"{v / whole:.0%}"] for k, v in stage_median.items()],
        )
    )
    decode_us = stage_median["decode (verifier.document.decode)"]
    sig_us = stage_median["signature (DecodedDocument.verify_with)"]
    rest_us = whole - decode_us - sig_us
    print(
        f"\nwhole {whole:.1f} µs = decode {decode_us:.1f} + signature {sig_us:.1f} "
        f"+ the rest of the pipeline {rest_us:.1f} µs"
    )
    return stage_median, rest_us


# -- main ----------------------------------------------------------------------------------


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "verify benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5; 2 quick)")
    parser.add_argument(
        "--count", type=int, default=None, help="verifications per figure a round (10,000)"
    )
    parser.add_argument(
        "--licenses", type=int, default=None, help="licenses the node issues (100,000)"
    )
    parser.add_argument("--scratch", type=Path, default=None, help="where the node goes")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    licenses = args.licenses or (5_000 if args.quick else 100_000)
    count = min(args.count or (1_000 if args.quick else 10_000), licenses - licenses // 100)

    cpu = pin_one_core()
    print(
        f"verify: pinned to CPU {cpu}; {licenses:,} licenses, 1 % revoked; "
        f"{repeats} rounds of {count:,} verifications per figure"
    )
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-verify-", dir=args.scratch))
    try:
        material = build_material(scratch, licenses, count)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    snap = material.snapshot
    ctx = material.ctx
    assert all(verify_text(t, ctx).status is Status.REVOKED for t in material.revoked_texts)
    work = Workload(material)

    runs: dict[str, Callable[[], Sample]] = {
        "eseal": work.eseal,
        "PyNaCl": work.raw,
        "pycose": work.pycose,
        "floor": work.floor,
    }
    names = list(runs)
    samples: dict[str, list[Sample]] = {n: [] for n in names}
    stages: list[dict[str, float]] = []
    pair_shares: list[float] = []
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sample = runs[name]()
            samples[name].append(sample)
            print(
                f"  round {r + 1}/{repeats}  {name:<7} {sample.rate:>9,.0f} /s  "
                f"{sample.us_each:6.1f} µs each",
                flush=True,
            )
        stages.append(breakdown(work))
        pair_shares += paired(work)
    results = report(samples, repeats)
    pairs = report_pairs(pair_shares)
    stage_median, rest_us = report_stages(stages, repeats)

    lengths = [len(t) for t in work.texts]
    print(
        f"QR texts: {len(lengths):,} distinct, {min(lengths)}–{max(lengths)} characters "
        f"(median {statistics.median(lengths):.0f})"
    )
    print(
        f"\nsnapshot of {snap['licenses']:,} licenses, {snap['revoked']:,} revoked: "
        f"{snap['file_bytes']:,} bytes signed file ({snap['bytes_per_revoked']:.2f} B/revoked; "
        f"cascades {snap['cascade_bytes']:,} B, {snap['cascade_bytes_per_revoked']:.2f} "
        f"B/revoked); export_snapshot {snap['build_s_median']:.2f} s (median of "
        f"{SNAPSHOT_BUILDS}), open_snapshot {snap['open_ms_median']:.2f} ms"
    )
    eseal_share = results[0]["share_of_raw"]
    met = min(eseal_share, pairs["median"]) >= GOAL_SHARE_OF_RAW
    print(
        f"\ngoal: offline verification ≥ {GOAL_SHARE_OF_RAW:.0%} of raw PyNaCl verify on one "
        f"core: {'met' if met else 'NOT met'} ({eseal_share:.0%} by rounds, "
        f"{pairs['median']:.0%} paired; pycose {results[2]['share_of_raw']:.0%})"
    )
    doc = {
        "method": (
            f"{repeats} rounds, the three figures interleaved (order rotated each round), each "
            f"over the same {count:,} distinct valid QR texts (raw: as many signed messages of "
            "the same lengths as their Sig_structures); rate = verifications / wall time; "
            "median and best over the rounds; the stage breakdown timed once per round after "
            "the figures, each stage alone over the same texts, medians; process pinned to "
            "one CPU"
        ),
        "pinned_cpu": cpu,
        "repeats": repeats,
        "versions": {
            n: _version(n) for n in ("pynacl", "pycose", "cbor2", "base45", "cryptography")
        },
        "goal": {"share_of_raw": GOAL_SHARE_OF_RAW, "met": met},
        "paired": pairs,
        "qr_text_chars": {"min": min(lengths), "max": max(lengths)},
        "results": results,
        "stages_us": stage_median,
        "stages_us_rounds": stages,
        "rest_us": rest_us,
        "snapshot": snap,
    }
    path = write_json(out_dir(args), "verify", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
