"""The verdict: one typed answer to "may I believe this document?", with what was checked
and how fresh the status is (the window page, the CLI and the API all show this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from verifier.witnessing import Witnessing


class Status(StrEnum):
    VALID = "VALID"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"
    LAPSED = "LAPSED"
    TRANSFERRED = "TRANSFERRED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    ISSUER_NOT_AUTHORISED = "ISSUER_NOT_AUTHORISED"
    KEY_REVOKED = "KEY_REVOKED"
    NOT_IN_LEDGER = "NOT_IN_LEDGER"
    MALFORMED = "MALFORMED"
    UNSUPPORTED = "UNSUPPORTED"
    DOCUMENT_MISMATCH = "DOCUMENT_MISMATCH"
    #: The id presented at the window is not the holder's (every other check passed).
    HOLDER_MISMATCH = "HOLDER_MISMATCH"


#: ``Status.VALID`` once: reading an enum member off its class costs 170 ns in CPython 3.11
#: (a descriptor call), a module global 20 ns, and every verification reads it.
VALID: Final = Status.VALID

#: National platform status codes → verdict status.
STATUS_OF_CODE = {
    "01": Status.VALID,
    "02": Status.SUSPENDED,
    "03": Status.WITHDRAWN,
    "04": Status.CANCELLED,
    "05": Status.LAPSED,
    "06": Status.TRANSFERRED,
    "07": Status.REVOKED,
}

#: The ledger entry kinds that change a license's status → the status code each records
#: (a renewal's lapse of the old version is ``license.lapse``). An online status other
#: than 01 is believed only with such an entry proved in the region's ledger.
CODE_OF_STATUS_KIND = {
    "license.reinstate": "01",
    "license.suspend": "02",
    "license.withdraw": "03",
    "license.cancel": "04",
    "license.lapse": "05",
    "license.transfer": "06",
    "license.revoke": "07",
}
#: The ledger entry kind of a seal's revocation (its one status change).
SEAL_REVOCATION = "seal.revoke"


def renewed_as(license_id: str) -> str:
    """The reason a renewal's ``license.lapse`` entry records: the renewed license's id."""
    return f"renewed as {license_id}"


#: Chinese first, for the window and printed output.
STATUS_TEXT = {
    Status.VALID: "有效 Valid",
    Status.REVOKED: "已撤销 Revoked",
    Status.SUSPENDED: "已暂停 Suspended",
    Status.WITHDRAWN: "已撤回 Withdrawn",
    Status.CANCELLED: "已注销 Cancelled",
    Status.LAPSED: "已失效 Lapsed",
    Status.TRANSFERRED: "已转出 Transferred out",
    Status.EXPIRED: "已过期 Expired",
    Status.NOT_YET_VALID: "尚未生效 Not yet valid",
    Status.BAD_SIGNATURE: "签名无效 Bad signature",
    Status.UNKNOWN_ISSUER: "未知签发机关 Unknown issuer",
    Status.ISSUER_NOT_AUTHORISED: "签发机关未获授权 Issuer not authorised",
    Status.KEY_REVOKED: "签发密钥已吊销 Issuing key revoked",
    Status.NOT_IN_LEDGER: "账本中无记录 Not in the ledger",
    Status.MALFORMED: "无法识别的证照码 Malformed",
    Status.UNSUPPORTED: "不支持的格式 Unsupported",
    Status.DOCUMENT_MISMATCH: "文件与印章不符 Document does not match",
    Status.HOLDER_MISMATCH: "持证人不符 Holder does not match",
}

#: Why a verdict is not valid, in the clerk's words, Chinese first (the CLI's summary; the
#: window page says the same in its own strings).
STATUS_WHY = {
    Status.REVOKED: "该证照已被发证机关撤销，不能作为有效凭证 revoked by the issuing agency: not "
    "valid proof",
    Status.SUSPENDED: "该证照已被发证机关暂停使用 suspended by the issuing agency",
    Status.WITHDRAWN: "该证照已被发证机关撤回 withdrawn by the issuing agency",
    Status.CANCELLED: "该证照已被注销 cancelled",
    Status.LAPSED: "该证照已失效 lapsed",
    Status.TRANSFERRED: "该证照已转出，请向现发证机关核实 transferred out: confirm with the "
    "current issuing agency",
    Status.EXPIRED: "已超过有效期 past its validity period",
    Status.NOT_YET_VALID: "尚未到生效日期 not valid yet",
    Status.BAD_SIGNATURE: "数字签名与内容不符：内容可能被篡改或伪造 the signature does not match "
    "the content: altered or forged",
    Status.UNKNOWN_ISSUER: "签发机关不在所给的信任名单中：可能是伪造的 the issuer is on none "
    "of the trusted lists given: possibly forged",
    Status.ISSUER_NOT_AUTHORISED: "签发机关无权签发此证照 the issuer may not issue this",
    Status.KEY_REVOKED: "签发所用的密钥已被吊销 the key it was signed with has been revoked",
    Status.NOT_IN_LEDGER: "账本中没有该证照的签发记录 the ledger holds no record of its issuance",
    Status.MALFORMED: "证照码无法解析：可能已损坏或被篡改 the code cannot be read: damaged or "
    "altered",
    Status.UNSUPPORTED: "不是本系统支持的证照码 not a code this system reads",
    Status.DOCUMENT_MISMATCH: "所给文件与盖章时的原始文件不一致：文件可能被改动过，或所给的是盖章件"
    "而非原始文件 the file given is not the file that was stamped: changed, or the stamped "
    "copy rather than the original",
    Status.HOLDER_MISMATCH: "所填证件号码与持证人不一致：请核对出示人的身份证件或营业执照 the id "
    "number given is not the holder's: check the presenter's ID card or business license",
}
#: A seal stamp's own words where they differ from a license's.
STAMP_WHY = {
    Status.REVOKED: "该印章已被撤销，其盖章不能作为有效凭证 the seal has been revoked: its stamps "
    "are not valid proof",
    Status.KEY_REVOKED: "该印章的密钥已被吊销，其盖章不能作为有效凭证 the seal's key has been "
    "revoked: its stamps are not valid proof",
    Status.UNKNOWN_ISSUER: "该印章不在所给的信任名单中：可能是伪造的 the seal is on none of the "
    "trusted lists given: possibly forged",
    Status.ISSUER_NOT_AUTHORISED: "该印章未获其地区授权 the seal is not authorised by its region",
    Status.NOT_YET_VALID: "盖章时间晚于当前时间，盖章尚未生效 stamped in the future: not in effect "
    "yet",
    Status.NOT_IN_LEDGER: "账本中没有该盖章的记录 the ledger holds no record of the stamp",
}


def why_text(status: Status, kind: str | None) -> str | None:
    """Why a verdict of ``status`` on a ``kind`` document is not valid, Chinese first."""
    if kind == "stamp" and status in STAMP_WHY:
        return STAMP_WHY[status]
    return STATUS_WHY.get(status)


#: Warnings that make a VALID verdict amber.
STALE_STATUS = "STALE_STATUS"
#: The trust bundle that vouched for the key is older than the maximum status age: keys
#: revoked since it was cut are not known (key revocations travel in the bundle).
STALE_TRUST = "STALE_TRUST"
CLOCK_BEHIND = "CLOCK_BEHIND"
NO_STATUS = "NO_STATUS"
#: A seal stamp verified without the file it stamped: the seal is good, the file unknown.
DOCUMENT_NOT_COMPARED = "DOCUMENT_NOT_COMPARED"
#: A holder id was presented, but the license carries nothing to compare it with (no "id"
#: of a legal person, neither "ia" nor "ih" of a natural person): the license is good, its
#: holder unknown.
HOLDER_NOT_COMPARED = "HOLDER_NOT_COMPARED"
#: The trust bundle came from the node that answers, with no root key pinned.
UNPINNED_TRUST = "UNPINNED_TRUST"

#: What each warning means, Chinese first (the CLI's summary; the window page has its own).
WARNING_TEXT = {
    STALE_STATUS: "吊销信息已过期 the revocation snapshot is older than its maximum age",
    STALE_TRUST: "信任名单已过期 the trust bundle is older than the maximum age: keys revoked "
    "since are not known",
    CLOCK_BEHIND: "本机时钟落后 this computer's clock is behind signed times it has seen",
    NO_STATUS: "未核验状态 the status was not checked",
    DOCUMENT_NOT_COMPARED: "未比对文件 the stamped file was not given to compare",
    HOLDER_NOT_COMPARED: "未能核对持证人 the license carries no holder id to compare with",
    UNPINNED_TRUST: "未固定信任根 the trust bundle is the node's own, with no root key pinned",
}


@dataclass(slots=True)
class Check:
    """One step of the pipeline: its name, whether it passed, and what it saw."""

    step: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Freshness:
    """How current the status and ledger evidence are."""

    status_source: str = "none"  # offline | online | none
    status_as_of: int | None = None
    stale: bool = False
    checkpoint_size: int | None = None
    ledger_included: bool | None = None
    #: Online: when the status last changed, and the agency's reason (both public in the
    #: ledger's status entry), e.g. why a license was revoked.
    status_since: int | None = None
    status_reason: str | None = None
    #: Online: the license that replaced this one (a renewal, a transfer), if any.
    replaced_by: str | None = None
    #: Under a witness policy (online, or a peer's snapshot held to one): how the checkpoint
    #: the status rests on was witnessed, met or not (then its good news was withheld).
    witnessing: Witnessing | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status_source": self.status_source,
            "status_as_of": self.status_as_of,
            "stale": self.stale,
            "checkpoint_size": self.checkpoint_size,
            "ledger_included": self.ledger_included,
            "status_since": self.status_since,
            "status_reason": self.status_reason,
            "replaced_by": self.replaced_by,
            "witnessed": None if self.witnessing is None else self.witnessing.to_json(),
        }


@dataclass(slots=True)
class Verdict:
    status: Status
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str | None = None  # license | stamp
    document: dict[str, Any] = field(default_factory=dict)
    issuer: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    freshness: Freshness = field(default_factory=Freshness)
    checked_at: int = 0
    #: False when the text is no eseal document at all (an unknown prefix: a web link, a
    #: payment code), which is UNSUPPORTED but says nothing of forgery.
    recognised: bool = True

    @property
    def valid(self) -> bool:
        return self.status is VALID

    @property
    def colour(self) -> str:
        """green: valid; amber: valid with a warning; red: anything else."""
        if not self.valid:
            return "red"
        return "amber" if self.warnings else "green"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "status_text": STATUS_TEXT[self.status],
            "valid": self.valid,
            "colour": self.colour,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "kind": self.kind,
            "document": self.document,
            "issuer": self.issuer,
            "checks": [{"step": c.step, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "freshness": self.freshness.to_json(),
            "checked_at": self.checked_at,
            "recognised": self.recognised,
        }
