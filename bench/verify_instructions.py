"""Offline verification counted in CPU instructions, beside raw PyNaCl verify: a figure
that does not move with the machine's noise.

``bench.verify`` measures the goal (verifications per second against raw PyNaCl), but on
a shared virtual machine its shares swing from round to round and from host to host. This
benchmark runs each system once under ``valgrind --tool=callgrind``, which counts the
instructions a program executes (Ir): the same count for the same code and inputs, however
busy the machine is. It shows what a change costs in work, and how much of the gap to the
goal is work rather than how fast this host runs it.

The parent builds the same region as ``bench.verify`` (``--licenses`` licenses, 1 %
revoked, the trust bundle and the signed revocation snapshot) and writes the workload to a
temporary file. A child process per system, under callgrind, opens the bundle and the
snapshot, verifies a few texts to warm up, and then runs its loop over ``--count`` items.
Each child runs twice, once with the loop over the items and once with the loop over
none, both with ``PYTHONHASHSEED=0``; the difference of the two totals is the loop's work,
whatever the interpreter's build (a stripped, optimised one such as Debian's has no symbol
for callgrind to start and stop collecting at). Systems:

- **eseal**: ``verify_text`` over the QR texts (bundle + snapshot status), as in
  ``bench.verify``;
- **PyNaCl**: ``VerifyKey.verify`` of signed messages as long as each license's
  Sig_structure (the raw signature check);
- **decode**: ``verifier.document.decode`` alone (everything but the signature and the
  steps after it);
- **empty**: the same loop doing nothing, subtracted from the others (the loop itself).

    python -m bench.verify_instructions [--quick] [--count 2000] [--licenses 20000]

It needs ``valgrind`` (Debian package ``valgrind``); it takes a few minutes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SYSTEMS: dict[str, str] = {
    "eseal": "verify_text: QR text to verdict (bundle + snapshot)",
    "PyNaCl": "VerifyKey.verify, message as long as the Sig_structure",
    "decode": "verifier.document.decode alone (no signature, no later steps)",
    "empty": "the loop alone (subtracted from the others)",
}
WARM_UP = 20
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9]+)")


# -- the child: one system's loop, under callgrind ------------------------------------------


def _child(workload: Path, system: str, count: int) -> None:
    """Open the workload, warm up, and run ``system``'s loop over its first ``count`` items."""
    import gc

    from nacl.signing import VerifyKey

    from verifier.document import decode
    from verifier.pipeline import VerifyContext, verify_text
    from verifier.revocation import SnapshotStatus, open_snapshot
    from verifier.trust import TrustBundle, TrustStore

    raw = json.loads(workload.read_text())
    store = TrustStore([TrustBundle.from_json(raw["bundle"])])
    snapshot = open_snapshot(base64.b64decode(raw["snapshot"]), store)
    ctx = VerifyContext(store, raw["now"], status=SnapshotStatus([snapshot]))
    texts: list[str] = raw["texts"]
    messages = [bytes.fromhex(m) for m in raw["messages"]]
    verify = VerifyKey(bytes.fromhex(raw["raw_public_key"])).verify

    def eseal(text: str) -> None:
        if not verify_text(text, ctx).valid:
            raise SystemExit(f"not valid: {text[:40]}…")

    loops: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "eseal": (eseal, texts),
        "PyNaCl": (verify, messages),
        "decode": (decode, texts),
        "empty": (lambda _: None, texts),
    }
    fn, items = loops[system]
    for item in items[:WARM_UP]:
        fn(item)
    gc.collect()  # no collection left pending from the setup inside the counted loop
    for item in items[:count]:
        fn(item)


# -- the parent ---------------------------------------------------------------------------


