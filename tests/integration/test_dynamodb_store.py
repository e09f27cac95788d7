"""The DynamoDB alarm store (agent/store/) against dynalite on 127.0.0.1, driven by
dynamodb_store_tool: three processes adding to one period at once give the exact total (and the
least and greatest values of all); two processes adding the same units at once count each
once; a write applied whose answer is lost, then retried, counts once; beyond max_units a
period counts units unguarded; three racing one transition, exactly one wins; a missing table
or a wrong key schema is a clear error; throttling and a 5xx from a stand-in server are retried
with backoff; BatchGetItem reads 150 items of 20 KB, each key asked twice, past dynalite's
answer size limit (its UnprocessedKeys sent again). The shared integrity ledger
(agent/integrity/dynamodb_integrity_ledger) in the same table: reads added by three processes
at once on one log file are all kept up to kMaxReads and never beyond; three processes racing one
backfill claim, exactly one wins and the others see its lease, and a lease in the past is won
again; digests added out of order leave the newest as the chain's head; three racing the
delivery-stopped claim, one wins, and none once the head moved; neighbours; foreign items
ignored. Prints the requests per record the store sent, batched and not, and the item size
and write units per add at 1, 100 and 1000 units per period.

    test_dynamodb_store.py DYNAMODB_STORE_TOOL
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

import common
from common import check

TOOL = ""
DB = None  # the Dynalite of the suite
TABLE = "tw-alarms"
PROCESSES = 3
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
           AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def tool_args(command: str, *args: str, endpoint: str | None = None, table: str = TABLE):
    return [TOOL, command, "--endpoint", endpoint or DB.endpoint, "--table", table, *args]


def run_tool(command: str, *args: str, expect_ok: bool = True, **kw) -> dict:
    p = subprocess.run(tool_args(command, *args, **kw), env=ENV, capture_output=True, text=True,
                       timeout=120)
    check(p.returncode in (0, 1), f"tool exit {p.returncode}: {p.stderr}")
    out = json.loads(p.stdout)
    check(out["ok"] == expect_ok and p.returncode == (0 if expect_ok else 1),
          f"{command} {args}: expected ok={expect_ok}, got {out} (stderr {p.stderr})")
    return out


def race(command: str, per_process_args) -> list[dict]:
    """Starts one tool process per argument list, each held at its --barrier; releases all of
    them at once (one line on each stdin); returns their outputs."""
    return race_commands([(command, args) for args in per_process_args])


def race_commands(commands) -> list[dict]:
    """race() with a (command, args) pair per process."""
    procs = [subprocess.Popen(tool_args(command, *args, "--barrier"), env=ENV,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for command, args in commands]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for (command, _), p in zip(commands, procs):
        stdout, stderr = p.communicate(timeout=120)
        check(p.returncode == 0, f"{command} exited {p.returncode}: {stderr}")
        outs.append(json.loads(stdout))
    return outs


def test_three_processes_add_to_one_period_exactly():
    records, batch = 300, 10
    outs = race("add", [("--records", str(records), "--batch", str(batch), "--dims", "user=race",
                         "--id-prefix", f"p{i}", "--unit", f"p{i}") for i in range(PROCESSES)])
    loaded = run_tool("load", "--dims", "user=race")
    check(len(loaded["periods"]) == 1, f"one period expected: {loaded}")
    period = loaded["periods"][0]
    check(period["count"] == PROCESSES * records and period["sum"] == PROCESSES * records,
          f"lost or doubled counts: {period}")
    check(period["min"] == 1 and period["max"] == 1, f"extremes: {period}")
    # Contributor ids are added only while fewer than max_contributors (10) are stored.
    check(1 <= period["contributors"] < 20, f"contributors not bounded: {period}")
    # Batched: one UpdateItem per batch of records of one unit and period, plus at most one
    # write refused by the contributor condition per process (the set is full) and the GetItem
    # that tells why.
    for out in outs:
        check(records // batch <= out["requests"] <= records // batch + 2,
              f"requests per batch: {out}")
        check(out["already_counted"] == 0 and out["unguarded"] == 0, f"units: {out}")
    per_period = sum(o["requests"] for o in outs)
    print(f"  {PROCESSES} x {records} records, batches of {batch}: "
          f"{per_period / (PROCESSES * records):.3f} requests per matched record, "
          f"{per_period} for the period")
    single = run_tool("add", "--records", "20", "--batch", "1", "--dims", "user=single")
    check(single["requests"] == 20, f"unbatched: one request per record expected: {single}")
    print(f"  unbatched: {single['requests'] / 20:.2f} requests per matched record")


def test_three_processes_keep_minimum_and_maximum():
    values = ["5", "2.25", "9"]
    race("add", [("--records", "40", "--batch", "4", "--dims", "user=extremes", "--value", v,
                  "--id-prefix", f"v{i}", "--unit", f"v{i}") for i, v in enumerate(values)])
    period = run_tool("load", "--dims", "user=extremes")["periods"][0]
    check(period["count"] == 120 and period["sum"] == 40 * (5 + 2.25 + 9) and
          period["min"] == 2.25 and period["max"] == 9, f"extremes across processes: {period}")


def test_two_processes_adding_the_same_units_count_each_once():
    # Two agents get the same 30 units (a second notification, a redelivery after a kill -9)
    # and add them at the same moment: each unit is counted by exactly one of them.
    units, per_unit = 30, 4
    args = ("--records", str(units * per_unit), "--batch", str(per_unit), "--dims", "user=twice",
            "--unit", "s3://trail/AWSLogs/o.json.gz?versionId=v#e")
    outs = race("add", [args, args])
    period = run_tool("load", "--dims", "user=twice")["periods"][0]
    check(period["count"] == units * per_unit and period["sum"] == units * per_unit,
          f"a unit counted twice or lost: {period} {outs}")
    check(sum(o["already_counted"] for o in outs) == units,
          f"each unit refused exactly once, to one of the two: {outs}")
    item = run_tool("item", "--dims", "user=twice")
    check(item["units"] == units, f"digests stored: {item}")
    # Once more, later (a redelivery): nothing is added, every unit is reported counted.
    again = run_tool("add", *args)
    check(again["already_counted"] == units and again["count"] == units * per_unit,
          f"redelivered units: {again}")
    check(run_tool("load", "--dims", "user=twice")["periods"][0]["count"] == units * per_unit,
          "a redelivery counted again")


class LocalServer(http.server.ThreadingHTTPServer):
    """An HTTP server of the suite on 127.0.0.1, on a free port."""

    def __init__(self, handler):
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class LosingProxy(LocalServer):
    """Forwards every request to dynalite; the answer to the first UpdateItem (applied by
    dynalite) is replaced by a 500, as when an answer is lost in transit."""

    def __init__(self, target: str):
        self.target = target
        self.requests: list[tuple[str, int]] = []  # (X-Amz-Target, status sent back)
        self.lost = False
        super().__init__(LosingProxyHandler)


class LosingProxyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        import urllib.request
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        forward = urllib.request.Request(self.server.target + self.path, data=body, method="POST",
                                         headers={k: v for k, v in self.headers.items()
                                                  if k.lower() not in ("host", "content-length")})
        try:
            with urllib.request.urlopen(forward, timeout=30) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        action = self.headers.get("X-Amz-Target", "")
        with self.server.lock:
            if action.endswith(".UpdateItem") and status == 200 and not self.server.lost:
                self.server.lost = True
                status = 500
                data = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                   "message": "answer lost"}).encode()
            self.server.requests.append((action, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_write_whose_answer_is_lost_counts_once():
    proxy = LosingProxy(DB.endpoint)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        out = run_tool("add", "--records", "5", "--batch", "5", "--dims", "user=lost",
                       "--value", "2", endpoint=proxy.endpoint)
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
    actions = [(a.split(".")[-1], s) for a, s in proxy.requests]
    check(actions == [("UpdateItem", 500), ("UpdateItem", 400), ("GetItem", 200)],
          f"the applied write, its retry refused, the read: {actions}")
    check(out["count"] == 5 and out["sum"] == 10 and out["already_counted"] == 1,
          f"counted once: {out}")
    period = run_tool("load", "--dims", "user=lost")["periods"][0]
    check(period["count"] == 5 and period["sum"] == 10 and period["min"] == 2,
          f"stored after the lost answer: {period}")


def test_beyond_max_units_a_period_counts_unguarded():
    args = ("--records", "8", "--batch", "1", "--dims", "user=bound", "--max-units", "5")
    first = run_tool("add", *args)
    check(first["count"] == 8 and first["unguarded"] == 3 and first["already_counted"] == 0,
          f"5 remembered, 3 counted without: {first}")
    # 5 guarded writes (the fifth answer shows the set full), then 3 unguarded: one each.
    check(first["requests"] == 8 and first["checks"] == 0, f"requests: {first}")
    item = run_tool("item", "--dims", "user=bound")
    check(item["units"] == 5, f"the set stops at max_units: {item}")
    # All 8 again: the 5 remembered are refused; the 3 others count again (the documented cost
    # of the bound).
    again = run_tool("add", *args)
    check(again["already_counted"] == 5 and again["unguarded"] == 3 and again["count"] == 11,
          f"after the bound: {again}")
    # A new agent learns the set is full once: a refused write and a read, then one each.
    check(again["requests"] == 5 * 2 + 3 + 2, f"requests after the bound: {again}")


def test_item_size_and_write_units_per_add():
    """Measures what an add costs as a period fills: the item's size as DynamoDB bills it (the
    tool's item_size, checked against dynalite's own ConsumedCapacity for a write of that item)
    and so the write units of the next add to it."""
    rows = []
    for units in (1, 100, 1000):
        dims = f"user=size{units}"
        out = run_tool("add", "--records", str(units), "--batch", "1", "--dims", dims,
                       "--value", "1.5")
        check(out["count"] == units and out["requests"] == units and out["unguarded"] == 0,
              f"one request per add: {out}")
        item = run_tool("item", "--dims", dims)
        check(item["units"] == units, f"{item}")
        key = {"pk": {"S": ""}, "sk": {"S": "p#00000000001714564800"}}
        # dynalite's bill for one more write of that item (a no-op SET keeps its size).
        key["pk"]["S"] = pk_of(dims)
        r = DB.client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET #t = #t",
                                  ExpressionAttributeNames={"#t": "expires_at"},
                                  ReturnConsumedCapacity="TOTAL")
        wcu = r["ConsumedCapacity"]["CapacityUnits"]
        expected = -(-item["bytes"] // 1024)
        check(wcu == expected, f"{units} units: {item['bytes']} bytes, dynalite bills {wcu} WCU, "
                               f"expected {expected}")
        rows.append((units, item["bytes"], wcu))
    for units, size, wcu in rows:
        print(f"  {units:5d} units in the period: item {size} bytes, {wcu:g} WCU per add "
              f"(1 UpdateItem)")
    check(rows[0][2] == 1 and rows[1][2] <= 2 and rows[2][2] <= 17, f"cost per add: {rows}")


def pk_of(dims: str, alarm: str = "cis-4.9") -> str:
    import hashlib
    return alarm + "#" + hashlib.sha256(dims.encode()).hexdigest()[:32]


def test_three_processes_race_one_transition_exactly_one_wins():
    dims = ["--dims", "user=transition"]
    outs = race("transition", [(*dims, "--from", "INSUFFICIENT_DATA", "--from-version", "0",
                                "--to", "ALARM")] * PROCESSES)
    won = [o for o in outs if o["outcome"] == "won"]
    check(len(won) == 1, f"exactly one winner expected: {outs}")
    outs = race("transition", [(*dims, "--from", "ALARM", "--from-version", "1", "--to", "OK")]
                * PROCESSES)
    check(sum(o["outcome"] == "won" for o in outs) == 1, f"second race: {outs}")
    loaded = run_tool("load", *dims)
    check(loaded["state"] == "OK" and loaded["version"] == 2, f"state after two races: {loaded}")
    # A stale agent (it still believes ALARM version 1) loses.
    stale = run_tool("transition", *dims, "--from", "ALARM", "--from-version", "1", "--to", "OK")
    check(stale["outcome"] == "lost", f"stale transition won: {stale}")


def test_table_check():
    ok = run_tool("check")
    check(any("time to live" in w for w in ok["warnings"]), f"TTL warning expected: {ok}")
    missing = run_tool("check", table="tw-absent", expect_ok=False)
    check("table tw-absent does not exist in region us-east-1" in missing["message"] and
          "ResourceNotFoundException" in missing["message"] and not missing["retryable"],
          f"missing table: {missing}")
    DB.create_table("tw-wrong", [("id", "HASH", "S")])
    wrong = run_tool("check", table="tw-wrong", expect_ok=False)
    check("key schema [id HASH S]; the alarm store needs [pk HASH S, sk RANGE S]"
          in wrong["message"], f"wrong schema: {wrong}")
    DB.create_table("tw-wrong-type", [("pk", "HASH", "S"), ("sk", "RANGE", "N")])
    wrong = run_tool("check", table="tw-wrong-type", expect_ok=False)
    check("sk RANGE N" in wrong["message"], f"wrong sort key type: {wrong}")
    # Writing to a missing table: permanent, with AWS's code.
    add = run_tool("add", table="tw-absent", expect_ok=False)
    check("ResourceNotFoundException" in add["message"] and not add["retryable"] and
          add["requests"] == 1, f"add to a missing table: {add}")


def test_batch_get_reads_every_item_past_the_answer_size_limit():
    """DynamoDbClient::batch_get_item against dynalite: 160 keys (10 without an item), each
    listed twice (dynalite refuses a request with a duplicate key, as DynamoDB does), in
    requests of at most 100 keys (dynalite refuses more). dynalite answers at most about 1.4 MB
    per request and leaves the other keys in UnprocessedKeys, which the client sends again."""
    pad = "x" * 20000
    for i in range(150):
        DB.client.put_item(TableName=TABLE, Item={"pk": {"S": f"bg#{i}"}, "sk": {"S": "s"},
                                                  "n": {"N": str(i)}, "pad": {"S": pad}})
    out = run_tool("batch-get", "--keys", "160")
    check(out["items"] == 150 and out["distinct"] == 150 and out["intact"] == 150,
          f"every item once: {out}")
    # 100 keys (about 2 MB: some 72 items fit, the rest unprocessed), 60 keys, then the
    # unprocessed ones again.
    check(out["batch_requests"] == 3, f"requests: {out}")
    print(f"  150 items of 20 KB, 160 keys each listed twice: {out['batch_requests']} "
          f"BatchGetItem requests")
    projected = run_tool("batch-get", "--keys", "160", "--projection", "pk,n,pk")
    check(projected["items"] == 150 and projected["intact"] == 150 and
          projected["batch_requests"] == 2, f"projected (small answers, nothing left): {projected}")


MAX_READS = 8  # kMaxReads (agent/integrity/integrity_ledger.h)
NOW = 1714564800000


def sha256_hex(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def write_units(pk: str, sk: str) -> float:
    """dynalite's bill for one more write of an item (a no-op SET keeps its size)."""
    r = DB.client.update_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                              UpdateExpression="SET #t = #t", ConditionExpression="attribute_exists(#t)",
                              ExpressionAttributeNames={"#t": "expires_at"},
                              ReturnConsumedCapacity="TOTAL")
    return r["ConsumedCapacity"]["CapacityUnits"]


