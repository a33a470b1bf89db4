"""The worker's HTTP API, on Faust's web server beside ``/metrics``.

* ``GET /health``: readiness. 200 ``{"status": "ready"}`` once the tables are recovered,
  503 ``{"status": "recovering"}`` while they recover or partitions move.
  ``GET /health/live``: liveness, 200 while the worker's event loop answers.
* ``GET /agents/{agent_id}``: the agent's state, code, since when, today's time by code
  and the detections still open. Any worker answers: the request is sent on to the owner
  of the agent's partition (Faust's ``table_route``).
* ``GET /teams/{team}``: agents by state and code and today's totals by code. The asked
  worker adds its own agents to those of every other worker (``?scope=local`` asks one
  worker for its own only).

Errors are JSON ``{"error": ..., "status": ...}`` with the matching status. When
``AUXSTREAM_API_TOKEN`` is set, the agent and team endpoints (personal data) need
``Authorization: Bearer <token>``; ``/metrics`` and ``/health`` stay open for probes and
Prometheus.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import faust
from faust import web
from faust.web.exceptions import ServiceUnavailable
from yarl import URL

from auxstream.stream.metrics import worker_ready
from auxstream.stream.processor import home_partition
from auxstream.stream.settings import Settings
from auxstream.stream.views import agent_view, check_id, merge_team_views, team_view

if TYPE_CHECKING:
    from auxstream.stream.shell import Shell

FAN_OUT_TIMEOUT_S = 5.0


def register_api(app: faust.App, shell: Shell, settings: Settings) -> None:
    """Add ``/health``, ``/health/live``, ``/agents/{agent_id}`` and ``/teams/{team}``."""
    if settings.web_url:
        app.conf.canonical_url = URL(settings.web_url)  # where the other workers route requests
    token = settings.api_token.get_secret_value() if settings.api_token else None
    processor = shell.processor

    def error(view: web.View, status: int, message: str, **extra: Any) -> web.Response:
        headers = {"WWW-Authenticate": 'Bearer realm="auxstream"'} if status == 401 else None
        body = {"error": message, "status": status, **extra}
        return view.json(body, status=status, headers=headers)

    def refused(view: web.View, request: web.Request) -> web.Response | None:
        if token is None:
            return None
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
            return error(view, 401, "a valid bearer token is required (Authorization: Bearer ...)")
        return None

    def as_of() -> int | None:
        return processor.watermark.value(time.monotonic(), int(time.time() * 1000))

    @app.page("/health")
    async def health(view: web.View, request: web.Request) -> web.Response:
        ready = worker_ready(app)
        body = {
            "status": "ready" if ready else "recovering",
            "partitions": sorted(processor.owned),
            "agents": len(processor.states),
            "policy_version": processor.policy.version,
        }
        return view.json(body, status=200 if ready else 503)

    @app.page("/health/live")
    async def live(view: web.View, request: web.Request) -> web.Response:
        return view.json({"status": "alive"})

    async def local_agent(view: web.View, request: web.Request, agent_id: str) -> web.Response:
        partition = home_partition(agent_id, settings.partitions)
        if partition not in processor.owned:
            return error(
                view, 503, f"partition {partition} of agent {agent_id!r} is moving; retry shortly"
            )
        state = processor.states.get(agent_id)
        if state is None:
            return error(view, 404, f"no agent {agent_id!r} is known")
        body = agent_view(state, processor.policy, as_of())
        body["served_by"] = str(app.conf.canonical_url)  # the owner, wherever it was asked
        return view.json(body)

    routed: Any = app.table_route(table=shell.store.table, match_info="agent_id")(local_agent)

    @app.page("/agents/{agent_id}")
    class AgentPage(web.View):
        """One agent, answered by the worker that owns it."""

        async def get(self, request: web.Request, agent_id: str) -> web.Response:
            denied = refused(self, request)
            if denied is not None:
                return denied
            problem = check_id(agent_id)
            if problem:
                return error(self, 400, f"agent_id {problem}")
            if not worker_ready(app):
                return error(self, 503, "the worker is recovering its tables; retry shortly")
            try:
                response: web.Response = await routed(self, request, agent_id=agent_id)
            except ServiceUnavailable:
                return error(self, 503, "partition owners are not known yet; retry shortly")
            except (TimeoutError, OSError) as exc:
                return error(self, 502, f"the worker owning {agent_id!r} did not answer: {exc}")
            return response

    @app.page("/teams/{team}")
    class TeamPage(web.View):
        """One team, added up over every worker."""

        async def get(self, request: web.Request, team: str) -> web.Response:
            denied = refused(self, request)
            if denied is not None:
                return denied
            problem = check_id(team)
            if problem:
                return error(self, 400, f"team {problem}")
            scope = request.query.get("scope", "all")
            if scope not in ("all", "local"):
                return error(self, 400, "scope must be all or local")
            if not worker_ready(app):
                return error(self, 503, "the worker is recovering its tables; retry shortly")
            own = team_view(list(processor.states.values()), team, processor.policy, as_of())
            if scope == "local":
                return self.json(own)
            views, unreachable = [own], []
            for url in other_workers(app):
                try:
                    views.append(await fetch_json(app, f"{url}/teams/{quote(team)}", request))
                except (TimeoutError, OSError, ValueError) as exc:
                    unreachable.append(f"{url}: {exc}")
            merged = merge_team_views(team, views)
            merged["workers"] = len(views)
            if unreachable:
                merged["unreachable_workers"] = unreachable
            if merged["agents"] == 0 and not unreachable:
                return error(self, 404, f"no agent of team {team!r} is known")
            return self.json(merged)


def other_workers(app: faust.App) -> list[str]:
    """Web URLs of the other workers of the group (from the partition assignor)."""
    own = str(app.conf.canonical_url).rstrip("/")
    hosts = {str(url).rstrip("/") for url in app.router.tables_metadata()}
    return sorted(h for h in hosts if h and h != own)


async def fetch_json(app: faust.App, url: str, request: web.Request) -> dict[str, Any]:
    """GET ``url?scope=local`` from another worker with the caller's credentials."""
    headers = {}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    async with asyncio.timeout(FAN_OUT_TIMEOUT_S):
        async with app.http_client.get(url, params={"scope": "local"}, headers=headers) as reply:
            if reply.status != 200:
                raise ValueError(f"status {reply.status}")
            body = await reply.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body
