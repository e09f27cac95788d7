#!/usr/bin/env python3
"""A strict Splunk HTTP Event Collector receiver, written to Splunk's documented protocol, for
the integration tests (Python 3 standard library only; listens on 127.0.0.1 only).

    python3 hec_receiver.py [--token TOKEN[:OPTION,...]]... [--index NAME]...
                            [--tls-cert PEM --tls-key PEM] [--port N] [--admin-port N]
                            [--journal FILE]

  --token     a valid token (repeatable). Options: "ack" (indexer acknowledgement on for the
              token), "disabled" (answers code 1), "index=NAME" (the token's default index).
  --index     an index that events may name (repeatable; default: "main"). An event naming
              another index is refused with code 7.
  --tls-*     serve HTTPS with this certificate (the admin port stays plain HTTP).
  --journal   also append every indexed event to FILE (one JSON line each, as in /events),
              written before the request is answered: the receiver's "disk". A receiver
              killed and started again with the same file keeps what it indexed, as Splunk
              does, so a test can take it down (kill -9) and count what it had indexed.

When listening it prints one JSON line on stdout, {"port": P, "admin_port": A, "scheme": ...},
so that a test needs no sleep to know it is ready.

HEC endpoints (as Splunk):
  POST /services/collector, /services/collector/event, /services/collector/event/1.0
       one or more JSON event objects concatenated (not an array), optionally gzip
       (Content-Encoding: gzip). Each needs "event" (not blank); optional "time" (number),
       "host", "source", "sourcetype", "index" (allowed), "fields" (flat).
  POST /services/collector/raw     each non-empty line is an event (a channel is required)
  POST /services/collector/ack     {"acks":[ids]} -> {"acks":{"id":bool}}
  GET  /services/collector/health  {"text":"HEC is healthy","code":17}
Authorization: "Splunk <token>". Errors carry Splunk's codes and texts (0 Success, 1 Token
disabled, 2 Token is required, 3 Invalid authorization, 4 Invalid token, 5 No data, 6 Invalid
data format, 7 Incorrect index, 8 Internal server error, 9 Server is busy, 10 Data channel is
missing, 11 Invalid data channel, 12 Event field is required, 13 Event field cannot be blank,
14 ACK is disabled, 15 Error in handling indexed fields, 16 Query string authorization is not
enabled, 17 HEC is healthy). In a batch the events before the first bad one are indexed, the
400 answer names the bad one in "invalid-event-number", and nothing after it is processed.
With a token that has ack on, a channel (X-Splunk-Request-Channel header or ?channel=) is
required on event and ack requests; each accepted request answers "ackId" (per channel, from
0); an ack reported true is forgotten.

Admin endpoints (plain HTTP on the admin port):
  GET  /events    {"events": [...]}: every indexed event, in order, with its request number,
                  channel and ackId
  GET  /requests  {"requests": [...]}: every HEC request: method, path, status, code, headers
                  (Authorization replaced by "Splunk <valid>" / "<invalid>"), events indexed
  GET  /acks      {"pending": {channel: [ids]}}
  POST /faults    JSON object, merged into the fault settings (counts are decremented as used):
                    busy: N       next N event requests answer 503 code 9, index nothing
                    fail: N       next N event requests answer 500 code 8, index nothing
                    close: N      next N event requests get no answer (connection closed)
                    slow: N, slow_ms: M   next N event requests are answered after M ms (the
                                  events are indexed first, as Splunk does)
                    lose: N       next N accepted requests get an ackId that never becomes
                                  true and their events are NOT indexed (indexer lost them)
                    drop_acks: N  next N accepted requests are indexed but their ack never
                                  becomes true
                    ack_after_polls: K  an ackId is reported true from the K+1-th poll on
                    max_content_length: B  bodies over B bytes (as received) answer 413, as
                                  Splunk's limits.conf max_content_length does (0: no limit)
  POST /reset     forget events, requests, channels and faults
"""

import argparse
import gzip
import http.server
import json
import re
import ssl
import sys
import threading
import time
import urllib.parse

EVENT_PATHS = ("/services/collector", "/services/collector/event", "/services/collector/event/1.0")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_BODY = 64 << 20