def ledger_reads(name: str) -> list[tuple[str, str]]:
    out = run_tool("ig-reads", "--name", name)
    return sorted((r["sha256"], r["unit"]) for r in out["reads"])


def test_ledger_reads_from_three_processes_are_kept_up_to_the_bound():
    # Under the bound: each process adds 2 contents of its own and one all three share.
    name = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/under.json.gz"
    outs = race("ig-add-read", [("--name", name, "--contents", "2", "--content-prefix", f"p{i}",
                                 "--unit", f"p{i}") for i in range(PROCESSES)] +
                [("--name", name, "--contents", "1", "--content-prefix", "shared",
                  "--unit", "shared")] * PROCESSES)
    check(all(o["added"] == o["requests"] for o in outs), f"one request per read: {outs}")
    expected = sorted([(sha256_hex(f"p{i}-{k}"), f"p{i}-{k}") for i in range(PROCESSES)
                       for k in range(2)] + [(sha256_hex("shared-0"), "shared-0")])
    got = ledger_reads(name)
    check(got == expected, f"every distinct content once: {got} != {expected}")
    # Beyond it: 3 processes with 4 contents each, 12 in all: exactly kMaxReads kept, every
    # add ok (one beyond the bound is not an error).
    name = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/over.json.gz"
    outs = race("ig-add-read", [("--name", name, "--contents", "4", "--content-prefix", f"q{i}",
                                 "--unit", f"q{i}") for i in range(PROCESSES)])
    check(all(o["added"] == 4 for o in outs), f"every add ok: {outs}")
    got = ledger_reads(name)
    everything = {(sha256_hex(f"q{i}-{k}"), f"q{i}-{k}") for i in range(PROCESSES)
                  for k in range(4)}
    check(len(got) == MAX_READS and set(got) <= everything,
          f"{MAX_READS} of the 12 contents expected: {len(got)} {got}")
    print(f"  a log file's read item with {MAX_READS} reads (units of 5 bytes): "
          f"{write_units('ig#lf#' + sha256_hex(name)[:32], 'r')} WCU per write")
    # A content already kept is added again without error (contains()), the set unchanged.
    sha, unit = got[0]
    k = unit.split("-")[1]
    again = run_tool("ig-add-read", "--name", name, "--contents", str(int(k) + 1),
                     "--content-prefix", unit.split("-")[0], "--unit", unit.split("-")[0])
    check(again["added"] == int(k) + 1 and ledger_reads(name) == got, f"again: {again}")


