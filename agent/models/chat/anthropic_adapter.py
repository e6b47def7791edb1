"""The Anthropic adapter: a langchain-anthropic chat model and the anthropic SDK's errors mapped to ours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.models.chat.config import DEFAULT_BASE_URL, ModelConfig
from agent.models.chat.errors import (
    ModelAuthError,
    ModelError,
    ModelUnavailable,
    translate_transport_error,
)

if TYPE_CHECKING:
    import anthropic


def build_anthropic(cfg: ModelConfig, *, model: str | None = None) -> BaseChatModel:
    """Claude through langchain-anthropic; :class:`ModelAuthError` without an API key."""
    key = cfg.secret().strip()
    if not key:
        raise ModelAuthError(
            f"No Anthropic API key is configured: set {cfg.api_key_setting} "
            "(or run without one to use the scripted demo model)."
        )
    kwargs: dict[str, Any] = {
        "model": model or cfg.model,
        "api_key": SecretStr(key),
        # Explicit, so langchain-anthropic does not fall back to ANTHROPIC_BASE_URL & co.
        "base_url": cfg.base_url or DEFAULT_BASE_URL,
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "max_tokens": cfg.max_tokens,
    }
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(**kwargs)


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return f"{error.get('type', 'error')}: {error['message']}"
    return exc.message


_TRANSIENT_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})


def _error_type(exc: anthropic.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return str(error["type"])
    return None


def translate_anthropic_error(exc: BaseException, cfg: ModelConfig | None) -> ModelError | None:
    """Our error for an anthropic SDK exception (or one below it), None if not one we translate."""
    import anthropic  # already loaded: the caller checked sys.modules

    key_setting = cfg.api_key_setting if cfg else "ANTHROPIC_API_KEY"
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ModelAuthError(
            f"Anthropic rejected the API key (HTTP {exc.status_code}, {_api_message(exc)}): "
            f"set {key_setting} to a valid key."
        )
    if isinstance(exc, anthropic.CredentialsError):
        return ModelAuthError(f"Anthropic credentials are unusable ({exc}): set {key_setting}.")
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelUnavailable("Claude did not answer in time (retries exhausted); try again shortly.")
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelUnavailable(f"Cannot reach the Anthropic API ({exc}); try again shortly.")
    if isinstance(exc, anthropic.RateLimitError | anthropic.InternalServerError):
        return ModelUnavailable(
            f"Claude is unavailable (HTTP {exc.status_code}, {_api_message(exc)}) after retries; try again shortly."
        )
    if isinstance(exc, anthropic.APIStatusError) and _error_type(exc) in _TRANSIENT_ERROR_TYPES:
        # An error event inside a 200 stream: the status says nothing, the error type does.
        return ModelUnavailable(f"Claude is unavailable ({_api_message(exc)}); try again shortly.")
    if isinstance(exc, anthropic.NotFoundError) and cfg is not None:
        return ModelError(
            f"Anthropic does not know model {cfg.model!r} (HTTP 404, {_api_message(exc)}): set {cfg.model_setting}."
        )
    if isinstance(exc, anthropic.APIStatusError):
        return ModelError(f"Claude rejected the request (HTTP {exc.status_code}, {_api_message(exc)}).")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ModelUnavailable(f"Claude's response could not be read ({exc}); try again shortly.")
    return translate_transport_error(exc)
