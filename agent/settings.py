"""All configuration, from environment variables (and an optional ``.env``).

Every setting has an environment variable; the README's configuration table lists them.
Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policies.defaults import DEFAULT_ACCESS, DEFAULT_DIRECTORY


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

    # -- periodic reports (docs/reports.md) ---------------------------------------------------
    report_min_interval_s: float = Field(3600, description="Reports may run at most this often.")
    report_lease_s: float = Field(
        300, description="How long a report run is owned before another process may retry it."
    )
    report_narrator: str | None = Field(
        None, description="module:function writing a report's narrative (its numbers are checked); default: a summary."
    )
    report_channels_path: Path | None = Field(
        None, description="YAML mapping each Slack channel a report may go to -> its members' directory ids."
    )

    # -- outbox delivery (issue #14): the worker, its retries, and email over SMTP ----------
    outbox_worker: bool = Field(True, description="Start the delivery worker inside `serve` (False: run `outbox run`).")
    outbox_notifications: bool = Field(
        True, description="With Slack configured, approval cards go through the outbox (same transaction)."
    )
    max_writes_per_turn: int = Field(
        5, description="Writes one model step may propose; the rest are refused with the limit."
    )
    outbox_poll_s: float = Field(1.0, description="How often an idle delivery worker looks for due messages.")
    outbox_batch: int = Field(5, description="Messages a worker claims at once.")
    outbox_lease_s: float = Field(60, description="How long a claim lasts before another worker may take it over.")
    outbox_max_attempts: int = Field(8, description="Attempts before a message is marked failed.")
    outbox_backoff_s: float = Field(5, description="First retry delay; doubles per attempt, with jitter.")
    outbox_backoff_max_s: float = Field(900, description="Longest retry delay.")
    smtp_host: str | None = Field(None, description="SMTP server for email; unset: email messages fail, saying so.")
    smtp_port: int = Field(587, description="SMTP port (587 STARTTLS, 465 implicit TLS).")
    smtp_starttls: bool = Field(True, description="Require STARTTLS (turn off only for a trusted local relay).")
    smtp_ssl: bool = Field(False, description="Implicit TLS (port 465).")
    smtp_username: str | None = Field(None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("chamberlain@larkspur.example", description="From address of email messages.")
    smtp_timeout_s: float = Field(30, description="SMTP connect/command timeout.")
    # Bring your own tools (docs/tools.md): the same gate, approvals and audit as built-in ones.
    tool_modules: str = Field("", description="Comma-separated Python modules defining @governed tools.")
    mcp_servers_path: Path | None = Field(
        None,
        validation_alias=AliasChoices("CHAMBERLAIN_MCP_SERVERS", "mcp_servers_path"),
        description="YAML file listing MCP servers and each one's tool policy.",
    )

    requests_per_hour: int = 60
    requests_per_day: int = 400
    tokens_per_hour: int = 400_000
    tokens_per_day: int = 2_000_000
    cost_usd_per_day: float = 20.0

    # SQL warehouse guard and execution limits (issue #18)
    warehouse_extra_functions: list[str] = Field(
        default_factory=list,
        description="SQL functions an operator allows beyond the read-only list (e.g. version, current_setting).",
    )
    warehouse_pg_roles: bool = Field(
        True,
        description="PostgreSQL: run each query under SET ROLE to the asker's data-access role "
        "(provision with `chamberlain sql roles --apply`).",
    )
    # -- web page, traces, metrics (issue #12) -----------------------------------------------
    web_session_secret: SecretStr | None = Field(
        None, description="Signs web sessions and CSRF tokens; default: derived from the HTTP token."
    )
    web_session_hours: float = Field(8, description="A web sign-in lasts this long.")
    web_cookie_secure: bool | None = Field(
        None, description="Force the Secure cookie flag; default: set when the request came over HTTPS."
    )
    web_audit_roles: list[str] = Field(
        default_factory=lambda: ["auditor", "it_admin", "cfo"], description="Roles that may open the audit page."
    )
    web_review_roles: list[str] = Field(
        default_factory=lambda: ["reviewer", "it_admin", "cfo"], description="Roles that may label the review queue."
    )
    review_cases_path: Path | None = Field(
        None, description="Where reviewed answers become eval cases; default: <data dir>/evals/review.yaml."
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for GET /metrics; default: the HTTP service token."
    )
    metrics_port: int | None = Field(None, description="Also serve /metrics without a token on this port.")
    metrics_host: str = Field("127.0.0.1", description="Interface of the separate metrics port.")
    trace_content: bool = Field(
        False, description="Put (redacted) prompt, answer and argument text on spans. Off: counts and ids only."
    )
    otel_sdk_disabled: bool = Field(False, validation_alias=AliasChoices("OTEL_SDK_DISABLED"))
    otel_traces_exporter: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_TRACES_EXPORTER"), description="otlp | console | none"
    )
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"))
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    otel_service_name: str = Field("chamberlain", validation_alias=AliasChoices("OTEL_SERVICE_NAME"))

    @property
    def resolved_review_cases_path(self) -> Path:
        return self.review_cases_path or self.data_dir / "evals" / "review.yaml"

    # --- models: providers, routing by task, pricing, budgets (issue #19) -----------------------
    model_provider: str = Field(
        "anthropic",
        description="Primary model provider: anthropic (Claude) or openai (any OpenAI-compatible server).",
    )
    model_base_url: str | None = Field(
        None,
        description="Primary model server's base URL (openai: e.g. http://localhost:8000/v1 for vLLM, "
        "http://localhost:11434/v1 for Ollama). Default: the provider's public API.",
    )
    model_api_key: SecretStr | None = Field(
        None, description="Primary model API key (default: ANTHROPIC_API_KEY or OPENAI_API_KEY by provider)."
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "CHAMBERLAIN_OPENAI_API_KEY"),
        description="Key for openai: routes when the primary provider is another one.",
    )
    openai_base_url: str | None = Field(
        None, description="Base URL for openai: routes when the primary provider is another one."
    )
    model_routes: dict[str, str] = Field(
        default_factory=dict,
        description="Model per task kind (answer, sql, summarize, classify) as JSON, e.g. "
        '{"summarize": "openai:qwen2.5-7b-instruct"}; "provider:model" or a model of the primary provider.',
    )
    model_fallbacks: dict[str, str] = Field(
        default_factory=dict,
        description='Fallback per task kind as JSON, e.g. {"answer": "openai:gpt-4.1-mini"}; '
        "default: CHAMBERLAIN_FALLBACK_MODEL for every kind.",
    )
    model_context_tokens: int | None = Field(
        None, description="Context window to assume for the primary model (doctor warns when prompts come near it)."
    )
    pricing_path: Path | None = Field(
        None, description="YAML price table whose entries override the packaged agent/models/pricing.yaml."
    )
    budgets_path: Path | None = Field(
        None, description="YAML of per-user and per-group model budgets (tokens or USD per day/month)."
    )
    budget_warn_ratio: float = Field(0.8, description="Warn a user once usage passes this share of a budget.")
    history_budget_tokens: int = Field(
        8000, description="Past this much history, tool results of earlier turns are sent as one-line stubs."
    )
    # Warehouse role (issue #11): a login that can write is refused unless this is set.
    warehouse_allow_writable_role: bool = Field(
        False, description="Accept a superuser or write-capable warehouse role (logged loudly)."
    )
    # CRM connector (issue #13): which package in connectors/crm/ serves the CRM tools.
    crm: str = Field(
        "hubspot",
        description="CRM connector: hubspot (CHAMBERLAIN_CRM_URL or the local service), memory, salesforce-memory.",
    )

    @field_validator("crm")
    @classmethod
    def _known_crm(cls, value: str) -> str:
        from connectors.crm.registry import check_crm_name

        return check_crm_name(value.strip().lower())

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
        """Whether a model is configured (else the demo runs scripted turns and asking fails clearly)."""
        if self.model_provider == "openai":
            return bool(self.model_base_url or self.openai_base_url or _has(self.model_api_key, self.openai_api_key))
        return _has(self.model_api_key, self.anthropic_api_key)


def _has(*keys: SecretStr | None) -> bool:
    return any(k is not None and k.get_secret_value().strip() for k in keys)


__all__ = ["Settings"]
