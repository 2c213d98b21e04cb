"""Presets end to end: a preset's quirks reach the wire and the routing (prefill resumes a cut stream)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.cluster import Cluster, route, running_cluster
from tests.fakes.openai_compat import CutAfter

MESSAGES = [{"role": "user", "content": "Say the sentence."}]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with ExitStack() as stack, running_cluster(stack) as c:
        yield c


def test_mistral_preset_prefills_with_prefix_and_sends_no_stream_options(cluster: Cluster) -> None:
    a = cluster.fake("a", reply="The quick brown fox jumps.")
    b = cluster.fake("b", reply="The quick brown fox jumps.", provider='preset = "mistral"')
    gateway = cluster.gateway(route("chat", "a/ma*1000000", "b/mb*0.000001"))
    a.enqueue(CutAfter(3))
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=5) as response:
        raw = b"".join(response.iter_bytes())
    assert raw.endswith(b"data: [DONE]\n\n")
    sent = b.last.json
    assert sent["messages"][-1] == {"role": "assistant", "content": "The quick brown", "prefix": True}
    assert "stream_options" not in sent
    assert "stream_options" in a.last.json  # a plain openai provider still asks for usage


def test_an_operation_the_preset_server_lacks_is_a_400_and_never_sent(cluster: Cluster) -> None:
    groq = cluster.fake("groq", provider='preset = "groq"')
    gateway = cluster.gateway(route("embed", "groq/some-model"))
    response = httpx.post(gateway.url + "/v1/embeddings", json={"model": "embed", "input": "hi"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "provider groq does not support embeddings"
    assert groq.requests == []


def test_mistral_preset_sends_max_tokens_for_max_completion_tokens(cluster: Cluster) -> None:
    """Mistral refuses `max_completion_tokens`, which the openai SDK sends for new models (issue 20, item 13)."""
    mistral = cluster.fake("mistral", provider='preset = "mistral"')
    gateway = cluster.gateway(route("chat", "mistral/mistral-large-latest"))
    body = {"model": "chat", "messages": MESSAGES, "max_completion_tokens": 50, "seed": 3, "top_k": 5}
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=5).status_code == 200
    sent = mistral.last.json
    assert (sent["max_tokens"], sent["random_seed"]) == (50, 3)
    assert not {"max_completion_tokens", "seed", "top_k"} & set(sent)
