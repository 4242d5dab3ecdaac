"""The service-window page (窗口核验) end to end: the real app served by uvicorn, the real
page in headless Chromium. Licenses are issued on a fresh node, rendered as QR PNGs and
uploaded, pasted and shown to a (fake) camera; each verdict's banner is checked, and a
screenshot of each result is saved to test-artifacts/window-*.png."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from PIL import Image, ImageDraw
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

import eseal
from eseal.agencies import Principal, add_agency
from eseal.ids import make_license_id
from eseal.licenses import change_status, issue, renew
from eseal.node import Node, init_node
from eseal.peer_sync import add_peer
from eseal.render import qr_png
from eseal.seals import create_seal, stamp
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import (
    BUSINESS,
    FOOD,
    HOUSING,
    MARKET,
    PASSPHRASE,
    WORKER,
    business_request,
)
from verifier import scan
from verifier.claims import LicenseClaims, StampBody, StampClaims
from verifier.document import decode, encode_stamp, sign_license

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BASE45 = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
NARROW_PHONE: ViewportSize = {"width": 375, "height": 667}
SMALL_TABLET: ViewportSize = {"width": 768, "height": 1024}
TABLET_LANDSCAPE: ViewportSize = {"width": 1024, "height": 768}
AGENT = Principal("agency", MARKET)
#: A license of Beijing: where a business transferred out of this region registered anew.
BEIJING_LICENSE = "1.2.156.3005.2.111000000000PH001J001.110000.2025000001.001.R"
#: Market bureaus (credit codes, of the region in their positions 3–8) of 北京, and of three
#: cities of 广东: 广州 (440100), 深圳 (440300) and 汕头 (440500).
BEIJING_MARKET = "11110000MB01234562"
GUANGZHOU_MARKET = "11440100MB0123456P"
SHENZHEN_MARKET = "11440300MB01234562"
SHANTOU_MARKET = "11440500MB0123456C"


@dataclass(frozen=True)
class Site:
    url: str
    files: Path
    valid_text: str
    stamped_document: Path
    moved_text: str  # a license transferred within the region
    moved_to: str  # the license of this region that replaces it


@dataclass(frozen=True)
class City:
    """A city's node (深圳, 440300) serving the window, peered with another city of its
    province (广州, 440100), whose trusted list it holds."""

    url: str
    peer: str
    peer_stamp: str  # a stamp by a seal of the peer's, which its list holds


def _unknown_key_license(site: Site, region: str, agency: str) -> str:
    """A license naming ``region`` and ``agency`` (its id's issuer code), signed by a key no
    region lists: unknown to any node, whichever region's list it holds."""
    ours = decode(site.valid_text).claims
    assert isinstance(ours, LicenseClaims)
    claims = dataclasses.replace(
        ours,
        issuer=agency,
        license_id=str(make_license_id(BUSINESS, agency, "2025000001")),
        body=dataclasses.replace(ours.body, region=region, seal_id=None),
    )
    return sign_license(claims, SigningKey.generate()).text


def _forge(qr_text: str) -> str:
    """The license with its holder's name changed and its signature kept: well formed,
    so only the signature step can tell."""
    import zlib

    import cbor2

    from verifier.base45 import b45encode
    from verifier.cose import cose_sign1_bytes
    from verifier.document import decode

    doc = decode(qr_text)
    claims = cbor2.loads(doc.payload)
    claims[-70001]["h"]["n"] = "重庆冒名顶替餐饮有限公司"
    payload = cbor2.dumps(claims, canonical=True)
    cose = cose_sign1_bytes(doc.protected, payload, doc.signature)
    return "EL1:" + b45encode(zlib.compress(cose, 9))


def _tamper(qr_text: str) -> str:
    """The QR text with one base45 character in the middle of its body changed."""
    prefix, body = qr_text.split(":", 1)
    i = len(body) // 2
    other = next(c for c in "0123456789ABCDEF" if c != body[i])
    tampered = f"{prefix}:{body[:i]}{other}{body[i + 1 :]}"
    assert set(tampered[len(prefix) + 1 :]) <= BASE45
    return tampered


def _phone_photo(png: bytes, qr_side: int | None = None, *, below: bytes | None = None) -> bytes:
    """A 12-megapixel JPEG, as a phone takes it: the QR on a sheet in a grey scene
    (``qr_side`` pixels wide if given: a QR photographed from afar), and the QR code
    ``below`` under it if given."""
    photo = Image.new("RGB", (4000, 3000), (120, 118, 110))
    sheet = Image.new("RGB", (1400, 1800), (245, 244, 238))
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    if qr_side is not None:
        qr = qr.resize((qr_side, qr_side), Image.Resampling.NEAREST)
    sheet.paste(qr, ((1400 - qr.width) // 2, 300))
    if below is not None:
        other = Image.open(io.BytesIO(below)).convert("RGB")
        sheet.paste(other, ((1400 - other.width) // 2, 400 + qr.height))
    photo.paste(sheet.rotate(3, expand=True, fillcolor=(120, 118, 110)), (1300, 500))
    grain = Image.effect_noise(photo.size, 24).convert("RGB")  # sensor noise, as photos have
    photo = Image.blend(photo, grain, 0.12)
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=88)
    return out.getvalue()


def _phone_screenshot(png: bytes) -> bytes:
    """A 1080×2400 phone screenshot showing the QR (2.6 megapixels, a PNG)."""
    screen = Image.new("RGB", (1080, 2400), (250, 250, 250))
    ImageDraw.Draw(screen).rectangle((0, 0, 1080, 220), fill=(196, 30, 58))
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    screen.paste(qr, ((1080 - qr.width) // 2, 700))
    out = io.BytesIO()
    screen.save(out, format="PNG")
    return out.getvalue()


def _not_a_qr_png() -> bytes:
    image = Image.new("RGB", (480, 320), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 200, 200), outline="black", width=6)
    draw.ellipse((260, 60, 420, 220), fill="#c8102e")
    draw.text((40, 260), "no QR code here", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _y4m(png: bytes, path: Path, size: tuple[int, int] = (640, 480)) -> None:
    """A one-frame Y4M video of ``png`` centred on grey (Chromium's fake camera loops it)."""
    width, height = size
    frame = Image.new("RGB", size, (150, 150, 150))
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    qr.thumbnail((height - 40, height - 40), Image.Resampling.NEAREST)
    frame.paste(qr, ((width - qr.width) // 2, (height - qr.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = [y.tobytes(), cb.resize(half).tobytes(), cr.resize(half).tobytes()]
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + b"".join(planes))


def _node(data_dir: Path, now: int) -> Node:
    """A region with two agencies (as tests/eseal/conftest.py's make_region), created now:
    the page verifies against the real clock."""
    node = init_node(data_dir, region="500000", name="重庆市", passphrase=PASSPHRASE, now=now)
    add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS, FOOD], now=now)
    add_agency(node, code=HOUSING, name="重庆市住房和城乡建设委员会", types=[WORKER], now=now)
    return node


def _require_chromium() -> None:
    """Fail (never skip) without Chromium: the page is only tested in a real browser."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make test`, which installs it "
            "(Debian package chromium) before running the tests"
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _require_chromium()
    root = tmp_path_factory.mktemp("window")
    now = int(time.time())
    node = _node(root / "node", now)
    files = root / "files"
    files.mkdir()
    seal = create_seal(
        node,
        AGENT,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=now,
    )
    # The agency's official seal (公章), which its licenses show; stamps use the contract seal.
    create_seal(
        node,
        AGENT,
        agency_code=MARKET,
        name="重庆市市场监督管理局",
        seal_type="official",
        image=None,
        now=now,
    )
    valid = issue(node, AGENT, MARKET, business_request(), now=now)
    revoked = issue(node, AGENT, MARKET, business_request("重庆两江小面有限公司"), now=now)
    change_status(node, AGENT, revoked.id, "revoke", reason="违法经营", now=now + 1)
    renewed = issue(node, AGENT, MARKET, business_request("重庆换证小面有限公司"), now=now)
    renew(node, AGENT, renewed.id, now=now + 1)
    transferred = issue(node, AGENT, MARKET, business_request("重庆迁出小面有限公司"), now=now)
    change_status(
        node, AGENT, transferred.id, "transfer", reason="迁往北京", to=BEIJING_LICENSE, now=now + 1
    )
    # Transferred within the region (a business moving to another district): the new license
    # is one issued here.
    moved = issue(node, AGENT, MARKET, business_request("重庆迁址小面有限公司"), now=now)
    moved_to = issue(node, AGENT, MARKET, business_request("重庆迁址小面有限公司"), now=now)
    change_status(
        node, AGENT, moved.id, "transfer", reason="迁至渝北区", to=moved_to.id, now=now + 1
    )
    document = "租赁合同：甲方重庆山城小面餐饮有限公司……".encode()
    stamped = stamp(node, AGENT, seal.id, document=document, document_name="租赁合同.txt", now=now)
    pngs = {
        "valid": qr_png(valid.qr_text, scale=8),
        "revoked": qr_png(revoked.qr_text, scale=8),
        "renewed": qr_png(renewed.qr_text, scale=8),
        "transferred": qr_png(transferred.qr_text, scale=8),
        "moved": qr_png(moved.qr_text, scale=8),
        "tampered": qr_png(_tamper(valid.qr_text), scale=8),
        "forged": qr_png(_forge(valid.qr_text), scale=8),
        "stamp": qr_png(stamped.qr_text, scale=8),
        "not-a-qr": _not_a_qr_png(),
    }
    (files / "phone-photo.jpg").write_bytes(_phone_photo(pngs["valid"]))
    (files / "screenshot.png").write_bytes(_phone_screenshot(pngs["valid"]))
    (files / "far-photo.jpg").write_bytes(_phone_photo(qr_png(valid.qr_text, scale=4), 280))
    for name, png in pngs.items():
        (files / f"{name}.png").write_bytes(png)
    (files / "租赁合同.txt").write_bytes(document)
    _y4m(pngs["valid"], files / "camera.y4m")
    server, thread, url = serve_app(node)
    try:
        yield Site(url, files, valid.qr_text, files / "租赁合同.txt", moved.qr_text, moved_to.id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.close()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """深圳's node (440300), which peers with 广州's (440100; eseal peer add, its bundle
    fetched from 广州's node as the command does), served."""
    root = tmp_path_factory.mktemp("city")
    now = int(time.time())
    shenzhen = init_node(
        root / "sz", region="440300", name="深圳市", passphrase=PASSPHRASE, now=now
    )
    try:
        guangzhou = init_node(
            root / "gz", region="440100", name="广州市", passphrase=PASSPHRASE, now=now
        )
        try:
            add_agency(
                guangzhou,
                code=GUANGZHOU_MARKET,
                name="广州市市场监督管理局",
                types=[BUSINESS],
                now=now,
            )
            gz_agent = Principal("agency", GUANGZHOU_MARKET)
            seal = create_seal(
                guangzhou,
                gz_agent,
                agency_code=GUANGZHOU_MARKET,
                name="合同专用章",
                seal_type="contract",
                image=None,
                now=now,
            )
            peer_stamp = stamp(
                guangzhou, gz_agent, seal.id, document=b"notice", document_name="n.txt", now=now
            ).qr_text
            server, thread, url = serve_app(guangzhou)
            try:
                add_peer(shenzhen, url, guangzhou.root_key_id.hex(), now=now)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            guangzhou.close()
        server, thread, url = serve_app(shenzhen)
        try:
            yield City(url, "440100", peer_stamp)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        shenzhen.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    _require_chromium()
    camera = [
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={site.files / 'camera.y4m'}",
    ]
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera, timeout=30_000
        )
        yield launched
        launched.close()


class Opened:
    """A fresh page on the window, with every console error and page error collected.
    ``mobile`` emulates a touch device (its meta viewport honoured); ``script`` runs in the
    page before its own; ``url`` is where the window is opened (the site's, by default);
    ``zone`` is the device's time zone (the machine's, by default). With ``learn``, the
    page is ready once it has learnt its node's region and peers too (/healthz answered)."""

    def __init__(
        self,
        browser: Browser,
        site: Site,
        viewport: ViewportSize,
        *,
        mobile: bool = False,
        script: str | None = None,
        url: str | None = None,
        zone: str | None = None,
        learn: bool = False,
    ) -> None:
        self.context = browser.new_context(
            viewport=viewport,
            locale="zh-CN",
            is_mobile=mobile,
            has_touch=mobile,
            timezone_id=zone,
        )
        if script is not None:
            self.context.add_init_script(script)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        if learn:
            with self.page.expect_response("**/healthz"):
                response = self.page.goto((url or site.url) + "/")
        else:
            response = self.page.goto((url or site.url) + "/")
        assert response is not None
        assert response.status == 200
        self.headers = response.headers
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")

    def _console(self, message: ConsoleMessage) -> None:
        # A 422 (no QR code in an image or a camera frame) is an answer the page handles.
        if message.type == "error" and "status of 422" not in message.text:
            self.errors.append(message.text)

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def opened(browser: Browser, site: Site) -> Iterator[Opened]:
    o = Opened(browser, site, DESKTOP)
    yield o
    o.close()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"window-{name}.png"), full_page=True)


def _upload(page: Page, image: Path) -> None:
    page.get_by_role("tab", name="上传图片").click()
    page.locator("#image-file").set_input_files(str(image))


def _paste(page: Page, text: str) -> None:
    """As a barcode scanner does: the code typed into the paste field, then Enter."""
    page.get_by_role("tab", name="粘贴证照码").click()
    page.locator("#qr-text").fill(text)
    page.locator("#qr-text").press("Enter")


def _stamp_checked_with_its_file(page: Page, site: Site) -> Locator:
    """The stamp's image uploaded (amber: no file compared), then its original file:
    green, two checks. The banner, for what follows. (Without the wait, a file chosen
    while the image is still read goes with its one check.)"""
    _upload(page, site.files / "stamp.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "amber")
    page.locator("#document-file").set_input_files(str(site.stamped_document))
    expect(banner).to_have_attribute("data-state", "green")
    return banner


def test_page_is_served_with_a_strict_policy(opened: Opened, site: Site) -> None:
    csp = opened.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "img-src 'self';" in csp
    assert "media-src 'self';" in csp
    assert opened.headers["x-content-type-options"] == "nosniff"
    assert opened.headers["content-type"].startswith("text/html")
    request = opened.page.request
    for path, kind in [
        ("/window/window.js", "text/javascript"),
        ("/window/window.css", "text/css"),
        ("/window/icon.svg", "image/svg+xml"),
    ]:
        r = request.get(site.url + path)
        assert r.status == 200, path
        assert r.headers["content-type"].startswith(kind), path
        assert r.headers["x-content-type-options"] == "nosniff"
    for path in ("/window/index.html", "/window/..%2fapi", "/window/nothing.js"):
        assert request.get(site.url + path).status == 404, path
    page = opened.page
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#banner")).to_have_attribute("role", "status")
    expect(page.locator("#banner")).to_contain_text("请扫码")
    _shot(page, "idle")


def test_valid_license_upload_is_green(opened: Opened, site: Site) -> None:
    page = opened.page
    _upload(page, site.files / "valid.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    expect(banner).to_contain_text("有效")
    expect(banner).to_contain_text("VALID")
    assert page.locator("#banner-icon svg").count() == 1  # an icon, not colour alone
    expect(page.locator("#doc-title")).to_have_text("营业执照")
    fields = page.locator("#doc-fields")
    expect(fields).to_contain_text("重庆山城小面餐饮有限公司")
    expect(fields).to_contain_text("重庆市市场监督管理局")
    expect(fields).to_contain_text("法定代表人")
    expect(page.locator("#checks li.ok")).to_have_count(7)
    expect(page.locator("#freshness")).to_contain_text("在线")
    expect(page.locator("#checks")).to_contain_text("签发记录已收录于本地区账本")
    expect(page.locator("#seal-image")).to_be_visible()  # the license names its agency's seal
    expect(page.locator("#seal-image")).to_have_attribute("alt", re.compile("重庆市市场监督管理局"))
    _shot(page, "valid")


def test_a_file_chosen_with_a_license_is_said_to_be_unused(opened: Opened, site: Site) -> None:
    """A license is never compared with a file: one chosen with its image (left from a
    stamp, or by mistake) is said to be unused, not shown as compared, and the license
    stays green. A license checked alone says nothing of files."""
    page = opened.page
    page.get_by_role("tab", name="上传图片").click()
    page.locator("#document-file").set_input_files(str(site.stamped_document))
    page.locator("#image-file").set_input_files(str(site.files / "valid.png"))
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    unused = page.locator("#doc-fields .field.is-skip")
    expect(unused).to_have_count(1)
    expect(unused).to_contain_text("证照无需比对文件，所选文件未使用")
    page.locator("#lang").click()
    expect(unused).to_contain_text("the chosen file was not used")
    page.locator("#lang").click()
    _paste(page, site.valid_text)
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#doc-fields .field.is-skip")).to_have_count(0)


def test_revoked_license_is_red(opened: Opened, site: Site) -> None:
    page = opened.page
    _upload(page, site.files / "revoked.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(banner).to_contain_text("已撤销")
    expect(banner).to_contain_text("REVOKED")
    expect(banner).to_contain_text("发证机关记录的原因：违法经营")
    expect(page.locator("#freshness")).to_contain_text("状态变更时间")
    expect(page.locator("#doc-fields .caveat")).to_be_visible()
    expect(page.locator("#checks li.bad")).to_have_count(1)
    _shot(page, "revoked")
    # In English, the agency's own words stay Chinese, marked so: a screen reader reads
    # them with a Chinese voice, not an English one.
    page.locator("#lang").click()
    reason = page.locator("#banner-notes li", has_text="Reason recorded by the agency")
    expect(reason.locator("span[lang=zh-CN]")).to_have_text("违法经营")


def test_a_renewed_license_names_its_successor_in_the_clerks_words(
    opened: Opened, site: Site
) -> None:
    """The old version of a renewed license lapsed: red, naming the new one. Its lapse's
    recorded reason ('renewed as <id>', the ledger's English) is not passed off as the
    agency's words, in the banner or under freshness."""
    page = opened.page
    _upload(page, site.files / "renewed.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text("LAPSED")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said).to_have_count(2)
    expect(said.nth(0)).to_have_text("该证照已失效")
    expect(said.nth(1)).to_contain_text("已有新证替代，请核验新证：1.2.156.")
    freshness = page.locator("#freshness")
    expect(freshness).to_contain_text("新证编号")
    expect(freshness).not_to_contain_text("renewed as")
    expect(freshness).not_to_contain_text("原因")


def test_a_transferred_license_names_its_new_license_in_the_clerks_words(
    opened: Opened, site: Site
) -> None:
    """A license transferred out to another region's: red, with the new license and the
    agency's reason, said as a transfer rather than a renewal, in Chinese and in English."""
    page = opened.page
    _upload(page, site.files / "transferred.png")
    expect(page.locator("#banner")).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said).to_have_count(2)
    expect(said.nth(0)).to_have_text(
        f"该证照已转出至其他地区，新证照：{BEIJING_LICENSE}，请向现发证机关核实"
    )
    expect(said.nth(1)).to_have_text("发证机关记录的原因：迁往北京")
    expect(page.locator("#banner-notes")).not_to_contain_text("已有新证替代")
    freshness = page.locator("#freshness")
    expect(freshness).to_contain_text("新证编号")
    expect(freshness).to_contain_text(BEIJING_LICENSE)
    _shot(page, "transferred")
    page.locator("#lang").click()
    expect(said.nth(0)).to_have_text(
        f"Transferred to another region; the new license: {BEIJING_LICENSE}."
        " Confirm with its issuing agency"
    )


def test_a_license_transferred_within_the_region_is_not_said_to_have_left_it(
    opened: Opened, site: Site
) -> None:
    """A license transferred to another of this region (its new id's issuer of this
    province): the new license named, and no other region claimed, in either language."""
    page = opened.page
    _upload(page, site.files / "moved.png")
    expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
    notes = page.locator("#banner-notes")
    said = notes.locator("li:not(.tech)")
    expect(said).to_have_count(2)
    expect(said.nth(0)).to_have_text(f"该证照已转出，新证照：{site.moved_to}")
    expect(said.nth(1)).to_have_text("发证机关记录的原因：迁至渝北区")
    expect(notes).not_to_contain_text("其他地区")
    expect(page.locator("#checks")).not_to_contain_text("其他地区")
    page.locator("#lang").click()
    expect(said.nth(0)).to_have_text(f"Transferred out; the new license: {site.moved_to}")
    expect(notes).not_to_contain_text("another region")


def test_a_transfer_recorded_without_its_new_license_claims_no_region(
    opened: Opened, site: Site
) -> None:
    """A transfer recorded before transfers named their new license: its verdict has no
    replaced_by, and the page does not guess where the license went."""

    def unnamed(route: Route) -> None:
        verdict = route.fetch().json()
        assert verdict["freshness"].pop("replaced_by") == site.moved_to
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", unnamed)
    _paste(page, site.moved_text)
    expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said.nth(0)).to_have_text("该证照已转出，请向现发证机关核实")
    expect(page.locator("#banner-notes")).not_to_contain_text("新证照")


def test_another_regions_license_is_sent_to_its_region_not_called_forged(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """This node trusts its own region's list only: a Beijing license is unknown here (red),
    and the clerk is told it names another region, to be checked by that region's service,
    where the page said it was possibly forged. A license of this province by a key unknown
    here is still said to be possibly forged."""
    now = int(time.time())
    beijing = init_node(
        tmp_path / "bj", region="110000", name="北京市", passphrase=PASSPHRASE, now=now
    )
    other = _node(tmp_path / "cq", now)  # a node of this region's code the window does not trust
    try:
        bj_market = BEIJING_MARKET
        add_agency(beijing, code=bj_market, name="北京市市场监督管理局", types=[BUSINESS], now=now)
        agent = Principal("agency", bj_market)
        theirs = issue(beijing, agent, bj_market, business_request("北京小面有限公司"), now=now)
        unknown = issue(other, AGENT, MARKET, business_request(), now=now)
    finally:
        beijing.close()
        other.close()
    page = opened.page
    _paste(page, theirs.qr_text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said.nth(0)).to_have_text(
        "该证照标明由其他地区（区划代码 110000）签发：本窗口未持有该地区的信任名单，"
        "无法在此核验真伪，请通过该地区的核验服务核验"
    )
    expect(page.locator("#banner-notes")).not_to_contain_text("可能是伪造的")
    _shot(page, "other-region")
    page.locator("#lang").click()
    expect(said.nth(0)).to_contain_text("names another region (code 110000)")
    page.locator("#lang").click()
    _paste(page, unknown.qr_text)
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    expect(said.nth(0)).to_have_text("签发机关不在本地区的信任名单中：可能是伪造的")


def test_a_central_government_license_is_named_so_not_another_regions(
    opened: Opened, site: Site
) -> None:
    """A license of the central government's own region (100000, a ministry's platform):
    unknown here as another region's is, and sent to its own service, but named for what it
    is (中央国家机关, the central government), not as another region, in either language."""
    ministry = "111000000000PH001J"  # a central-government credit code (…100000…)
    ours = decode(site.valid_text).claims
    assert isinstance(ours, LicenseClaims)
    claims = dataclasses.replace(
        ours,
        issuer=ministry,
        license_id=str(make_license_id(BUSINESS, ministry, "2025000001")),
        body=dataclasses.replace(ours.body, region="100000", seal_id=None),
    )
    page = opened.page
    _paste(page, sign_license(claims, SigningKey.generate()).text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said.nth(0)).to_have_text(
        "该证照标明由中央国家机关（区划代码 100000）签发：本窗口未持有中央国家机关的信任名单，"
        "无法在此核验真伪，请通过中央国家机关的核验服务核验"
    )
    notes = page.locator("#banner-notes")
    expect(notes).not_to_contain_text("其他地区")
    expect(notes).not_to_contain_text("可能是伪造的")
    page.locator("#lang").click()
    expect(said.nth(0)).to_have_text(
        "The license names the central government (code 100000) as its issuer: this window "
        "does not hold the central government's trusted list and cannot check it here. Verify "
        "it with the central government's service"
    )
    expect(notes).not_to_contain_text("another region")


def test_a_peer_regions_unknown_issuer_is_possibly_forged(opened: Opened, site: Site) -> None:
    """A node that peers with Beijing and 广州 (440100; eseal peer add; /healthz names them)
    holds their trusted lists: a Beijing or 广州 license by a key unknown to it is said to be
    possibly forged, naming that region's list, and the clerk is not sent to its service. A
    peer is matched by its whole region code: a 深圳 license (440300, of 广州's province),
    whose list this node does not hold, is sent to 深圳's service, not said to be missing
    from 广州's list."""

    def with_peers(route: Route) -> None:
        health = route.fetch().json()
        assert health["peers"] == []
        route.fulfill(json=health | {"peers": ["110000", "440100"]})

    page = opened.page
    page.route("**/healthz", with_peers)
    with page.expect_response("**/healthz"):
        page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    _paste(page, _unknown_key_license(site, "110000", BEIJING_MARKET))
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    said = page.locator("#banner-notes li:not(.tech)")
    expect(said.nth(0)).to_have_text(
        "签发机关不在该地区（区划代码 110000）的信任名单中：可能是伪造的"
    )
    expect(page.locator("#banner-notes")).not_to_contain_text("核验服务")
    page.locator("#lang").click()
    expect(said.nth(0)).to_have_text(
        "The issuer is not on the trusted list of region 110000: possibly forged"
    )
    page.locator("#lang").click()
    _paste(page, _unknown_key_license(site, "440300", SHENZHEN_MARKET))
    expect(said.nth(0)).to_have_text(
        "该证照标明由其他地区（区划代码 440300）签发：本窗口未持有该地区的信任名单，"
        "无法在此核验真伪，请通过该地区的核验服务核验"
    )
    expect(page.locator("#banner-notes")).not_to_contain_text("440100")
    _paste(page, _unknown_key_license(site, "440100", GUANGZHOU_MARKET))
    expect(said.nth(0)).to_have_text(
        "签发机关不在该地区（区划代码 440100）的信任名单中：可能是伪造的"
    )


def test_a_city_node_tells_another_city_of_its_province_from_its_own_and_its_peers(
    browser: Browser, site: Site, city: City
) -> None:
    """At 深圳's node (440300, peered with 广州, 440100), licenses by keys unknown to it,
    each checked on the real node: one of 深圳 is possibly forged (its own list), one of
    广州 possibly forged by 广州's list; one of 汕头 (440500), whose list it does not hold
    though it is of its province, is sent to 汕头's service rather than called forged."""
    o = Opened(browser, site, DESKTOP, url=city.url, learn=True)
    try:
        page = o.page
        health = page.request.get(city.url + "/healthz").json()
        assert (health["region"], health["peers"]) == ("440300", [city.peer])
        said = page.locator("#banner-notes li:not(.tech)")
        _paste(page, _unknown_key_license(site, "440500", SHANTOU_MARKET))
        expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
        expect(said.nth(0)).to_have_text(
            "该证照标明由其他地区（区划代码 440500）签发：本窗口未持有该地区的信任名单，"
            "无法在此核验真伪，请通过该地区的核验服务核验"
        )
        expect(page.locator("#banner-notes")).not_to_contain_text("可能是伪造的")
        _shot(page, "another-city")
        page.locator("#lang").click()
        expect(said.nth(0)).to_contain_text("names another region (code 440500)")
        page.locator("#lang").click()
        _paste(page, _unknown_key_license(site, "440100", GUANGZHOU_MARKET))
        expect(said.nth(0)).to_have_text(
            "签发机关不在该地区（区划代码 440100）的信任名单中：可能是伪造的"
        )
        _paste(page, _unknown_key_license(site, "440300", SHENZHEN_MARKET))
        expect(said.nth(0)).to_have_text("签发机关不在本地区的信任名单中：可能是伪造的")
    finally:
        o.close()


def _unknown_seal_stamp(agency: str) -> str:
    """A stamp by a seal of ``agency`` (its credit code) whose key no region lists."""
    seal = f"{agency}.0123456789AB"
    body = StampBody(seal, hashlib.sha256(b"notice").digest(), "notice.txt", 6)
    now = int(time.time())
    claims = StampClaims(agency, now, now, f"{seal}.0000000001", body)
    return encode_stamp(claims, SigningKey.generate())


def test_a_stamp_of_another_regions_seal_is_sent_to_its_region_not_called_forged(
    opened: Opened, site: Site
) -> None:
    """A stamp names no region, but its seal's agency does by its credit code: a stamp of
    a Beijing agency's seal unknown here (this node holds Chongqing's list only) is sent to
    Beijing's service, where the page said it was possibly forged; with Beijing a peer, it
    is possibly forged by Beijing's list; a Chongqing seal unknown here, by this region's."""
    page = opened.page
    said = page.locator("#banner-notes li:not(.tech)")
    _paste(page, _unknown_seal_stamp(BEIJING_MARKET))
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    expect(said.nth(0)).to_have_text(
        "该盖章标明的用章单位登记于其他地区（区划代码 110000）：本窗口未持有该地区的信任名单，"
        "无法在此核验印章真伪，请通过该地区的核验服务核验"
    )
    expect(page.locator("#banner-notes")).not_to_contain_text("可能是伪造的")
    page.locator("#lang").click()
    expect(said.nth(0)).to_contain_text("The stamp names a seal of an agency registered in another")
    page.locator("#lang").click()
    _paste(page, _unknown_seal_stamp(MARKET))
    expect(said.nth(0)).to_have_text("该印章不在本地区的信任名单中：可能是伪造的")
    # A code no agency could have (its check character fails) names no region: forged.
    forged = BEIJING_MARKET[:17] + "3"
    _paste(page, _unknown_seal_stamp(forged))
    expect(page.locator("#doc-title")).to_have_text(f"{forged}.0123456789AB")
    expect(said.nth(0)).to_have_text("该印章不在本地区的信任名单中：可能是伪造的")

    def with_peers(route: Route) -> None:
        route.fulfill(json=route.fetch().json() | {"peers": ["110000"]})

    page.route("**/healthz", with_peers)
    with page.expect_response("**/healthz"):
        page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    _paste(page, _unknown_seal_stamp(BEIJING_MARKET))
    expect(said.nth(0)).to_have_text(
        "该印章不在该地区（区划代码 110000）的信任名单中：可能是伪造的"
    )


def test_a_stamp_of_an_unknown_seal_is_titled_by_its_seal_id(opened: Opened, site: Site) -> None:
    """A stamp whose seal no trusted list holds has no seal name: its card said 电子印章
    twice (its kind, and for a title); it says it once, titled by the seal's number, shown
    once too."""
    page = opened.page
    _paste(page, _unknown_seal_stamp(MARKET))
    expect(page.locator("#banner-code")).to_have_text("UNKNOWN_ISSUER")
    seal_id = f"{MARKET}.0123456789AB"
    expect(page.locator("#doc-kind")).to_have_text("电子印章")
    expect(page.locator("#doc-title")).to_have_text(seal_id)
    assert page.locator("#doc-card").inner_text().count("电子印章") == 1
    assert page.locator("#doc-card").inner_text().count(seal_id) == 1
    expect(page.locator("#doc-fields")).to_contain_text("notice.txt")
    # The agency the stamp names, by its code, where the row was left out.
    agency = page.locator("#doc-fields .field", has_text="用章单位")
    expect(agency).to_contain_text(MARKET)
    _shot(page, "stamp-unknown-seal")


def test_a_peers_seal_is_not_asked_of_this_node(browser: Browser, site: Site, city: City) -> None:
    """A stamp by a peer region's seal is valid at 深圳's node, which holds 广州's list; its
    seal image is 广州's to serve, and is not asked of 深圳's node, where the page asked for
    it and got a 404 (an error in the console, a request for nothing); and its key is said
    to be certified by 广州's root, where the page said by "this region's"."""
    o = Opened(browser, site, DESKTOP, url=city.url, learn=True)
    try:
        page = o.page
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/v1/seals/" in r.url else None)
        _paste(page, city.peer_stamp)
        expect(page.locator("#banner")).to_have_attribute("data-state", "amber")
        expect(page.locator("#doc-kind")).to_have_text("电子印章")
        _settled(page)
        assert asked == []
        expect(page.locator("#seal-image")).to_be_hidden()
        # Its key is certified by 广州's root, not "this region's".
        checks = page.locator("#checks")
        expect(checks).to_contain_text("印章密钥经广州市根密钥认证")
        expect(checks).not_to_contain_text("本地区根密钥")
    finally:
        o.close()


def test_tampered_license_is_red(opened: Opened, site: Site) -> None:
    page = opened.page
    _upload(page, site.files / "tampered.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text(re.compile(r"^(MALFORMED|BAD_SIGNATURE)$"))
    expect(page.locator("#checks li.bad")).to_have_count(1)
    _shot(page, "tampered")


def test_forged_license_is_a_bad_signature(opened: Opened, site: Site) -> None:
    page = opened.page
    _upload(page, site.files / "forged.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-code")).to_have_text("BAD_SIGNATURE")
    expect(page.locator("#checks li.ok")).to_have_count(2)  # decoded, issuer found
    expect(page.locator("#checks li.bad")).to_have_count(1)
    expect(page.locator("#seal-image")).to_be_hidden()  # no seal beside a forgery
    _shot(page, "forged")


def _record_server_images(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, tuple[int, int]]]:
    """(bytes, size) of every image the server is asked to read (it runs in-process)."""
    from eseal.api.routes import verify as route
    from verifier.scan_pool import scan_image

    received: list[tuple[int, tuple[int, int]]] = []

    def recording_scan_image(data: bytes) -> str:
        with Image.open(io.BytesIO(data)) as image:
            received.append((len(data), image.size))
        return scan_image(data)

    monkeypatch.setattr(route, "scan_image", recording_scan_image)
    return received


def test_a_phone_photo_is_shrunk_in_the_page_before_it_is_sent(
    opened: Opened, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 12-megapixel photo is drawn at 1,600 px and sent as a small JPEG: the server
    decodes a few hundred KB instead of megabytes, and the QR still reads."""
    received = _record_server_images(monkeypatch)
    page = opened.page
    photo = site.files / "phone-photo.jpg"
    assert photo.stat().st_size > 1_000_000
    _upload(page, photo)
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(page.locator("#doc-fields")).to_contain_text("重庆山城小面餐饮有限公司")
    assert len(received) == 1
    size, (width, height) = received[0]
    assert max(width, height) == 1600
    assert size < photo.stat().st_size / 3, size


def test_a_qr_too_small_in_the_shrunk_photo_is_read_from_the_original(
    opened: Opened, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From afar the QR is too small once the photo is shrunk: the server says 'no QR
    code', and the page sends the original photo, where it reads."""
    received = _record_server_images(monkeypatch)
    page = opened.page
    _upload(page, site.files / "far-photo.jpg")
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    assert [max(size) for _, size in received] == [1600, 4000]


def test_a_qr_too_small_in_the_shrunk_photo_beside_a_web_links_is_read_from_the_original(
    opened: Opened, site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """From afar, a web link's large QR code below the license's: once the photo is shrunk
    only the link's reads, and the page sent nothing more (it said 'not a license's code');
    the original photo, where the node reads the license's beside the link's, is sent."""
    received = _record_server_images(monkeypatch)
    page = opened.page
    license_png = qr_png(site.valid_text, scale=4)
    link = qr_png("HTTPS://WWW.GSXT.GOV.CN/CORP/915000001234567890", scale=10)
    photo = tmp_path / "far-photo-with-link.jpg"
    photo.write_bytes(_phone_photo(license_png, 280, below=link))
    _upload(page, photo)
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(page.locator("#doc-fields")).to_contain_text("重庆山城小面餐饮有限公司")
    assert [max(size) for _, size in received] == [1600, 4000]


def test_a_phone_screenshot_is_shrunk_too(
    opened: Opened, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = _record_server_images(monkeypatch)
    page = opened.page
    _upload(page, site.files / "screenshot.png")
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    assert [size for _, size in received] == [(720, 1600)]


def test_a_photo_the_page_fails_to_shrink_is_sent_as_it_is(
    browser: Browser, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser that cannot draw the photo to shrink it (no 2-D canvas to be had, short
    of memory): the photo goes as it is, where the page stayed at 正在核验… for good."""
    received = _record_server_images(monkeypatch)
    o = Opened(
        browser,
        site,
        DESKTOP,
        script="HTMLCanvasElement.prototype.getContext = function () { return null; };",
    )
    try:
        _upload(o.page, site.files / "phone-photo.jpg")
        expect(o.page.locator("#banner")).to_have_attribute("data-state", "green")
        assert [size for _, size in received] == [(4000, 3000)]
    finally:
        o.close()


def test_stamp_shows_the_seal_and_compares_the_file(opened: Opened, site: Site) -> None:
    page = opened.page
    with page.expect_response(lambda r: "/v1/seals/" in r.url) as seal_image:
        _upload(page, site.files / "stamp.png")
    assert seal_image.value.status == 200
    assert seal_image.value.headers["content-type"] == "image/png"
    banner = page.locator("#banner")
    # A good seal, but the file it stamped was not given: amber, saying so.
    expect(banner).to_have_attribute("data-state", "amber")
    expect(banner).to_contain_text("未比对文件")
    expect(page.locator("#doc-title")).to_have_text("合同专用章")
    fields = page.locator("#doc-fields")
    expect(fields).to_contain_text("租赁合同.txt")
    expect(fields).to_contain_text("未比对")
    expect(page.locator("#seal-image")).to_be_visible()
    expect(page.locator("#checks li.skip")).to_have_count(1)  # no file: not compared
    expect(page.locator("#checks li.skip")).to_be_visible()
    # The signature vouches for the stamp's details, not for a file nobody gave: a passed
    # signature never reads as 'the content is unchanged' beside a file not compared.
    expect(page.locator("#checks")).to_contain_text("数字签名有效，盖章信息未被改动")
    expect(page.locator("#checks")).not_to_contain_text("内容未被改动")
    expect(page.locator("#checks")).to_contain_text("印章密钥经本地区根密钥认证")
    _shot(page, "stamp-no-document")
    # Adding the sealed file checks again, now comparing it.
    page.locator("#document-file").set_input_files(str(site.stamped_document))
    expect(fields).to_contain_text("所给文件与盖章文件一致")
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#checks li.skip")).to_have_count(0)
    expect(page.locator("#checks li.ok")).to_have_count(7)
    assert page.locator("#seal-image").evaluate("img => img.naturalWidth") > 0
    _shot(page, "stamp")


def test_paste_valid_text_and_switch_to_english(opened: Opened, site: Site) -> None:
    page = opened.page
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    expect(banner).to_contain_text("有效")
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#banner-title")).to_have_text("Valid")
    expect(page.get_by_role("tab", name="Paste code")).to_be_visible()
    expect(page.locator("#checks")).to_contain_text("Digital signature")
    expect(page.locator("#doc-title")).to_have_text("Business licence")  # the catalogue's name_en
    expect(page.locator("#doc-fields dd[lang=zh-CN]").first).to_be_visible()  # Chinese values
    _shot(page, "english")
    page.reload()  # the choice is remembered
    expect(page.locator("#lang")).to_have_text("中文")
    expect(page.locator("h1")).to_have_text("Service window check")
    page.locator("#lang").click()
    expect(page.locator("h1")).to_have_text("窗口核验")


def _label_of(page: Page, value: str) -> Locator:
    """The label (dt) of the license field shown with ``value``."""
    value_cell = page.locator("dd", has_text=re.compile(f"^{re.escape(value)}$"))
    return page.locator("#doc-fields .field").filter(has=value_cell).locator("dt")


def _catalogue_requests(page: Page) -> list[str]:
    """The URLs of the page's requests to the license-type catalogue, as they are made."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/v1/license-types" in r.url else None)
    return asked


def test_english_mode_labels_a_licenses_fields_from_the_catalogue(
    opened: Opened, site: Site
) -> None:
    """A verdict labels a license's fields in Chinese (its region's trust bundle). In
    English the page asks the node's catalogue for the type's English labels and shows
    them, values still Chinese (marked so); it asks once per type (the next license of the
    type is labelled at once). In Chinese it asks nothing and shows the Chinese labels."""
    page = opened.page
    asked = _catalogue_requests(page)
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    representative = _label_of(page, "张三")
    expect(representative).to_have_text("法定代表人")
    _settled(page)
    assert asked == []
    page.locator("#lang").click()
    expect(representative).to_have_text("Legal representative")
    expect(representative).not_to_have_attribute("lang", "zh-CN")
    expect(_label_of(page, "有限责任公司")).to_have_text("Type")
    expect(_label_of(page, "重庆市渝中区解放碑民族路1号")).to_have_text("Domicile")
    expect(_label_of(page, "2021-03-15")).to_have_text("Date of establishment")
    expect(page.locator("#doc-fields dd", has_text="张三")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#doc-fields dt", has_text="Issued by")).to_have_count(1)  # the page's
    assert asked == [f"{site.url}/v1/license-types/{BUSINESS}"]
    _shot(page, "english-labels")
    page.locator("#qr-text").press("Enter")  # the next license of the type
    expect(banner).to_have_attribute("data-state", "green")
    expect(representative).to_have_text("Legal representative")
    _settled(page)
    assert len(asked) == 1
    page.locator("#lang").click()
    expect(representative).to_have_text("法定代表人")
    expect(_label_of(page, "有限责任公司")).to_have_text("类型")
    assert len(asked) == 1


def test_english_labels_never_hold_up_the_result_and_fall_back_to_chinese(
    opened: Opened, site: Site
) -> None:
    """The catalogue slow to answer: the English page shows the verdict at once, its fields
    labelled in Chinese (marked so). The request failing, the Chinese labels stay; a server
    error, or an answer that is not the type's, likewise; each asked again with the next
    license, which is labelled in English once the catalogue answers."""
    page = opened.page
    asked = _catalogue_requests(page)
    held: list[Route] = []

    def hold(route: Route) -> None:  # answered by hand, late
        held.append(route)

    page.route("**/v1/license-types/**", hold)
    page.locator("#lang").click()
    page.get_by_role("tab", name="Paste code").click()
    page.locator("#qr-text").fill(site.valid_text)
    page.locator("#qr-text").press("Enter")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#banner-title")).to_have_text("Valid")
    representative = _label_of(page, "张三")
    expect(representative).to_have_text("法定代表人")
    expect(representative).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#doc-title")).to_have_text("Business licence")
    assert len(held) == 1  # asked, and not waited for
    with page.expect_event("requestfailed"):
        held[0].abort("connectionrefused")
    _settled(page)
    expect(banner).to_have_attribute("data-state", "green")
    expect(representative).to_have_text("法定代表人")
    problem = {"type": "https://eseal.invalid/problems/unavailable", "status": 503}
    other = {"code": FOOD, "fields": [{"name": "legal_representative", "label": "法定代表人",
                                       "label_en": "Someone else's label"}]}  # fmt: skip
    answers = [
        lambda route: route.fulfill(status=503, json=problem),
        lambda route: route.fulfill(json=other),
        lambda route: route.fulfill(body="<html>请先登录 Wi-Fi</html>", content_type="text/html"),
    ]
    for answer in answers:
        page.unroute("**/v1/license-types/**")
        page.route("**/v1/license-types/**", answer)
        with page.expect_event("requestfinished", lambda r: "/v1/license-types/" in r.url):
            page.locator("#qr-text").press("Enter")
        expect(banner).to_have_attribute("data-state", "green")
        _settled(page)
        expect(representative).to_have_text("法定代表人")
        expect(representative).to_have_attribute("lang", "zh-CN")
    page.unroute("**/v1/license-types/**")
    page.locator("#qr-text").press("Enter")
    expect(representative).to_have_text("Legal representative")
    assert len(asked) == 5
    # The browser logs the failed loads itself: expected here, and nothing else.
    assert [e for e in opened.errors if "503" not in e and "CONNECTION_REFUSED" not in e] == []
    opened.errors.clear()


def test_a_field_the_region_labels_otherwise_keeps_its_chinese_label(
    opened: Opened, site: Site
) -> None:
    """The English label is the catalogue's translation of its own Chinese label: where the
    verdict (the license's region's bundle) labels a field otherwise, or names a field the
    catalogue has not, that label is shown as it is, in English mode too."""

    def relabelled(route: Route) -> None:
        verdict = route.fetch().json()
        for field in verdict["document"]["fields"]:
            if field["name"] == "legal_representative":
                field["label"] = "法人代表"
        verdict["document"]["fields"].append({"name": "branch", "label": "分支", "value": "一号"})
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", relabelled)
    page.locator("#lang").click()
    page.get_by_role("tab", name="Paste code").click()
    page.locator("#qr-text").fill(site.valid_text)
    page.locator("#qr-text").press("Enter")
    expect(_label_of(page, "有限责任公司")).to_have_text("Type")
    expect(_label_of(page, "张三")).to_have_text("法人代表")
    expect(_label_of(page, "一号")).to_have_text("分支")


def test_times_are_beijing_time_whatever_the_device_zone(browser: Browser, site: Site) -> None:
    """A window device set to another time zone (here New York, UTC-5) still shows the
    verification's and the status's times in China Standard Time, as the license's dates."""
    opened = Opened(browser, site, DESKTOP, zone="America/New_York")
    try:
        page = opened.page
        assert page.evaluate("new Date(0).getTimezoneOffset()") == 300  # the zone took
        before = int(time.time())
        _paste(page, site.valid_text)
        expect(page.locator("#banner")).to_have_attribute("data-state", "green")
        after = int(time.time())
        checked = page.locator("#freshness .field", has_text="核验时间").locator("dd")
        beijing = timezone(timedelta(hours=8))
        allowed = {
            datetime.fromtimestamp(t, beijing).strftime("%Y-%m-%d %H:%M")
            for t in range(before - 1, after + 2)
        }
        assert checked.inner_text() in allowed
    finally:
        opened.close()


def test_warnings_are_amber_and_data_is_text(opened: Opened, site: Site) -> None:
    """A valid verdict with warnings (an offline window with a stale snapshot) is amber and
    names each warning; whatever the verdict holds is shown as text, never as markup."""
    hostile = '<img src=x onerror="document.body.dataset.owned=1">'

    def stale(route: Route) -> None:
        verdict = route.fetch().json()
        verdict["colour"] = "amber"
        verdict["warnings"] = ["STALE_STATUS", "CLOCK_BEHIND"]
        verdict["freshness"].update(status_source="offline", stale=True)
        verdict["freshness"]["status_as_of"] -= 9 * 86400
        verdict["document"]["holder"] = hostile
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", stale)
    page.get_by_role("tab", name="粘贴证照码").click()
    page.locator("#qr-text").fill(site.valid_text)
    page.get_by_role("button", name="核验", exact=True).click()
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "amber")
    expect(banner).to_contain_text("有效")
    expect(banner).to_contain_text("状态数据已过期")
    expect(banner).to_contain_text("设备时钟落后")
    expect(page.locator("#freshness")).to_contain_text("离线快照")
    expect(page.locator("#freshness")).to_contain_text("9天前")
    expect(page.locator("#doc-fields")).to_contain_text(hostile)
    assert page.locator("#doc-fields img").count() == 0
    assert page.locator("body").get_attribute("data-owned") is None
    _shot(page, "amber")


def test_how_the_status_was_witnessed_is_said_in_the_clerks_words(
    opened: Opened, site: Site
) -> None:
    """A status held to a witness policy (online, or a peer's snapshot): the freshness panel
    says who cosigned the checkpoint and what the policy required, in Chinese; short of it,
    amber, that the latest status was withheld, and the banner says why it is unchecked.
    In English too; a verdict with no policy has no such line."""
    bj, sh = "eseal/110000/witness", "eseal/310000/witness"
    witnessed = {
        "checkpoint_size": 12,
        "cosigners": [bj, sh],
        "witnesses": 2,
        "quorum": 2,
        "rule": None,
        "met": True,
        "extended_to": None,
        "unwitnessed": None,
    }
    answering: dict[str, dict[str, object]] = {}

    def with_witnesses(route: Route) -> None:
        verdict = route.fetch().json()
        assert verdict["freshness"]["witnessed"] is None  # the node's own: no policy
        verdict.update(answering.get("verdict", {}))
        verdict["freshness"].update(answering["freshness"])
        if verdict["freshness"]["status_source"] == "none":  # withheld: as the node says it
            verdict["checks"] = [c for c in verdict["checks"] if c["step"] != "ledger"]
            (status,) = [c for c in verdict["checks"] if c["step"] == "status"]
            status.update(ok=False, detail="the node's checkpoint is not witnessed as required")
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", with_witnesses)
    row = page.locator("#freshness .field").filter(has=page.locator("dt", has_text="见证"))

    answering["freshness"] = {"status_source": "online", "witnessed": witnessed}
    _paste(page, site.valid_text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(row.locator("dd")).to_have_text(
        f"账本检查点（共 12 条记录）经 2 个见证方（{bj}、{sh}）共同签署；"
        "要求：至少 2 个（共 2 个见证方）"
    )
    expect(row).not_to_have_class(re.compile(r"\balert\b"))

    # Good news withheld for want of the quorum: amber, the reason said.
    answering["verdict"] = {"colour": "amber", "warnings": ["NO_STATUS"]}
    answering["freshness"] = {
        "status_source": "none",
        "status_as_of": None,
        "checkpoint_size": None,
        "ledger_included": None,
        "witnessed": witnessed | {"cosigners": [bj], "met": False},
    }
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "amber")
    expect(banner).to_contain_text("账本检查点未达到见证要求，最新状态不予采信")
    expect(row.locator("dd")).to_have_text(
        f"未达到见证要求：账本检查点（共 12 条记录）经 1 个见证方（{bj}）签署；"
        "要求：至少 2 个（共 2 个见证方）；最新状态不予采信"
    )
    expect(row).to_have_class(re.compile(r"\balert\b"))
    _shot(page, "witness-unmet")
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    english = page.locator("#freshness .field").filter(has=page.locator("dt", has_text="Witnessed"))
    expect(english.locator("dd")).to_have_text(
        f"Witness requirement not met: Ledger checkpoint of 12 entries cosigned by 1 witness "
        f"({bj}); required: 2 of 2; the latest status is not believed"
    )
    expect(banner).to_contain_text("does not meet the witness requirement")
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # Under a policy file, an older witnessed checkpoint the answer's extends, an entry
    # beyond it: a revocation proved by the ledger still counts.
    answering["verdict"] = {"status": "REVOKED", "valid": False, "colour": "red"}
    answering["verdict"] |= {"warnings": [], "reasons": ["status 07 …"]}
    answering["freshness"] = {
        "status_source": "online",
        "checkpoint_size": 20,
        "witnessed": witnessed
        | {
            "cosigners": ["gd", "js"],
            "quorum": 2,
            "rule": "both = all of (gd, js)",
            "met": False,
            "extended_to": 20,
            "unwitnessed": "its status entry 19 was recorded after it",
        },
    }
    _paste(page, site.valid_text)
    expect(banner).to_have_attribute("data-state", "red")
    expect(row.locator("dd")).to_have_text(
        "未达到见证要求：账本检查点（共 12 条记录）经 2 个见证密钥（gd、js）共同签署；"
        "要求：见证策略 both = all of (gd, js)；本次状态所依据的检查点（共 20 条记录）经一致性"
        "证明延续该检查点；但本次状态所依据的账本记录晚于该检查点，尚未经见证；账本所证明的结论"
        "不受见证要求影响，仍然有效"
    )

    # No policy, or a witnessed that is not as the node writes it: no line, no error.
    for odd in (None, "2 of 2", {"checkpoint_size": "12"}, witnessed | {"cosigners": [1]}):
        answering.pop("verdict")
        answering["freshness"] = {"witnessed": odd}
        with page.expect_response("**/v1/verify"):
            _paste(page, site.valid_text)
        _settled(page)
        expect(page.locator("#banner")).to_have_attribute("data-state", "green")
        expect(page.locator("#freshness")).to_contain_text("核验时间")
        expect(row).to_have_count(0)
        answering["verdict"] = {}


def test_witnessing_by_none_or_one_and_an_unrecorded_document_are_worded_for_them(
    opened: Opened, site: Site
) -> None:
    """A checkpoint no witness cosigned is said so, not "cosigned jointly by 0"; one witness
    did not sign "jointly"; and a NOT_IN_LEDGER verdict (the ledger proves another document
    under the id: no status change) short of the quorum is not said to rest on a status
    change: what the ledger proves counts, whatever the witnesses. In English too."""
    bj = "eseal/110000/witness"
    answering: dict[str, dict[str, object]] = {}

    def with_witnesses(route: Route) -> None:
        verdict = route.fetch().json()
        verdict.update(answering["verdict"])
        verdict["freshness"].update(answering["freshness"])
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", with_witnesses)
    row = page.locator("#freshness .field").filter(has=page.locator("dt", has_text="见证"))
    witnessed = {
        "checkpoint_size": 12,
        "cosigners": [],
        "witnesses": 2,
        "quorum": 2,
        "rule": None,
        "met": False,
        "extended_to": None,
        "unwitnessed": None,
    }
    answering["verdict"] = {"status": "NOT_IN_LEDGER", "valid": False, "colour": "red"}
    answering["verdict"] |= {"warnings": [], "reasons": ["the ledger records another …"]}
    answering["freshness"] = {"status_source": "online", "witnessed": witnessed}
    _paste(page, site.valid_text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "red")
    expect(row.locator("dd")).to_have_text(
        "未达到见证要求：账本检查点（共 12 条记录）未经任何见证方签署；"
        "要求：至少 2 个（共 2 个见证方）；账本所证明的结论不受见证要求影响，仍然有效"
    )
    expect(row).to_have_class(re.compile(r"\balert\b"))
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    english = page.locator("#freshness .field").filter(has=page.locator("dt", has_text="Witnessed"))
    expect(english.locator("dd")).to_have_text(
        "Witness requirement not met: Ledger checkpoint of 12 entries cosigned by no witness; "
        "required: 2 of 2; what the ledger proves counts, whatever the witnesses"
    )
    page.locator("#lang").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # One of two cosigned, one required (met): signed, not "jointly"; under a policy file
    # none of its keys: none.
    answering["verdict"] = {}
    answering["freshness"] = {
        "status_source": "online",
        "witnessed": witnessed | {"cosigners": [bj], "quorum": 1, "met": True},
    }
    _paste(page, site.valid_text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(row.locator("dd")).to_have_text(
        f"账本检查点（共 12 条记录）经 1 个见证方（{bj}）签署；要求：至少 1 个（共 2 个见证方）"
    )
    answering["freshness"] = {
        "status_source": "online",
        "witnessed": witnessed | {"rule": "none", "quorum": 0, "met": True},
    }
    _paste(page, site.valid_text)
    expect(row.locator("dd")).to_have_text(
        "账本检查点（共 12 条记录）未经任何见证密钥签署；要求：无需见证（quorum none）"
    )


def test_a_red_verdict_reached_with_the_clock_behind_says_so(opened: Opened, site: Site) -> None:
    """Expired only at the region's signed time (the device's clock is behind it): red, and
    the clerk is told, in Chinese, that the clock is behind, not only that it expired."""

    def expired(route: Route) -> None:
        verdict = route.fetch().json()
        verdict.update(status="EXPIRED", status_text="已过期 Expired", valid=False)
        verdict.update(colour="red", warnings=["CLOCK_BEHIND"], reasons=["expired on …"])
        route.fulfill(json=verdict)

    page = opened.page
    page.route("**/v1/verify", expired)
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(banner).to_contain_text("已过期")
    expect(banner).to_contain_text("设备时钟落后")


def _settled(page: Page) -> None:
    """Until the page has handled what has arrived: two frames later."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_a_late_answer_never_replaces_a_refusal_made_since(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """A license's image is on its way to the node when the clerk chooses the next one, a
    photo over 10 MB that the page refuses itself. The late answer (green) must not then
    stand beside the refused photo's name."""
    page = opened.page
    held: list[Route] = []

    def hold(route: Route) -> None:  # answered by hand, late
        held.append(route)

    def until_held(requests: int) -> None:
        """Until the page's request is on its way (held here): an upload shrinks its image
        before it sends it, and a file chosen before then replaces it unsent."""
        for _ in range(200):
            if len(held) == requests:
                return
            page.wait_for_timeout(50)
        raise AssertionError(f"{len(held)} requests held, not {requests}")

    page.route("**/v1/verify/image", hold)
    _upload(page, site.files / "valid.png")
    expect(page.locator("#banner")).to_have_attribute("data-state", "busy")
    until_held(1)
    huge = tmp_path / "大照片.jpg"
    with huge.open("wb") as f:
        f.truncate(11 * 1024 * 1024)
    page.locator("#image-file").set_input_files(str(huge))
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "notice")
    expect(banner).to_contain_text("图片不能超过 10 MB")
    with page.expect_event("requestfinished"):
        held[0].continue_()
    _settled(page)
    assert banner.get_attribute("data-state") == "notice"
    expect(page.locator("#details")).to_be_hidden()
    # An empty paste is the page's own answer too.
    page.unroute("**/v1/verify/image")
    page.route("**/v1/verify", hold)
    _paste(page, site.valid_text)
    expect(banner).to_have_attribute("data-state", "busy")
    until_held(2)
    page.locator("#qr-text").fill("")
    page.locator("#qr-text").press("Enter")
    expect(banner).to_contain_text("请先粘贴或扫入证照码")
    with page.expect_event("requestfinished"):
        held[1].continue_()
    _settled(page)
    assert banner.get_attribute("data-state") == "notice"


def test_the_nodes_problems_are_said_and_its_english_marked(opened: Opened, site: Site) -> None:
    """A node that answers a problem: the clerk's words first, then the node's own detail,
    small and marked as English (a screen reader reads it with an English voice), as the
    code above it. A node that cannot be reached says so."""
    detail = "a failure the node did not anticipate"
    problem = {
        "type": "https://eseal.invalid/problems/internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": detail,
    }
    page = opened.page
    page.route("**/v1/verify", lambda route: route.fulfill(status=500, json=problem))
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("核验服务出错")
    notes = page.locator("#banner-notes li")
    expect(notes).to_have_count(2)
    expect(notes.nth(0)).to_have_text("请稍后重试；如仍出错，请联系本系统的管理员。")
    expect(notes.nth(0)).not_to_have_attribute("lang", "en")
    expect(notes.nth(1)).to_have_text(detail)
    expect(notes.nth(1)).to_have_attribute("lang", "en")
    expect(notes.nth(1)).to_have_class("tech")
    expect(page.locator("#banner-code")).to_have_text("HTTP 500")
    expect(page.locator("#banner-code")).to_have_attribute("lang", "en")
    # An answer neither a verdict nor a problem (a proxy's or a Wi-Fi portal's page) is the
    # service failing, not the input.
    page.unroute("**/v1/verify")
    portal = "<html><body>请先登录 Wi-Fi</body></html>"
    page.route("**/v1/verify", lambda route: route.fulfill(body=portal, content_type="text/html"))
    page.locator("#qr-text").press("Enter")
    expect(page.locator("#banner-code")).to_have_text("HTTP 200")
    expect(page.locator("#banner-title")).to_have_text("核验服务出错")
    page.unroute("**/v1/verify")
    page.route("**/v1/verify", lambda route: route.abort("connectionrefused"))
    page.locator("#qr-text").press("Enter")
    expect(banner).to_contain_text("无法连接核验服务")
    expect(banner).to_have_attribute("data-state", "notice")
    # The browser logs both failed loads itself: expected here, and nothing else.
    assert [e for e in opened.errors if "500" not in e and "CONNECTION_REFUSED" not in e] == []
    opened.errors.clear()


#: Problems the verification operations answer, each said in the clerk's words with what to
#: do (Chinese, then English), where the page said "无法核验该输入" (or "核验服务出错" for
#: a busy node) with the node's English detail; one the page does not know keeps that.
_PROBLEMS = [
    (
        422,
        "image-too-complex",
        "图片过于复杂",
        "请裁剪出二维码部分，或靠近二维码重新拍摄",
        "Image too complex",
    ),
    (
        503,
        "scanner-busy",
        "核验服务繁忙",
        "请稍等几秒后再试一次",
        "The verification service is busy",
    ),
    (
        503,
        "matcher-busy",
        "核验服务繁忙",
        "或清空证件号码只核验证照",
        "checking many ID numbers at once",
    ),
    (503, "store-unavailable", "核验服务暂时无法读取数据", "请稍后重试", "cannot read its data"),
    (408, "request-timeout", "发送超时", "请检查网络连接后重试", "Sending timed out"),
    # A JSON body over 16 KiB: only a pasted text makes it so (escaped control characters).
    (413, "body-too-large", "证照码过长", "请只粘贴或扫入二维码中的文字", "Code too long"),
    (
        415,
        "unsupported-media-type",
        "核验服务无法处理本页发出的请求",
        "请刷新本页",
        "reload it and try again",
    ),
    (400, "invalid-input", "无法核验该输入", "是否完整", "Cannot check this input"),
    (400, "something-new", "无法核验该输入", "请联系本系统的管理员", "Cannot check this input"),
]


def test_each_problem_a_clerk_can_meet_says_what_to_do(opened: Opened, site: Site) -> None:
    page = opened.page
    answering: dict[str, object] = {}
    page.route(
        "**/v1/verify", lambda route: route.fulfill(status=answering["status"], json=answering)
    )
    page.get_by_role("tab", name="粘贴证照码").click()
    page.locator("#qr-text").fill(site.valid_text)
    title = page.locator("#banner-title")
    notes = page.locator("#banner-notes li")
    for status, code, zh_title, zh_note, en in _PROBLEMS:
        detail = f"the node's words on {code}"
        answering.clear()
        answering |= {
            "type": f"https://eseal.invalid/problems/{code}",
            "status": status,
            "detail": detail,
        }
        page.locator("#qr-text").press("Enter")
        expect(page.locator("#banner-code")).to_have_text(code)
        expect(title).to_have_text(zh_title)
        expect(notes.nth(0)).to_contain_text(zh_note)
        expect(notes.nth(1)).to_have_text(detail)  # the node's own words, marked English
        expect(notes.nth(1)).to_have_attribute("lang", "en")
        page.locator("#lang").click()
        expect(page.locator("#banner")).to_contain_text(en)
        expect(title).not_to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        expect(notes.nth(0)).not_to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        page.locator("#lang").click()
    opened.errors.clear()  # the browser's own log of each refusal


def test_a_node_that_never_answers_is_given_up_on_in_the_clerks_words(
    opened: Opened, site: Site
) -> None:
    """A node that takes the request and never answers: after 30 s the page says so, rather
    than 正在核验… for good; an upload with its original file is given longer (150 s)."""
    page = opened.page
    page.clock.install()
    held: list[Route] = []

    def hold(route: Route) -> None:  # never answered
        held.append(route)

    def until_asked(requests: int) -> None:
        """Until the page has sent its request (an upload shrinks the image first, and its
        timers are the fake clock's): the time from here on is the request's."""
        for _ in range(200):
            if len(held) == requests:
                return
            page.clock.run_for(50)
        raise AssertionError(f"{len(held)} requests held, not {requests}")

    page.route("**/v1/verify", hold)
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    until_asked(1)
    page.clock.run_for(29_000)
    expect(banner).to_have_attribute("data-state", "busy")
    page.clock.run_for(2_000)
    expect(page.locator("#banner-title")).to_have_text("核验服务长时间未响应")
    expect(banner).to_have_attribute("data-state", "notice")
    page.route("**/v1/verify/image", hold)
    _upload(page, site.files / "valid.png")
    until_asked(2)
    page.clock.run_for(149_000)
    expect(banner).to_have_attribute("data-state", "busy")
    page.clock.run_for(2_000)
    expect(page.locator("#banner-title")).to_have_text("核验服务长时间未响应")
    opened.errors.clear()  # the browser logs the aborted loads itself


def test_a_slow_node_is_said_to_be_slow_and_the_last_verdict_goes_meanwhile(
    opened: Opened, site: Site
) -> None:
    """The next check goes to a node slow to answer: the last verdict goes at once (no
    green left standing for a check not answered yet); after 5 s the page says the service
    is slow and that it still waits (it said only 正在核验… until it gave up at 30 s); the
    answer, when it comes, is shown without that note."""
    page = opened.page
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    page.clock.install()
    held: list[Route] = []

    def hold(route: Route) -> None:  # answered by hand, late
        held.append(route)

    page.route("**/v1/verify", hold)
    page.locator("#qr-text").press("Enter")
    expect(banner).to_have_attribute("data-state", "busy")
    expect(banner).not_to_contain_text("有效")
    expect(page.locator("#details")).to_be_hidden()
    for _ in range(200):
        if held:
            break
        page.clock.run_for(50)
    assert len(held) == 1
    page.clock.run_for(4_000)
    expect(banner).not_to_contain_text("响应较慢")
    page.clock.run_for(2_000)
    expect(banner).to_have_attribute("data-state", "busy")
    expect(page.locator("#banner-notes")).to_have_text("核验服务响应较慢，仍在等待…")
    _shot(page, "slow-node")
    page.locator("#lang").click()
    expect(page.locator("#banner-notes")).to_have_text(
        "The verification service is slow to answer; still waiting…"
    )
    page.locator("#lang").click()
    held[0].continue_()
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#banner-notes")).to_have_text("全部检查通过")


def test_a_paste_longer_than_any_code_is_refused_in_the_clerks_words(
    opened: Opened, site: Site
) -> None:
    """More than 4,000 characters (a whole document pasted) is no code: the page says so
    in Chinese, or English, instead of sending it for the node's English refusal."""
    page = opened.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    _paste(page, "EL1:" + "6" * 4100)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("证照码过长")
    expect(banner).to_contain_text("证照码不超过 4000 个字符")
    page.locator("#lang").click()
    expect(banner).to_contain_text("Code too long")
    expect(banner).not_to_contain_text("证照码")
    assert [u for u in asked if "/v1/" in u] == []


def test_an_image_of_too_many_pixels_is_not_called_a_file_too_large(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """A small file (a few KB) of an image wider than 16,384 pixels, in a format the page
    does not read (TIFF): the node refuses it for its pixels, and the page says the image
    is too large, not the file."""
    wide = tmp_path / "长图.tif"
    Image.new("1", (17_000, 100), 1).save(wide, compression="group4")
    assert wide.stat().st_size < 100_000
    page = opened.page
    _upload(page, wide)
    banner = page.locator("#banner")
    expect(page.locator("#banner-code")).to_have_text("image-too-large")
    expect(page.locator("#banner-title")).to_have_text("图片尺寸过大")
    expect(banner).to_contain_text("每边不超过 16384 像素")
    assert [e for e in opened.errors if "413" not in e] == []
    opened.errors.clear()  # the browser's own log of the 413


def test_the_pages_pixel_bounds_are_the_nodes() -> None:
    """The page refuses an image over the node's pixel bounds itself: its copies of them
    (window.js is no Python module) are the node's."""
    script = (Path(eseal.__file__).parent / "web" / "window.js").read_text(encoding="utf-8")
    for name in ("MAX_PIXELS", "MAX_WEBP_PIXELS", "MAX_SIDE"):
        (value,) = re.findall(rf"const {name} = (\d+);", script)
        assert int(value) == getattr(scan, name), name


def _too_many_pixels(tmp_path: Path, fmt: str) -> Path:
    """A small file of an image over the node's pixel bounds (verifier.scan.check_pixels),
    in format ``fmt``: 256 megapixels as a PNG, 49 as a JPEG, a GIF or a BMP, 14 as a WebP
    (over its 13); ``STRIP``, a PNG of few pixels but a side over 16,384."""
    if fmt == "PNG":
        image = Image.new("1", (16_000, 16_000), 1)
    elif fmt == "STRIP":
        image, fmt = Image.new("1", (scan.MAX_SIDE + 1, 10), 1), "PNG"
    elif fmt == "WEBP":
        image = Image.new("RGB", (4_000, 3_500), "white")
    else:
        image = Image.new("1" if fmt == "BMP" else "L", (7_000, 7_000), 255)
    path = tmp_path / f"huge.{fmt.lower()}"
    image.save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    assert path.stat().st_size < 10 * 2**20
    return path


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "STRIP"])
def test_an_image_of_too_many_pixels_is_refused_by_the_page_before_it_is_shrunk(
    browser: Browser, site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    """A small file of an image of more pixels than the node reads (a 16,000 × 16,000 PNG
    of 60 KB): the page decoded all of it to shrink it (seconds, a gigabyte of memory)
    before the node refused it. Its header says its size: refused at once, in the words
    the node's refusal gets, nothing decoded and nothing sent."""
    received = _record_server_images(monkeypatch)
    counting = (
        "window.decoded = 0; const create = window.createImageBitmap;"
        "window.createImageBitmap = (...a) => { window.decoded++; return create(...a); };"
    )
    o = Opened(browser, site, DESKTOP, script=counting)
    try:
        page = o.page
        _upload(page, _too_many_pixels(tmp_path, fmt))
        banner = page.locator("#banner")
        expect(page.locator("#banner-code")).to_have_text("image-too-large")
        expect(page.locator("#banner-title")).to_have_text("图片尺寸过大")
        expect(banner).to_contain_text("每边不超过 16384 像素")
        page.locator("#lang").click()
        expect(page.locator("#banner-title")).to_have_text("Image too large")
        expect(banner).to_contain_text("16,384 pixels a side")
        assert page.evaluate("window.decoded") == 0
        assert received == []
    finally:
        o.close()


@pytest.mark.parametrize(("fmt", "size"), [("PNG", (scan.MAX_SIDE, 10)), ("WEBP", (3_600, 3_600))])
def test_an_image_at_the_pixel_bounds_is_sent(
    opened: Opened,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fmt: str,
    size: tuple[int, int],
) -> None:
    """An image at the node's bounds (a side of 16,384 pixels; a WebP of 12.96 megapixels,
    under its 13) is not refused by the page: the node is asked."""
    received = _record_server_images(monkeypatch)
    path = tmp_path / f"edge.{fmt.lower()}"
    Image.new("RGB", size, "white").save(path, format=fmt, lossless=True)
    _upload(opened.page, path)
    expect(opened.page.locator("#banner-code")).to_have_text("no-qr-code")
    assert len(received) >= 1
    opened.errors.clear()  # the browser's own log of the 422


def test_image_without_a_qr_code_says_so(opened: Opened, site: Site) -> None:
    page = opened.page
    _upload(page, site.files / "not-a-qr.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "notice")
    expect(banner).to_contain_text("未找到二维码")
    expect(page.locator("#details")).to_be_hidden()
    _shot(page, "no-qr")


def _sheet(tmp_path: Path, name: str, pngs: list[bytes]) -> Path:
    """The QR codes ``pngs`` one above another on a sheet, as a PNG file."""
    codes = [Image.open(io.BytesIO(png)).convert("L") for png in pngs]
    side = max(c.width for c in codes)
    sheet = Image.new("L", (side, side * len(codes)), 255)
    for i, code in enumerate(codes):
        sheet.paste(code, (0, side * i))
    path = tmp_path / name
    sheet.save(path, format="PNG")
    return path


def test_an_image_with_another_qr_code_or_two_documents_codes(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """A web link's QR code printed above the license's: the license is checked (the page
    said the image held no license's code). Two licenses' codes in one photo: the page says
    so and asks for one, in Chinese and English (one of them was checked, unsaid)."""
    page = opened.page
    link = qr_png("HTTPS://WWW.GSXT.GOV.CN/CORP/915000001234567890", scale=8)
    valid = (site.files / "valid.png").read_bytes()
    _upload(page, _sheet(tmp_path, "link.png", [link, valid]))
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#doc-fields")).to_contain_text("重庆山城小面餐饮有限公司")
    revoked = (site.files / "revoked.png").read_bytes()
    page.locator("#image-file").set_input_files(str(_sheet(tmp_path, "two.png", [valid, revoked])))
    expect(page.locator("#banner-code")).to_have_text("several-qr-codes")
    expect(page.locator("#banner-title")).to_have_text("图片中有多个证照码")
    expect(banner).to_contain_text("请只拍摄或截取其中一个二维码")
    expect(banner).to_have_attribute("data-state", "notice")
    expect(page.locator("#details")).to_be_hidden()
    page.locator("#lang").click()
    expect(page.locator("#banner-title")).to_have_text("More than one code in the image")
    expect(banner).to_contain_text("crop just one of them")
    opened.errors.clear()  # the browser's own log of the 422


def test_camera_scan_and_a_phone(browser: Browser, site: Site) -> None:
    o = Opened(browser, site, PHONE)
    try:
        o.context.grant_permissions(["camera"], origin=site.url)
        page = o.page
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        banner = page.locator("#banner")
        expect(banner).to_have_attribute("data-state", "green", timeout=15_000)
        expect(page.locator("#camera-msg")).to_contain_text("已识别")
        expect(page.locator("#camera-start")).to_be_visible()  # the camera stopped
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
        _shot(page, "phone")
    finally:
        o.close()


def test_a_stamp_in_english_fits_a_narrow_phone(browser: Browser, site: Site) -> None:
    """At 375 px the English result of a stamp checked alone (the longest button: the
    original file's picker) stays inside the screen: nothing scrolls sideways."""
    o = Opened(browser, site, NARROW_PHONE)
    try:
        page = o.page
        page.locator("#lang").click()
        page.get_by_role("tab", name="Upload image").click()
        page.locator("#image-file").set_input_files(str(site.files / "stamp.png"))
        expect(page.locator("#banner")).to_have_attribute("data-state", "amber")
        button = page.locator("#doc-fields .picker-button")
        expect(button).to_contain_text("Choose the original file")
        box = button.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= NARROW_PHONE["width"]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW_PHONE["width"], "the page scrolls sideways on a phone"
        _shot(page, "phone-en-stamp")
    finally:
        o.close()


#: Every visible element outside the screen's width, and every control smaller than 44 × 44
#: CSS pixels to tap (the native file inputs are the pickers' whole area, measured as such).
_LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const name = (node) => `${node.tagName}#${node.id}.${node.getAttribute("class") || ""}`;
  const outside = [];
  for (const node of document.querySelectorAll("body *")) {
    const box = node.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left < -0.5 || box.right > width + 0.5) outside.push(name(node));
  }
  const small = [];
  const controls = "button, label.picker, textarea, input:not(.picker-input)";
  for (const node of document.querySelectorAll(controls)) {
    const box = node.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue; // not shown
    if (box.width < 44 || box.height < 44) small.push(name(node));
  }
  return { scroll: document.documentElement.scrollWidth, width, outside, small };
}"""


def _long_names(route: Route) -> None:
    """The verdict of a license whose holder and agency have names as long as they come."""
    verdict = route.fetch().json()
    verdict["issuer"]["agency_name"] = (
        "重庆市两江新区管理委员会市场监督管理局行政审批服务中心第三分中心"
    )
    verdict["document"]["holder"] = (
        "重庆市渝中区解放碑民族路一号山城老火锅连锁经营管理有限责任公司第一百零八分公司"
    )
    route.fulfill(json=verdict)


def _px(locator: Locator, prop: str) -> float:
    value = locator.evaluate(f"node => getComputedStyle(node).{prop}")
    assert isinstance(value, str)
    assert value.endswith("px"), value
    return float(value[:-2])


@pytest.mark.parametrize(
    ("name", "viewport", "mobile"),
    [
        ("phone", PHONE, True),
        ("tablet", SMALL_TABLET, True),
        ("tablet-landscape", TABLET_LANDSCAPE, True),
    ],
)
def test_a_long_license_id_and_long_names_wrap_on_a_phone_and_a_tablet(
    browser: Browser, site: Site, name: str, viewport: ViewportSize, mobile: bool
) -> None:
    """A phone in the citizen's hand (touch, 390 px), a small tablet, and one held sideways
    (two columns): a transferred license, whose new license's id (60 characters with
    nowhere to break) the banner and its status check say, and a license of long names,
    fit the screen. The id widened the result's column to 590 px, and the page scrolled
    sideways. Every control is 44 px at least to tap, the verdict is large, and the paste
    field's text is 16 px at least (a phone zooms into a field of smaller text)."""
    o = Opened(browser, site, viewport, mobile=mobile)
    try:
        page = o.page
        _upload(page, site.files / "transferred.png")
        expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
        expect(page.locator("#checks li.bad .summary")).to_contain_text(BEIJING_LICENSE)
        layout = page.evaluate(_LAYOUT)
        assert layout["scroll"] <= viewport["width"], layout
        assert layout["outside"] == [], layout
        assert layout["small"] == [], layout
        assert _px(page.locator("#banner-title"), "fontSize") >= 32
        _shot(page, f"{name}-transferred")
        page.route("**/v1/verify", _long_names)
        _paste(page, site.valid_text)
        expect(page.locator("#doc-fields")).to_contain_text("第一百零八分公司")
        expect(page.locator("#doc-fields")).to_contain_text("行政审批服务中心第三分中心")
        layout = page.evaluate(_LAYOUT)
        assert layout["scroll"] <= viewport["width"], layout
        assert layout["outside"] == [], layout
        assert layout["small"] == [], layout
        assert _px(page.locator("#qr-text"), "fontSize") >= 16
        assert _px(page.locator("#holder-id"), "fontSize") >= 16
        _shot(page, f"{name}-long-names")
    finally:
        o.close()


def _deny_camera(o: Opened, site: Site) -> None:
    """The camera denied to the site in the context's settings (as a clerk's 'Block'). The
    session is left open: Chromium drops what a session set when it detaches."""
    session = o.context.new_cdp_session(o.page)
    target = session.send("Target.getTargetInfo")["targetInfo"]
    session.send(
        "Browser.setPermission",
        {
            "permission": {"name": "camera"},
            "setting": "denied",
            "origin": site.url,
            "browserContextId": target["browserContextId"],
        },
    )


def _camera_failing(name: str) -> str:
    """A script for the page: the camera fails as a browser's does, with a DOMException
    ``name`` (NotFoundError: no camera; NotReadableError: one another program holds)."""
    return (
        "navigator.mediaDevices.getUserMedia = () =>"
        f" Promise.reject(new DOMException('Could not start video source', '{name}'));"
    )


def test_camera_denied_says_so(browser: Browser, site: Site) -> None:
    """The camera denied: said in Chinese, with what to do. The verdict of the license
    checked before goes as the clerk presses 开始扫码 (it stayed, green, beside the
    camera's error, looking like the new one's), and uploading still checks."""
    o = Opened(browser, site, DESKTOP)
    try:
        page = o.page
        _deny_camera(o, site)
        state = page.evaluate("navigator.permissions.query({name: 'camera'}).then(p => p.state)")
        assert state == "denied"
        _paste(page, site.valid_text)
        banner = page.locator("#banner")
        expect(banner).to_have_attribute("data-state", "green")
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_contain_text("权限被拒绝")
        expect(message).to_have_class("msg error")
        expect(banner).to_have_attribute("data-state", "idle")
        expect(page.locator("#details")).to_be_hidden()
        _shot(page, "camera-denied")
        _upload(page, site.files / "valid.png")
        expect(banner).to_have_attribute("data-state", "green")
    finally:
        o.close()


@pytest.mark.parametrize(
    ("error", "said"),
    [("NotFoundError", "未检测到摄像头"), ("NotReadableError", "摄像头被其他程序占用")],
)
def test_no_camera_or_one_in_use_is_said_and_the_other_ways_still_check(
    browser: Browser, site: Site, error: str, said: str
) -> None:
    """No camera, or one another program holds (a video call), on a phone: said in Chinese
    with the other ways to check, in view (the page does not scroll away to the result),
    the last verdict gone, and the upload and paste tabs check."""
    o = Opened(browser, site, PHONE, mobile=True, script=_camera_failing(error))
    try:
        page = o.page
        _paste(page, site.valid_text)
        banner = page.locator("#banner")
        expect(banner).to_have_attribute("data-state", "green")
        page.get_by_role("tab", name="摄像头扫码").click()
        page.evaluate("window.scrollTo(0, 0)")  # back up to the camera, as a thumb does
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_contain_text(said)
        expect(message).to_contain_text("改用“上传图片”“粘贴证照码”")
        expect(message).to_have_class("msg error")
        expect(banner).to_have_attribute("data-state", "idle")
        page.wait_for_timeout(800)  # a smooth scroll, had one started, is over
        assert page.evaluate("window.scrollY") == 0  # the camera and its message stay in view
        expect(message).to_be_in_viewport()
        _shot(page, f"camera-{error}")
        _upload(page, site.files / "valid.png")
        expect(banner).to_have_attribute("data-state", "green")
        _paste(page, site.moved_text)
        expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
    finally:
        o.close()


def test_a_camera_taken_while_scanning_stops_and_says_so(browser: Browser, site: Site) -> None:
    """While the camera looks (frames without a QR code), its message is written once: a
    live region written again with the same words each frame had a screen reader say
    正在寻找二维码… every 400 ms. Then the camera goes (unplugged, or taken by a call on a
    phone: its track ends): scanning stops, and the clerk is told, with what to do."""
    no_qr = {
        "type": "https://eseal.invalid/problems/no-qr-code",
        "title": "No QR code",
        "status": 422,
        "detail": "no QR code was found in the image",
    }
    o = Opened(browser, site, DESKTOP)
    try:
        o.context.grant_permissions(["camera"], origin=site.url)
        page = o.page
        frames: list[str] = []
        page.on("request", lambda r: frames.append(r.url) if "/v1/verify/image" in r.url else None)
        page.route("**/v1/verify/image", lambda route: route.fulfill(status=422, json=no_qr))
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_have_text("正在寻找二维码…")
        page.evaluate(
            """() => {
              window.rewrites = 0;
              new MutationObserver((changes) => { window.rewrites += changes.length; })
                .observe(document.getElementById("camera-msg"),
                         { childList: true, characterData: true, subtree: true });
            }"""
        )
        seen = len(frames)
        for _ in range(100):
            if len(frames) >= seen + 4:
                break
            page.wait_for_timeout(100)
        assert len(frames) >= seen + 4, "the camera stopped sending frames"
        expect(message).to_have_text("正在寻找二维码…")
        assert page.evaluate("window.rewrites") == 0
        page.evaluate(
            """() => document.getElementById("video").srcObject.getVideoTracks()[0]
                  .dispatchEvent(new Event("ended"))"""
        )
        expect(message).to_contain_text("摄像头已断开或被其他程序占用，扫码已停止")
        expect(message).to_have_class("msg error")
        expect(page.locator("#camera-start")).to_be_visible()
        expect(page.locator("#camera-stop")).to_be_hidden()
        expect(page.locator("#camera-idle")).to_be_visible()
        _shot(page, "camera-lost")
    finally:
        o.close()


def test_the_camera_says_when_the_node_cannot_be_reached(browser: Browser, site: Site) -> None:
    """The camera looks while the node is down: the clerk is told the verification
    service cannot be reached (it said 暂时无法核验, as for any hiccup), and the camera
    checks as soon as the node answers again."""
    o = Opened(browser, site, DESKTOP)
    try:
        o.context.grant_permissions(["camera"], origin=site.url)
        page = o.page
        page.route("**/v1/verify/image", lambda route: route.abort("connectionrefused"))
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_contain_text("无法连接核验服务，正在重试", timeout=15_000)
        expect(message).to_have_class("msg error")
        expect(page.locator("#banner")).to_have_attribute("data-state", "idle")
        _shot(page, "camera-node-down")
        page.unroute("**/v1/verify/image")
        expect(page.locator("#banner")).to_have_attribute("data-state", "green", timeout=15_000)
        expect(message).to_contain_text("已识别")
        expect(message).not_to_have_class("msg error")
        o.errors[:] = [e for e in o.errors if "CONNECTION_REFUSED" not in e]
    finally:
        o.close()


def test_the_camera_asks_to_aim_at_one_of_two_documents_codes(browser: Browser, site: Site) -> None:
    """Two documents' codes in view: the camera says to aim at one of them, in the page's
    language, not in red, and keeps looking; once the node reads one, it checks it."""
    several = {
        "type": "https://eseal.invalid/problems/several-qr-codes",
        "title": "Several QR codes",
        "status": 422,
        "detail": "the image shows the QR codes of 2 documents",
    }
    o = Opened(browser, site, DESKTOP)
    try:
        o.context.grant_permissions(["camera"], origin=site.url)
        page = o.page
        page.route("**/v1/verify/image", lambda route: route.fulfill(status=422, json=several))
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_have_text("画面中有多个证照码：请只对准其中一个")
        expect(message).not_to_have_class("msg error")
        page.locator("#lang").click()
        expect(message).to_have_text("More than one code in view: aim at just one of them")
        expect(page.locator("#banner")).to_have_attribute("data-state", "idle")
        page.unroute("**/v1/verify/image")
        expect(page.locator("#banner")).to_have_attribute("data-state", "green", timeout=15_000)
        o.errors.clear()  # the browser's own log of the 422s
    finally:
        o.close()


def test_over_plain_http_the_page_opens_on_upload_and_says_why_not_the_camera(
    browser: Browser, site: Site
) -> None:
    """Opened over plain http from another machine (not localhost), a browser gives the
    page no camera (not a secure context: no getUserMedia). The page opens on the upload
    tab, which works there (a phone's picker takes a photo), its camera tab says why at
    once, in Chinese, with no button that could only fail; upload and paste check."""
    port = site.url.rsplit(":", 1)[1]
    chose_camera = "localStorage.setItem('eseal.window.tab', 'camera');"  # on an earlier visit
    elsewhere = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP window.test 127.0.0.1"],
        timeout=30_000,
    )
    try:
        url = f"http://window.test:{port}"
        o = Opened(elsewhere, site, PHONE, mobile=True, url=url, script=chose_camera)
        try:
            page = o.page
            assert page.evaluate("window.isSecureContext") is False
            assert page.evaluate("navigator.mediaDevices === undefined") is True
            upload = page.get_by_role("tab", name="上传图片")
            expect(upload).to_have_attribute("aria-selected", "true")
            expect(page.locator("#panel-upload")).to_be_visible()
            # The clerk's choice stands, for where the camera works.
            assert page.evaluate("localStorage.getItem('eseal.window.tab')") == "camera"
            page.get_by_role("tab", name="摄像头扫码").click()
            message = page.locator("#camera-msg")
            expect(message).to_contain_text("本页不是通过 HTTPS 打开的，浏览器不允许使用摄像头")
            expect(message).to_contain_text("上传图片")
            expect(message).to_have_class("msg error")
            expect(page.locator("#camera-start")).to_be_hidden()
            expect(page.locator("#camera-idle")).to_have_text("摄像头不可用")
            _shot(page, "camera-insecure")
            _upload(page, site.files / "valid.png")
            banner = page.locator("#banner")
            expect(banner).to_have_attribute("data-state", "green")
            _paste(page, site.moved_text)
            expect(page.locator("#banner-code")).to_have_text("TRANSFERRED")
            page.locator("#reset").click()
            page.get_by_role("tab", name="摄像头扫码").click()
            expect(message).to_contain_text("本页不是通过 HTTPS 打开的")
            page.locator("#lang").click()
            expect(message).to_contain_text("This page was not opened over HTTPS")
        finally:
            o.close()
    finally:
        elsewhere.close()


def test_a_barcode_scanner_types_code_after_code(opened: Opened, site: Site) -> None:
    """A keyboard-wedge scanner types each code and presses Enter into the focused field.
    The second scan must replace the first, and what scanners and Chinese input methods do
    to a code (Caps Lock, a full-width colon, a line break) must not make it 'tampered'."""
    page = opened.page
    page.get_by_role("tab", name="粘贴证照码").click()
    field = page.locator("#qr-text")
    field.click()
    mangled = site.valid_text.replace("EL1:", "el1：", 1).lower() + "\n"
    field.press_sequentially(mangled[:-1])
    field.press("Enter")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    expect(field).to_have_value(site.valid_text)  # shown as it was checked
    # The next scan: typed into the same field, whose text is now selected.
    page.evaluate("document.getElementById('banner').dataset.state = 'stale'")
    page.keyboard.insert_text("https://example.com/活动")
    page.keyboard.press("Enter")
    expect(banner).to_have_attribute("data-state", "notice")
    expect(field).to_have_value("HTTPS://EXAMPLE.COM/活动")
    # Not a forgery: a QR code of something else, said in plain words.
    expect(banner).to_contain_text("这不是电子证照或电子印章的二维码")
    expect(page.locator("#details")).to_be_hidden()
    _shot(page, "not-ours")
    # A code copied from a web page or a chat carries invisible characters (a zero-width
    # space where the page let the long code wrap, a byte order mark, a soft hyphen, a
    # line or paragraph separator, a next-line control): not part of any code, and never
    # 'damaged or altered' for them.
    a, b, c = (len(site.valid_text) * k // 4 for k in (1, 2, 3))
    t = site.valid_text
    copied = f"\ufeff{t[:a]}\u200b\u00ad{t[a:b]}\u2028{t[b:c]}\u2029\u0085{t[c:]}\u2060"
    page.keyboard.insert_text(copied)
    page.keyboard.press("Enter")
    expect(banner).to_have_attribute("data-state", "green")
    expect(field).to_have_value(site.valid_text)


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS colours given as rgb()/rgba() (opaque)."""

    def luminance(colour: str) -> float:
        r, g, b = (int(float(v)) for v in re.findall(r"[\d.]+", colour)[:3])

        def linear(c: int) -> float:
            s = c / 255
            return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


#: The focused element: its id, its outline, and the colour behind the outline (the
#: first ancestor's opaque background).
_FOCUSED = """() => {
  const node = document.activeElement;
  const style = getComputedStyle(node);
  let behind = "rgb(255, 255, 255)";
  for (let up = node.parentElement; up; up = up.parentElement) {
    const colour = getComputedStyle(up).backgroundColor;
    if (colour !== "rgba(0, 0, 0, 0)" && colour !== "transparent") { behind = colour; break; }
  }
  return { id: node.id || node.className, outline: style.outlineColor,
           style: style.outlineStyle, width: parseFloat(style.outlineWidth), behind };
}"""


def test_keyboard_only(opened: Opened, site: Site) -> None:
    """A clerk with the keyboard alone: Tab from the top goes to the skip link, the language,
    the selected tab; the arrows choose 粘贴证照码; Tab to the field, the code typed and
    Enter checks it. Tab on to the id number, typed, and Enter checks again with it (Enter
    there did nothing: back to the code field it took). Each focused control shows a ring
    of 3:1 at least against what is behind it (the yellow ring was 1.7:1 on white)."""
    page = opened.page
    keyboard = page.keyboard
    focused: list[dict[str, object]] = []

    def tab_to(expected: str, key: str = "Tab") -> None:
        keyboard.press(key)
        now = page.evaluate(_FOCUSED)
        assert now["id"] == expected, now
        focused.append(now)

    tab_to("skip-link")
    tab_to("lang")
    tab_to("tab-camera")
    tab_to("tab-upload", "ArrowRight")
    tab_to("tab-paste", "ArrowRight")
    expect(page.locator("#panel-paste")).to_be_visible()
    tab_to("qr-text")
    keyboard.insert_text(site.valid_text)
    keyboard.press("Enter")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    checks = page.locator("#checks")
    expect(checks.locator("li", has_text="持证人核对")).to_have_count(0)
    tab_to("primary")  # 核验
    tab_to("paste-clear")
    tab_to("holder-id")
    keyboard.type("91500000MA60XXXX15")
    page.evaluate("document.getElementById('banner').dataset.state = 'stale'")
    keyboard.press("Enter")
    expect(banner).to_have_attribute("data-state", "green")
    expect(checks.locator("li.ok", has_text="持证人核对")).to_have_count(1)
    _shot(page, "keyboard")
    for ring in focused:
        assert ring["style"] == "solid", ring
        width = ring["width"]
        assert isinstance(width, int | float)
        assert width >= 2, ring
        assert _contrast(str(ring["outline"]), str(ring["behind"])) >= 3, ring


def test_checks_are_described_in_the_clerks_language(opened: Opened, site: Site) -> None:
    page = opened.page
    _paste(page, site.valid_text)
    checks = page.locator("#checks")
    expect(checks).to_contain_text("数字签名有效，内容未被改动")
    expect(checks).to_contain_text("签发记录已收录于本地区账本")
    # The node's own technical words stay, smaller, marked as English.
    expect(checks.locator(".detail[lang=en]").first).to_be_visible()
    # Ledger inclusion is said once, by its check, not again under freshness.
    expect(page.locator("#freshness")).not_to_contain_text("账本收录")
    # The license's fields come in the printed license's order.
    labels = page.locator("#doc-fields dt").all_text_contents()
    assert labels.index("类型") < labels.index("法定代表人") < labels.index("住所")


def test_the_next_stamp_is_not_compared_with_the_last_ones_file(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """Stamp and original file checked (green); then the next customer's stamp image is
    chosen: the previous original file is dropped (amber: not compared), never compared
    with the wrong stamp (red)."""
    page = opened.page
    banner = _stamp_checked_with_its_file(page, site)
    next_image = tmp_path / "下一份.png"
    next_image.write_bytes((site.files / "stamp.png").read_bytes())
    page.locator("#image-file").set_input_files(str(next_image))
    expect(banner).to_have_attribute("data-state", "amber")
    expect(page.locator("#document-name")).to_have_text("未选择文件")


def test_a_changed_file_fails_the_file_comparison_step(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    changed = tmp_path / "租赁合同-改.txt"
    changed.write_bytes(site.stamped_document.read_bytes() + "（补充条款）".encode())
    page = opened.page
    _upload(page, site.files / "stamp.png")
    page.locator("#document-file").set_input_files(str(changed))
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    expect(banner).to_contain_text("原始文件不一致")
    failed = page.locator("#checks li.bad")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("文件比对")
    _shot(page, "stamp-file-changed")


def test_a_pasted_stamp_is_compared_with_a_file_chosen_afterwards(
    opened: Opened, site: Site
) -> None:
    """A stamp scanned with a barcode scanner (or the camera) has no file beside it: the
    result offers to choose the original, and the same QR is checked again with it."""
    from verifier.scan import read_qr

    page = opened.page
    stamp_text = read_qr((site.files / "stamp.png").read_bytes())
    _paste(page, stamp_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "amber")
    # The warning points to the picker below, not to an upload of a QR image (the clerk
    # scanned paper: there is no image to upload).
    expect(banner).to_contain_text("请在下方选择盖章前的原始文件")
    expect(banner).not_to_contain_text("上传图片")
    picker = page.locator("#compare-file")
    expect(picker).to_have_count(1)
    picker.set_input_files(str(site.stamped_document))
    expect(banner).to_have_attribute("data-state", "green")
    expect(page.locator("#doc-fields")).to_contain_text("所给文件与盖章文件一致")
    expect(page.locator("#compare-file")).to_have_count(0)
    _shot(page, "stamp-compared-after")


def test_the_next_customers_file_chosen_before_their_image(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """Stamp A with its file (green). The clerk then picks customer B's original file first:
    it is not compared with stamp A (no red mismatch), and it stays for B's image."""
    page = opened.page
    banner = _stamp_checked_with_its_file(page, site)
    their_file = tmp_path / "租赁合同-乙.txt"
    their_file.write_bytes(site.stamped_document.read_bytes())  # B's stamp sealed the same text
    page.locator("#document-file").set_input_files(str(their_file))
    expect(banner).to_have_attribute("data-state", "notice")
    expect(banner).to_contain_text("请再选择对应的二维码图片")
    their_image = tmp_path / "乙.png"
    their_image.write_bytes((site.files / "stamp.png").read_bytes())
    page.locator("#image-file").set_input_files(str(their_image))
    expect(banner).to_have_attribute("data-state", "green")  # compared with B's file
    expect(page.locator("#document-name")).to_have_text("租赁合同-乙.txt")


def test_after_a_comparison_in_the_result_the_next_file_waits_for_its_image(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    """Stamp A uploaded alone, then compared through the picker in the result (green). The
    next customer's file, chosen first in the form, is not compared with stamp A."""
    page = opened.page
    _upload(page, site.files / "stamp.png")
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "amber")
    page.locator("#compare-file").set_input_files(str(site.stamped_document))
    expect(banner).to_have_attribute("data-state", "green")
    other = tmp_path / "另一份合同.txt"
    other.write_bytes("另一份合同".encode())
    page.locator("#document-file").set_input_files(str(other))
    expect(banner).to_have_attribute("data-state", "notice")  # not a red mismatch for A
    expect(banner).to_contain_text("请再选择对应的二维码图片")


def test_a_wrong_file_can_be_corrected_for_the_same_stamp(
    opened: Opened, site: Site, tmp_path: Path
) -> None:
    wrong = tmp_path / "错的文件.txt"
    wrong.write_bytes(b"not the contract")
    page = opened.page
    _upload(page, site.files / "stamp.png")
    page.locator("#document-file").set_input_files(str(wrong))
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "red")
    page.locator("#document-file").set_input_files(str(site.stamped_document))
    expect(banner).to_have_attribute("data-state", "green")


def test_the_same_image_chosen_again_is_checked_again(opened: Opened, site: Site) -> None:
    """A clerk rescans the same file (its status may have changed, or it was compared in
    the result since): the browser fires no change for a choice left unchanged, so the
    same image chosen again did nothing. Each choice is checked once, the last verdict gone
    while the new one is awaited, and the same stamp keeps its original file (the same
    customer's); 核验 checks it once again too."""
    page = opened.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/verify" in r.url else None)
    banner = _stamp_checked_with_its_file(page, site)
    assert len(sent) == 2  # the image alone, then with its file
    held: list[Route] = []

    def answer() -> None:
        """The held request, once it is sent (an upload reads its image first), let go."""
        for _ in range(200):
            if held:
                held.pop().continue_()
                return
            page.wait_for_timeout(50)
        raise AssertionError("no request sent")

    def hold(route: Route) -> None:  # answered by hand
        held.append(route)

    page.route("**/v1/verify/image", hold)
    page.locator("#image-file").set_input_files(str(site.files / "stamp.png"))
    expect(banner).to_have_attribute("data-state", "busy")
    expect(page.locator("#details")).to_be_hidden()
    answer()
    expect(banner).to_have_attribute("data-state", "green")  # compared again with its file
    expect(page.locator("#image-name")).to_have_text("stamp.png")
    expect(page.locator("#document-name")).to_have_text("租赁合同.txt")
    page.get_by_role("button", name="核验", exact=True).click()
    expect(banner).to_have_attribute("data-state", "busy")
    answer()
    expect(banner).to_have_attribute("data-state", "green")
    _settled(page)
    assert len(sent) == 4
    assert held == []


def test_the_same_original_file_chosen_again_is_compared_again(opened: Opened, site: Site) -> None:
    """Stamp and original file checked (green); the clerk chooses the same original file
    again (to check once more, or unsure it was taken). The browser fires no change for a
    choice left unchanged, so it did nothing; and one fired was taken for the next
    customer's file (请再选择对应的二维码图片). The stamp is compared with it again, as the
    same image chosen again is checked again, each time it is chosen."""
    page = opened.page
    banner = _stamp_checked_with_its_file(page, site)
    for _ in range(2):
        with page.expect_response("**/v1/verify/image", timeout=10_000):
            page.locator("#document-file").set_input_files(str(site.stamped_document))
        expect(banner).to_have_attribute("data-state", "green")
        expect(banner).not_to_contain_text("请再选择对应的二维码图片")
        expect(page.locator("#doc-fields")).to_contain_text("所给文件与盖章文件一致")
        expect(page.locator("#document-name")).to_have_text("租赁合同.txt")


def test_the_api_docs_render_from_the_node_alone(browser: Browser, site: Site) -> None:
    """The operator's API page (where a bearer token is pasted) loads Swagger UI from the
    node itself: every request the page makes goes to the node's origin, and the page
    renders the API's title."""
    context = browser.new_context(viewport=DESKTOP)
    asked: list[str] = []
    context.on("request", lambda r: asked.append(r.url))
    page = context.new_page()
    try:
        response = page.goto(site.url + "/docs")
        assert response is not None
        assert response.status == 200
        # A page a token is pasted into: no other site may frame it (clickjacking).
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        expect(page.get_by_role("heading", level=1)).to_contain_text("eseal", timeout=30_000)
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        _shot(page, "api-docs")
        assert page.request.get(site.url + "/redoc").status == 404  # it would ask a CDN
    finally:
        context.close()
    assert site.url + "/openapi.json" in asked
    assert [u for u in asked if not u.startswith((site.url + "/", "data:"))] == []


def test_the_holder_id_checks_who_presents_the_license(opened: Opened, site: Site) -> None:
    """The clerk types the number on the presenter's card (here a company's credit code,
    as typed: lower case, spaced): the holder check shows, green; another company's code
    is red, 持证人不符, in the clerk's words. The number is never shown on the page."""
    page = opened.page
    holder = page.get_by_label("核对持证人证件号码（可选）")
    holder.fill("91500000 ma60xxxx15")  # business_request's holder
    _paste(page, site.valid_text)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-state", "green")
    checks = page.locator("#checks")
    expect(checks.locator("li.ok", has_text="持证人核对")).to_have_count(1)
    expect(checks).to_contain_text("证件号码与持证人一致")
    expect(page.locator("#doc-fields")).to_contain_text("证件号码与持证人一致")
    _shot(page, "holder-match")
    other = "91500103MA60ABCD1F"
    holder.fill(other)
    page.locator("#qr-text").press("Enter")
    expect(banner).to_have_attribute("data-state", "red")
    expect(page.locator("#banner-title")).to_have_text("持证人不符")
    expect(banner).to_contain_text("HOLDER_MISMATCH")
    expect(banner).to_contain_text("出示人可能不是持证人")
    # A company's holder: its credit code is on its business license, not an ID card.
    expect(banner).to_contain_text("请核对其身份证件或营业执照")
    expect(checks.locator("li.bad", has_text="持证人核对")).to_have_count(1)
    assert other not in page.locator("#result").inner_text()
    _shot(page, "holder-mismatch")
    # In English too; the page keeps no copy of the number once reset.
    page.locator("#lang").click()
    expect(page.locator("#banner-title")).to_have_text("Holder does not match")
    expect(page.get_by_label("Check the holder's ID number (optional)")).to_have_value(other)
    page.locator("#reset").click()
    expect(page.locator("#holder-id")).to_have_value("")


def test_a_number_compared_is_not_sent_with_the_next_check(opened: Opened, site: Site) -> None:
    """Once a verdict has compared the number in the box, the next check (the next
    customer's license) goes without it, and the box is emptied: sent with their license,
    the last customer's number would say 持证人不符. Typed again, it is sent again."""
    page = opened.page
    holder = page.locator("#holder-id")
    holder.fill("91500000MA60XXXX15")
    _paste(page, site.valid_text)
    checks = page.locator("#checks")
    expect(checks.locator("li.ok", has_text="持证人核对")).to_have_count(1)
    expect(holder).to_have_value("91500000MA60XXXX15")  # kept with its result, to correct
    sent: list[bool] = []
    page.on("request", lambda r: sent.append("holder_id" in (r.post_data or "")))
    _paste(page, site.valid_text)
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(checks.locator("li", has_text="持证人核对")).to_have_count(0)
    expect(holder).to_have_value("")
    assert sent == [False]
    holder.fill("91500000MA60XXXX15")
    page.locator("#qr-text").press("Enter")
    expect(checks.locator("li.ok", has_text="持证人核对")).to_have_count(1)
    assert sent == [False, True]


def test_an_upload_carries_the_holder_id_too(opened: Opened, site: Site) -> None:
    page = opened.page
    page.locator("#holder-id").fill("91500000MA60XXXX15")
    _upload(page, site.files / "valid.png")
    expect(page.locator("#banner")).to_have_attribute("data-state", "green")
    expect(page.locator("#checks li.ok", has_text="持证人核对")).to_have_count(1)


def test_the_camera_waits_while_the_holder_id_is_being_typed(browser: Browser, site: Site) -> None:
    """A clerk typing the presenter's number while the camera looks: a frame sent with the
    first digits typed was refused (invalid-holder-id), which stopped the camera with an
    error. The camera waits for the whole number, then reads and checks the holder."""
    o = Opened(browser, site, DESKTOP)
    try:
        o.context.grant_permissions(["camera"], origin=site.url)
        page = o.page
        holder = page.locator("#holder-id")
        holder.fill("9150 0000")  # half typed
        page.get_by_role("tab", name="摄像头扫码").click()
        page.locator("#camera-start").click()
        message = page.locator("#camera-msg")
        expect(message).to_contain_text("证件号码未填完", timeout=15_000)
        expect(page.locator("#camera-stop")).to_be_visible()  # still looking
        expect(page.locator("#banner")).not_to_contain_text("证件号码格式不正确")
        holder.fill("91500000 ma60xxxx15")
        banner = page.locator("#banner")
        expect(banner).to_have_attribute("data-state", "green", timeout=15_000)
        expect(page.locator("#checks li.ok", has_text="持证人核对")).to_have_count(1)
    finally:
        o.close()
