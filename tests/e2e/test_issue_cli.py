"""The issuing commands end to end: agencies, licenses with their printed files, seals and
stamps; bad input exits 2 and changes nothing."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image

from eseal.ids import make_license_id
from tests.e2e.conftest import Run, in_parallel, run_eseal

MARKET = "11500000MB16135217"
FOOD = "111000000000PH001J002"
FIELDS = [
    "license_number=JY15001030012345",
    "legal_representative=张三",
    "address=重庆市渝中区解放碑民族路1号",
    "premises=重庆市渝中区解放碑民族路1号",
    "main_business=餐饮服务经营者",
    "business_items=热食类食品制售",
]


def test_agency_license_seal_commands(tmp_path: Path) -> None:
    d = tmp_path / "node"

    def ok(*args: str | Path) -> dict[str, Any]:
        r = run_eseal("--data", d, "--json", *args, cwd=tmp_path)
        assert r.code == 0, str(r)
        out: dict[str, Any] = json.loads(r.stdout)
        return out

    def size() -> int:
        return int(
            json.loads(
                run_eseal("--data", d, "--json", "ledger", "checkpoint", cwd=tmp_path).stdout
            )["size"]
        )

    ok("init", "--region", "500000", "--name", "重庆市")
    agency = ok(
        "agency", "add", "--code", MARKET, "--name", "重庆市市场监督管理局", "--types", FOOD
    )
    assert str(agency["credential"]).startswith("esk_")
    types = json.loads(run_eseal("license", "types", "--json", cwd=tmp_path).stdout)
    assert len(types) >= 20
    assert all({"name", "kind", "required"} <= f.keys() for t in types for f in t["fields"])
    files = [tmp_path / "l.png", tmp_path / "l.svg", tmp_path / "l.pdf", tmp_path / "sheet.png"]
    field_args = [a for f in FIELDS for a in ("--field", f)]
    issued = ok(
        "license",
        "issue",
        "--agency",
        MARKET,
        "--type",
        FOOD,
        "--holder",
        "重庆小面",
        "--holder-id",
        "91500000MA60XXXX15",
        *field_args,
        "--qr",
        files[0],
        "--pdf",
        files[2],
        "--png",
        files[3],
    )
    ok("license", "print", issued["id"], "--qr", files[1])
    assert all(f.stat().st_size > 500 for f in files)
    assert files[2].read_bytes().startswith(b"%PDF")
    found = zxingcpp.read_barcodes(Image.open(files[0]))
    assert found[0].text == issued["qr_text"]
    second = ok(
        "license", "issue", "--agency", MARKET, "--type", FOOD, "--holder", "x", *field_args
    )
    renewed_png = tmp_path / "renewed.png"
    args = ("license", "renew", second["id"], "--valid-until", "2031-12-31", "--png", renewed_png)
    renewed = run_eseal("--data", d, *args, cwd=tmp_path)
    assert renewed.code == 0, str(renewed)
    said = dict(line.strip().split(" ", 1) for line in renewed.stdout.splitlines()[1:])
    assert said["QR:"].startswith("EL1:")  # the new version's QR, for its holder
    assert said["wrote"] == str(renewed_png)
    assert renewed_png.read_bytes().startswith(b"\x89PNG")
    before = size()
    bad = run_eseal(
        "--data",
        d,
        "license",
        "issue",
        "--agency",
        MARKET,
        "--type",
        "11100000000013338W032",
        "--holder",
        "x",
        cwd=tmp_path,
    )
    assert bad.code == 2
    assert "may not issue" in bad.stderr
    assert size() == before
    ok("license", "revoke", issued["id"], "--reason", "违法")
    again = run_eseal("--data", d, "license", "revoke", issued["id"], "--reason", "x", cwd=tmp_path)
    assert again.code == 2
    assert size() == before + 1
    seal = ok("seal", "create", "--agency", MARKET, "--name", "合同专用章", "--type", "contract")
    doc = tmp_path / "contract.txt"
    doc.write_text("合同正文", encoding="utf-8")
    stamped = ok(
        "seal",
        "stamp",
        seal["id"],
        doc,
        "--qr",
        tmp_path / "s.png",
        "--pdf",
        tmp_path / "sealed.pdf",
    )
    assert str(stamped["qr_text"]).startswith("ES1:")
    assert (tmp_path / "sealed.pdf").read_bytes().startswith(b"%PDF")
    rotated = ok("agency", "rotate", MARKET)
    ok("agency", "revoke-key", MARKET, rotated["key_id"], "--reason", "compromised")
    ok("seal", "revoke", seal["id"], "--reason", "丢失")
    verify = run_eseal("--data", d, "--json", "ledger", "verify", cwd=tmp_path)
    assert verify.code == 0, str(verify)


def test_bad_output_paths_and_csv_files_change_nothing(tmp_path: Path) -> None:
    """An output file that cannot be written, or a CSV that cannot be read, is refused
    (exit 2) before anything is signed or recorded; no directory is made on the way."""
    d = tmp_path / "node"

    def run(*args: str | Path) -> Run:
        return run_eseal("--data", d, "--json", *args, cwd=tmp_path)

    def size() -> int:
        return int(json.loads(run("ledger", "checkpoint").stdout)["size"])

    assert run("init", "--region", "500000", "--name", "重庆市").code == 0
    agency = ["agency", "add", "--code", MARKET, "--name", "重庆市市场监督管理局"]
    assert run(*agency, "--types", FOOD).code == 0
    seal = json.loads(
        run(
            "seal", "create", "--agency", MARKET, "--name", "合同专用章", "--type", "contract"
        ).stdout
    )
    doc = tmp_path / "contract.txt"
    doc.write_text("合同正文", encoding="utf-8")
    issue = ["license", "issue", "--agency", MARKET, "--type", FOOD, "--holder", "重庆小面"]
    issue += [a for f in FIELDS for a in ("--field", f)]
    missing = tmp_path / "no" / "such"
    csv_ok = "type,holder," + ",".join(f.split("=")[0] for f in FIELDS)
    row = f"{FOOD},重庆小面," + ",".join(f.split("=")[1] for f in FIELDS)
    long_csv, twice_csv = tmp_path / "long.csv", tmp_path / "twice.csv"
    long_csv.write_text(f"{csv_ok}\n{row}\n{FOOD},{'面' * 140_000},x\n", encoding="utf-8")
    twice_csv.write_text(f"{csv_ok},address\n{row},别处\n", encoding="utf-8")
    one_csv = tmp_path / "one.csv"
    one_csv.write_text(f"{csv_ok}\n{row}\n", encoding="utf-8")
    gbk_csv = tmp_path / "gbk.csv"
    gbk_csv.write_text(f"{csv_ok}\n{row}\n", encoding="gb18030")
    node_files = {p: p.read_bytes() for p in [d / "node.json", *(d / "keys").iterdir()]}
    before = size()
    cases: list[tuple[list[str | Path], str]] = [
        ([*issue, "--pdf", tmp_path], "is a directory"),
        ([*issue, "--qr", tmp_path / "l.gif"], "must end in .png or .svg"),
        ([*issue, "--png", missing / "sheet.png"], "is not a directory"),
        (["seal", "stamp", seal["id"], doc, "--qr", tmp_path], "is a directory"),
        (["seal", "stamp", seal["id"], doc, "--pdf", missing / "x.pdf"], "is not a directory"),
        (["license", "bulk", "--agency", MARKET, long_csv], "long.csv:3: not a readable CSV"),
        (["license", "bulk", "--agency", MARKET, twice_csv], "'address' is given more than"),
        (["license", "bulk", "--agency", MARKET, twice_csv, "--out", tmp_path], "directory"),
        (["license", "print", str(make_license_id(FOOD, MARKET, "1"))], "nothing to write: give"),
        (["license", "bulk", "--agency", MARKET, gbk_csv], "gbk.csv is not UTF-8 text (byte"),
        (["bundle", "export", "--out", d / "node.json"], "is a file of the node in"),
        (["revocations", "export", "--out", d / "ledger.db"], "is a file of the node in"),
        ([*issue, "--pdf", d / "keys" / "x.pdf"], "is a file of the node in"),
        (["license", "bulk", "--agency", MARKET, one_csv, "--out", d / "ledger.db"], "of the node"),
    ]
    runs = in_parallel({str(i): functools.partial(run, *args) for i, (args, _) in enumerate(cases)})
    for i, (args, said) in enumerate(cases):
        r = runs[str(i)]
        assert r.code == 2, (args, str(r))
        assert said in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert size() == before
    assert {p: p.read_bytes() for p in node_files} == node_files
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "l.gif").exists()
    # No CJK font for a printed license: refused before anything is signed. A font found
    # but unusable: the license is recorded, and the error says so and how to print it.
    printed: list[str | Path] = [*issue, "--pdf", tmp_path / "printed.pdf"]
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font")
    no_font, bad_font = (
        run_eseal("--data", d, *printed, cwd=tmp_path, env={"ESEAL_CJK_FONT": str(font)})
        for font in (tmp_path / "none.ttf", fake)
    )
    assert no_font.code == 2, str(no_font)
    assert "none.ttf is not a file" in no_font.stderr
    assert bad_font.code == 2, str(bad_font)
    assert "Traceback" not in bad_font.stderr
    said = bad_font.stderr.split("; the license ")[1]
    license_id = said.split()[0]
    assert said.endswith(f"write its files with `eseal license print {license_id}`\n")
    shown = run("license", "show", license_id, "--json")
    assert shown.code == 0, str(shown)
    assert json.loads(shown.stdout)["qr_text"].startswith("EL1:")  # as the API names it
    assert size() == before + 1
    assert not (tmp_path / "printed.pdf").exists()
