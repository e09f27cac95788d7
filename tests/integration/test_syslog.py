#!/usr/bin/env python3
"""The syslog output against a real rsyslogd.

Run as:  python3 tests/integration/test_syslog.py /path/to/syslog_tool

Starts Debian's rsyslogd (rsyslog, rsyslog-gnutls) as a child process with its own configuration
in a temporary directory (`rsyslogd -n -f CONF -i PIDFILE`, workDirectory there too), listening on
free high ports of 127.0.0.1 only: imtcp (plain), imudp, imtcp with the gtls driver (anonymous
client) and imtcp with gtls requiring a client certificate (x509/certvalid). The CA, the server
certificate (SAN DNS:syslog.test and IP:127.0.0.1) and a client certificate are made with
`openssl` at test time. Each listener writes every message it receives to its own file, one
JSON object a line, with %PRI%, %HOSTNAME%, %APP-NAME%, %PROCID%, %MSGID%, %STRUCTURED-DATA%,
%msg% and %rawmsg% (JSON-escaped by rsyslog), which the tests parse.

syslog_tool (tests/integration/syslog_tool.cpp) builds the real output from a configuration
snippet and sends batches of alerts made by the real normalizer on command. The tests check the
parsed header fields, the structured data and the message of every alert; that hostile values
(newlines, forged syslog headers, '"', '\\', ']', '|', '=', invalid UTF-8) arrive as exactly one
message per alert with SD and JSON intact; octet-counting and newline framing; RFC 3164; CEF;
UDP size handling; TLS verification (names, CAs, mutual TLS); and that a restart of rsyslogd
during a stream gives kRetry and then delivery on a new connection, with nothing lost.

Readiness is awaited by polling (the listen ports, and a probe datagram appearing in the UDP
file); messages by polling the files. The last line printed is "N passed, N failed"; the exit
status is non-zero if any test failed.
"""

import datetime
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import common
from common import free_port

TOOL = None
TMP = None
RSYSLOG = None
PORTS = {}
STREAM_LISTENERS = ("tcp", "tls", "mtls", "relp", "relptls")  # rsyslogd's TCP ports
LOCAL4 = 20
SD_ID = "trailwarden@32473"
TIMEOUT = 20.0
MARKER = [900000]  # sequence numbers of marker alerts (Sink.settle)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def make_pki(d):
    """A CA, a server certificate for syslog.test and 127.0.0.1, a client certificate, and an
    unrelated CA (for the wrong-CA test)."""
    def ca(name, cn):
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem", "-days", "2",
             "-subj", f"/CN={cn}"])

    def leaf(name, cn, ext):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={cn}"])
        run(["openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem",
             "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "2",
             "-extfile", f"{d}/{name}.ext"])

    ca("ca", "trailwarden test CA")
    ca("other-ca", "some other CA")
    leaf("server", "syslog.test",
         "subjectAltName=DNS:syslog.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
         "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    leaf("client", "trailwarden-agent",
         "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")


TEMPLATE = ('{\\"pri\\":\\"%PRI%\\",\\"ts\\":\\"%timereported:::date-rfc3339%\\",'
            '\\"hostname\\":\\"%HOSTNAME:::json%\\",\\"app\\":\\"%APP-NAME:::json%\\",'
            '\\"procid\\":\\"%PROCID:::json%\\",\\"msgid\\":\\"%MSGID:::json%\\",'
            '\\"sd\\":\\"%STRUCTURED-DATA:::json%\\",\\"msg\\":\\"%msg:::json%\\",'
            '\\"raw\\":\\"%rawmsg:::json%\\"}\\n')


