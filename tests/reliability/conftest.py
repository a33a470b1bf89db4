"""The fault suite (issue 6): every test against a real broker, with `auxstream replay` as oracle.

The broker fixtures are the integration tests' own, imported (not copied). Each test fills a
:class:`~tests.reliability.support.Row` through the ``row`` fixture; when the test ends the
row is appended, with the test's outcome, to ``.cache/reliability/results.jsonl``
(``AUXSTREAM_RELIABILITY_RESULTS`` names another file), which
``scripts/reliability_report.py`` turns into the table of ``docs/reliability.md``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import kafka_broker, script_broker  # noqa: F401 (fixtures)
from tests.reliability.support import Row, append_row

HERE = Path(__file__).resolve().parent
_OUTCOME = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs the broker: mark it `integration` like the integration tests."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        known = getattr(report, "wasxfail", None)
        if known is not None:
            item.stash[_OUTCOME] = "known failure" if report.skipped else "unexpectedly passed"
        else:
            item.stash[_OUTCOME] = report.outcome


@pytest.fixture
def row(request: pytest.FixtureRequest) -> Iterator[Row]:
    """This test's row of the results table, written when the test ends (pass or fail)."""
    line = Row(test=request.node.name)
    yield line
    line.outcome = request.node.stash.get(_OUTCOME, "error")
    append_row(line)
