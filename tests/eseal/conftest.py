"""A region node with two agencies, for issuing tests (built once per module: key
derivation is deliberately slow)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from eseal import licenses
from eseal.agencies import AgencyCreated, add_agency
from eseal.ids import validate_identity_number
from eseal.licenses import IssueRequest
from eseal.node import Node, init_node
from verifier.document import Holder, holder_id_hash

NOW = 1_795_000_000
PASSPHRASE = b"test passphrase"
MARKET = "11500000MB16135217"
HOUSING = "115000000093416394"
BUSINESS = "111000000000PH001J001"
FOOD = "111000000000PH001J002"
WORKER = "11100000000013338W032"


@dataclass
class Region:
    node: Node
    market: AgencyCreated
    housing: AgencyCreated


def business_request(holder: str = "重庆山城小面餐饮有限公司", **fields: str) -> IssueRequest:
    values = {
        "company_type": "有限责任公司",
        "legal_representative": "张三",
        "established": "2021-03-15",
        "address": "重庆市渝中区解放碑民族路1号",
        "business_scope": "餐饮服务",
    } | fields
    return IssueRequest(BUSINESS, holder, "91500000MA60XXXX15", values)


def worker_request(id_number: str = "11010519491231002X") -> IssueRequest:
    return IssueRequest(
        WORKER,
        "李四",
        id_number,
        {
            "certificate_number": "渝建安A(2024)0012345",
            "operation_category": "建筑电工",
            "first_issued": "2024-05-20",
        },
    )


def legacy_mask(number: str) -> str:
    """A natural person's id number masked as licenses were issued before Argon2id: the
    region and the last four shown."""
    valid = validate_identity_number(number)
    return valid[:6] + "*" * 8 + valid[14:]


def _legacy_hashed(holder: Holder, number: str) -> Holder:
    salt = secrets.token_bytes(16)
    return replace(holder, id_hash=holder_id_hash(number, salt), id_salt=salt, id_argon2=None)


@contextlib.contextmanager
def legacy_holder_form() -> Iterator[None]:
    """Issue as eseal did before the Argon2id holder hash: the legacy mask and a SHA-256
    "ih", as in the licenses already in the field."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(licenses, "mask_identity_number", legacy_mask)
        patch.setattr(licenses, "hashed_holder", _legacy_hashed)
        yield


def make_region(data_dir: Path) -> Region:
    node = init_node(data_dir, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    market = add_agency(
        node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS, FOOD], now=NOW
    )
    housing = add_agency(
        node, code=HOUSING, name="重庆市住房和城乡建设委员会", types=[WORKER], now=NOW
    )
    return Region(node, market, housing)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("region"))
    yield r
    r.node.close()


def run_eseal(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """``eseal ARGS`` in this process, as its entry point runs it: exit code, stdout, stderr."""
    from eseal import cli

    monkeypatch.setattr("sys.argv", ["eseal", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    said = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, said.out, said.err
