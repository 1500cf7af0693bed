"""The ``idp`` command.  Deployers script it, so its flags are part of the contract."""

from __future__ import annotations

import json
import os
import signal
import sys

import click
from flask_babel import force_locale
from sqlalchemy import select

from . import config as settings
from .clients import ACCESS_TOKEN_ALGS, AUTH_METHODS, DEFAULT_GRANT_TYPES, GRANT_TYPES, PROFILES
from .config import ConfigError


def _app(sends_mail: bool = False):
    """The provider, for a command.  Only the commands that deliver mail (``serve``, ``mail
    worker``) need ``IDP_SMTP_URL`` in production: managing clients and accounts sends none,
    and must work on a host that has no mail server yet."""
    from . import create_app

    return create_app(sends_mail=sends_mail)  # a ConfigError becomes one line in _Group.invoke


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, help="Sésame, the OpenID Connect provider. Settings come from IDP_* variables.")
def main() -> None:
    pass


@main.command(help="Run the provider: the development server, or with --production the production "
                   "server (Granian, one process per core).")
@click.option("--host", default=None, help="[default: localhost; 127.0.0.1 with --production]")
@click.option("--port", default=None, type=int, help="[default: 5000; 8000 with --production]")
@click.option("--demo", is_flag=True, help="Also create a demo citizen and a demo client, and print them.")
@click.option("--production", is_flag=True,
              help="The production server, under IDP_ENV=production; mails go through `idp mail worker`.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes with --production [default: the number of cores].")
