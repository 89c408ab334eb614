"""Every default of the two resources' specs, in one place. Pure data.

The spec models (:mod:`.specs`), the token-service client, the Secret writer and the CLI take
their defaults from here, and a test holds the CRDs' ``default:`` values equal to them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AZURE_RESOURCE",
    "CONSOLE_PATH_PREFIX",
    "CREDENTIALS_SOURCE",
    "DEFAULT_TTL",
    "MAX_TTL",
    "SECRET_FORMAT",
    "SECRET_TOKEN_KEY",
    "SECRET_TYPE",
    "TOKEN_SERVICE_HOST",
    "TOKEN_SERVICE_TIMEOUT",
    "TTL_CEILING",
]

#: ``tokenService.host``: Phase Cloud's console.
TOKEN_SERVICE_HOST: Final = "https://console.phase.dev"
#: ``tokenService.pathPrefix``: the console serves the API under this path ("" for an API host).
CONSOLE_PATH_PREFIX: Final = "/service/public"
#: ``tokenService.timeoutSeconds``.
TOKEN_SERVICE_TIMEOUT: Final = 15.0
#: ``defaultTTL``: seconds, for bindings that do not ask for a ``ttl``.
DEFAULT_TTL: Final = 3600
#: ``maxTTL``: the longest ``ttl`` a binding may ask for, in seconds.
MAX_TTL: Final = 86400
#: No TTL, default or maximum may exceed a year.
TTL_CEILING: Final = 31_536_000
#: ``azure.resource``: the Entra resource (audience) tokens are requested for.
AZURE_RESOURCE: Final = "https://management.azure.com/"
#: ``credentials.source``: the operator pod's own projected credentials.
CREDENTIALS_SOURCE: Final = "Operator"
#: ``secret.keys.token``: the key Phase's own Kubernetes operator reads.
SECRET_TOKEN_KEY: Final = "token"
#: ``secret.type``.
SECRET_TYPE: Final = "Opaque"
#: ``secret.format``.
SECRET_FORMAT: Final = "Token"
