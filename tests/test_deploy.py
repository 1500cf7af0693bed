"""The reference deployment under deploy/: what a deployer copies must name real commands, and
nginx, systemd and Redis must accept it.  Nothing here starts a service or listens anywhere.

systemd-analyze and nginx are used when the machine has them (`.ci/run` installs nginx); only the
check that needs the missing binary is skipped, every other check runs."""

from __future__ import annotations

import configparser
import datetime
import importlib.metadata
import ipaddress
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
from click.testing import CliRunner

from idp import cli
from idp import config as settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer"))
GUNICORN_DROP_IN = SYSTEMD / "gunicorn.conf"
SITE = DEPLOY / "nginx" / "sesame.conf"
SENTINEL = DEPLOY / "redis" / "sentinel.conf"
ENV_EXAMPLE = DEPLOY / "sesame.env.example"

VENV_BIN = "/opt/sesame/.venv/bin/"  # where the units expect the deployment's venv
INSTANCE = "/var/lib/sesame"
EXEC_KEYS = ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost")
PLACEHOLDER = "CHANGE_ME"


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; systemd repeats keys, so no configparser."""
    entries, section, pending = [], "", ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str) -> list[str]:
    return [value for _, name, value in unit_entries(path) if name == key]


def exec_lines(path: Path) -> list[tuple[str, list[str]]]:
    """Every command line of a unit or drop-in, without systemd's prefixes (-, @, :, +, !)."""
    found = []
    for _, key, value in unit_entries(path):
        if key in EXEC_KEYS and value:  # an empty ExecStart= only resets the list
            words = shlex.split(value)
            words[0] = words[0].lstrip("-@:+!")
            found.append((key, words))
    return found


def console_scripts_of_this_project() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser.get("options.entry_points", "console_scripts", fallback="").strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines if "=" in line)


def check_idp_command(args: list[str]) -> None:
    """The subcommand exists and takes these options: parsed by click as `idp` would (nothing
    runs), and its --help answers."""
    parent, command, name, rest = None, cli.main, "idp", list(args)
    while isinstance(command, click.Group):
        group_context = click.Context(command, info_name=name, parent=parent)
        name, rest = rest[0], rest[1:]
        parent, command = group_context, command.get_command(group_context, name)
        assert command is not None, f"idp has no subcommand {name!r} ({args})"
    command.make_context(name, rest, parent=parent)  # raises on an unknown option or a bad value
    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0, result.output


def check_gunicorn_command(args: list[str]) -> None:
    """gunicorn is a dependency, its options parse, and the app it names is the factory."""
    from gunicorn.config import Config

    assert re.search(r"^\s*gunicorn\b", (ROOT / "setup.cfg").read_text(), re.M), "gunicorn is not a dependency"
    parsed = Config().parser().parse_args(args)
    assert parsed.args == ["idp:create_app()"], parsed.args
    import idp

    assert callable(idp.create_app)


@pytest.mark.parametrize("path", [*UNITS, GUNICORN_DROP_IN], ids=lambda p: p.name)
def test_every_command_of_the_units_exists(path):
    scripts = console_scripts_of_this_project()
    for key, words in exec_lines(path):
        program = words[0]
        if program.startswith(VENV_BIN):
            name = program.removeprefix(VENV_BIN)
            if name == "idp":
                assert "idp" in scripts, "idp is not a console script of setup.cfg"
                check_idp_command(words[1:])
            elif name == "gunicorn":
                eps = importlib.metadata.entry_points(group="console_scripts", name="gunicorn")
                assert eps, "no gunicorn console script installed"
                check_gunicorn_command(words[1:])
            else:
                pytest.fail(f"{path.name} {key}: {name} is not a program of the venv")
        else:
            assert Path(program).is_absolute() and Path(program).exists(), f"{path.name} {key}: {program}"


def test_the_units_are_hardened_and_share_the_instance_folder():
    services = sorted(SYSTEMD.glob("*.service"))
    assert {p.name for p in services} >= {"sesame.service", "sesame-mail.service", "sesame-keys-rotate.service"}
    for path in services:
        values = {key: value for _, key, value in unit_entries(path)}
        for key, expected in {"User": "sesame", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                              "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
                              "EnvironmentFile": "/etc/sesame/sesame.env"}.items():
            assert values.get(key) == expected, f"{path.name}: {key}={values.get(key)!r}"
        assert INSTANCE in values["ReadWritePaths"].split(), path.name
        assert f"IDP_INSTANCE_DIR={INSTANCE}" in unit_values(path, "Environment"), path.name


