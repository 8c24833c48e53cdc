"""``mtls-authorizer`` (and ``python -m authorizer``): the authorizer's code on a laptop.

Commands: ``verify`` a certificate, ``invoke`` the real handler on an event (what ``sam local
invoke`` would do, without Docker), ``make-event`` for a certificate, ``check-config`` a policy
document, ``doctor`` (why was this refused?), ``demo`` (the README's first command) and ``serve`` a local
mTLS endpoint that behaves like the custom domain.

Exit codes: 0 accepted/valid, 1 refused/invalid, 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or an input file that cannot be read: exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a name or value from a hostile file prints, escaped
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"mtls-authorizer {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtls-authorizer", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("verify", help="verify a client certificate against a truststore (and a policy)")
    v.add_argument("leaf", metavar="LEAF.pem", help="the leaf, optionally followed by intermediates the client sent")
    v.add_argument(
        "--trust-store",
        action="append",
        default=[],
        metavar="FILE",
        help="a bundle with API Gateway's meaning: self-signed = anchor, others = intermediates",
    )
    v.add_argument(
        "--trust-anchor",
        action="append",
        default=[],
        metavar="FILE",
        help="every certificate in FILE is a trust anchor (RFC 5280)",
    )
    v.add_argument("--config", metavar="URI", help="a policy document (path, file:// or s3://)")
    v.add_argument("--at", metavar="ISO8601", help="validation time (default: now)")
    v.add_argument(
        "--eku",
        choices=["clientAuth", "serverAuth", "any"],
        default=None,
        help="required EKU when the leaf has one (default clientAuth, or the policy's)",
    )
    v.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE",
        help="a CRL (PEM or DER); with --crl these are the only revocation sources",
    )
    v.add_argument("--online", action="store_true", help="check revocation with the certificates' own CDP and AIA")
    v.add_argument(
        "--max-chain-length",
        type=int,
        metavar="N",
        help="most certificates from leaf to root (default 4, API Gateway's limit, or the policy's)",
    )
    _policy_arguments(v)
    v.add_argument("--json", action="store_true", help='print {"decision", "reason", "detail", "chain", ...}')
    v.set_defaults(func=cmd_verify)

    i = sub.add_parser("invoke", help="run the real Lambda handler on an event, as sam local invoke would")
    i.add_argument("event", metavar="EVENT.json")
    i.add_argument("--config", metavar="URI", help="policy document (default: $AUTHORIZER_CONFIG or the embedded demo)")
    i.set_defaults(func=cmd_invoke)

    m = sub.add_parser("make-event", help="print an authorizer event carrying a certificate")
    m.add_argument("leaf", metavar="LEAF.pem")
    m.add_argument("--api", choices=["rest", "http1", "http2"], default="rest")
    m.add_argument("--method", default="GET")
    m.add_argument("--path", default="/pets")
    m.set_defaults(func=cmd_make_event)

    c = sub.add_parser("check-config", help="validate a policy document and summarize what it allows")
    c.add_argument("uri", metavar="URI", nargs="?", help="default: $AUTHORIZER_CONFIG or the embedded demo")
    c.set_defaults(func=cmd_check_config)

    g = sub.add_parser("doctor", help="explain a decision stage by stage (why was this request refused?)")
    g.add_argument(
        "input", metavar="EVENT.json|CERT.pem", nargs="?", help="an authorizer event, or a client certificate"
    )
    g.add_argument("--truststore", metavar="BUNDLE", help="lint this truststore bundle (and check CERT against it)")
    g.add_argument("--key", metavar="KEY.pem", help="with --truststore: CERT's private key (same public key?)")
    g.add_argument("--csr", metavar="CSR.pem", help="with --truststore: CERT's CSR (same public key?)")
    g.add_argument("--json", action="store_true", help="with --truststore: one JSON report")
    g.add_argument("--config", metavar="URI", help="policy document (default: $AUTHORIZER_CONFIG or the embedded demo)")
    g.add_argument("--at", metavar="ISO8601", help="decision time (default: now)")
    g.add_argument("--method", default="GET", help="with a certificate: the request's method")
    g.add_argument("--path", default="/", help="with a certificate: the request's path")
    _policy_arguments(g)
    g.set_defaults(func=cmd_doctor)

    from .serve import add_serve_arguments

    sv = sub.add_parser("serve", help="a local mTLS endpoint that runs the real handler like the custom domain")
    add_serve_arguments(sv)
    sv.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="decide every sample event in events/ and print a table")
    d.add_argument("--regenerate", action="store_true", help="make a fresh demo PKI, policy and events first")
    d.add_argument("--root", default=".", help="project folder holding events/ and demo/ (default: .)")
    d.set_defaults(func=cmd_demo)
    return p


# -- verify ---------------------------------------------------------------------------------------


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _certs_in(data: bytes) -> list[Any]:
    """The certificates of a PEM or DER file; ``[]`` when none parses (any parse error:
    cryptography raises more than ``ValueError`` on malformed content)."""
    from cryptography import x509

    from .certificate import PARSE_ERRORS

    if b"-----BEGIN" in data:
        try:
            return list(x509.load_pem_x509_certificates(data))
        except PARSE_ERRORS:
            return []
    try:
        return [x509.load_der_x509_certificate(data)]
    except PARSE_ERRORS:
        return []


def _policy_arguments(p: argparse.ArgumentParser) -> None:
    """RFC 5280 §6.1.1's policy inputs (the policy document's ``validation.policies``)."""
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="OID",
        help="an acceptable certificate policy (repeatable; default: any policy)",
    )
    p.add_argument("--require-explicit-policy", action="store_true", help="the path must carry an acceptable policy")
    p.add_argument("--inhibit-policy-mapping", action="store_true", help="policy mappings are not honoured")
    p.add_argument("--inhibit-any-policy", action="store_true", help="anyPolicy in a CA certificate is not honoured")


def _policy_inputs(args: argparse.Namespace, default: Any) -> Any:
    """The policy inputs: the command line's where it says any, else ``default``."""
    from .validation import PolicyInputs

    if not (args.policy or args.require_explicit_policy or args.inhibit_policy_mapping or args.inhibit_any_policy):
        return default
    base = default or PolicyInputs()
    return PolicyInputs(
        frozenset(args.policy) if args.policy else base.acceptable,
        require_explicit=args.require_explicit_policy or base.require_explicit,
        inhibit_mapping=args.inhibit_policy_mapping or base.inhibit_mapping,
        inhibit_any=args.inhibit_any_policy or base.inhibit_any,
    )


