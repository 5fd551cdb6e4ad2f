"""Authenticators: a plugin asks a person for credentials through its run's status.

The plugin sets its run ``user_action_needed``; an operator answers with
``plugyard pod credentials RUN_ID --username NAME`` (the password is read from a prompt or
stdin), which stores an Account for the run and makes it ``ready``; the plugin reads the
Account and logs in. Secrets are never logged, printed or put in events.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._item import Account, PluginRun
from ._plugin import PluginAborted
from ._status import RunStatus

if TYPE_CHECKING:
    from ._client import PodClient

__all__ = [
    "AuthenticationFailed",
    "AuthenticationTimeout",
    "Authenticator",
    "OAuthAuthenticator",
    "PasswordAuthenticator",
]

logger = logging.getLogger("plugyard.sdk.pod.auth")
_T = TypeVar("_T")


class AuthenticationFailed(RuntimeError):
    """Every attempt failed (wrong credentials, or an operator set the run ``error``)."""


class AuthenticationTimeout(AuthenticationFailed, TimeoutError):
    """Nobody supplied credentials within the authenticator's ``timeout``."""


class Authenticator:
    """What both authenticators share: ask, wait for ``ready``, read the Account.

    ``max_attempts`` bounds the tries, ``timeout`` (seconds) the whole exchange, and
    ``poll_interval`` how often the run is read while waiting.
    """

    def __init__(
        self,
        client: PodClient,
        plugin_run: PluginRun,
        *,
        max_attempts: int = 3,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
    ) -> None:
        if plugin_run is None or plugin_run.id is None:
            raise ValueError("an authenticator needs the plugin's stored PluginRun")
        if max_attempts < 1 or timeout <= 0 or poll_interval <= 0:
            raise ValueError("max_attempts, timeout and poll_interval must be positive")
        self.client = client
        self.run_id: str = plugin_run.id
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.poll_interval = poll_interval

    def _ask(self, message: str, **changes: Any) -> None:
        self.client.update_run(
            self.run_id, status=RunStatus.USER_ACTION_NEEDED.value, message=message, **changes
        )

    def _wait_ready(self, deadline: float) -> Account:
        """Poll the run until an operator makes it ``ready``; returns the Account."""
        while True:
            status = self.client.get_run(self.run_id).status
            if status == RunStatus.READY:
                account = self.client.get_account(self.run_id)
                if account is not None:
                    return account
            elif status == RunStatus.ABORTED:
                raise PluginAborted("the run was aborted while waiting for credentials")
            elif status == RunStatus.ERROR:
                raise AuthenticationFailed("the run was set to error while waiting for credentials")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthenticationTimeout(
                    f"no credentials were supplied within {self.timeout:g}s "
                    f"(plugyard pod credentials {self.run_id} ...)"
                )
            time.sleep(min(self.poll_interval, remaining))

    def _attempts(self, ask: Callable[[int], None], use: Callable[[Account], _T]) -> _T:
        deadline = time.monotonic() + self.timeout
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            ask(attempt)
            account = self._wait_ready(deadline)
            try:
                result = use(account)
            except PluginAborted:
                raise
            except Exception as exc:
                last = exc
                logger.warning(
                    "run %s: authentication attempt %d of %d failed: %s",
                    self.run_id,
                    attempt,
                    self.max_attempts,
                    type(exc).__name__,
                )
                account.error_message = f"attempt {attempt} failed: {type(exc).__name__}"
                self.client.update(account)
                continue
            self.client.update_run(
                self.run_id, status=RunStatus.STARTED.value, message="authenticated"
            )
            return result
        raise AuthenticationFailed(
            f"authentication failed {self.max_attempts} times"
            + (f" (last: {type(last).__name__})" if last else "")
        )


class PasswordAuthenticator(Authenticator):
    """Log in with a username and password that an operator supplies for the run.

    Example::

        auth = PasswordAuthenticator(self.client, self.plugin_run)
        session = auth.authenticate(lambda username, password: service.login(username, password))
    """

    def authenticate(self, login: Callable[[str, str], _T]) -> _T:
        """Ask for credentials and call ``login(username, password)`` until it succeeds.

        ``login`` signals wrong credentials by raising; after ``max_attempts`` failures this
        raises :class:`AuthenticationFailed`.
        """

        def ask(attempt: int) -> None:
            again = "" if attempt == 1 else f" (attempt {attempt} of {self.max_attempts})"
            self._ask(
                f"credentials needed{again}: plugyard pod credentials {self.run_id} --username NAME"
            )

        def use(account: Account) -> _T:
            if not account.identifier or account.secret is None:
                raise ValueError("the account has no username or no password")
            return login(account.identifier, account.secret)

        return self._attempts(ask, use)


class OAuthAuthenticator(Authenticator, abc.ABC):
    """OAuth: reuse or refresh stored tokens, else send a person to the service's page.

    Subclasses implement the four service-specific steps. The code the service hands back
    is supplied with ``plugyard pod credentials RUN_ID --code CODE``.
    """

    @abc.abstractmethod
    def get_oauth_url(self) -> str:
        """The page where a person grants access."""

    @abc.abstractmethod
    def get_tokens_from_code(self, code: str) -> dict[str, str]:
        """Exchange a code for ``{"access_token": ..., "refresh_token": ...}``."""

    @abc.abstractmethod
    def refresh_tokens(self, refresh_token: str) -> dict[str, str] | None:
        """New tokens from a refresh token, or ``None`` when it no longer works."""

    @abc.abstractmethod
    def verify_access_token(self, access_token: str) -> bool:
        """Whether an access token still works."""

    def _store(self, account: Account, tokens: dict[str, str]) -> Account:
        account.access_token = tokens.get("access_token")
        account.refresh_token = tokens.get("refresh_token", account.refresh_token)
        account.code = None
        account.error_message = None
        self.client.update(account)
        return account

    def authenticate(self) -> Account:
        """Return an Account holding a working access token."""
        account = self.client.get_account(self.run_id)
        if account is not None:
            if account.access_token and self.verify_access_token(account.access_token):
                return account
            if account.refresh_token:
                tokens = self.refresh_tokens(account.refresh_token)
                if tokens:
                    return self._store(account, tokens)
        url = self.get_oauth_url()

        def ask(attempt: int) -> None:
            self._ask(f"open {url} and grant access (attempt {attempt})", auth_url=url)

        def use(account: Account) -> Account:
            if not account.code:
                raise ValueError("the account has no code")
            return self._store(account, self.get_tokens_from_code(account.code))

        return self._attempts(ask, use)
