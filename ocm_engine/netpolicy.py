"""Network and file policy: which catalog URLs, item links, asset hrefs and thumbnails may be read.

One :class:`NetPolicy` decides for every target the engine is asked to read. The CLI and the
Python API trust their own user, so their default is :meth:`NetPolicy.permissive` (everything,
local files included, exactly as before). A server that strangers use (the Streamlit app on a
shared host) builds :meth:`NetPolicy.hosted`: only ``http(s)`` to hosts whose every address is
public, unless the operator allow-lists an origin (``scheme://host:port``) or trusts local
files (a single-user install).

:func:`decide` is pure apart from name resolution, which is a parameter (tests stub it):
it returns a :class:`Decision` with a one-line reason and, when allowed, the addresses that
were checked. The checked HTTP layer (:mod:`ocm_engine.checked_http`) connects to exactly
those addresses, so a name cannot resolve to a public address for the check and to an
internal one for the connection (DNS rebinding).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from ocm_engine.errors import ConfigError, Hints, PolicyError

#: ``resolver(host, port)`` -> the host's IP addresses as strings.
Resolver = Callable[[str, int], Sequence[str]]
Verdict = Literal["allowed", "refused"]
#: Why a target was refused: a local path, another scheme, a bad port, no host, a name that does not
#: resolve (or to nothing), or an address that is not public.
Refusal = Literal["local", "scheme", "port", "no_host", "unresolved", "no_address", "internal"]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services (instance credentials live there).
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``), IPv4 and IPv6.

    Raises:
        OSError: The name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def address_kind(address: IpAddress) -> str | None:
    """Why an address is not public (``"loopback"``, ``"private"``, ...), or ``None`` when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_kind(address.ipv4_mapped)
        if address in _NAT64:
            return address_kind(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT)"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


def normalise_origin(text: str) -> str:
    """``scheme://host:port`` with the scheme and host lower-cased and the default port written out.

    Raises:
        ConfigError: Not an ``http(s)`` origin (a ``ValueError``).
    """
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    advice = Hints.same("Set OCM_ALLOWED_ORIGINS to comma-separated origins such as https://stac.example.org:443.")
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError("Allowed origin", arrived=repr(text), expected="scheme://host:port with scheme http or https",
                          hints=advice)
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as err:
        raise ConfigError(f"Port of allowed origin {text!r}", arrived="an invalid port", expected="1..65535",
                          hints=advice) from err
    host = parts.hostname.lower()
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


