"""The floor: the list endpoint's work on a bare Starlette app with pymongo and nothing else.

Same JWT check (PyJWT HS256, required claims, leeway), same query ($eq on businessId, credentials
left out, newest first), same JSON; no Connexion, validation, limiter, access log or middleware.
Served by gunicorn with the same uvicorn workers as `integrations-api prod`:
`gunicorn -k uvicorn_worker.UvicornWorker bench.floor:app`.
"""
from __future__ import annotations

import json
import os

import jwt
from pymongo import MongoClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET = os.environ["JWT_SECRET"]
_client: MongoClient | None = None


def _collection():
    # Created lazily, so in each worker after the fork.
    global _client
    if _client is None:
        _client = MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=2000, tz_aware=False)
    return _client[os.environ.get("MONGODB_DB", "integrations")]["connections"]


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _list(business_id: str) -> list[dict]:
    cursor = _collection().find({"businessId": {"$eq": business_id}}, {"credentials": 0}).sort([("createdAt", -1), ("_id", -1)])
    return [{
        "id": str(d["_id"]), "connectionId": d["connectionId"], "platform": d["platform"], "name": d["name"],
        "status": d["status"], "statusReason": d.get("statusReason"), "createdAt": _iso(d["createdAt"]), "updatedAt": _iso(d["updatedAt"]),
    } for d in cursor]


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"success": False, "message": message, "code": code}), status, media_type="application/json")


async def list_connections(request: Request) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "UNAUTHORIZED", "Authentication required")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], leeway=30, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return _error(401, "INVALID_TOKEN", "Token is invalid")
    # pymongo blocks: run it in the thread pool as Connexion's FlaskApp runs its handlers.
    data = await run_in_threadpool(_list, claims["businessId"])
    body = json.dumps({"success": True, "data": data}, separators=(",", ":"), ensure_ascii=False)
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/api/v1/unipile/connections", list_connections)])
