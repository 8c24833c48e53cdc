"""The CRL index file: what the writer refuses, and that a loaded index answers like its CRL."""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import make_crl, make_large_crl_der, ocsp_index_line
from authorizer.revocation.crl import CrlError, CrlIndex
from authorizer.revocation.crl_idx import HEADER, Header, IndexError_, issuing_ca, load_index
from authorizer.revocation.crl_idx_write import IndexRefused, build_index, encode_index
from tests.pki import CA, NOW

DAY = dt.timedelta(days=1)
SKEW = dt.timedelta(seconds=300)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("Idx Root")
    return root, root.intermediate("Idx Issuing")


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def crl_of(ca: CA, revoked: list[int | tuple[int, x509.ReasonFlags | None]], **kw: object) -> bytes:
    return der(make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY, **kw))  # type: ignore[arg-type]


def test_round_trip_answers_like_the_crl(pki: tuple[CA, CA]) -> None:
    root, ca = pki
    low_twin = 5 + (7 << 64)  # same low 64 bits as 5: the high column settles it
    data = crl_of(ca, [5, (low_twin, x509.ReasonFlags.key_compromise), (2**158 + 3, x509.ReasonFlags.superseded)])
    index = build_index(data, "c.crl", [root.cert, ca.cert], NOW)
    loaded = load_index(index, "c.crl.idx")
    crl = CrlIndex.from_bytes(data, "c.crl")
    assert set(loaded.crl.serials) == set(crl.serials) == {5, low_twin, 2**158 + 3}
    for serial in (5, low_twin, 2**158 + 3, 6, 5 + (8 << 64), 2**159, -1):
        assert (serial in loaded.crl.serials) is (serial in crl.serials)
    assert (loaded.crl.issuer, loaded.crl.number, loaded.crl.this_update, loaded.crl.next_update) == (
        crl.issuer,
        crl.number,
        crl.this_update,
        crl.next_update,
    )
    table = loaded.crl.serials
    entries = sorted(table.entry(i) for i in range(len(table)))  # type: ignore[attr-defined]
    assert [(e[0], e[2]) for e in entries] == [(5, 255), (low_twin, 1), (2**158 + 3, 4)]
    assert all(e[1] == NOW - DAY for e in entries)
    assert issuing_ca(loaded.crl, [root.cert, ca.cert]) is ca.cert
    assert issuing_ca(loaded.crl, [root.cert]) is None
    revoked_leaf = ca.issue("CN=revoked", serial=low_twin).cert
    good_leaf = ca.issue("CN=good", serial=6).cert
    assert loaded.crl.verdict(revoked_leaf, ca.cert, NOW, SKEW).revoked
    verdict = loaded.crl.verdict(good_leaf, ca.cert, NOW, SKEW)
    assert verdict.usable and verdict.complete and not verdict.revoked


def test_encoding_is_deterministic_and_records_the_crl(pki: tuple[CA, CA]) -> None:
    import hashlib

    _, ca = pki
    data = crl_of(ca, [9, 10, 11])
    first = build_index(data, "a", [ca.cert], NOW)
    assert first == encode_index(data, CrlIndex.from_bytes(data, "b"))
    header = Header.unpack(first)
    assert header.crl_sha256 == hashlib.sha256(data).digest()
    assert (header.count, header.number, header.key_width) == (3, 1, 8)
    assert header.next_update == int((NOW + DAY).timestamp())


def test_delta_crl_keeps_remove_from_crl_apart(pki: tuple[CA, CA]) -> None:
    _, ca = pki
    data = crl_of(
        ca,
        [21, (22, x509.ReasonFlags.remove_from_crl)],
        crl_number=5,
        extensions=[(x509.DeltaCRLIndicator(4), True)],
    )
    loaded = load_index(build_index(data, "d", [ca.cert], NOW), "d.idx").crl
    assert loaded.delta and loaded.base_number == 4 and loaded.number == 5
    assert 21 in loaded.serials and 22 not in loaded.serials
    assert loaded.unlists(loaded.issuer_key, 22) and not loaded.unlists(loaded.issuer_key, 21)


def test_scope_is_carried_by_the_shell(pki: tuple[CA, CA]) -> None:
    _, ca = pki
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier("http://127.0.0.1/p1.crl")],
        relative_name=None,
        only_contains_user_certs=True,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    data = crl_of(ca, [1], extensions=[(idp, True)])
    loaded = load_index(build_index(data, "p", [ca.cert], NOW), "p.idx").crl
    assert loaded.idp == idp
    other_partition = ca.issue("CN=p2", serial=1, crl_urls=["http://127.0.0.1/p2.crl"]).cert
    assert not loaded.verdict(other_partition, ca.cert, NOW, SKEW).usable
    same_partition = ca.issue("CN=p1", serial=1, crl_urls=["http://127.0.0.1/p1.crl"]).cert
    assert loaded.verdict(same_partition, ca.cert, NOW, SKEW).revoked


def test_writer_refuses_what_the_authorizer_would_not_use(pki: tuple[CA, CA]) -> None:
    root, ca = pki
    pool = [root.cert, ca.cert]
    stale = der(make_crl(ca, [], this_update=NOW - 3 * DAY, next_update=NOW - 2 * DAY))
    with pytest.raises(IndexRefused, match="expired"):
        build_index(stale, "s", pool, NOW)
    forged = crl_of(ca, [1], signer=root.key)
    with pytest.raises(IndexRefused, match="truststore CA"):
        build_index(forged, "f", pool, NOW)
    with pytest.raises(IndexRefused, match="truststore CA"):
        build_index(crl_of(ca, [1]), "n", [root.cert], NOW)
    previous = Header.unpack(build_index(crl_of(ca, [1], crl_number=7), "p", pool, NOW))
    with pytest.raises(IndexRefused, match="lower than the indexed 7"):
        build_index(crl_of(ca, [1], crl_number=6), "p", pool, NOW, previous=previous)
    assert build_index(crl_of(ca, [1], crl_number=7), "p", pool, NOW, previous=previous)
    with pytest.raises(CrlError):
        build_index(b"not a crl", "x", pool, NOW)


