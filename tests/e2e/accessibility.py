"""Browser test helpers: axe-core's accessibility rules run in the page, and screenshots
kept as the test run's artefacts.

    assert_accessible(driver)          # fails on any serious or critical violation
    screenshot(driver, "consent")      # build/artefacts/screenshots/consent.png

axe-core is the npm package pinned in tests/e2e/package.json (package-lock.json), put in
tests/e2e/node_modules by ``make browser-deps`` (``npm ci``), which ``make test`` runs.
It is injected through WebDriver (Runtime.evaluate), which the pages' CSP does not
govern: the pages themselves still load only their own scripts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ROOT = HERE.parent.parent
# The test run's artefacts (kept by CI, gitignored): APPWARD_ARTEFACTS_DIR, or build/artefacts.
ARTEFACTS = Path(os.environ.get("APPWARD_ARTEFACTS_DIR", ROOT / "build" / "artefacts"))
SCREENSHOTS = ARTEFACTS / "screenshots"
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.0, 2.1 and 2.2 A and AA, and axe's best practices (landmarks, headings, ...).
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def _axe_source() -> str:
    if not AXE.exists():
        message = f"axe-core is not installed at {AXE}: run `make browser-deps` (npm ci)"
        if os.environ.get("APPWARD_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text()


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """Runs axe-core on the page the driver shows; returns its violations (every impact)."""
    driver.execute_script(_axe_source())
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, arguments[0])
          .then((results) => done({violations: results.violations}))
          .catch((error) => done({error: String(error)}));
        """,
        AXE_OPTIONS,
    )
    if "error" in result:
        pytest.fail(f"axe-core failed on {driver.current_url}: {result['error']}")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- [{violation['impact']}] {violation['id']}: {violation['help']} "
            f"({violation['helpUrl']})"
        )
        for node in violation["nodes"][:5]:
            lines.append(f"    {json.dumps(node['target'])}: {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


def assert_accessible(driver: Any) -> None:
    """Fails, listing them, when axe-core finds a violation of impact serious or
    critical on the page the driver shows (lesser ones are printed, not failed)."""
    violations = axe_violations(driver)
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    if violations:
        print(f"axe-core on {driver.current_url}:\n{describe(violations)}")
    assert not failing, f"accessibility violations on {driver.current_url}:\n{describe(failing)}"


def screenshot(driver: Any, name: str) -> Path:
    """Saves the whole page as build/artefacts/screenshots/<name>.png; returns the path."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f"screenshot name {name!r}: lower-case letters, digits, - and _")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # The page's full height, so a screenshot shows all of it (headless windows are short).
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(int(height) + 120, 600))
    try:
        assert driver.save_screenshot(str(path)), path
    finally:
        driver.set_window_size(width, 900)
    return path
