"""Settings: one validated object, read once from a TOML file and the environment.

Precedence (highest first): explicit keyword arguments (the CLI's options),
``DICOMVAULT_*`` environment variables, the TOML file, the defaults below.
The TOML file is ``$DICOMVAULT_CONFIG`` if set, otherwise
``<data_dir>/dicomvault.toml`` if it exists. ``dicomvault.sample.toml`` in the
repository documents every key.

Secrets (the keyring passphrase, database passwords) are ``SecretStr`` and are
masked by :func:`Settings.public_view`, which ``dicomvault config show`` prints.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dicomvault.errors import ConfigurationError


class DuplicatePolicy(enum.StrEnum):
    """What a store does when the SOP Instance UID is already archived."""

    REJECT = "reject"
    REPLACE = "replace"
    IGNORE_IF_IDENTICAL = "ignore-if-identical"


KeyProviderKind = Literal["local", "transit"]

class CompressionTime(enum.StrEnum):
    """When the storage policy compresses: in the store request, or later in the background."""

    INGEST = "ingest"
    BACKGROUND = "background"


class CompressionRule(BaseModel):
    """One storage-policy rule: instances of a modality and/or SOP class, and what to do.

    ``syntax`` is ``keep``, a short name (``jpeg-ls-lossless``,
    ``jpeg2000-lossless``, ``htj2k-lossless``, ``htj2k-lossless-rpcl``,
    ``rle``) or a lossless Transfer Syntax UID; ``when`` overrides
    ``storage_compression_when``. The first matching rule wins.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: str | None = None
    sop_class: str | None = None
    syntax: str = Field(min_length=1)
    when: CompressionTime | None = None

    @model_validator(mode="after")
    def _matches_something(self) -> CompressionRule:
        if not self.modality and not self.sop_class:
            raise ValueError("a storage_compression_rules entry needs a modality or a sop_class")
        return self


def _default_compression_rules() -> list[CompressionRule]:
    """Colour modalities go to HTJ2K: JPEG-LS has no colour transform in DICOM (docs/codecs.md)."""
    return [CompressionRule(modality=modality, syntax="htj2k-lossless")
            for modality in ("US", "XC", "ES", "OP", "GM")]


class BlobBackend(enum.StrEnum):
    """Where the primary copy of every sealed object lives."""

    FILESYSTEM = "filesystem"
    S3 = "s3"


class ReplicationMode(enum.StrEnum):
    """How the optional replica is written (see ``dicomvault.storage.replicated``)."""

    MIRROR = "mirror"
    ASYNC = "async"


