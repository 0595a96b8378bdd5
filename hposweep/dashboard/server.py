"""The dashboard's web server: Starlette routes over :mod:`~hposweep.dashboard.views`, served by uvicorn.

Why these libraries (the ``[dashboard]`` extra): Starlette gives routing, request parsing, cookies and
file responses in a small, well-kept package, and runs our plain (blocking) handlers in a thread pool so
a slow figure never stalls the live polling; uvicorn is the ASGI server it is tested with. Nothing is
hand-written that they provide; what is ours is the access rules (:mod:`~hposweep.dashboard.security`).

Pages are one HTML shell (``assets/page.html``) that ``assets/dashboard.js`` fills from the JSON API,
and redraws when the study's version token changes (polled every 0.75 s: a finished trial shows within
about a second). plotly.js is served from the installed plotly package: nothing is fetched from the
network, so the dashboard works on an offline cluster node.
"""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Awaitable, Callable
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hposweep.dashboard import actions, security, views
from hposweep.dashboard.catalog import Catalog, Entry
from hposweep.dashboard.figures import compare_figure
from hposweep.errors import ConfigError, HposweepError

ASSETS = ("dashboard.js", "dashboard.css")


class Config:
    """What one running dashboard was started with."""

    def __init__(self, targets: list[str], *, host: str, allow_write: bool, token: str | None) -> None:
        self.catalog = Catalog(targets)
        self.host = host
        self.allow_write = allow_write
        self.token = token
        self.csrf = security.new_secret()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json", headers={"cache-control": "no-store"})


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def plotly_js_path() -> str:
    """The plotly.js bundle inside the installed plotly package."""
    import plotly

    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.isfile(path):  # pragma: no cover - a plotly that moved its bundle
        raise HposweepError(f"plotly.js not found at {path}",
                            hint='pip install --force-reinstall "hposweep[dashboard]"')
    return path


def asset(name: str) -> str:
    return resources.files("hposweep.dashboard").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