@dataclass(frozen=True, slots=True)
class NetPolicy:
    """What the engine may read.

    Attributes:
        hosted: ``False``: trust the user (CLI, Python API): every URL and local path is read.
            ``True``: a server that strangers use: only public ``http(s)`` unless allowed below.
        allowed_origins: Normalised ``scheme://host:port`` origins read whatever they resolve to.
        allow_local: Local paths and ``file:`` URLs are read (a trusted single-user install).
    """

    hosted: bool = False
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    allow_local: bool = False

    @classmethod
    def permissive(cls) -> NetPolicy:
        """The CLI's and Python API's policy: read whatever the user names."""
        return cls()

    @classmethod
    def hosted_default(cls, origins: Iterable[str] = (), *, allow_local: bool = False) -> NetPolicy:
        """A server's policy: public ``http(s)`` only, plus the allow-listed ``origins``.

        Raises:
            ConfigError: An origin that is not ``http(s)://host[:port]`` (a ``ValueError``).
        """
        return cls(hosted=True, allowed_origins=frozenset(normalise_origin(o) for o in origins if o.strip()),
                   allow_local=allow_local)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one target.

    Attributes:
        verdict: ``"allowed"`` or ``"refused"``.
        reason: One line saying why (for a refusal: the :class:`PolicyError`'s problem).
        target: What was asked for (a URL's query string is left out).
        scheme: ``"http"``, ``"https"``, ``"file"`` (local path) or another scheme.
        host: Host name of a URL (``""`` for local paths).
        port: Port of a URL (0 for local paths).
        addresses: The checked addresses to connect to (empty: resolve as usual, e.g. permissive).
        refusal: Why it was refused (``None`` when allowed).
        arrived: For a refusal: what the target is (``"a loopback address 127.0.0.1"``).
        expected: For a refusal: what this policy reads.
    """

    verdict: Verdict
    reason: str
    target: str
    scheme: str = ""
    host: str = ""
    port: int = 0
    addresses: tuple[str, ...] = ()
    refusal: Refusal | None = None
    arrived: str = ""
    expected: str = ""

    @property
    def allowed(self) -> bool:
        """Whether the target may be read."""
        return self.verdict == "allowed"

    @property
    def subject(self) -> str:
        """The target named as an error's subject: ``"URL https://..."`` or ``"Path /data/x"``."""
        return f"{'Path' if self.scheme == 'file' else 'URL'} {self.target}"

    def error(self) -> PolicyError:
        """The :class:`PolicyError` of a refusal, its fields taken from this decision."""
        return PolicyError(self.subject, arrived=self.arrived, expected=self.expected)

    def raise_if_refused(self) -> Decision:
        """This decision when allowed.

        Raises:
            PolicyError: The target is refused (subject, arrived and expected from this decision).
        """
        if not self.allowed:
            raise self.error()
        return self


def refused_again(err: PolicyError) -> PolicyError:
    """A fresh :class:`PolicyError` with the fields of ``err``: a refusal a library caught, raised anew.

    Raise it ``from`` the library's error; raising ``err`` itself again would chain it to an
    error that already has it as its context.
    """
    return PolicyError(err.subject, arrived=err.arrived, expected=err.expected, hints=err.hints)


def _refuse(refusal: Refusal, shown: str, arrived: str, expected: str, scheme: str, host: str = "",
            port: int = 0) -> Decision:
    """A refusal, its one-line reason worded like the :class:`PolicyError` it raises."""
    decision = Decision("refused", "", shown, scheme, host, port, (), refusal, arrived, expected)
    return dataclasses.replace(decision, reason=decision.error().problem)


def redact(target: str) -> str:
    """A URL without its query string and user info (signatures and passwords are secrets)."""
    parts = urlsplit(target)
    if not parts.scheme or not parts.netloc:
        return target.split("?", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?..." if parts.query else "")


def _is_local(target: str) -> bool:
    if target.startswith("/vsi") or target.lower().startswith("file:"):
        return True
    match = _URL_SCHEME.match(target)
    # "C:\\x" is a Windows drive, not a URL scheme
    return match is None or (len(match.group(1)) == 1 and target[1:3] in (":\\", ":/"))


def decide(target: str, policy: NetPolicy, *, resolver: Resolver | None = None) -> Decision:
    """Decide whether ``target`` (a URL or a path) may be read under ``policy``.

    Nothing is opened: a URL's host is only resolved (with ``resolver``) when the policy is
    hosted and the origin is not allow-listed.

    Args:
        target: A catalog URL, item link, asset href or thumbnail href; or a local path.
        policy: The policy.
        resolver: Name resolution (default :func:`system_resolver`, looked up when called so
            tests can replace it).

    Returns:
        The decision and its one-line reason.
    """
    resolve = resolver or globals()["system_resolver"]
    shown = redact(target)
    if not policy.hosted:
        return Decision("allowed", f"{shown}: allowed (the user is trusted).", shown)
    public = "a public http(s) URL"
    if _is_local(target):
        kind = "GDAL virtual path" if target.startswith("/vsi") else "local file or path"
        if policy.allow_local and not target.startswith("/vsi"):
            return Decision("allowed", f"{shown}: local reads are allowed (trusted local install).", shown, "file")
        return _refuse("local", shown, f"a {kind}, which this server does not read", public, "file")
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return _refuse("scheme", shown, f"the scheme {scheme}:", f"{public} (only http and https are read)", scheme)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return _refuse("port", shown, "a port that is not a number in 1-65535", public, scheme)
    if not host:
        return _refuse("no_host", shown, "no host", public, scheme)
    origin = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    literal = True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        literal = False
        try:
            addresses = [ipaddress.ip_address(a) for a in resolve(host, port)]
        except (OSError, ValueError, UnicodeError) as err:
            return _refuse("unresolved", shown, f"a host ({host}) that does not resolve ({type(err).__name__})",
                           public, scheme, host, port)
    if not addresses:
        return _refuse("no_address", shown, f"a host ({host}) that resolves to no address", public, scheme, host,
                       port)
    pinned = tuple(str(a) for a in addresses)
    if origin in policy.allowed_origins:
        return Decision("allowed", f"{shown}: origin {origin} is allowed by the operator.", shown, scheme, host,
                        port, pinned)
    for address in addresses:
        found = address_kind(address)
        if found is not None:
            via = "" if literal else f" (the host {host} resolves to {address})"
            return _refuse("internal", shown, f"a {found} address{via}",
                           "a public address (this server only reads public addresses)", scheme, host, port)
    return Decision("allowed", f"{shown}: public address(es) {', '.join(pinned)}.", shown, scheme, host, port, pinned)


def check(target: str, policy: NetPolicy, *, resolver: Resolver | None = None) -> Decision:
    """:func:`decide`, raising when refused.

    Raises:
        PolicyError: The target is refused.
    """
    return decide(target, policy, resolver=resolver).raise_if_refused()


__all__ = ["METADATA_ADDRESSES", "Decision", "NetPolicy", "Refusal", "Resolver", "address_kind", "check", "decide",
           "normalise_origin", "redact", "refused_again", "system_resolver"]