def test_ledger_a_read_and_a_listing_at_once_one_sees_the_other():
    # Rounds of 3 readers racing one digest's listing of the same file: each read is seen by
    # the listing (list_file gives it back) or sees the listing (add_read gives it back).
    for round_ in range(5):
        name = f"s3://trail/AWSLogs/1/CloudTrail/us-east-1/race-{round_}.json.gz"
        outs = race("ig-add-read", [("--name", name, "--content-prefix", f"r{i}",
                                     "--unit", f"r{i}") for i in range(PROCESSES)])
        # The listing after the reads sees them all (the race proper is below).
        listing = run_tool("ig-list", "--name", name)
        seen = {r["sha256"] for r in listing["reads"]}
        check(seen == {sha256_hex(f"r{i}-0") for i in range(PROCESSES)} and
              all(o["listed"] == "" for o in outs), f"reads then listing: {listing} {outs}")
        again = run_tool("ig-add-read", "--name", name, "--content-prefix", "late")
        check(again["listed"] == sha256_hex("l"), f"a read after the listing sees it: {again}")
        # A second digest's listing does not replace the first.
        run_tool("ig-list", "--name", name, "--listed", "other")
        late = run_tool("ig-add-read", "--name", name, "--content-prefix", "later")
        check(late["listed"] == sha256_hex("l"), f"the first listing kept: {late}")
    # The race proper: list_file and add_read processes released at once.
    for round_ in range(5):
        name = f"s3://trail/AWSLogs/1/CloudTrail/us-east-1/race-{round_}-c.json.gz"
        outs = race_commands([("ig-add-read", ("--name", name, "--content-prefix", f"t{i}"))
                              for i in range(PROCESSES)] + [("ig-list", ("--name", name))])
        listed_reads = {r["sha256"] for r in outs[-1]["reads"]}
        for i, o in enumerate(outs[:-1]):
            check(o["listed"] == sha256_hex("l") or sha256_hex(f"t{i}-0") in listed_reads,
                  f"reader {i} and the listing missed each other: {o} {outs[-1]}")


