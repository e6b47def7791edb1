"""Which adapter serves a provider: building its chat model and translating its SDK's errors."""

from __future__ import annotations

import sys

from langchain_core.language_models import BaseChatModel

from agent.models.chat.anthropic_adapter import build_anthropic, translate_anthropic_error
from agent.models.chat.config import PROVIDERS, ModelConfig
from agent.models.chat.errors import ModelError, translate_transport_error
from agent.models.chat.openai_adapter import build_openai, translate_openai_error


def build_chat_model(cfg: ModelConfig, *, model: str | None = None) -> BaseChatModel:
    """A chat model for ``cfg`` (or for ``model``, e.g. the fallback, with cfg's settings).

    Raises :class:`ModelAuthError` when Claude has no API key, :class:`ModelError` for an
    unknown provider.
    """
    if cfg.provider == "openai":
        return build_openai(cfg, model=model)
    if cfg.provider != "anthropic":
        raise ModelError(
            f"Unknown model provider {cfg.provider!r}: set CHAMBERLAIN_MODEL_PROVIDER to one of {', '.join(PROVIDERS)}."
        )
    return build_anthropic(cfg, model=model)


def translate_model_error(exc: BaseException, cfg: ModelConfig | None = None) -> ModelError | None:
    """Our error for an SDK / transport / decoding exception, or None if it is not one we translate.

    ``cfg`` (the model that was called) lets messages name the setting to fix.
    """
    if isinstance(exc, ModelError):
        return exc
    # An SDK's exception exists only once the SDK is imported: no import just to rule it out.
    openai = sys.modules.get("openai")
    if openai is not None and isinstance(exc, openai.OpenAIError):
        return translate_openai_error(exc, cfg or ModelConfig(provider="openai"))
    anthropic = sys.modules.get("anthropic")
    if anthropic is None:
        return translate_transport_error(exc)
    return translate_anthropic_error(exc, cfg)
