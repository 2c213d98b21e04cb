"""Phases of bench/bare.py under callgrind, as launch.py for the gateway (phases.py): `run.sh NAME python
launch_bare.py --port 18481 --upstream http://127.0.0.1:18480`."""
import runpy, sys
sys.path.insert(0, "/tmp/i19")
from phases import asgi3, patch, patch_aiohttp_reads, patch_server
import aiohttp.client
from uvicorn.protocols.http import httptools_impl

patch_server(httptools_impl.HttpToolsProtocol)
patch(aiohttp.client.ClientSession, "_request", "upstream_send", "async")
patch_aiohttp_reads()
asgi3()
sys.argv = ["bare.py", *sys.argv[1:]]
sys.path.insert(0, "/work/main/bench")
runpy.run_path("/work/main/bench/bare.py", run_name="__main__")
