"""The read timeouts' settings (:mod:`eseal.api.timeouts`): what an operator may give
``eseal serve`` and its environment, and how they reach its worker processes."""

from __future__ import annotations

import math
import sys

import pytest

from eseal.api.timeouts import (
    BODY_ENV,
    BODY_IDLE_ENV,
    HEADER_ENV,
    MAX_BODY,
    MAX_BODY_IDLE,
    MAX_HEADER,
    MAX_SEND,
    SEND_ENV,
    ReadTimeouts,
    parse_seconds,
)
from eseal.cli import main


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10", 10.0), ("0.5", 0.5), ("0.001", 0.001), ("300", 300.0), ("007", 7.0), ("2.25", 2.25)],
)
def test_plain_seconds_are_read(text: str, seconds: float) -> None:
    assert parse_seconds(text, MAX_HEADER) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "range"),
        ("0.000", "range"),
        ("300.001", "range"),
        ("-1", "plain decimal"),
        ("+1", "plain decimal"),
        ("1e3", "plain decimal"),
        ("inf", "plain decimal"),
        ("nan", "plain decimal"),
        ("1_0", "plain decimal"),
        (" 10", "plain decimal"),
        ("10s", "plain decimal"),
        (".5", "plain decimal"),
        ("0.0005", "plain decimal"),  # below the millisecond
        ("١٠", "plain decimal"),  # Arabic-Indic digits, which float() reads as 10
        ("", "plain decimal"),
    ],
)
def test_other_durations_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_seconds(text, MAX_HEADER)


def test_the_defaults_and_the_bounds() -> None:
    assert ReadTimeouts() == ReadTimeouts(
        header=10.0, body_idle=30.0, body_total=120.0, send_idle=30.0
    )
    ReadTimeouts(
        header=MAX_HEADER, body_idle=MAX_BODY_IDLE, body_total=MAX_BODY, send_idle=MAX_SEND
    )
    for bad in (
        {"header": 0.0},
        {"header": MAX_HEADER + 1},
        {"body_idle": -1.0},
        {"body_idle": math.nan},
        {"body_total": math.inf},
        {"body_total": MAX_BODY + 0.5},
        {"send_idle": 0.0},
        {"send_idle": MAX_SEND + 1},
    ):
        with pytest.raises(ValueError, match="range"):
            ReadTimeouts(**bad)


def test_the_environment_carries_them_to_a_worker() -> None:
    given = ReadTimeouts(header=2.5, body_idle=7.0, body_total=0.125, send_idle=45.0)
    assert given.environment() == {
        HEADER_ENV: "2.500",
        BODY_IDLE_ENV: "7.000",
        BODY_ENV: "0.125",
        SEND_ENV: "45.000",
    }
    assert ReadTimeouts.from_environment(given.environment()) == given
    assert ReadTimeouts.from_environment({}) == ReadTimeouts()
    assert ReadTimeouts.from_environment({HEADER_ENV: ""}) == ReadTimeouts()  # unset
    assert ReadTimeouts.from_environment({BODY_ENV: "60"}) == ReadTimeouts(body_total=60.0)
    assert ReadTimeouts.from_environment({SEND_ENV: "5"}) == ReadTimeouts(send_idle=5.0)
    with pytest.raises(ValueError, match=f"^{BODY_ENV}: 'abc' is not a number of seconds"):
        ReadTimeouts.from_environment({BODY_ENV: "abc"})
    with pytest.raises(ValueError, match=f"^{BODY_IDLE_ENV}: 601 is not in the range"):
        ReadTimeouts.from_environment({BODY_IDLE_ENV: "601"})
    with pytest.raises(ValueError, match=f"^{SEND_ENV}: 601 is not in the range"):
        ReadTimeouts.from_environment({SEND_ENV: "601"})


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--header-timeout", "0"], {}, "'--header-timeout'"),
        (["--header-timeout", "301"], {}, "301 is not in the range 0.001 to 300 seconds"),
        (["--body-idle-timeout", "-1"], {}, "'--body-idle-timeout'"),
        (["--body-timeout", "1e3"], {}, "'1e3' is not a number of seconds"),
        (["--body-timeout", "3601"], {}, "3601 is not in the range 0.001 to 3600 seconds"),
        ([], {BODY_ENV: "nan"}, "'--body-timeout'"),
        ([], {HEADER_ENV: "0"}, "0 is not in the range"),
        (["--send-timeout", "0"], {}, "'--send-timeout'"),
        (["--send-timeout", "601"], {}, "601 is not in the range 0.001 to 600 seconds"),
        (["--send-timeout", "inf"], {}, "'inf' is not a number of seconds"),
        ([], {SEND_ENV: "30s"}, "'--send-timeout'"),
        ([], {SEND_ENV: "0.0001"}, "not a number of seconds"),
    ],
)
def test_eseal_serve_refuses_a_bad_timeout(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    """Through the real entry point: exit 2 and one ``error:`` line naming the option,
    before anything is opened or served."""
    for name in (HEADER_ENV, BODY_IDLE_ENV, BODY_ENV, SEND_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["eseal", "--data", "/nonexistent", "serve", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: Invalid value for "), err
    assert expected in lines[0], err
