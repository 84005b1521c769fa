"""make serve-cluster TLS=1: nginx serves HTTPS with a certificate made locally, redirects
plain HTTP to it, sends HSTS, and tells the app the scheme, so its links say https."""

from collections.abc import Iterator

import httpx
import pytest

from app.settings import Settings
from tests.support.live_server import settings_environment
from tests.support.nginx_cluster import Cluster, serving_cluster, trusting


@pytest.fixture(scope="module")
def tls_cluster(settings: Settings) -> Iterator[Cluster]:
    with serving_cluster(settings_environment(settings), instances=1, tls=True) as cluster:
        yield cluster


def test_https_is_served_with_the_local_certificate_and_hsts(tls_cluster: Cluster) -> None:
    with httpx.Client(base_url=tls_cluster.url, verify=trusting(tls_cluster.directory)) as http:
        answer = http.get("/health")
        tilejson = http.get("/api/tiles/providers.json").json()
    assert answer.status_code == 200
    assert answer.http_version in ("HTTP/1.1", "HTTP/2")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    assert tilejson["tiles"][0].startswith(f"{tls_cluster.url}/api/tiles/providers/")


def test_a_client_that_trusts_nothing_local_refuses_the_certificate(tls_cluster: Cluster) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_cluster.url}/health")


def test_plain_http_is_redirected_to_https(tls_cluster: Cluster) -> None:
    https_port = int(tls_cluster.url.rsplit(":", 1)[1])
    http_port = tls_cluster.instance_ports[-1] + 1
    answer = httpx.get(f"http://127.0.0.1:{http_port}/api/providers/nearby?lat=59.8&lng=17.6")
    assert answer.status_code == 301
    assert answer.headers["Location"] == (
        f"https://127.0.0.1:{https_port}/api/providers/nearby?lat=59.8&lng=17.6"
    )
    assert "Strict-Transport-Security" not in answer.headers  # HSTS is only sent over TLS
