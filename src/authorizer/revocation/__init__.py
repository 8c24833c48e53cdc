"""Revocation checking (CRL and OCSP) of a verified chain.

Import :mod:`.config` to parse the policy section and :mod:`.checker` for the checker; this
package imports neither the HTTP nor the OCSP machinery until a check needs it, so a policy
without revocation costs nothing at cold start.
"""

from __future__ import annotations

from .config import RevocationConfig
from .status import RevocationStatus

__all__ = ["RevocationConfig", "RevocationStatus"]