def _trust_file(path: str) -> list[Any]:
    """The certificates of a truststore file, each known to decode (a name that does not would
    otherwise surface as a traceback from path building): a bad one is a usage error."""
    from .certificate import PARSE_ERRORS, decode_fields

    certs = _certs_in(_read(path))
    if not certs:
        raise UsageError(f"{path} holds no certificate")
    for i, cert in enumerate(certs):
        try:
            decode_fields(cert)
        except PARSE_ERRORS as exc:
            raise UsageError(f"{path}: certificate {i + 1} does not parse: {str(exc)[:200]}") from None
    return certs


def _parse_time(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at: not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def cmd_verify(args: argparse.Namespace) -> int:
    from .certificate import checked_certificate
    from .reasons import AuthorizerError, Reason
    from .validation import MAX_CHAIN_LENGTH, ChainValidator, EkuMode, TrustStore, is_self_signed

    at = _parse_time(args.at)
    leaf_data = _read(args.leaf)
    anchors: list[Any] = []
    intermediates: list[Any] = []
    for f in args.trust_store:
        certs = _trust_file(f)
        for cert in certs:  # API Gateway's meaning: self-signed = anchor, others = intermediates
            (anchors if is_self_signed(cert) else intermediates).append(cert)
    for f in args.trust_anchor:
        anchors += _trust_file(f)

    config = None
    if args.config:
        config = _load_config(args.config)
        if not anchors and not intermediates:
            ts = _load_truststore(config.truststore.uri, config.truststore.version)
            anchors, intermediates = list(ts.anchors), list(ts.intermediates)
    if not args.trust_store and not args.trust_anchor and config is None:
        raise UsageError("give --trust-store, --trust-anchor or --config")
    if not anchors:
        raise UsageError("the trust files hold no trust anchor (no self-signed certificate; use --trust-anchor)")

    eku = EkuMode(args.eku) if args.eku else (config.validation.eku if config else EkuMode.CLIENT_AUTH)
    max_len = args.max_chain_length or (config.validation.max_chain_length if config else MAX_CHAIN_LENGTH)
    if not 1 <= max_len <= 16:
        raise UsageError("--max-chain-length: expected 1 to 16")
    validator = ChainValidator(
        TrustStore.from_certs(anchors, intermediates),
        eku=eku,
        max_chain_length=max_len,
        policies=_policy_inputs(args, config.validation.policies if config else None),
        cache_size=0,
    )

    checker = _revocation_checker(args, config, validator)  # before any verdict: a bad --crl file is a usage error
    chain_names: list[str] = []
    extra: dict[str, Any] = {}
    certs = _certs_in(leaf_data)
    try:
        if not certs:
            raise AuthorizerError(Reason.CERT_MALFORMED, f"{args.leaf} holds no certificate")
        sent = [checked_certificate(c, what=f"{args.leaf} certificate {i + 2}").cert for i, c in enumerate(certs[1:])]
        path = validator.validate(checked_certificate(certs[0], what=args.leaf), at, sent)
        chain_names = path.describe()
        extra["policies"] = list(path.policies)
        if checker is not None:
            outcome = checker.check(path.chain, at)
            on_unknown = "deny"
            if not args.crl and config is not None and config.revocation is not None:
                on_unknown = config.revocation.on_unknown
            err = outcome.error(on_unknown)
            if err is not None:
                raise err
        if config is not None:
            config.access.evaluate(path.leaf, path.issuer, None, None, path.policies)
    except AuthorizerError as exc:
        for attr in ("step", "cert"):
            if getattr(exc, attr, ""):
                extra[attr if attr == "step" else "certificate"] = getattr(exc, attr)
        return _verdict(args, False, exc.reason.value, exc.detail, chain_names, extra)
    finally:
        if checker is not None:
            checker.close()
    return _verdict(args, True, Reason.ALLOWED.value, "", chain_names, extra)


def _revocation_checker(args: argparse.Namespace, config: Any, validator: Any) -> Any:
    """--crl: only those CRLs, every certificate below the anchor must be covered; --online: the
    certificates' own CDP and AIA; otherwise the policy's revocation section, if any. CRLs
    signed by another certificate than the issuer are checked through validate_signer."""
    from .reasons import AuthorizerError
    from .revocation.checker import RevocationChecker

    signers: dict[str, Any] = {
        "signer_validator": lambda cert, pool, at: validator.validate_signer(cert, at, pool).chain,
        "signer_pool": (*validator.truststore.anchors, *validator.truststore.intermediates),
    }
    if args.crl:
        try:
            return RevocationChecker.from_crl_files(args.crl, **signers)
        except AuthorizerError as exc:  # unreadable or not a CRL: a usage error (exit 2)
            raise UsageError(exc.detail) from None
    if args.online:
        return RevocationChecker.online(config.revocation if config is not None else None, **signers)
    if config is not None and config.revocation is not None:
        return RevocationChecker(config.revocation, **signers)
    return None


def _verdict(
    args: argparse.Namespace, allowed: bool, reason: str, detail: str, chain: list[str], extra: dict[str, Any]
) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "decision": "allow" if allowed else "deny",
                    "reason": reason,
                    "detail": detail,
                    "chain": chain,
                    **extra,
                }
            )
        )
    else:
        print(f"{'ACCEPTED' if allowed else 'REFUSED'}: {reason}" + (f" - {detail}" if detail else ""))
        for depth, name in enumerate(chain):
            print(f"  {depth}: {name}")
        if extra.get("policies"):
            print(f"  policies: {', '.join(extra['policies'])}")
    return EXIT_OK if allowed else EXIT_REFUSED


