from __future__ import annotations

from typing import Any

import pytest

from authorizer.reasons import ConfigError, Reason
from authorizer.revocation.config import RevocationConfig


def test_defaults_check_the_chain_ocsp_first_and_deny_unknown() -> None:
    cfg = RevocationConfig.from_dict({})
    assert (cfg.scope, cfg.on_unknown, cfg.prefer, cfg.budget_ms) == ("chain", "deny", "ocsp", 2500)
    assert cfg.order == ("ocsp", "crl")
    assert cfg.describe() == "revocation: chain, OCSP then CRL, on_unknown=deny, budget 2500 ms"


def test_contract_document_parses() -> None:
    cfg = RevocationConfig.from_dict(
        {
            "scope": "leaf",
            "on_unknown": "allow",
            "prefer": "crl",
            "ocsp": {"enabled": True, "responder_url": None, "timeout_ms": 800, "nonce": False},
            "crl": {
                "enabled": True,
                "urls": ["s3://bucket/crls/issuing.crl", "/opt/crl.pem"],
                "use_distribution_points": False,
            },
            "budget_ms": 1200,
            "allowed_hosts": ["crl.example.com", "127.0.0.1:8080"],
        }
    )
    assert cfg.order == ("crl", "ocsp")
    assert cfg.crl.urls == ("s3://bucket/crls/issuing.crl", "/opt/crl.pem")
    assert not cfg.ocsp.nonce and not cfg.crl.use_distribution_points
    assert "CRL then OCSP" in cfg.describe() and "on_unknown=allow" in cfg.describe()


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"ocsp": {"timeout_ms": 0}}, "revocation.ocsp.timeout_ms"),
        ({"ocsp": {"timeout_ms": "800"}}, "revocation.ocsp.timeout_ms"),
        ({"budget_ms": True}, "revocation.budget_ms"),
        ({"budget_ms": 60000}, "revocation.budget_ms"),
        ({"scope": "all"}, "revocation.scope"),
        ({"on_unknown": "warn"}, "revocation.on_unknown"),
        ({"prefer": "ldap"}, "revocation.prefer"),
        ({"ocsp": {"responder_url": "ldap://x"}}, "revocation.ocsp.responder_url"),
        ({"crl": {"urls": ["ldap://x/crl"]}}, "revocation.crl.urls[0]"),
        ({"crl": {"urls": "s3://b/k"}}, "revocation.crl.urls"),
        ({"allowed_hosts": ["http://x/"]}, "revocation.allowed_hosts[0]"),
        ({"ocps": {}}, "revocation.ocps"),
        ({"ocsp": {"enabled": False}, "crl": {"enabled": False}}, "revocation"),
        ({"crl": []}, "revocation.crl"),
    ],
)
def test_errors_name_the_field(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        RevocationConfig.from_dict(doc)
    assert err.value.path == path
    assert err.value.reason is Reason.CONFIG_INVALID


def test_config_module_does_not_import_the_network_machinery() -> None:
    import subprocess
    import sys

    code = (
        "import sys, authorizer.revocation.config, authorizer.revocation.checker;"
        "print(any(m in sys.modules for m in ('authorizer.sources.http', 'authorizer.revocation.ocsp', 'http.client')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_crl_index_section() -> None:
    cfg = RevocationConfig.from_dict({})
    assert cfg.crl.index.beside and cfg.crl.index.audit and not cfg.crl.index.urls
    assert cfg.crl.index.uri_for("s3://b/crls/a.crl") == "s3://b/crls/a.crl.idx"
    assert cfg.crl.index.uri_for("/opt/a.crl") == "/opt/a.crl.idx"
    assert cfg.crl.index.uri_for("http://pki.example.com/a.crl") is None  # never guessed over http
    named = RevocationConfig.from_dict(
        {"crl": {"index": {"beside": False, "audit": False, "urls": {"http://pki.example.com/a.crl": "s3://b/a.idx"}}}}
    )
    index = named.crl.index
    assert index.uri_for("http://pki.example.com/a.crl") == "s3://b/a.idx"
    assert index.uri_for("s3://b/crls/a.crl") is None and not index.audit


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"crl": {"index": {"bogus": 1}}}, "revocation.crl.index.bogus"),
        ({"crl": {"index": {"beside": "yes"}}}, "revocation.crl.index.beside"),
        ({"crl": {"index": {"urls": ["s3://b/a.idx"]}}}, "revocation.crl.index.urls"),
        (
            {"crl": {"index": {"urls": {"http://x/a.crl": "ldap://x/a.idx"}}}},
            "revocation.crl.index.urls.http://x/a.crl",
        ),
    ],
)
def test_crl_index_errors_name_the_field(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        RevocationConfig.from_dict(doc)
    assert err.value.path == path


def test_describe_says_when_indexes_are_not_audited() -> None:
    cfg = RevocationConfig.from_dict({"crl": {"index": {"audit": False, "urls": {"http://x/a.crl": "s3://b/a.idx"}}}})
    assert "1 named CRL index(es)" in cfg.describe() and "without audit" in cfg.describe()
