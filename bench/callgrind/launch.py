"""Run `gateway serve` with phase trampolines (see /tmp/i19/phasetramp): each (parent phase, phase) pair gets its
own C function, so callgrind's inclusive cost of that function is the cost of the phase under that parent.
FINE=1 adds finer phases inside the dispatcher (stop 32): the attempt, the route loop, health, the deadline, the
dataclasses, the provider call, the strategy, the live page's window, `_settings`."""
import os, sys
sys.path.insert(0, "/tmp/i19")
from phases import asgi3, patch, patch_aiohttp_reads, patch_server

if os.environ.get("PHASES", "1") == "1":
    import httpx, starlette.routing, starlette.responses
    import gateway.endpoints as ep, gateway.dispatch as dp, gateway.providers.base as pb
    import gateway.providers.openai as po, gateway.upstream as up, gateway.serving as sv
    import gateway.middleware as mw, gateway.access.gate as gate, gateway.routing.table as tb
    import gateway.ui.recorder as rec, gateway.sse as sse, gateway.eventstream as es
    import gateway.entrances.messages as em, gateway.entrances.responses_http as er

    patch_server(sv.GuardedHttpToolsProtocol)
    patch(mw.EntryMiddleware, "__call__", "entry_mw", "async")
    patch(starlette.routing.Router, "__call__", "router", "async")
    patch(ep.Endpoints, "_proxy", "endpoint", "async")
    patch(ep, "_read_json", "read_json", "async")
    patch(ep, "check_request", "validate")
    patch(tb.RouteTable, "get", "route")
    patch(ep, "control_from_headers", "route")
    patch(gate.Access, "check_model", "access")
    patch(gate.Access, "admit", "access")
    patch(gate.Access, "authenticate", "access")
    patch(gate.Access, "finish", "accounting")
    patch(dp.Dispatcher, "complete", "dispatch", "async")
    patch(dp.Dispatcher, "open_stream", "dispatch", "async")
    patch(po.OpenAIProvider, "to_request", "to_request")
    patch(up.Upstream, "send", "upstream_send", "async")
    patch(pb, "read_body", "read_body", "async")
    patch(httpx.Response, "aclose", "resp_close", "async")
    if hasattr(up, "AiohttpAnswer"):
        patch(up.AiohttpAnswer, "aclose", "resp_close", "async")
    patch(po.OpenAIProvider, "from_response", "from_response")
    patch(rec.Recorder, "request_finished", "recorder")
    patch(ep, "_answer_headers", "resp_build")
    patch(starlette.responses.Response, "__init__", "resp_build")
    patch(starlette.responses.Response, "__call__", "resp_send", "async")
    patch(es.EventStreamResponse, "__call__", "resp_send", "async")
    patch(sse.SSEDecoder, "feed", "sse_decode")
    patch(pb, "_translate", "stream_facts")
    patch(em.MessagesEntrance, "messages", "entrance", "asyncdef")
    patch(er.ResponsesEntrance, "create", "entrance", "asyncdef")
    patch(em, "to_openai_chat", "entrance_in")
    patch(em, "to_anthropic_message", "entrance_out")
    patch(er, "to_chat", "entrance_in")
    patch(er, "to_response", "entrance_out")
    patch(er, "_keep", "store", "async")
    if os.environ.get("FINE") == "1":
        import gateway.routing.health as hl, gateway.timers as tm, gateway.events as ev, gateway.ui.aggregates as ag
        patch(dp.Dispatcher, "_attempt", "attempt", "asyncdef")
        patch(dp.Dispatcher, "_run_route", "route_loop", "asyncdef")
        for name in ("begin", "end", "succeeded"):
            patch(hl.Health, name, "health")
        for name in ("__init__", "__enter__", "__exit__"):
            patch(tm.Deadline, name, "deadline")
        patch(tm, "for_loop", "deadline")
        patch(ev.Attempt, "__init__", "dc_attempt")
        patch(ev.Exchange, "__init__", "dc_exchange")
        patch(dp._Plan, "__init__", "dc_plan")
        patch(dp.Outcome, "__init__", "dc_outcome")
        patch(pb.HttpProvider, "complete", "prov_complete", "asyncdef")
        patch(dp, "order", "order")
        patch(ag.Window, "request", "win")
        patch(ag.Window, "attempt", "win")
        patch(dp.Dispatcher, "_settings", "settings")
    patch_aiohttp_reads()

asgi3()
from gateway.cli import main
sys.argv = ["gateway", *sys.argv[1:]]
sys.exit(main())
