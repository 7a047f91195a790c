"""The floor of the server benchmarks: a minimal FastAPI app served as `kokemus serve`
serves it (uvicorn, loop and http "auto", so uvloop and httptools where installed; one
process; no access log; proxy headers off), for a capacity measured in the same run as a
route's (bench/loadgen.py). One POST route reads a small form, one a small JSON body; each
answers 200 with a few bytes.

    python bench/floor.py --port 8001
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/form")
async def form(request: Request) -> Response:
    fields = await request.form()
    return Response(b"ok %d" % len(fields), media_type="text/plain")


@app.post("/json")
async def json(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return Response(orjson.dumps({"accepted": len(body)}), media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            access_log=False, proxy_headers=False)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
