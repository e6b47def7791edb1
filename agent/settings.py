"""All configuration, from environment variables (and an optional ``.env``).

Every setting has an environment variable; the README's configuration table lists them.
Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from policies.access import DEFAULT_ACCESS
from policies.directory import DEFAULT_DIRECTORY


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHAMBERLAIN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".chamberlain"), description="Where all local state lives.")
    database_url: str | None = Field(
        None, description="App database (approvals, audit, usage). Default: SQLite under the data dir."
    )
    checkpoint_url: str | None = Field(
        None,
        description="LangGraph checkpoints. Default: SQLite under the data dir; postgresql:// uses PostgresSaver.",
    )
    warehouse_url: str | None = Field(
        None,
        description="Analytics warehouse (read-only). Default: the demo SQLite warehouse under the data dir.",
    )

    anthropic_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "CHAMBERLAIN_ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "CHAMBERLAIN_ANTHROPIC_BASE_URL")
    )
    model: str = Field("claude-sonnet-4-6", description="Claude model id.")
    fallback_model: str | None = Field(None, description="Model to use when the primary keeps failing.")
    model_timeout_s: float = 60.0
    model_max_retries: int = 2
    model_max_tokens: int = 4096
    redact_pii_for_model: bool = Field(False, description="Redact PII from text before it goes to the model API.")

    crm_url: str | None = Field(
        None,
        description="HubSpot-compatible API base URL (https://api.hubapi.com). Default: the local demo CRM.",
    )
    hubspot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("HUBSPOT_TOKEN", "CHAMBERLAIN_HUBSPOT_TOKEN")
    )
    crm_port: int = Field(8765, description="Port of the local demo CRM service.")

    chroma_url: str | None = Field(None, description="Chroma server URL; default: embedded PersistentClient.")

    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "CHAMBERLAIN_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "CHAMBERLAIN_SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "CHAMBERLAIN_SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(None, description="Slack Web API base URL (tests point it at the fake).")
    slack_approvals_channel: str | None = Field(None, description="Post approval cards here instead of DMs.")

    http_token: SecretStr | None = Field(None, description="Service token the HTTP API requires.")

    directory_path: Path = DEFAULT_DIRECTORY
    access_policy_path: Path = DEFAULT_ACCESS
    routing_policy_path: Path | None = None

    max_steps: int = Field(8, description="Model calls per turn.")
    max_tool_calls: int = Field(24, description="Tool calls per turn.")
    max_steps_per_conversation: int = Field(40, description="Model calls per conversation.")
    max_tool_calls_per_conversation: int = Field(100, description="Tool calls per conversation.")
    max_message_chars: int = Field(8000, description="Longest message a user may send.")
    breaker_failures: int = Field(5, description="Consecutive model failures that pause model calls.")
    breaker_cooldown_s: float = Field(30, description="How long model calls stay paused.")
    approval_ttl_hours: float = Field(72, description="The agent's write requests expire after this long.")
    sweep_interval_s: float = Field(300, description="How often servers expire, remind and escalate approvals.")

    requests_per_hour: int = 60
    requests_per_day: int = 400
    tokens_per_hour: int = 400_000
    tokens_per_day: int = 2_000_000
    cost_usd_per_day: float = 20.0

    # Warehouse role (issue #11): a login that can write is refused unless this is set.
    warehouse_allow_writable_role: bool = Field(
        False, description="Accept a superuser or write-capable warehouse role (logged loudly)."
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'app.db').resolve()}"

    @property
    def resolved_checkpoint_url(self) -> str:
        return self.checkpoint_url or f"sqlite:///{(self.data_dir / 'checkpoints.db').resolve()}"

    @property
    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"sqlite:///{(self.data_dir / 'warehouse.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def crm_db_path(self) -> Path:
        return self.data_dir / "crm.db"

    @property
    def knowledge_dir(self) -> Path:
        return self.data_dir / "knowledge"

    @property
    def uses_real_model(self) -> bool:
        return bool(self.anthropic_api_key and self.anthropic_api_key.get_secret_value().strip())


__all__ = ["Settings"]
