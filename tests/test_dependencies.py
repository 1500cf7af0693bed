"""The tested set: constraints.txt pins every package that setup.cfg asks for (the provider's and
the test extra's), each pin inside setup.cfg's range, and CI installs with it."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
            found[canonicalize_name(name)] = version
    return found


def asked() -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"] + setup["options.extras_require"]["test"]
    return [Requirement(line) for line in lines.splitlines() if line.strip()]


def test_every_package_asked_for_is_pinned_inside_its_range():
    pinned = pins()
    for requirement in asked():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"{requirement.name}=={pinned[name]} is outside setup.cfg's {requirement.specifier}"


def test_ci_and_the_readme_install_the_tested_set():
    command = "pip install -q -c constraints.txt -e '.[test]'"
    assert command in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c constraints.txt -e '.[test]'" in readme
