"""apigw-mtls-authorizer: a Lambda REQUEST authorizer for API Gateway mutual TLS.

API Gateway checks a client certificate only against its truststore; this package re-validates
it and adds what API Gateway leaves out: revocation (CRL, OCSP), last-intermediate pinning and
per-route client policy. Importing the package is cheap: heavy modules load where they are used.
"""

__version__ = "0.1.0"