class DimseDestination(BaseModel):
    """A DICOM peer this node connects to (C-MOVE destination, storage commitment report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    tls: bool = False


def _default_data_dir() -> Path:
    return Path(os.environ.get("DICOMVAULT_DATA_DIR", "./dicomvault-data"))


class Settings(BaseSettings):
    """Every setting of a dicomvault node. Constructed once per process."""

    model_config = SettingsConfigDict(
        env_prefix="DICOMVAULT_", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    dicom_port: int = Field(default=11112, ge=0, le=65535)
    ae_title: str = Field(default="DICOMVAULT", min_length=1, max_length=16)

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite (WAL) at <data_dir>/index.sqlite3.",
    )
    keyring_passphrase: SecretStr | None = Field(
        default=None,
        description=(
            "Passphrase of the local keyring. Unset: a generated one is kept in "
            "<data_dir>/keys/passphrase (mode 0600); production should set it or use a KMS."
        ),
    )
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.IGNORE_IF_IDENTICAL
    max_part_bytes: int = Field(
        default=4 * 1024**3, ge=1024, description="Largest single instance accepted."
    )
    max_request_bytes: int = Field(
        default=16 * 1024**3, ge=1024, description="Largest STOW-RS request body accepted."
    )
    fsync: bool = Field(
        default=True, description="fsync blobs and directories before acknowledging a store."
    )
    public_base_url: str | None = Field(
        default=None, description="Base URL used in RetrieveURL/BulkDataURI; default from request."
    )
    flush_access_events: bool = Field(
        default=False,
        description=(
            "Wait for the disk flush before answering a search or retrieve. Off: the "
            "access's ledger event commits atomically and survives a crash of the server "
            "process, and is flushed to disk within a second (a power loss in that second "
            "can lose it). Stores, deletes and key events always wait for the flush."
        ),
    )
    ledger_origin: str = Field(
        default="dicomvault.local/ledger",
        min_length=1,
        max_length=255,
        description=(
            "Name of this node's ledger in its signed checkpoints (C2SP tlog-checkpoint "
            "origin: a schema-less URL such as pacs.example-hospital.org/ledger)."
        ),
    )
    # -- security --
    key_provider: KeyProviderKind = Field(
        default="local", description="Who holds the KEKs: local keyring or a Transit KMS.")
    transit_url: str | None = Field(default=None, description="Vault/OpenBao address.")
    transit_token: SecretStr | None = Field(default=None, description="Vault/OpenBao token.")
    transit_mount: str = "transit"
    transit_key_prefix: str = Field(default="dv-sk-", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    transit_ca_file: Path | None = None
    access_token_seconds: int = Field(default=600, ge=30, le=86400)
    refresh_token_hours: int = Field(default=12, ge=1, le=720)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_seconds: int = Field(default=900, ge=1)
    login_rate_limit: int = Field(default=20, ge=1, description="Failed logins/minute/address.")
    token_audience: str = Field(default="dicomvault", min_length=1)
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_roles_claim: str = "roles"
    oidc_role_map: dict[str, list[str]] = Field(default_factory=dict)
    oidc_username_claim: str = "preferred_username"
    dimse_ae_roles: dict[str, list[str]] = Field(
        default_factory=lambda: {"*": ["technologist"]},
        description="Calling AE title ('*': any other) -> roles of that DICOM peer.")
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    allow_plain_http: bool = Field(
        default=False, description="Serve plain HTTP beyond localhost (behind a TLS proxy).")

    @field_validator("oidc_role_map", "dimse_ae_roles")
    @classmethod
    def _roles_are_known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from dicomvault.access.roles import parse_roles

        for roles in value.values():
            parse_roles(roles)
        return value

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.key_provider == "transit" and not (self.transit_url and self.transit_token):
            raise ValueError("key_provider 'transit' needs transit_url and transit_token")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("oidc_issuer needs oidc_audience (this node's client id)")
        return self
    # -- ledger --
    ledger_checkpoint_interval_seconds: float = Field(
        default=300, ge=0,
        description="Sign a ledger checkpoint this often when the log grew; 0 turns it off.",
    )
    audit_syslog_url: str | None = Field(
        default=None,
        description=(
            "Audit record collector (IHE ATNA): tls://host:6514 (RFC 5425) or udp://host:514 "
            "(RFC 5426). Unset: audit messages are not forwarded."
        ),
    )
    audit_syslog_ca_file: Path | None = Field(
        default=None, description="CA certificates that verify the collector (TLS); "
                                  "default: the system's."
    )
    audit_syslog_client_cert: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS with the collector."
    )
    audit_syslog_client_key: Path | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    audit_syslog_interval_seconds: float = Field(
        default=10, gt=0, description="How often new ledger events are forwarded."
    )

    # -- codecs --
    storage_compression: str = Field(
        default="jpeg-ls-lossless",
        min_length=1,
        description=("Lossless syntax archived instances are compressed to unless a rule says "
                     "otherwise: 'keep', a short name or a Transfer Syntax UID."),
    )
    storage_compression_when: CompressionTime = Field(
        default=CompressionTime.BACKGROUND,
        description="'background' (after the acknowledge, when ingest is idle) or 'ingest'.",
    )
    storage_compression_rules: list[CompressionRule] = Field(
        default_factory=_default_compression_rules,
        description="Per modality / SOP class exceptions to storage_compression.",
    )
    compression_interval_seconds: float = Field(
        default=30.0, gt=0, description="Pause between passes of the background compressor."
    )
    compression_idle_seconds: float = Field(
        default=30.0, ge=0,
        description="The background compressor waits until nothing was stored for this long.",
    )
    transcode_cache_bytes: int = Field(
        default=256 * 1024**2, ge=0,
        description="Memory for decoded/transcoded instances and frames served on retrieve.",
    )

    # -- storage and backup --
    blob_backend: BlobBackend = Field(
        default=BlobBackend.FILESYSTEM,
        description="filesystem (<data_dir>/blobs) or s3 (s3_bucket under s3_prefix).",
    )
    s3_bucket: str | None = Field(default=None, description="Bucket of the S3 blob store.")
    s3_prefix: str = Field(default="", description="Key prefix of the S3 blob store.")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint; unset: AWS (boto3's resolution)."
    )
    s3_region: str | None = None
    s3_access_key_id: str | None = Field(
        default=None, description="Unset: boto3's default chain (AWS_* environment, roles)."
    )
    s3_secret_access_key: SecretStr | None = None
    s3_part_size: int = Field(
        default=8 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3,
        description="Objects larger than this go up as multipart uploads of this part size.",
    )
    s3_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per S3 request (exponential backoff)."
    )
    replica: str | None = Field(
        default=None,
        description="Second blob store: a directory or s3://bucket/prefix. Unset: none.",
    )
    replication_mode: ReplicationMode = ReplicationMode.ASYNC
    replication_interval_seconds: float = Field(default=5.0, gt=0)
    backup_target: str | None = Field(
        default=None, description="Default target of `backup run`: a directory or s3://..."
    )
    backup_keep_generations: int = Field(default=7, ge=1)
    scrub_interval_hours: float = Field(
        default=168.0, ge=0, description="Background scrub period; 0: only `dicomvault scrub`."
    )

    # -- de-identification (deid/) --
    deid_key_file: Path | None = Field(
        default=None,
        description=("Pseudonym key of `dicomvault deid` (hex, mode 0600, made by "
                     "`dicomvault deid-keygen`); unset: <data_dir>/keys/deid.key. Sharing "
                     "agreements use their own per-agreement keys."),
    )
    deid_uid_root: str = Field(
        default="2.25",
        pattern=r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$",
        max_length=40,
        description=("Root of the UIDs de-identification makes; 2.25 gives UUID-derived UIDs "
                     "(PS3.5 B.2), or use your organisation's registered root."),
    )

    # -- consortium chain (dicomvault.chain, docs/chain.md) --
    chain_enabled: bool = Field(
        default=False,
        description="Anchor checkpoint roots and agreement digests on the consortium chain.",
    )
    chain_rpc_url: str | None = Field(
        default=None, description="JSON-RPC endpoint of a consortium chain node (http(s)://)."
    )
    chain_contract_address: str | None = Field(
        default=None, description="Address of the anchor registry ('dicomvault chain deploy')."
    )
    chain_account_key_file: Path | None = Field(
        default=None,
        description="This member's Ethereum private key (hex), mode 0600 "
                    "('dicomvault chain new-account').",
    )
    chain_anchor_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often new checkpoints and agreements are anchored."
    )
    chain_timeout_seconds: float = Field(
        default=10.0, gt=0, description="JSON-RPC request and transaction receipt timeout."
    )

    @model_validator(mode="after")
    def _chain_is_complete(self) -> Settings:
        if self.chain_enabled and not (self.chain_rpc_url and self.chain_contract_address
                                       and self.chain_account_key_file):
            raise ValueError("chain_enabled needs chain_rpc_url, chain_contract_address and "
                             "chain_account_key_file")
        if self.chain_rpc_url and not self.chain_rpc_url.startswith(("http://", "https://")):
            raise ValueError("chain_rpc_url must be an http:// or https:// URL")
        if self.chain_enabled and importlib.util.find_spec("web3") is None:
            raise ValueError("chain_enabled needs web3: pip install 'dicomvault[chain]'")
        return self

    # -- DIMSE (dimse/, docs/dimse.md) --
    dimse_max_associations: int = Field(
        default=16, ge=1, le=256, description="Associations served at once (more are rejected).")
    dimse_acse_timeout_seconds: float = Field(default=30.0, gt=0)
    dimse_dimse_timeout_seconds: float = Field(default=60.0, gt=0)
    dimse_network_timeout_seconds: float = Field(default=60.0, gt=0)
    dimse_max_pdu_bytes: int = Field(
        default=1024 * 1024, ge=0,
        description="Largest PDU a peer may send us (0: no limit); large PDUs mean fewer hops.")
    dimse_destinations: dict[str, DimseDestination] = Field(
        default_factory=dict,
        description="C-MOVE destinations (and storage commitment peers) by AE title.")
    dimse_tls_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="DICOM TLS port (PS3.15 B.1; IANA 2762). Unset: no TLS listener.")
    dimse_tls_certfile: Path | None = None
    dimse_tls_keyfile: Path | None = None
    dimse_tls_ca_file: Path | None = Field(
        default=None, description="CAs that sign the client certificates DICOM TLS accepts.")
    dimse_tls_cert_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Client certificate subject CN -> roles of that peer over DICOM TLS.")
    dimse_ae_hosts: dict[str, list[IPvAnyNetwork]] = Field(
        default_factory=dict,
        description="Calling AE title -> the addresses or networks it may call from (an AE "
                    "title listed here calling from elsewhere gets no role); unlisted: any.")

    @field_validator("dimse_tls_cert_roles")
    @classmethod
    def _cert_roles_are_known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from dicomvault.access.roles import parse_roles

        for roles in value.values():
            parse_roles(roles)
        return value

    @model_validator(mode="after")
    def _dimse_tls_is_complete(self) -> Settings:
        files = (self.dimse_tls_certfile, self.dimse_tls_keyfile, self.dimse_tls_ca_file)
        if self.dimse_tls_port is not None and None in files:
            raise ValueError("dimse_tls_port needs dimse_tls_certfile, dimse_tls_keyfile "
                             "and dimse_tls_ca_file (client certificates are required)")
        return self

    log_level: str = "INFO"

    @field_validator("ae_title")
    @classmethod
    def _ae_title_is_valid(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped or "\\" in stripped or not stripped.isprintable():
            raise ValueError("AE title must be 1-16 printable characters without backslash")
        return stripped

    @field_validator("ledger_origin")
    @classmethod
    def _origin_is_one_printable_line(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip() or "+" in value:
            raise ValueError("ledger_origin must be one printable line without '+' or "
                             "surrounding spaces (it names the checkpoint signer)")
        return value

    @field_validator("audit_syslog_url")
    @classmethod
    def _syslog_url_is_supported(cls, value: str | None) -> str | None:
        if value is not None:
            scheme, sep, rest = value.partition("://")
            host, _, port = rest.rpartition(":")
            if scheme not in ("tls", "udp") or not sep or not host or not port.isdigit():
                raise ValueError("audit_syslog_url must be tls://host:port or udp://host:port")
        return value

    @model_validator(mode="after")
    def _s3_store_has_a_bucket(self) -> Settings:
        if self.blob_backend is BlobBackend.S3 and not self.s3_bucket:
            raise ValueError("blob_backend = 's3' needs s3_bucket")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit_dir = getattr(init_settings, "init_kwargs", {}).get("data_dir")
        return (init_settings, env_settings, _TomlFileSource(settings_cls, explicit_dir))

    # -- derived locations -------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        """The database URL in force (SQLite under the data directory by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite3').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def public_view(self) -> dict[str, Any]:
        """Every setting as JSON-ready values with secrets masked (``config show``)."""
        view = self.model_dump(mode="json")
        view["database_url"] = _mask_url_password(self.resolved_database_url)
        for secret in ("keyring_passphrase", "transit_token", "s3_secret_access_key"):
            if getattr(self, secret) is not None:
                view[secret] = _MASK
        return view


#: What ``config show`` prints in place of a secret.
_MASK = "*" * 10


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}{':' + _MASK if has_password else ''}@{host}"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads ``$DICOMVAULT_CONFIG`` or ``<data_dir>/dicomvault.toml``.

    ``data_dir`` is the one given explicitly (``--data-dir``), else the
    environment's, else the default.
    """

    def __init__(self, settings_cls: type[BaseSettings], data_dir: Path | str | None) -> None:
        super().__init__(settings_cls)
        self._data_dir = Path(data_dir) if data_dir is not None else _default_data_dir()
        self._values = self._load()

    def _path(self) -> Path | None:
        explicit = os.environ.get("DICOMVAULT_CONFIG")
        if explicit:
            return Path(explicit)
        candidate = self._data_dir / "dicomvault.toml"
        return candidate if candidate.is_file() else None

    def _load(self) -> dict[str, Any]:
        path = self._path()
        if path is None:
            return {}
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except FileNotFoundError as exc:
            raise ConfigurationError(f"configuration file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"configuration file {path} is not valid TOML: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once, turning validation failures into ConfigurationError."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from exc
