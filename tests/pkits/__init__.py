"""NIST PKITS (2011): all 246 cases of pyhanko-certvalidator's ``pkits.json`` through our
chain validator and revocation checker (fetched by ``scripts/fetch_pkits.py``)."""
