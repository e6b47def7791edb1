"""How to reach one model (:class:`ModelConfig`) and the providers' default endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

DEFAULT_BASE_URL = "https://api.anthropic.com"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROVIDERS = ("anthropic", "openai")


@dataclass(frozen=True)
class ModelConfig:
    """How to reach one model. Built by the agent's ``Settings``; nothing here reads the environment.

    ``*_setting`` name the settings (environment variables) an operator changes to fix a
    problem; error messages quote them.
    """

    model: str = "claude-sonnet-4-6"
    api_key: SecretStr | str | None = field(default=None, repr=False)
    base_url: str | None = None  # None: the provider's public API
    timeout_s: float = 60.0
    max_retries: int = 2
    max_tokens: int = 4096
    temperature: float | None = None  # None: the model's default (newer models reject others)
    fallback_model: str | None = None
    provider: str = "anthropic"  # anthropic | openai (any OpenAI-compatible server)
    api_key_setting: str = "ANTHROPIC_API_KEY"
    base_url_setting: str = "ANTHROPIC_BASE_URL"
    model_setting: str = "CHAMBERLAIN_MODEL"

    def __post_init__(self) -> None:
        if self.provider == "openai" and self.api_key_setting == "ANTHROPIC_API_KEY":
            # Built directly (not from Settings) for an OpenAI-compatible server: name its settings.
            for name, value in _OPENAI_SETTING_NAMES.items():
                object.__setattr__(self, name, value)

    def secret(self) -> str:
        """The API key as plain text ('' when unset)."""
        if isinstance(self.api_key, SecretStr):
            return self.api_key.get_secret_value()
        return self.api_key or ""

    @property
    def label(self) -> str:
        """``openai:llama-3.1-8b`` — how routes and the audit name a model."""
        return f"{self.provider}:{self.model}"


_OPENAI_SETTING_NAMES = {
    "api_key_setting": "CHAMBERLAIN_MODEL_API_KEY",
    "base_url_setting": "CHAMBERLAIN_MODEL_BASE_URL",
    "model_setting": "CHAMBERLAIN_MODEL",
}
