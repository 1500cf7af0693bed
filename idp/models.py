"""What must survive a Redis restart: users, clients, refresh-token families, subjects,
help-desk requests, audit events."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from urllib.parse import urlparse

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from .identity import name_key


def utcnow() -> dt.datetime:
    """Naive UTC, as stored in every DateTime column."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def epoch(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.UTC).timestamp())


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    # Sign-up looks for the same person among millions: folded names and birth date, indexed.
    __table_args__ = (Index("ix_users_identity", "family_name_key", "given_name_key", "birthdate"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)  # casefolded, for lookup
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)  # lowercased, for lookup
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name_key: Mapped[str] = mapped_column(String(100), default="")  # identity.name_key
    family_name_key: Mapped[str] = mapped_column(String(100), default="")
    birthdate: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    street_address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locality: Mapped[str | None] = mapped_column(String(100), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | pending | disabled
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Signed up through "Ce n'est pas moi" although an account had the same names and birth date:
    # that account's id, for the help desk to check, until it clears the mark.
    # The upstream provider (its name) that verified the names and birth date, with the birthplace and
    # birth country it sent (FranceConnect's identité pivot): None for a self-declared identity.
    identity_verified_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    birthplace: Mapped[str | None] = mapped_column(String(100), nullable=True)
    birthcountry: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # OpenID Connect's other profile claims (nickname, picture…), never asked of citizens: set by the
    # help desk through the admin API where a service needs them (idp/oidc/claims.py, ADMIN_SET).
    profile_claims: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The language the citizen last used here ("fr", "en"): the "locale" claim.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    possible_duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_users_possible_duplicate_of"), nullable=True)

    def get_user_id(self) -> str:
        return self.sub

    @validates("given_name", "family_name")
    def _fold_name(self, field: str, value: str) -> str:
        setattr(self, f"{field}_key", name_key(value))  # kept in step wherever a name changes
        return value

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class UserRole(Base):
    """A role beyond the citizen's: ``helpdesk`` opens the help desk's console."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SecondFactor(Base):
    """A user's TOTP (RFC 6238) secret, once confirmed with a first code, and the last time
    step accepted, so that no code is accepted twice."""

    __tablename__ = "second_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    totp_secret: Mapped[str] = mapped_column(String(64))
    last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confirmed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Passkey(Base):
    """A WebAuthn discoverable credential (a passkey) of a citizen: its id and public key (COSE), the
    authenticator's counter and model (AAGUID), and what the citizen calls it."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as browsers send it
    public_key: Mapped[str] = mapped_column(Text)  # the COSE key, base64url of its CBOR
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class RecoveryCode(Base):
    """One single-use recovery code of a second factor, salted and hashed (``idp.totp``)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(100))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Client(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(String(500), default="openid")
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    # RFC 9068 says resource servers must accept RS256; ES256 signs twenty times faster.
    access_token_alg: Mapped[str] = mapped_column(String(8), default="RS256", server_default="RS256")
    # OpenID Connect Core §5.3.2: the userinfo answered as a JWT signed with this algorithm (None: JSON).
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(8), nullable=True)
    subject_type: Mapped[str] = mapped_column(String(16), default="public")  # public | pairwise
    # Shown to the citizen on the login, sign-up and recovery pages (RFC 7591 names).
    client_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    logo_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    policy_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # private_key_jwt (RFC 7523): the client's public keys, registered, or where it publishes them.
    jwks: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # "fapi2": the FAPI 2.0 Security Profile (PAR, private_key_jwt, short codes, ES256 ID tokens).
    profile: Mapped[str | None] = mapped_column(String(16), nullable=True)

    # What Authlib asks of a client (authlib.oauth2.rfc6749.ClientMixin).
    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": self.post_logout_redirect_uris or []}

    @property
    def sector(self) -> str:
        """Whose pairwise `sub` this client sees: the host of its redirect URIs."""
        hosts = {urlparse(uri).hostname for uri in self.redirect_uris or []}
        return hosts.pop() if len(hosts) == 1 else self.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect requires redirect_uri in every request

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_hash:
            return False
        return hmac.compare_digest(hash_client_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        if self.token_endpoint_auth_method == "private_key_jwt":
            return method == "private_key_jwt"
        return method in ("client_secret_basic", "client_secret_post")  # a secret, sent either way

    @property
    def is_fapi2(self) -> bool:
        return self.profile == "fapi2"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.grant_types or [])


def hash_client_secret(secret: str) -> str:
    # Secrets are 256-bit random, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


class RefreshToken(Base):
    """One refresh token; rotation links them in a family sharing ``family_id``."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    auth_time: Mapped[int] = mapped_column(Integer)
    sid: Mapped[str | None] = mapped_column(String(43), nullable=True)
    # The resources (RFC 8707) the authorization named: each may get tokens from this family.
    resources: Mapped[list | None] = mapped_column(JSON, nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship(lazy="joined")


class PairwiseSubject(Base):
    """The `sub` one sector (a relying party's host) sees for one user."""

    __tablename__ = "pairwise_subjects"
    __table_args__ = (UniqueConstraint("sector", "sub"),)

    sector: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sub: Mapped[str] = mapped_column(String(64))


class HelpRequest(Base):
    """A citizen who lost their mailbox asks the help desk to check who they are offline."""

    __tablename__ = "help_requests"
    __table_args__ = (Index("ix_help_requests_state", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | rejected
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birthdate: Mapped[dt.date] = mapped_column(Date)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    new_email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str] = mapped_column(String(8), default="fr")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Optional, for the call or the letter the help desk may use to check who the citizen is.
    phone_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    street_address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locality: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The upstream provider that verified the names and birth date given (the citizen signed in with
    # it before filing), or None when they were only typed.
    identity_verified_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class FederatedRecovery(Base):
    """A lost mailbox recovered through an upstream that verifies identities, on an account whose
    names and birth date were only self-declared: the new address and password wait
    ``IDP_FEDERATED_RECOVERY_DELAY`` seconds, during which the old address can cancel."""

    __tablename__ = "federated_recoveries"
    __table_args__ = (Index("ix_federated_recoveries_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | done | cancelled | failed
    new_email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, as on the account
    upstream: Mapped[str] = mapped_column(String(40))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    birthplace: Mapped[str | None] = mapped_column(String(100), nullable=True)
    birthcountry: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lang: Mapped[str] = mapped_column(String(8), default="fr")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuditEvent(Base):
    """Who did what to whom, from where, when; never a secret or a token."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user", "user_id", "id"), Index("ix_audit_events_action", "action", "id"),
                      Index("ix_audit_events_at", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)  # "admin:<client id>", "user:<id>"
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # whom; no foreign key: history stays
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the service concerned
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    def as_dict(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat() + "Z", "action": self.action, "actor": self.actor,
                "user_id": self.user_id, "client_id": self.client_id, "ip": self.ip, "details": self.details}


class Upstream(Base):
    """An OpenID Connect provider that citizens may sign in with (FranceConnect, or one set up like
    it): Sésame is its relying party.  The client secret is kept as given (it is sent to the provider),
    so the table is as sensitive as the signing keys (SECURITY.md)."""

    __tablename__ = "upstreams"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)  # in /federation/<name>/...
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(500))
    acr_values: Mapped[str | None] = mapped_column(String(255), nullable=True)
    label: Mapped[str] = mapped_column(String(100))
    style: Mapped[str] = mapped_column(String(16), default="plain")  # franceconnect | plain
    # Its identities are checked against the national registers (FranceConnect's are): a citizen who
    # lost their mailbox may then recover the account matching their identity in self-service.
    verifies_identity: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Resource(Base):
    """A regional API (a resource server, RFC 8707): its identifier is the ``aud`` of the access
    tokens meant for it, its scopes are its own (unique across resources), and it introspects tokens
    with the credentials of its own client (``client_id``)."""

    __tablename__ = "resources"

    identifier: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    scope_descriptions: Mapped[dict] = mapped_column(JSON, default=dict)  # scope -> plain words for consent
    access_token_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    access_token_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: IDP_ACCESS_TOKEN_TTL
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # not in discovery
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UpstreamIdentity(Base):
    """An identity at an upstream provider (its issuer and subject) tied to one Sésame account: that
    identity then signs the citizen in.  An identity is tied to one account at most."""

    __tablename__ = "upstream_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_upstream_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    upstream: Mapped[str] = mapped_column(String(40))  # the name it was linked through, for the account page
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