# -- configuration ---------------------------------------------------------------------------------


def _load_config(uri: str) -> Any:
    from .config import PolicyConfig
    from .reasons import AuthorizerError
    from .sources.blob import Fetchers

    try:
        blob = Fetchers().fetch(uri)
        assert blob is not None
        return PolicyConfig.from_json(blob.data, uri)
    except AuthorizerError as exc:
        raise UsageError(f"{exc.reason.value}: {exc.detail}") from None


def _load_truststore(uri: str, version: str | None) -> Any:
    from .certificate import PARSE_ERRORS
    from .reasons import AuthorizerError
    from .sources.blob import Fetchers
    from .validation import TrustStore

    try:
        blob = Fetchers().fetch(uri, version=version)
        assert blob is not None
        return TrustStore.from_pem(blob.data, uri)
    except AuthorizerError as exc:
        raise UsageError(str(exc)) from None
    except PARSE_ERRORS as exc:
        raise UsageError(f"{uri}: {str(exc)[:300] or type(exc).__name__}") from None


def cmd_check_config(args: argparse.Namespace) -> int:
    from .certificate import PARSE_ERRORS
    from .config import PolicyConfig
    from .reasons import AuthorizerError
    from .runtime import config_uri_from_env
    from .sources.blob import Fetchers
    from .validation import TrustStore

    uri = args.uri or config_uri_from_env()
    fetchers = Fetchers()
    try:
        blob = fetchers.fetch(uri)
        assert blob is not None
        config = PolicyConfig.from_json(blob.data, uri)
    except AuthorizerError as exc:
        print(f"INVALID {uri}\n  {exc.reason.value}: {exc.detail}")
        return EXIT_REFUSED
    problems: list[str] = []
    try:
        ts_blob = fetchers.fetch(config.truststore.uri, version=config.truststore.version)
        assert ts_blob is not None
        ts = TrustStore.from_pem(ts_blob.data, config.truststore.uri)
        problems = [f"truststore: {p}" for p in ts.problems(dt.datetime.now(dt.UTC))]
        ts_line = f"truststore: {len(ts.anchors)} anchor(s), {len(ts.intermediates)} intermediate(s)"
    except AuthorizerError as exc:
        print(f"INVALID {uri}\n  truststore.uri: {exc.detail}")
        return EXIT_REFUSED
    except PARSE_ERRORS as exc:
        print(f"INVALID {uri}\n  truststore.uri: {str(exc)[:200] or type(exc).__name__}")
        return EXIT_REFUSED
    from .validation.hygiene import hygiene_notes

    notes = [
        f"note: {cert.subject.rfc4514_string()}: {note} (admitted; worth fixing at the CA)"
        for cert in (*ts.anchors, *ts.intermediates)
        for note in hygiene_notes(cert)
    ]
    print(f"VALID {uri}")
    for line in [*config.summary(), ts_line, *problems, *notes]:
        print(f"  {line}")
    return EXIT_OK


