"""Path validation of client certificates: RFC 5280 §6.1, our own, on ``cryptography``'s parsing.

``cryptography.x509.verification`` is the CA/Browser Forum web-server profile and cannot be
configured out of it (v1 certificates, CAs without keyUsage, policy constraints, directoryName
and URI name constraints are refused; no policy processing). Private client PKIs need RFC 5280
itself, so this package builds and validates paths, and ``cryptography`` parses and verifies
signatures. Modules: :mod:`rules` (API Gateway's algorithm rules, EKU modes), :mod:`facts`
(one certificate read once), :mod:`names` (name constraints), :mod:`policies` (the policy
graph), :mod:`state` (§6.1 per certificate), :mod:`builder` (path building), :mod:`validator`
(the validator, its caches and the product rules), :mod:`truststore`.
"""

from .names import MAX_COMPARISONS, MAX_SUBTREES
from .policies import ANY_POLICY, PolicyInputs
from .rules import MAX_CHAIN_LENGTH, EkuMode, algorithm_problem, is_self_signed, outside_window, validity_problem
from .state import PathValidationError
from .truststore import TrustStore
from .validator import ChainValidator, VerifiedPath

__all__ = [
    "ANY_POLICY",
    "MAX_CHAIN_LENGTH",
    "MAX_COMPARISONS",
    "MAX_SUBTREES",
    "ChainValidator",
    "EkuMode",
    "PathValidationError",
    "PolicyInputs",
    "TrustStore",
    "VerifiedPath",
    "algorithm_problem",
    "is_self_signed",
    "outside_window",
    "validity_problem",
]
