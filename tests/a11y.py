"""axe-core in Debian's Chromium, for the accessibility tests: every WCAG 2.0, 2.1 and 2.2 rule
of levels A and AA, and Deque's best practices, at every impact level.

axe's JavaScript comes bundled in the ``axe-playwright-python`` package (the ``test`` extra), so
the tests need no network. It is injected with Playwright's ``evaluate``, which runs outside the
page's Content-Security-Policy: the pages are checked as they are served, their CSP included."""

from __future__ import annotations

from axe_playwright_python.base import AXE_SCRIPT

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
RUN = """tags => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
                  .then(results => results.violations)"""


def violations(page) -> list[dict]:
    """What axe finds wrong on the page as it is now (JavaScript must be on in its context)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    return page.evaluate(RUN, TAGS)


def report(found: list[dict]) -> str:
    """The violations as a person fixing them reads them: rule, impact, help, and each element."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:200]}")
            lines.extend(f"        {line}" for line in (node.get("failureSummary") or "").splitlines())
    return "\n".join(lines)


def assert_accessible(page) -> None:
    found = violations(page)
    assert not found, f"axe found {len(found)} violation(s) on {page.url}:\n{report(found)}"