def serve(host: str | None, port: int | None, demo: bool, production: bool, workers: int | None) -> None:
    if production:
        if demo:
            raise click.UsageError("--demo is for the development server, not with --production")
        _serve_production(host or "127.0.0.1", port or 8000, workers)
        return
    if workers is not None:
        raise click.UsageError("--workers needs --production")
    host, port = host or "localhost", port or 5000
    os.environ.setdefault("IDP_ENV", "development")
    os.environ.setdefault("IDP_ISSUER", f"http://{browsed_host(host)}:{port}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the finally below stops the embedded Redis
    app = _app(sends_mail=True)
    issuer = app.config["IDP_ISSUER"]
    if demo:
        from .demo import create_demo

        with app.app_context():
            _print_demo(create_demo(app))
    from .jobs import Worker
    from .mail import DevMailbox

    worker = Worker(app)
    worker.start_thread()  # production runs `idp mail worker` instead
    click.echo(f"Sésame listens on {host} port {port}: open {issuer}/")
    if isinstance(app.extensions["idp.mail"], DevMailbox):
        click.echo(f"No IDP_SMTP_URL: mails are kept at {issuer}/dev/mail")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        worker.stop()
        if not app.config["IDP_REDIS_URL"]:
            from .redis_store import stop_embedded

            stop_embedded(app.config["IDP_INSTANCE_DIR"])


def worker_count() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _serve_production(host: str, port: int, workers: int | None) -> None:
    """Granian, as measured in ``bench/``: one worker process per core, each running the WSGI
    app on one thread (the GIL allows no more), HTTP/1.1 with keep-alive, no access log (the
    provider logs what matters, redacted)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    os.environ["IDP_ENV"] = "production"
    # Built once here, so a bad setting is one line before any worker starts, and the schema
    # upgrade and the keys happen once; each worker then builds its own app and connections.
    app = _app(sends_mail=True)
    app.extensions["idp"].redis.close()
    from .metrics import prepare_multiprocess

    prepare_multiprocess(app.config["IDP_INSTANCE_DIR"])  # the workers' request counts, shared
    from .db import dispose

    dispose(app)
    count = workers or worker_count()
    click.echo(f"Sésame (production) listens on {host} port {port} with {count} worker(s): "
               f"{app.config['IDP_ISSUER']}")
    Granian("idp:create_app", factory=True, address=host, port=port, interface=Interfaces.WSGI,
            workers=count, blocking_threads=1, http=HTTPModes.http1, websockets=False,
            log_access=False, respawn_failed_workers=True).serve()


@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every pending Alembic migration.")
def db_upgrade() -> None:
    from . import db as database

    values = settings.load({"IDP_DB_AUTO_UPGRADE": False})
    database.upgrade(values["IDP_DATABASE_URL"])
    click.echo("Database schema is up to date.")


@main.group(help="Upstream OpenID Connect providers citizens may sign in with (FranceConnect).")
def upstreams() -> None:
    pass


@upstreams.command("add", help="Register an upstream provider; print what to register there for Sésame.")
@click.option("--name", required=True, help="Short name, part of Sésame's URLs: /federation/<name>/...")
@click.option("--issuer", required=True, help="The provider's issuer (its discovery document is read from it).")
@click.option("--client-id", required=True, help="Sésame's client id at the provider.")
@click.option("--client-secret-stdin", is_flag=True, required=True,
              help="Read Sésame's client secret at the provider from standard input (never from the command line).")
@click.option("--scope", default=None, help="[default: openid given_name family_name birthdate email]")
@click.option("--acr-values", default=None, help="Sent with each request, and checked in the answer (eidas1).")
@click.option("--label", default=None, help="The button's text [default: FranceConnect, or the name].")
@click.option("--style", type=click.Choice(["franceconnect", "plain"]), default="plain", show_default=True)
@click.option("--verifies-identity/--no-verifies-identity", default=None,
              help="Its identities come from the national registers: they may recover a lost mailbox "
                   "[default: on for --style franceconnect].")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"name", "redirect_uri", "post_logout_redirect_uri"}.')
def upstreams_add(name, issuer, client_id, client_secret_stdin, scope, acr_values, label, style, verifies_identity,
                  as_json) -> None:
    from .db import session
    from .upstreams import DEFAULT_SCOPE, UpstreamError, add, check_issuer, metadata, redirect_uris

    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.ClickException("--client-secret-stdin: no secret on standard input")
    app = _app()
    try:
        metadata.discovery(check_issuer(issuer))  # refuse a provider that does not answer as one
        with app.app_context():
            upstream = add(session(), name=name, issuer=issuer, client_id=client_id, client_secret=secret,
                           scope=scope or DEFAULT_SCOPE, acr_values=acr_values, label=label, style=style,
                           verifies_identity=verifies_identity)
            uris = redirect_uris(app.config["IDP_ISSUER"], upstream.name)
    except UpstreamError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps({"name": upstream.name, **uris}))
    else:
        click.echo(f"Upstream {upstream.name} added. Register these at {upstream.issuer}:")
        click.echo(f"redirect_uri:             {uris['redirect_uri']}")
        click.echo(f"post_logout_redirect_uri: {uris['post_logout_redirect_uri']}")


@upstreams.command("list", help="List the upstream providers (never their secrets).")
@click.option("--json", "as_json", is_flag=True)
def upstreams_list(as_json: bool) -> None:
    from .db import session
    from .upstreams import listed

    with _app().app_context():
        items = [{"name": u.name, "issuer": u.issuer, "client_id": u.client_id, "scope": u.scope,
                  "acr_values": u.acr_values, "label": u.label, "style": u.style,
                  "verifies_identity": u.verifies_identity} for u in listed(session())]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        verifies = "; verifies identities" if item["verifies_identity"] else ""
        click.echo(f"{item['name']}  {item['issuer']}  ({item['style']}; {item['scope']}{verifies})")


@upstreams.command("remove", help="Remove an upstream provider.")
@click.argument("name")
def upstreams_remove(name: str) -> None:
    from .db import session
    from .upstreams import remove

    with _app().app_context():
        if not remove(session(), name):
            raise click.ClickException(f"no upstream {name!r}")
    click.echo(f"Removed upstream {name}.")


@main.group(help="Relying parties (OAuth clients).")
def clients() -> None:
    pass


@clients.command("add", help="Register a client; its secret is shown once, stored hashed.")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Required with authorization_code.")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--public", is_flag=True, help="No secret; PKCE required (browser or mobile apps).")
@click.option("--scope", default="openid profile email", show_default=True)
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES),
              help="Repeatable; default authorization_code and refresh_token.")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True)
@click.option("--access-token-alg", type=click.Choice(ACCESS_TOKEN_ALGS), default="RS256", show_default=True,
              help="ES256 signs about twenty times faster; RS256 is what every RFC 9068 resource server accepts.")
@click.option("--subject-type", type=click.Choice(["public", "pairwise"]), default="public", show_default=True)
@click.option("--userinfo-signed-response-alg", "userinfo_alg", type=click.Choice(ACCESS_TOKEN_ALGS), default=None,
              help="Answer the userinfo as a JWT signed with this algorithm (OpenID Connect Core §5.3.2) "
                   "[default: JSON].")
@click.option("--client-uri", help="The service's home page (RFC 7591 client_uri).")
@click.option("--logo-uri", help="Its logo (https), shown on the login, sign-up and recovery pages.")
@click.option("--policy-uri", help="Its privacy policy, linked from those pages.")
@click.option("--token-endpoint-auth-method", "auth_method", type=click.Choice(AUTH_METHODS), default=None,
              help="How it authenticates (default client_secret_basic; private_key_jwt with keys).")
@click.option("--jwks-file", type=click.File("r"), default=None, help="Its public keys (a JWKS), for private_key_jwt.")
@click.option("--jwks-uri", default=None, help="Where it publishes its public keys, for private_key_jwt.")
@click.option("--profile", type=click.Choice(PROFILES), default=None,
              help="fapi2: the FAPI 2.0 Security Profile (PAR, private_key_jwt, ES256 ID tokens).")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": ..., "client_secret": ...}.')
def clients_add(name, redirect_uris, post_logout_uris, backchannel_logout_uri, public, scope, grant_types,
                id_token_alg, access_token_alg, subject_type, userinfo_alg, client_uri, logo_uri, policy_uri,
                auth_method, jwks_file, jwks_uri, profile, as_json) -> None:
    from .clients import ClientSpecError, check, register
    from .db import session

    spec = dict(redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_uris,
                backchannel_logout_uri=backchannel_logout_uri, public=public,
                grant_types=grant_types or DEFAULT_GRANT_TYPES, subject_type=subject_type,
                client_uri=client_uri, logo_uri=logo_uri, policy_uri=policy_uri)
    try:
        check(**spec)
    except ClientSpecError as error:
        raise click.UsageError(str(error)) from None
    try:
        jwks = json.load(jwks_file) if jwks_file else None
    except ValueError:
        raise click.UsageError("--jwks-file is not JSON") from None
    with _app().app_context():
        try:
            client, secret = register(session(), name=name, scope=scope, id_token_alg=id_token_alg,
                                      access_token_alg=access_token_alg, userinfo_alg=userinfo_alg,
                                      auth_method=auth_method, jwks=jwks, jwks_uri=jwks_uri, profile=profile, **spec)
        except ClientSpecError as error:
            raise click.UsageError(str(error)) from None
    if as_json:
        keys_only = client.token_endpoint_auth_method == "private_key_jwt"  # nothing secret to print
        click.echo(json.dumps({"client_id": client.client_id, **({} if keys_only else {"client_secret": secret})}))
    else:
        click.echo(f"client_id:     {client.client_id}")
        if secret:
            click.echo(f"client_secret: {secret}   (shown once: store it now)")


@clients.command("update", help="Change what a client may ask for.")
@click.argument("client_id")
@click.option("--scope", default=None, help="The provider's scopes and registered resources' scopes it may ask for.")
def clients_update(client_id: str, scope: str | None) -> None:
    from .clients import ClientSpecError, update_scope
    from .db import session
    from .models import Client

    with _app().app_context():
        db = session()
        client = db.get(Client, client_id)
        if client is None:
            raise click.ClickException(f"no client {client_id!r}")
        if scope is None:
            raise click.UsageError("nothing to change: give --scope")
        try:
            update_scope(db, client, scope)
        except ClientSpecError as error:
            raise click.UsageError(str(error)) from None
        click.echo(f"Client {client_id} may now ask for: {client.scope}")


@clients.command("list", help="List registered clients.")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    from .db import session
    from .models import Client

    with _app().app_context():
        rows = session().scalars(select(Client).order_by(Client.created_at)).all()
        items = [{"client_id": c.client_id, "name": c.name, "public": c.is_public, "grant_types": c.grant_types,
                  "redirect_uris": c.redirect_uris, "scope": c.scope, "subject_type": c.subject_type,
                  "id_token_alg": c.id_token_signed_response_alg, "access_token_alg": c.access_token_alg,
                  "userinfo_alg": c.userinfo_signed_response_alg}
                 for c in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        kind = "public" if item["public"] else "confidential"
        click.echo(f"{item['client_id']}  {item['name']}  ({kind}; {' '.join(item['grant_types'])})")


@clients.command("remove", help="Delete a client and its refresh tokens.")
@click.argument("client_id")
def clients_remove(client_id: str) -> None:
    from .db import session
    from .models import Client, RefreshToken

    with _app().app_context():
        db = session()
        client = db.get(Client, client_id)
        if client is None:
            raise click.ClickException(f"no client {client_id!r}")
        db.execute(RefreshToken.__table__.delete().where(RefreshToken.client_id == client_id))
        db.delete(client)
        db.commit()
    click.echo(f"Removed client {client_id}.")


@main.group(help="Resource servers: the APIs that accept the provider's access tokens (RFC 8707, RFC 9068).")
def resources() -> None:
    pass


@resources.command("add", help="Register an API; print the credentials it introspects tokens with.")
@click.option("--identifier", required=True, help="Its URI: the aud of the tokens meant for it (RFC 8707).")
@click.option("--scope", required=True, help='Its scopes, unique across resources: "payments:read payments:write".')
@click.option("--name", default=None, help="Shown to citizens on the consent page [default: the host].")
@click.option("--scope-description", "descriptions", multiple=True,
              help='Plain words for the consent page, repeatable: "payments:read=Voir vos paiements".')
@click.option("--access-token-alg", type=click.Choice(ACCESS_TOKEN_ALGS), default="RS256", show_default=True)
@click.option("--access-token-ttl", type=int, default=None, help="Seconds [default: IDP_ACCESS_TOKEN_TTL].")
@click.option("--private", is_flag=True, help="Leave its scopes out of discovery.")
@click.option("--json", "as_json", is_flag=True, help='Print {"identifier", "client_id", "client_secret"}.')
def resources_add(identifier, scope, name, descriptions, access_token_alg, access_token_ttl, private,
                  as_json) -> None:
    from . import resources as registry
    from .db import session

    with _app().app_context():
        try:
            resource, secret = registry.add(session(), identifier=identifier, scope=scope, name=name,
                                            descriptions=descriptions, access_token_alg=access_token_alg,
                                            access_token_ttl=access_token_ttl, private=private)
        except registry.ResourceError as error:
            raise click.UsageError(str(error)) from None
        answer = {"identifier": resource.identifier, "client_id": resource.client_id, "client_secret": secret}
    if as_json:
        click.echo(json.dumps(answer))
    else:
        click.echo(f"Resource {answer['identifier']} added. It introspects tokens with:")
        click.echo(f"client_id:     {answer['client_id']}")
        click.echo(f"client_secret: {secret}   (shown once: store it now)")


@resources.command("list", help="List the resource servers (never their secrets).")
@click.option("--json", "as_json", is_flag=True)
def resources_list(as_json: bool) -> None:
    from . import resources as registry
    from .db import session

    with _app().app_context():
        items = [{"identifier": r.identifier, "name": r.name, "scopes": r.scopes,
                  "scope_descriptions": r.scope_descriptions, "access_token_alg": r.access_token_alg,
                  "access_token_ttl": r.access_token_ttl, "private": r.private, "client_id": r.client_id}
                 for r in registry.listed(session())]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        private = "; private" if item["private"] else ""
        click.echo(f"{item['identifier']}  {item['name']}  ({' '.join(item['scopes'])}; {item['access_token_alg']}"
                   f"{private})")


@resources.command("remove", help="Remove a resource server and its introspection credentials.")
@click.argument("identifier")
def resources_remove(identifier: str) -> None:
    from . import resources as registry
    from .db import session

    with _app().app_context():
        if not registry.remove(session(), identifier):
            raise click.ClickException(f"no resource {identifier!r}")
    click.echo(f"Removed resource {identifier}.")


@main.group(help="Citizens' accounts.")
def users() -> None:
    pass


@users.command("add", help="Create an account; without --password-stdin it must use recovery.")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--birthdate", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--unverified", is_flag=True, help="The e-mail address is not verified yet.")
@click.option("--json", "as_json", is_flag=True)
def users_add(username, email, given_name, family_name, birthdate, password_stdin, unverified, as_json) -> None:
    from sqlalchemy.exc import IntegrityError

    from .db import session
    from .password_policy import problems
    from .users import create, valid_email

    email = valid_email(email)
    if email is None:
        raise click.BadParameter("must be one e-mail address, without a name or a list", param_hint="--email")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    app = _app()
    with app.app_context(), force_locale("en"):
        refused = problems(password, username, email, given_name=given_name, family_name=family_name,
                           birthdate=birthdate.date() if birthdate else None) if password is not None else []
    if refused:
        raise click.BadParameter(" ".join(refused), param_hint="--password-stdin")
    with app.app_context():
        db = session()
        try:
            user = create(db, username=username, email=email, given_name=given_name, family_name=family_name,
                          birthdate=birthdate.date() if birthdate else None, password=password,
                          email_verified=not unverified)
            db.commit()
        except IntegrityError:
            raise click.ClickException("an account with this username or e-mail already exists") from None
        result = {"id": user.id, "sub": user.sub, "username": user.username, "email": user.email}
    click.echo(json.dumps(result) if as_json else f"Created {result['username']} (sub {result['sub']}).")


@users.command("list", help="List accounts.")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    from .db import session
    from .models import User

    with _app().app_context():
        rows = session().scalars(select(User).order_by(User.id)).all()
        items = [{"id": u.id, "username": u.username, "email": u.email, "status": u.status,
                  "email_verified": u.email_verified, "given_name": u.given_name, "family_name": u.family_name}
                 for u in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        names = f"{item['given_name']} {item['family_name']}"
        click.echo(f"{item['id']:>6}  {item['username']:<24} {item['email']:<32} {item['status']:<8} {names}")


def _role_change(username: str, role: str, change) -> bool:
    from .db import session
    from .roles import ROLES
    from .users import find_by_login

    if role not in ROLES:
        raise click.BadParameter(f"must be one of: {', '.join(ROLES)}", param_hint="ROLE")
    with _app().app_context():
        db = session()
        user = find_by_login(db, username) if "@" not in username else None
        if user is None:
            raise click.ClickException(f"no account with the identifier {username!r}")
        return change(db, user, role)


@users.command("grant", help="Give an account a role (helpdesk: the help desk's console); audited.")
@click.argument("username")
@click.argument("role")
def users_grant(username: str, role: str) -> None:
    from .roles import grant

    changed = _role_change(username, role, grant)
    click.echo(f"{username} now has the role {role}." if changed else f"{username} already had the role {role}.")


@users.command("revoke-role", help="Take a role from an account; audited.")
@click.argument("username")
@click.argument("role")
def users_revoke_role(username: str, role: str) -> None:
    from .roles import revoke

    changed = _role_change(username, role, revoke)
    click.echo(f"{username} no longer has the role {role}." if changed else f"{username} did not have the role {role}.")


@main.group(help="Outgoing mail.")
def mail() -> None:
    pass


@mail.command("worker", help="Send queued mails and run queued jobs, with retries (production).")
@click.option("--drain", is_flag=True, help="Exit once the queue is empty instead of waiting for more.")
@click.option("--timeout", default=300.0, show_default=True, help="With --drain: give up after this many seconds.")
def mail_worker(drain: bool, timeout: float) -> None:
    from .jobs import Worker

    app = _app(sends_mail=True)  # its lines go to stderr, as every process's (idp/logs.py)
    worker = Worker(app)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())  # finish the job in hand, then stop
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    if drain:
        ran = worker.drain(timeout)
        left = app.extensions["idp.jobs"].pending()
        click.echo(f"{ran} job(s) run, {left} left.")
        if left:
            raise SystemExit(1)
        return
    click.echo("Mail worker started; SIGTERM stops it after the job in hand.")
    worker.run_forever()
    click.echo("Mail worker stopped.")


@main.group(help="The job queue (mails, recovery requests).")
def jobs() -> None:
    pass


@jobs.command("stats", help="How many jobs wait, how many were dropped because the queue was full, how many died.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def jobs_stats(as_json: bool) -> None:
    stats = _app().extensions["idp.jobs"].stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    click.echo(f"queued:   {stats['pending']} of at most {stats['max']} (IDP_JOBS_MAX)")
    click.echo(f"  due now:  {stats['due']}")
    click.echo(f"  waiting:  {stats['waiting']} (a retry's back-off, or in a worker's hands)")
    click.echo(f"dropped:  {stats['dropped']} (the queue was full)")
    click.echo(f"dead:     {stats['dead']} kept (expired, failed for good, or dropped; the latest 1000)")


@main.group(help="The audit log.")
def audit() -> None:
    pass


@audit.command("export", help="Write audit events as JSON lines, oldest first.")
@click.option("--since", type=click.DateTime(), help="Only events at or after this UTC date-time.")
@click.option("--action", help="Only this action, e.g. login.failure.")
@click.option("--user", "user_id", type=int, help="Only events about this account id.")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True)
def audit_export(since, action, user_id, output) -> None:
    from .db import session
    from .models import AuditEvent

    statement = select(AuditEvent).order_by(AuditEvent.id)
    if since:
        statement = statement.where(AuditEvent.at >= since)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if user_id is not None:
        statement = statement.where(AuditEvent.user_id == user_id)
    written = 0
    with _app().app_context():
        for event in session().scalars(statement.execution_options(yield_per=1000)):
            output.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
            written += 1
    click.echo(f"{written} event(s) written.", err=True)


@main.group(help="Signing keys.")
def keys() -> None:
    pass


@keys.command("rotate", help="Sign with new keys; old ones stay published until their tokens expire.")
def keys_rotate() -> None:
    app = _app()
    result = app.extensions["idp.signing_keys"].rotate()
    click.echo(f"New keys: {', '.join(result['added'])}")
    if result["retired"]:
        click.echo(f"Retired (still published for verification): {', '.join(result['retired'])}")
    if result["pruned"]:
        click.echo(f"Removed: {', '.join(result['pruned'])}")


def browsed_host(host: str) -> str:
    """The host name a browser on this machine uses for ``--host``: ``localhost`` for the
    wildcard addresses, so that the issuer, the printed links and the links in mails all
    name one host and the browser keeps one session."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        return "localhost"
    return f"[{host}]" if ":" in host else host  # an IPv6 address, as URLs write it


def _print_demo(demo: dict) -> None:
    click.echo(f"Demo citizen:  username {demo['username']}  password {demo['password']}")
    click.echo(f"               {demo['given_name']} {demo['family_name']}, born "
               f"{demo['birthdate']:%d/%m/%Y}: sign up with these names and this birth date "
               "to see the hint that an account exists")
    click.echo(f"Demo client:   client_id {demo['client_id']}  client_secret {demo['client_secret']}")
    click.echo(f"               redirect_uri {demo['redirect_uri']}")
    click.echo("Example relying party: .venv/bin/python examples/demo_rp.py "
               f"--issuer {demo['issuer']} --client-secret {demo['client_secret']}")
    click.echo(f"                       then open {demo['relying_party']}/")