def test_ledger_coverage_kept_while_refreshed_and_started_again_when_stale():
    t0 = 1714564800000
    first = run_tool("ig-coverage", "--now", str(t0), "--stale", "3600000")
    check(first["from"] == t0, f"started: {first}")
    later = run_tool("ig-coverage", "--now", str(t0 + 3000000), "--stale", "3600000")
    check(later["from"] == t0, f"kept while refreshed within the hour: {later}")
    outs = race("ig-coverage", [("--now", str(t0 + 9000000), "--stale", "3600000")] * PROCESSES)
    check(all(o["from"] == t0 + 9000000 for o in outs), f"started again once stale: {outs}")


def test_ledger_backfill_claim_one_winner_and_an_expired_lease_is_won_again():
    name = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/claimed.json.gz"
    leases = [NOW + 60000 + i for i in range(PROCESSES)]
    outs = race("ig-claim", [("--name", name, "--now", str(NOW), "--lease", str(lease))
                             for lease in leases])
    winners = [o for o in outs if o["won"]]
    check(len(winners) == 1, f"exactly one winner expected: {outs}")
    winning_lease = winners[0]["held_until"]
    check(winning_lease in leases and all(o["held_until"] == winning_lease for o in outs),
          f"the others see the winner's lease: {outs}")
    # Still held a second before the lease ends; won again once it has ended.
    held = run_tool("ig-claim", "--name", name, "--now", str(winning_lease - 1000), "--lease",
                    str(NOW + 500000))
    check(not held["won"] and held["held_until"] == winning_lease, f"still held: {held}")
    later = run_tool("ig-claim", "--name", name, "--now", str(winning_lease + 1), "--lease",
                     str(NOW + 600000))
    check(later["won"] and later["held_until"] == NOW + 600000, f"expired lease: {later}")
    # A claim names its agent: the same agent (restarted) wins it again at once, another not.
    name = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/owned.json.gz"
    mine = run_tool("ig-claim", "--name", name, "--now", str(NOW), "--lease", str(NOW + 60000),
                    "--agent-id", "a" * 32)
    other = run_tool("ig-claim", "--name", name, "--now", str(NOW + 1), "--lease",
                     str(NOW + 70000), "--agent-id", "b" * 32)
    again = run_tool("ig-claim", "--name", name, "--now", str(NOW + 2), "--lease",
                     str(NOW + 80000), "--agent-id", "a" * 32)
    check(mine["won"] and not other["won"] and other["held_until"] == NOW + 60000 and
          again["won"] and again["held_until"] == NOW + 80000,
          f"the owner's claim: {mine} {other} {again}")


