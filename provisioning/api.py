"""An authenticated call to a provider's API, with the retries that are safe.

Every call goes through ``call``: a bearer token from the shared cache, the outbound
URL check, fixed timeouts, no redirects, a capped body. Errors are the family in
provisioning.errors, with the provider's own words where its body has them. What
the calls are (URLs, bodies, what an answer means) is each provider's, in
provisioning/providers/.

What is retried, and why:
- 401: the token is dropped, a fresh one fetched, and the request sent once more.
- 429, and 503 with Retry-After: the provider refused before acting, so the same
  request is sent again after the wait, at most MAX_RETRIES times and MAX_TOTAL_WAIT
  seconds of waiting in all; then the caller gets Unavailable ("try again in a moment").
  While it waits, ``progress(correlation_id)`` says so, for the page of a Send in progress.
- Nothing else. A POST that timed out or got a 5xx may have created the device;
  it surfaces as OutcomeUnknown, and the caller decides (a later 409 means "exists").
"""

import email.utils
import logging
import time
from dataclasses import dataclass

import requests
from django.core.cache import cache

from provisioning import tokens
from provisioning.errors import (
    ConfigurationError,
    Conflict,
    OutcomeUnknown,
    Refused,
    Unauthorized,
    Unavailable,
)
from provisioning.http import (
    certificate_words,
    checked,
    is_connect_failure,
    parse_json,
    read_capped,
    session,
    timeouts,
    trusted_cas,
)

logger = logging.getLogger(__name__)

MAX_RETRIES = 3  # extra attempts after 429 / 503 with Retry-After
MAX_TOTAL_WAIT = 30  # seconds of Retry-After waits in one call, in all; a longer one is handed back
MAX_MESSAGE = 300  # characters of a provider message shown to the operator


@dataclass
class Response:
    status: int
    body: dict
    latency_ms: int
    attempts: int
    url: str
    waited: int = 0  # seconds spent waiting out Retry-After
    retries: int = 0  # requests sent again after a Retry-After


def _progress_key(correlation_id):
    return f"provisioning:api-wait:{correlation_id}"


def progress(correlation_id):
    """What the call of ``correlation_id`` is waiting for, as a sentence, or "" (shared by
    every process through the cache)."""
    return cache.get(_progress_key(correlation_id), "")


def _report_wait(correlation_id, status, seconds, attempt):
    if correlation_id:
        text = (
            f"The provider answered {status} and asked to wait {seconds} s; "
            f"sending again then, attempt {attempt} of {MAX_RETRIES + 1}."
        )
        cache.set(_progress_key(correlation_id), text, timeout=MAX_TOTAL_WAIT + 60)


def _retry_after(response):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time()))


def provider_message(body, status):
    """The provider's own explanation, shortened, from {description, errorDetails} or similar."""
    parts = []
    if isinstance(body, dict):
        for key in ("description", "message", "error"):
            if isinstance(body.get(key), str) and body[key].strip():
                parts.append(body[key].strip())
                break
        details = body.get("errorDetails")
        if isinstance(details, dict):
            for key in ("message", "description"):
                text = details.get(key)
                if isinstance(text, str) and text.strip() and text.strip() not in parts:
                    parts.append(text.strip())
    if not parts:
        return f"HTTP {status} without an explanation"
    text = " ".join(part if part[-1] in ".!?" else part + "." for part in parts)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def call(config, method, url, *, params, json_body, correlation_id=None):
    """Send one request to ``config``'s API; the Response, or a ProviderError naming the URL."""
    url = checked(url, "api")
    where = {"step": "api", "url": url}
    token = tokens.get_token(config)
    refreshed = False
    attempts = 0
    waited = retries = 0
    started = time.monotonic()
    while True:
        attempts += 1
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        if correlation_id:
            headers["correlation-id"] = str(correlation_id)
        try:
            response = session().request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=timeouts(),
                allow_redirects=False,
                stream=True,
                verify=trusted_cas(),
            )
            data, truncated = read_capped(response)
        except requests.exceptions.RequestException as exc:
            _log(method, url, None, started, type(exc).__name__)
            certificate = certificate_words(exc, url)
            if certificate:
                message, next_step = certificate
                raise Unavailable(f"{message} Nothing was sent.", next_step=next_step, **where) from None
            if is_connect_failure(exc):
                raise Unavailable(
                    "The provisioning API could not be reached; nothing was sent.",
                    next_step="Check that this server can reach the API base URL's host (DNS, firewall), "
                    "then try again.",
                    **where,
                ) from None
            if isinstance(exc, requests.exceptions.Timeout):
                raise OutcomeUnknown("The provisioning API did not answer in time.", **where) from None
            raise OutcomeUnknown(
                "The connection to the provisioning API broke before an answer came.", **where
            ) from None
        status = response.status_code
        body = None if truncated else parse_json(data)
        _log(method, url, status, started)

        if 200 <= status < 300:
            if body is None:
                raise OutcomeUnknown(
                    f"The provisioning API answered {status} but its body could not be read; "
                    "the request probably succeeded.",
                    http_status=status,
                    **where,
                )
            latency = int((time.monotonic() - started) * 1000)
            return Response(
                status=status,
                body=body,
                latency_ms=latency,
                attempts=attempts,
                url=url,
                waited=waited,
                retries=retries,
            )

        if status == 401:
            if not refreshed:
                refreshed = True
                token = tokens.get_token(config, reject=token.access_token)
                continue
            raise Unauthorized(
                "The provisioning API refused a freshly fetched token (401).",
                http_status=status,
                details=body,
                **where,
            )

        retry_after = _retry_after(response)
        if status == 429 or (status == 503 and retry_after is not None):
            if retry_after is not None and retries < MAX_RETRIES and waited + retry_after <= MAX_TOTAL_WAIT:
                _report_wait(correlation_id, status, retry_after, retries + 2)
                time.sleep(retry_after)
                waited += retry_after
                retries += 1
                continue
            raise Unavailable(
                f"The provisioning API is busy (HTTP {status}); nothing was created. Try again in a moment.",
                http_status=status,
                details=body,
                retry_after=retry_after,
                **where,
            )
        if status == 409:
            raise Conflict(provider_message(body, status), http_status=status, details=body, **where)
        if status == 403:
            # The token was valid but does not cover this service instance: the client's
            # scopes (or the instance id) are what to check, as after a second 401.
            raise Unauthorized(provider_message(body, status), http_status=status, details=body, **where)
        if 300 <= status < 400:
            raise ConfigurationError(
                f"The provisioning API answered with a redirect ({status}); redirects are not followed. "
                "Check the API base URL.",
                http_status=status,
                **where,
            )
        if 400 <= status < 500:
            raise Refused(provider_message(body, status), http_status=status, details=body, **where)
        raise OutcomeUnknown(
            f"The provisioning API failed (HTTP {status}): {provider_message(body, status)}",
            http_status=status,
            details=body,
            **where,
        )


def _log(method, url, status, started, failure=None):
    elapsed = int((time.monotonic() - started) * 1000)
    # The URL holds the instance id and device id, never a secret; the query holds flags only.
    logger.info("%s %s -> %s in %d ms", method, url, status or failure, elapsed)
