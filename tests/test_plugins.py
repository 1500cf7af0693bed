"""Plugins: installed distributions found through the `idp.plugins` entry points, enabled by IDP_PLUGINS."""

import ast
import importlib
import sys
from pathlib import Path

import pytest

import idp
from idp.config import ConfigError

PLUGINS = {
    "sesame_test_plugin": ("helpme", """
def init_app(app, hooks):
    hooks.login_links.append(lambda: [("/help", "Aide")])
"""),
    "sesame_broken_plugin": ("broken", """
def init_app(app, hooks):
    raise RuntimeError("cannot reach the help desk")
"""),
    "sesame_unimportable_plugin": ("unimportable", """
raise ImportError("a dependency is missing")
"""),
}


def install(site: Path, package: str, entry_point: str, source: str) -> None:
    """Lay out a package and its dist-info as pip would install them."""
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(source)
    dist_info = site / f"{package}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[idp.plugins]\n{entry_point} = {package}\n")
    (dist_info / "RECORD").write_text("")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site-packages")
    for package, (entry_point, source) in PLUGINS.items():
        install(folder, package, entry_point, source)
    return folder


@pytest.fixture
def installed(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    for package in PLUGINS:
        monkeypatch.delitem(sys.modules, package, raising=False)


def test_enabled_plugin_adds_its_link_under_the_login_form(installed, build_app):
    app = build_app(IDP_PLUGINS="helpme")

    page = app.test_client().get("/login")

    assert page.status_code == 200
    assert '<a href="/help">Aide</a>' in page.get_data(as_text=True)


def test_installed_plugin_does_nothing_unless_enabled(installed, client):
    assert '<a href="/help">Aide</a>' not in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("plugins", ["nosuch", "helpme nosuch", "helpme,nosuch"])
def test_unknown_plugin_stops_the_start_naming_it(installed, build_app, plugins):
    with pytest.raises(ConfigError) as error:
        build_app(IDP_PLUGINS=plugins)

    message = str(error.value)
    assert "IDP_PLUGINS" in message and "'nosuch'" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("name", ["broken", "unimportable"])
def test_plugin_that_fails_to_load_stops_the_start_naming_it(installed, build_app, name):
    with pytest.raises(ConfigError) as error:
        build_app(IDP_PLUGINS=name)

    message = str(error.value)
    assert "IDP_PLUGINS" in message and repr(name) in message
    assert len(message.splitlines()) == 1


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
    return names


def test_the_core_never_imports_a_plugin():
    core = Path(idp.__file__).parent
    offenders = {
        str(path.relative_to(core)): name
        for path in core.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in {"plugins", "recovery"} or name.startswith("sesame_")
    }
    assert offenders == {}