CHAIN = "trail|AWSLogs/1/CloudTrail-Digest/us-east-1"
HOUR = 3600
END = 1714564800


def head_of(chain: str) -> dict:
    heads = [h for h in run_tool("ig-heads")["heads"] if h["chain"] == chain]
    check(len(heads) == 1, f"one head of {chain}: {heads}")
    return heads[0]


def test_ledger_digests_out_of_order_leave_the_newest_as_head():
    chain = CHAIN + "/order"
    ends = [END + 2 * HOUR, END, END + HOUR]
    run_tool("ig-add-digest", "--chain", chain, "--ends", ",".join(map(str, ends)))
    head = head_of(chain)
    print(f"  a chain head: {write_units('ig#chains', 'c#' + sha256_hex(chain)[:32])} WCU per "
          f"write; a digest item: {write_units('ig#ch#' + sha256_hex(chain)[:32], f'd#{END:020d}')}"
          " WCU per write")
    check(head["last_end"] == END + 2 * HOUR and head["last_key"] == f"digest-{END + 2 * HOUR}",
          f"the newest digest is the head: {head}")
    # Three processes at once, each a different digest: the head is the newest of all.
    race("ig-add-digest", [("--chain", chain, "--ends", str(END + (3 + i) * HOUR))
                           for i in range(PROCESSES)])
    check(head_of(chain)["last_end"] == END + 5 * HOUR, f"raced: {head_of(chain)}")
    # Every digest is kept, found by its end; an end with no digest is not.
    for end in ends + [END + 5 * HOUR]:
        d = run_tool("ig-digest", "--chain", chain, "--end", str(end))
        check(d["found"] and d["end"] == end and d["sha256"] == sha256_hex(f"digest-{end}"),
              f"digest {end}: {d}")
    check(not run_tool("ig-digest", "--chain", chain, "--end", str(END + 1))["found"], "no digest")


