// 窗口核验 — the service-window page. No build step, no third-party code: the server decodes
// QR codes (zxing-cpp) and verifies; this script only sends what the clerk scanned and shows
// the verdict. Every value from the server is inserted with textContent, never as HTML.
"use strict";

(() => {
  const MAX_IMAGE = 10 * 1024 * 1024;
  const MAX_DOCUMENT = 20 * 1024 * 1024;
  const MAX_TEXT = 4000; // characters of a QR text (verifier.document.MAX_TEXT_LENGTH)
  // How long the page waits for the node's answer (it comes in well under a second): a
  // node that took the request and never answered left the clerk with 正在核验… for good.
  // An upload with the original file may be slow to send (the node gives a body 120 s).
  const CHECK_TIMEOUT_MS = 30000;
  const UPLOAD_TIMEOUT_MS = 150000;
  const FRAME_TIMEOUT_MS = 10000; // a camera frame: the next one is tried after it
  // An answer still awaited after this long is said to be slow (the clerk is not left
  // wondering whether anything is happening), well before the page gives up on it.
  const SLOW_MS = 5000;
  const SCAN_EVERY_MS = 400;
  const FRAME_SIDE = 1280; // camera frames are scaled to at most this long side
  // An uploaded image over this many pixels (a phone photo, a phone screenshot) is shrunk in
  // the page to UPLOAD_SIDE before it is sent: a 12-megapixel photo is 2-5 MB and 25 ms of
  // server decoding, a 1080×2400 screenshot 23 ms; shrunk, each is under 5 ms (bench.scan),
  // and a QR a fifth of the photo wide still has 3 pixels a module. If the shrunk image
  // shows no QR, or only one that is no license's or stamp's, the original is sent.
  const UPLOAD_SHRINK_PIXELS = 2000000;
  const UPLOAD_SIDE = 1600;
  const UPLOAD_QUALITY = 0.85;
  // The node's pixel bounds (verifier.scan.MAX_PIXELS, MAX_WEBP_PIXELS, MAX_SIDE): an image
  // over them, as its header says, is refused before the page decodes it to shrink it (a
  // 16,000 × 16,000 PNG of 60 KB took seconds and a gigabyte to decode, then was refused).
  const MAX_PIXELS = 40000000;
  const MAX_WEBP_PIXELS = 13000000;
  const MAX_SIDE = 16384;
  const LANG_KEY = "eseal.window.lang";
  const TAB_KEY = "eseal.window.tab";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const STRINGS = {
    zh: {
      page_title: "窗口核验 · 电子证照与电子印章",
      skip: "跳到核验结果",
      title: "窗口核验",
      subtitle: "电子证照 · 电子印章 真伪核验",
      lang_button: "English",
      inputs_title: "核验方式",
      tab_camera: "摄像头扫码",
      tab_upload: "上传图片",
      tab_paste: "粘贴证照码",
      camera_idle: "摄像头未开启",
      camera_unavailable: "摄像头不可用",
      camera_start: "开始扫码",
      camera_again: "扫下一份",
      camera_stop: "停止",
      camera_hint: "将二维码对准取景框，保持稳定，识别后自动核验。",
      camera_opening: "正在打开摄像头…",
      camera_looking: "正在寻找二维码…",
      camera_found: "已识别二维码，核验完成。",
      camera_denied: "无法使用摄像头：权限被拒绝。请在浏览器地址栏旁的设置中允许本页使用摄像头，或改用“上传图片”。",
      camera_none: "未检测到摄像头。请连接摄像头，或改用“上传图片”“粘贴证照码”。",
      camera_busy: "摄像头被其他程序占用。请关闭占用摄像头的程序（如视频通话）后重试，或改用“上传图片”“粘贴证照码”。",
      camera_lost: "摄像头已断开或被其他程序占用，扫码已停止。请点击“开始扫码”重试，或改用“上传图片”“粘贴证照码”。",
      camera_insecure: "本页不是通过 HTTPS 打开的，浏览器不允许使用摄像头。请改用“上传图片”（手机可直接拍照）或“粘贴证照码”（扫码枪）；如需摄像头扫码，请联系管理员为本页启用 HTTPS。",
      camera_unsupported: "此浏览器不支持摄像头扫码。请改用“上传图片”或“粘贴证照码”。",
      camera_failed: "无法打开摄像头。请重试，或改用“上传图片”“粘贴证照码”。",
      camera_retrying: "暂时无法核验，正在重试…",
      camera_unreachable: "无法连接核验服务，正在重试…请检查网络连接。",
      camera_slow: "核验服务响应较慢，正在重试…",
      camera_holder: "证件号码未填完（18 位）：填完后继续识别",
      camera_several: "画面中有多个证照码：请只对准其中一个",
      choose_image: "选择图片",
      choose_file: "选择文件",
      no_file: "未选择文件",
      check_skipped: "未核验",
      f_seal_id: "印章编号",
      why_REVOKED: "该证照已被发证机关撤销，不能作为有效凭证",
      why_SUSPENDED: "该证照已被发证机关暂停使用",
      why_WITHDRAWN: "该证照已被发证机关撤回",
      why_CANCELLED: "该证照已被注销",
      why_LAPSED: "该证照已失效",
      why_TRANSFERRED: "该证照已转出，请向现发证机关核实",
      why_EXPIRED: "已超过有效期",
      why_NOT_YET_VALID: "尚未到生效日期",
      why_BAD_SIGNATURE: "数字签名与内容不符：内容可能被篡改或伪造",
      why_UNKNOWN_ISSUER: "签发机关不在本地区的信任名单中：可能是伪造的",
      peer_unknown_note: (code) => `签发机关不在该地区（区划代码 ${code}）的信任名单中：可能是伪造的`,
      why_ISSUER_NOT_AUTHORISED: "签发机关无权签发此证照",
      why_KEY_REVOKED: "签发所用的密钥已被吊销",
      why_NOT_IN_LEDGER: "账本中没有该证照的签发记录",
      why_MALFORMED: "证照码无法解析：可能已损坏或被篡改",
      why_UNSUPPORTED: "不是本系统支持的证照码",
      why_DOCUMENT_MISMATCH: "所给文件与盖章时的原始文件不一致：文件可能被改动过，或所给的是带印章的盖章件而非原始文件",
      why_HOLDER_MISMATCH: "所填证件号码与持证人不一致：出示人可能不是持证人，请核对其身份证件或营业执照",
      why_stamp_REVOKED: "该印章已被撤销，其盖章不能作为有效凭证",
      why_stamp_KEY_REVOKED: "该印章的密钥已被吊销，其盖章不能作为有效凭证",
      why_stamp_UNKNOWN_ISSUER: "该印章不在本地区的信任名单中：可能是伪造的",
      peer_stamp_unknown_note: (code) => `该印章不在该地区（区划代码 ${code}）的信任名单中：可能是伪造的`,
      stamp_elsewhere_note: (code) =>
        `该盖章标明的用章单位登记于其他地区（区划代码 ${code}）：本窗口未持有该地区的信任名单，无法在此核验印章真伪，请通过该地区的核验服务核验`,
      stamp_central_note:
        "该盖章标明的用章单位为中央国家机关：本窗口持有的信任名单中均没有该印章，它可能登记在其他地区，无法在此核验印章真伪，请通过登记该印章的地区核验服务核验",
      why_stamp_ISSUER_NOT_AUTHORISED: "该印章未获其所在地区授权",
      why_stamp_NOT_YET_VALID: "盖章时间晚于当前时间，盖章尚未生效",
      why_stamp_NOT_IN_LEDGER: "账本中没有该盖章的记录",
      not_ours: "这不是电子证照或电子印章的二维码",
      not_ours_note: "请扫描电子证照或盖章文件上的核验二维码（证照码以 EL1: 或 ES1: 开头）。",
      ok_decode: "证照码格式正确",
      ok_issuer: "找到受信任的签发机关",
      ok_signature: "数字签名有效，内容未被改动",
      ok_authority: "签发密钥经本地区根密钥认证，且有权签发",
      ok_time: "在有效期内",
      ok_time_stamp: "盖章时间有效",
      // A stamp's signature covers its details (seal, file name, size, SHA-256, time), not
      // the file: whether the file is the one stamped is the file comparison's to say.
      ok_signature_stamp: "数字签名有效，盖章信息未被改动",
      ok_authority_stamp: "印章密钥经本地区根密钥认证",
      ok_authority_peer: (name) => `签发密钥经${name}根密钥认证，且有权签发`,
      ok_authority_stamp_peer: (name) => `印章密钥经${name}根密钥认证`,
      ok_status: "未被撤销、暂停或注销",
      ok_ledger: "签发记录已收录于本地区账本",
      ok_document: "所给文件与盖章时的原始文件一致",
      ok_holder: "证件号码与持证人一致",
      skip_holder: "证照未载明可比对的证件号码，未能核对",
      holder_label: "核对持证人证件号码（可选）",
      holder_hint: "填写出示人身份证号码或企业统一社会信用代码，随证照一并核对其是否为持证人；号码仅用于本次核验，不保存。",
      f_holder_check: "持证人核对",
      holder_ok: "证件号码与持证人一致",
      holder_bad: "证件号码与持证人不一致",
      holder_none: "证照未载明可比对的证件号码",
      err_holder_id: "证件号码格式不正确",
      err_holder_id_note: "请核对所填的身份证号码（18 位）或统一社会信用代码（18 位），或清空后只核验证照。",
      err_no_holder: "电子印章没有持证人",
      err_no_holder_note: "核对证件号码仅用于电子证照：请清空证件号码后再核验印章。",
      skip_status: "未能核验最新状态",
      skip_document: "未提供原始文件，未比对",
      upload_image: "二维码图片（照片或截图）",
      upload_document: "盖章前的原始文件（可选，仅用于电子印章）",
      upload_hint: "选择图片后自动核验。核验电子印章时，请同时选择盖章前的原始文件以比对内容；带印章的盖章件（PDF）不能用于比对。",
      paste_label: "证照码（EL1: 或 ES1: 开头）",
      paste_placeholder: "粘贴或用扫码枪扫入，回车即核验",
      verify: "核验",
      clear_text: "清空",
      result_title: "核验结果",
      idle: "请扫码、上传图片或粘贴证照码",
      busy: "正在核验…",
      busy_slow: "核验服务响应较慢，仍在等待…",
      caution: "请注意",
      all_passed: "全部检查通过",
      warn_STALE_STATUS: "状态数据已过期：撤销状态可能不是最新的，请联网更新后再核验",
      warn_STALE_TRUST: "信任名单已过期：此后被吊销的签发密钥无法识别，请联网更新信任名单后再核验",
      warn_CLOCK_BEHIND: "设备时钟落后：本机时间早于已收到的签名数据，请校准时间",
      warn_NO_STATUS: "未能核验最新状态：无法确认是否已被撤销或暂停",
      warn_NO_STATUS_witnessed: "未能核验最新状态：账本检查点未达到见证要求，最新状态不予采信，无法确认是否已被撤销或暂停；请稍后再核验",
      warn_DOCUMENT_NOT_COMPARED: "未比对文件：印章有效，但未提供盖章前的原始文件，无法确认文件未被改动。如需比对，请在下方选择盖章前的原始文件",
      warn_HOLDER_NOT_COMPARED: "未能核对持证人：证照有效，但证照未载明可比对的证件号码，请人工核对持证人姓名与身份证件",
      invalid_caveat: "未通过核验：以下内容仅供参考，不能作为有效凭证。",
      kind_license: "电子证照",
      kind_stamp: "电子印章",
      license: "电子证照",
      stamp: "电子印章",
      f_id: "证照编号",
      f_holder: "持证主体",
      f_holder_id: "证件号码",
      f_issuer: "发证机关",
      f_issued: "签发日期",
      f_valid_until: "有效期至",
      no_end: "长期",
      f_seal: "印章",
      f_seal_agency: "用章单位",
      f_file: "文件",
      f_size: "文件大小",
      f_sha256: "SHA-256",
      f_stamped: "盖章日期",
      f_compare: "文件比对",
      compare_ok: "所给文件与盖章文件一致",
      compare_bad: "所给文件与盖章文件不一致",
      compare_none: "未比对：未提供文件（仅核验了印章签名）",
      compare_license: "证照无需比对文件，所选文件未使用",
      compare_choose: "选择盖章前的原始文件进行比对",
      compare_hint: "文件只发送到本地区核验节点，用于计算并比对其 SHA-256。",
      seal_alt: "印章图像：",
      seal_alt_agency: "发证机关印章：",
      checks_title: "核验了什么 · 数据新鲜度",
      check_ok: "通过",
      check_bad: "未通过",
      step_decode: "解码证照码",
      step_issuer: "查找签发机关",
      step_signature: "验证数字签名",
      step_authority: "签发机关授权",
      step_time: "有效期",
      step_status: "撤销状态",
      step_ledger: "账本收录",
      step_document: "文件比对",
      step_holder: "持证人核对",
      fr_source: "状态来源",
      fr_online: "在线（节点实时）",
      fr_offline: "离线快照",
      fr_none: "未核验",
      fr_as_of: "状态截至",
      fr_fresh: "状态数据",
      fr_stale: "已过期",
      fr_current: "在有效期内",
      fr_checkpoint: "账本检查点",
      fr_checkpoint_size: (n) => `共 ${n} 条记录`,
      fr_included: "账本收录",
      fr_yes: "已收录",
      fr_no: "未收录",
      fr_unknown: "未核验",
      fr_checked_at: "核验时间",
      fr_since: "状态变更时间",
      fr_reason: "原因",
      reason_note: (r) => `发证机关记录的原因：${r}`,
      replaced_note: (id) => `已有新证替代，请核验新证：${id}`,
      transferred_note: (id) => `该证照已转出，新证照：${id}`,
      elsewhere_note: (code) =>
        `该证照标明由其他地区（区划代码 ${code}）签发：本窗口未持有该地区的信任名单，无法在此核验真伪，请通过该地区的核验服务核验`,
      central_note: (code) =>
        `该证照标明由中央国家机关（区划代码 ${code}）签发：本窗口未持有中央国家机关的信任名单，无法在此核验真伪，请通过中央国家机关的核验服务核验`,
      transferred_away_note: (id) => `该证照已转出至其他地区，新证照：${id}，请向现发证机关核实`,
      fr_replaced_by: "新证编号",
      fr_region: "信任地区",
      fr_witnessed: "见证",
      // w: freshness.witnessed (verifier.witnessing.Witnessing.to_json), checked by witnessed().
      // None cosigned: said so; one: signed, not "jointly" (共同) as two or more.
      wit_signed: (w) => {
        const who = w.rule === null ? "见证方" : "见证密钥";
        const n = w.cosigners.length;
        return `账本检查点（共 ${w.size} 条记录）` + (n === 0 ? `未经任何${who}签署`
          : `经 ${n} 个${who}（${w.cosigners.join("、")}）${n === 1 ? "" : "共同"}签署`);
      },
      wit_required: (w) =>
        w.rule === null ? `要求：至少 ${w.quorum} 个（共 ${w.witnesses} 个见证方）`
        : w.rule === "none" ? "要求：无需见证（quorum none）"
        : `要求：见证策略 ${w.rule}`,
      wit_extended: (m) => `本次状态所依据的检查点（共 ${m} 条记录）经一致性证明延续该检查点`,
      wit_unwitnessed: "但本次状态所依据的账本记录晚于该检查点，尚未经见证",
      wit_unmet: "未达到见证要求：",
      wit_withheld: "最新状态不予采信",
      // Adverse news counts short of the quorum: a status change, a key revoked, or a
      // document the ledger does not record (NOT_IN_LEDGER, no status change at all).
      wit_adverse: "账本所证明的结论不受见证要求影响，仍然有效",
      ago: (s) => `（${s}前）`,
      unit_min: "分钟",
      unit_hour: "小时",
      unit_day: "天",
      reset: "清除结果，核验下一份",
      footer: "核验在本地区节点完成：签名、签发机关授权、有效期与撤销状态；电子证照另核验账本收录。",
      err_no_qr: "未找到二维码",
      err_no_qr_note: "图片中没有可识别的二维码。请让二维码完整、清晰地出现在图片中，再试一次。",
      err_several_qr: "图片中有多个证照码",
      err_several_qr_note: "图片中有不止一份电子证照或电子印章的二维码，无法确定要核验哪一份。请只拍摄或截取其中一个二维码，再试一次。",
      err_too_large: "文件太大",
      err_too_large_image: "图片不能超过 10 MB。",
      err_too_many_pixels_title: "图片尺寸过大",
      err_too_many_pixels: "图片像素过多：不能超过 4000 万像素（WebP 图片 1300 万像素），每边不超过 16384 像素。请缩小图片或截取二维码部分后重试。",
      err_too_large_document: "原始文件不能超过 20 MB。",
      err_unreadable: "无法读取该图片",
      err_unreadable_note: "请上传 JPEG、PNG 等常见格式的图片。",
      err_invalid: "无法核验该输入",
      err_invalid_note: "请确认所扫描、上传或粘贴的二维码是否完整、是否为电子证照或电子印章的二维码，再试一次；如仍出错，请联系本系统的管理员。",
      err_too_complex: "图片过于复杂",
      err_too_complex_note: "核验服务未能在限定时间内识别这张图片。请裁剪出二维码部分，或靠近二维码重新拍摄，再试一次。",
      err_busy: "核验服务繁忙",
      err_busy_note: "同时识别的图片较多：请稍等几秒后再试一次。",
      err_match_busy_note: "同时核对证件号码的请求较多：请稍等几秒后再试一次，或清空证件号码只核验证照。",
      err_store: "核验服务暂时无法读取数据",
      err_store_note: "请稍后重试；如持续出现，请联系本系统的管理员。",
      err_sent_slowly: "发送超时",
      err_sent_slowly_note: "网络较慢，图片或文件发送太久，核验服务已中断本次核验。请检查网络连接后重试；照片较大时，可先裁剪出二维码部分再上传。",
      err_request: "核验服务无法处理本页发出的请求",
      err_request_note: "本页可能不是最新版本：请刷新本页后重试；如仍出错，请联系本系统的管理员。",
      err_network: "无法连接核验服务",
      err_network_note: "请检查网络连接后重试。",
      err_server: "核验服务出错",
      err_server_note: "请稍后重试；如仍出错，请联系本系统的管理员。",
      err_timeout: "核验服务长时间未响应",
      err_timeout_note: "请稍后重试；如仍无响应，请联系本系统的管理员。",
      err_need_image: "请先选择二维码图片",
      doc_waiting: "已选择原始文件，请再选择对应的二维码图片",
      err_need_text: "请先粘贴或扫入证照码",
      err_text_too_long: "证照码过长",
      err_text_too_long_note: "证照码不超过 4000 个字符，所粘贴的内容不是电子证照或电子印章的证照码。请只粘贴或扫入二维码中的文字。",
    },
    en: {
      page_title: "Service window · e-licenses and e-seals",
      skip: "Skip to the result",
      title: "Service window check",
      subtitle: "Is this electronic license or seal genuine?",
      lang_button: "中文",
      inputs_title: "How to check",
      tab_camera: "Scan with camera",
      tab_upload: "Upload image",
      tab_paste: "Paste code",
      camera_idle: "Camera is off",
      camera_unavailable: "Camera unavailable",
      camera_start: "Start scanning",
      camera_again: "Scan the next one",
      camera_stop: "Stop",
      camera_hint: "Hold the QR code steady inside the frame; it is checked as soon as it is read.",
      camera_opening: "Opening the camera…",
      camera_looking: "Looking for a QR code…",
      camera_found: "QR code read and checked.",
      camera_denied: "Cannot use the camera: permission was denied. Allow this page to use the camera in the browser's site settings, or use “Upload image”.",
      camera_none: "No camera found. Connect a camera, or use “Upload image” or “Paste code”.",
      camera_busy: "The camera is in use by another program. Close it (a video call, say) and try again, or use “Upload image” or “Paste code”.",
      camera_lost: "The camera was disconnected or taken by another program; scanning stopped. Press “Start scanning” to try again, or use “Upload image” or “Paste code”.",
      camera_insecure: "This page was not opened over HTTPS, so the browser does not allow the camera. Use “Upload image” (a phone can take a photo) or “Paste code” (a barcode scanner); to scan with the camera, ask the administrator to serve this page over HTTPS.",
      camera_unsupported: "This browser cannot scan with a camera. Use “Upload image” or “Paste code”.",
      camera_failed: "Cannot open the camera. Try again, or use “Upload image” or “Paste code”.",
      camera_retrying: "Cannot check right now; retrying…",
      camera_unreachable: "Cannot reach the verification service; retrying… Check the network connection.",
      camera_slow: "The verification service is slow to answer; retrying…",
      camera_holder: "The ID number is not complete (18 characters): scanning resumes once it is",
      camera_several: "More than one code in view: aim at just one of them",
      choose_image: "Choose image",
      choose_file: "Choose file",
      no_file: "No file chosen",
      check_skipped: "not checked",
      f_seal_id: "Seal number",
      why_REVOKED: "Revoked by the issuing agency: not valid proof",
      why_SUSPENDED: "Suspended by the issuing agency",
      why_WITHDRAWN: "Withdrawn by the issuing agency",
      why_CANCELLED: "Cancelled",
      why_LAPSED: "Lapsed",
      why_TRANSFERRED: "Transferred out: confirm with the current issuing agency",
      why_EXPIRED: "Past its validity period",
      why_NOT_YET_VALID: "Not valid yet",
      why_BAD_SIGNATURE: "The digital signature does not match the content: altered or forged",
      why_UNKNOWN_ISSUER: "The issuer is not on this region's trusted list: possibly forged",
      peer_unknown_note: (code) => `The issuer is not on the trusted list of region ${code}: possibly forged`,
      why_ISSUER_NOT_AUTHORISED: "The issuer is not authorised to issue this",
      why_KEY_REVOKED: "The key it was signed with has been revoked",
      why_NOT_IN_LEDGER: "The ledger holds no record of its issuance",
      why_MALFORMED: "The code cannot be read: damaged or altered",
      why_UNSUPPORTED: "Not a code this system supports",
      why_DOCUMENT_MISMATCH: "The file given is not the original file that was stamped: it was changed, or it is the stamped copy rather than the original",
      why_HOLDER_MISMATCH: "The id number given is not the holder's: the person presenting it may not be the holder; check their ID card or business license",
      why_stamp_REVOKED: "The seal has been revoked: its stamps are not valid proof",
      why_stamp_KEY_REVOKED: "The seal's key has been revoked: its stamps are not valid proof",
      why_stamp_UNKNOWN_ISSUER: "The seal is not on this region's trusted list: possibly forged",
      peer_stamp_unknown_note: (code) => `The seal is not on the trusted list of region ${code}: possibly forged`,
      stamp_elsewhere_note: (code) =>
        `The stamp names a seal of an agency registered in another region (code ${code}): this window does not hold that region's trusted list and cannot check the seal here. Verify it with that region's service`,
      stamp_central_note:
        "The stamp names a seal of a central government agency: no trusted list this window holds lists the seal, which may be registered in another region, so it cannot be checked here. Verify it with the service of the region that registered the seal",
      why_stamp_ISSUER_NOT_AUTHORISED: "The seal is not authorised by its region",
      why_stamp_NOT_YET_VALID: "Stamped at a time still to come: not in effect yet",
      why_stamp_NOT_IN_LEDGER: "The ledger holds no record of this stamp",
      not_ours: "This is not an e-license or e-seal QR code",
      not_ours_note: "Scan the verification QR code on the license or the stamped document (its text starts with EL1: or ES1:).",
      ok_decode: "The code is well formed",
      ok_issuer: "A trusted issuer was found",
      ok_signature: "The digital signature is valid: the content is unchanged",
      ok_authority: "The key is certified by this region's root and authorised",
      ok_time: "Within its validity period",
      ok_time_stamp: "The stamp's time is valid",
      ok_signature_stamp: "The digital signature is valid: the stamp's details are unchanged",
      ok_authority_stamp: "The seal's key is certified by this region's root",
      ok_authority_peer: (name) => `The key is certified by the root of ${name} and authorised`,
      ok_authority_stamp_peer: (name) => `The seal's key is certified by the root of ${name}`,
      ok_status: "Not revoked, suspended or cancelled",
      ok_ledger: "Its issuance is recorded in the region's ledger",
      ok_document: "The file given is the original file that was stamped",
      ok_holder: "The id number is the holder's",
      skip_holder: "The license carries no id number to compare: not checked",
      holder_label: "Check the holder's ID number (optional)",
      holder_hint: "The presenter's ID card number or the company's unified social credit code, checked with the license: is this the holder? Used for this check only, never kept.",
      f_holder_check: "Holder check",
      holder_ok: "The id number is the holder's",
      holder_bad: "The id number is not the holder's",
      holder_none: "The license carries no id number to compare",
      err_holder_id: "The ID number is not well formed",
      err_holder_id_note: "Check the ID card number (18 characters) or credit code (18 characters) typed, or clear it to check the license alone.",
      err_no_holder: "A seal stamp has no holder",
      err_no_holder_note: "The ID number check is for licenses: clear the ID number to check a seal stamp.",
      skip_status: "The latest status could not be checked",
      skip_document: "No original file given: not compared",
      upload_image: "QR code image (photo or screenshot)",
      upload_document: "Original file, before stamping (optional, e-seal stamps only)",
      upload_hint: "The image is checked as soon as it is chosen. For an e-seal stamp, also choose the original file (before stamping) to compare its content; the stamped copy (PDF) cannot be compared.",
      paste_label: "QR code text (starts with EL1: or ES1:)",
      paste_placeholder: "Paste, or scan with a barcode scanner; Enter checks it",
      verify: "Check",
      clear_text: "Clear",
      result_title: "Result",
      idle: "Scan, upload an image or paste a code",
      busy: "Checking…",
      busy_slow: "The verification service is slow to answer; still waiting…",
      caution: "with warnings",
      all_passed: "All checks passed",
      warn_STALE_STATUS: "Status data is stale: the revocation status may be out of date; update online and check again",
      warn_STALE_TRUST: "The trust list is stale: signing keys revoked since are not known; update it online and check again",
      warn_CLOCK_BEHIND: "Device clock is behind: this computer's time is earlier than signed data it has seen; correct the clock",
      warn_NO_STATUS: "Latest status could not be checked: it may have been revoked or suspended",
      warn_NO_STATUS_witnessed: "Latest status could not be checked: the ledger checkpoint does not meet the witness requirement, so the latest status is not believed and it may have been revoked or suspended; check again later",
      warn_DOCUMENT_NOT_COMPARED: "File not compared: the seal is valid, but without the original file it cannot show the file is unchanged. To compare, choose the original file (before stamping) below",
      warn_HOLDER_NOT_COMPARED: "Holder not checked: the license is valid, but it carries no id number to compare; check the holder's name against their ID card",
      invalid_caveat: "Not verified: the content below is for reference only and is not valid proof.",
      kind_license: "Electronic license",
      kind_stamp: "Electronic seal stamp",
      license: "Electronic license",
      stamp: "Electronic seal stamp",
      f_id: "License number",
      f_holder: "Holder",
      f_holder_id: "ID / credit code",
      f_issuer: "Issued by",
      f_issued: "Issued on",
      f_valid_until: "Valid until",
      no_end: "No end date",
      f_seal: "Seal",
      f_seal_agency: "Seal of",
      f_file: "File",
      f_size: "File size",
      f_sha256: "SHA-256",
      f_stamped: "Stamped on",
      f_compare: "File comparison",
      compare_ok: "The file given matches the sealed file",
      compare_bad: "The file given is not the sealed file",
      compare_none: "Not compared: no file given (only the seal's signature was checked)",
      compare_license: "A license is not compared with a file: the chosen file was not used",
      compare_choose: "Choose the original file (before stamping) to compare",
      compare_hint: "The file goes only to this region's node, which compares its SHA-256.",
      seal_alt: "Seal image: ",
      seal_alt_agency: "Seal of the issuing agency: ",
      checks_title: "What was checked and how fresh",
      check_ok: "passed",
      check_bad: "failed",
      step_decode: "Decode the QR code",
      step_issuer: "Find the issuer",
      step_signature: "Digital signature",
      step_authority: "Issuer's authority",
      step_time: "Validity period",
      step_status: "Revocation status",
      step_ledger: "Ledger inclusion",
      step_document: "File comparison",
      step_holder: "Holder check",
      fr_source: "Status source",
      fr_online: "Online (node, live)",
      fr_offline: "Offline snapshot",
      fr_none: "Not checked",
      fr_as_of: "Status as of",
      fr_fresh: "Status data",
      fr_stale: "Stale",
      fr_current: "Current",
      fr_checkpoint: "Ledger checkpoint",
      fr_checkpoint_size: (n) => `${n} entries`,
      fr_included: "In the ledger",
      fr_yes: "Included",
      fr_no: "Not included",
      fr_unknown: "Not checked",
      fr_checked_at: "Checked at",
      fr_since: "Status changed",
      fr_reason: "Reason",
      reason_note: (r) => `Reason recorded by the agency: ${r}`,
      replaced_note: (id) => `Replaced by a newer license; check that one: ${id}`,
      transferred_note: (id) => `Transferred out; the new license: ${id}`,
      elsewhere_note: (code) =>
        `The license names another region (code ${code}) as its issuer: this window does not hold that region's trusted list and cannot check it here. Verify it with that region's service`,
      central_note: (code) =>
        `The license names the central government (code ${code}) as its issuer: this window does not hold the central government's trusted list and cannot check it here. Verify it with the central government's service`,
      transferred_away_note: (id) => `Transferred to another region; the new license: ${id}. Confirm with its issuing agency`,
      fr_replaced_by: "Replaced by",
      fr_region: "Trusted region",
      fr_witnessed: "Witnessed",
      wit_signed: (w) =>
        `Ledger checkpoint of ${w.size} entries cosigned by ` +
        (w.cosigners.length === 0 ? `no ${w.rule === null ? "witness" : "witness key"}`
          : `${w.cosigners.length} ${w.rule === null ? "witness" : "witness key"}${w.cosigners.length === 1 ? "" : "s"}` +
            ` (${w.cosigners.join(", ")})`),
      wit_required: (w) =>
        w.rule === null ? `required: ${w.quorum} of ${w.witnesses}`
        : w.rule === "none" ? "required: none (quorum none)"
        : `required: policy ${w.rule}`,
      wit_extended: (m) => `the status rests on a checkpoint of ${m} entries, proved to extend it`,
      wit_unwitnessed: "but the ledger entries the status rests on were recorded after it, not yet witnessed",
      wit_unmet: "Witness requirement not met: ",
      wit_withheld: "the latest status is not believed",
      wit_adverse: "what the ledger proves counts, whatever the witnesses",
      ago: (s) => ` (${s} ago)`,
      unit_min: " min",
      unit_hour: " h",
      unit_day: " days",
      reset: "Clear and check the next one",
      footer: "Checked by this region's node: signature, issuer's authority, validity and revocation status; for e-licenses also ledger inclusion.",
      err_no_qr: "No QR code found",
      err_no_qr_note: "No readable QR code in the image. Make sure the whole code is sharp and visible, then try again.",
      err_several_qr: "More than one code in the image",
      err_several_qr_note: "The image shows the QR codes of more than one e-license or e-seal stamp, so which one to check cannot be told. Photograph or crop just one of them and try again.",
      err_too_large: "File too large",
      err_too_large_image: "An image must be at most 10 MB.",
      err_too_many_pixels_title: "Image too large",
      err_too_many_pixels: "Too many pixels: at most 40 megapixels (a WebP 13) and 16,384 pixels a side. Shrink the image or crop it to the QR code and try again.",
      err_too_large_document: "The original file must be at most 20 MB.",
      err_unreadable: "Cannot read this image",
      err_unreadable_note: "Upload a JPEG, PNG or other common image format.",
      err_invalid: "Cannot check this input",
      err_invalid_note: "Make sure what was scanned, uploaded or pasted is a whole e-license or e-seal QR code, and try again; if it keeps failing, contact this system's administrator.",
      err_too_complex: "Image too complex",
      err_too_complex_note: "The verification service could not read this image in the time allowed. Crop it to the QR code, or take a closer photo of the code, and try again.",
      err_busy: "The verification service is busy",
      err_busy_note: "It is reading many images at once: wait a few seconds and try again.",
      err_match_busy_note: "It is checking many ID numbers at once: wait a few seconds and try again, or clear the ID number to check the license alone.",
      err_store: "The verification service cannot read its data right now",
      err_store_note: "Try again in a moment; if it persists, contact this system's administrator.",
      err_sent_slowly: "Sending timed out",
      err_sent_slowly_note: "The network is slow: the image or file took so long to send that the verification service gave up on this check. Check the connection and try again; for a large photo, crop it to the QR code before uploading.",
      err_request: "The verification service cannot handle this page's request",
      err_request_note: "This page may be out of date: reload it and try again; if it keeps failing, contact this system's administrator.",
      err_network: "Cannot reach the verification service",
      err_network_note: "Check the network connection and try again.",
      err_server: "The verification service failed",
      err_server_note: "Try again later; if it keeps failing, contact this system's administrator.",
      err_timeout: "The verification service did not answer in time",
      err_timeout_note: "Try again later; if it still does not answer, contact this system's administrator.",
      err_need_image: "Choose a QR code image first",
      doc_waiting: "Original file chosen: now choose its QR code image",
      err_need_text: "Paste or scan a QR code text first",
      err_text_too_long: "Code too long",
      err_text_too_long_note: "A code is at most 4,000 characters: what was pasted is not an e-license or e-seal code. Paste or scan only the QR code's text.",
    },
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    lang: $("lang"),
    tabs: Array.from(document.querySelectorAll('[role="tab"]')),
    video: $("video"),
    cameraIdle: $("camera-idle"),
    cameraStart: $("camera-start"),
    cameraStop: $("camera-stop"),
    cameraMsg: $("camera-msg"),
    uploadForm: $("upload-form"),
    imageFile: $("image-file"),
    imageName: $("image-name"),
    documentFile: $("document-file"),
    documentName: $("document-name"),
    pasteForm: $("paste-form"),
    qrText: $("qr-text"),
    pasteClear: $("paste-clear"),
    holderId: $("holder-id"),
    result: $("result"),
    banner: $("banner"),
    bannerIcon: $("banner-icon"),
    bannerTitle: $("banner-title"),
    bannerCode: $("banner-code"),
    bannerNotes: $("banner-notes"),
    details: $("details"),
    docCard: $("doc-card"),
    docKind: $("doc-kind"),
    docTitle: $("doc-title"),
    docFields: $("doc-fields"),
    sealImage: $("seal-image"),
    checks: $("checks"),
    freshness: $("freshness"),
    reset: $("reset"),
  };

  // What is on screen, so a language switch can draw it again.
  const state = {
    lang: "zh",
    view: { type: "idle" },
    cameraMsg: null,
    scanned: false,
    imageBytes: null, // the size of the image last sent from the upload tab
    // The QR image chosen in the upload tab. Kept here, and its picker emptied once it is
    // read: the browser fires no change for a file chosen again unchanged, and a clerk
    // choosing the same image again (its status may have changed) expects a new check.
    image: null,
    document: null, // the original file chosen in the upload tab, kept as the image is
    checkedImage: null, // the image file last checked from the upload tab
    checkedDocument: null, // the original file checked with it, if any
    lastSource: null, // the QR last checked: { text } or { image, name }, to add a file to
    // The id number in the box was compared with the license on screen, and not edited
    // since: the next check is the next customer's, whose number is typed anew (sent with
    // their license, the last one's would say 持证人不符). Not the number itself: a flag.
    holderUsed: false,
    holderEdits: 0, // edits of the box, to tell whether a verdict's number is still there
    holderSentAt: -1, // holderEdits when the number was last sent
    region: null, // this node's region code (from /healthz), once known
    peers: [], // the peer regions whose trusted lists this node holds too (from /healthz)
  };
  let requestSeq = 0; // only the newest request may change the result

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      // private mode or storage disabled: the choice lasts for this page only
    }
  }

  function t(key, ...args) {
    const table = STRINGS[state.lang];
    const value = key in table ? table[key] : STRINGS.zh[key];
    if (typeof value === "function") return value(...args);
    return value === undefined ? key : value;
  }

  // A message for a code the server sent (a step, a warning), or the code itself.
  function known(key, fallback) {
    return key in STRINGS.zh ? t(key) : String(fallback);
  }

  // --- language ---------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("page_title");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    el.lang.textContent = t("lang_button");
    el.lang.lang = state.lang === "zh" ? "en" : "zh-CN";
    el.lang.setAttribute(
      "aria-label",
      state.lang === "zh" ? "Switch to English" : "切换到中文",
    );
    el.cameraStart.textContent = t(state.scanned ? "camera_again" : "camera_start");
    showFileNames();
    showCameraMessage(state.cameraMsg);
    draw();
  }

  function setLanguage(lang) {
    state.lang = lang === "en" ? "en" : "zh";
    storageSet(LANG_KEY, state.lang);
    applyLanguage();
  }

  function showFileNames() {
    for (const [file, label] of [
      [state.image, el.imageName],
      [state.document, el.documentName],
    ]) {
      label.textContent = file ? file.name : t("no_file");
      label.classList.toggle("chosen", Boolean(file));
    }
  }

  // --- tabs -------------------------------------------------------------------------------

  function selectTab(name, focus, remember = true) {
    for (const tab of el.tabs) {
      const selected = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !selected;
      if (selected && focus) tab.focus();
    }
    if (name !== "camera") stopCamera();
    if (remember) storageSet(TAB_KEY, name);
  }

  function onTabKey(event) {
    const i = el.tabs.indexOf(event.currentTarget);
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = (i + 1) % el.tabs.length;
    if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      next = (i - 1 + el.tabs.length) % el.tabs.length;
    }
    if (event.key === "Home") next = 0;
    if (event.key === "End") next = el.tabs.length - 1;
    if (next === null) return;
    event.preventDefault();
    selectTab(el.tabs[next].dataset.tab, true);
  }

  // --- drawing helpers --------------------------------------------------------------------

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function icon(kind) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 48 48");
    svg.setAttribute("focusable", "false");
    const paths = {
      ok: ["M12 25l8 8 16-18"],
      bad: ["M14 14l20 20", "M34 14L14 34"],
      warn: ["M24 11v17", "M24 35v1"],
      info: ["M24 22v13", "M24 13v1"],
      busy: ["M24 8a16 16 0 1 1-16 16"],
      idle: ["M10 18V10h8", "M30 10h8v8", "M38 30v8h-8", "M18 38h-8v-8"],
    }[kind];
    for (const d of paths) {
      const path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    }
    return svg;
  }

  function addText(parent, tag, text, className) {
    const node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    parent.appendChild(node);
    return node;
  }

  const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

  // Chinese content (license data, catalogue labels) keeps its language in the English
  // page, so that a screen reader reads it with a Chinese voice.
  function markChinese(node) {
    if (state.lang !== "zh" && CJK.test(node.textContent)) node.lang = "zh-CN";
    else node.removeAttribute("lang");
    return node;
  }

  function addField(dl, label, value, className) {
    if (value === null || value === undefined || value === "") return null;
    const row = document.createElement("div");
    row.className = "field" + (className ? " " + className : "");
    markChinese(addText(row, "dt", label));
    markChinese(addText(row, "dd", String(value)));
    dl.appendChild(row);
    return row;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  // Times in China Standard Time (UTC+8), as the verdict dates a license, whatever time
  // zone the window's device is set to: a status "as of" must not read as a day before the
  // license's own issue date.
  const CST_OFFSET_S = 8 * 3600;

  function formatTime(ts) {
    if (typeof ts !== "number") return null;
    const d = new Date((ts + CST_OFFSET_S) * 1000);
    return (
      `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
    );
  }

  function formatAge(seconds) {
    if (typeof seconds !== "number" || seconds < 60) return "";
    const minutes = Math.floor(seconds / 60);
    let text;
    if (minutes < 60) text = `${minutes}${t("unit_min")}`;
    else if (minutes < 48 * 60) text = `${Math.floor(minutes / 60)}${t("unit_hour")}`;
    else text = `${Math.floor(minutes / 1440)}${t("unit_day")}`;
    return t("ago", text);
  }

  function formatSize(bytes) {
    if (typeof bytes !== "number") return null;
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  }

  // "有效 Valid" → the part in the page's language (the server sends Chinese first).
  function statusLabel(verdict) {
    const text = typeof verdict.status_text === "string" ? verdict.status_text : "";
    const space = text.indexOf(" ");
    if (space < 0) return text || String(verdict.status);
    return state.lang === "zh" ? text.slice(0, space) : text.slice(space + 1);
  }

  // --- the banner and the details ---------------------------------------------------------

  const CJK_RUN = /[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+/g;

  // A line of the English page that quotes Chinese (an agency's reason, a name): the quoted
  // runs are marked as Chinese, so that a screen reader reads them with a Chinese voice.
  function addMixed(parent, tag, text, className) {
    if (state.lang === "zh" || !CJK.test(text)) return addText(parent, tag, text, className);
    const node = addText(parent, tag, "", className);
    let at = 0;
    for (const run of text.matchAll(CJK_RUN)) {
      if (run.index > at) node.appendChild(document.createTextNode(text.slice(at, run.index)));
      addText(node, "span", run[0]).lang = "zh-CN";
      at = run.index + run[0].length;
    }
    if (at < text.length) node.appendChild(document.createTextNode(text.slice(at)));
    return node;
  }

  function setBanner(kind, iconKind, title, code, notes) {
    el.banner.className = "banner " + kind;
    el.banner.dataset.state = kind;
    clear(el.bannerIcon);
    el.bannerIcon.appendChild(icon(iconKind));
    el.bannerTitle.textContent = title;
    el.bannerCode.textContent = code || "";
    el.bannerCode.hidden = !code;
    clear(el.bannerNotes);
    for (const note of notes || []) {
      if (typeof note === "string") addMixed(el.bannerNotes, "li", note);
      else addText(el.bannerNotes, "li", note.text, "tech").lang = "en"; // the node's words
    }
  }

  function draw() {
    const view = state.view;
    if (view.type === "verdict") {
      drawVerdict(view.verdict);
      return;
    }
    el.details.hidden = true;
    if (view.type === "busy") setBanner("busy", "busy", t("busy"), "", view.slow ? [t("busy_slow")] : []);
    else if (view.type === "problem") {
      const notes = [view.note ? t(view.note) : "", view.detail ? { text: view.detail } : ""].filter(Boolean);
      setBanner("notice", "info", t(view.title), view.code, notes);
    } else setBanner("idle", "idle", t("idle"), "", []);
  }

  // The central government's region code (verifier.trust.CENTRAL_REGION): its agencies'
  // credit codes carry it whatever region they serve, and its own platform signs as it.
  const CENTRAL_REGION = "100000";

  // The region a license id names by its issuer code (as eseal.ids.LicenseId.issuer_region:
  // a credit code's positions 3–8, or the region code itself), or null where it names none:
  // not a license id, or an agency of the central government (100000), of any region.
  function licenseRegion(id) {
    const m = /^1\.2\.156\.3005\.2\.[0-9A-Z]{21}\.([0-9A-Z]{18}|[0-9]{6})\.[0-9A-Z]{1,20}\.[0-9]{3}\.[0-9A-Z]$/.exec(id);
    const region = m ? (m[1].length === 18 ? m[1].slice(2, 8) : m[1]) : "";
    return /^[0-9]{6}$/.test(region) && region !== CENTRAL_REGION ? region : null;
  }

  // A transfer with the license that replaces it, in the clerk's words: of another region
  // only where the new id's province is not that of the region that verified the old one.
  // Only the province is compared: an id names its issuer's credit code, whose region
  // (positions 3–8) is where the agency is registered, and a node registers agencies of its
  // whole province (verifier.trust.agency_of_region), so the id does not say which node of
  // the province issued it; one of the same province is said neutrally, claiming no region.
  function transferredNote(v, id) {
    const issuer = v.issuer && typeof v.issuer === "object" ? v.issuer : {};
    const here = typeof issuer.region === "string" ? issuer.region : "";
    const there = licenseRegion(id);
    const away = there !== null && /^[0-9]{6}$/.test(here) && there.slice(0, 2) !== here.slice(0, 2);
    return t(away ? "transferred_away_note" : "transferred_note", id);
  }

  // The region a license whose issuer is unknown here names, where it is not this node's
  // own, as { code, exact }, or null. Exact: the region its claims name (the verdict's
  // document.region), the one whose trusted list must hold its key (the verifier refuses a
  // license of another region's key), compared whole, so that a city's node (440300) tells
  // another city of its province (440100) from its own. Without it (a verdict that names no
  // region), only the province of the issuer code in its id is known (see transferredNote):
  // a license of this node's province is then taken for its own, and of another province
  // (or the central government's own, 100000) matched to a region by its province only.
  function namedRegion(v) {
    const here = typeof state.region === "string" ? state.region : "";
    if (v.status !== "UNKNOWN_ISSUER" || v.kind !== "license" || !/^[0-9]{6}$/.test(here)) return null;
    const doc = v.document && typeof v.document === "object" ? v.document : {};
    if (typeof doc.region === "string" && /^[0-9]{6}$/.test(doc.region)) {
      return doc.region !== here ? { code: doc.region, exact: true } : null;
    }
    const there = typeof doc.id === "string" ? licenseRegion(doc.id) : null;
    return there !== null && there.slice(0, 2) !== here.slice(0, 2) ? { code: there, exact: false } : null;
  }

  // The peer region (eseal peer add) whose trusted list this node holds for such a named
  // region, or null: the region itself, or where only its province is known, a peer of that
  // province. An issuer unknown to that list may be forged.
  function peerOf(named) {
    const same = named.exact ? (p) => p === named.code : (p) => p.slice(0, 2) === named.code.slice(0, 2);
    return state.peers.find(same) || null;
  }

  // The region such a license names, where this node holds no trusted list of it (its own
  // region's and its peers' only): the license is unknown to it whether it is genuine or
  // not, and the clerk must be sent to that region's service rather than told it may be
  // forged. Null otherwise.
  function elsewhere(v) {
    const named = namedRegion(v);
    return named !== null && peerOf(named) === null ? named.code : null;
  }

  // Whether the division ``code`` lies in ``region`` (GB/T 2260, as verifier.pipeline.covers):
  // a province (xx0000) holds its cities and counties, a city (xxxx00) its counties.
  function covers(region, code) {
    if (region.endsWith("0000")) return code.slice(0, 2) === region.slice(0, 2);
    if (region.endsWith("00")) return code.slice(0, 4) === region.slice(0, 4);
    return code === region;
  }

  // A seal stamp names no region: its seal's agency does, by its credit code (positions
  // 3–8, where it is registered; verifier.pipeline.unheld_seal_region). For a stamp whose
  // seal is unknown here, the region so named where this node's own list would not hold
  // the seal, as { code, peer }: peer, the peer region whose list would (an unknown seal
  // there may be forged), or null (the clerk is sent to that region's service). A central
  // government agency's (100000) may be on any region's list. Null otherwise: this node's
  // own list would hold it, or its region or the stamp's agency is not known.
  function sealRegion(v) {
    const here = typeof state.region === "string" ? state.region : "";
    if (v.status !== "UNKNOWN_ISSUER" || v.kind !== "stamp" || !/^[0-9]{6}$/.test(here)) return null;
    const doc = v.document && typeof v.document === "object" ? v.document : {};
    // The node's reading of the credit code (verifier.pipeline.seal_region): null for a
    // code no agency could have (its check character fails, or no province is named),
    // whose seal no region lists: then it may be forged, as any seal unknown here.
    const code = typeof doc.agency_region === "string" ? doc.agency_region : "";
    if (!/^[0-9]{6}$/.test(code)) return null;
    if (code === CENTRAL_REGION) return { code, peer: null };
    if (covers(here, code)) return null;
    return { code, peer: state.peers.find((p) => covers(p, code)) || null };
  }

  // The id of the license that replaces this one (a renewal's or a transfer's), or null.
  function successor(v) {
    const fr = v.freshness && typeof v.freshness === "object" ? v.freshness : {};
    return typeof fr.replaced_by === "string" && fr.replaced_by ? fr.replaced_by : null;
  }

  // Why a verdict is not valid, in the clerk's words (a stamp's own words where they differ;
  // a transfer's with its new license where the verdict names it).
  function why(v) {
    if (v.status === "TRANSFERRED" && v.kind !== "stamp" && successor(v)) {
      return transferredNote(v, successor(v));
    }
    const there = elsewhere(v);
    if (there !== null) return t(there === CENTRAL_REGION ? "central_note" : "elsewhere_note", there);
    const named = namedRegion(v);
    if (named !== null) return t("peer_unknown_note", peerOf(named));
    const seal = sealRegion(v);
    if (seal !== null && seal.code === CENTRAL_REGION) return t("stamp_central_note");
    if (seal !== null) return seal.peer ? t("peer_stamp_unknown_note", seal.peer) : t("stamp_elsewhere_note", seal.code);
    const stampKey = "why_stamp_" + v.status;
    if (v.kind === "stamp" && stampKey in STRINGS.zh) return t(stampKey);
    const key = "why_" + v.status;
    return key in STRINGS.zh ? t(key) : null;
  }

  // The reason the agency gave for a status, or null. A renewal's lapse records "renewed
  // as <new id>" (verifier.verdict.renewed_as), in English: the new license is said in the
  // clerk's words by replaced_note and the "replaced by" row instead.
  function agencyReason(fr) {
    const reason = typeof fr.status_reason === "string" ? fr.status_reason : "";
    if (!reason || (typeof fr.replaced_by === "string" && reason === `renewed as ${fr.replaced_by}`)) return null;
    return reason;
  }

  function drawVerdict(v) {
    if (v.status === "UNSUPPORTED" && v.recognised === false) {
      // A QR code of something else (a web link, a payment code): not a forgery, just not ours.
      const reasons = Array.isArray(v.reasons) ? v.reasons : [];
      setBanner("notice", "info", t("not_ours"), "", [
        t("not_ours_note"),
        ...reasons.map((r) => ({ text: String(r) })),
      ]);
      el.details.hidden = true;
      return;
    }
    const colour = v.colour === "green" || v.colour === "amber" ? v.colour : "red";
    const valid = v.valid === true && colour !== "red";
    const warnings = Array.isArray(v.warnings) ? v.warnings : [];
    const reasons = Array.isArray(v.reasons) ? v.reasons : [];
    let title = statusLabel(v);
    let notes;
    if (!valid) {
      const said = why(v);
      notes = said ? [said] : [];
      // A red verdict reached at the region's signed time (the device's clock is behind it):
      // the clerk must see that the clock, not only the license, needs looking at.
      if (warnings.includes("CLOCK_BEHIND")) notes.push(t("warn_CLOCK_BEHIND"));
      const fr = v.freshness && typeof v.freshness === "object" ? v.freshness : {};
      const reason = agencyReason(fr);
      if (reason) notes.push(t("reason_note", reason));
      // A transfer's new license is said by why() above; a renewal's here.
      if (successor(v) && v.status !== "TRANSFERRED") notes.push(t("replaced_note", successor(v)));
      notes.push(...reasons.map((r) => ({ text: String(r) })));
    }
    else if (colour === "amber") {
      title = `${title} · ${t("caution")}`;
      // Good news withheld for want of witnesses: said so, not as a status merely unchecked.
      const fr = v.freshness && typeof v.freshness === "object" ? v.freshness : {};
      const unmet = witnessed(fr);
      const withheld = unmet !== null && !unmet.met;
      notes = warnings.map((w) => known(w === "NO_STATUS" && withheld ? "warn_NO_STATUS_witnessed" : "warn_" + w, w));
    } else notes = [t("all_passed")];
    const iconKind = !valid ? "bad" : colour === "amber" ? "warn" : "ok";
    setBanner(valid ? colour : "red", iconKind, title, String(v.status), notes);
    drawDocument(v, valid);
    drawChecks(v);
    el.details.hidden = false;
  }

  function drawDocument(v, valid) {
    const doc = v.document && typeof v.document === "object" ? v.document : {};
    const issuer = v.issuer && typeof v.issuer === "object" ? v.issuer : {};
    const stamp = v.kind === "stamp";
    clear(el.docFields);
    el.sealImage.hidden = true;
    el.sealImage.removeAttribute("src");
    if (Object.keys(doc).length === 0) {
      el.docCard.hidden = true;
      return;
    }
    el.docCard.hidden = false;
    el.docCard.classList.toggle("unverified", !valid);
    el.docKind.textContent = t(stamp ? "kind_stamp" : "kind_license");
    const agency = issuer.agency_name
      ? issuer.region_name
        ? `${issuer.agency_name}（${issuer.region_name}）`
        : issuer.agency_name
      : issuer.agency_code;
    if (!valid) {
      const caveat = document.createElement("p");
      caveat.className = "caveat";
      caveat.textContent = t("invalid_caveat");
      const row = document.createElement("div");
      row.className = "field wide";
      row.appendChild(caveat);
      el.docFields.appendChild(row);
    }
    el.docTitle.classList.remove("id-title");
    if (stamp) {
      // A seal no trusted list here holds has no name: titled by its number (shown once),
      // under its kind, where it said 电子印章 twice.
      const byId = !doc.seal_name && Boolean(doc.seal_id);
      el.docTitle.textContent = doc.seal_name || doc.seal_id || t("stamp");
      el.docTitle.classList.toggle("id-title", byId);
      markChinese(el.docTitle);
      addField(el.docFields, t("f_seal"), doc.seal_name, "strong");
      // A seal no list here holds names no agency: the code the stamp names, under the
      // card's caveat that nothing of it is verified.
      const named = agency || doc.agency_code;
      addField(el.docFields, t("f_seal_agency"), named, agency ? undefined : "mono");
      if (!byId) addField(el.docFields, t("f_seal_id"), doc.seal_id, "wide mono");
      addField(el.docFields, t("f_file"), doc.file_name);
      addField(el.docFields, t("f_size"), formatSize(doc.size));
      addField(el.docFields, t("f_sha256"), doc.sha256, "wide mono");
      addField(el.docFields, t("f_stamped"), doc.stamped);
      const compared = (Array.isArray(v.checks) ? v.checks : []).find((c) => c && c.step === "document");
      if (v.status === "DOCUMENT_MISMATCH") {
        addField(el.docFields, t("f_compare"), t("compare_bad"), "wide strong is-bad");
      } else if (compared && compared.ok) {
        addField(el.docFields, t("f_compare"), t("compare_ok"), "wide strong is-ok");
      } else if (valid) {
        addField(el.docFields, t("f_compare"), t("compare_none"), "wide is-skip");
        addComparePicker(el.docFields);
      }
    } else {
      const typeName = state.lang === "en" && doc.type_name_en ? doc.type_name_en : doc.type_name;
      el.docTitle.textContent = typeName || t("license");
      markChinese(el.docTitle);
      addField(el.docFields, t("f_id"), doc.id, "wide mono");
      addField(el.docFields, t("f_holder"), doc.holder, "wide strong");
      addField(el.docFields, t("f_holder_id"), doc.holder_id, "mono");
      const labels = state.lang === "en" ? typeLabels(doc.type_code) : null;
      for (const [i, f] of (Array.isArray(doc.fields) ? doc.fields : []).entries()) {
        if (!f || typeof f !== "object") continue;
        const row = addField(el.docFields, fieldLabel(f, labels), f.value);
        if (row) row.dataset.field = String(i); // to put its label into English once known
      }
      addField(el.docFields, t("f_issuer"), agency, "wide");
      addField(el.docFields, t("f_issued"), doc.issued);
      const expired = v.status === "EXPIRED";
      addField(el.docFields, t("f_valid_until"), doc.valid_until || t("no_end"), expired ? "strong is-bad" : "strong");
      // The id presented with the license, if the clerk gave one (never shown: only whether
      // it is the holder's).
      const holder = (Array.isArray(v.checks) ? v.checks : []).find((c) => c && c.step === "holder");
      if (v.status === "HOLDER_MISMATCH") {
        addField(el.docFields, t("f_holder_check"), t("holder_bad"), "wide strong is-bad");
      } else if (holder && holder.ok) {
        addField(el.docFields, t("f_holder_check"), t("holder_ok"), "wide strong is-ok");
      } else if (holder && valid) {
        addField(el.docFields, t("f_holder_check"), t("holder_none"), "wide is-skip");
      }
      // A file chosen with a license's image (left from a stamp, or chosen by mistake) is
      // not part of the check: say so, rather than let it look compared.
      if (state.view.sentDocument) addField(el.docFields, t("f_compare"), t("compare_license"), "wide is-skip");
    }
    // A document with nothing to title it by (a license of a type the verdict does not
    // name) is titled by its kind: said once, not twice.
    el.docKind.hidden = el.docTitle.textContent === el.docKind.textContent;
    // The agency's seal is shown only beside a document its key really signed: a red
    // seal next to forged content is what a forger would want the clerk to see. Its image
    // is this node's to serve only for a seal of its own region (a peer's it has not).
    const signed = (Array.isArray(v.checks) ? v.checks : []).some(
      (c) => c && c.step === "signature" && c.ok === true,
    );
    const ours = state.region === null || issuer.region === state.region;
    if (signed && ours && typeof doc.seal_id === "string" && doc.seal_id) {
      el.sealImage.alt = doc.seal_name
        ? t("seal_alt") + doc.seal_name
        : t("seal_alt_agency") + (issuer.agency_name || issuer.agency_code || "");
      el.sealImage.src = `/v1/seals/${encodeURIComponent(doc.seal_id)}/image`;
      el.sealImage.hidden = false;
    }
  }

  // --- English field labels ---------------------------------------------------------------

  // A verdict labels a license's fields in Chinese (its region's trust bundle); the English
  // page asks this node's catalogue for the type's English labels, once per type code, and
  // shows the Chinese ones until they come, or if they never do.
  const CATALOGUE_TIMEOUT_MS = 10000;
  const TYPE_CODE = /^[0-9A-Z]{18}[0-9]{3}$/;
  const MAX_LABEL_EN = 64; // eseal.catalog.MAX_LABEL_EN_LENGTH
  // Type code → Map of field name → { label, label_en } (empty: not in the catalogue), or
  // null while asked for. A request that failed is forgotten, and asked again next time.
  const labelCache = new Map();

  // The English labels of a type, if known; if not, they are asked for (once at a time).
  function typeLabels(code) {
    if (typeof code !== "string" || !TYPE_CODE.test(code)) return null;
    if (labelCache.has(code)) return labelCache.get(code);
    labelCache.set(code, null);
    learnLabels(code);
    return null;
  }

  async function learnLabels(code) {
    const call = fetchWithin(
      `/v1/license-types/${code}`,
      { headers: { Accept: "application/json" } },
      CATALOGUE_TIMEOUT_MS,
    );
    let labels = null;
    try {
      const response = await call.done;
      if (response.status === 404) labels = new Map(); // a type this node does not know
      else if (response.ok) labels = readLabels(code, await response.json());
    } catch {
      // unreachable, too slow, or not JSON: the Chinese labels stay
    } finally {
      clearTimeout(call.timer);
    }
    if (labels === null) {
      labelCache.delete(code);
      return;
    }
    labelCache.set(code, labels);
    relabel(code);
  }

  // A catalogue answer's labels by field name, or null if it is not the type asked for.
  function readLabels(code, body) {
    if (!body || typeof body !== "object" || body.code !== code || !Array.isArray(body.fields)) return null;
    const labels = new Map();
    for (const f of body.fields) {
      if (!f || typeof f !== "object" || typeof f.name !== "string" || typeof f.label !== "string") continue;
      const english = typeof f.label_en === "string" ? f.label_en.trim() : "";
      if (english && english.length <= MAX_LABEL_EN) labels.set(f.name, { label: f.label, label_en: english });
    }
    return labels;
  }

  // A field's label in the page's language: the English one only where the catalogue's
  // Chinese label is the one the verdict gives (a region that names the field otherwise
  // keeps its own words).
  function fieldLabel(f, labels) {
    const label = String(f.label ?? f.name);
    const entry = labels ? labels.get(String(f.name)) : undefined;
    return entry && entry.label === label ? entry.label_en : label;
  }

  // The labels of the license on screen, put into English now that they are known (only
  // the labels: the banner is not announced again).
  function relabel(code) {
    if (state.lang !== "en" || state.view.type !== "verdict") return;
    const v = state.view.verdict;
    const doc = v.document && typeof v.document === "object" ? v.document : {};
    if (v.kind === "stamp" || doc.type_code !== code || !Array.isArray(doc.fields)) return;
    const labels = labelCache.get(code);
    for (const row of el.docFields.querySelectorAll(".field[data-field]")) {
      const f = doc.fields[Number(row.dataset.field)];
      const dt = row.querySelector("dt");
      if (f && typeof f === "object" && dt) {
        dt.textContent = fieldLabel(f, labels);
        markChinese(dt);
      }
    }
  }

  // A stamp checked without its file (pasted, scanned with the camera, or uploaded alone):
  // choose the original file here, and the same QR is checked again with it.
  function addComparePicker(dl) {
    if (!state.lastSource) return;
    const row = document.createElement("div");
    row.className = "field wide";
    const label = document.createElement("label");
    label.className = "picker";
    const input = document.createElement("input");
    input.type = "file";
    input.id = "compare-file";
    input.className = "picker-input";
    input.setAttribute("aria-label", t("compare_choose"));
    label.appendChild(input);
    addText(label, "span", t("compare_choose"), "picker-button").setAttribute("aria-hidden", "true");
    addText(label, "span", t("compare_hint"), "picker-name");
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (file) compareWith(file);
    });
    row.appendChild(label);
    dl.appendChild(row);
  }

  // The id number the clerk typed to check the holder with, or null: sent with the check,
  // never kept (not in storage, not in the page's state).
  function holderId() {
    if (state.holderUsed) {
      state.holderUsed = false;
      el.holderId.value = "";
    }
    const value = el.holderId.value.trim();
    if (value) state.holderSentAt = state.holderEdits;
    return value ? value : null;
  }

  // A multipart request: the QR as an image file or as text, a stamp's original file, and
  // the id number to check a license's holder with.
  function qrForm(qr, documentFile) {
    const form = new FormData();
    if (qr.text) form.append("text", qr.text);
    else form.append("image", qr.image, qr.name);
    if (documentFile) form.append("document", documentFile, documentFile.name || "document");
    const holder = holderId();
    if (holder) form.append("holder_id", holder);
    return { body: form };
  }

  function compareWith(file) {
    const source = state.lastSource;
    if (!source) return;
    if (file.size > MAX_DOCUMENT) {
      showOwn({ type: "problem", title: "err_too_large", note: "err_too_large_document", code: "document-too-large" });
      return;
    }
    const formWith = (image, name) => qrForm(source.text ? { text: source.text } : { image, name }, file);
    // Compared with this file, the uploaded image is done: the next file is another's.
    if (source.fromUpload) state.checkedDocument = file;
    const url = source.text ? "/v1/verify" : "/v1/verify/image";
    const fallback = source.fallback ? formWith(source.fallback, source.fallbackName) : undefined;
    post(url, formWith(source.image, source.name), fallback);
  }

  function drawChecks(v) {
    clear(el.checks);
    const checks = (Array.isArray(v.checks) ? v.checks : []).filter((c) => c && typeof c === "object");
    // The step that stopped an invalid verdict is its last failed check; any other check
    // that did not pass was skipped (no status source, no file to compare): not a failure,
    // but not a pass either.
    let stopped = -1;
    if (v.valid !== true) checks.forEach((c, i) => { if (!c.ok) stopped = i; });
    for (const [i, c] of checks.entries()) {
      const outcome = c.ok ? "ok" : i === stopped ? "bad" : "skip";
      const li = document.createElement("li");
      li.className = outcome;
      const mark = { ok: "✓", bad: "✗", skip: "!" }[outcome];
      addText(li, "span", mark, "mark").setAttribute("aria-hidden", "true");
      const body = document.createElement("div");
      const name = addText(body, "span", known("step_" + c.step, c.step), "step");
      const said = { ok: "check_ok", bad: "check_bad", skip: "check_skipped" }[outcome];
      addText(name, "span", ` · ${t(said)}`, "visually-hidden");
      const summary = checkSummary(v, c, outcome);
      if (summary) addMixed(body, "span", summary, "summary");
      // The node's own words (technical, in English): what exactly it saw.
      addText(body, "span", String(c.detail ?? ""), "detail").lang = "en";
      li.appendChild(body);
      el.checks.appendChild(li);
    }
    const fr = v.freshness && typeof v.freshness === "object" ? v.freshness : {};
    const issuer = v.issuer && typeof v.issuer === "object" ? v.issuer : {};
    clear(el.freshness);
    const source = { online: "fr_online", offline: "fr_offline" }[fr.status_source] || "fr_none";
    addField(el.freshness, t("fr_source"), t(source));
    if (typeof fr.status_as_of === "number") {
      const age = typeof v.checked_at === "number" ? v.checked_at - fr.status_as_of : null;
      addField(el.freshness, t("fr_as_of"), formatTime(fr.status_as_of) + formatAge(age));
      if (fr.status_source === "offline" || fr.stale) {
        addField(el.freshness, t("fr_fresh"), t(fr.stale ? "fr_stale" : "fr_current"), fr.stale ? "alert" : "");
      }
    }
    if (typeof fr.status_since === "number") addField(el.freshness, t("fr_since"), formatTime(fr.status_since));
    addField(el.freshness, t("fr_reason"), agencyReason(fr), "wide");
    if (typeof fr.replaced_by === "string") addField(el.freshness, t("fr_replaced_by"), fr.replaced_by, "wide mono");
    // Ledger inclusion: the "ledger" check above says it when it ran; a stamp has no such check.
    const ledgerChecked = (Array.isArray(v.checks) ? v.checks : []).some((c) => c && c.step === "ledger");
    if (!ledgerChecked && v.kind !== "stamp") {
      const included = fr.ledger_included === true ? "fr_yes" : fr.ledger_included === false ? "fr_no" : "fr_unknown";
      addField(el.freshness, t("fr_included"), t(included));
    }
    if (typeof fr.checkpoint_size === "number") {
      addField(el.freshness, t("fr_checkpoint"), t("fr_checkpoint_size", fr.checkpoint_size));
    }
    const w = witnessed(fr);
    if (w !== null) {
      // Under a witness policy: who cosigned the checkpoint the status rests on, and whether
      // that met the policy; short of it, good news was withheld (amber, as stale data is).
      const parts = [t("wit_signed", w), t("wit_required", w)];
      if (w.extendedTo !== null) parts.push(t("wit_extended", w.extendedTo));
      if (w.unwitnessed) parts.push(t("wit_unwitnessed"));
      const sep = state.lang === "zh" ? "；" : "; ";
      if (!w.met) parts.push(t(fr.status_source === "online" || fr.status_source === "offline" ? "wit_adverse" : "wit_withheld"));
      const said = (w.met ? "" : t("wit_unmet")) + parts.join(sep);
      addField(el.freshness, t("fr_witnessed"), said, w.met ? "wide" : "wide alert");
    }
    if (issuer.region_name) addField(el.freshness, t("fr_region"), `${issuer.region_name}（${issuer.region}）`);
    addField(el.freshness, t("fr_checked_at"), formatTime(v.checked_at));
  }

  // The verdict's freshness.witnessed (how the checkpoint its status rests on was witnessed,
  // under a witness policy), or null where there is none or it is not as the node writes it.
  function witnessed(fr) {
    const w = fr.witnessed;
    if (!w || typeof w !== "object") return null;
    const count = (n) => typeof n === "number" && Number.isInteger(n) && n >= 0;
    if (!count(w.checkpoint_size) || !count(w.witnesses) || !count(w.quorum)) return null;
    if (typeof w.met !== "boolean" || !Array.isArray(w.cosigners)) return null;
    if (!w.cosigners.every((c) => typeof c === "string")) return null;
    return {
      size: w.checkpoint_size,
      cosigners: w.cosigners,
      witnesses: w.witnesses,
      quorum: w.quorum,
      rule: typeof w.rule === "string" ? w.rule : null,
      met: w.met,
      extendedTo: count(w.extended_to) ? w.extended_to : null,
      unwitnessed: typeof w.unwitnessed === "string" && w.unwitnessed !== "",
    };
  }

  // One line in the clerk's language for a check: what passing means, or why it failed.
  function checkSummary(v, c, outcome) {
    if (outcome === "bad") return why(v);
    if (outcome === "skip") {
      const key = "skip_" + c.step;
      return key in STRINGS.zh ? t(key) : null;
    }
    const stampKey = `ok_${c.step}_stamp`;
    const key = v.kind === "stamp" && stampKey in STRINGS.zh ? stampKey : "ok_" + c.step;
    // Certified by a peer region's root (a document of its region), not this region's.
    const issuer = v.issuer && typeof v.issuer === "object" ? v.issuer : {};
    const theirs = typeof issuer.region === "string" && state.region !== null && issuer.region !== state.region;
    if (c.step === "authority" && theirs) {
      const name = typeof issuer.region_name === "string" && issuer.region_name ? issuer.region_name : issuer.region;
      return t(key + "_peer", name);
    }
    return key in STRINGS.zh ? t(key) : null;
  }

  function show(view) {
    const compared = view.type === "verdict" && Array.isArray(view.verdict.checks)
      && view.verdict.checks.some((c) => c && c.step === "holder");
    if (compared && state.holderSentAt === state.holderEdits) state.holderUsed = true;
    state.view = view;
    draw();
    if (view.type !== "busy") revealResult();
  }

  // A result the page reaches by itself (nothing to check, a file too large): an answer
  // still on its way is of an earlier check, and must not replace it.
  function showOwn(view) {
    requestSeq++;
    show(view);
  }

  // On a phone the result is below the inputs: bring the banner into view.
  function revealResult() {
    const box = el.banner.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      el.banner.scrollIntoView({ block: "start", behavior: "smooth" });
    }
  }

  // --- talking to the server --------------------------------------------------------------

  // The clerk's words for the problems the verification operations answer (their OpenAPI
  // document names them: eseal/api/routes/verify.py), as [title, note]: what went wrong and
  // what to do about it. The node's own words follow, in English, as its detail.
  const REQUEST_PROBLEM = ["err_request", "err_request_note"];
  const PROBLEMS = {
    "image-too-complex": ["err_too_complex", "err_too_complex_note"],
    "several-qr-codes": ["err_several_qr", "err_several_qr_note"],
    "image-unreadable": ["err_unreadable", "err_unreadable_note"],
    "scanner-busy": ["err_busy", "err_busy_note"],
    "matcher-busy": ["err_busy", "err_match_busy_note"],
    "store-unavailable": ["err_store", "err_store_note"],
    "request-timeout": ["err_sent_slowly", "err_sent_slowly_note"],
    "invalid-input": ["err_invalid", "err_invalid_note"],
    "internal-error": ["err_server", "err_server_note"],
    // What this page never sends: a page older than its node, or a proxy between them that
    // changed the request.
    "invalid-request": REQUEST_PROBLEM,
    "unsupported-media-type": REQUEST_PROBLEM,
    "form-unreadable": REQUEST_PROBLEM,
    "malformed-request": REQUEST_PROBLEM,
    "ambiguous-framing": REQUEST_PROBLEM,
    "repeated-header": REQUEST_PROBLEM,
    "repeated-parameter": REQUEST_PROBLEM,
    "not-found": REQUEST_PROBLEM,
    "method-not-allowed": REQUEST_PROBLEM,
  };

  // What to show for a refusal: ``text``, whether the request sent a pasted text as JSON.
  function problemView(status, body, text = false) {
    const type = body && typeof body.type === "string" ? body.type : "";
    const code = type.slice(type.lastIndexOf("/") + 1);
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    if (code === "no-qr-code") return { type: "problem", title: "err_no_qr", note: "err_no_qr_note", code };
    if (code === "invalid-holder-id") return { type: "problem", title: "err_holder_id", note: "err_holder_id_note", code };
    if (code === "no-holder") return { type: "problem", title: "err_no_holder", note: "err_no_holder_note", code };
    // A JSON body over its bound (16 KiB): a text within 4,000 characters escaped past it.
    if (code === "body-too-large" && text) {
      return { type: "problem", title: "err_text_too_long", note: "err_text_too_long_note", code, detail };
    }
    if (status === 413 || code.endsWith("too-large")) {
      // The page refuses files over the byte limit itself: an image the server still finds
      // too large has too many pixels.
      const pixels = code === "image-too-large" && state.imageBytes !== null && state.imageBytes <= MAX_IMAGE;
      const note = pixels ? "err_too_many_pixels" : code === "document-too-large" ? "err_too_large_document" : "err_too_large_image";
      return { type: "problem", title: pixels ? "err_too_many_pixels_title" : "err_too_large", note, code, detail };
    }
    // Neither a verdict nor the node's problem (a proxy's or a portal's page), or a failure
    // of the node's own: not the input's fault.
    if (!code || code === "internal-error" || (status >= 500 && !(code in PROBLEMS))) {
      return { type: "problem", title: "err_server", note: "err_server_note", code: `HTTP ${status}`, detail };
    }
    const [title, note] = PROBLEMS[code] || ["err_invalid", "err_invalid_note"];
    return { type: "problem", title, note, code, detail };
  }

  // fetch() that gives up after ``ms``: its promise rejects, with ``signal.aborted`` set.
  function fetchWithin(url, init, ms) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ms);
    const done = fetch(url, { ...init, signal: controller.signal });
    return { controller, timer, done };
  }

  async function post(url, init, fallback) {
    const id = ++requestSeq;
    show({ type: "busy" });
    const limit = init.body instanceof FormData ? UPLOAD_TIMEOUT_MS : CHECK_TIMEOUT_MS;
    const call = fetchWithin(url, { method: "POST", headers: { Accept: "application/json" }, ...init }, limit);
    const slow = setTimeout(() => {
      if (id === requestSeq && state.view.type === "busy") show({ type: "busy", slow: true });
    }, SLOW_MS);
    let response = null;
    let body = null;
    try {
      response = await call.done;
      body = await response.json().catch(() => null);
    } catch {
      response = null;
    } finally {
      clearTimeout(call.timer);
      clearTimeout(slow);
    }
    if (id !== requestSeq) return; // a newer check was started meanwhile
    if (call.controller.signal.aborted) {
      show({ type: "problem", title: "err_timeout", note: "err_timeout_note", code: "" });
      return;
    }
    if (response === null) {
      show({ type: "problem", title: "err_network", note: "err_network_note", code: "" });
      return;
    }
    const type = body && typeof body.type === "string" ? body.type : "";
    // The shrunk photo showed no QR code, or only another kind's (a web link's, where the
    // license's beside it was too small once shrunk): try the original.
    const noQr = response.status === 422 && type.endsWith("/no-qr-code");
    const notOurs = response.ok && body && body.status === "UNSUPPORTED" && body.recognised === false;
    if (fallback && (noQr || notOurs)) {
      post(url, fallback);
      return;
    }
    if (response.ok && body && typeof body.status === "string") {
      const sentDocument = init.body instanceof FormData && init.body.has("document");
      show({ type: "verdict", verdict: body, sentDocument });
    }
    else show(problemView(response.status, body, !(init.body instanceof FormData)));
  }

  // What scanners, input methods and copying do to a code, undone: line breaks, full-width
  // characters (a scanner typing through a Chinese input method: "EL1："), lower case (Caps
  // Lock on), invisible format characters (a zero-width space where a web page or a chat
  // let the long code wrap, a byte order mark, a soft hyphen), line and paragraph separators
  // (U+2028, U+2029) and the next-line control (U+0085) a copy may wrap it with. Base45 has
  // no lower-case letters, no line breaks and nothing but ASCII, and never ends in a space,
  // so a genuine code is never changed by this.
  function normaliseCode(raw) {
    return raw
      .normalize("NFKC")
      .replace(/[\r\n\t\v\f\u0085\u2028\u2029]+|\p{Cf}+/gu, "")
      .trim()
      .toUpperCase();
  }

  function verifyText() {
    const text = normaliseCode(el.qrText.value);
    el.qrText.value = text;
    // Selected, so that the next scan (a scanner types into the focused field) replaces it.
    if (document.activeElement === el.qrText) el.qrText.select();
    if (!text) {
      showOwn({ type: "problem", title: "err_need_text", note: "", code: "" });
      el.qrText.focus();
      return;
    }
    if (Array.from(text).length > MAX_TEXT) {
      showOwn({ type: "problem", title: "err_text_too_long", note: "err_text_too_long_note", code: "" });
      return;
    }
    state.lastSource = { text };
    const holder = holderId();
    post("/v1/verify", {
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(holder ? { text, holder_id: holder } : { text }),
    });
  }

  function sameFile(a, b) {
    return Boolean(a && b) && a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
  }

  function verifyUpload() {
    const image = state.image;
    const documentFile = state.document;
    state.imageBytes = image ? image.size : null;
    state.checkedImage = image || null;
    state.checkedDocument = documentFile || null;
    if (!image) {
      showOwn({ type: "problem", title: "err_need_image", note: "", code: "" });
      return;
    }
    if (image.size > MAX_IMAGE) {
      showOwn({ type: "problem", title: "err_too_large", note: "err_too_large_image", code: "image-too-large" });
      return;
    }
    if (documentFile && documentFile.size > MAX_DOCUMENT) {
      showOwn({ type: "problem", title: "err_too_large", note: "err_too_large_document", code: "document-too-large" });
      return;
    }
    const formWith = (blob, name) => qrForm({ image: blob, name }, documentFile);
    const original = formWith(image, image.name || "image");
    // Claimed now, before the image is shrunk: a file chosen meanwhile starts a newer check,
    // which must win over this one whichever shrink finishes first.
    const id = ++requestSeq;
    show({ type: "busy" });
    // An image over the node's pixel bounds is refused as the node would refuse it, before
    // it is decoded to be shrunk; a file the page cannot read goes to the node to judge.
    overPixelBounds(image).catch(() => false).then(async (over) => {
      if (id !== requestSeq) return; // another check was started meanwhile
      if (over) {
        showOwn({ type: "problem", title: "err_too_many_pixels_title", note: "err_too_many_pixels", code: "image-too-large" });
        return;
      }
      // A photo the browser fails to shrink (no canvas to be had, short of memory) goes as
      // it is: a failure here must not leave the page at 正在核验… with nothing sent.
      const small = await shrink(image).catch(() => null);
      if (id !== requestSeq) return;
      // What a later file comparison sends again: the image as sent, and its fallback.
      state.lastSource = small
        ? { image: small, name: "photo.jpg", fallback: image, fallbackName: image.name || "image", fromUpload: true }
        : { image, name: image.name || "image", fromUpload: true };
      if (small) post("/v1/verify/image", formWith(small, "photo.jpg"), original);
      else post("/v1/verify/image", original);
    });
  }

  // Whether the image ``file`` is over the node's pixel bounds, as verifier.scan.check_pixels
  // says, by the size its header declares (the size Pillow reads there: a PNG's IHDR, a
  // JPEG's frame header, a GIF's screen, a BMP's info header, a WebP's canvas); false for
  // any other file, or a header not where the format puts it: the node judges those.
  async function overPixelBounds(file) {
    const size = imageSize(new DataView(await file.arrayBuffer()));
    if (!size) return false;
    const [width, height, webp] = size;
    return width * height > (webp ? MAX_WEBP_PIXELS : MAX_PIXELS) || Math.max(width, height) > MAX_SIDE;
  }

  // [width, height, whether a WebP] from the header of the image in ``data``, or null.
  function imageSize(data) {
    const n = data.byteLength;
    const ascii = (at, text) => at + text.length <= n && [...text].every((c, i) => data.getUint8(at + i) === c.charCodeAt(0));
    if (n >= 24 && ascii(0, "\x89PNG\r\n\x1a\n") && ascii(12, "IHDR")) return [data.getUint32(16), data.getUint32(20), false];
    if (n >= 10 && (ascii(0, "GIF87a") || ascii(0, "GIF89a"))) return [data.getUint16(6, true), data.getUint16(8, true), false];
    if (n >= 26 && ascii(0, "BM")) {
      if (data.getUint32(14, true) === 12) return [data.getUint16(18, true), data.getUint16(20, true), false];
      return [Math.abs(data.getInt32(18, true)), Math.abs(data.getInt32(22, true)), false];
    }
    if (n >= 30 && ascii(0, "RIFF") && ascii(8, "WEBP")) {
      const u24 = (at) => data.getUint16(at, true) + data.getUint8(at + 2) * 65536;
      if (ascii(12, "VP8X")) return [u24(24) + 1, u24(27) + 1, true];
      if (ascii(12, "VP8L") && data.getUint8(20) === 0x2f) {
        const bits = data.getUint32(21, true);
        return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1, true];
      }
      if (ascii(12, "VP8 ") && data.getUint8(23) === 0x9d && data.getUint8(24) === 0x01 && data.getUint8(25) === 0x2a) {
        return [data.getUint16(26, true) & 0x3fff, data.getUint16(28, true) & 0x3fff, true];
      }
      return null;
    }
    if (n >= 4 && data.getUint16(0) === 0xffd8) {
      // The JPEG's markers, each segment skipped by its length, up to its frame header
      // (SOF0-15 but DHT, JPG and DAC), before its first scan.
      let at = 2;
      while (at + 9 <= n) {
        if (data.getUint8(at) !== 0xff) return null;
        const marker = data.getUint8(at + 1);
        if (marker === 0xff) {
          at += 1; // a fill byte before a marker
        } else if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
          at += 2; // a marker with no length
        } else if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
          return [data.getUint16(at + 7), data.getUint16(at + 5), false];
        } else if (marker === 0xda) {
          return null;
        } else {
          at += 2 + data.getUint16(at + 2);
        }
      }
    }
    return null;
  }

  async function shrink(file) {
    // A large photo, drawn at UPLOAD_SIDE and re-encoded; null when small or unreadable.
    if (typeof createImageBitmap !== "function") return null;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      return null; // not an image the browser reads: let the server say what it is
    }
    const { width, height } = bitmap;
    if (width * height <= UPLOAD_SHRINK_PIXELS) {
      bitmap.close();
      return null;
    }
    const scale = UPLOAD_SIDE / Math.max(width, height);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const context = canvas.getContext("2d");
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", UPLOAD_QUALITY));
  }

  // --- the camera -------------------------------------------------------------------------

  const camera = { stream: null, timer: 0, busy: false, session: 0, canvas: null };

  function showCameraMessage(key) {
    state.cameraMsg = key;
    const text = key ? t(key) : "";
    // The message is a live region: written again with the same words (each frame while
    // looking), a screen reader would say them again, every 400 ms.
    if (el.cameraMsg.textContent !== text) el.cameraMsg.textContent = text;
    el.cameraMsg.classList.toggle(
      "error",
      Boolean(key) && /denied|none|busy|lost|insecure|unsupported|failed|unreachable/.test(key),
    );
  }

  // Why this page can never use a camera (an insecure context, a browser without
  // getUserMedia), or null: the message's key.
  function cameraUnavailable() {
    if (!window.isSecureContext) return "camera_insecure";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "camera_unsupported";
    return null;
  }

  async function startCamera() {
    stopCamera();
    const session = camera.session;
    // The clerk asked for the next one: the last verdict goes now, not once the camera is
    // open (denied, or taken by another program, it would have stayed, looking current).
    // Not brought into view: on a phone the camera and its message stay on screen.
    requestSeq++;
    state.view = { type: "idle" };
    draw();
    const unavailable = cameraUnavailable();
    if (unavailable) return showCameraMessage(unavailable);
    showCameraMessage("camera_opening");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } },
      });
    } catch (error) {
      const name = error && error.name;
      if (name === "NotAllowedError" || name === "SecurityError") showCameraMessage("camera_denied");
      else if (name === "NotFoundError" || name === "OverconstrainedError") showCameraMessage("camera_none");
      else if (name === "NotReadableError" || name === "AbortError") showCameraMessage("camera_busy");
      else showCameraMessage("camera_failed");
      return;
    }
    if (session !== camera.session) {
      stream.getTracks().forEach((track) => track.stop()); // stopped while asking
      return;
    }
    camera.stream = stream;
    // Unplugged, or taken by another program (a call on a phone): no frame comes any more,
    // and the page must not go on saying it is looking.
    for (const track of stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (session !== camera.session) return;
        stopCamera();
        showCameraMessage("camera_lost");
      });
    }
    el.video.srcObject = stream;
    el.video.play().catch(() => {});
    el.cameraIdle.hidden = true;
    el.cameraStart.hidden = true;
    el.cameraStop.hidden = false;
    showCameraMessage("camera_looking");
    camera.timer = window.setInterval(() => scanFrame(session), SCAN_EVERY_MS);
  }

  function stopCamera() {
    camera.session++;
    window.clearInterval(camera.timer);
    camera.timer = 0;
    if (camera.stream) camera.stream.getTracks().forEach((track) => track.stop());
    const wasOn = camera.stream !== null;
    camera.stream = null;
    el.video.srcObject = null;
    el.cameraIdle.hidden = false;
    el.cameraStart.hidden = cameraUnavailable() !== null;
    el.cameraStop.hidden = true;
    if (wasOn && state.cameraMsg !== "camera_found") showCameraMessage(null);
  }

  function grabFrame() {
    const video = el.video;
    const scale = Math.min(1, FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const canvas = camera.canvas || (camera.canvas = document.createElement("canvas"));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  }

  // Whether the clerk is still typing the id number: shorter than the 18 characters of an
  // identity number or credit code (as the node normalises it). A frame sent with part of it
  // would be refused, and that refusal stops the camera.
  function holderIncomplete() {
    const holder = holderId();
    return holder !== null && holder.normalize("NFKC").replace(/\s+/g, "").length < 18;
  }

  async function scanFrame(session) {
    if (camera.busy || session !== camera.session || !el.video.videoWidth) return;
    if (holderIncomplete()) {
      showCameraMessage("camera_holder");
      return;
    }
    camera.busy = true;
    let call = null;
    try {
      const blob = await grabFrame();
      if (!blob || session !== camera.session) return;
      const form = new FormData();
      form.append("image", blob, "frame.jpg");
      const holder = holderId();
      if (holder) form.append("holder_id", holder);
      const source = { image: blob, name: "frame.jpg" };
      call = fetchWithin("/v1/verify/image", { method: "POST", body: form }, FRAME_TIMEOUT_MS);
      let response;
      let body;
      try {
        response = await call.done;
        body = await response.json().catch(() => null);
      } finally {
        clearTimeout(call.timer);
      }
      if (session !== camera.session) return; // stopped meanwhile
      if (response.ok && body && typeof body.status === "string") {
        state.lastSource = source; // the frame that read: to compare a stamp's file with
        stopCamera();
        state.scanned = true;
        el.cameraStart.textContent = t("camera_again");
        showCameraMessage("camera_found");
        requestSeq++;
        show({ type: "verdict", verdict: body });
        return;
      }
      // A holder id the node refuses is refused whatever the frame: say so, stop looking.
      const type = body && typeof body.type === "string" ? body.type : "";
      if (type.endsWith("/invalid-holder-id") || type.endsWith("/no-holder")) {
        stopCamera();
        requestSeq++;
        show(problemView(response.status, body));
        return;
      }
      // Two documents' codes in view: keep looking, once one of them is aimed at.
      if (type.endsWith("/several-qr-codes")) showCameraMessage("camera_several");
      // No QR code in this frame (or an unreadable frame): keep looking.
      else if (response.status === 422 || response.status === 400) showCameraMessage("camera_looking");
      else showCameraMessage("camera_retrying");
    } catch {
      // The node did not answer in time, or could not be reached: said as such, since
      // the camera keeps trying and the banner shows nothing meanwhile.
      if (session !== camera.session) return;
      if (call === null) showCameraMessage("camera_retrying");
      else showCameraMessage(call.controller.signal.aborted ? "camera_slow" : "camera_unreachable");
    } finally {
      camera.busy = false;
    }
  }

  // --- wiring -----------------------------------------------------------------------------

  function reset() {
    requestSeq++;
    state.image = null;
    state.document = null;
    el.imageFile.value = "";
    el.documentFile.value = "";
    el.qrText.value = "";
    el.holderId.value = ""; // the next customer's, if any, is typed anew
    state.holderUsed = false;
    state.checkedImage = null;
    state.checkedDocument = null;
    state.imageBytes = null;
    state.lastSource = null;
    showFileNames();
    showCameraMessage(cameraUnavailable()); // why the camera cannot be used stays said
    show({ type: "idle" });
    const selected = el.tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
    if (selected) selected.focus();
    window.scrollTo({ top: 0 });
  }

  function init() {
    const saved = storageGet(LANG_KEY);
    state.lang = saved === "en" ? "en" : "zh";
    el.lang.addEventListener("click", () => setLanguage(state.lang === "zh" ? "en" : "zh"));
    for (const tab of el.tabs) {
      tab.addEventListener("click", () => selectTab(tab.dataset.tab, false));
      tab.addEventListener("keydown", onTabKey);
    }
    // A page that can never use a camera (opened over plain http from another machine, a
    // browser without getUserMedia) opens on the upload tab, which works there (a phone's
    // file picker takes a photo), and its camera tab says why at once, with no button that
    // could only fail.
    const unavailable = cameraUnavailable();
    if (unavailable) {
      el.cameraStart.hidden = true;
      el.cameraIdle.dataset.i18n = "camera_unavailable";
      showCameraMessage(unavailable);
    }
    const tab = storageGet(TAB_KEY);
    const tabs = unavailable ? ["upload", "paste"] : ["camera", "upload", "paste"];
    // Not remembered: the camera tab, if chosen, is still the choice where the camera works.
    selectTab(tabs.includes(tab) ? tab : tabs[0], false, false);
    el.cameraStart.addEventListener("click", startCamera);
    el.cameraStop.addEventListener("click", () => {
      stopCamera();
      showCameraMessage(null);
    });
    el.imageFile.addEventListener("change", () => {
      const image = el.imageFile.files && el.imageFile.files[0];
      if (!image) return; // the choice dismissed: the image chosen before stays
      // Taken, and the picker emptied (setting its value fires no change): the same image
      // chosen again is a change too, and is checked again (see state.image).
      state.image = image;
      el.imageFile.value = "";
      // A new QR image after one was already checked is the next customer's: the original
      // file compared with the previous one must not be compared with it (a file chosen
      // since, for this customer, stays). The same image chosen again is the same
      // customer's: its file stays.
      const again = sameFile(image, state.checkedImage);
      if (state.checkedImage && !again && sameFile(state.document, state.checkedDocument)) state.document = null;
      showFileNames();
      verifyUpload();
    });
    el.documentFile.addEventListener("change", () => {
      const documentFile = el.documentFile.files && el.documentFile.files[0];
      if (!documentFile) return; // the choice dismissed: the file chosen before stays
      // Taken, and the picker emptied, as the image's: the same file chosen again is a
      // change too, and the stamp is compared with it again (see state.image).
      state.document = documentFile;
      el.documentFile.value = "";
      showFileNames();
      const image = state.image;
      if (!image) return;
      const mismatched = state.view.type === "verdict" && state.view.verdict.status === "DOCUMENT_MISMATCH";
      const again = sameFile(documentFile, state.checkedDocument);
      if (sameFile(image, state.checkedImage) && state.checkedDocument && !mismatched && !again) {
        // That image was already compared with another file: this one is the next
        // customer's, whose QR image comes next. Never compare it with the previous stamp.
        showOwn({ type: "problem", title: "doc_waiting", note: "", code: "" });
        return;
      }
      verifyUpload();
    });
    el.uploadForm.addEventListener("submit", (event) => {
      event.preventDefault();
      verifyUpload();
    });
    el.pasteForm.addEventListener("submit", (event) => {
      event.preventDefault();
      verifyText();
    });
    // A barcode scanner types the code and presses Enter: Enter checks, as the button does.
    el.holderId.addEventListener("input", () => {
      state.holderEdits++;
      state.holderUsed = false; // edited: this customer's, to be sent
    });
    el.qrText.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        verifyText();
      }
    });
    // Enter in the id number checks too (the number typed after the code, or corrected
    // after 持证人不符): the code or image of the tab in use, as its button does. The
    // camera reads the number as it goes.
    el.holderId.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      event.preventDefault();
      const selected = el.tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
      const name = selected ? selected.dataset.tab : "";
      if (name === "paste") verifyText();
      else if (name === "upload") verifyUpload();
    });
    el.pasteClear.addEventListener("click", () => {
      el.qrText.value = "";
      el.qrText.focus();
    });
    el.sealImage.addEventListener("error", () => {
      el.sealImage.hidden = true;
    });
    el.reset.addEventListener("click", reset);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) stopCamera(); // never keep the camera on behind another window
    });
    applyLanguage();
    learnRegion();
    document.body.dataset.ready = "true";
  }

  // This node's region, for what the page says of another region's license (elsewhere);
  // until it is known, or if /healthz cannot say, the page says what it said before.
  async function learnRegion() {
    try {
      const response = await fetch("/healthz", { headers: { Accept: "application/json" } });
      const body = response.ok ? await response.json() : null;
      if (body && typeof body.region === "string" && /^[0-9]{6}$/.test(body.region)) state.region = body.region;
      if (body && Array.isArray(body.peers)) {
        state.peers = body.peers.filter((p) => typeof p === "string" && /^[0-9]{6}$/.test(p)).slice(0, 1000);
      }
    } catch {
      // no region: the generic words
    }
  }

  init();
})();
