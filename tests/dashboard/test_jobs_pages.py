"""The Jobs pages on a live team server: the queue with its status filter and paging, one
job's spec, log, links and buttons by role, and the error pages of an unknown or hidden job.
Jobs are submitted through the REST API with the scheduler off, so they stay where the test
puts them; a finished attempt is recorded through the server's own job queue."""

from __future__ import annotations

import html as markup
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.live_server import LiveServer, launch

from lepton.jobs import JobQueue


@dataclass
class Site:
    server: LiveServer
    developer: str  # keys of users with that role in project "p"
    viewer: str
    outsider: str  # a viewer of project "q" only, where there are no jobs
    jobs: dict[str, str]  # job name -> id

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token or self.server.admin_token}"}
        return httpx.get(self.server.url + path, headers=headers, timeout=30)


def _register_data(server: LiveServer, home: Path) -> None:
    """A tiny table ``good`` in project p, registered through the SDK pointed at the server."""
    from lepton.data import Dataset
    from lepton.workspace import reset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] > 0).astype(int)})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEPTON_HOME", str(home))
        env.setenv("LEPTON_URL", server.url)
        env.setenv("LEPTON_TOKEN", server.admin_token)
        reset()
        try:
            Dataset.from_pandas(frame, target="y", name="good").register("p")
        finally:
            reset()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = launch(tmp_path_factory.mktemp("jobs-pages"))
    try:
        _register_data(server, tmp_path_factory.mktemp("sdk-home"))
        developer = server.make_token("developer", "p", name="dev")
        api = httpx.Client(
            base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {developer}"}
        )
        ids = {}
        specs = [
            {"name": "alpha", "register": "good-model", "retries": 2},
            {"name": "beta"},
            {"name": "gamma", "resources": {"cpu": 1}},
            {"name": "delta"},
        ]
        for extra in specs:
            body = {"data": "good", "model": "logistic_regression", "project": "p", **extra}
            answer = api.post("/jobs", json=body)
            assert answer.status_code == 201, answer.text
            ids[extra["name"]] = answer.json()["id"]
        assert api.post(f"/jobs/{ids['beta']}/cancel").status_code == 200
        # gamma ran once and failed; delta succeeded, with its run and model (the scheduler's
        # moves, made on the server's own queue)
        queue = JobQueue(server.state.workspace.meta)
        for name, status in (("gamma", "failed"), ("delta", "succeeded")):
            assert queue.claim(ids[name]) is not None
            queue.finish(
                ids[name],
                status,
                error="ValueError: the target has one class" if status == "failed" else None,
                run_id="ab" * 16 if status == "succeeded" else None,
                model_ref="good-model:3" if status == "succeeded" else None,
            )
        yield Site(
            server,
            developer,
            server.make_token("viewer", "p", name="watcher"),
            server.make_token("viewer", "q", name="stranger"),
            ids,
        )
    finally:
        server.stop()


def rows(html: str) -> list[str]:
    """The job ids of the jobs table, top to bottom."""
    return re.findall(r'<tr data-job="([0-9a-f]+)">', html)


def test_the_queue_newest_first_with_status_filter_and_pages(site: Site) -> None:
    page = site.get("/jobs", site.viewer)
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="jobs-table"' in html and "<h1>Jobs</h1>" in html
    order = [site.jobs[n] for n in ("delta", "gamma", "beta", "alpha")]
    assert rows(html) == order
    alpha = html[html.index(f'data-job="{site.jobs["alpha"]}"') :].split("</tr>")[0]
    assert ">alpha</a>" in alpha and "queued" in alpha and "0 / 3" in alpha and "1 CPU" in alpha
    delta = html[html.index(f'data-job="{site.jobs["delta"]}"') :].split("</tr>")[0]
    assert f'href="/runs/{"ab" * 16}"' in delta and 'class="badge ok">succeeded' in delta

    cancelled = site.get("/jobs?status=cancelled", site.viewer).text
    assert rows(cancelled) == [site.jobs["beta"]]
    assert '<option value="cancelled" selected>' in cancelled
    assert rows(site.get("/jobs?status=running", site.viewer).text) == []
    assert "No job matches these filters." in site.get("/jobs?status=running").text

    first = site.get("/jobs?limit=2", site.viewer).text
    assert rows(first) == order[:2] and "?offset=2&amp;limit=2" in first
    second = site.get("/jobs?limit=2&offset=2&project=p", site.viewer).text
    assert rows(second) == order[2:] and "offset=0&amp;limit=2&amp;project=p" in second