def test_ledger_neighbours():
    chain = CHAIN + "/neighbours"
    run_tool("ig-add-digest", "--chain", chain, "--ends",
             ",".join(str(END + k * HOUR) for k in (0, 1, 2, 5)))
    # Another chain's digests in between are not neighbours.
    run_tool("ig-add-digest", "--chain", chain + "-other", "--ends",
             ",".join(str(END + k * HOUR) for k in (3, 4)))
    for end, before, after in [(END + HOUR, END, END + 2 * HOUR), (END, 0, END + HOUR),
                               (END + 3 * HOUR, END + 2 * HOUR, END + 5 * HOUR),
                               (END + 5 * HOUR, END + 2 * HOUR, 0), (END - 1, 0, END)]:
        n = run_tool("ig-neighbours", "--chain", chain, "--end", str(end))
        check(n["before"] == before and n["after"] == after,
              f"neighbours of {end}: {n}, expected {before}, {after}")
        check(n["requests"] == 2, f"one Query each: {n}")


def test_ledger_claim_stopped_one_winner_and_none_once_the_head_moved():
    chain = CHAIN + "/stopped"
    run_tool("ig-add-digest", "--chain", chain, "--ends", str(END))
    outs = race("ig-claim-stopped", [("--chain", chain, "--end", str(END))] * PROCESSES)
    check(sum(o["won"] for o in outs) == 1, f"exactly one winner expected: {outs}")
    check(head_of(chain)["alerted_end"] == END, f"claimed: {head_of(chain)}")
    again = run_tool("ig-claim-stopped", "--chain", chain, "--end", str(END))
    check(not again["won"], f"claimed twice: {again}")
    # An end that is not the head's: nothing won.
    ahead = run_tool("ig-claim-stopped", "--chain", chain, "--end", str(END + 9 * HOUR))
    check(not ahead["won"], f"a claim for an end that is not the head's: {ahead}")
    nowhere = run_tool("ig-claim-stopped", "--chain", chain + "-none", "--end", str(END))
    # A chain with no head at all (expired, never written): nobody else can claim it, so the
    # claimer reports it; no head is made.
    check(nowhere["won"] and all(h["chain"] != chain + "-none"
                                 for h in run_tool("ig-heads")["heads"]),
          f"a claim for a chain without a head: {nowhere}")
    # The head moves on: a claim for the old head wins nothing, the new one once; the head's
    # claim is kept by add_digest.
    run_tool("ig-add-digest", "--chain", chain, "--ends", str(END + HOUR))
    check(head_of(chain)["alerted_end"] == END, f"add_digest kept the claim: {head_of(chain)}")
    outs = race("ig-claim-stopped", [("--chain", chain, "--end", str(END))] * PROCESSES)
    check(not any(o["won"] for o in outs), f"a claim for a head that moved: {outs}")
    outs = race("ig-claim-stopped", [("--chain", chain, "--end", str(END + HOUR))] * PROCESSES)
    check(sum(o["won"] for o in outs) == 1, f"the new head: {outs}")
    # A claim naming its agent: that agent's retry (its first answer lost) wins again, another
    # agent does not; a chain with no head at all is won (nobody else can claim it).
    run_tool("ig-add-digest", "--chain", chain, "--ends", str(END + 2 * HOUR))
    e = str(END + 2 * HOUR)
    first = run_tool("ig-claim-stopped", "--chain", chain, "--end", e, "--agent-id", "a" * 32)
    retry = run_tool("ig-claim-stopped", "--chain", chain, "--end", e, "--agent-id", "a" * 32)
    other = run_tool("ig-claim-stopped", "--chain", chain, "--end", e, "--agent-id", "b" * 32)
    check(first["won"] and retry["won"] and not other["won"],
          f"the named claim: {first} {retry} {other}")


