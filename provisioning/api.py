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
from dataclasses import dataclass, field

import requests
from django.core.cache import cache
from requests.auth import AuthBase, HTTPBasicAuth

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
    note: str = ""  # what an answer other than the plain success means (a DELETE's 404: already gone)


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


class EndpointAuth(AuthBase):
    """How the requests to one endpoint are authorised (a requests auth hook).

    ``refresh()`` is called after a 401: it replaces the credentials and says whether there
    is anything new to send (True), or nothing (False: the 401 stands).
    """

    def refresh(self):
        return False


class BasicAuth(EndpointAuth):
    """HTTP Basic with a fixed user and password: a 401 is final."""

    def __init__(self, username, password):
        self.username = username
        self.password = password

    def __call__(self, request):
        return HTTPBasicAuth(self.username, self.password)(request)

    def __repr__(self):
        return f"BasicAuth({self.username!r})"  # never the password


class BearerAuth(EndpointAuth):
    """A bearer token from ``fetch(reject)``: ``reject`` is None for the first token, then the
    token a 401 refused (the token cache drops it and fetches a fresh one)."""

    def __init__(self, fetch):
        self.fetch = fetch
        self.token = None

    def __call__(self, request):
        if self.token is None:
            self.token = self.fetch(None)
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def refresh(self):
        self.token = self.fetch(self.token)
        return True

    def __repr__(self):
        return "BearerAuth()"  # never the token


def config_auth(config):
    """The bearer token of ``config`` (a connection, or a connections.DittoClient), from the
    shared token cache."""

    def fetch(reject):
        token = tokens.get_token(config, reject=reject) if reject else tokens.get_token(config)
        return token.access_token

    return BearerAuth(fetch)


@dataclass
class Answer:
    """The provider's last answer to one request, after the retries that are safe."""

    status: int
    data: bytes = field(repr=False)
    truncated: bool
    retry_after: int | None
    response: Response

    @property
    def body(self):
        """The body as a JSON object, or None (not JSON, not an object, or cut off)."""
        return None if self.truncated else parse_json(self.data)


def _sentence(words):
    return words[0].upper() + words[1:]


def _transport_error(exc, url, service, where):
    """The ProviderError for a request that got no answer at all."""
    certificate = certificate_words(exc, url)
    if certificate:
        message, next_step = certificate
        return Unavailable(f"{message} Nothing was sent.", next_step=next_step, **where)
    if is_connect_failure(exc):
        return Unavailable(
            f"{_sentence(service)} could not be reached; nothing was sent.",
            next_step="Check that this server can reach the API base URL's host (DNS, firewall), "
            "then try again.",
            **where,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return OutcomeUnknown(f"{_sentence(service)} did not answer in time.", **where)
    return OutcomeUnknown(f"The connection to {service} broke before an answer came.", **where)


def exchange(
    method,
    url,
    *,
    auth,
    params=None,
    json_body=None,
    headers=None,
    correlation_id=None,
    service="the provisioning API",
):
    """Send one request through the shared outbound session with the retries that are safe
    (a 401 once after ``auth.refresh()``; 429 and 503 with Retry-After within the bounds above),
    and return the last Answer whatever its status: what it means is the caller's.

    Raises Unavailable when nothing was sent (refused URL aside: ConfigurationError), and
    OutcomeUnknown when the request went out and no answer came (timeout, broken connection).
    ``service`` names the far end in those messages.
    """
    url = checked(url, "api")
    where = {"step": "api", "url": url}
    refreshed = False
    attempts = waited = retries = 0
    started = time.monotonic()
    while True:
        attempts += 1
        sent_headers = {"Accept": "application/json", **(headers or {})}
        if correlation_id:
            sent_headers["correlation-id"] = str(correlation_id)
        try:
            response = session().request(
                method,
                url,
                params=params,
                json=json_body,
                headers=sent_headers,
                auth=auth,
                timeout=timeouts(),
                allow_redirects=False,
                stream=True,
                verify=trusted_cas(),
            )
            data, truncated = read_capped(response)
        except requests.exceptions.RequestException as exc:
            _log(method, url, None, started, type(exc).__name__)
            raise _transport_error(exc, url, service, where) from None
        status = response.status_code
        _log(method, url, status, started)
        if status == 401 and not refreshed:
            refreshed = True
            if auth.refresh():
                continue
        retry_after = _retry_after(response)
        if (
            (status == 429 or (status == 503 and retry_after is not None))
            and retry_after is not None
            and retries < MAX_RETRIES
            and waited + retry_after <= MAX_TOTAL_WAIT
        ):
            _report_wait(correlation_id, status, retry_after, retries + 2)
            time.sleep(retry_after)
            waited += retry_after
            retries += 1
            continue
        latency = int((time.monotonic() - started) * 1000)
        return Answer(
            status=status,
            data=data,
            truncated=truncated,
            retry_after=retry_after,
            response=Response(
                status=status,
                body=None,
                latency_ms=latency,
                attempts=attempts,
                url=url,
                waited=waited,
                retries=retries,
            ),
        )


def call(config, method, url, *, params, json_body, correlation_id=None):
    """Send one request to ``config``'s API; the Response, or a ProviderError naming the URL."""
    answer = exchange(
        method,
        url,
        auth=config_auth(config),
        params=params,
        json_body=json_body,
        correlation_id=correlation_id,
    )
    status, body, retry_after = answer.status, answer.body, answer.retry_after
    where = {"step": "api", "url": answer.response.url}
    if 200 <= status < 300:
        if body is None:
            raise OutcomeUnknown(
                f"The provisioning API answered {status} but its body could not be read; "
                "the request probably succeeded.",
                http_status=status,
                **where,
            )
        answer.response.body = body
        return answer.response
    if status == 401:
        raise Unauthorized(
            "The provisioning API refused a freshly fetched token (401).",
            http_status=status,
            details=body,
            **where,
        )
    if status == 429 or (status == 503 and retry_after is not None):
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
