"""A webhook receiver for the tests: checks each request with the `standardwebhooks` package
(an implementation of Standard Webhooks independent of faxhub's), appends what it received to a
JSON-lines file, and answers 204, or 400 to a request whose signature does not verify.

usage: webhook_receiver.py PORT SECRET OUT
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, SECRET, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
HOOK = Webhook(SECRET)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        try:
            payload = HOOK.verify(body, headers)
            line = {
                "path": self.path,
                "id": headers.get("webhook-id") or headers.get("Webhook-Id"),
                "type": payload["type"],
                "timestamp": payload["timestamp"],
                "data": payload["data"],
            }
            status = 204
        except (WebhookVerificationError, ValueError, KeyError) as e:
            line = {"path": self.path, "rejected": str(e) or type(e).__name__}
            status = 400
        with open(OUT, "a") as out:
            out.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("listening", flush=True)
server.serve_forever()