def test_a_bad_status_is_a_clear_error_page(site: Site) -> None:
    page = site.get("/jobs?status=exploded", site.viewer)
    assert page.status_code == 422
    assert "Unknown job status 'exploded'" in markup.unescape(page.text)
    assert "expected one of queued, running" in page.text


def test_no_visible_job_shows_the_command_that_makes_one(site: Site) -> None:
    html = site.get("/jobs", site.outsider).text
    assert rows(html) == []
    assert 'data-testid="empty"' in html and "lepton jobs submit train.yaml" in html


def test_a_queued_job_shows_its_spec_and_a_cancel_button_to_a_developer(site: Site) -> None:
    job_id = site.jobs["alpha"]
    page = site.get(f"/jobs/{job_id}", site.developer)
    assert page.status_code == 200
    html = page.text
    spec = re.search(r'<pre data-testid="job-spec">(.*?)</pre>', html, re.S)
    assert spec is not None
    assert "model: logistic_regression" in spec.group(1)
    assert "data: good:" in spec.group(1)  # pinned to the version there at submit
    assert "register: good-model" in spec.group(1) and "retries: 2" in spec.group(1)
    assert f'data-api="/api/v1/jobs/{job_id}/cancel" data-method="POST"' in html
    assert 'data-confirm="Cancel job alpha?' in html and 'data-testid="job-cancel"' in html
    assert "/retry" not in html
    assert "Registers good-model when it succeeds." in html
    assert "Nothing logged yet" in html

    # a job is found by a prefix of its id, like the CLI's
    assert site.get(f"/jobs/{job_id[:8]}", site.viewer).status_code == 200


def test_a_viewer_sees_no_buttons(site: Site) -> None:
    html = site.get(f"/jobs/{site.jobs['alpha']}", site.viewer).text
    assert 'data-testid="job-spec"' in html
    assert "data-api=" not in html and "Cancel job" not in html


def test_a_cancelled_job_shows_its_log_and_a_retry_button(site: Site) -> None:
    job_id = site.jobs["beta"]
    html = site.get(f"/jobs/{job_id}", site.developer).text
    log = re.search(r'<pre data-testid="job-log">(.*?)</pre>', html, re.S)
    assert log is not None and "cancelled by dev" in log.group(1)
    assert f'data-api="/api/v1/jobs/{job_id}/retry"' in html and "/cancel" not in html
    assert '<pre data-testid="job-error">cancelled by dev</pre>' in html


def test_failed_and_succeeded_jobs_show_the_error_run_and_model(site: Site) -> None:
    failed = site.get(f"/jobs/{site.jobs['gamma']}", site.viewer).text
    assert "ValueError: the target has one class" in failed
    assert "1 of 1" in failed and 'class="badge bad">failed' in failed

    done = site.get(f"/jobs/{site.jobs['delta']}", site.viewer).text
    assert f'href="/runs/{"ab" * 16}" data-testid="job-run-link"' in done
    assert 'href="/models/good-model/versions/3" data-testid="job-model-link"' in done
    assert 'data-testid="job-actions"' not in done  # nothing to cancel or retry


def test_unknown_hidden_and_malformed_jobs_are_error_pages(site: Site) -> None:
    missing = site.get("/jobs/" + "0" * 32, site.viewer)
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text and "lepton jobs list" in missing.text

    hidden = site.get(f"/jobs/{site.jobs['alpha']}", site.outsider)
    assert hidden.status_code == 403
    assert "needs the 'viewer' role in project 'p'" in markup.unescape(hidden.text)

    malformed = site.get("/jobs/not-a-job-id", site.viewer)
    assert malformed.status_code == 422 and "Invalid job id" in malformed.text


def test_without_credentials_the_jobs_page_asks_to_sign_in(site: Site) -> None:
    answer = httpx.get(site.server.url + "/jobs?status=queued", timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fjobs%3Fstatus%3Dqueued"


def test_a_long_log_shows_its_tail(site: Site) -> None:
    from lepton.jobs._files import append_log

    job_id = site.jobs["gamma"]
    home = Path(site.server.state.workspace.location)
    for line in range(1500):  # about 80 KB
        append_log(home, job_id, f"epoch {line:05d} " + "x" * 30)
    html = site.get(f"/jobs/{job_id}", site.viewer).text
    log = re.search(r'<pre data-testid="job-log">(.*?)</pre>', html, re.S)
    assert log is not None and "The last 64 KB of the log." in html
    assert "epoch 01499" in log.group(1) and "epoch 00000" not in log.group(1)
    assert log.group(1).startswith("--- ")  # from a whole line on
