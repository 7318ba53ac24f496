"""GitHub's registry and the Action's `github-token`: the one place the product knows GitHub.

The library stays generic: it accepts a credential provider, consulted after
explicit credentials and the Docker config. The Action passes this one.
"""

from __future__ import annotations

from ..options import CredentialProvider
from ..transport.credentials import Credential
from ..types.secret import Secret

#: GitHub's registry, where the Action's `github-token` is the credential of last resort.
GHCR = "ghcr.io"
#: GHCR authenticates the token and does not check the user name (docker/login-action's
#: examples pass the actor); GITHUB_TOKEN is an app installation token, whose conventional
#: user name is this one.
GITHUB_TOKEN_USERNAME = "x-access-token"


def github_token_provider(token: Secret | None) -> CredentialProvider | None:
    """The token as ghcr.io's credential; nothing for any other registry."""
    if token is None or not token.get_secret_value():
        return None

    def provide(registry: str) -> Credential | None:
        return Credential(GITHUB_TOKEN_USERNAME, token) if registry == GHCR else None

    return provide
