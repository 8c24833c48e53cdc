"""The three answers a revocation source can give. Kept apart so every module can share them
without importing the checker."""

from __future__ import annotations

import enum


class RevocationStatus(enum.Enum):
    GOOD = "GOOD"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"
