"""The model error tree and the failures below both SDKs (transport, decoding) mapped into it."""

from __future__ import annotations

import json

import httpx

#   ModelError                 the model call failed (not retryable: bad request, unknown model)
#   ├── ModelUnavailable       overloaded / rate limited / 5xx / unreachable / cut-short or
#   │                          undecodable response, after SDK retries (retryable)
#   ├── ModelOutputError       the reply is not a well-formed turn (malformed tool call, a tool
#   │                          call written as text, cut off at max_tokens); nothing of it runs
#   └── ModelAuthError         missing or rejected API key


class ModelError(Exception):
    """A model call failed in a way retrying will not fix."""

    retryable: bool = False


class ModelUnavailable(ModelError):
    """The model is overloaded, rate limited or unreachable; try again later."""

    retryable = True


class ModelAuthError(ModelError):
    """The API key is missing or was rejected."""


class ModelOutputError(ModelError):
    """The model's reply is malformed; it is discarded whole (no tool call of it runs).

    Retryable: another attempt, or the fallback model, may well answer properly.
    """

    retryable = True


def translate_transport_error(exc: BaseException) -> ModelError | None:
    """Failures below the SDKs: both let some of these escape (a stream cut mid-way raises
    httpx's error; a complete 200 whose JSON body is cut short raises ``json.JSONDecodeError``)."""
    if isinstance(exc, httpx.TimeoutException):
        return ModelUnavailable("The model did not answer in time; try again shortly.")
    if isinstance(exc, httpx.TransportError | httpx.DecodingError | httpx.StreamError):
        return ModelUnavailable(f"The connection to the model broke ({type(exc).__name__}: {exc}); try again shortly.")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ModelUnavailable(
            f"The model's response was cut short or is not valid JSON ({type(exc).__name__}); try again shortly."
        )
    return None
