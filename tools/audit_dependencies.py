"""Audit the tested set of packages (constraints.txt) for known vulnerabilities with pip-audit.

    python tools/audit_dependencies.py [--pip-audit PATH] [--service pypi|osv]

Exits 1, listing them, when a pinned package has a known vulnerability.  A package the service
could not audit (it is not found there, or the service cannot be reached) does not fail the run:
how many were audited and why the others were not is printed, so a run that audited nothing says
so in one line instead of passing for clean.  `.ci/run` runs it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip-audit", default=shutil.which("pip-audit") or "pip-audit")
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument("--requirements", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args(argv)

    # Pinned, so no resolution: each package at its pinned version, as CI installs it.
    command = [args.pip_audit, "--disable-pip", "--no-deps", "-r", str(args.requirements),
               "-s", args.service, "-f", "json", "--progress-spinner", "off"]
    run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own command
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit: not audited: pip-audit ({args.service}) gave no report: {last}")
        return 0

    lines, code = verdict(report, args.service)
    print("\n".join(lines))
    return code


def verdict(report: dict, service: str) -> tuple[list[str], int]:
    """What to print of a pip-audit JSON report, and the exit code: 1 when a package is vulnerable."""
    dependencies = report["dependencies"]
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            lines.append(f"dependency audit: {dep['name']} {dep.get('version', '')}: {vuln['id']} (fixed in {fixed})")
    lines.append(f"dependency audit ({service}): {len(dependencies) - len(skipped)} of {len(dependencies)} packages "
                 f"audited, {len(vulnerable)} with a known vulnerability")
    if skipped:
        lines.append(f"dependency audit: {len(skipped)} not audited, e.g. {skipped[0]['skip_reason']}")
    return lines, 1 if vulnerable else 0

if __name__ == "__main__":
    sys.exit(main())