def _write_workload(path: Path, licenses: int, count: int, scratch: Path) -> int:
    """Build the region and write the workload for the children; how many items each."""
    from nacl.signing import SigningKey

    from bench.verify import VERIFY_AT, build_material
    from verifier.document import decode

    material = build_material(scratch, licenses, count)
    raw_key = SigningKey(b"\x07" * 32)
    messages = [raw_key.sign(os.urandom(len(decode(t).signed_bytes()))) for t in material.texts]
    doc = {
        "bundle": material.bundle.to_json(),
        "snapshot": base64.b64encode(material.snapshot_data).decode(),
        "now": VERIFY_AT,
        "texts": material.texts,
        "messages": [bytes(m).hex() for m in messages],
        "raw_public_key": bytes(raw_key.verify_key).hex(),
    }
    path.write_text(json.dumps(doc))
    return len(material.texts)


def _total(valgrind: str, workload: Path, system: str, count: int, scratch: Path) -> int:
    """Instructions callgrind counted in a whole child run of ``system`` over ``count`` items."""
    command = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={scratch / f'callgrind.{system}.{count}.out'}",
        sys.executable,
        "-m",
        "bench.verify_instructions",
        "--child",
        str(workload),
        system,
        str(count),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    found = _COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"callgrind run of {system} failed:\n{done.stderr[-2000:]}")
    return int(found[-1])


def _count(valgrind: str, workload: Path, system: str, items: int, scratch: Path) -> int:
    """Instructions of ``system``'s loop over ``items`` items: a run over them less one
    over none."""
    return _total(valgrind, workload, system, items, scratch) - _total(
        valgrind, workload, system, 0, scratch
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        _child(Path(argv[1]), argv[2], int(argv[3]))
        return {}

    from bench._common import base_parser, out_dir, table, write_json

    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "instruction counts")
    parser.add_argument("--count", type=int, default=None, help="items per system (2,000)")
    parser.add_argument(
        "--licenses", type=int, default=None, help="licenses the node issues (20,000)"
    )
    args = parser.parse_args(argv)
    licenses = args.licenses or (2_000 if args.quick else 20_000)
    count = min(args.count or (200 if args.quick else 2_000), licenses - licenses // 100)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("error: valgrind is not installed (Debian package valgrind)", file=sys.stderr)
        raise SystemExit(2)
    version = subprocess.run(
        [valgrind, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"verify_instructions: {licenses:,} licenses, 1 % revoked; {count:,} items a system")
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-instr-"))
    try:
        workload = scratch / "workload.json"
        items = _write_workload(workload, licenses, count, scratch / "node")
        counts: dict[str, int] = {}
        for system in SYSTEMS:
            counts[system] = _count(valgrind, workload, system, items, scratch)
            print(f"  {system:<7} {counts[system]:>15,} instructions in the loop", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    empty = counts["empty"]
    each = {s: (c - empty) / items for s, c in counts.items() if s != "empty"}
    raw = each["PyNaCl"]
    rows = [
        [s, SYSTEMS[s], f"{each[s]:,.0f}", f"{raw / each[s]:.0%}" if s != "decode" else "–"]
        for s in each
    ]
    print()
    print(table(["system", "what", "instructions each", "raw ÷ system"], rows))
    beyond = each["eseal"] - raw
    print(
        f"\neseal = the raw signature {raw:,.0f} + {beyond:,.0f} instructions more a "
        f"verification (decode {each['decode']:,.0f} of them); the empty loop's "
        f"{empty:,} subtracted from each"
    )
    doc = {
        "method": (
            "each system in its own child processes under valgrind --tool=callgrind "
            "(PYTHONHASHSEED=0): a run whose loop covers the items less one whose loop "
            "covers none, after the same warm-up and gc.collect(); instructions each = "
            "(that difference - the empty loop's) / items"
        ),
        "valgrind": version,
        "licenses": licenses,
        "items": items,
        "collected": counts,
        "instructions_each": each,
        "share_of_raw_by_instructions": raw / each["eseal"],
    }
    path = write_json(out_dir(args), "verify_instructions", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
