"""The PKITS cases a product rule of ours refuses, with the rule and the exact reason we give.

The test asserts we give exactly this reason for each (and that every other case passes). The
rules are API Gateway's (its mTLS accepts only RSA >= 2048 / ECDSA P-256, P-384 with SHA-256 or
stronger) and the product's own (a CA certificate is never a client identity).
"""

from __future__ import annotations

from dataclasses import dataclass

from authorizer.reasons import Reason


@dataclass(frozen=True)
class Refused:
    rule: str
    reason: Reason


DSA = "DSA keys and signatures: API Gateway accepts RSA >= 2048 and ECDSA P-256/P-384 only"
CA_CLIENT = "a CA certificate is never a client identity (the PKITS end entity here is a CA)"

#: PKITS case id -> the rule that refuses it and the reason we answer with.
EXCEPTIONS: dict[str, Refused] = {
    # 4.1.4 Valid DSA Signatures Test4: DSA CA, DSA-signed end entity.
    "40104": Refused(DSA, Reason.INSECURE_ALGORITHM),
    # 4.1.5 Valid DSA Parameter Inheritance Test5: the end entity's DSA key inherits its
    # parameters (an SPKI without parameters, which cryptography cannot even parse).
    "40105": Refused(DSA, Reason.CERT_MALFORMED),
    # 4.6.8 / 4.6.14 Valid pathLenConstraint Test8 / Test14: the "end entity" is a CA
    # certificate (PKITS checks that pathLenConstraint 0 still allows a CA below it).
    "40608": Refused(CA_CLIENT, Reason.CHAIN_INVALID),
    "40614": Refused(CA_CLIENT, Reason.CHAIN_INVALID),
    # 4.8.6 Overlapping Policies Test6 (both variants of the case): the end entity is a CA.
    "40806": Refused(CA_CLIENT, Reason.CHAIN_INVALID),
    # 4.14.11 Invalid onlyContainsUserCerts CRL Test11: the end entity is a CA certificate
    # (PKITS expects REVOCATION_UNKNOWN because the CRL only covers end entities; the chain
    # stage refuses it first).
    "41411": Refused(CA_CLIENT, Reason.CHAIN_INVALID),
    # 4.14.13 Valid onlyContainsCACerts CRL Test13: the "end entity" is a CA certificate.
    "41413": Refused(CA_CLIENT, Reason.CHAIN_INVALID),
}