# (HTTP status, text) per HEC code
CODES = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    16: (400, "Query string authorization is not enabled"),
    17: (200, "HEC is healthy"),
}


class HecError(Exception):
    def __init__(self, code, invalid_event=None):
        super().__init__(code)
        self.code = code
        self.invalid_event = invalid_event


class State:
    """Everything the receiver knows; one lock guards it all."""

    def __init__(self, tokens, indexes, journal=None):
        self.lock = threading.Lock()
        self.tokens = tokens  # token -> {"ack": bool, "disabled": bool, "index": str}
        self.indexes = indexes
        self.journal = journal  # an open file, or None
        self.reset()

    def reset(self):
        self.events = []
        self.requests = []
        self.channels = {}  # channel -> {"next": int, "pending": {id: {"polls": n, "never": b}}}
        self.faults = {"busy": 0, "fail": 0, "close": 0, "slow": 0, "slow_ms": 0, "lose": 0,
                       "drop_acks": 0, "ack_after_polls": 0, "max_content_length": 0}

    def take(self, name):
        """Consumes one unit of a counted fault; True if it applies."""
        if self.faults.get(name, 0) > 0:
            self.faults[name] -= 1
            return True
        return False


def validate_event(obj, token_info, state):
    """The HEC code for one decoded event object, or 0 when it is acceptable."""
    if not isinstance(obj, dict):
        return 6
    if "event" not in obj:
        return 12
    if obj["event"] is None or obj["event"] == "" or (isinstance(obj["event"], str) and
                                                      obj["event"].strip() == ""):
        return 13
    if "time" in obj:
        t = obj["time"]
        if isinstance(t, bool):
            return 6
        if isinstance(t, str):
            try:
                float(t)
            except ValueError:
                return 6
        elif not isinstance(t, (int, float)):
            return 6
    for key in ("host", "source", "sourcetype", "index"):
        if key in obj and not isinstance(obj[key], str):
            return 6
    if "fields" in obj:
        fields = obj["fields"]
        if not isinstance(fields, dict):
            return 15
        for v in fields.values():
            if isinstance(v, (dict,)) or (isinstance(v, list) and
                                          any(isinstance(x, (dict, list)) for x in v)):
                return 15
    idx = obj.get("index") or token_info.get("index") or "main"
    if idx not in state.indexes:
        return 7
    return 0