def test_ledger_ignores_foreign_items_and_checks_the_table():
    # A read item whose name is not the one asked (another writer's, a hash collision).
    name = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/foreign.json.gz"
    DB.client.put_item(TableName=TABLE, Item={
        "pk": {"S": "ig#lf#" + sha256_hex(name)[:32]}, "sk": {"S": "r"},
        "name": {"S": "s3://elsewhere/x"}, "h": {"SS": ["a" * 64 + " u"]}})
    out = run_tool("ig-reads", "--name", name)
    check(out["reads"] == [] and out["ignored"] == 1, f"foreign item: {out}")
    # A head with a wrong type.
    DB.client.put_item(TableName=TABLE, Item={
        "pk": {"S": "ig#chains"}, "sk": {"S": "c#" + sha256_hex("bad|chain")[:32]},
        "chain": {"S": "bad|chain"}, "last_end": {"S": "soon"}})
    heads = run_tool("ig-heads")
    check(all(h["chain"] != "bad|chain" for h in heads["heads"]) and heads["ignored"] == 1,
          f"bad head: {heads}")
    ok = run_tool("ig-check")
    check(any("time to live" in w and "shared integrity ledger" in w for w in ok["warnings"]),
          f"TTL warning expected: {ok}")
    missing = run_tool("ig-check", table="tw-absent", expect_ok=False)
    check("shared integrity ledger: DynamoDB table tw-absent does not exist in region us-east-1"
          in missing["message"] and not missing["retryable"], f"missing table: {missing}")
    failed = run_tool("ig-add-read", "--name", name, table="tw-absent", expect_ok=False)
    check("DynamoDB table tw-absent" in failed["message"] and "UpdateItem of the read of " + name
          in failed["message"] and "ResourceNotFoundException" in failed["message"],
          f"a failure names the table, action and item: {failed}")


