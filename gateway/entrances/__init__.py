"""The client APIs beside Chat Completions, each a pure translator to and from a chat call plus a thin handler:
`messages` (Anthropic's Messages API, `POST /v1/messages`) and `responses` (OpenAI's Responses API,
`POST /v1/responses`). They go down the ordinary chat path (routing, cache, limits, telemetry:
`Endpoints.chat_from`), whatever provider answers."""
