"""The datasets pages of the dashboard against a live server holding datasets registered
through the SDK (remote mode): the list, one dataset's versions, schema, profile with
per-column distributions, and the personal data found in it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.live_server import LiveServer, launch, sdk_using

import lepton
from lepton.server.dashboard.pages.datasets import histogram_bars
from lepton.workspace import reset

ROWS = 200


@dataclass
class Site:
    url: str
    live: LiveServer
    versions: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    viewer_alpha: str = ""

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        """GET a page with ``token`` (default: the admin's); ``params`` go in the query."""
        headers = {"authorization": f"Bearer {token or self.live.admin_token}"}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)


def credit(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """A table with a numeric, a categorical (with missing values) and an e-mail column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=rows).astype(float),
            "city": rng.choice(["paris", "lyon", "nice"], size=rows, p=[0.6, 0.3, 0.1]),
            "email": [f"person{i}@example.com" for i in range(rows)],
            "default": rng.choice(["yes", "no"], size=rows),
        }
    )
    frame.loc[: rows // 10 - 1, "city"] = None  # 10% missing
    return frame


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two versions of ``credit`` in project alpha (one used by a run), a ``credit`` in
    project beta, and a dataset written to a CSV file in beta."""
    root = tmp_path_factory.mktemp("dashboard-datasets")
    live = launch(root / "server")
    site = Site(live.url, live)
    with sdk_using(live, root / "client"):
        first = lepton.Dataset.from_pandas(credit(), target="default", name="credit")
        site.versions["first"] = first.register("alpha").version
        second = lepton.Dataset.from_pandas(credit(seed=1), target="default", name="credit")
        site.versions["second"] = second.register("alpha").version
        other = lepton.Dataset.from_pandas(credit(50, seed=2), target="default", name="credit")
        site.versions["beta"] = other.register("beta").version
        csv = root / "loans.csv"
        credit(ROWS, seed=3).to_csv(csv, index=False)
        site.versions["loans"] = lepton.Dataset.from_csv(csv, name="loans").register("beta").version
        with lepton.start_run("uses-first", project="alpha") as run:
            run.add_inputs(("dataset", "credit", site.versions["first"]))
        site.runs["first"] = run.id
        reset()
    site.viewer_alpha = live.make_token("viewer", "alpha")
    yield site
    live.stop()


def text_of(response: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def column_row(response: httpx.Response, column: str) -> str:
    found = re.search(rf'<tr data-testid="column-row" data-column="{column}">.*?\n    </tr>',
                      response.text, re.S)  # fmt: skip
    assert found is not None, f"no row for column {column}"
    return found.group(0)


# the list ------------------------------------------------------------------------------------------
def test_datasets_page_lists_the_newest_version_of_each(site: Site) -> None:
    page = site.get("/datasets")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-testid="dataset-row">.*?</tr>', page.text, re.S)
    assert len(rows) == 3  # credit in alpha, credit in beta, loans in beta
    alpha = next(r for r in rows if "<td>alpha</td>" in r)
    assert site.versions["second"][:12] in alpha  # the newest version
    assert ">200<" in alpha and ">4<" in alpha  # rows, columns
    assert 'href="/datasets/credit?project=alpha"' in alpha


def test_datasets_page_filters_by_project(site: Site) -> None:
    page = site.get("/datasets", project="beta")
    rows = re.findall(r'<tr data-testid="dataset-row">.*?</tr>', page.text, re.S)
    assert len(rows) == 2 and all("<td>beta</td>" in r for r in rows)


def test_a_viewer_sees_only_their_projects_datasets(site: Site) -> None:
    page = site.get("/datasets", site.viewer_alpha)
    rows = re.findall(r'<tr data-testid="dataset-row">.*?</tr>', page.text, re.S)
    assert len(rows) == 1 and "<td>alpha</td>" in rows[0]
    assert site.get("/datasets", site.viewer_alpha, project="beta").status_code == 403
    refused = site.get("/datasets/loans", site.viewer_alpha)
    assert refused.status_code == 403 and "'viewer' role in project 'beta'" in text_of(refused)
    assert "person" not in refused.text


# one dataset ---------------------------------------------------------------------------------------
def test_dataset_page_shows_versions_and_the_newest_by_default(site: Site) -> None:
    page = site.get("/datasets/credit", project="alpha")
    assert page.status_code == 200
    assert site.versions["second"] in page.text  # shown in full in the summary
    versions = re.findall(r'<tr data-testid="version-row".*?</tr>', page.text, re.S)
    assert len(versions) == 2  # only alpha's versions
    assert "(shown)" in versions[0] and site.versions["second"][:12] in versions[0]
    assert f"version={site.versions['first']}&amp;project=alpha" in versions[1]
    assert f'<a href="/runs/{site.runs["first"]}">uses-first</a>' in versions[1]


def test_dataset_page_shows_a_chosen_version(site: Site) -> None:
    page = site.get("/datasets/credit", version=site.versions["first"][:8], project="alpha")
    assert page.status_code == 200
    summary = re.search(r'data-testid="dataset-version">(\w+)<', page.text)
    assert summary is not None and summary.group(1) == site.versions["first"]


def test_schema_roles_missing_values_and_distributions(site: Site) -> None:
    page = site.get("/datasets/credit", project="alpha")
    age = column_row(page, "age")
    assert "numeric" in age and "feature" in age and "mean" in age
    bars = re.findall(r"<rect ", age)
    assert 1 <= len(bars) <= 10 and 'data-testid="histogram"' in age
    assert "style=" not in page.text  # the page's policy forbids inline styles
    city = column_row(page, "city")
    assert "categorical" in city and "20 (10.0%)" in city  # missing count and share
    assert re.search(r'<meter min="0" max="\d+" value="\d+"', city)  # top-value bars
    assert "paris" in city
    target = column_row(page, "default")
    assert "target" in target
    email = column_row(page, "email")
    assert "personal data" in email and "person1@" not in email


def test_personal_data_findings_are_counted_and_masked(site: Site) -> None:
    page = site.get("/datasets/credit", project="alpha")
    rows = re.findall(r'<tr data-testid="pii-row">.*?</tr>', page.text, re.S)
    assert len(rows) == 1
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)
    assert cells[:3] == ["email", "email", "200"]
    assert "@*******.com" in html.unescape(cells[3])  # masked examples
    assert "example.com" not in page.text and "person1@" not in page.text
    assert "over all 200 rows" in text_of(page)


def test_personal_data_of_a_csv_version_is_read_from_its_file(site: Site) -> None:
    page = site.get("/datasets/loans")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-testid="pii-row">.*?</tr>', page.text, re.S)
    assert len(rows) == 1 and ">200<" in rows[0]
    assert "example.com" not in page.text


def test_a_name_in_several_projects_asks_which(site: Site) -> None:
    page = site.get("/datasets/credit")
    assert page.status_code == 200
    assert 'data-testid="ambiguous"' in page.text
    assert 'href="/datasets/credit?project=alpha"' in page.text
    assert 'href="/datasets/credit?project=beta"' in page.text
    # a version names its project: the run page's input links carry only the version
    chosen = site.get("/datasets/credit", version=site.versions["beta"])
    assert chosen.status_code == 200 and site.versions["beta"] in chosen.text
    # a viewer of one of the projects sees that one directly
    assert site.get("/datasets/credit", site.viewer_alpha).status_code == 200


def test_unknown_dataset_and_version_are_404_pages(site: Site) -> None:
    page = site.get("/datasets/nothing-here")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "nothing-here" in text_of(page) and "lepton data add" in text_of(page)
    version = site.get("/datasets/credit", project="alpha", version="0000000000")
    assert version.status_code == 404 and "credit:0000000000" in text_of(version)
    bad = site.get("/datasets/credit", project="alpha", version="zz")
    assert bad.status_code == 422 and "at least its first 8 characters" in text_of(bad)


def test_empty_workspace_shows_the_command_that_fills_it(tmp_path: Path) -> None:
    live = launch(tmp_path / "empty")
    try:
        page = httpx.get(
            f"{live.url}/datasets", headers={"authorization": f"Bearer {live.admin_token}"}
        )
    finally:
        live.stop()
    assert page.status_code == 200 and 'data-testid="empty"' in page.text
    assert "lepton data add credit.csv --target default" in text_of(page)


def test_histogram_bars_scale_to_the_tallest_bin() -> None:
    bars = histogram_bars({"edges": [0.0, 1.0, 2.0, 3.0], "counts": [5, 10, 0]})
    assert [b["height"] for b in bars] == [20.0, 40.0, 0.0]
    assert bars[0]["label"] == "0 to 1: 5 rows"
    assert histogram_bars(None) == [] and histogram_bars({"edges": [], "counts": []}) == []
