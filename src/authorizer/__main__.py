"""``python -m authorizer``: the same command line as ``mtls-authorizer``."""

from .cli import main

raise SystemExit(main())