def decode_events(text):
    """Yields (position, object or HecError) for concatenated JSON objects in `text`."""
    decoder = json.JSONDecoder()
    pos, n, i = 0, len(text), 0
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            yield i, HecError(6, i)
            return
        yield i, obj
        i += 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Splunkd"
    sys_version = ""
    state = None

    def log_message(self, *args):
        pass

    # -- plumbing ------------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def hec_reply(self, record, code, invalid_event=None, ack_id=None, status=None):
        http_status, text = CODES[code]
        obj = {"text": text, "code": code}
        if invalid_event is not None:
            obj["invalid-event-number"] = invalid_event
        if ack_id is not None:
            obj["ackId"] = ack_id
        record["status"] = status or http_status
        record["code"] = code
        self.send_json(status or http_status, obj)

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    # -- HEC -----------------------------------------------------------------------------------

    def route(self):
        st = self.state
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path.rstrip("/") or "/"
        headers = {}
        for k, v in self.headers.items():
            headers[k.lower()] = v
        try:
            body = self.read_body()
        except ValueError:
            self.send_json(413, {"text": "Content-Length too large", "code": 413})
            self.close_connection = True
            return
        with st.lock:
            limit = st.faults["max_content_length"]
        if limit and len(body) > limit:
            with st.lock:
                st.requests.append({"method": self.command, "path": path, "status": 413,
                                    "code": None, "events": 0, "bytes": len(body),
                                    "headers": {}})
            return self.send_json(413, {"text": f"Content-Length of {len(body)} too large "
                                                f"(maximum is {limit})"})
        auth = headers.get("authorization")
        record = {"method": self.command, "path": path, "query": url.query, "status": None,
                  "code": None, "events": 0, "bytes": len(body), "headers": dict(headers)}
        if auth is not None:
            token = auth[len("Splunk "):] if auth.startswith("Splunk ") else None
            record["headers"]["authorization"] = ("Splunk <valid>" if token in st.tokens
                                                  else "<invalid>")
        with st.lock:
            st.requests.append(record)
            record["n"] = len(st.requests) - 1

        if path == "/services/collector/health":
            with st.lock:
                busy = st.faults["busy"] > 0
            if busy:
                return self.hec_reply(record, 9)
            return self.hec_reply(record, 17)
        known = path in EVENT_PATHS or path in ("/services/collector/raw",
                                                "/services/collector/ack")
        if not known:
            record["status"] = 404
            return self.send_json(404, {"text": "The requested URL was not found on this server.",
                                        "code": 404})
        if self.command != "POST":
            record["status"] = 405
            return self.send_json(405, {"text": "Method Not Allowed", "code": 405})

        # Authorization
        if "token" in query:
            return self.hec_reply(record, 16)
        if auth is None:
            return self.hec_reply(record, 2)
        if not auth.startswith("Splunk ") or not auth[len("Splunk "):].strip():
            return self.hec_reply(record, 3)
        token = auth[len("Splunk "):]
        info = st.tokens.get(token)
        if info is None:
            return self.hec_reply(record, 4)
        if info["disabled"]:
            return self.hec_reply(record, 1)

        # Channel
        channel = headers.get("x-splunk-request-channel") or (query.get("channel") or [None])[0]
        record["channel"] = channel
        need_channel = info["ack"] or path == "/services/collector/raw"
        if path == "/services/collector/ack":
            if not info["ack"]:
                return self.hec_reply(record, 14)
            need_channel = True
        if need_channel:
            if not channel:
                return self.hec_reply(record, 10)
            if not GUID.match(channel):
                return self.hec_reply(record, 11)

        if path == "/services/collector/ack":
            return self.ack(record, channel, body)
        return self.ingest(record, path, info, channel if info["ack"] else None, headers, body)

    def ack(self, record, channel, body):
        st = self.state
        try:
            req = json.loads(body.decode("utf-8"))
            ids = req["acks"]
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                    for i in ids):
                raise ValueError("acks")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return self.hec_reply(record, 6)
        answer = {}
        with st.lock:
            ch = st.channels.get(channel)
            for i in ids:
                entry = ch["pending"].get(i) if ch else None
                if entry is None or entry["never"]:
                    answer[str(i)] = False
                elif entry["polls"] > 0:
                    entry["polls"] -= 1
                    answer[str(i)] = False
                else:
                    del ch["pending"][i]  # reported true once, then forgotten
                    answer[str(i)] = True
        record["status"] = 200
        record["code"] = 0
        record["acks"] = answer
        self.send_json(200, {"acks": answer})

    def ingest(self, record, path, info, channel, headers, body):
        st = self.state
        with st.lock:
            if st.take("close"):
                fault = "close"
            elif st.take("busy"):
                fault = "busy"
            elif st.take("fail"):
                fault = "fail"
            else:
                fault = None
            slow_ms = st.faults["slow_ms"] if fault is None and st.take("slow") else 0
        record["fault"] = fault
        if fault == "close":
            self.close_connection = True
            record["status"] = 0
            return
        if fault == "busy":
            return self.hec_reply(record, 9)
        if fault == "fail":
            return self.hec_reply(record, 8)

        encoding = headers.get("content-encoding", "").lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return self.hec_reply(record, 6)
        elif encoding not in ("", "identity"):
            return self.hec_reply(record, 6)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self.hec_reply(record, 6)
        if not text.strip():
            return self.hec_reply(record, 5)

        # Decode and validate up to the first bad event; the events before it are indexed.
        accepted, error = [], None
        if path == "/services/collector/raw":
            for line in text.splitlines():
                if line.strip():
                    accepted.append({"event": line, "raw": True})
        else:
            for i, obj in decode_events(text):
                if isinstance(obj, HecError):
                    error = obj
                    break
                code = validate_event(obj, info, st)
                if code:
                    error = HecError(code, i)
                    break
                accepted.append(obj)

        with st.lock:
            lose = error is None and channel is not None and st.take("lose")
            drop = error is None and channel is not None and not lose and st.take("drop_acks")
            ack_id = None
            if error is None and channel is not None:
                ch = st.channels.setdefault(channel, {"next": 0, "pending": {}})
                ack_id = ch["next"]
                ch["next"] += 1
                ch["pending"][ack_id] = {"polls": st.faults["ack_after_polls"],
                                         "never": lose or drop}
            if not lose:
                indexed = [{"event": obj.get("event"), "time": obj.get("time"),
                            "host": obj.get("host"), "source": obj.get("source"),
                            "sourcetype": obj.get("sourcetype"),
                            "index": obj.get("index") or info.get("index") or "main",
                            "fields": obj.get("fields"), "request": record["n"],
                            "channel": channel, "ack_id": ack_id} for obj in accepted]
                st.events.extend(indexed)
                if st.journal is not None and indexed:
                    st.journal.write("".join(json.dumps(e, separators=(",", ":")) + "\n"
                                             for e in indexed))
                    st.journal.flush()  # in the kernel before the answer: survives kill -9
                record["events"] = len(accepted)
            record["lost"] = lose
            record["ack_dropped"] = drop
        if slow_ms:
            time.sleep(slow_ms / 1000.0)  # a slow indexer: the answer comes late
        if error is not None:
            return self.hec_reply(record, error.code, invalid_event=error.invalid_event)
        return self.hec_reply(record, 0, ack_id=ack_id)


class AdminHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.state
        with st.lock:
            if self.path == "/events":
                return self.send_json(200, {"events": list(st.events)})
            if self.path == "/requests":
                return self.send_json(200, {"requests": list(st.requests)})
            if self.path == "/acks":
                return self.send_json(200, {"pending": {
                    c: sorted(v["pending"]) for c, v in st.channels.items()}})
            if self.path == "/faults":
                return self.send_json(200, dict(st.faults))
        self.send_json(404, {"error": "unknown admin path"})

    def do_POST(self):
        st = self.state
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/reset":
            with st.lock:
                st.reset()
            return self.send_json(200, {"ok": True})
        if self.path == "/faults":
            try:
                faults = json.loads(body or b"{}")
                if not isinstance(faults, dict):
                    raise ValueError("object expected")
            except ValueError as e:
                return self.send_json(400, {"error": str(e)})
            with st.lock:
                for k, v in faults.items():
                    if k not in st.faults or not isinstance(v, int):
                        return self.send_json(400, {"error": f"unknown fault {k}"})
                st.faults.update(faults)
                return self.send_json(200, dict(st.faults))
        self.send_json(404, {"error": "unknown admin path"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def finish_request(self, request, client_address):
        if self.tls is not None:
            request.settimeout(10)
            request = self.tls.wrap_socket(request, server_side=True)  # handshake in the thread
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            return  # a client that refused our certificate, or went away: expected in tests
        super().handle_error(request, client_address)


def parse_token(spec):
    token, _, opts = spec.partition(":")
    info = {"ack": False, "disabled": False, "index": None}
    for opt in filter(None, opts.split(",")):
        if opt == "ack":
            info["ack"] = True
        elif opt == "disabled":
            info["disabled"] = True
        elif opt.startswith("index="):
            info["index"] = opt[len("index="):]
        else:
            raise SystemExit(f"unknown token option {opt!r}")
    return token, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--index", action="append", default=[])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--journal")
    args = ap.parse_args()
    tokens = dict(parse_token(t) for t in args.token)
    journal = open(args.journal, "a", encoding="utf-8") if args.journal else None
    state = State(tokens, set(args.index or ["main"]), journal)

    handler = type("BoundHandler", (Handler,), {"state": state})
    admin_handler = type("BoundAdmin", (AdminHandler,), {"state": state})
    hec = Server(("127.0.0.1", args.port), handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        hec.tls = ctx
    admin = Server(("127.0.0.1", args.admin_port), admin_handler)
    for s in (hec, admin):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"port": hec.server_address[1], "admin_port": admin.server_address[1],
                      "scheme": "https" if args.tls_cert else "http"}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