def test_the_web_server_is_the_production_server_on_loopback():
    ((_, words),) = [(k, w) for k, w in exec_lines(SYSTEMD / "sesame.service") if k == "ExecStart"]
    assert words[1:3] == ["serve", "--production"]
    assert words[words.index("--host") + 1] == "127.0.0.1"
    assert words[words.index("--port") + 1] == "8000"
    assert "--workers" in words


def test_the_mail_worker_gets_time_to_finish_the_mail_in_hand():
    values = {key: value for _, key, value in unit_entries(SYSTEMD / "sesame-mail.service")}
    assert values["KillSignal"] == "SIGTERM"
    assert values["KillMode"] == "mixed"
    from idp.mail import SMTP_TIMEOUT

    assert int(values["TimeoutStopSec"]) > 2 * SMTP_TIMEOUT


def test_the_keys_are_rotated_every_night_by_a_oneshot_service():
    rotate = SYSTEMD / "sesame-keys-rotate.service"
    assert unit_values(rotate, "Type") == ["oneshot"]
    assert [w[1:] for _, w in exec_lines(rotate)] == [["keys", "rotate"]]
    timer = SYSTEMD / "sesame-keys-rotate.timer"
    assert unit_values(timer, "Unit") in ([], ["sesame-keys-rotate.service"])  # the same name by default
    (calendar,) = unit_values(timer, "OnCalendar")
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d|daily", calendar)
    assert unit_values(timer, "Persistent") == ["yes"] or unit_values(timer, "Persistent") == ["true"]


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    """Skipped when systemd-analyze is missing. The units name /opt/sesame/.venv/bin/..., which
    this machine does not have and which verify checks; copies point at this checkout's venv."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    venv_bin = str(Path(sys.executable).parent) + "/"
    plain, gunicorn = tmp_path / "plain", tmp_path / "gunicorn"
    for folder in (plain, gunicorn):
        folder.mkdir()
        for unit in UNITS:
            (folder / unit.name).write_text(unit.read_text().replace(VENV_BIN, venv_bin))
    drop_in = gunicorn / "sesame.service.d"
    drop_in.mkdir()
    (drop_in / "gunicorn.conf").write_text(GUNICORN_DROP_IN.read_text().replace(VENV_BIN, venv_bin))
    for folder in (plain, gunicorn):
        result = subprocess.run([analyze, "verify", "--man=no", *(str(folder / u.name) for u in UNITS)],
                                capture_output=True, text=True, timeout=60)
        problems = [line for line in (result.stdout + result.stderr).splitlines() if "sesame" in line]
        assert result.returncode == 0 and not problems, result.stdout + result.stderr


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert, private = folder / "fullchain.pem", folder / "privkey.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, private


def test_nginx_accepts_the_site(tmp_path):
    """`nginx -t` with a minimal nginx.conf that includes the site: only the certificate paths
    are rewritten, to a self-signed pair made here. The listen lines stay as shipped, because
    `nginx -t` parses and checks but opens no listening socket; pid, logs and temporary files
    are kept inside tmp_path."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.fail("nginx is not installed (.ci/run installs it: apt-get install -y nginx)")
    cert, key = self_signed_certificate(tmp_path)
    site = SITE.read_text()
    assert "/etc/ssl/sesame/fullchain.pem" in site and "/etc/ssl/sesame/privkey.pem" in site
    site = site.replace("/etc/ssl/sesame/fullchain.pem", str(cert)).replace("/etc/ssl/sesame/privkey.pem", str(key))
    (tmp_path / "sesame.conf").write_text(site)
    temp = {name: tmp_path / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {tmp_path}/sesame.conf;
}}
""")
    result = subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-p", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    # nginx 1.25.1 and later warn that "listen ... http2" is deprecated (Debian 12 has 1.22,
    # which does not know the newer "http2 on;"); any other warning is a fault of the site.
    warnings = [line for line in result.stderr.splitlines() if "[warn]" in line and "http2" not in line]
    assert not warnings, result.stderr


def nginx_directives(text: str) -> list[list[str]]:
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [shlex.split(part) for part in re.split(r"[;{}]", text) if part.strip()]


def test_the_site_forwards_what_the_provider_trusts_and_keeps_the_operators_paths_internal():
    text = SITE.read_text()
    directives = nginx_directives(text)
    headers = {d[1]: d[2] for d in directives if d[0] == "proxy_set_header"}
    assert headers["X-Forwarded-For"] == "$remote_addr"  # overwritten, never appended
    assert not [d for d in directives if "$proxy_add_x_forwarded_for" in d]
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$host"
    assert headers["Connection"] == ""
    assert ["proxy_http_version", "1.1"] in directives
    assert any(d[0] == "keepalive" for d in directives)
    assert ["client_max_body_size", "64k"] in directives  # the provider's MAX_CONTENT_LENGTH, 64 KiB
    protocols = next(d[1:] for d in directives if d[0] == "ssl_protocols")
    assert set(protocols) <= {"TLSv1.2", "TLSv1.3"}
    assert any(d[0] == "return" and d[1] == "301" and d[2].startswith("https://") for d in directives)

    env = read_env_file(ENV_EXAMPLE)
    admin_networks = [ipaddress.ip_network(n) for n in re.split(r"[,\s]+", env["IDP_ADMIN_NETWORKS"]) if n]
    blocks = dict(re.findall(r"location\s+([^\s{]+)\s*\{([^}]*)\}", text))
    for path in ("/admin/", "/helpdesk", "/metrics"):
        body = nginx_directives(blocks[path])
        allowed = [ipaddress.ip_network(d[1]) for d in body if d[0] == "allow"]
        assert allowed and body[len(allowed)] == ["deny", "all"], path
        for network in allowed:  # the provider would answer 404 to a network nginx lets through
            assert any(network.subnet_of(a) for a in admin_networks if a.version == network.version), network
    public = nginx_directives(blocks["/"])
    assert not [d for d in public if d[0] in ("allow", "deny")]


def read_env_file(path: Path) -> dict[str, str]:
    """As systemd's EnvironmentFile= reads it: KEY=value lines, a quoted value unquoted."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), line
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def test_the_environment_example_is_a_valid_production_configuration():
    env = read_env_file(ENV_EXAMPLE)
    known = {setting.name for setting in settings.SETTINGS}
    assert set(env) <= known, set(env) - known
    values = settings.load(environ={**env, "IDP_INSTANCE_DIR": INSTANCE})
    assert values["IDP_ENV"] == "production"
    assert values["IDP_ISSUER"].startswith("https://")
    assert values["IDP_DATABASE_URL"].startswith("postgresql")
    assert values["IDP_DB_AUTO_UPGRADE"] is False
    assert values["IDP_TRUSTED_PROXIES"] == 1
    assert env["IDP_REDIS_URL"] and env["IDP_SMTP_URL"]


