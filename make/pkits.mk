# NIST PKITS (2011) for the test suite: fetched from PyPI (the pyhanko-certvalidator 0.33.0
# sdist, pinned SHA-256) into the git-ignored .cache/pkits by an install step, never by a test.
# Included from the top-level Makefile (which defines BIN and STAMP). The script returns at once
# when the cache already holds the pinned version, so `make unit` pays nothing after the first run.

PKITS_CACHE ?= .cache/pkits

.PHONY: pkits

## Fetch (or confirm) the PKITS cache that tests/pkits reads.
pkits: $(STAMP)
	$(BIN)/python scripts/fetch_pkits.py --cache $(PKITS_CACHE)
