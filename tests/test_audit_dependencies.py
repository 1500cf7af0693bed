"""tools/audit_dependencies.py: what `.ci/run` makes of pip-audit's report (the vulnerability services
cannot be reached from this workplace, so the report's shape is written here as pip-audit writes it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from audit_dependencies import verdict


def test_a_known_vulnerability_fails_the_run_and_is_named():
    report = {"dependencies": [
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "EXAMPLE-0001", "fix_versions": ["2.10.1"]}]},
        {"name": "flask", "version": "3.1.0", "vulns": []},
    ], "fixes": []}
    lines, code = verdict(report, "osv")
    assert code == 1
    assert "dependency audit: jinja2 2.10: EXAMPLE-0001 (fixed in 2.10.1)" in lines
    assert "dependency audit (osv): 2 of 2 packages audited, 1 with a known vulnerability" in lines


def test_packages_the_service_could_not_audit_are_counted_not_passed_silently():
    report = {"dependencies": [
        {"name": "aiosmtpd", "skip_reason": "Dependency not found on PyPI and could not be audited: aiosmtpd (1.4.6)"},
        {"name": "flask", "version": "3.1.0", "vulns": []},
    ], "fixes": []}
    lines, code = verdict(report, "pypi")
    assert code == 0
    assert lines == ["dependency audit (pypi): 1 of 2 packages audited, 0 with a known vulnerability",
                     "dependency audit: 1 not audited, e.g. Dependency not found on PyPI and could not be audited: "
                     "aiosmtpd (1.4.6)"]
