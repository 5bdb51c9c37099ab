"""The small exception family for everything that crosses the wire to the provider.

Views and services catch ``ProviderError`` (or one of its kinds) and show
``message``: plain words meant for an operator; ``failed_step`` names the step that
failed (the token request or the API request) and the URL it tried; ``next_step`` says
what to do about this cause. No message ever contains a secret, a token, a form body
or a request body.
"""

STEPS = {"token": "the token request", "api": "the API request"}


class ProviderError(Exception):
    """Base class. ``http_status`` is the provider's status when there was one."""

    kind = "error"
    next_step = ""

    def __init__(
        self, message, *, step, url, http_status=None, details=None, retry_after=None, next_step=None
    ):
        super().__init__(message)
        self.message = message
        self.step = step  # "token" or "api"
        self.url = url
        self.http_status = http_status
        self.details = details  # parsed provider error body (JSON), already size-capped
        self.retry_after = retry_after
        if next_step:
            self.next_step = next_step  # this cause's own next step, over the kind's usual one

    @property
    def failed_step(self):
        """The step and the URL it tried, in words: "the token request to https://…"."""
        return f"{STEPS[self.step]} to {self.url}"


class ConfigurationError(ProviderError):
    """The call was not made: the connection cannot be used (URL refused, secret unreadable)."""

    kind = "configuration"
    next_step = "Fix the connection, then try again."


class TokenError(ProviderError):
    """The token endpoint did not give us a token. Nothing was sent to the provisioning API."""

    kind = "token"
    next_step = "Check the token URL, then use Test connection."


class Refused(ProviderError):
    """The provider answered with a 4xx: it did not act. The request may be fixed and sent again."""

    kind = "refused"
    next_step = "Fix what the provider names, then send again."


class Conflict(Refused):
    """409: the id (device, thing, policy or auth id) already exists at the provider."""

    kind = "conflict"
    next_step = "The device is already provisioned: open its history entry, or choose another name."


class Unauthorized(Refused):
    """A fresh token was refused too: the client lacks the scopes or subscription."""

    kind = "unauthorized"
    next_step = "The token was refused: check the client's service scopes and the service instance id."


class Unavailable(ProviderError):
    """The provider could not be reached or refused before acting (connection failed, 429).

    The request had no effect, so it is safe to send again later.
    """

    kind = "unavailable"
    next_step = "Nothing was created. Try again in a moment."


class OutcomeUnknown(ProviderError):
    """The request was sent but no usable answer came back (timeout, 5xx, unreadable body).

    The device may or may not exist now. Never retry blindly.
    """

    kind = "unknown"
    next_step = "Outcome unknown: check whether the device exists before retrying (a 409 then means it does)."
