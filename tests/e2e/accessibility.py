"""Accessibility checks: axe-core in the page (failing on serious or critical violations),
and the GOV.UK error summary pattern.

The hub's Content-Security-Policy allows only same-origin script files, so axe is not added
as a <script> tag (an inline one would be blocked): its source is evaluated through the
DevTools protocol, which CSP does not govern, and the page under test keeps its real policy.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

AXE_PATH = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = frozenset({"serious", "critical"})
RUN_AXE = "async () => await axe.run(document, {resultTypes: ['violations']})"


@cache
def _axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe violation on the page as it is now, of any impact."""
    page.wait_for_load_state("load")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate(RUN_AXE)["violations"]


def describe(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, what it means, which elements."""
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} "
            f"<{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            target = " ".join(
                ".".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            lines.append(f"    {target}: {node['html'][:160]}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """Fail listing every serious or critical axe violation (rule, impact, help, targets)."""
    found = [v for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not found, (
        f"axe found {len(found)} serious or critical violation(s) on {page.url} "
        f"({page.title()!r}):\n{describe(found)}"
    )


SUMMARY_HAS_FOCUS = """() => {
  const summary = document.querySelector('.govuk-error-summary');
  return summary !== null && summary.contains(document.activeElement);
}"""


def expect_error_summary(page: Page, links: dict[str, str]) -> None:
    """The GOV.UK error summary pattern: the summary lists `links` (href -> message), the
    page title starts "Error:", and focus moves to the summary, so screen readers announce it."""
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator(".govuk-error-summary__title")).to_have_text("There is a problem")
    anchors = summary.get_by_role("link")
    expect(anchors).to_have_count(len(links))
    for href, text in links.items():
        expect(summary.locator(f'a[href="{href}"]')).to_have_text(text)
    expect(page).to_have_title(re.compile(r"^Error: "))
    # GOV.UK Frontend's ErrorSummary moves focus to the summary once its module has run.
    page.wait_for_function(SUMMARY_HAS_FOCUS)