class Rsyslog:
    def __init__(self, d):
        self.d = d
        self.proc = None
        self.probes = 0
        os.makedirs(f"{d}/work", exist_ok=True)
        self.conf = f"{d}/rsyslog.conf"
        with open(self.conf, "w") as f:
            f.write(f'''
global(workDirectory="{d}/work" maxMessageSize="256k" net.enableDNS="off"
       defaultNetstreamDriverCAFile="{d}/ca.pem"
       defaultNetstreamDriverCertFile="{d}/server.pem"
       defaultNetstreamDriverKeyFile="{d}/server.key")
module(load="imtcp" maxSessions="200")
module(load="imudp")
module(load="imrelp")
template(name="tw_json" type="string" string="{TEMPLATE}")
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="tw_json") }}
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="tw_json") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.log" template="tw_json") }}
ruleset(name="mtls") {{ action(type="omfile" file="{d}/mtls.log" template="tw_json") }}
input(type="imtcp" address="127.0.0.1" port="{PORTS['tcp']}" ruleset="tcp")
input(type="imudp" address="127.0.0.1" port="{PORTS['udp']}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{PORTS['tls']}" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{PORTS['mtls']}" ruleset="mtls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
ruleset(name="relp") {{ action(type="omfile" file="{d}/relp.log" template="tw_json") }}
ruleset(name="relptls") {{ action(type="omfile" file="{d}/relptls.log" template="tw_json") }}
input(type="imrelp" address="127.0.0.1" port="{PORTS['relp']}" ruleset="relp"
      maxDataSize="256k")
input(type="imrelp" address="127.0.0.1" port="{PORTS['relptls']}" ruleset="relptls"
      maxDataSize="256k" tls="on" tls.caCert="{d}/ca.pem" tls.myCert="{d}/server.pem"
      tls.myPrivKey="{d}/server.key" tls.authMode="certvalid")
''')

    def start(self):
        self.proc = common.start_rsyslogd(self.d, self.conf,
                                          [PORTS[name] for name in STREAM_LISTENERS],
                                          timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        # UDP: send probes until one comes out in the file (the whole path works).
        self.probes += 1
        tag = f"probe-{self.probes}"
        sink = Sink("udp")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            s.sendto(f"<13>1 - probe probe - - - {tag}".encode(), ("127.0.0.1", PORTS["udp"]))
            if any(m["msg"] == tag for m in sink.read(all_lines=True)):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("rsyslogd does not receive UDP")
            time.sleep(0.05)
        s.close()

    def stop(self):
        if self.proc:
            common.stop_process(self.proc, TIMEOUT)
        self.proc = None
        # The ports are free again once rsyslogd has exited.


class Sink:
    """Messages rsyslogd wrote for one listener, from the moment the Sink was made."""

    def __init__(self, name):
        self.path = f"{TMP}/{name}.log"
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        self.start = self.offset

    def read(self, all_lines=False):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.start if all_lines else self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        if not all_lines:
            self.offset += end
        return [json.loads(line) for line in data[:end].decode("utf-8").splitlines()]

    def wait(self, n, timeout=TIMEOUT):
        """All messages since the Sink was made (probes left out), once there are n of them."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = [m for m in self.read(all_lines=True) if m["app"] != "probe"]
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: {len(msgs)} messages, expected {n}")
            time.sleep(0.02)

    def settle(self, tool):
        """The messages that arrived before a marker alert sent now through `tool`, and none
        after it: an ordering barrier (one connection keeps order), instead of a fixed sleep."""
        MARKER[0] += 1
        (marker,) = send_ok(tool, f"send normal 1 {MARKER[0]}")
        uid = marker["uid"]
        deadline = time.monotonic() + TIMEOUT
        while True:
            msgs = [m for m in self.read(all_lines=True) if m["app"] != "probe"]
            at = [i for i, m in enumerate(msgs) if uid in m["sd"] or uid in m["msg"]]
            if at:
                assert len(at) == 1 and at[0] == len(msgs) - 1, "messages after the marker"
                return msgs[:at[0]]
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: the marker alert did not arrive")
            time.sleep(0.02)


class Tool:
    def __init__(self, config, name="tool"):
        path = f"{TMP}/{name}-{time.monotonic_ns()}.toml"
        with open(path, "w") as f:
            f.write(config)
        self.err = open(f"{path}.err", "wb")
        self.proc = subprocess.Popen([TOOL, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        self.hello = self._next()
        self.pid = self.hello.get("pid")

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self):
        line = self.lines.get(timeout=60)
        if line is None:
            raise AssertionError(f"syslog_tool exited ({self.proc.wait()})")
        return json.loads(line)

    def cmd(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self._next()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *a):
        rc = self.close()
        if exc_type is None and "error" not in self.hello:
            # Non-zero: a crash, or a sanitizer report (leaks are reported at exit).
            assert rc == 0, f"syslog_tool exited with {rc}; see {self.err.name}"


def config(protocol="tcp", port=None, **keys):
    port = port or PORTS[protocol.replace("-", "")]
    lines = ["[[outputs]]", 'type = "syslog"', 'name = "siem"', f'protocol = "{protocol}"',
             f'address = "127.0.0.1:{port}"', 'hostname = "tw-host.example"']
    for k, v in keys.items():
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def tls_config(port_name="tls", protocol="tls", **keys):
    keys.setdefault("ca_file", f"{TMP}/ca.pem")
    keys.setdefault("tls_server_name", "syslog.test")
    return config(protocol, port=PORTS[port_name], **keys)


# --------------------------------------------------------------------------------------------
# expectations (an implementation independent of the C++ one)
# --------------------------------------------------------------------------------------------

def syslog_severity(ocsf):
    return {5: 2, 4: 3, 3: 4, 2: 5, 1: 6}[ocsf]


def header_field(raw, limit):
    out = "".join(chr(b) if 33 <= b <= 126 else "_" for b in raw[:limit])
    return out or "-"


def sd_value(raw, limit=128):
    end = len(raw)
    if end > limit:  # cut on a character boundary
        end = limit
        while end > limit - 3 and end > 0 and (raw[end] & 0xC0) == 0x80:
            end -= 1
    text = raw[:end].decode("utf-8", "replace")
    return "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def parse_sd(sd):
    """[id name="value" ...] -> (id, {name: value}), undoing the RFC 5424 escapes."""
    assert sd.startswith("[") and sd.endswith("]"), sd
    i = 1
    j = sd.index(" ", i)
    sd_id = sd[i:j]
    params = {}
    i = j
    while sd[i] == " ":
        eq = sd.index("=", i)
        name = sd[i + 1:eq]
        assert sd[eq + 1] == '"', sd
        k = eq + 2
        value = []
        while sd[k] != '"':
            if sd[k] == "\\" and sd[k + 1] in '"\\]':
                value.append(sd[k + 1])
                k += 2
            else:
                assert sd[k] not in '"]', f"unescaped {sd[k]!r} in {sd}"
                value.append(sd[k])
                k += 1
        params[name] = "".join(value)
        i = k + 1
    assert sd[i:] == "]", f"one SD element expected: {sd}"
    return sd_id, params


def severity_caption(ocsf):
    return {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}[ocsf]


def check_message(m, alert, pid, rfc="5424", msg_exact=True):
    raw_rule = bytes.fromhex(alert["rule_id_hex"])
    assert int(m["pri"]) == LOCAL4 * 8 + syslog_severity(alert["severity_id"]), m["pri"]
    assert m["hostname"] == "tw-host.example", m["hostname"]
    assert m["app"] == "trailwarden", m["app"]
    assert m["procid"] == str(pid), m["procid"]
    ts = datetime.datetime.fromisoformat(m["ts"])
    age = abs((datetime.datetime.now(datetime.timezone.utc) - ts).total_seconds())
    assert age < 120, f"timestamp {m['ts']} is {age} s away"
    msg = m["msg"]
    if rfc == "5424":
        assert m["msgid"] == header_field(raw_rule, 32), (m["msgid"], raw_rule)
        sd_id, params = parse_sd(m["sd"])
        assert sd_id == SD_ID, sd_id
        expected = {
            "rule": sd_value(raw_rule),
            "severity": severity_caption(alert["severity_id"]),
            "uid": alert["uid"],
            "account": sd_value(bytes.fromhex(alert["account_hex"])),
        }
        if alert["route"]:  # run: how the alert came, verified or not
            expected["route"] = alert["route"]
            expected["verified"] = "true" if alert["verified"] else "false"
            assert alert["verified"] == (alert["route"] == "s3"), alert
        assert params == expected, params
    else:
        assert m["sd"] == "-", m["sd"]
        msg = msg[1:] if msg.startswith(" ") else msg  # rsyslog keeps the space after "TAG:"
    if msg_exact:
        expected = bytes.fromhex(alert["msg_hex"]).decode("utf-8")
        assert msg == expected, f"\n got {msg[:300]!r}\nwant {expected[:300]!r}"
    return msg


def by_uid(msgs):
    out = {}
    for m in msgs:
        sd_id, params = parse_sd(m["sd"])
        out.setdefault(params["uid"], []).append(m)
    return out


def brief(r):
    """A reply of the tool, short enough for an assertion message."""
    return {k: v for k, v in r.items() if k != "alerts"}


def send_ok(tool, line):
    r = tool.cmd(line)
    assert r.get("status") == "delivered", brief(r)
    return r["alerts"]


def check_batch(sink, tool, alerts, rfc="5424"):
    msgs = sink.settle(tool)
    assert len(msgs) == len(alerts), f"{len(msgs)} messages for {len(alerts)} alerts"
    assert not any(m["app"] == "forged" or "forged" in m["hostname"] for m in msgs)
    if rfc == "5424":
        got = by_uid(msgs)
        for a in alerts:
            assert len(got.get(a["uid"], [])) == 1, f"{a['uid']}: {len(got.get(a['uid'], []))}"
            check_message(got[a["uid"]][0], a, tool.pid, rfc)
    else:
        for m, a in zip(msgs, alerts):
            check_message(m, a, tool.pid, rfc)
    return msgs


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

def test_tcp_octet_counting():
    sink = Sink("tcp")
    with Tool(config("tcp")) as t:
        alerts = send_ok(t, "send normal 5 100")
        assert {a["route"] for a in alerts} == {"", "s3", "eventbridge"}, alerts  # all three
        c = t.cmd("counters")
        assert c["sent"] == 5 and c["connects"] == 1, c
        msgs = check_batch(sink, t, alerts)
        for m in msgs:
            json.loads(m["msg"])  # the OCSF finding, intact


def test_tcp_newline_hostile():
    sink = Sink("tcp")
    with Tool(config("tcp", framing="newline")) as t:
        alerts = send_ok(t, "send hostile 3 200") + send_ok(t, "send normal 2 210")
        check_batch(sink, t, alerts)


def test_tcp_octet_counting_hostile():
    sink = Sink("tcp")
    with Tool(config("tcp", framing="octet-counting")) as t:
        alerts = send_ok(t, "send hostile 4 300")
        msgs = check_batch(sink, t, alerts)
        for m in msgs:
            finding = json.loads(m["msg"])
            assert "forged" in json.dumps(finding)  # the hostile text is there, as data
            assert "\n" not in m["raw"] and "#012" not in m["raw"], m["raw"][:200]


def test_tcp_rfc3164():
    sink = Sink("tcp")
    with Tool(config("tcp", rfc="3164", framing="newline")) as t:
        alerts = send_ok(t, "send normal 2 400") + send_ok(t, "send hostile 1 402")
        msgs = check_batch(sink, t, alerts, rfc="3164")
        assert all(m["raw"].startswith(f"<{m['pri']}>") for m in msgs)


def test_tcp_cef_hostile():
    sink = Sink("tcp")
    with Tool(config("tcp", format="cef", framing="newline")) as t:
        alerts = send_ok(t, "send hostile 2 500") + send_ok(t, "send normal 1 502")
        msgs = check_batch(sink, t, alerts)
        for m in msgs:
            cef = m["msg"]
            assert cef.startswith("CEF:0|trailwarden|trailwarden|"), cef
            # Seven header fields and the extension: split on unescaped pipes.
            fields, cur, k = [], "", 0
            while k < len(cef):
                if cef[k] == "\\":
                    cur += cef[k:k + 2]
                    k += 2
                    continue
                if cef[k] == "|" and len(fields) < 7:
                    fields.append(cur)
                    cur = ""
                else:
                    cur += cef[k]
                k += 1
            fields.append(cur)
            assert len(fields) == 8, fields
            assert "externalId=" in fields[7], fields[7]
            assert all(ord(c) >= 0x20 for c in cef), repr(cef)
        # 500: an inline event, 502: an S3 object (seq % 3): the extension says so.
        ext = {params_uid: m["msg"] for m in msgs for params_uid in [parse_sd(m["sd"])[1]["uid"]]}
        assert " cs4=eventbridge cn1Label=trailwardenVerified cn1=0 " in ext[alerts[0]["uid"]]
        assert " cs4=s3 cn1Label=trailwardenVerified cn1=1 cs5Label=s3Object cs5=s3://" in \
            ext[alerts[2]["uid"]]
        assert "cs4=" not in ext[alerts[1]["uid"]]  # 501: replay, no route


def test_udp():
    sink = Sink("udp")
    with Tool(config("udp")) as t:
        alerts = send_ok(t, "send normal 3 600")
        msgs = sink.settle(t)
        assert len(msgs) == 3, msgs
        got = by_uid(msgs)
        summaries = 0
        for a in alerts:
            (m,) = got[a["uid"]]
            assert len(m["raw"].encode()) <= 2048, len(m["raw"].encode())
            full = len(bytes.fromhex(a["msg_hex"])) + 150 < 2048
            msg = check_message(m, a, t.pid, msg_exact=full)
            if not full:
                summaries += 1
                s = json.loads(msg)
                assert s["trailwarden"]["truncated"] is True, s
                assert s["trailwarden"]["finding_uid"] == a["uid"], s
                assert s["trailwarden"]["original_bytes"] > 2048, s
        c = t.cmd("counters")  # the marker alert counts too
        assert c["sent"] == 4 and c["summarized"] in (summaries, summaries + 1), (c, summaries)


def test_udp_big_and_hostile():
    sink = Sink("udp")
    with Tool(config("udp", max_message_bytes=65000)) as t:
        alerts = send_ok(t, "send big 1 700") + send_ok(t, "send hostile 2 701")
        msgs = check_batch(sink, t, alerts)
        assert max(len(m["raw"].encode()) for m in msgs) > 20000


def test_udp_cef_summary():
    sink = Sink("udp")
    with Tool(config("udp", format="cef", rfc="3164")) as t:  # 1024 bytes by default
        alerts = send_ok(t, "send huge 1 750")
        (m,) = sink.settle(t)
        assert len(m["raw"].encode()) <= 1024
        assert m["msg"].lstrip().startswith("CEF:0|trailwarden|")
        del alerts


def big_and_huge(protocol, first):
    """Two big alerts arrive whole; one over max_message_bytes arrives as a marked summary."""
    sink = Sink(protocol)
    with Tool(config(protocol)) as t:
        big = send_ok(t, f"send big 2 {first}")
        huge = send_ok(t, f"send huge 1 {first + 2}")
        assert t.cmd("counters")["summarized"] == 1
        msgs = sink.settle(t)
        assert len(msgs) == 3, len(msgs)
        got = by_uid(msgs)
        for a in big:
            (m,) = got[a["uid"]]
            check_message(m, a, t.pid)
            assert len(m["msg"]) > 20000
        (m,) = got[huge[0]["uid"]]
        check_message(m, huge[0], t.pid, msg_exact=False)
        s = json.loads(m["msg"])
        assert s["trailwarden"]["truncated"] is True and s["event"]["account"] == "123456789012"


def test_tcp_big_and_huge():
    big_and_huge("tcp", 800)


def test_tls_octet_and_newline():
    for framing in ("octet-counting", "newline"):
        sink = Sink("tls")
        with Tool(tls_config(framing=framing)) as t:
            alerts = send_ok(t, "send normal 3 900") + send_ok(t, "send hostile 2 903")
            check_batch(sink, t, alerts)


def test_tls_ip_address_san():
    sink = Sink("tls")
    with Tool(config("tls", port=PORTS["tls"], ca_file=f"{TMP}/ca.pem")) as t:
        check_batch(sink, t, send_ok(t, "send normal 1 950"))


def test_tls_wrong_name_is_refused():
    sink = Sink("tls")
    with Tool(tls_config(tls_server_name="not-the-server.test")) as t:
        r = t.cmd("send normal 1 960")
        assert r["status"] == "retry", brief(r)
        assert "verification failed" in r["message"] or "mismatch" in r["message"], brief(r)
    with Tool(tls_config()) as good:
        assert sink.settle(good) == []


def test_tls_wrong_ca_is_refused():
    sink = Sink("tls")
    with Tool(tls_config(ca_file=f"{TMP}/other-ca.pem")) as t:
        r = t.cmd("send normal 1 970")
        assert r["status"] == "retry", brief(r)
        assert "verification failed" in r["message"], brief(r)
        c = t.cmd("counters")
        assert c["connect_failures"] == 1 and c["sent"] == 0, c
    with Tool(tls_config()) as good:
        assert sink.settle(good) == []


def test_mutual_tls():
    sink = Sink("mtls")
    with Tool(tls_config("mtls")) as t:
        r = t.cmd("send normal 1 980")
        if r["status"] == "delivered":
            # TLS 1.3: rsyslogd refuses the certificate one round trip after the handshake, and
            # the output waits 100 ms (plus 4x the connect time) for that. A receiver kept off
            # the CPU for longer lets this send go to a connection being closed; the next send
            # must then meet the refusal. Either way nothing reaches rsyslogd's file (below).
            r = t.cmd("send normal 1 979")
        assert r["status"] == "retry", brief(r)
        assert "client certificate" in r["message"], brief(r)
    with Tool(tls_config("mtls", cert_file=f"{TMP}/client.pem",
                         key_file=f"{TMP}/client.key")) as t:
        check_batch(sink, t, send_ok(t, "send normal 2 981"))  # and nothing of seq 979, 980


def restart_during_stream(cfg, sink_name, first):
    sink = Sink(sink_name)
    with Tool(cfg) as t:
        alerts = send_ok(t, f"send normal 5 {first}")
        sink.wait(5)
        RSYSLOG.stop()
        r = t.cmd(f"send hostile 3 {first + 5}")
        assert r["status"] == "retry", brief(r)
        second = r["alerts"]
        r = t.cmd("resend")  # still down: retry again, no sleeping in the output
        assert r["status"] == "retry", brief(r)
        RSYSLOG.start()
        r = t.cmd("resend")
        assert r["status"] == "delivered", brief(r)
        alerts += second
        # Wait until rsyslogd has them: data in its socket buffer when it stops is lost, which
        # TCP cannot report (see the delivery notes in docs/outputs.md).
        sink.wait(8)
        # Between sends: rsyslogd restarts, the output notices the closed connection and
        # reconnects before writing.
        RSYSLOG.stop()
        RSYSLOG.start()
        alerts += send_ok(t, f"send normal 2 {first + 8}")
        check_batch(sink, t, alerts)
        c = t.cmd("counters")
        assert c["connects"] == 3 and c["connect_failures"] == 2, c


def test_tcp_restart_reconnects():
    restart_during_stream(config("tcp"), "tcp", 1000)


def test_tls_restart_reconnects():
    restart_during_stream(tls_config(framing="newline"), "tls", 1100)


def octet_frames(data):
    """The messages of an octet-counted stream (RFC 6587 "LEN SP MSG"); a cut last one is left
    out."""
    out = []
    while True:
        sp = data.find(b" ")
        if sp <= 0:
            return out
        n = int(data[:sp])
        if len(data) < sp + 1 + n:
            return out
        out.append(data[sp + 1:sp + 1 + n])
        data = data[sp + 1 + n:]


def listener(rcvbuf=None):
    """A TCP listener of our own on 127.0.0.1 (a receiver that misbehaves on purpose); returns
    (socket, port). `rcvbuf`: a small receive buffer, inherited by accepted connections."""
    srv = socket.socket()
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    return srv, srv.getsockname()[1]


def test_tcp_delivered_only_once_the_receiver_acknowledged():
    # A receiver that accepts connections and reads nothing, with a small receive buffer (a hung
    # collector; a host gone with the network): a batch that fits the agent's send buffer but
    # not the receiver's window must not count as delivered. Counted delivered, its bytes would
    # sit in the agent's kernel and vanish when the connection is finally reset.
    srv, port = listener(rcvbuf=4096)
    try:
        with Tool(config("tcp", port=port, write_timeout_ms=500)) as t:
            started = time.monotonic()
            r = t.cmd("send big 3 1500")  # about 60 KB
            assert r["status"] == "retry", brief(r)
            assert "not acknowledged" in r["message"], brief(r)
            assert time.monotonic() - started < 5, "send() was not bounded by write_timeout_ms"
            first, _ = srv.accept()  # the connection the batch was cut off on
            first.close()
            # A receiver that reads: the batch is sent again on a new connection, and delivered.
            got = []

            def read_all():
                conn, _ = srv.accept()
                data = b""
                while len(octet_frames(data)) < 3:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
                got.extend(octet_frames(data))
                conn.close()
            reader = threading.Thread(target=read_all, daemon=True)
            reader.start()
            r = t.cmd("resend")
            assert r["status"] == "delivered", brief(r)
            reader.join(TIMEOUT)
            assert len(got) == 3 and all(a["uid"].encode() in m for a, m in zip(r["alerts"], got))
            c = t.cmd("counters")
            assert c["write_failures"] == 1 and c["connects"] == 2 and c["sent"] == 3, c
    finally:
        srv.close()


def test_tcp_wait_gives_up_when_the_pipeline_stops():
    # A hung receiver and a long write_timeout: without cancel(), stopping the agent would wait
    # the whole 30 s for an acknowledgement that never comes; with it, the send gives up at once
    # (the batch stays in the buffer for the next start).
    srv, port = listener(rcvbuf=4096)
    try:
        with Tool(config("tcp", port=port, write_timeout_ms=30000)) as t:
            assert t.cmd("cancel-after 300")["ok"]
            started = time.monotonic()
            r = t.cmd("send big 3 1500")
            elapsed = time.monotonic() - started
            assert r["status"] == "retry", brief(r)
            assert "cancel" in r["message"].lower(), brief(r)
            assert elapsed < 5, f"send() took {elapsed:.1f} s after cancel()"
    finally:
        srv.close()


def test_tcp_reset_by_the_receiver_is_reported():
    # A receiver that closes with unread data makes its kernel reset the connection: those bytes
    # were acknowledged (the batch counted delivered) and thrown away. TCP cannot say which
    # alerts; the output says that it happened (a WARN line, the resets counter), then
    # reconnects. A receiver that read everything and closed is a plain reconnect.
    srv, port = listener()
    try:
        with Tool(config("tcp", port=port)) as t:
            send_ok(t, "send normal 2 1600")  # acknowledged by the receiver's kernel, unread
            conn, _ = srv.accept()
            conn.close()  # unread data: RST
            got = []

            def read_one():
                c, _ = srv.accept()
                data = b""
                while not octet_frames(data):
                    chunk = c.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
                got.extend(octet_frames(data))
                c.close()  # everything read: FIN
            reader = threading.Thread(target=read_one, daemon=True)
            reader.start()
            (a,) = send_ok(t, "send normal 1 1602")
            reader.join(TIMEOUT)
            assert len(got) == 1 and a["uid"].encode() in got[0], got
            c = t.cmd("counters")
            assert c["resets"] == 1 and c["connects"] == 2, c
            t.err.flush()
            log = open(t.err.name, errors="replace").read()
            assert "reset the connection" in log and "may have been lost" in log, log
            # Closed after reading everything: reconnected, not counted as a reset.
            reader = threading.Thread(target=read_one, daemon=True)
            reader.start()
            send_ok(t, "send normal 1 1603")
            reader.join(TIMEOUT)
            c = t.cmd("counters")
            assert c["resets"] == 1 and c["connects"] == 3, c
    finally:
        srv.close()


def test_relp():
    sink = Sink("relp")
    with Tool(config("relp")) as t:
        alerts = send_ok(t, "send normal 5 2000") + send_ok(t, "send hostile 3 2005")
        c = t.cmd("counters")
        assert c["sent"] == 8 and c["connects"] == 1 and c["refused"] == 0, c
        check_batch(sink, t, alerts)


def test_relp_big_and_huge():
    big_and_huge("relp", 2050)


def test_relp_tls():
    # rsyslog's RELP over TLS (librelp, GnuTLS) as it is usually set up: both sides present a
    # certificate of the same CA.
    sink = Sink("relptls")
    client = {"cert_file": f"{TMP}/client.pem", "key_file": f"{TMP}/client.key"}
    with Tool(tls_config("relptls", protocol="relp-tls", **client)) as t:
        check_batch(sink, t, send_ok(t, "send normal 3 2100"))
    sink = Sink("relptls")
    with Tool(tls_config("relptls", protocol="relp-tls", ca_file=f"{TMP}/other-ca.pem",
                         **client)) as t:
        r = t.cmd("send normal 1 2110")
        assert r["status"] == "retry" and "verification failed" in r["message"], brief(r)
    with Tool(tls_config("relptls", protocol="relp-tls")) as t:  # no client certificate
        r = t.cmd("send normal 1 2111")
        assert r["status"] == "retry" and "client certificate" in r["message"], brief(r)
    with Tool(tls_config("relptls", protocol="relp-tls", **client)) as good:
        assert sink.settle(good) == []  # nothing of 2110, 2111


def test_relp_restart_reconnects():
    restart_during_stream(config("relp"), "relp", 2200)


def test_relp_unanswered_is_not_delivered():
    # The difference RELP makes: a receiver that takes the bytes (its kernel acknowledges them:
    # enough for syslog over TCP to count a batch delivered) but never answers (hung, or died
    # before storing them) leaves the batch undelivered, to be sent again.
    srv, port = listener()
    try:
        with Tool(config("relp", port=port, write_timeout_ms=500)) as t:
            started = time.monotonic()
            r = t.cmd("send normal 2 2300")
            assert r["status"] == "retry" and "no answer" in r["message"], brief(r)
            assert time.monotonic() - started < 5, "not bounded by write_timeout_ms"
            c = t.cmd("counters")
            assert c["sent"] == 0 and c["write_failures"] == 1, c
    finally:
        srv.close()
    # Not a RELP receiver (plain syslog over TCP answers nothing; an HTTP server answers
    # something else): an error that says so, nothing delivered.
    srv, port = listener()

    def http_answer():
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    answerer = threading.Thread(target=http_answer, daemon=True)
    answerer.start()
    try:
        with Tool(config("relp", port=port, write_timeout_ms=2000)) as t:
            r = t.cmd("send normal 1 2310")
            assert r["status"] == "retry" and "not a RELP frame" in r["message"], brief(r)
    finally:
        answerer.join(TIMEOUT)
        srv.close()


def test_reopen_reconnects():
    sink = Sink("tcp")
    with Tool(config("tcp")) as t:
        alerts = send_ok(t, "send normal 1 1200")
        assert t.cmd("reopen")["ok"]
        alerts += send_ok(t, "send normal 1 1201")
        check_batch(sink, t, alerts)
        assert t.cmd("counters")["connects"] == 2


def test_nothing_listening():
    port = common.restartable_port()  # not ephemeral: a reconnect cannot self-connect to it
    with Tool(config("tcp", port=port, connect_timeout_ms=2000)) as t:
        started = time.monotonic()
        r = t.cmd("send normal 1 1300")
        assert r["status"] == "retry" and "refused" in r["message"], brief(r)
        assert time.monotonic() - started < 2.0


def test_configuration_errors():
    cases = [
        (config("udp", framing="newline"), "framing applies"),
        (config("tcp", ca_file="/x.pem"), "ca_file applies to protocol \"tls\" and \"relp-tls\" only"),
        (config("tcp", facility="nope"), "facility must be"),
        (config("tcp", rfc="5425"), "rfc must be"),
        (config("tcp", protocol_typo=1), "unknown key 'protocol_typo'"),
        (config("udp", max_message_bytes=70000), "max_message_bytes must be at most"),
        (config("tcp", max_message_bytes=100), "must be at least 480"),
        (config("tcp", app_name="bad name"), "app_name must be"),
        (config("tcp").replace("127.0.0.1:", "127.0.0.1:99999#"), "is not \"host:port\""),
        (tls_config(cert_file=f"{TMP}/client.pem"), "cert_file and key_file go together"),
        (tls_config(ca_file=f"{TMP}/missing.pem"), "cannot load ca_file"),
        (config("tcp", format="cef").replace('format = "cef"', 'format = "xml"'), "unknown format"),
    ]
    for text, needle in cases:
        with Tool(text) as t:
            assert "error" in t.hello, (needle, t.hello)
            assert needle in t.hello["error"], (needle, t.hello["error"])
            assert ".toml:" in t.hello["error"], t.hello["error"]  # file:line:column
            assert t.proc.wait(10) == 2


def test_config_keys_and_defaults():
    with Tool(config("tcp", facility=4, app_name="tw-agent", write_timeout_ms=500)) as t:
        sink = Sink("tcp")
        (a,) = send_ok(t, "send normal 1 1400")
        (m,) = sink.settle(t)
        assert int(m["pri"]) == 4 * 8 + syslog_severity(a["severity_id"])
        assert m["app"] == "tw-agent"


# --------------------------------------------------------------------------------------------

def main():
    global TOOL, TMP
    TOOL = common.tool_argument(__doc__)
    if not shutil.which("rsyslogd"):
        return common.cannot_run("rsyslogd not found (Debian packages rsyslog and rsyslog-gnutls)")
    TMP = tempfile.mkdtemp(prefix="tw-syslog-")

    def setup():
        global RSYSLOG
        for name in STREAM_LISTENERS:  # rsyslogd restarts on them (see restartable_port)
            PORTS[name] = common.restartable_port()
        PORTS["udp"] = free_port(socket.SOCK_DGRAM)
        make_pki(TMP)
        RSYSLOG = Rsyslog(TMP)
        RSYSLOG.start()

    def with_rsyslogd(fn):
        def test():
            if RSYSLOG.proc is None:  # a test that stopped it failed before starting it again
                RSYSLOG.start()
            fn()
        return test

    def teardown():
        if RSYSLOG:
            RSYSLOG.stop()

    tests = [(name, with_rsyslogd(fn))
             for name, fn in common.module_tests(globals(), only=os.environ.get("SYSLOG_TEST"))]
    return common.run_suite(tests, setup=setup, teardown=teardown, tmp=TMP,
                            keep=bool(os.environ.get("SYSLOG_TEST_KEEP")))


if __name__ == "__main__":
    sys.exit(main())
