"""From settings to model routes: which provider, URL, key and model each task kind uses.

A route is written ``provider:model`` (``openai:qwen2.5-7b-instruct``) or just ``model`` for a
model of the primary provider. Ollama-style ids keep their colon (``llama3.1:8b``): only a
known provider name before the first colon is read as the provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from agent.models.chat import PROVIDERS, ModelConfig, ModelError, build_chat_model
from agent.models.routing import DEFAULT_KIND, TASK_KINDS, ModelRoute, ModelRoutes
from agent.settings import Settings

__all__ = ["RouteSpec", "build_routes", "parse_route", "primary_config", "route_configs"]


@dataclass(frozen=True)
class RouteSpec:
    provider: str
    model: str


def parse_route(text: str, *, default_provider: str, setting: str) -> RouteSpec:
    """``openai:gpt-4.1-mini`` → RouteSpec('openai', 'gpt-4.1-mini'); ``setting`` names the source in errors."""
    value = text.strip()
    head, sep, rest = value.partition(":")
    if sep and head in PROVIDERS:
        provider, model = head, rest.strip()
    else:
        provider, model = default_provider, value
    if not model:
        raise ModelError(f"{setting}: {text!r} names no model; write provider:model, e.g. openai:gpt-4.1-mini.")
    return RouteSpec(provider, model)


def _check_provider(settings: Settings) -> str:
    provider = settings.model_provider.strip().lower()
    if provider not in PROVIDERS:
        raise ModelError(
            f"CHAMBERLAIN_MODEL_PROVIDER={settings.model_provider!r} is not a provider: "
            f"use one of {', '.join(PROVIDERS)}."
        )
    return provider


def _config(settings: Settings, spec: RouteSpec, *, primary_provider: str) -> ModelConfig:
    key: SecretStr | None
    if spec.provider == primary_provider:
        # The primary provider's connection (CHAMBERLAIN_MODEL_* first, then the provider's own).
        own_key = settings.anthropic_api_key if spec.provider == "anthropic" else settings.openai_api_key
        own_url = settings.anthropic_base_url if spec.provider == "anthropic" else settings.openai_base_url
        key = settings.model_api_key or own_key
        base_url = settings.model_base_url or own_url
        key_setting = (
            "CHAMBERLAIN_MODEL_API_KEY" if settings.model_api_key or spec.provider == "openai" else "ANTHROPIC_API_KEY"
        )
        url_setting = (
            "CHAMBERLAIN_MODEL_BASE_URL"
            if settings.model_base_url or spec.provider == "openai"
            else "ANTHROPIC_BASE_URL"
        )
    elif spec.provider == "anthropic":
        key, base_url = settings.anthropic_api_key, settings.anthropic_base_url
        key_setting, url_setting = "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
    else:
        key, base_url = settings.openai_api_key, settings.openai_base_url
        key_setting, url_setting = "OPENAI_API_KEY", "CHAMBERLAIN_OPENAI_BASE_URL"
    return ModelConfig(
        model=spec.model,
        api_key=key,
        base_url=base_url,
        timeout_s=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
        max_tokens=settings.model_max_tokens,
        provider=spec.provider,
        api_key_setting=key_setting,
        base_url_setting=url_setting,
        model_setting="CHAMBERLAIN_MODEL",
    )


def primary_config(settings: Settings) -> ModelConfig:
    provider = _check_provider(settings)
    return _config(settings, RouteSpec(provider, settings.model), primary_provider=provider)


def route_configs(settings: Settings) -> dict[str, list[ModelConfig]]:
    """Model configurations per task kind, primary first (only kinds that differ are listed
    besides ``answer``)."""
    provider = _check_provider(settings)
    for name, mapping in (
        ("CHAMBERLAIN_MODEL_ROUTES", settings.model_routes),
        ("CHAMBERLAIN_MODEL_FALLBACKS", settings.model_fallbacks),
    ):
        unknown = sorted(set(mapping) - set(TASK_KINDS))
        if unknown:
            raise ModelError(f"{name}: unknown task kind {', '.join(unknown)}; use {', '.join(TASK_KINDS)}.")
    primary = primary_config(settings)

    def fallback_for(kind: str) -> list[ModelConfig]:
        text = settings.model_fallbacks.get(kind) or settings.fallback_model
        if not text:
            return []
        setting = "CHAMBERLAIN_MODEL_FALLBACKS" if kind in settings.model_fallbacks else "CHAMBERLAIN_FALLBACK_MODEL"
        return [
            _config(settings, parse_route(text, default_provider=provider, setting=setting), primary_provider=provider)
        ]

    chains: dict[str, list[ModelConfig]] = {DEFAULT_KIND: [primary, *fallback_for(DEFAULT_KIND)]}
    for kind, text in settings.model_routes.items():
        spec = parse_route(text, default_provider=provider, setting="CHAMBERLAIN_MODEL_ROUTES")
        cfg = _config(settings, spec, primary_provider=provider)
        if kind == DEFAULT_KIND:
            chains[kind][0] = cfg
        else:
            chains[kind] = [cfg, *(fallback_for(kind) if kind in settings.model_fallbacks else chains[DEFAULT_KIND])]
    for kind in settings.model_fallbacks:
        if kind not in chains:
            chains[kind] = [primary, *fallback_for(kind)]
    return chains


def build_routes(settings: Settings) -> ModelRoutes:
    """The chat models for every route (one client per distinct configuration)."""
    built: dict[ModelConfig, ModelRoute] = {}

    def route(cfg: ModelConfig) -> ModelRoute:
        if cfg not in built:
            built[cfg] = ModelRoute(build_chat_model(cfg), cfg)
        return built[cfg]

    chains = {kind: [route(c) for c in dict.fromkeys(chain)] for kind, chain in route_configs(settings).items()}
    return ModelRoutes(chains)