# -- invoke / make-event ---------------------------------------------------------------------------


def cmd_invoke(args: argparse.Namespace) -> int:
    try:
        event = json.loads(_read(args.event))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.event} is not JSON: {exc}") from None
    response = invoke_handler(event, args.config)
    print(json.dumps(response, indent=2))
    from .response import is_allow

    return EXIT_OK if is_allow(response) else EXIT_REFUSED


def invoke_handler(event: Any, config: str | None = None) -> dict[str, Any]:
    """Run ``authorizer.app.lambda_handler`` as Lambda would; its logs and metrics go to stderr."""
    os.environ.setdefault("AUTHORIZER_LOG_STREAM", "stderr")
    if config:
        os.environ["AUTHORIZER_CONFIG"] = config
    from . import app

    if config or app._runtime is None:
        app.reset_runtime(None)
    with contextlib.redirect_stdout(sys.stderr):
        response: dict[str, Any] = app.lambda_handler(event, _LambdaContext())
    return response


class _LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "mtls-authorizer-local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mtls-authorizer-local"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/mtls-authorizer-local"
    log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def cmd_make_event(args: argparse.Namespace) -> int:
    from .events import make_event

    data = _read(args.leaf)
    certs = _certs_in(data)
    if not certs:
        raise UsageError(f"{args.leaf} holds no certificate")
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = certs[0].public_bytes(Encoding.PEM).decode()
    print(json.dumps(make_event(pem, api=args.api, method=args.method, path=args.path), indent=2))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run each stage separately and say where and why a request is refused, with a hint."""
    from .certificate import parse_pem_certificate
    from .events import make_event
    from .reasons import HINTS, AuthorizerError, Reason
    from .request import parse_event
    from .runtime import Runtime, config_uri_from_env
    from .validation.hygiene import hygiene_notes

    if args.truststore:
        return _doctor_bundle(args)
    if args.input is None:
        raise UsageError("give EVENT.json or CERT.pem, or --truststore BUNDLE")
    data = _read(args.input)
    at = _parse_time(args.at)
    if data.lstrip().startswith(b"{"):
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{args.input} is not JSON: {exc}") from None
    else:
        certs = _certs_in(data)
        if not certs:
            raise UsageError(f"{args.input} is neither an event (JSON) nor a certificate")
        from cryptography.hazmat.primitives.serialization import Encoding

        event = make_event(certs[0].public_bytes(Encoding.PEM).decode(), method=args.method, path=args.path)

    def step(name: str, text: str) -> None:
        print(f"{name:<12} {text}")

    def refuse(exc: AuthorizerError) -> int:
        failed = getattr(exc, "step", "")
        where = f"\nfailed at: step '{failed}' (RFC 5280 §6.1 or a product rule) on {exc.cert}" if failed else ""  # type: ignore[attr-defined]
        print(f"\nDENY {exc.reason.value}: {exc.detail}{where}\nhint: {HINTS[exc.reason]}")
        return EXIT_REFUSED

    uri = args.config or config_uri_from_env()
    step("time", at.isoformat())
    try:
        request = parse_event(event)
        step("event", f"{request.kind.value} {request.route} ({request.arn})")
        snapshot = Runtime(uri).load()
        deps = snapshot.deps
        step("policy", f"{uri}")
        for line in deps.config.summary():
            step("", line)
        leaf = parse_pem_certificate(request.cert_pem)
        cert = leaf.cert
        step("certificate", f"subject {leaf.subject}")
        step("", f"issuer {leaf.issuer}, serial {leaf.serial_hex}")
        step("", f"valid {leaf.not_before.isoformat()} .. {leaf.not_after.isoformat()}")
        step("", f"key {_key_name(cert)}, signature {cert.signature_algorithm_oid._name}")
        step("", f"SANs {', '.join(leaf.sans) or '(none)'}, sha256 {leaf.fingerprint_sha256}")
        validator = deps.validator
        policies = _policy_inputs(args, None)
        if policies is not None:
            from .validation import ChainValidator

            validator = ChainValidator(
                validator.truststore,
                eku=validator.eku,
                max_chain_length=validator.max_chain_length,
                policies=policies,
                cache_size=0,
            )
        step("", f"policies asked: {validator.policies.describe()}")
        for note in hygiene_notes(cert):
            step("", f"note: {note} (admitted; worth fixing at the CA)")
        path = validator.validate(leaf, at)
        step("chain", " <- ".join(path.describe()))
        step("", f"valid policies: {', '.join(path.policies) or '(none)'}")
        for ca in path.chain[1:]:
            for note in hygiene_notes(ca):
                step("", f"note on {ca.subject.rfc4514_string()}: {note}")
        if deps.revocation is not None and deps.config.revocation is not None:
            outcome = deps.revocation.check(path.chain, at)
            step("revocation", outcome.status.name)
            for cs in outcome.certs:
                step("", f"{cs.subject}: {cs.status.name} via {cs.source} {cs.detail}".rstrip())
            error = outcome.error(deps.config.revocation.on_unknown)
            if error is not None:
                raise error
        else:
            step("revocation", "not checked (no 'revocation' section)")
        grant = deps.config.access.evaluate(path.leaf, path.issuer, request.verb, request.path, path.policies)
        step(
            "access", f"principal {grant.principal_id}" + (f", client {grant.client_name}" if grant.client_name else "")
        )
    except AuthorizerError as exc:
        return refuse(exc)
    print(f"\nALLOW {Reason.ALLOWED.value}")
    return EXIT_OK


def _doctor_bundle(args: argparse.Namespace) -> int:
    """``doctor --truststore``: the logic is in :mod:`authorizer.bundle_doctor`."""
    from .bundle_doctor import DoctorInputError, doctor

    names = (args.input or "certificate", args.key or "key", args.csr or "csr")
    try:
        report = doctor(
            _read(args.truststore), _parse_time(args.at), source=args.truststore,
            cert=_read(args.input) if args.input else None, key=_read(args.key) if args.key else None,
            csr=_read(args.csr) if args.csr else None, names=names,
        )  # fmt: skip
    except DoctorInputError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(report.to_dict(), indent=2) if args.json else "\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_REFUSED


def _key_name(cert: Any) -> str:
    """The public key's type, or why it cannot be read (the chain step then names the reason)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from .certificate import PARSE_ERRORS

    try:
        return type(cert.public_key()).__name__
    except UnsupportedAlgorithm as exc:
        return f"unsupported ({str(exc)[:120]})"
    except PARSE_ERRORS as exc:
        return f"unreadable ({str(exc)[:120] or type(exc).__name__})"


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve_main

    return serve_main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.root), regenerate=args.regenerate)
