"""The OpenAI-compatible adapter: a langchain-openai chat model and the openai SDK's errors mapped to ours."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.models.chat.config import OPENAI_DEFAULT_BASE_URL, ModelConfig
from agent.models.chat.errors import ModelAuthError, ModelError, ModelUnavailable

if TYPE_CHECKING:
    import openai

# Self-hosted OpenAI-compatible servers (vLLM, Ollama, LM Studio) accept any key; the openai SDK
# insists on one. vLLM's documentation uses this placeholder.
NO_KEY_PLACEHOLDER = "EMPTY"


def build_openai(cfg: ModelConfig, *, model: str | None = None) -> BaseChatModel:
    """A langchain-openai chat model for any OpenAI-compatible server (a placeholder key for self-hosted ones)."""
    from langchain_openai import ChatOpenAI

    base_url = (cfg.base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ModelError(
            f"{cfg.base_url_setting}={base_url!r} is not an http(s) URL; "
            "set it to the server's OpenAI-compatible base, e.g. http://localhost:8000/v1."
        )
    key = cfg.secret().strip()
    if not key and base_url == OPENAI_DEFAULT_BASE_URL:
        raise ModelAuthError(f"No API key is configured for {base_url}: set {cfg.api_key_setting}.")
    kwargs: dict[str, Any] = {
        "model": model or cfg.model,
        "api_key": SecretStr(key or NO_KEY_PLACEHOLDER),
        "base_url": base_url,  # explicit: never OPENAI_BASE_URL from the environment
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "max_tokens": cfg.max_tokens,
        # Usage arrives in the last SSE chunk only when asked for (stream_options.include_usage).
        "stream_usage": True,
    }
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    return ChatOpenAI(**kwargs)


def is_openai(model: Any) -> bool:
    # A ChatOpenAI exists only once its module is imported: asking must not import it (langchain-
    # openai and the openai SDK cost ~1 s, paid by the first turn of a runtime on any other model).
    module = sys.modules.get("langchain_openai")
    return module is not None and isinstance(model, module.ChatOpenAI)


_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")
_NO_TOOLS_HINTS = ("tool", "function")


def _openai_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return exc.message


def translate_openai_error(exc: openai.OpenAIError, cfg: ModelConfig) -> ModelError:
    import openai

    where = cfg.base_url or OPENAI_DEFAULT_BASE_URL
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelAuthError(
            f"{where} rejected the API key (HTTP {exc.status_code}, {_openai_message(exc)}): "
            f"set {cfg.api_key_setting} to a valid key."
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailable(f"{cfg.model} did not answer in time (retries exhausted); try again shortly.")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(
            f"Cannot reach the model server at {where} ({exc}); check {cfg.base_url_setting} or try again shortly."
        )
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return ModelUnavailable(
            f"{cfg.model} is unavailable (HTTP {exc.status_code}, {_openai_message(exc)}) after retries; "
            "try again shortly."
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelError(
            f"{where} has no model {cfg.model!r} or no /chat/completions endpoint (HTTP 404, "
            f"{_openai_message(exc)}): set {cfg.model_setting} to a served model and {cfg.base_url_setting} "
            "to the server's /v1 base."
        )
    if isinstance(exc, openai.APIStatusError):
        text = _openai_message(exc)
        low = text.lower()
        if exc.status_code >= 500:
            return ModelUnavailable(f"{cfg.model} is unavailable (HTTP {exc.status_code}, {text}); try again shortly.")
        if any(h in low for h in _CONTEXT_HINTS):
            return ModelError(
                f"The conversation is longer than {cfg.model}'s context window ({text}): start a new conversation "
                f"or set {cfg.model_setting} to a model with a longer context."
            )
        if any(h in low for h in _NO_TOOLS_HINTS) and ("support" in low or "not allowed" in low):
            return ModelError(
                f"{cfg.model} at {where} does not accept tool calls ({text}): set {cfg.model_setting} to a "
                "tool-calling model or enable tool calling on the server (vLLM: --enable-auto-tool-choice)."
            )
        return ModelError(f"{cfg.model} rejected the request (HTTP {exc.status_code}, {text}).")
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelUnavailable(f"{cfg.model}'s response could not be read ({exc}); try again shortly.")
    return ModelUnavailable(f"The model call failed ({type(exc).__name__}: {exc}); try again shortly.")
