"""The network and file policy as pure decisions, name resolution stubbed (no connection is ever opened)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ocm_engine.errors import ConfigError, PolicyError
from ocm_engine.netpolicy import NetPolicy, address_kind, check, decide, normalise_origin

HOSTED = NetPolicy.hosted_default()


def stub(table: dict[str, Sequence[str]]):
    """A resolver answering from ``table``; an unknown name does not resolve."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


# (target, kind named in the reason) for addresses given as literals
LITERALS = [
    ("http://127.0.0.1/catalog.json", "loopback"),
    ("http://127.8.9.10:8080/x", "loopback"),
    ("http://[::1]/x", "loopback"),
    ("http://10.1.2.3/x", "private"),
    ("http://172.16.0.9/x", "private"),
    ("http://192.168.1.1/x", "private"),
    ("http://[fd12::1]/x", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/", "cloud metadata"),
    ("http://169.254.10.10/x", "link-local"),
    ("http://[fe80::1]/x", "link-local"),
    ("http://100.64.0.1/x", "CGNAT"),
    ("http://224.0.0.1/x", "multicast"),
    ("http://[ff02::1]/x", "multicast"),
    ("http://0.0.0.0/x", "unspecified"),
    ("http://[::]/x", "unspecified"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
    ("http://[::ffff:169.254.169.254]/x", "cloud metadata"),
    ("http://[64:ff9b::a00:1]/x", "private"),
    ("http://240.0.0.1/x", "reserved"),
]


@pytest.mark.parametrize(("url", "kind"), LITERALS)
def test_internal_address_literals_are_refused(url: str, kind: str) -> None:
    resolve = stub({})
    decision = decide(url, HOSTED, resolver=resolve)
    assert (decision.allowed, decision.refusal) == (False, "internal")
    assert decision.arrived == f"a {kind if kind != 'CGNAT' else 'shared (CGNAT)'} address"
    assert "\n" not in decision.reason and decision.reason == decision.error().problem
    assert resolve.asked == []  # a literal is not resolved


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("10.0.0.5", "private"), ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"), ("169.254.1.1", "link-local"), ("100.100.100.200", "cloud metadata"),
    ("::1", "loopback"), ("0.0.0.0", "unspecified"),
])
def test_names_resolving_to_internal_addresses_are_refused(address: str, kind: str) -> None:
    decision = decide("https://catalog.example.org/api", HOSTED, resolver=stub({"catalog.example.org": [address]}))
    assert (decision.allowed, decision.refusal, decision.host) == (False, "internal", "catalog.example.org")
    assert decision.arrived == f"a {kind} address (the host catalog.example.org resolves to {address})"


def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    resolve = stub({"mixed.example": ["93.184.216.34", "10.0.0.1"]})
    assert decide("https://mixed.example/", HOSTED, resolver=resolve).refusal == "internal"


def test_public_names_are_allowed_and_pinned() -> None:
    decision = check("https://earth-search.example/v1?sig=secret", HOSTED,
                     resolver=stub({"earth-search.example": ["93.184.216.34", "2606:2800:220:1::1"]}))
    assert decision.allowed and decision.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert decision.refusal is None and decision.port == 443 and "secret" not in decision.reason


@pytest.mark.parametrize("target", [
    "/etc/passwd", "catalog.json", "./items/x.json", "file:///etc/hosts", "FILE:/etc/hosts",
    "/vsicurl/http://169.254.169.254/", "/vsimem/x.tif", "C:\\data\\catalog.json",
])
def test_local_paths_and_gdal_paths_are_refused(target: str) -> None:
    decision = decide(target, HOSTED, resolver=stub({}))
    assert (decision.allowed, decision.refusal, decision.scheme) == (False, "local", "file")
    with pytest.raises(PolicyError) as refused:
        check(target, HOSTED, resolver=stub({}))
    assert isinstance(refused.value, PermissionError)
    assert (refused.value.subject, refused.value.arrived, refused.value.expected) == (
        f"Path {decision.target}", decision.arrived, "a public http(s) URL")


@pytest.mark.parametrize("target", ["s3://bucket/key.tif", "ftp://host/x", "gopher://x/", "data:,hello"])
def test_other_schemes_are_refused(target: str) -> None:
    decision = decide(target, HOSTED, resolver=stub({}))
    assert (decision.allowed, decision.refusal) == (False, "scheme")
    assert decision.arrived == f"the scheme {target.split(':', 1)[0]}:"


def test_unresolvable_and_hostless_urls_are_refused() -> None:
    assert decide("https://nowhere.invalid/", HOSTED, resolver=stub({})).refusal == "unresolved"
    assert decide("https://nothing.example/", HOSTED, resolver=stub({"nothing.example": []})).refusal == "no_address"
    assert decide("http:///path", HOSTED, resolver=stub({})).refusal == "no_host"
    assert decide("http://host:99999/", HOSTED, resolver=stub({})).refusal == "port"
    with pytest.raises(PolicyError) as refused:
        check("http:///path", HOSTED, resolver=stub({}))
    assert (refused.value.subject, refused.value.arrived) == ("URL http:///path", "no host")


def test_allowed_origin_reads_whatever_it_resolves_to_and_nothing_else() -> None:
    policy = NetPolicy.hosted_default(["http://catalog.internal:8080"])
    resolve = stub({"catalog.internal": ["10.0.0.7"]})
    assert decide("http://catalog.internal:8080/api", policy, resolver=resolve).allowed
    assert decide("http://CATALOG.internal:8080/items/x", policy, resolver=resolve).addresses == ("10.0.0.7",)
    assert decide("http://catalog.internal:8081/api", policy, resolver=resolve).refusal == "internal"  # another port
    assert decide("https://catalog.internal:8080/api", policy, resolver=resolve).refusal == "internal"  # another scheme


def test_local_reads_only_on_a_trusted_install() -> None:
    trusted = NetPolicy.hosted_default(allow_local=True)
    assert decide("/data/catalog.json", trusted).allowed
    assert decide("/vsicurl/http://10.0.0.1/x", trusted).refusal == "local"
    assert decide("http://10.0.0.1/x", trusted).refusal == "internal"


def test_permissive_policy_trusts_everything_without_resolving() -> None:
    resolve = stub({})
    for target in ("/etc/passwd", "http://127.0.0.1/x", "s3://b/k"):
        assert decide(target, NetPolicy.permissive(), resolver=resolve).allowed
    assert resolve.asked == []


def test_origins_normalise_and_reject_garbage() -> None:
    assert normalise_origin("HTTP://Example.org") == "http://example.org:80"
    assert normalise_origin("https://[::1]:8443/") == "https://[::1]:8443"
    with pytest.raises(ConfigError) as bare:  # a ValueError too
        normalise_origin("example.org")
    assert (bare.value.subject, bare.value.arrived) == ("Allowed origin", "'example.org'")
    assert "OCM_ALLOWED_ORIGINS" in bare.value.hint("cli")
    with pytest.raises(ValueError) as port:
        normalise_origin("https://example.org:99999")
    assert isinstance(port.value, ConfigError) and port.value.arrived == "an invalid port"


def test_public_address_kind_is_none() -> None:
    import ipaddress

    assert address_kind(ipaddress.ip_address("93.184.216.34")) is None
    assert address_kind(ipaddress.ip_address("2606:2800:220:1::1")) is None
