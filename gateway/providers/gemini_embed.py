"""Gemini embeddings, the `gemini` provider's third operation (split from gemini.py to keep it readable).

One input goes to `embedContent`, several to `batchEmbedContents`; `dimensions` is `outputDimensionality`.
Gemini embeds text only and reports no token counts, so usage comes back as zeros.

    >>> to_gemini_embeddings({"model": "e", "input": "hi", "dimensions": 8}, "text-embedding-004", "g")
    ('embedContent', {'model': 'models/text-embedding-004', 'content': {'parts': [{'text': 'hi'}]}, \
'outputDimensionality': 8})
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from gateway.errors import UnsupportedFeatureError, UpstreamProtocolError
from gateway.providers.base import Facts, Reply

KNOWN_KEYS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def to_gemini_embeddings(body: dict[str, Any], model: str, provider: str) -> tuple[str, dict[str, Any]]:
    """The method (`embedContent` or `batchEmbedContents`) and its request body."""
    for key, value in body.items():
        if key not in KNOWN_KEYS and value is not None:
            raise _unsupported(provider, f'the "{key}" parameter of embeddings', key)
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise _unsupported(provider, "embedding token ids; send the input as text", "input")
    name = f"models/{model.removeprefix('models/')}"
    requests = [{"model": name, "content": {"parts": [{"text": text}]}} for text in texts]
    if isinstance(body.get("dimensions"), int):
        requests = [{**r, "outputDimensionality": body["dimensions"]} for r in requests]
    if isinstance(inputs, str):
        return "embedContent", requests[0]
    return "batchEmbedContents", {"requests": requests}


def from_gemini_embeddings(body: dict[str, Any], data: dict[str, Any]) -> Reply:
    """`{"embedding": {...}}` or `{"embeddings": [...]}` as an OpenAI embeddings list."""
    vectors = [data["embedding"]] if isinstance(data.get("embedding"), dict) else data.get("embeddings")
    if not isinstance(vectors, list):
        raise UpstreamProtocolError("provider answered embeddings without embeddings")
    encode = body.get("encoding_format") == "base64"
    items = []
    for i, vector in enumerate(vectors):
        values = vector.get("values") if isinstance(vector, dict) else None
        if not isinstance(values, list):
            raise UpstreamProtocolError("provider answered an embedding without values")
        embedding: Any = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if encode else values
        items.append({"object": "embedding", "index": i, "embedding": embedding})
    model = body.get("model") if isinstance(body.get("model"), str) else "gemini"
    answer = {"object": "list", "data": items, "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    return Reply(orjson.dumps(answer), Facts(response_model=model, input_tokens=0))


def _unsupported(provider: str, feature: str, param: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"provider {provider} (gemini) does not support {feature}", param=param)
