"""Who may call what: last-intermediate pinning, a deny list, and a client allow list with routes.

Split by concern: :mod:`.facts` (a certificate's match values), :mod:`.match` (one ``match``
object), :mod:`.index` (entries indexed for look-up), :mod:`.access` (the entries, the document's
sections and :meth:`AccessPolicy.evaluate`; its docstring has the rules).
"""

from ..routes import VERBS, RouteRule
from .access import AccessPolicy, Grant, Pin
from .facts import CertFacts, cert_facts
from .match import Match, Pattern

__all__ = [
    "VERBS",
    "AccessPolicy",
    "CertFacts",
    "Grant",
    "Match",
    "Pattern",
    "Pin",
    "RouteRule",
    "cert_facts",
]
