"""The window's command line: ``eseal verify`` offline (bundle + revocation snapshot) and
from an image, exit 0 valid, 1 invalid, 2 error."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from eseal.render import qr_png
from tests.e2e.conftest import PASSPHRASE, Run, eseal_command, run_eseal
from tests.verifier.test_scan_pool import cmyk_jpeg, finder_tiles_png, huge_webp


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("verify-cli")
    data = work / "node"
    demo = run_eseal("--data", data, "--json", "demo", cwd=work)
    assert demo.code == 0, str(demo)
    result = json.loads(demo.stdout)
    revoked = result["revoked"]["id"]  # the demo revokes its second license
    assert revoked == result["licenses"][1]["id"]
    r = run_eseal("--data", data, "bundle", "export", "--out", work / "bundle.json", cwd=work)
    assert r.code == 0, str(r)
    # The licenses were issued seconds ago: a margin of 0 lets the snapshot speak for them
    # (the default, 120 s, leaves them to the online status; see the next test).
    r = run_eseal(
        "--data",
        data,
        "revocations",
        "export",
        "--out",
        work / "revocations.json",
        "--margin",
        "0",
        cwd=work,
    )
    assert r.code == 0, str(r)
    r = run_eseal("--data", data, "revocations", "export", "--out", work / "fresh.json", cwd=work)
    assert r.code == 0, str(r)
    return {"work": work, "demo": result, "revoked": revoked}


def _verify(offline: dict[str, object], *args: str | Path) -> Run:
    work = offline["work"]
    assert isinstance(work, Path)
    return run_eseal(
        "verify",
        *args,
        "--bundle",
        work / "bundle.json",
        "--revocations",
        work / "revocations.json",
        "--json",
        cwd=work,
        passphrase=None,
    )


def test_valid_revoked_and_garbage(offline: dict[str, object]) -> None:
    demo = offline["demo"]
    assert isinstance(demo, dict)
    ok = _verify(offline, demo["licenses"][0]["qr_text"])
    assert ok.code == 0, str(ok)
    assert json.loads(ok.stdout)["status"] == "VALID"
    assert json.loads(ok.stdout)["freshness"]["status_source"] == "offline"
    revoked = _verify(offline, demo["licenses"][1]["qr_text"])
    assert revoked.code == 1, str(revoked)
    assert json.loads(revoked.stdout)["status"] == "REVOKED"
    stale = _verify(offline, demo["licenses"][0]["qr_text"], "--max-status-age", "0")
    assert stale.code == 0
    assert json.loads(stale.stdout)["warnings"] == ["STALE_TRUST", "STALE_STATUS"]
    # With the default margin the just-issued licenses are not yet the snapshot's to judge.
    work = offline["work"]
    assert isinstance(work, Path)
    fresh = run_eseal(
        "verify",
        demo["licenses"][1]["qr_text"],
        "--bundle",
        work / "bundle.json",
        "--revocations",
        work / "fresh.json",
        "--json",
        cwd=work,
        passphrase=None,
    )
    assert fresh.code == 0, str(fresh)
    assert json.loads(fresh.stdout)["warnings"] == ["NO_STATUS"]
    said = run_eseal(
        "verify",
        demo["licenses"][1]["qr_text"],
        "--bundle",
        work / "bundle.json",
        "--revocations",
        work / "fresh.json",
        cwd=work,
        passphrase=None,
    )
    # The terminal says why the status went unchecked, and what to do about it.
    assert said.code == 0, str(said)
    assert "issued after the snapshot" in said.stdout, said.stdout
    assert "--online URL" in said.stdout, said.stdout
    garbage = _verify(offline, "EL1:NOT-A-LICENSE")
    assert garbage.code == 1
    assert json.loads(garbage.stdout)["status"] == "MALFORMED"


def test_from_an_image_and_a_sealed_document(offline: dict[str, object]) -> None:
    demo = offline["demo"]
    assert isinstance(demo, dict)
    ok = _verify(offline, "--image", demo["licenses"][2]["qr_png"])
    assert ok.code == 0, str(ok)
    stamp = demo["stamp"]
    work = offline["work"]
    assert isinstance(work, Path)
    sealed = _verify(offline, stamp["qr_text"], "--document", stamp["document"])
    assert sealed.code == 0, str(sealed)  # the demo wrote the original file beside its QR
    doc = work / "notice.txt"
    doc.write_bytes(b"something else")
    mismatch = _verify(offline, stamp["qr_text"], "--document", doc)
    assert mismatch.code == 1
    assert json.loads(mismatch.stdout)["status"] == "DOCUMENT_MISMATCH"
    # Without a snapshot, a stamp's hint names the seal's snapshot, not a license's issuance.
    unchecked = run_eseal(
        "verify", stamp["qr_text"], "--bundle", work / "bundle.json", cwd=work, passphrase=None
    )
    assert unchecked.code == 0, str(unchecked)
    assert "the seal's region's snapshot" in unchecked.stdout, unchecked.stdout
    assert "license was issued" not in unchecked.stdout


def test_the_demos_window_files_say_the_same_to_eseal_verify(offline: dict[str, object]) -> None:
    """What the demo's window verified in process, ``eseal verify`` says from the files it
    wrote: another region's license with both regions' bundles (跨省通办), and the revoked
    license against the snapshot cut after its revocation."""
    demo, work = offline["demo"], offline["work"]
    assert isinstance(demo, dict)
    assert isinstance(work, Path)
    peer, revoked, trust = demo["peer"], demo["revoked"], demo["trust"]
    both = run_eseal(
        "verify",
        "--image",
        peer["qr_png"],
        "--bundle",
        trust["bundle"],
        "--bundle",
        peer["bundle"],
        "--revocations",
        revoked["revocations"],
        "--revocations",
        peer["revocations"],
        "--json",
        cwd=work,
        passphrase=None,
    )
    assert both.code == 0, str(both)
    verdict = json.loads(both.stdout)
    assert (verdict["status"], verdict["colour"]) == ("VALID", "green")
    assert verdict["issuer"]["region_name"] == "四川省"
    alone = run_eseal(
        "verify", "--image", peer["qr_png"], "--bundle", trust["bundle"], cwd=work, passphrase=None
    )
    assert alone.code == 1, str(alone)
    assert "未知签发机关" in alone.stdout, alone.stdout
    again = run_eseal(
        "verify",
        "--image",
        revoked["qr_png"],
        "--bundle",
        trust["bundle"],
        "--revocations",
        revoked["revocations"],
        "--json",
        cwd=work,
        passphrase=None,
    )
    assert again.code == 1, str(again)
    assert json.loads(again.stdout)["status"] == "REVOKED"


def test_errors_exit_2(offline: dict[str, object]) -> None:
    work = offline["work"]
    assert isinstance(work, Path)
    no_trust = run_eseal("verify", "EL1:X", cwd=work, passphrase=None)
    assert no_trust.code == 2
    assert "bundle" in no_trust.stderr
    both = run_eseal("verify", cwd=work, passphrase=None)
    assert both.code == 2
    bad_pin = _verify(offline, "EL1:X", "--pin", "zz")
    assert bad_pin.code == 2
    demo = offline["demo"]
    assert isinstance(demo, dict)
    text = demo["licenses"][0]["qr_text"]
    # A snapshot and a node of the same region are refused once the node says its region
    # (tests/eseal/test_two_regions.py); a node that cannot be asked, before that.
    both_sources = _verify(offline, text, "--online", "http://127.0.0.1:9")
    assert both_sources.code == 2
    assert "127.0.0.1:9" in both_sources.stderr
    doc = work / "license-doc.txt"
    doc.write_text("x")
    license_with_file = _verify(offline, text, "--document", doc)
    assert license_with_file.code == 2
    assert "ES1:" in license_with_file.stderr
    # Nothing listens on port 9: the node cannot be asked, which is an error, not a verdict.
    unreachable = run_eseal(
        "verify",
        text,
        "--bundle",
        work / "bundle.json",
        "--online",
        "http://127.0.0.1:9",
        cwd=work,
        passphrase=None,
    )
    assert unreachable.code == 2, str(unreachable)
    assert "127.0.0.1:9" in unreachable.stderr


def _start_serve(work: Path, *options: str, output: int) -> tuple[subprocess.Popen[bytes], str]:
    """``eseal serve`` over the node in ``work`` on a free port, with the passphrase set, once
    it answers /healthz (or after a minute); the process and its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    env["ESEAL_PASSPHRASE"] = PASSPHRASE
    server = subprocess.Popen(
        [*eseal_command(), "--data", str(work / "node"), "serve", "--port", str(port), *options],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output == subprocess.PIPE else output,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    return server, url


def test_online_against_a_running_node(offline: dict[str, object]) -> None:
    work, demo = offline["work"], offline["demo"]
    assert isinstance(work, Path)
    assert isinstance(demo, dict)
    server, url = _start_serve(work, output=subprocess.DEVNULL)
    try:
        ok = run_eseal(
            "verify",
            demo["licenses"][0]["qr_text"],
            "--online",
            url,
            "--json",
            cwd=work,
            passphrase=None,
        )
        assert ok.code == 0, str(ok)
        verdict = json.loads(ok.stdout)
        assert verdict["freshness"]["status_source"] == "online"
        assert verdict["freshness"]["ledger_included"] is True
        assert verdict["warnings"] == ["UNPINNED_TRUST"]  # trusted whoever answered
        assert verdict["colour"] == "amber"
        exported = run_eseal(
            "--data",
            work / "node",
            "bundle",
            "export",
            "--out",
            work / "b2.json",
            "--json",
            cwd=work,
        )
        root = json.loads(exported.stdout)
        pinned = run_eseal(
            "verify",
            demo["licenses"][0]["qr_text"],
            "--online",
            url,
            "--pin",
            root["root_key_id"],
            "--json",
            cwd=work,
            passphrase=None,
        )
        assert pinned.code == 0, str(pinned)
        assert json.loads(pinned.stdout)["colour"] == "green"
        revoked = run_eseal(
            "verify", demo["licenses"][1]["qr_text"], "--online", url, cwd=work, passphrase=None
        )
        assert revoked.code == 1
        assert "已撤销" in revoked.stdout
        # The reason the demo gave, once.
        assert revoked.stdout.count(demo["revoked"]["reason"]) == 1, revoked.stdout
        wrong_pin = run_eseal(
            "verify",
            demo["licenses"][0]["qr_text"],
            "--online",
            url,
            "--pin",
            "00" * 8,
            cwd=work,
            passphrase=None,
        )
        assert wrong_pin.code == 2  # no verdict: the trust was refused
        assert "pinned" in wrong_pin.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_no_verdict_reached_is_exit_2(offline: dict[str, object]) -> None:
    """Exit 1 says 'the document is invalid'; a refused trust file, an unreadable file, an
    empty text or a bad URL reach no verdict, so they are exit 2 with one error line."""
    demo = offline["demo"]
    work = offline["work"]
    assert isinstance(demo, dict)
    assert isinstance(work, Path)
    text = demo["licenses"][0]["qr_text"]
    pinned_elsewhere = _verify(offline, text, "--pin", "00" * 8)
    assert pinned_elsewhere.code == 2, str(pinned_elsewhere)
    assert "is not the pinned" in pinned_elsewhere.stderr
    cut = work / "cut-bundle.json"
    raw = json.loads((work / "bundle.json").read_bytes())
    raw["signatures"][0]["sig"] = (
        raw["signatures"][1 % len(raw["signatures"])]["sig"][:-8] + "AAAAAAA="
    )
    cut.write_text(json.dumps(raw))
    unsigned = run_eseal("verify", text, "--bundle", cut, cwd=work, passphrase=None)
    assert unsigned.code == 2, str(unsigned)
    deep = work / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nested = run_eseal("verify", text, "--bundle", deep, cwd=work, passphrase=None)
    assert nested.code == 2, str(nested)
    assert "Traceback" not in nested.stderr
    long_name = run_eseal(
        "verify", "--image", "x" * 300, "--bundle", work / "bundle.json", cwd=work, passphrase=None
    )
    assert long_name.code == 2, str(long_name)
    assert long_name.stderr.startswith("error: ")
    assert "Traceback" not in long_name.stderr
    for args in (("   ",), (text, "--online", "http://[::1"), (text, "--online", "ftp://x")):
        r = run_eseal("verify", *args, "--bundle", work / "bundle.json", cwd=work, passphrase=None)
        assert r.code == 2, (args, str(r))
        assert "Traceback" not in r.stderr
    swapped = run_eseal(
        "verify", text, "--bundle", work / "revocations.json", cwd=work, passphrase=None
    )
    assert swapped.code == 2, str(swapped)
    assert swapped.stderr == (
        f"error: bundle {work / 'revocations.json'}: this is a revocation snapshot, not a "
        "trust bundle\n"
    )
    alone = run_eseal(
        "verify", text, "--revocations", work / "revocations.json", cwd=work, passphrase=None
    )
    assert alone.code == 2
    assert "--bundle" in alone.stderr


def test_an_image_with_a_web_links_code_or_two_licenses_codes(offline: dict[str, object]) -> None:
    """``--image`` of a license's QR code below a web link's: the license is verified (the
    link's was read, the first found); of two licenses' codes: which was meant cannot be
    told, said plainly, exit code 2 (the verdict on the first found was given)."""
    demo = offline["demo"]
    work = offline["work"]
    assert isinstance(demo, dict)
    assert isinstance(work, Path)

    def sheet(name: str, *pngs: bytes) -> Path:
        codes = [Image.open(io.BytesIO(png)).convert("L") for png in pngs]
        side = max(code.width for code in codes)
        image = Image.new("L", (side, side * len(codes)), 255)
        for i, code in enumerate(codes):
            image.paste(code, (0, side * i))
        image.save(work / name, format="PNG")
        return work / name

    link = qr_png("HTTPS://WWW.GSXT.GOV.CN/CORP/915000001234567890", scale=8)
    first, second = (Path(d["qr_png"]).read_bytes() for d in demo["licenses"][:2])
    r = _verify(offline, "--image", sheet("link.png", link, first))
    assert r.code == 0, str(r)
    assert json.loads(r.stdout)["document"]["id"] == demo["licenses"][0]["id"]
    r = _verify(offline, "--image", sheet("two.png", first, second))
    assert r.code == 2, str(r)
    assert r.stdout == ""
    assert r.stderr == (
        "error: the image shows the QR codes of 2 documents (licenses or seal stamps): "
        "send an image of one\n"
    )


def test_an_image_too_slow_to_read_stops_at_the_bound(offline: dict[str, object]) -> None:
    """A small PNG that would keep zxing busy far longer than the bound (tens of seconds):
    the CLI stops reading it after 5 s and says so, exit code 2."""
    work = offline["work"]
    assert isinstance(work, Path)
    hostile = work / "finders.png"
    hostile.write_bytes(finder_tiles_png(2800))
    started = time.monotonic()
    r = _verify(offline, "--image", hostile)
    assert time.monotonic() - started < 20
    assert r.code == 2, str(r)
    assert "took longer than 5 s" in r.stderr
    assert "Traceback" not in r.stderr


def test_an_image_too_large_to_decode_is_refused_plainly(offline: dict[str, object]) -> None:
    """A WebP over its 13-megapixel bound (a few dozen bytes, 635 MiB in Pillow's decoder)
    and a 40-megapixel CMYK JPEG (more memory than a scan worker may hold): the CLI says
    why, exit code 2."""
    work = offline["work"]
    assert isinstance(work, Path)
    for name, data, says in (
        ("huge.webp", huge_webp(), "WebP image must be at most 13 megapixels"),
        ("cmyk.jpg", cmyk_jpeg(), "needs more memory to read than the verifier allows"),
    ):
        (work / name).write_bytes(data)
        r = _verify(offline, "--image", work / name)
        assert r.code == 2, str(r)
        assert says in r.stderr, str(r)
        assert "Traceback" not in r.stderr


def test_exported_public_files_are_readable_by_other_users(offline: dict[str, object]) -> None:
    """A window service often runs as another user than the node's operator: the bundle and
    the snapshot are public, so they get the usual file mode, not a temp file's 0600."""
    work = offline["work"]
    assert isinstance(work, Path)
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("bundle.json", "revocations.json"):
        assert (work / name).stat().st_mode & 0o777 == 0o644 & ~umask, name
    # Written again, a file keeps the mode its owner gave it.
    narrowed = work / "narrowed.json"
    narrowed.write_bytes(b"")
    narrowed.chmod(0o600)
    data = work / "node"
    r = run_eseal("--data", data, "bundle", "export", "--out", narrowed, cwd=work)
    assert r.code == 0, str(r)
    assert narrowed.stat().st_size > 0
    assert narrowed.stat().st_mode & 0o777 == 0o600


def _head_timed_out(port: int, connections: int) -> float:
    """Open ``connections``, send each part of a head, and return how long until all were
    answered 408 and closed."""
    started = time.monotonic()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(connections)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for sock in socks:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    finally:
        for sock in socks:
            sock.close()
    return time.monotonic() - started


def test_serve_with_two_workers(offline: dict[str, object]) -> None:
    """`eseal serve --workers 2`: each worker process opens the node and answers, with the
    read timeouts given (uvicorn hands a worker the protocol class by name, the timeouts go
    through the environment); the server stops cleanly on SIGINT."""
    work, demo = offline["work"], offline["demo"]
    assert isinstance(work, Path)
    assert isinstance(demo, dict)
    server, url = _start_serve(
        work, "--workers", "2", "--header-timeout", "1", output=subprocess.PIPE
    )
    try:
        texts = [lic["qr_text"] for lic in demo["licenses"]] * 20

        def status(text: str) -> str:
            r = httpx.post(url + "/v1/verify", json={"text": text}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["freshness"]["ledger_included"] is True
            return str(r.json()["status"])

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(status, texts))
        assert statuses[:3] == ["VALID", "REVOKED", "VALID"]
        assert statuses == statuses[:3] * 20
        # At 1 s, whichever worker took a connection (the default is 10 s).
        assert 1 <= _head_timed_out(int(url.rsplit(":", 1)[1]), 6) < 6
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    log = out.decode(errors="replace")
    assert server.returncode == 0, log
    assert log.count("Application shutdown complete") == 2, log  # both workers ran


def test_serve_refuses_a_bad_passphrase_before_starting_workers(
    offline: dict[str, object],
) -> None:
    work = offline["work"]
    assert isinstance(work, Path)
    r = run_eseal("--data", work / "node", "serve", "--workers", "2", cwd=work, passphrase="wrong")
    assert r.code == 2, str(r)
    assert "passphrase" in r.stderr.lower()


def test_serve_on_a_taken_port_exits_2(offline: dict[str, object]) -> None:
    """uvicorn exits 3 when it cannot bind; eseal's commands exit 0, 1 or 2: a server that
    did not start is an error (2), with one line naming the address."""
    work = offline["work"]
    assert isinstance(work, Path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            r = run_eseal(
                "--data",
                work / "node",
                "serve",
                "--port",
                str(port),
                "--workers",
                workers,
                cwd=work,
            )
            assert r.code == 2, (workers, str(r))
            assert f"error: the server could not start on 127.0.0.1:{port}" in r.stderr, r.stderr
            # It said first which node it is: the region, the ledger's database, the data.
            assert "eseal node of region 500000 重庆市: ledger on SQLite, data in " in r.stderr


def _plain(offline: dict[str, object], *args: str | Path) -> Run:
    """``eseal verify`` with the human summary (no --json)."""
    work = offline["work"]
    assert isinstance(work, Path)
    return run_eseal(
        "verify",
        *args,
        "--bundle",
        work / "bundle.json",
        "--revocations",
        work / "revocations.json",
        cwd=work,
        passphrase=None,
    )


def test_holder_id_checks_the_holder_and_is_never_printed(offline: dict[str, object]) -> None:
    demo = offline["demo"]
    assert isinstance(demo, dict)
    company, person = demo["licenses"][0]["qr_text"], demo["licenses"][2]["qr_text"]
    spaced = "110105 19491231 002x"  # the demo worker's number, as a clerk may type it
    ok = _verify(offline, person, "--holder-id", spaced)
    assert ok.code == 0, str(ok)
    verdict = json.loads(ok.stdout)
    assert verdict["status"] == "VALID"
    assert {
        "step": "holder",
        "ok": True,
        "detail": "the presented id is the holder's identity number",
    } in verdict["checks"]
    said = _plain(offline, person, "--holder-id", spaced)
    assert said.code == 0, str(said)
    assert "证件号码与持证人一致" in said.stdout
    company_ok = _verify(offline, company, "--holder-id", "91500000ma60xxxx15")
    assert company_ok.code == 0, str(company_ok)
    other = "500103198808081237"  # a well-formed number, not the holder's
    for run in (
        _verify(offline, person, "--holder-id", other),
        _plain(offline, person, "--holder-id", other),
    ):
        assert run.code == 1, str(run)
        assert other not in run.stdout + run.stderr
    assert json.loads(_verify(offline, person, "--holder-id", other).stdout)["status"] == (
        "HOLDER_MISMATCH"
    )
    mismatch = _plain(offline, person, "--holder-id", other)
    assert "持证人不符" in mismatch.stdout
    # A revoked license keeps its own status whoever presents it.
    revoked = _verify(offline, demo["licenses"][1]["qr_text"], "--holder-id", other)
    assert json.loads(revoked.stdout)["status"] == "REVOKED"
    for spaced_out in (spaced, spaced.replace(" ", "").upper()):
        assert spaced_out not in ok.stdout + ok.stderr + said.stdout + said.stderr
    # Read from standard input ('-'), it stays out of the command line (the shell's history).
    work = offline["work"]
    assert isinstance(work, Path)
    bundle, snapshot = work / "bundle.json", work / "revocations.json"
    args = ("verify", person, "--bundle", bundle, "--revocations", snapshot, "--json")
    for typed, status, code in ((spaced + "\n", "VALID", 0), (other + "\n", "HOLDER_MISMATCH", 1)):
        piped = run_eseal(*args, "--holder-id", "-", cwd=work, passphrase=None, stdin=typed)
        assert piped.code == code, str(piped)
        assert json.loads(piped.stdout)["status"] == status


def test_a_holder_id_that_is_no_id_is_exit_2_unnamed(offline: dict[str, object]) -> None:
    demo = offline["demo"]
    assert isinstance(demo, dict)
    bad = "110105194912310021"  # the check character is wrong
    run = _verify(offline, demo["licenses"][2]["qr_text"], "--holder-id", bad)
    assert run.code == 2, str(run)
    assert "not an identity number" in run.stderr
    assert bad not in run.stdout + run.stderr
    stamp = _verify(offline, demo["stamp"]["qr_text"], "--holder-id", "91500000MA60XXXX15")
    assert stamp.code == 2, str(stamp)
    assert "a seal stamp has no holder" in stamp.stderr
    assert "91500000MA60XXXX15" not in stamp.stdout + stamp.stderr