class Guard:
    """Every request: the Host check on loopback, the token when one is set; then the app."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        denied = self.check(request)
        if denied is not None:
            await denied(scope, receive, send)
            return
        token = self.config.token
        if token and request.method == "GET" and "token" in request.query_params \
                and not request.url.path.startswith("/api/"):
            # A link with ?token=: keep it in a cookie and drop it from the address bar (and history).
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            redirect = RedirectResponse(target, status_code=303)
            redirect.set_cookie(security.TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
            await redirect(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def check(self, request: Request) -> Response | None:
        cfg = self.config
        if security.is_loopback(cfg.host) and not security.is_loopback(security.host_name(
                request.headers.get("host", ""))):
            return PlainTextResponse("this dashboard answers to localhost only", status_code=403)
        if cfg.token:
            given = security.token_from(request.headers, request.query_params, request.cookies)
            if not security.same_secret(given, cfg.token):
                return PlainTextResponse("a token is needed: open the link `hposweep dashboard` printed "
                                         "(it ends with ?token=...)", status_code=401)
        return None


def build_app(config: Config) -> ASGIApp:
    cat = config.catalog

    def entry_or_404(request: Request) -> Entry | Response:
        entry = cat.get(request.path_params["sid"])
        if entry is None:
            return error(404, "no such study")
        if entry.current() is None:
            return error(409, f"{entry.path} cannot be read: {entry.error}")
        return entry

    def page(name: str, title: str, **data: Any) -> Response:
        body = Template(asset("page.html")).substitute(
            title=html.escape(title), page=name, csrf=html.escape(config.csrf),
            config=html.escape(json.dumps({"page": name, "allowWrite": config.allow_write, **data})),
        )
        # Scripts from this server only; 'unsafe-eval' because plotly's WebGL traces (parcoords) compile
        # their draw calls with Function(); inline styles are how plotly positions its SVG.
        return Response(body, media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store", "x-frame-options": "DENY",
                                 "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-eval'; "
                                                            "style-src 'self' 'unsafe-inline'; "
                                                            "img-src 'self' data: blob:; frame-ancestors 'none'",
                                 "referrer-policy": "no-referrer"})

    def studies_page(request: Request) -> Response:
        return page("studies", "hposweep dashboard")

    def study_page(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        return page("study", got.name, study=got.id)

    def trial_page(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        n = request.path_params["n"]
        return page("trial", f"{got.name}: trial {n}", study=got.id, trial=n)

    def compare_page(request: Request) -> Response:
        return page("compare", "compare studies", ids=request.query_params.get("ids", ""))

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js_path(), media_type="text/javascript",
                                headers={"cache-control": "max-age=86400"})
        if name not in ASSETS:
            return PlainTextResponse("not found", status_code=404)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(asset(name), media_type=kind + "; charset=utf-8", headers={"cache-control": "no-cache"})

    def api_studies(request: Request) -> Response:
        return json_response({"studies": [views.study_summary(e) for e in cat.entries()],
                              "allowWrite": config.allow_write})

    def api_version(request: Request) -> Response:
        entry = cat.get(request.path_params["sid"])
        if entry is None:
            return error(404, "no such study")
        return json_response({"version": entry.version()})

    def api_trials(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        version = got.version()
        return json_response({"version": version, "summary": views.study_summary(got), **views.trials_table(got)})

    def api_figures(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        return json_response({"version": got.version(), "sections": views.study_sections(got)})

    def api_trial(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        detail = views.trial_detail(got, request.path_params["n"])
        return error(404, "no such trial") if detail is None else json_response(detail)

    def api_params(request: Request) -> Response:
        got = entry_or_404(request)
        if isinstance(got, Response):
            return got
        fmt = request.query_params.get("format", "json")
        if fmt not in views.PARAM_FORMATS:
            return error(400, "format is one of: " + ", ".join(views.PARAM_FORMATS))
        study = got.current()
        assert study is not None
        t = views.pick_trial(study, request.query_params.get("trial", "best"))
        if t is None:
            return error(404, "no such trial (or none completed yet)")
        text, filename = views.params_download(study, t, fmt)
        return Response(text, media_type="text/plain; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    def api_compare(request: Request) -> Response:
        chosen = []
        for sid in [s for s in request.query_params.get("ids", "").split(",") if s]:
            entry = cat.get(sid)
            study = entry.current() if entry is not None else None
            if entry is not None and study is not None:
                chosen.append((entry.name, study))
        from hposweep.report.format import clean

        return json_response({"figure": clean(compare_figure(chosen)), "studies": [n for n, _ in chosen]})

    async def write(request: Request, act: Callable[[Entry, Any], Any]) -> Response:
        if not config.allow_write:
            return error(403, "the dashboard is read-only; start it with --allow-write to enable this")
        if not security.same_secret(request.headers.get(security.CSRF_HEADER), config.csrf) \
                or not security.origin_ok(request.headers, request.url.scheme):
            return error(403, "cross-site request refused (missing or wrong CSRF token, or a foreign Origin)")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(415, "send a JSON body")
        entry = cat.get(request.path_params["sid"])
        if entry is None:
            return error(404, "no such study")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return error(400, "the body is not JSON")
        from starlette.concurrency import run_in_threadpool

        try:
            result = await run_in_threadpool(act, entry, body)
        except HposweepError as exc:
            return error(400, str(exc))
        return json_response({"ok": True, "result": result})

    def writer(act: Callable[[Entry, Any], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return await write(request, lambda e, body: act(e, (request, body)))

        return handler

    def do_enqueue(entry: Entry, rb: Any) -> Any:
        _, body = rb
        params = body.get("params") if isinstance(body, dict) else None
        return {"queued": actions.enqueue(entry.path, params if isinstance(params, dict) else {})}

    def do_note(entry: Entry, rb: Any) -> Any:
        request, body = rb
        text = body.get("text", "") if isinstance(body, dict) else ""
        return {"notes": actions.add_note(entry.path, request.path_params["n"], text)}

    def do_stop(entry: Entry, rb: Any) -> Any:
        request, _ = rb
        return {"stop_requested": actions.request_stop(entry.path, request.path_params["n"])}

    routes = [
        Route("/", studies_page),
        Route("/compare", compare_page),
        Route("/study/{sid}", study_page),
        Route("/study/{sid}/trial/{n:int}", trial_page),
        Route("/static/{name}", static),
        Route("/api/studies", api_studies),
        Route("/api/compare", api_compare),
        Route("/api/study/{sid}/version", api_version),
        Route("/api/study/{sid}/trials", api_trials),
        Route("/api/study/{sid}/figures", api_figures),
        Route("/api/study/{sid}/params", api_params),
        Route("/api/study/{sid}/trial/{n:int}", api_trial),
        Route("/api/study/{sid}/enqueue", writer(do_enqueue), methods=["POST"]),
        Route("/api/study/{sid}/trial/{n:int}/note", writer(do_note), methods=["POST"]),
        Route("/api/study/{sid}/trial/{n:int}/stop", writer(do_stop), methods=["POST"]),
    ]
    return Guard(Starlette(routes=routes), config)


def serve(targets: list[str], *, host: str = "127.0.0.1", port: int = 8080, allow_write: bool = False,
          token: str | None = None) -> None:
    """Run the dashboard until Ctrl-C. A non-loopback ``host`` always gets a token (one is made if none given)."""
    import socket

    import uvicorn

    # bind first, so a taken port or a bad address is a clear error (exit 2) before anything is printed
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="choose another --port (0 picks a free one), or stop what is using it") from None
    port = sock.getsockname()[1]
    if token is None and not security.is_loopback(host):
        token = security.new_secret()
    config = Config(targets, host=host, allow_write=allow_write, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    if token:
        url += "?token=" + token
    n = len(config.catalog.paths())
    mode = "read-write (--allow-write)" if allow_write else "read-only"
    sys.stderr.write(f"[hposweep] dashboard of {n} stud{'y' if n == 1 else 'ies'}, {mode}: {url}\n")
    if token:
        sys.stderr.write(f"[hposweep] token: {token}  (every request needs it; the link above sets it)\n")
    sys.stderr.flush()
    server = uvicorn.Server(uvicorn.Config(build_app(config), log_level="warning", access_log=False))
    server.run(sockets=[sock])