class StandIn(LocalServer):
    """Answers DynamoDB requests from a script of (status, body); the last entry repeats."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[str, str]] = []
        super().__init__(StandInHandler)


class StandInHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.requests.append((self.headers.get("X-Amz-Target", ""), body.decode()))
            index = min(len(self.server.requests), len(self.server.script)) - 1
            status, answer = self.server.script[index]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def with_stand_in(script, fn):
    server = StandIn(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        return fn(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def throttled(code):
    return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"}


UPDATED = (200, {"Attributes": {"cnt": {"N": "1"}, "sm": {"N": "1"}, "mn": {"N": "1"},
                                "mx": {"N": "1"}}})


def test_throttling_and_5xx_are_retried():
    def run(server):
        out = run_tool("add", endpoint=server.endpoint)
        targets = [t for t, _ in server.requests]
        check(targets == ["DynamoDB_20120810.UpdateItem"] * 3, f"requests: {targets}")
        check(out["requests"] == 3 and out["retries"] == 2 and out["count"] == 1, f"{out}")
    with_stand_in([throttled("ProvisionedThroughputExceededException"),
                   (500, {"__type": "InternalServerError", "message": "oops"}), UPDATED], run)

    def run_exhausted(server):
        out = run_tool("add", "--max-attempts", "3", endpoint=server.endpoint, expect_ok=False)
        check(len(server.requests) == 3, f"attempts: {len(server.requests)}")
        check(out["retryable"] and "ThrottlingException" in out["message"] and
              "gave up after 3 tries" in out["message"], f"{out}")
    with_stand_in([throttled("ThrottlingException")], run_exhausted)


def main():
    global TOOL, DB
    TOOL = common.tool_argument("usage: test_dynamodb_store.py DYNAMODB_STORE_TOOL")
    common.have_boto3(sys.argv[0])
    sys.path.insert(0, str(common.PEERS))
    import dynalite

    def setup():
        global DB
        DB = dynalite.Dynalite()
        DB.start()
        DB.create_alarm_table(TABLE)

    def teardown():
        if DB:
            DB.stop()

    return common.run_suite(common.module_tests(globals()), setup=setup, teardown=teardown)


if __name__ == "__main__":
    sys.exit(main())
