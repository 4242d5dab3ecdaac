"""The URL of another node, a witness or a peer, as given on the command line: checked
once here, for every command that takes one (``verify --online``, ``fetch``, ``witness
add``/``sync``, ``peer add``).

Such a URL is printed in reports and, for witnesses and peers, stored and listed: it must
name an http(s) host and nothing a report should not show (a user name or a password), and
nothing that would be dropped or misread when paths are put after it (a query, a fragment,
a backslash, spaces)."""

from __future__ import annotations

from urllib.parse import urlsplit

from keys.errors import InvalidInput, shown

#: A node's base URL: longer is no node's.
MAX_URL = 2048


def node_url(url: str, what: str) -> str:
    """``url`` when it is an http(s) base URL of a node (a host, an optional port and path,
    no credentials, query or fragment); ``what`` names it in the refusal."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"{what} is longer than {MAX_URL} characters")
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidInput(f"{what} {shown(url)} is not an http:// or https:// URL")
    if any(c.isspace() or not c.isprintable() for c in url) or "?" in url or "#" in url:
        raise InvalidInput(f"{what} {shown(url)} has spaces, a query or a fragment")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is no port)
    except ValueError as e:
        raise InvalidInput(f"{what} {shown(url)} is no URL: {e}") from e
    if "\\" in url or "@" in parts.netloc:
        raise InvalidInput(
            f"{what} {shown(url)} has a user name, a password or a backslash: give the "
            "node's base URL alone"
        )
    if not parts.hostname:
        raise InvalidInput(f"{what} {shown(url)} names no host")
    return url


def base_url(url: str, what: str) -> str:
    """:func:`node_url`, without a trailing slash: the form stored and listed."""
    return node_url(url, what).rstrip("/")
