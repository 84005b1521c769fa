"""The documented curl examples run as written, against the API served as `make run` serves it."""

from pathlib import Path

import pytest

from app.settings import Settings
from tests.support.doc_examples import documented_requests, run_examples
from tests.support.live_server import live_server, settings_environment

API_DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.usefixtures("job_worker_running")  # the walk-through resets a password, exports
def test_every_curl_example_answers_the_status_documented_under_it(settings: Settings) -> None:
    with live_server(settings_environment(settings), workers=1) as url:
        assert run_examples(API_DOCUMENT, url) == []


def test_a_curl_example_without_its_status_is_refused() -> None:
    script = "curl \\\n  http://x/health\n# 200 ok\ncurl http://x/api/me\necho\n"
    with pytest.raises(ValueError, match="curl http://x/api/me"):
        documented_requests(script)
    statuses = [r.expected_status for r in documented_requests(script.replace("echo", "# 401"))]
    assert statuses == [200, 401]