def test_indirect_crl_with_entries_for_another_issuer_is_not_indexed(pki: tuple[CA, CA]) -> None:
    root, ca = pki
    idp = x509.IssuingDistributionPoint(None, None, False, False, None, True, False)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(77)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(root.cert.subject)]), critical=True)
        .build()
    )
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=ca.cert.subject,
        last_update=NOW - DAY,
        next_update=NOW + DAY,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
            x509.Extension(idp.oid, True, idp),
        ],
        revoked_certificates=[entry],
    )
    data = der(builder.sign(ca.key, ca.cert.signature_hash_algorithm))  # type: ignore[arg-type]
    with pytest.raises(IndexRefused, match="other certificate issuers"):
        build_index(data, "i", [root.cert, ca.cert], NOW)


def test_tampered_or_truncated_index_is_refused(pki: tuple[CA, CA]) -> None:
    _, ca = pki
    index = build_index(crl_of(ca, [1, 2, 3]), "t", [ca.cert], NOW)
    with pytest.raises(IndexError_, match="size"):
        load_index(index[:-1], "t")
    with pytest.raises(IndexError_, match="magic"):
        load_index(b"X" + index[1:], "t")
    with pytest.raises(IndexError_, match="version"):
        load_index(index[:8] + struct.pack(">H", 3) + index[10:], "t")
    with pytest.raises(IndexError_, match=r"version 1 indexes are unsigned"):
        load_index(index[:8] + struct.pack(">H", 1) + index[10:], "t")
    header = Header.unpack(index)
    later = Header(**{**header.__dict__, "next_update": header.next_update + 86400 * 365})
    with pytest.raises(IndexError_, match="nextUpdate"):
        load_index(later.pack() + index[HEADER.size :], "t")
    bumped = Header(**{**header.__dict__, "number": 99})
    with pytest.raises(IndexError_, match="CRL number"):
        load_index(bumped.pack() + index[HEADER.size :], "t")


def test_crl_made_by_openssl_ca_indexes(pki: tuple[CA, CA], tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl command line is required by the test suite")
    _, ca = pki
    revoked = ca.issue("CN=openssl revoked").cert
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "ca.key").write_bytes(ca.key_pem)
    (tmp_path / "index.txt").write_text(ocsp_index_line(revoked, revoked_at=NOW - 2 * DAY, reason="keyCompromise"))
    (tmp_path / "crlnumber").write_text("2A\n")
    (tmp_path / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n"
        "crl_extensions = ext\n[ext]\nauthorityKeyIdentifier = keyid:always\n"
    )
    subprocess.run(
        [
            *("openssl", "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem"),
            *("-crl_lastupdate", (NOW - DAY).strftime("%Y%m%d%H%M%SZ"), "-crl_nextupdate", "99991231235959Z"),
            *("-out", "crl.pem"),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    pem = (tmp_path / "crl.pem").read_bytes()
    index = build_index(pem, "o", [ca.cert], NOW)
    loaded = load_index(index, "o.idx")
    assert loaded.crl.number == 0x2A and revoked.serial_number in loaded.crl.serials
    assert loaded.header.key_id == ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    entry = loaded.crl.serials.entry(0)  # type: ignore[attr-defined]
    assert entry == (revoked.serial_number, NOW - 2 * DAY, 1)


def test_large_crl_round_trip(pki: tuple[CA, CA]) -> None:
    _, ca = pki
    serials = [(i * 0x9E3779B97F4A7C15) % 2**130 + 1 for i in range(20_000)]
    data = make_large_crl_der(ca, serials, this_update=NOW - DAY, next_update=NOW + DAY, with_reason=True)
    loaded = load_index(build_index(data, "big", [ca.cert], NOW), "big.idx").crl
    assert len(loaded.serials) == len(set(serials))
    assert all(s in loaded.serials for s in serials[::97])
    assert not any(s + 2**131 in loaded.serials for s in serials[::97])


def test_audit_finds_any_difference_from_the_crl(pki: tuple[CA, CA]) -> None:
    from authorizer.revocation.crl_idx_write import audit_problem

    _, ca = pki
    data = crl_of(ca, [(4, x509.ReasonFlags.superseded), 2**90, 12])
    index = build_index(data, "a", [ca.cert], NOW)
    assert audit_problem(data, load_index(index, "a")) is None
    flipped = index[:-1] + bytes([index[-1] ^ 1])  # the last entry's reason
    assert "changes the entry" in (audit_problem(data, load_index(flipped, "a")) or "")
    other = crl_of(ca, [(4, x509.ReasonFlags.superseded), 2**90, 12, 13])
    assert "not the one the index names" in (audit_problem(other, load_index(index, "a")) or "")
    # The same CRL re-signed with one entry less, but an index pretending to be for the original.
    fewer = build_index(crl_of(ca, [(4, x509.ReasonFlags.superseded), 2**90]), "a", [ca.cert], NOW)
    header = Header.unpack(fewer)
    relabelled = Header(**{**header.__dict__, "crl_sha256": Header.unpack(index).crl_sha256})
    assert "shell" in (audit_problem(data, load_index(relabelled.pack() + fewer[HEADER.size :], "a")) or "")
