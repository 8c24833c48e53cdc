"""Test PKI factory: re-exports :mod:`authorizer.devpki` with the fixed clock the tests use."""

from __future__ import annotations

import datetime as dt

from authorizer.devpki import CA, Issued, new_key, parse_name, self_signed_leaf, shared_key, to_pem

#: The fixed validation time of every test: certificates from devpki are valid 2025-2045.
NOW = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=dt.UTC)

__all__ = ["CA", "NOW", "Issued", "new_key", "parse_name", "self_signed_leaf", "shared_key", "to_pem"]
