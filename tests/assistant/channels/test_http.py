"""The outgoing client against a local server: retries with exponential backoff, no retry on 4xx."""

import pytest

from assistant.channels.errors import ChannelSendError
from assistant.channels.http import ChannelHttp


def test_retries_5xx_with_doubling_delays_then_succeeds(fake):
    delays = []
    http = ChannelHttp(timeout=2, attempts=3, backoff=0.25, sleep=delays.append)
    fake.fail["/cgi-bin/gettoken"] = 2
    answer = http.request("GET", f"{fake.url}/cgi-bin/gettoken",
                          params={"corpid": "wx5823bf96d3bd56c7", "corpsecret": "wecom-corp-secret"})
    assert answer["access_token"] == "wecom-access-token"
    assert [c.status for c in fake.calls] == [503, 503, 200]
    assert delays == [0.25, 0.5]


def test_gives_up_after_the_last_attempt_and_never_retries_a_4xx(fake):
    http = ChannelHttp(timeout=2, attempts=2, backoff=0, sleep=lambda _: None)
    fake.fail["/cgi-bin/gettoken"] = 5
    with pytest.raises(ChannelSendError, match="503"):
        http.request("GET", f"{fake.url}/cgi-bin/gettoken")
    assert len(fake.calls) == 2
    with pytest.raises(ChannelSendError, match="404"):
        http.request("POST", f"{fake.url}/no/such/api", json={})
    assert len(fake.calls) == 3


def test_network_errors_are_retried_too():
    delays = []
    http = ChannelHttp(timeout=0.5, attempts=3, backoff=0.01, sleep=delays.append)
    with pytest.raises(ChannelSendError, match="ConnectError"):
        http.request("GET", "http://127.0.0.1:9/closed")  # the discard port: nothing listens
    assert delays == [0.01, 0.02]
