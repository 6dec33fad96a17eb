"""A stand-in ServiceNow Table API / 4me requests API for the connector tests: a real HTTP
server on a thread that checks each request against the contract fixtures in itsm_contracts/
(method, path, auth, JSON Schema of the body) and answers as the documented API does.

`fail_next` answers that many requests 503 before looking at them; `lose_reply` applies that
many creates and answers 500 (a reply lost after the ticket was made). `calls` records every
request; `set_state` plays an agent changing a ticket in the tool.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

CONTRACTS = Path(__file__).with_name("itsm_contracts")
USER, PASSWORD, TOKEN, ACCOUNT = "soc-integration", "s3cret-pass", "4me-token", "acme"
T0 = datetime(2026, 12, 3, 10, 0, 0)


def contract(name: str) -> Any:
    return json.loads((CONTRACTS / name).read_text())


class TableApi:
    def __init__(self, kind: str = "servicenow") -> None:
        self.kind = kind
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lose_reply = 0
        self.ticks = 0
        self.schemas = {
            name: contract(name)
            for name in (
                "servicenow_incident_create.schema.json",
                "servicenow_incident_update.schema.json",
                "servicenow_sn_si_incident_create.schema.json",
                "servicenow_sn_si_incident_update.schema.json",
                "servicenow_response.schema.json",
                "fourme_request_create.schema.json",
                "fourme_request_update.schema.json",
                "fourme_response.schema.json",
            )
        }
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b""
                status, body = api.handle(self.command, self.path, dict(self.headers), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- helpers for the tests ------------------------------------------------------------
    def _now(self) -> str:
        self.ticks += 1
        return (T0 + timedelta(seconds=self.ticks)).strftime("%Y-%m-%d %H:%M:%S")

    def set_state(self, sys_id: str, state: str) -> dict[str, Any]:
        with self.lock:
            record = self.records[sys_id]
            key = "state" if self.kind == "servicenow" else "status"
            record[key] = state
            record["sys_updated_on" if self.kind == "servicenow" else "updated_at"] = self._now()
            return dict(record)

    def writes(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] in ("POST", "PATCH") and c["status"] < 300]

    # -- the API --------------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = None
        with self.lock:
            call: dict[str, Any] = {"method": method, "path": parts.path, "query": query}
            self.calls.append(call)
            if self.fail_next > 0:
                self.fail_next -= 1
                call["status"] = 503
                return 503, self._error("Service Unavailable", "instance busy")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                call["status"] = 400
                return 400, self._error("Exception while reading request", "not JSON")
            call["body"] = body
            if self.kind == "servicenow":
                status, answer = self._servicenow(method, parts.path, query, headers, body)
            else:
                status, answer = self._fourme(method, parts.path, query, headers, body)
            call["status"] = status
            return status, answer

    @staticmethod
    def _error(message: str, detail: str) -> dict[str, Any]:
        return {"error": {"message": message, "detail": detail}, "status": "failure"}

    def _invalid(self, schema: str, body: Any) -> str | None:
        try:
            jsonschema.validate(body, self.schemas[schema])
        except jsonschema.ValidationError as exc:
            return exc.message
        return None

    def _servicenow(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        lower = {k.lower(): v for k, v in headers.items()}
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if lower.get("authorization") not in (basic, f"Bearer {TOKEN}"):
            return 401, contract("servicenow_error_response.json")
        if "application/json" not in lower.get("accept", ""):
            return 406, self._error("Not Acceptable", "send Accept: application/json")
        match = re.fullmatch(r"/api/now/table/(incident|sn_si_incident)(?:/([0-9a-f]{32}))?", path)
        if match is None:
            return 400, self._error("Invalid table", path)
        table, sys_id = match.groups()
        if method in ("POST", "PATCH") and lower.get("content-type") != "application/json":
            return 415, self._error("Unsupported Media Type", "send application/json")
        if method == "POST" and sys_id is None:
            problem = self._invalid(f"servicenow_{table}_create.schema.json", body)
            if problem:
                return 400, self._error("Invalid request body", problem)
            record = self._insert(table, body)
            if self.lose_reply > 0:
                self.lose_reply -= 1
                return 500, self._error("Internal error", "reply lost")
            return 201, self._answer(record)
        if method == "PATCH" and sys_id is not None:
            record = self.records.get(sys_id)
            if record is None or record["sys_class_name"] != table:
                return 404, self._error("No Record found", "Record doesn't exist")
            problem = self._invalid(f"servicenow_{table}_update.schema.json", body)
            if problem:
                return 400, self._error("Invalid request body", problem)
            changes = dict(body)
            for name in ("work_notes", "comments"):
                if name in changes:
                    record.setdefault("journal", []).append((name, changes.pop(name)))
            record.update(changes)
            record["priority"] = str(int(record["impact"]) + int(record["urgency"]) - 1)
            record["sys_updated_on"] = self._now()
            return 200, self._answer(record)
        if method == "GET" and sys_id is None:
            return 200, {"result": self._query(table, query)}
        return 405, self._error("Method not Supported", f"{method} {path}")

    def _insert(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        number = f"{'INC' if table == 'incident' else 'SIR'}{10001 + len(self.records):07d}"
        now = self._now()
        record = {
            "state": "1" if table == "incident" else "10",
            **{k: v for k, v in body.items() if k not in ("work_notes", "comments")},
            "sys_id": uuid.uuid4().hex,
            "number": number,
            "sys_class_name": table,
            "sys_created_on": now,
            "sys_updated_on": now,
            "journal": [(k, body[k]) for k in ("work_notes", "comments") if k in body],
        }
        record["priority"] = str(int(body["impact"]) + int(body["urgency"]) - 1)
        self.records[record["sys_id"]] = record
        return record

    def _answer(self, record: dict[str, Any]) -> dict[str, Any]:
        answer = {"result": {k: v for k, v in record.items() if k != "journal"}}
        jsonschema.validate(answer, self.schemas["servicenow_response.schema.json"])
        return answer

    def _query(self, table: str, query: dict[str, str]) -> list[dict[str, Any]]:
        rows = [r for r in self.records.values() if r["sys_class_name"] == table]
        order: tuple[str, bool] | None = None
        for term in query.get("sysparm_query", "").split("^"):
            if term.startswith("ORDERBYDESC"):
                order = (term[len("ORDERBYDESC") :], True)
            elif term.startswith("ORDERBY"):
                order = (term[len("ORDERBY") :], False)
            elif ">=" in term:
                name, value = term.split(">=", 1)
                rows = [r for r in rows if str(r.get(name, "")) >= value]
            elif "=" in term:
                name, value = term.split("=", 1)
                rows = [r for r in rows if str(r.get(name, "")) == value]
        if order:
            rows.sort(key=lambda r: str(r.get(order[0], "")), reverse=order[1])
        offset = int(query.get("sysparm_offset", "0"))
        rows = rows[offset : offset + int(query.get("sysparm_limit", "10000"))]
        fields = [f for f in query.get("sysparm_fields", "").split(",") if f]
        return [{f: r.get(f, "") for f in fields} if fields else r for r in rows]

    # -- 4me ------------------------------------------------------------------------------
    def _fourme(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("authorization") != f"Bearer {TOKEN}" or lower.get("x-4me-account") != ACCOUNT:
            return 401, {"message": "401 Unauthorized"}
        match = re.fullmatch(r"/v1/requests(?:/(\d+))?", path)
        if match is None:
            return 404, {"message": "Not Found"}
        (request_id,) = match.groups()
        if method == "POST" and request_id is None:
            problem = self._invalid("fourme_request_create.schema.json", body)
            if problem:
                return 422, {"message": "Validation Failed", "errors": [problem]}
            now = self._now()
            record = {
                "status": "assigned",
                "completion_reason": None,
                **{k: v for k, v in body.items() if k not in ("note", "internal_note")},
                "id": 70001 + len(self.records),
                "created_at": now,
                "updated_at": now,
                "notes": [(k, body[k]) for k in ("note", "internal_note") if k in body],
            }
            self.records[str(record["id"])] = record
            if self.lose_reply > 0:
                self.lose_reply -= 1
                return 500, {"message": "reply lost"}
            return 201, self._fourme_answer(record)
        if method == "PATCH" and request_id is not None:
            record = self.records.get(request_id)
            if record is None:
                return 404, {"message": "Not Found"}
            problem = self._invalid("fourme_request_update.schema.json", body)
            if problem:
                return 422, {"message": "Validation Failed", "errors": [problem]}
            changes = dict(body)
            for name in ("note", "internal_note"):
                if name in changes:
                    record["notes"].append((name, changes.pop(name)))
            record.update(changes)
            record["updated_at"] = self._now()
            return 200, self._fourme_answer(record)
        if method == "GET" and request_id is None:
            rows = [
                self._fourme_answer(r)
                for r in self.records.values()
                if all(str(r.get(k)) == v for k, v in query.items())
            ]
            return 200, sorted(rows, key=lambda r: -r["id"])
        return 405, {"message": "Method Not Allowed"}

    def _fourme_answer(self, record: dict[str, Any]) -> dict[str, Any]:
        answer = {k: v for k, v in record.items() if k != "notes"}
        jsonschema.validate(answer, self.schemas["fourme_response.schema.json"])
        return answer