def test_no_secret_is_shipped():
    """Every password in the examples is the placeholder, and no private key is among them."""
    env = read_env_file(ENV_EXAMPLE)
    for key, value in env.items():
        if "://" in value:
            password = urlsplit(value).password
            assert password in (None, PLACEHOLDER), key
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY" not in text, path
            for match in re.finditer(r"(?:requirepass|auth-pass\s+\S+)\s+(\S+)", text):
                assert match.group(1) == PLACEHOLDER, path


def test_the_sentinel_example_watches_the_master_of_the_redis_url_with_a_quorum_of_two():
    directives = [line.split() for line in SENTINEL.read_text().splitlines() if line.strip() and line[0] != "#"]
    (monitor,) = [d for d in directives if d[:2] == ["sentinel", "monitor"]]
    master, quorum = monitor[2], int(monitor[5])
    assert quorum == 2
    port = next(d[1] for d in directives if d[0] == "port")
    url = read_env_file(ENV_EXAMPLE)["IDP_REDIS_URL"]
    assert url.startswith("redis+sentinel://")
    hosts, _, path = url.removeprefix("redis+sentinel://").rpartition("@")[2].partition("/")
    sentinels = hosts.split(",")
    assert len(sentinels) == 3 and all(s.endswith(f":{port}") for s in sentinels)
    assert path.split("/")[0] == master
    assert ["sentinel", "down-after-milliseconds", master] == next(
        d for d in directives if d[1] == "down-after-milliseconds")[:3]


def test_redis_reads_the_sentinel_example(tmp_path):
    """redis-server loads the file in sentinel mode with --port 0: it parses every line (a bad
    one is a FATAL CONFIG FILE ERROR), then exits because it may listen nowhere, before it
    connects to anything. A copy, because a sentinel needs its file writable; `dir` points into
    tmp_path because /var/lib/redis may not exist here."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    copy = tmp_path / "sentinel.conf"
    copy.write_text(re.sub(r"(?m)^dir .*$", f"dir {tmp_path}", SENTINEL.read_text()))
    result = subprocess.run([server, str(copy), "--sentinel", "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert "FATAL" not in output, output
    assert "Configuration loaded" in output and "not listen anywhere" in output, output
