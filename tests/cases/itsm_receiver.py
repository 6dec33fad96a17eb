"""A stand-in ITSM tool for the connector tests, run as its own process.

POST /incident: checks the HMAC signature, fails the first `--fail-first` attempts with 503,
then applies each idempotency key once (a repeat is acknowledged, not applied again).
`--lose-reply N` applies the Nth accepted message but answers 500 (a lost acknowledgement).
GET /state: {"attempts": [...], "applied": [...]} as JSON. Prints its port on start.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--lose-reply", type=int, default=0)
    args = parser.parse_args()
    lock = threading.Lock()
    state: dict[str, list] = {"attempts": [], "applied": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                self._answer(200, state)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ts, nonce = self.headers.get("X-SOC-Timestamp", ""), self.headers.get("X-SOC-Nonce", "")
            expected = (
                "sha256="
                + hmac.new(
                    args.secret.encode(), f"{ts}.{nonce}.".encode() + body, hashlib.sha256
                ).hexdigest()
            )
            with lock:
                state["attempts"].append(nonce)
                if not hmac.compare_digest(expected, self.headers.get("X-SOC-Signature", "")):
                    return self._answer(401, {"error": "bad signature"})
                if nonce != self.headers.get("Idempotency-Key"):
                    return self._answer(400, {"error": "idempotency key mismatch"})
                if len(state["attempts"]) <= args.fail_first:
                    return self._answer(503, {"error": "try later"})
                applied = [a["key"] for a in state["applied"]]
                if nonce not in applied:
                    message = json.loads(body)
                    state["applied"].append(
                        {"key": nonce, "case": message["case"]["id"], "kind": message["kind"]}
                    )
                    if len(state["applied"]) == args.lose_reply:
                        return self._answer(500, {"error": "reply lost"})
            return self._answer(201, {"ok": True})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
