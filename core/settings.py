"""Settings read once from the environment into a frozen dataclass."""
from __future__ import annotations

import dataclasses
import os
import secrets as token_source
from pathlib import Path
from typing import Mapping

from cryptography.fernet import Fernet

QR_PLATFORMS = ("whatsapp", "telegram")
OAUTH_PLATFORMS = ("instagram", "linkedin", "messenger", "email")
PLATFORMS = QR_PLATFORMS + OAUTH_PLATFORMS
SECRET_FIELDS = frozenset({"jwt_secret", "encryption_keys", "unipile_api_key", "unipile_webhook_secret", "meta_app_secret", "meta_verify_token"})


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _secret(text: str | None) -> str:
    return "***" if text else "unset"


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """Every setting of the API; secrets print as ***."""

    app_env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    data_dir: Path = Path("var")
    mongodb_uri: str | None = None
    mongodb_db: str = "integrations"
    db_timeout_ms: int = 2000
    jwt_secret: str = ""
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30
    encryption_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ("http://localhost:3000", "http://127.0.0.1:3000")
    frontend_success_url: str = ""
    frontend_failure_url: str = ""
    providers: str = "sandbox"
    whatsapp_mode: str = "oauth"
    unipile_dsn: str | None = None
    unipile_api_key: str | None = None
    unipile_webhook_secret: str | None = None
    unipile_read_timeout_ms: int = 10000
    meta_app_id: str | None = None
    meta_app_secret: str | None = None
    meta_config_id: str | None = None
    meta_graph_version: str = "v21.0"
    meta_redirect_uri: str | None = None
    meta_verify_token: str | None = None
    meta_graph_url: str = "https://graph.facebook.com"
    meta_dialog_url: str = "https://www.facebook.com"
    meta_read_timeout_ms: int = 10000
    auth_link_ttl_seconds: int = 900
    ratelimit_storage_uri: str = "memory://"
    ratelimit_default: str = "600/minute"
    ratelimit_write: str = "120/minute"
    ratelimit_create: str = "30/minute"
    ratelimit_ip_failures: str = "120/minute"
    trusted_proxy_hops: int = 0
    max_body_bytes: int = 1_048_576
    max_credentials_bytes: int = 16_384
    web_concurrency: int = 1
    log_level: str = "INFO"
    validate_responses: bool = False
    swagger_ui: bool = True
    metrics_enabled: bool = True

    def __repr__(self) -> str:
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in SECRET_FIELDS:
                value = _secret(",".join(value) if isinstance(value, tuple) else value)
            parts.append(f"{field.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def asymmetric_tokens(self) -> bool:
        """Tokens are verified with a public key or JWKS (HS256 tokens minted here are refused)."""
        return bool(self.jwt_public_key or self.jwt_jwks_url)

    @property
    def sandbox(self) -> bool:
        return self.providers == "sandbox"

    def missing_unipile(self) -> list[str]:
        """The Unipile settings live providers need but do not have."""
        return [name for name, value in (
            ("UNIPILE_DSN", self.unipile_dsn), ("UNIPILE_API_KEY", self.unipile_api_key),
            ("UNIPILE_WEBHOOK_SECRET", self.unipile_webhook_secret),
        ) if not value]

    def missing_meta(self) -> list[str]:
        """The Meta app settings WhatsApp activation in oauth mode with live providers needs but does not have."""
        if self.providers != "live" or self.whatsapp_mode != "oauth":
            return []
        return [name for name, value in (
            ("META_APP_ID", self.meta_app_id), ("META_APP_SECRET", self.meta_app_secret),
            ("META_CONFIG_ID", self.meta_config_id), ("META_VERIFY_TOKEN", self.meta_verify_token),
        ) if not value]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from environment variables, generating development secrets in DATA_DIR."""
        env = os.environ if environ is None else environ
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        app_env = get("APP_ENV") or "development"
        if app_env not in ("development", "production", "test"):
            raise SettingsError("APP_ENV must be development, production or test")
        host = get("HOST") or "127.0.0.1"
        port = _int(get, "PORT", 8080, 0, 65535)
        data_dir = Path(get("DATA_DIR") or "var").resolve()
        unipile_dsn = get("UNIPILE_DSN")
        providers = get("PROVIDERS") or ("live" if unipile_dsn else "sandbox")
        if providers not in ("sandbox", "live"):
            raise SettingsError("PROVIDERS must be sandbox or live")
        whatsapp_mode = get("WHATSAPP_MODE") or "oauth"
        if whatsapp_mode not in ("oauth", "qr"):
            raise SettingsError("WHATSAPP_MODE must be oauth or qr")
        public = (get("PUBLIC_BASE_URL") or f"http://{host}:{port}").rstrip("/")
        values = dict(
            app_env=app_env,
            host=host,
            port=port,
            public_base_url=public,
            data_dir=data_dir,
            mongodb_uri=get("MONGODB_URI"),
            mongodb_db=get("MONGODB_DB") or "integrations",
            db_timeout_ms=_int(get, "DB_TIMEOUT_MS", 2000, 100, 60000),
            jwt_secret=get("JWT_SECRET") or "",
            # A PEM in one environment line may carry its line breaks as \n.
            jwt_public_key=(get("JWT_PUBLIC_KEY") or "").replace("\\n", "\n") or None,
            jwt_jwks_url=get("JWT_JWKS_URL"),
            jwt_issuer=get("JWT_ISSUER"),
            jwt_audience=get("JWT_AUDIENCE"),
            jwt_leeway_seconds=_int(get, "JWT_LEEWAY_SECONDS", 30, 0, 600),
            encryption_keys=tuple(k.strip() for k in (get("ENCRYPTION_KEYS") or "").split(",") if k.strip()),
            cors_origins=tuple(o.strip() for o in (get("CORS_ORIGINS") or ",".join(cls.cors_origins)).split(",") if o.strip()),
            frontend_success_url=get("FRONTEND_SUCCESS_URL") or f"{public}/api/v1/sandbox/complete?outcome=success",
            frontend_failure_url=get("FRONTEND_FAILURE_URL") or f"{public}/api/v1/sandbox/complete?outcome=failure",
            providers=providers,
            whatsapp_mode=whatsapp_mode,
            unipile_dsn=unipile_dsn,
            unipile_api_key=get("UNIPILE_API_KEY"),
            unipile_webhook_secret=get("UNIPILE_WEBHOOK_SECRET"),
            unipile_read_timeout_ms=_int(get, "UNIPILE_READ_TIMEOUT_MS", 10000, 100, 120000),
            meta_app_id=get("META_APP_ID"),
            meta_app_secret=get("META_APP_SECRET"),
            meta_config_id=get("META_CONFIG_ID"),
            meta_graph_version=get("META_GRAPH_VERSION") or "v21.0",
            meta_redirect_uri=get("META_REDIRECT_URI") or f"{public}/api/v1/whatsapp/oauth/callback",
            meta_verify_token=get("META_VERIFY_TOKEN"),
            meta_graph_url=(get("META_GRAPH_URL") or "https://graph.facebook.com").rstrip("/"),
            meta_dialog_url=(get("META_DIALOG_URL") or "https://www.facebook.com").rstrip("/"),
            meta_read_timeout_ms=_int(get, "META_READ_TIMEOUT_MS", 10000, 100, 120000),
            auth_link_ttl_seconds=_int(get, "AUTH_LINK_TTL_SECONDS", 900, 30, 86400),
            ratelimit_storage_uri=get("RATELIMIT_STORAGE_URI") or "memory://",
            ratelimit_default=get("RATELIMIT_DEFAULT") or "600/minute",
            ratelimit_write=get("RATELIMIT_WRITE") or "120/minute",
            ratelimit_create=get("RATELIMIT_CREATE") or "30/minute",
            ratelimit_ip_failures=get("RATELIMIT_IP_FAILURES") or "120/minute",
            trusted_proxy_hops=_int(get, "TRUSTED_PROXY_HOPS", 0, 0, 10),
            max_body_bytes=_int(get, "MAX_BODY_BYTES", 1_048_576, 1024, 64 * 1_048_576),
            web_concurrency=_int(get, "WEB_CONCURRENCY", 1, 1, 64),
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            validate_responses=_bool(get, "VALIDATE_RESPONSES", False),
            swagger_ui=_bool(get, "SWAGGER_UI", True),
            metrics_enabled=_bool(get, "METRICS_ENABLED", True),
        )
        for name in ("RATELIMIT_DEFAULT", "RATELIMIT_WRITE", "RATELIMIT_CREATE", "RATELIMIT_IP_FAILURES"):
            _limit(name, values[name.lower()])
        if values["web_concurrency"] > 1 and values["ratelimit_storage_uri"].lower().startswith("memory://"):
            raise SettingsError(
                f"WEB_CONCURRENCY={values['web_concurrency']} needs a shared RATELIMIT_STORAGE_URI (e.g. redis://host:6379/0): "
                "with memory:// each worker counts on its own and every limit is multiplied by the number of workers"
            )
        asymmetric = bool(values["jwt_public_key"] or values["jwt_jwks_url"])
        if values["jwt_public_key"] and values["jwt_jwks_url"]:
            raise SettingsError("set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both")
        if values["jwt_public_key"]:
            from core.auth import public_key_algorithm

            try:
                public_key_algorithm(values["jwt_public_key"])
            except (ValueError, TypeError) as exc:
                raise SettingsError(f"JWT_PUBLIC_KEY must be a PEM public key: {exc}") from None
        if values["jwt_jwks_url"] and not values["jwt_jwks_url"].startswith(("https://", "http://")):
            raise SettingsError("JWT_JWKS_URL must be an http(s) URL")
        if app_env == "production":
            missing = [name for name, ok in (
                ("MONGODB_URI", values["mongodb_uri"]),
                ("JWT_SECRET", values["jwt_secret"] or asymmetric),
                ("ENCRYPTION_KEYS", values["encryption_keys"]),
                ("UNIPILE_DSN", providers == "live" and unipile_dsn),
                ("UNIPILE_API_KEY", providers == "live" and values["unipile_api_key"]),
                ("UNIPILE_WEBHOOK_SECRET", providers == "live" and values["unipile_webhook_secret"]),
            ) if not ok]
            missing += cls(**{**values, "providers": "live"}).missing_meta()
            if missing:
                raise SettingsError(
                    "APP_ENV=production refuses to start without " + ", ".join(missing)
                    + " (and PROVIDERS=live): the sandbox is never used for real customers"
                )
        else:
            if not values["jwt_secret"]:
                values["jwt_secret"] = _dev_secret(data_dir / "jwt_secret", lambda: token_source.token_urlsafe(48))
            if not values["encryption_keys"]:
                values["encryption_keys"] = (_dev_secret(data_dir / "encryption_key", lambda: Fernet.generate_key().decode()),)
        for key in values["encryption_keys"]:
            try:
                Fernet(key.encode())
            except Exception:
                raise SettingsError("ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64 bytes)") from None
        if len(values["jwt_secret"]) < 32 and not (asymmetric and not values["jwt_secret"]):
            raise SettingsError("JWT_SECRET must be at least 32 characters")
        settings = cls(**values)
        missing_live = settings.missing_unipile() + settings.missing_meta() if providers == "live" else []
        if missing_live:
            raise SettingsError("PROVIDERS=live needs " + ", ".join(missing_live))
        return settings


def _int(get, name: str, default: int, low: int, high: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return value


def _limit(name: str, value: str) -> None:
    from limits import parse

    try:
        parse(value)
    except ValueError:
        raise SettingsError(f"{name} must be a rate such as 100/minute") from None


def _bool(get, name: str, default: bool) -> bool:
    raw = get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false")


def _dev_secret(path: Path, make) -> str:
    """Read a development secret kept in DATA_DIR, creating it (mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        value = make()
        handle.write(value)
    return value
