#!/usr/bin/env python3
"""End-to-end tests of the trailwarden command-line interface.

Run as:  python3 tests/integration/test_cli.py /path/to/trailwarden

Only the Python 3.11 standard library is used (and common.py, the suites' shared helpers). Every
fixture that is not in tests/data is generated in a temporary directory at test time. The last line
printed is "N passed, N failed[, N skipped]"; the exit status is non-zero if any test failed.
"""

import base64
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import textwrap
import tomllib
import sys
import tempfile
import unittest
import urllib.request
from pathlib import Path

import common
from common import CONFIG_FILE, DATA, is_cis49

REPO = common.ROOT
CLOUDTRAIL = DATA / "cloudtrail"
CONFORMANCE = DATA / "cwl-filter" / "conformance_cases.json"

BIN = None  # set from argv[1] in main()

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

ALL_BUILTIN_RULES = [
    "cis-4.1", "cis-4.1-v1.2", "cis-4.2", "cis-4.2-sso", "cis-4.3", "cis-4.4", "cis-4.5",
    "cis-4.6", "cis-4.7", "cis-4.8", "cis-4.9", "cis-4.10", "cis-4.11", "cis-4.12", "cis-4.13",
    "cis-4.14", "cis-4.15",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def run(args, stdin=b"", timeout=30):
    """Runs trailwarden; returns (returncode, stdout str, stderr str)."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    p = subprocess.run([BIN] + [str(a) for a in args], input=stdin, capture_output=True,
                       timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def load_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def config_records():
    return load_json(CONFIG_FILE)["Records"]


def expected_cis49_ids(records=None):
    records = config_records() if records is None else records
    return sorted(r["eventID"] for r in records if is_cis49(r))


def parse_lines(text):
    """Every non-empty stdout line must be a JSON document."""
    out = []
    for line in text.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


alert_event_id = common.event_id


def alert_event_ids(alerts):
    return sorted(alert_event_id(a) for a in alerts)


def gz(data, mtime=0):
    return gzip.compress(data, mtime=mtime)


def version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v))


def minified(text):
    """Returns text with all whitespace outside JSON strings removed."""
    out, in_str, esc = [], False, False
    for ch in text:
        if in_str:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch not in " \t\r\n":
            out.append(ch)
    return "".join(out)


def rule_file_text(rule_id, pattern, extra=""):
    return (
        '[pack]\n'
        'id = "test-pack"\n'
        'title = "Test pack"\n'
        '\n'
        '[[rules]]\n'
        f'id = "{rule_id}"\n'
        'title = "Test rule"\n'
        'description = "A rule written by the CLI tests."\n'
        'severity = "low"\n'
        f"pattern = '''{pattern}'''\n"
        + extra
    )


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tw-cli-"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, data):
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        p.write_bytes(data)
        return p

    def good_file(self, name="good.json"):
        """A copy of awsdocs_config.json (4 CIS 4.9 alerts) in the temp dir."""
        return self.write(name, CONFIG_FILE.read_bytes())

    def assert_good_alerts(self, out):
        alerts = parse_lines(out)
        self.assertEqual(alert_event_ids(alerts), expected_cis49_ids(),
                         "the good file in the same run must still produce its 4 alerts")
        return alerts

    def assert_mentions(self, err, path, *any_of):
        """stderr names the file and describes the problem with one of the given words."""
        self.assertIn(str(path), err, f"stderr does not name {path}:\n{err}")
        # The file name itself does not count as a description of the problem.
        lines = [l.replace(str(path), "<file>") for l in err.splitlines() if str(path) in l]
        text = "\n".join(lines).lower()
        self.assertTrue(any(w.lower() in text for w in any_of),
                        f"the message about {path} does not mention any of {any_of}:\n{err}")


# --------------------------------------------------------------------------------------------
# 1. replay
# --------------------------------------------------------------------------------------------

class ReplayTest(CliTestCase):
    def check_cis49_alerts(self, alerts, records=None):
        records = config_records() if records is None else records
        by_id = {r["eventID"]: r for r in records}
        self.assertEqual(len(alerts), 4, "exactly the 4 CIS 4.9 records must alert")
        self.assertEqual(alert_event_ids(alerts), expected_cis49_ids(records))
        for a in alerts:
            rec = by_id[alert_event_id(a)]
            self.assertEqual(a["class_uid"], 2004)
            self.assertEqual(a["activity_id"], 1)
            self.assertEqual(a["type_uid"], 200401)
            self.assertIs(a["is_alert"], True)
            self.assertGreaterEqual(version_tuple(a["metadata"]["version"]), (1, 4))
            self.assertEqual(a["finding_info"]["analytic"]["uid"], "cis-4.9")
            self.assertRegex(a["finding_info"]["uid"], r"^[0-9a-f-]{16,}$")
            self.assertEqual(a["cloud"]["account"]["uid"], rec["recipientAccountId"])
            self.assertEqual(a["cloud"]["region"], rec["awsRegion"])
            self.assertEqual(a["evidences"][0]["api"]["operation"], rec["eventName"])
            self.assertIn("raw_data", a)
            self.assertEqual(json.loads(a["raw_data"]), rec,
                             "raw_data must parse back to the original record")

    def test_plain_json_gives_the_four_cis49_alerts(self):
        rc, out, err = run(["replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 4, out)
        self.check_cis49_alerts(parse_lines(out))

    def test_gzip_gives_the_same_alerts(self):
        p = self.write("config.json.gz", gz(CONFIG_FILE.read_bytes()))
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        alerts = parse_lines(out)
        self.check_cis49_alerts(alerts)
        _, plain_out, _ = run(["replay", CONFIG_FILE])
        plain = parse_lines(plain_out)
        # Only metadata.log_name differs: each names the file it was read from.
        for a in alerts:
            self.assertEqual(a["metadata"].pop("log_name"), str(p))
        for a in plain:
            self.assertEqual(a["metadata"].pop("log_name"), str(CONFIG_FILE))
        self.assertEqual(alerts, plain, "gzip and plain input give different alerts")

    def test_finding_uid_is_deterministic(self):
        _, out1, _ = run(["replay", CONFIG_FILE])
        p = self.write("copy.json.gz", gz(CONFIG_FILE.read_bytes()))
        _, out2, _ = run(["replay", p])
        uids1 = {alert_event_id(a): a["finding_info"]["uid"] for a in parse_lines(out1)}
        uids2 = {alert_event_id(a): a["finding_info"]["uid"] for a in parse_lines(out2)}
        self.assertEqual(len(uids1), 4)
        self.assertEqual(uids1, uids2, "finding_info.uid differs between two runs")
        self.assertEqual(len(set(uids1.values())), 4, "finding_info.uid must differ per event")

    def test_finding_uid_differs_per_rule(self):
        # A second rule matching every Config record: the same event gives two findings.
        rules = self.write("extra.toml", rule_file_text("test-config-any",
                                                         '{ $.eventSource = "config.amazonaws.com" }'))
        rc, out, err = run(["replay", "--rules", rules, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        alerts = parse_lines(out)
        self.assertEqual(len(alerts), 4 + len(config_records()))
        by_event = {}
        for a in alerts:
            by_event.setdefault(alert_event_id(a), {})[a["finding_info"]["analytic"]["uid"]] = \
                a["finding_info"]["uid"]
        for event_id in expected_cis49_ids():
            uids = by_event[event_id]
            self.assertEqual(set(uids), {"cis-4.9", "test-config-any"})
            self.assertNotEqual(uids["cis-4.9"], uids["test-config-any"],
                                "finding_info.uid must differ per rule for the same event")
        all_uids = [a["finding_info"]["uid"] for a in alerts]
        self.assertEqual(len(all_uids), len(set(all_uids)))

    def test_no_raw_data(self):
        rc, out, err = run(["replay", "--no-raw-data", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        alerts = parse_lines(out)
        self.assertEqual(len(alerts), 4)
        for a in alerts:
            self.assertNotIn("raw_data", a)

    def test_gzip_named_json(self):
        p = self.write("really-gzip.json", gz(CONFIG_FILE.read_bytes()))
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cis49_alerts(parse_lines(out))

    def test_json_named_gz(self):
        p = self.write("really-json.json.gz", CONFIG_FILE.read_bytes())
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cis49_alerts(parse_lines(out))

    def test_multi_member_gzip_one_document(self):
        # One JSON document split across two gzip members (what `gzip` tools may produce).
        data = CONFIG_FILE.read_bytes()
        half = len(data) // 2
        p = self.write("split.json.gz", gz(data[:half]) + gz(data[half:]))
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cis49_alerts(parse_lines(out))

    def test_multi_member_gzip_two_files(self):
        # `cat a.gz b.gz`: each member is a complete CloudTrail file; the alerts of both appear.
        # NOTE: fails at the time of writing (see the report): the two decompressed documents
        # are read as one, and the second is refused as "unexpected content after the
        # top-level JSON object" (exit 1, only the first member's alerts).
        recs = config_records()
        a = gz(json.dumps({"Records": recs[:5]}).encode())
        b = gz(json.dumps({"Records": recs[5:]}).encode())
        self.assertTrue(any(is_cis49(r) for r in recs[:5]) and any(is_cis49(r) for r in recs[5:]))
        p = self.write("cat.json.gz", a + b)
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(alert_event_ids(parse_lines(out)), expected_cis49_ids())

    def test_directory_is_read_recursively(self):
        recs = config_records()
        d = self.tmp / "logs"
        self.write("logs/top.json", json.dumps({"Records": recs[:5]}))
        self.write("logs/AWSLogs/123/CloudTrail/us-east-1/2024/01/02/f.json.gz",
                   gz(json.dumps({"Records": recs[5:]}).encode()))
        rc, out, err = run(["replay", d])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(alert_event_ids(parse_lines(out)), expected_cis49_ids())

    def test_stdin_plain_json(self):
        rc, out, err = run(["replay", "-"], stdin=CONFIG_FILE.read_bytes())
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cis49_alerts(parse_lines(out))

    def test_stdin_gzip(self):
        rc, out, err = run(["replay", "-"], stdin=gz(CONFIG_FILE.read_bytes()))
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cis49_alerts(parse_lines(out))

    def big_records(self, copies, noise=False):
        """copies x the 10 Config records, each with a unique eventID (and, with noise, a field
        of random hex so that the file compresses like real CloudTrail, about 3-5x)."""
        rnd = random.Random(42)
        out = []
        for i in range(copies):
            for r in config_records():
                r = dict(r)
                r["eventID"] = f"{i:05d}-{r['eventID']}"
                if noise:
                    r["requestID"] = "%032x" % rnd.getrandbits(128)
                    r["additionalEventData"] = {"n": base64.b64encode(rnd.randbytes(300)).decode()}
                out.append(r)
        return out

    def check_big(self, recs, data, name):
        expected = sorted(r["eventID"] for r in recs if is_cis49(r))
        p = self.write(name, data)
        rc, out, err = run(["replay", "--no-raw-data", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(alert_event_ids(parse_lines(out)), expected)
        rc, out, err = run(["replay", "--no-raw-data", "-"], stdin=data)
        self.assertEqual(rc, EXIT_OK, "stdin: " + err)
        self.assertEqual(alert_event_ids(parse_lines(out)), expected)

    def test_large_plain_json(self):
        recs = self.big_records(300)
        data = json.dumps({"Records": recs}, indent=2).encode()
        self.assertGreater(len(data), 1 << 20)
        self.check_big(recs, data, "big.json")

    def test_large_gzip_realistic_ratio(self):
        recs = self.big_records(200, noise=True)
        raw = json.dumps({"Records": recs}).encode()
        data = gz(raw)
        self.assertGreater(len(raw), 1 << 20)
        self.assertLess(len(raw) / len(data), 6)
        self.check_big(recs, data, "big-noise.json.gz")

    def test_large_gzip_high_ratio(self):
        # Pretty-printed, repetitive logs compress far more than 10x; decompression must keep
        # every byte while its output buffer grows.
        # Regression: gzip inputs whose decompressed size exceeded max(10 x compressed size,
        # 64 KiB) were once rejected with "gzip data does not contain JSON" (the output buffer
        # was grown without keeping the bytes already decompressed).
        recs = self.big_records(300)
        raw = json.dumps({"Records": recs}, indent=2).encode()
        data = gz(raw)
        self.assertGreater(len(raw) / len(data), 10)
        self.check_big(recs, data, "big.json.gz")

    def test_gzip_just_over_64k(self):
        # Smallest case of the same bug: ~70 KB of JSON in a gzip.
        recs = self.big_records(9)
        raw = json.dumps({"Records": recs}, indent=2).encode()
        self.assertGreater(len(raw), 70000)
        self.check_big(recs, gz(raw), "70k.json.gz")

    def test_utf8_bom_and_crlf(self):
        data = CONFIG_FILE.read_bytes()
        for name, content in (("bom.json", b"\xef\xbb\xbf" + data),
                              ("crlf.json", data.replace(b"\n", b"\r\n")),
                              ("bom.json.gz", gz(b"\xef\xbb\xbf" + data)),
                              ("space.json", b"\n\n   " + data)):
            p = self.write(name, content)
            rc, out, err = run(["replay", p])
            self.assertEqual(rc, EXIT_OK, f"{name}: {err}")
            self.check_cis49_alerts(parse_lines(out))

    def test_parallel_workers_keep_file_order(self):
        recs = config_records()
        for i, r in enumerate(recs):
            self.write(f"dir/f{i:02d}.json.gz", gz(json.dumps({"Records": [r]}).encode()))
        rc1, out1, err1 = run(["replay", "-w", "1", self.tmp / "dir"])
        rc4, out4, err4 = run(["replay", "-w", "4", self.tmp / "dir"])
        self.assertEqual((rc1, rc4), (EXIT_OK, EXIT_OK), err1 + err4)
        self.assertEqual(len(parse_lines(out1)), 4)
        self.assertEqual(out1, out4)

    def test_summary_on_stderr_and_quiet(self):
        rc, out, err = run(["replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK)
        self.assertIn("cis-4.9", err, "the summary should list the enabled rules")
        rc, out, err = run(["replay", "-q", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK)
        self.assertEqual(len(parse_lines(out)), 4)
        self.assertEqual(err.strip(), "", "-q must leave stderr empty on a clean run")


# --------------------------------------------------------------------------------------------
# 2. bad input
# --------------------------------------------------------------------------------------------

class BadInputTest(CliTestCase):
    """Every bad input is reported by name, never crashes and never stops the other files."""

    def replay_with_good(self, bad, *extra_args):
        good = self.good_file()
        rc, out, err = run(["replay", *extra_args, bad, good])
        self.assertGreaterEqual(rc, 0, f"crashed with signal {-rc}:\n{err}")
        self.assertEqual(rc, EXIT_FAILED, f"expected exit 1, stderr:\n{err}")
        self.assert_good_alerts(out)
        # And the bad file placed after the good one does not undo anything either.
        rc2, out2, err2 = run(["replay", *extra_args, good, bad])
        self.assertEqual(rc2, EXIT_FAILED, err2)
        self.assert_good_alerts(out2)
        return err

    def test_corrupt_gzip(self):
        data = bytearray(gz(CONFIG_FILE.read_bytes()))
        mid = len(data) // 2
        for i in range(mid, mid + 16):
            data[i] ^= 0xA5
        bad = self.write("corrupt.json.gz", bytes(data))
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "gzip", "deflate", "crc", "corrupt", "decompress",
                             "invalid", "truncated")

    def test_truncated_gzip(self):
        data = gz(CONFIG_FILE.read_bytes())
        bad = self.write("truncated.json.gz", data[: len(data) // 2])
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "truncated")

    def test_truncated_json_inside_valid_gzip(self):
        data = CONFIG_FILE.read_bytes()
        bad = self.write("cut.json.gz", gz(data[: len(data) // 2]))
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "truncated", "malformed", "invalid json")

    def test_truncated_plain_json(self):
        data = CONFIG_FILE.read_bytes()
        bad = self.write("cut.json", data[: len(data) // 2])
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "truncated", "malformed", "invalid json")

    def test_random_bytes(self):
        rnd = random.Random(1234)
        data = b"\x00\x01" + bytes(rnd.randrange(256) for _ in range(4096))
        bad = self.write("random.json.gz", data)
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "not gzip or json", "unrecognised", "unrecognized")

    def test_text_file(self):
        bad = self.write("notes.json", "This is not a CloudTrail log file.\nJust text.\n")
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "not gzip or json", "unrecognised", "unrecognized")

    def test_gzip_of_text(self):
        bad = self.write("text.json.gz", gz(b"hello, world\n" * 100))
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "does not contain json", "not json", "not gzip or json")

    def test_empty_file(self):
        bad = self.write("empty.json.gz", b"")
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "empty")

    def test_gzip_bomb(self):
        cfg = self.write("small.toml", "[limits]\nmax_decompressed_bytes = 1048576\n")
        # 16 MiB of JSON whitespace inside a valid document: far over the 1 MiB limit.
        bomb = gz(b'{"Records": [' + b" " * (16 << 20) + b"]}")
        self.assertLess(len(bomb), 1 << 20)
        bad = self.write("bomb.json.gz", bomb)
        good = self.good_file()
        rc, out, err = run(["-c", cfg, "replay", bad, good])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_good_alerts(out)
        self.assert_mentions(err, bad, "limit")

    def test_gzip_bomb_of_zeros(self):
        cfg = self.write("small.toml", "[limits]\nmax_decompressed_bytes = 1048576\n")
        bad = self.write("zeros.json.gz", gz(b"\0" * (8 << 20)))
        good = self.good_file()
        rc, out, err = run(["-c", cfg, "replay", bad, good])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_good_alerts(out)
        self.assert_mentions(err, bad, "limit")

    def test_file_over_max_compressed_bytes(self):
        cfg = self.write("small.toml", "[limits]\nmax_compressed_bytes = 4096\n")
        bad = self.write("b1.json", CONFIG_FILE.read_bytes())
        good = self.write("g1.json.gz", gz(CONFIG_FILE.read_bytes()))
        self.assertGreater(bad.stat().st_size, 4096)
        self.assertLess(good.stat().st_size, 4096)
        rc, out, err = run(["-c", cfg, "replay", bad, good])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_good_alerts(out)
        self.assert_mentions(err, bad, "limit")
        rc, out, err = run(["-c", cfg, "replay", "-"], stdin=CONFIG_FILE.read_bytes())
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_mentions(err, "<stdin>", "limit")

    def test_too_many_records(self):
        cfg = self.write("few.toml", "[limits]\nmax_records_per_file = 3\n")
        recs = config_records()
        bad = self.write("b2.json", json.dumps({"Records": recs}))
        good = self.write("g2.json", json.dumps({"Records": [r for r in recs if is_cis49(r)][:3]}))
        good2 = self.write("g3.json", json.dumps({"Records": [r for r in recs if is_cis49(r)][3:]}))
        rc, out, err = run(["-c", cfg, "replay", bad, good, good2])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_mentions(err, bad, "max_records_per_file", "records")
        ids = alert_event_ids(parse_lines(out))
        for event_id in expected_cis49_ids():
            self.assertIn(event_id, ids)

    def test_records_not_an_array(self):
        bad = self.write("records5.json", '{"Records": 5}')
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "not an array")

    def test_records_with_non_objects(self):
        recs = config_records()
        mixed = [1, "text", None, [1, 2, {"a": 3}]] + recs + [True, 2.5]
        bad = self.write("mixed.json", json.dumps({"Records": mixed}))
        rc, out, err = run(["replay", bad])
        # The object records are still matched.
        self.assertEqual(alert_event_ids(parse_lines(out)), expected_cis49_ids())
        # The skipped elements are counted and reported against the file.
        self.assert_mentions(err, bad, "not objects", "not an object")
        self.assertRegex(err, r"\b6\b", "the 6 skipped elements should be counted")
        # Skipping is the defined outcome for such elements (they cannot be CloudTrail events),
        # reported with a warning: the file itself was read in full, so the run succeeds.
        self.assertEqual(rc, 0, err)

    def test_records_with_non_objects_does_not_stop_other_files(self):
        bad = self.write("mixed.json", json.dumps({"Records": [1, "x", None]}))
        good = self.good_file()
        rc, out, err = run(["replay", bad, good])
        self.assertGreaterEqual(rc, 0, err)
        self.assert_good_alerts(out)
        self.assert_mentions(err, bad, "not objects", "not an object")

    def test_deep_nesting(self):
        # The message must say why (it once read only "1 records could not be parsed").
        depth = 200
        rec = dict(config_records()[0])
        rec["requestParameters"] = json.loads("[" * depth + "]" * depth)
        bad = self.write("deep.json", json.dumps({"Records": [rec]}))
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "max_depth", "nesting", "deep")

    def test_deep_nesting_with_small_limit(self):
        cfg = self.write("depth.toml", "[limits]\nmax_depth = 8\n")
        rec = dict(config_records()[0])
        rec["requestParameters"] = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}
        bad = self.write("deep8.json", json.dumps({"Records": [rec]}))
        good = self.good_file()
        rc, out, err = run(["-c", cfg, "replay", bad, good])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_good_alerts(out)
        self.assert_mentions(err, bad, "max_depth", "nesting", "deep")

    def test_bad_records_do_not_cost_the_good_ones_of_their_file(self):
        # A record nested past max_depth without any \u escape and one with an invalid escape:
        # both bad, reported by file and record index; every good record of the same file
        # still alerts; exit 1 at the end. A lone surrogate escape in userAgent is not bad: the
        # record alerts, with U+FFFD in its place (an attacker's own record cannot hide by it).
        recs = config_records()
        stop = next(r for r in recs if r["eventName"] == "StopConfigurationRecorder")
        lone = dict(stop, eventID="lone-surrogate", userAgent="LONE")
        deep = dict(stop, eventID="bad-deep", requestParameters=json.loads("[" * 100 + "]" * 100))
        escape = dict(stop, eventID="bad-escape", userAgent="ESCAPE")
        mixed = recs[:2] + [lone] + recs[2:4] + [deep] + recs[4:6] + [escape] + recs[6:]
        text = json.dumps({"Records": mixed})
        text = text.replace('"LONE"', '"\\ud800"').replace('"ESCAPE"', '"\\q"')
        bad = self.write("bad-records.json", text)
        rc, out, err = run(["replay", bad])
        self.assertEqual(rc, EXIT_FAILED, err)
        alerts = parse_lines(out)
        self.assertEqual(alert_event_ids(alerts), sorted(expected_cis49_ids() + ["lone-surrogate"]))
        self.assert_mentions(err, bad, "record 5")
        self.assert_mentions(err, bad, "record 8")
        self.assertIn("max_depth", err)
        self.assertIn("invalid escape", err)
        self.assertIn("2 bad records", err)
        self.assert_mentions(err, bad, "surrogate")
        lone_alert = next(a for a in alerts if alert_event_id(a) == "lone-surrogate")
        self.assertEqual(lone_alert["evidences"][0]["http_request"]["user_agent"], "\ufffd")

    def test_garbage_after_document(self):
        bad = self.write("trailing.json", CONFIG_FILE.read_bytes() + b"\n{garbage")
        err = self.replay_with_good(bad)
        self.assert_mentions(err, bad, "after", "unexpected", "malformed", "invalid")

    def test_many_bad_files_in_a_directory(self):
        data = CONFIG_FILE.read_bytes()
        gzd = gz(data)
        self.write("d/a-empty.json", b"")
        self.write("d/b-trunc.json.gz", gzd[: len(gzd) // 3])
        self.write("d/c-records5.json", b'{"Records": 5}')
        self.write("d/d-good.json.gz", gzd)
        self.write("d/e-text.json", b"hello\n")
        rc, out, err = run(["replay", self.tmp / "d"])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assert_good_alerts(out)
        for name in ["a-empty.json", "b-trunc.json.gz", "c-records5.json", "e-text.json"]:
            self.assertIn(name, err)
        error_lines = [l for l in err.splitlines() if " error " in l.lower()]
        self.assertFalse(any("d-good" in l for l in error_lines), err)

    def test_bad_files_with_parallel_workers(self):
        gzd = gz(CONFIG_FILE.read_bytes())
        for i in range(4):
            self.write(f"d/{i}-good.json.gz", gzd)
            self.write(f"d/{i}-trunc.json.gz", gzd[: len(gzd) // 2])
        rc1, out1, err1 = run(["replay", "-w", "1", self.tmp / "d"])
        rc4, out4, err4 = run(["replay", "-w", "4", self.tmp / "d"])
        self.assertEqual((rc1, rc4), (EXIT_FAILED, EXIT_FAILED), err1 + err4)
        self.assertEqual(len(parse_lines(out4)), 16)
        self.assertEqual(out1, out4)
        for i in range(4):
            self.assertIn(f"{i}-trunc.json.gz", err4)

    def test_empty_records(self):
        p = self.write("none.json", '{"Records": []}')
        rc, out, err = run(["replay", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.strip(), "")
        rc, out, err = run(["replay", p, self.good_file()])
        self.assertEqual(rc, EXIT_OK, err)
        self.assert_good_alerts(out)

    def test_digest_file_is_skipped(self):
        digest = {
            "awsAccountId": "111122223333",
            "digestStartTime": "2024-01-01T00:00:00Z",
            "digestEndTime": "2024-01-01T01:00:00Z",
            "digestS3Bucket": "bucket",
            "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/x.json.gz",
            "newestEventTime": "2024-01-01T00:59:00Z",
            "oldestEventTime": "2024-01-01T00:00:01Z",
            "previousDigestS3Bucket": "bucket",
            "previousDigestS3Object": "prev.json.gz",
            "previousDigestHashValue": "abc",
            "previousDigestHashAlgorithm": "SHA-256",
            "previousDigestSignature": "def",
            "digestPublicKeyFingerprint": "0123",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "logFiles": [{"s3Bucket": "bucket", "s3Object": "log.json.gz",
                          "hashValue": "00", "hashAlgorithm": "SHA-256",
                          "newestEventTime": "2024-01-01T00:59:00Z",
                          "oldestEventTime": "2024-01-01T00:00:01Z"}],
        }
        p = self.write("digest.json.gz", gz(json.dumps(digest).encode()))
        rc, out, err = run(["--log-level", "info", "replay", "-q", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.strip(), "")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one INFO line, got:\n{err}")
        self.assertIn("info", lines[0].lower())
        self.assertIn(str(p), lines[0])
        self.assertIn("digest", lines[0].lower())
        # And next to a good file: still exit 0 with the good file's alerts.
        rc, out, err = run(["replay", p, self.good_file()])
        self.assertEqual(rc, EXIT_OK, err)
        self.assert_good_alerts(out)

    def test_missing_path(self):
        missing = self.tmp / "does-not-exist.json.gz"
        rc, out, err = run(["replay", missing])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertIn(str(missing), err)
        self.assertEqual(out.strip(), "")

    def test_missing_path_next_to_good_file(self):
        missing = self.tmp / "does-not-exist.json.gz"
        rc, out, err = run(["replay", missing, self.good_file()])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertIn(str(missing), err)
        self.assert_good_alerts(out)

    def test_summary_counts_failed_files(self):
        bad = self.write("empty.json", b"")
        rc, out, err = run(["replay", bad, self.good_file()])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertRegex(err, r"\b2 files \(1 failed")


# --------------------------------------------------------------------------------------------
# 2b. replay's other input shapes: NDJSON, lookup-events output, saved EventBridge events
# --------------------------------------------------------------------------------------------

def shape_records():
    """Records of several sample files (CIS 4.3, 4.7, 4.9 and others match some)."""
    out = []
    for name in ("awsdocs_config.json", "awsdocs_kms.json", "awsdocs_console_signin.json"):
        out += load_json(CLOUDTRAIL / name)["Records"]
    return out


def compact(record):
    return json.dumps(record, separators=(",", ":"))


class InputShapesTest(CliTestCase):
    """Each shape gives exactly the alerts of the same records in a CloudTrail log file (same
    finding uids), apart from metadata.log_name, which names the input."""

    def replay(self, *paths, rc=EXIT_OK):
        code, out, err = run(["--log-level", "info", "replay", "--enable", "*"] + list(paths))
        self.assertEqual(code, rc, err)
        alerts = parse_lines(out)
        common.assert_valid_alerts(alerts)
        for a in alerts:
            a["metadata"].pop("log_name", None)
        return alerts, err

    def baseline(self):
        p = self.write("records.json", '{"Records":[' + ",".join(compact(r) for r in self.records) + "]}")
        alerts, _ = self.replay(p)
        self.assertGreaterEqual(len(alerts), 8, "the sample records must raise several alerts")
        return alerts

    def setUp(self):
        super().setUp()
        self.records = shape_records()

    def lookup_event(self, r):
        return {"EventId": r.get("eventID", ""), "EventName": r["eventName"], "ReadOnly": "false",
                "EventTime": "2024-01-01T00:00:00+00:00", "EventSource": r["eventSource"],
                "Resources": [], "CloudTrailEvent": compact(r)}

    def eventbridge(self, r):
        return {"version": "0", "id": "e-" + r.get("eventID", "x"),
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws." + r["eventSource"].split(".")[0], "account": "111122223333",
                "time": r["eventTime"], "region": r["awsRegion"], "resources": [], "detail": r}

    def assert_same(self, path, expected, shape_words):
        alerts, err = self.replay(path)
        self.assertEqual(alerts, expected, f"{path.name}: alerts differ from the log file's")
        self.assertIn(f"{path}: {shape_words}", err)

    def test_ndjson_of_records(self):
        expected = self.baseline()
        body = "".join(compact(r) + "\n" for r in self.records)
        self.assert_same(self.write("records.ndjson", body), expected, "NDJSON of CloudTrail records")
        self.assert_same(self.write("records-crlf.txt", "\ufeff" + body.replace("\n", "\r\n")),
                         expected, "NDJSON of CloudTrail records")
        self.assert_same(self.write("records.ndjson.gz", gz(body.encode())), expected,
                         "NDJSON of CloudTrail records")

    def test_lookup_events_output(self):
        expected = self.baseline()
        events = [self.lookup_event(r) for r in self.records]
        # As `aws cloudtrail lookup-events` prints it (json.dump, indent=4; NextToken with --max-items).
        one = json.dumps({"Events": events, "NextToken": "eyJ0b2tlbiI6IDF9"}, indent=4) + "\n"
        self.assert_same(self.write("events.json", one), expected, "lookup-events output")
        # Pages appended one after the other (--starting-token runs), and as NDJSON of pages.
        half = len(events) // 2
        pages = (json.dumps({"Events": events[:half], "NextToken": "t"}, indent=4) + "\n" +
                 json.dumps({"Events": events[half:]}, indent=4) + "\n")
        self.assert_same(self.write("pages.json", pages), expected, "lookup-events output")
        nd = json.dumps({"Events": events[:half], "NextToken": "t"}) + "\n" + json.dumps({"Events": events[half:]}) + "\n"
        self.assert_same(self.write("pages.ndjson", nd), expected, "NDJSON of lookup-events output")

    def test_eventbridge_events(self):
        expected = self.baseline()
        events = [self.eventbridge(r) for r in self.records]
        self.assert_same(self.write("events.json", json.dumps(events, indent=2)), expected, "EventBridge events")
        # raw_data is the record's text as the input holds it: compact here, as in the log file.
        self.assert_same(self.write("events.ndjson", "".join(compact(e) + "\n" for e in events)),
                         expected, "NDJSON of EventBridge events")

    def test_finding_uid_is_the_same_whichever_shape(self):
        # The uid hashes the rule and the record's eventID (docs/alerts.md): the shape it came in
        # does not enter it.
        expected = self.baseline()
        uids = sorted(a["finding_info"]["uid"] for a in expected)
        lookup = self.write("l.json", json.dumps({"Events": [self.lookup_event(r) for r in self.records]}))
        alerts, _ = self.replay(lookup)
        self.assertEqual(sorted(a["finding_info"]["uid"] for a in alerts), uids)

    def test_one_bad_line_costs_only_itself(self):
        expected = self.baseline()
        lines = [compact(r) for r in self.records]
        lines.insert(3, '{"eventVersion":"1.08","eventName":')  # truncated
        p = self.write("bad-line.ndjson", "\n".join(lines) + "\n")
        alerts, err = self.replay(p, rc=EXIT_FAILED)
        self.assertEqual(alerts, expected)
        self.assertIn(f"{p}: record 3 is bad and was not matched: line 4: ", err)

    def test_nothing_evaluated_is_a_warning_and_exit_1(self):
        for name, body in (("other.json", '{"something": "else"}'),
                           ("token.json", '{"NextToken": "abc"}'),
                           ("all-bad.ndjson", '{"eventName":\n{"eventName":\n'),
                           ("s3-events.ndjson", json.dumps({"detail-type": "Object Created", "source": "aws.s3",
                                                             "detail": {"bucket": {"name": "b"}}}) + "\n" * 2)):
            p = self.write(name, body)
            code, out, err = run(["replay", p, self.good_file()])
            self.assertEqual(code, EXIT_FAILED, f"{name}: {err}")
            self.assert_good_alerts(out)
            self.assertIn("nothing could be evaluated in 1 of 2 inputs", err, name)
            self.assert_mentions(err, p, "nothing could be evaluated", "bad")

    def test_empty_lookup_page_is_read(self):
        p = self.write("empty.json", json.dumps({"Events": []}, indent=4))
        code, out, err = run(["replay", p])
        self.assertEqual(code, EXIT_OK, err)
        self.assertEqual(out.strip(), "")


# --------------------------------------------------------------------------------------------
# 3. rules
# --------------------------------------------------------------------------------------------

def parse_rules_list(out):
    """Returns {id: state} from `rules list` output (first line is the header)."""
    lines = [l for l in out.splitlines() if l.strip()]
    header = lines[0].split()
    assert header[0] == "ID" and header[1] == "STATE", header
    return {l.split()[0]: l.split()[1] for l in lines[1:]}


class RulesTest(CliTestCase):
    def test_rules_list_defaults(self):
        rc, out, err = run(["rules", "list"])
        self.assertEqual(rc, EXIT_OK, err)
        states = parse_rules_list(out)
        self.assertEqual(sorted(states), sorted(ALL_BUILTIN_RULES))
        self.assertEqual(states["cis-4.9"], "enabled")
        for rid, st in states.items():
            if rid != "cis-4.9":
                self.assertEqual(st, "disabled", rid)

    def test_rules_list_enable_all(self):
        rc, out, err = run(["rules", "list", "--enable", "cis-*"])
        self.assertEqual(rc, EXIT_OK, err)
        states = parse_rules_list(out)
        self.assertEqual(len(states), 17)
        self.assertEqual(set(states.values()), {"enabled"})

    def test_rules_list_disable(self):
        rc, out, err = run(["rules", "list", "--disable", "cis-4.9"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(set(parse_rules_list(out).values()), {"disabled"})

    def test_rules_list_glob_prefix(self):
        # docs/rules.md: 'cis-4.1*' matches cis-4.1, cis-4.1-v1.2 and cis-4.10 to cis-4.15.
        rc, out, err = run(["rules", "list", "--enable", "cis-4.1*"])
        self.assertEqual(rc, EXIT_OK, err)
        enabled = sorted(r for r, st in parse_rules_list(out).items() if st == "enabled")
        self.assertEqual(enabled, sorted(["cis-4.1", "cis-4.1-v1.2", "cis-4.10", "cis-4.11",
                                          "cis-4.12", "cis-4.13", "cis-4.14", "cis-4.15",
                                          "cis-4.9"]))

    def test_rules_show(self):
        rc, out, err = run(["rules", "show", "cis-4.9"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("cis-4.9", out)
        self.assertIn("config.amazonaws.com", out)
        rc, out, err = run(["rules", "show", "no-such-rule"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("no-such-rule", err)

    def copy_cloudtrail_corpus(self):
        """tests/data/cloudtrail as CloudTrail log files: the .json files as they are (half of
        them gzipped) and the .ndjson lines' 'record' members as one Records file.
        Returns the directory."""
        d = self.tmp / "corpus"
        d.mkdir()
        for i, f in enumerate(sorted(CLOUDTRAIL.glob("*.json"))):
            data = f.read_bytes()
            if i % 2:
                (d / (f.name + ".gz")).write_bytes(gz(data))
            else:
                (d / f.name).write_bytes(data)
        for f in sorted(CLOUDTRAIL.glob("*.ndjson")):
            recs = [json.loads(l)["record"] for l in f.read_text().splitlines() if l.strip()]
            (d / (f.stem + ".json")).write_text(json.dumps({"Records": recs}))
        return d

    def test_replay_enable_all_raises_other_rules(self):
        d = self.copy_cloudtrail_corpus()
        rc, out, err = run(["replay", "--enable", "cis-*", d])
        self.assertEqual(rc, EXIT_OK, err)
        ids = {a["finding_info"]["analytic"]["uid"] for a in parse_lines(out)}
        self.assertIn("cis-4.9", ids)
        self.assertGreater(len(ids), 3, f"only {ids} fired with every rule enabled")
        rc, out_default, err = run(["replay", d])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual({a["finding_info"]["analytic"]["uid"] for a in parse_lines(out_default)},
                         {"cis-4.9"})

    def test_replay_matches_cis_expectations(self):
        """Every record of tests/data/cloudtrail raises exactly the alerts that
        tests/data/cis_expectations.json lists for it, with every built-in rule enabled."""
        from collections import Counter
        exp = load_json(DATA / "cis_expectations.json")
        records = {}
        for f in sorted(CLOUDTRAIL.glob("*.json")):
            records[f.name] = load_json(f)["Records"]
        for f in sorted(CLOUDTRAIL.glob("*.ndjson")):
            records[f.name] = [json.loads(l)["record"] for l in f.read_text().splitlines()
                               if l.strip()]

        def key(rec):
            return json.dumps(rec, sort_keys=True, separators=(",", ":"))

        expected = Counter()
        for case in exp["cases"]:
            rec = records[case["file"]][case["index"]]
            for rule_id in case["matches"]:
                expected[(key(rec), rule_id)] += 1
        self.assertEqual(sum(len(v) for v in records.values()), len(exp["cases"]))
        d = self.copy_cloudtrail_corpus()
        rc, out, err = run(["replay", "--enable", "cis-*", d])
        self.assertEqual(rc, EXIT_OK, err)
        got = Counter()
        for a in parse_lines(out):
            got[(key(json.loads(a["raw_data"])), a["finding_info"]["analytic"]["uid"])] += 1
        missing = expected - got
        extra = got - expected
        self.assertFalse(missing or extra,
                         f"{sum(missing.values())} expected alerts missing "
                         f"(rules {sorted({r for _, r in missing})}), "
                         f"{sum(extra.values())} unexpected (rules {sorted({r for _, r in extra})})")

    def test_replay_disable_leaves_nothing(self):
        rc, out, err = run(["replay", "--disable", "cis-4.9", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.strip(), "")
        # Control: a user rule still fires, cis-4.9 does not.
        rules = self.write("r.toml", rule_file_text("mine", '{ $.eventName = "Put*" }'))
        rc, out, err = run(["replay", "--disable", "cis-4.9", "--rules", rules, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        ids = [a["finding_info"]["analytic"]["uid"] for a in parse_lines(out)]
        self.assertEqual(ids, ["mine", "mine"])

    def test_unknown_selector(self):
        for cmd in (["replay", "--enable", "nosuch", CONFIG_FILE],
                    ["replay", "--disable", "nosuch", CONFIG_FILE],
                    ["rules", "list", "--enable", "nosuch"]):
            rc, out, err = run(cmd)
            self.assertEqual(rc, EXIT_USAGE, f"{cmd}: {err}")
            self.assertIn("nosuch", err)
            self.assertEqual(out.strip(), "")

    def test_rules_list_shows_alarms(self):
        # ALARM: on/off and the condition; ALERT: the rule's alert. The pack's alarms are off
        # until [alarms] enable or --enable-alarm names them.
        def rows(out):
            lines = [l for l in out.splitlines() if l.strip()]
            header = re.split(r"\s{2,}", lines[0].strip())
            self.assertEqual(header, ["ID", "STATE", "SEVERITY", "PACK", "ALARM", "ALERT", "TITLE"])
            return {r[0]: dict(zip(header, r)) for r in
                    (re.split(r"\s{2,}", l.strip()) for l in lines[1:])}
        rc, out, err = run(["rules", "list"])
        self.assertEqual(rc, EXIT_OK, err)
        row = rows(out)["cis-4.9"]
        self.assertEqual((row["ALARM"], row["ALERT"]), ("off: Sum 300s >= 1, 1 of 1", "both"))
        rc, out, err = run(["rules", "list", "--enable-alarm", "cis-4.9"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(rows(out)["cis-4.9"]["ALARM"], "on: Sum 300s >= 1, 1 of 1")
        self.assertEqual(rows(out)["cis-4.3"]["ALARM"], "off: Sum 300s >= 1, 1 of 1")
        example = REPO / "conf" / "rules" / "examples-alarms.toml"
        rc, out, err = run(["rules", "list", "--rules", example, "--enable-alarm", "cis-*",
                            "--disable-alarm", "example-aws-config-changes"])
        self.assertEqual(rc, EXIT_OK, err)
        table = rows(out)
        self.assertEqual(table["example-console-login-failures-per-user"]["ALARM"],
                         "on: Sum 300s >= 5, 1 of 1")
        self.assertEqual(table["example-console-login-failures-per-user"]["ALERT"], "alarm")
        self.assertEqual(table["example-aws-config-changes"]["ALARM"], "off: Sum 300s >= 1, 1 of 1")
        self.assertEqual(table["cis-4.15"]["ALARM"], "on: Sum 300s >= 1, 1 of 1")
        self.assertNotIn("warning", err)  # a glob warns about no disabled rule
        # An exact id naming a disabled rule's alarm: it cannot run, and the command says so.
        rc, out, err = run(["rules", "list", "--enable-alarm", "cis-4.3"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("the alarm of rule 'cis-4.3' is switched on, but the rule is disabled", err)
        rc, out, err = run(["rules", "show", "cis-4.9"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("metric:      CISBenchmark/aws_config_changes_metric, value 1", out)
        self.assertIn("alarm:       aws_config_changes_alarm (off): Sum 300s >= 1, 1 of 1", out)
        self.assertIn("alert:       both", out)

    def test_unknown_alarm_selector(self):
        cfg = self.write("cfg.toml", '[alarms]\nenable = ["cis-4.99"]\n')
        for cmd in (["replay", "--enable-alarm", "nosuch", CONFIG_FILE],
                    ["replay", "--disable-alarm", "nosuch", CONFIG_FILE],
                    ["rules", "list", "--enable-alarm", "nosuch"],
                    ["-c", cfg, "check-config"]):
            rc, out, err = run(cmd)
            self.assertEqual(rc, EXIT_USAGE, f"{cmd}: {err}")
            self.assertRegex(err, r"alarm selector '(nosuch|cis-4\.99)' matches no rule with an alarm")
            self.assertEqual(out.strip(), "")

    def test_user_rule_file(self):
        p = self.write("mine.toml", rule_file_text(
            "acme-config-start", '{ ($.eventSource = "config.amazonaws.com") && '
                                 '($.eventName = "StartConfigurationRecorder") }'))
        rc, out, err = run(["replay", "--rules", p, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        alerts = parse_lines(out)
        mine = [a for a in alerts if a["finding_info"]["analytic"]["uid"] == "acme-config-start"]
        expected = [r["eventID"] for r in config_records()
                    if r["eventName"] == "StartConfigurationRecorder"]
        self.assertEqual(alert_event_ids(mine), expected)
        self.assertEqual(len(alerts), 4 + len(expected))
        self.assertEqual(mine[0]["finding_info"]["analytic"]["category"], "test-pack")
        # rules list shows it, enabled
        rc, out, err = run(["rules", "list", "--rules", p])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(parse_rules_list(out).get("acme-config-start"), "enabled")

    def test_user_rule_file_from_config(self):
        # [rules] files takes globs.
        self.write("rules.d/mine.toml", rule_file_text("acme-any", '{ $.eventName = "Describe*" }'))
        cfg = self.write("cfg.toml", f'[rules]\nfiles = ["{self.tmp}/rules.d/*.toml"]\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        ids = [a["finding_info"]["analytic"]["uid"] for a in parse_lines(out)]
        n_describe = sum(1 for r in config_records() if r["eventName"].startswith("Describe"))
        self.assertEqual(ids.count("acme-any"), n_describe)
        self.assertEqual(ids.count("cis-4.9"), 4)

    def test_rule_file_bad_pattern(self):
        pattern = '{ $.eventName = "X" ) }'
        text = rule_file_text("bad-one", pattern)
        p = self.write("bad.toml", text)
        lines = text.splitlines()
        line_no = next(i for i, l in enumerate(lines, 1) if l.startswith("pattern"))
        pat_col = pattern.index(")") + 1
        rc, out, err = run(["replay", "--rules", p, CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertEqual(out.strip(), "")
        self.assertRegex(err, re.escape(f"{p}:{line_no}:") + r"\d+",
                         "the message must give file:line:column of the pattern")
        self.assertRegex(err, rf"column {pat_col}\b",
                         "the message must give the column of the error inside the pattern")
        self.assertIn("bad-one", err)

    def test_rule_file_unknown_key(self):
        text = rule_file_text("r1", '{ $.eventName = "X" }', extra='colour = "blue"\n')
        p = self.write("unknown.toml", text)
        line_no = len(text.splitlines())
        rc, out, err = run(["rules", "list", "--rules", p])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertRegex(err, re.escape(f"{p}:{line_no}:") + r"\d+")
        self.assertIn("colour", err)

    def test_rule_file_missing(self):
        p = self.tmp / "nope.toml"
        rc, out, err = run(["replay", "--rules", p, CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn(str(p), err)

    def test_rule_file_duplicate_id(self):
        p = self.write("dup.toml", rule_file_text("cis-4.9", '{ $.eventName = "X" }'))
        rc, out, err = run(["replay", "--rules", p, CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn("cis-4.9", err)


# --------------------------------------------------------------------------------------------
# 4. configuration
# --------------------------------------------------------------------------------------------

class ConfigTest(CliTestCase):
    def test_unknown_key(self):
        cfg = self.write("c.toml", '[general]\nlog_level = "info"\n\n[limits]\nmax_bogus = 3\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertEqual(out.strip(), "")
        self.assertRegex(err, re.escape(f"{cfg}:5:") + r"(1|13)\b")
        self.assertIn("max_bogus", err)

    def test_unknown_section(self):
        cfg = self.write("c.toml", '[general]\nlog_level = "info"\n[nonsense]\nx = 1\n')
        rc, out, err = run(["-c", cfg, "rules", "list"])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertRegex(err, re.escape(f"{cfg}:") + r"[34]:\d+")
        self.assertIn("nonsense", err)

    def test_wrong_type(self):
        cfg = self.write("c.toml", '# comment\n[limits]\nmax_depth = "deep"\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertEqual(out.strip(), "")
        self.assertRegex(err, re.escape(f"{cfg}:3:") + r"(1|13)\b")
        self.assertIn("max_depth", err)

    def test_toml_syntax_error(self):
        cfg = self.write("c.toml", '[limits]\nmax_depth = = 3\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertRegex(err, re.escape(f"{cfg}:2:") + r"\d+")

    def test_missing_config_file(self):
        cfg = self.tmp / "missing.toml"
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn(str(cfg), err)

    def test_include_raw_data_false(self):
        cfg = self.write("c.toml", "[alerts]\ninclude_raw_data = false\n")
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        alerts = parse_lines(out)
        self.assertEqual(len(alerts), 4)
        for a in alerts:
            self.assertNotIn("raw_data", a)

    def test_file_output(self):
        dest = self.tmp / "alerts.ndjson"
        cfg = self.write("c.toml", f'[[outputs]]\nname = "f"\ntype = "file"\npath = "{dest}"\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.strip(), "", "alerts must go to the configured file, not stdout")
        alerts = parse_lines(dest.read_text())
        self.assertEqual(alert_event_ids(alerts), expected_cis49_ids())

    def test_unknown_output_type(self):
        cfg = self.write("c.toml", '[[outputs]]\ntype = "kafka"\npath = "x"\n')
        rc, out, err = run(["-c", cfg, "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn("kafka", err)
        self.assertRegex(err, re.escape(f"{cfg}:") + r"\d+:\d+")

    def test_replay_output_option(self):
        dest = self.tmp / "out" / "alerts.ndjson"
        dest.parent.mkdir()
        rc, out, err = run(["replay", "-o", dest, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.strip(), "")
        self.assertEqual(alert_event_ids(parse_lines(dest.read_text())), expected_cis49_ids())
        dest2 = self.tmp / "out" / "alerts2.ndjson"
        rc, out, err = run(["replay", f"--output={dest2}", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(len(parse_lines(dest2.read_text())), 4)

    def test_replay_output_overrides_configured_output(self):
        configured = self.tmp / "configured.ndjson"
        override = self.tmp / "override.ndjson"
        cfg = self.write("c.toml", f'[[outputs]]\ntype = "file"\npath = "{configured}"\n')
        rc, out, err = run(["-c", cfg, "replay", "-o", override, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(len(parse_lines(override.read_text())), 4)
        self.assertFalse(configured.exists() and configured.read_text().strip(),
                         "-o must replace the configured outputs")

    def test_unwritable_output(self):
        dest = self.tmp / "no-such-dir" / "alerts.ndjson"
        rc, out, err = run(["replay", "-o", dest, CONFIG_FILE])
        self.assertIn(rc, (EXIT_FAILED, EXIT_USAGE), err)
        self.assertIn(str(dest), err)

    def test_config_enable_and_disable(self):
        cfg = self.write("c.toml", '[rules]\nenable = ["cis-*"]\ndisable = ["cis-4.9"]\n')
        rc, out, err = run(["-c", cfg, "rules", "list"])
        self.assertEqual(rc, EXIT_OK, err)
        states = parse_rules_list(out)
        self.assertEqual(states["cis-4.9"], "disabled")
        self.assertEqual(states["cis-4.3"], "enabled")

    def test_builtin_config_file_is_valid(self):
        rc, out, err = run(["-c", REPO / "conf" / "trailwarden.toml", "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(len(parse_lines(out)), 4)

    def test_bad_log_level(self):
        rc, out, err = run(["--log-level", "loud", "rules", "list"])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn("loud", err)


# --------------------------------------------------------------------------------------------
# 5. test-pattern
# --------------------------------------------------------------------------------------------

class TestPatternTest(CliTestCase):
    def test_syntax_error_reports_column(self):
        pattern = '{ $.eventName = "X" ) }'
        col = pattern.index(")") + 1
        rc, out, err = run(["test-pattern", "--pattern", pattern], stdin='{"eventName":"X"}\n')
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertEqual(out.strip(), "")
        self.assertRegex(err, rf"\b{col}\b")

    def test_syntax_errors_do_not_crash(self):
        for pattern in ["{", "{ ($.a = 1 }", "{ $.a = 1 && }", "{ $.a = }", "[w1=ERROR, w2"]:
            rc, out, err = run(["test-pattern", "--pattern", pattern], stdin="x\n")
            self.assertEqual(rc, EXIT_USAGE, f"{pattern!r}: {err}")
            self.assertRegex(err, r"column \d+", pattern)
        for pattern in ["{", "{ }", "{ $. = 1 }", "[", "[a,", '"unterminated', "{ $.a = \"x }",
                        "{ ($.a = 1 }", "{ $.a = 1 && }", "[w1=, w2]", "{ $.a[ = 1 }"]:
            rc, out, err = run(["test-pattern", "--pattern", pattern], stdin="x\n")
            self.assertIn(rc, (EXIT_FAILED, EXIT_USAGE), f"{pattern!r}: rc={rc} {err}")
            if rc == EXIT_USAGE:
                self.assertRegex(err, r"column \d+", pattern)

    def check_cloudtrail_output(self, out, expected_records):
        lines = out.splitlines()
        self.assertEqual(len(lines), len(expected_records), out)
        for line, rec in zip(lines, expected_records):
            self.assertEqual(json.loads(line), rec)
            self.assertEqual(line, minified(line), "records must be printed as compact JSON")

    def test_cloudtrail_file(self):
        pattern = '{ ($.eventSource = "config.amazonaws.com") && ($.eventName = "Put*") }'
        expected = [r for r in config_records() if r["eventName"].startswith("Put")]
        self.assertEqual(len(expected), 2)
        rc, out, err = run(["test-pattern", "--pattern", pattern, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cloudtrail_output(out, expected)

    def test_cloudtrail_gzip_file(self):
        p = self.write("c.json.gz", gz(CONFIG_FILE.read_bytes()))
        pattern = '{ $.eventName = "Delete*" || $.eventName = "Stop*" }'
        expected = [r for r in config_records()
                    if r["eventName"].startswith(("Delete", "Stop"))]
        rc, out, err = run(["test-pattern", "-p", pattern, p])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cloudtrail_output(out, expected)

    def test_cloudtrail_on_stdin(self):
        pattern = '{ $.eventName = "StopConfigurationRecorder" }'
        expected = [r for r in config_records() if r["eventName"] == "StopConfigurationRecorder"]
        rc, out, err = run(["test-pattern", "--pattern", pattern], stdin=gz(CONFIG_FILE.read_bytes()))
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cloudtrail_output(out, expected)

    def test_cloudtrail_file_no_match(self):
        rc, out, err = run(["test-pattern", "--pattern", '{ $.eventName = "Nothing" }', CONFIG_FILE])
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertEqual(out, "")
        rc, out, err = run(["test-pattern", "--pattern", '{ $.eventName = "Put*" }', CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(len(out.splitlines()), 2)

    def test_ndjson_file(self):
        ndjson = CLOUDTRAIL / "panther_cloudtrail_rule_tests.ndjson"
        events = [json.loads(l) for l in ndjson.read_text().splitlines() if l.strip()]
        expected = [e for e in events if e["record"].get("eventName") == "ConsoleLogin"]
        self.assertGreater(len(expected), 1)
        rc, out, err = run(["test-pattern", "--pattern", '{ $.record.eventName = "ConsoleLogin" }',
                            ndjson])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual([json.loads(l) for l in out.splitlines()], expected)
        for line in out.splitlines():
            self.assertEqual(line, minified(line))

    def test_text_pattern_on_cloudtrail_file(self):
        # A text pattern sees each record's text; matching records are printed compact.
        term = "ConfigurationRecorder"
        expected = [r for r in config_records() if term in json.dumps(r)]
        self.assertTrue(0 < len(expected) < len(config_records()))
        rc, out, err = run(["test-pattern", "--pattern", term, CONFIG_FILE])
        self.assertEqual(rc, EXIT_OK, err)
        self.check_cloudtrail_output(out, expected)

    def test_truncated_cloudtrail_file_is_an_error(self):
        # A CloudTrail file that breaks off is an error (exit 2, file named), not "no match".
        # NOTE: see the report; the product currently falls back to reading the broken file as
        # lines of text and exits 1 without a message.
        data = CONFIG_FILE.read_bytes()
        for name, content in (("cut.json", data[: len(data) // 2]),
                              ("cut.json.gz", gz(data[: len(data) // 2]))):
            p = self.write(name, content)
            rc, out, err = run(["test-pattern", "--pattern",
                                '{ $.eventName = "StopConfigurationRecorder" }', p])
            self.assertEqual(rc, EXIT_USAGE, f"{name}: {err}")
            self.assertIn(str(p), err)

    def test_corrupt_gzip_is_an_error(self):
        data = gz(CONFIG_FILE.read_bytes())
        p = self.write("trunc.json.gz", data[: len(data) // 2])
        rc, out, err = run(["test-pattern", "--pattern", "ERROR", p])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn(str(p), err)

    def test_non_json_line_is_text(self):
        # NOTE: crashes at the time of writing (see the report): any match of a text event
        # (a line that is not a JSON object) segfaults test-pattern. The same crash fails every
        # text and space_delimited conformance case that expects a match.
        lines = [
            '{"eventName": "ConsoleLogin", "n": 1}',
            'eventName = ConsoleLogin as a text line',
            '{ not json: ConsoleLogin',
            '{"eventName": "Other", "n": 2}',
        ]
        stdin = "\n".join(lines) + "\n"
        # A JSON pattern matches only the JSON event.
        rc, out, err = run(["test-pattern", "--pattern", '{ $.eventName = "ConsoleLogin" }'],
                           stdin=stdin)
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.splitlines(), ['{"eventName":"ConsoleLogin","n":1}'])
        # A text pattern sees the raw lines, JSON or not; text lines are printed as they are.
        rc, out, err = run(["test-pattern", "--pattern", "ConsoleLogin"], stdin=stdin)
        self.assertEqual(rc, EXIT_OK, err)
        got = out.splitlines()
        self.assertIn(lines[1], got)
        self.assertIn(lines[2], got)
        self.assertNotIn(lines[3], got)
        self.assertNotIn('{"eventName":"Other","n":2}', got)
        # A JSON pattern never matches a line that is not JSON.
        rc, out, err = run(["test-pattern", "--pattern", '{ $.eventName = "*" }'],
                           stdin="eventName = x\n{ broken\n")
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertEqual(out, "")

    def test_explicit_stdin_and_file(self):
        p = self.write("events.txt", "ERROR one\nINFO two\n")
        rc, out, err = run(["test-pattern", "--pattern", '{ $.level = "ERROR" }', p, "-"],
                           stdin='{"level": "ERROR"}\n{"level": "INFO"}\n')
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.splitlines(), ['{"level":"ERROR"}'])

    def test_json_array_line_is_text(self):
        # Only JSON objects are JSON events; '[1,2]' is a text line.
        rc, out, err = run(["test-pattern", "--pattern", '{ $[0] = 1 }'], stdin="[1,2]\n")
        self.assertIn(rc, (EXIT_FAILED, EXIT_USAGE), err)
        self.assertEqual(out, "")
        # NOTE: crashes at the time of writing, like test_non_json_line_is_text.
        rc, out, err = run(["test-pattern", "--pattern", "1"], stdin="[1,2]\n")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out.splitlines(), ["[1,2]"])

    def test_missing_file(self):
        missing = self.tmp / "missing.json"
        rc, out, err = run(["test-pattern", "--pattern", "ERROR", missing])
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn(str(missing), err)

    def test_missing_pattern(self):
        rc, out, err = run(["test-pattern"], stdin="x\n")
        self.assertEqual(rc, EXIT_USAGE, err)
        self.assertIn("--pattern", err)

    def test_exit_status_none_matched(self):
        rc, out, err = run(["test-pattern", "--pattern", '{ $.level = "ERROR" }'],
                           stdin='{"level": "INFO"}\n')
        self.assertEqual(rc, EXIT_FAILED, err)
        self.assertEqual(out, "")
        rc, out, err = run(["test-pattern", "--pattern", '{ $.level = "ERROR" }'],
                           stdin='{"level": "INFO"}\n{"level": "ERROR"}\n')
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out, '{"level":"ERROR"}\n')


def load_conformance_cases():
    with open(CONFORMANCE, "rb") as f:
        return json.load(f)["cases"]


class ConformanceTest(CliTestCase):
    """Every case of tests/data/cwl-filter/conformance_cases.json, run through the CLI."""

    def run_case(self, case):
        if case["kind"] == "json":
            self.assertIsInstance(case["event"], dict)
            event_line = json.dumps(case["event"])
        else:
            self.assertIsInstance(case["event"], str)
            event_line = case["event"]
        rc, out, err = run(["test-pattern", "--pattern", case["pattern"]], stdin=event_line + "\n")
        msg = f"case {case['id']}: pattern {case['pattern']!r} event {event_line!r}\n{err}"
        self.assertGreaterEqual(rc, 0, msg)
        expected = case["expected_match"]
        if expected is None:
            self.assertNotEqual(rc, EXIT_USAGE, "undocumented case must at least parse: " + msg)
            self.assertIn(rc, (EXIT_OK, EXIT_FAILED), msg)
            self.skipTest(f"case {case['id']}: no documented result (parse checked)")
        if expected:
            self.assertEqual(rc, EXIT_OK, "expected a match: " + msg)
            lines = out.splitlines()
            self.assertEqual(len(lines), 1, msg)
            if case["kind"] == "json":
                self.assertEqual(json.loads(lines[0]), case["event"], msg)
                self.assertEqual(lines[0], minified(lines[0]), msg)
            else:
                self.assertEqual(lines[0], event_line, msg)
        else:
            self.assertEqual(rc, EXIT_FAILED, "expected no match: " + msg)
            self.assertEqual(out, "", msg)
            # Positive control: with the event of a case that has the same pattern and matches,
            # only that event is printed (so a binary that never matches cannot pass).
            sibling = next((c for c in CONFORMANCE_CASES if c["pattern"] == case["pattern"]
                            and c["kind"] == case["kind"] and c["expected_match"] is True), None)
            if sibling is not None:
                sib_line = (json.dumps(sibling["event"]) if case["kind"] == "json"
                            else sibling["event"])
                rc, out, err = run(["test-pattern", "--pattern", case["pattern"]],
                                   stdin=event_line + "\n" + sib_line + "\n")
                msg2 = f"{msg}\nwith the event of matching case {sibling['id']} after it: {err}"
                self.assertEqual(rc, EXIT_OK, msg2)
                lines = out.splitlines()
                self.assertEqual(len(lines), 1, msg2)
                if case["kind"] == "json":
                    self.assertEqual(json.loads(lines[0]), sibling["event"], msg2)
                else:
                    self.assertEqual(lines[0], sib_line, msg2)
            else:
                # Positive control with a pattern that matches this event for sure: a JSON
                # pattern on a key that is absent, or a text pattern made of one of its words.
                if case["kind"] == "json":
                    control = "{ $.tw_control_absent_key NOT EXISTS }"
                else:
                    control = next(w for w in re.findall(r"[A-Za-z]+", event_line) if len(w) > 3)
                rc, out, err = run(["test-pattern", "--pattern", control], stdin=event_line + "\n")
                self.assertEqual(rc, EXIT_OK, f"{msg}\ncontrol pattern {control!r}: {err}")
                self.assertEqual(len(out.splitlines()), 1, f"control {control!r}: {out}")


CONFORMANCE_CASES = []


def _add_conformance_tests():
    try:
        cases = load_conformance_cases()
        CONFORMANCE_CASES.extend(cases)
    except (OSError, ValueError) as e:  # still fail loudly, not silently pass
        def test_load(self, e=e):
            self.fail(f"cannot load {CONFORMANCE}: {e}")
        ConformanceTest.test_load_cases = test_load
        return

    def make(case):
        def test(self):
            self.run_case(case)
        test.__doc__ = f"conformance case {case['id']} ({case['kind']}): {case['pattern']}"
        return test

    for case in cases:
        setattr(ConformanceTest, f"test_case_{int(case['id']):03d}", make(case))

    if len(cases) < 50 or {c["kind"] for c in cases} != {"json", "text", "space_delimited"}:
        def test_cases_present(self):
            self.fail(f"{CONFORMANCE} has only {len(cases)} cases or misses a kind")
        ConformanceTest.test_cases_present = test_cases_present


_add_conformance_tests()


# --------------------------------------------------------------------------------------------
# 6. general command line
# --------------------------------------------------------------------------------------------

class CommandLineTest(CliTestCase):
    def test_version(self):
        for flag in ("--version", "-V"):
            rc, out, err = run([flag])
            self.assertEqual(rc, EXIT_OK, err)
            self.assertRegex(out.strip(), r"^trailwarden \d+\.\d+\.\d+")

    def test_help(self):
        for flag in ("--help", "-h"):
            rc, out, err = run([flag])
            self.assertEqual(rc, EXIT_OK, err)
            for word in ("replay", "test-pattern", "rules", "--config", "--no-raw-data",
                         "--enable", "--disable", "--rules", "--output"):
                self.assertIn(word, out)

    def test_no_command(self):
        rc, out, err = run([])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("command", err.lower())

    def test_unknown_command(self):
        rc, out, err = run(["frobnicate"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("frobnicate", err)
        self.assertEqual(out, "")

    def test_unknown_global_option(self):
        rc, out, err = run(["--frobnicate", "replay", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("--frobnicate", err)
        self.assertEqual(out, "")

    def test_unknown_replay_option(self):
        rc, out, err = run(["replay", "--frobnicate", CONFIG_FILE])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("--frobnicate", err)
        self.assertEqual(out, "")

    def test_unknown_test_pattern_option(self):
        rc, out, err = run(["test-pattern", "--pattern", "x", "--frobnicate"], stdin="x\n")
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("--frobnicate", err)

    def test_option_without_value(self):
        rc, out, err = run(["replay", CONFIG_FILE, "-o"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("-o", err)

    def test_replay_without_path(self):
        rc, out, err = run(["replay"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("PATH", err)

    def test_bad_workers(self):
        for n in ("0", "abc", "100000"):
            rc, out, err = run(["replay", "-w", n, CONFIG_FILE])
            self.assertEqual(rc, EXIT_USAGE, n)
            self.assertIn("workers", err)

    def test_unknown_rules_subcommand(self):
        rc, out, err = run(["rules", "frob"])
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("frob", err)


class ReplayProgressTest(CliTestCase):
    def many_files(self, n=30):
        for i in range(n):
            self.write(f"in/{i:03}.json", CONFIG_FILE.read_bytes())
        return self.tmp / "in"

    def test_progress_on_a_terminal(self):
        import pty
        d = self.many_files()
        out_path = self.tmp / "alerts.ndjson"
        pid, fd = pty.fork()
        if pid == 0:  # child: stderr is the terminal
            os.execv(BIN, [BIN, "replay", "-w", "1", "-o", str(out_path), str(d)])
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        _, status = os.waitpid(pid, 0)
        tty = b"".join(chunks).decode("utf-8", "replace")
        self.assertEqual(os.waitstatus_to_exitcode(status), EXIT_OK, tty)
        self.assertIn("replay: 30/30 files (100%)", tty)
        self.assertIn("\x1b[K", tty)  # the progress line is cleared before the summary
        self.assertIn("replay: 30 files (0 failed, 0 skipped)", tty)
        self.assertIn("cis-4.9", tty)

    def test_no_progress_when_piped(self):
        d = self.many_files(5)
        rc, out, err = run(["replay", "-o", str(self.tmp / "a.ndjson"), d])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertNotIn("\x1b", err)
        self.assertNotIn("\r", err)
        self.assertIn("replay: 5 files (0 failed, 0 skipped)", err)

    def test_summary_counts_failed_files(self):
        d = self.many_files(2)
        self.write("in/bad.json.gz", b"\x1f\x8b\x08\x00garbage")
        rc, out, err = run(["replay", "-o", str(self.tmp / "a.ndjson"), d])
        self.assertEqual(rc, EXIT_FAILED)
        self.assertIn("replay: 1 of 3 files failed", err)


class CheckConfigTest(CliTestCase):
    def check(self, config_text, env=None, *extra):
        path = self.write("tw.toml", config_text)
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.run([BIN, "-c", str(path), "check-config", *extra], capture_output=True,
                           timeout=30, env=full_env)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_builtin_configuration_is_valid(self):
        rc, out, err = run(["check-config"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn('[source.sqs]', out)
        self.assertIn('visibility_timeout_seconds = 300', out)
        self.assertIn("configuration OK (17 rules, 1 enabled; 1 outputs)", err)
        self.assertIn("queue_url is not set", err)

    def test_alarms_section_and_alarm_lines(self):
        # [alarms] is printed with the effective configuration, then one comment line per rule
        # with an alarm; the output stays valid TOML.
        rc, out, err = self.check('[rules]\nenable = ["cis-4.3", "cis-4.9"]\n'
                                  '[alarms]\nenable = ["cis-4.9"]\n')
        self.assertEqual(rc, EXIT_OK, err)
        doc = tomllib.loads(out)
        self.assertEqual(doc["alarms"], {"enable": ["cis-4.9"], "disable": [], "store": "state",
                                         "dynamodb": {"table": "", "region": "", "endpoint": ""}})
        lines = {l.split()[1]: l.split()[2:] for l in out.splitlines()
                 if l.startswith("# cis-")}
        self.assertEqual(len(lines), 17)
        self.assertEqual(" ".join(lines["cis-4.9"]),
                         "aws_config_changes_alarm Sum 300s >= 1, 1 of 1 on both enabled")
        self.assertEqual(" ".join(lines["cis-4.3"]),
                         "root_usage_alarm Sum 300s >= 1, 1 of 1 off both enabled")
        # store = "dynamodb" is checked and printed, without a warning.
        rc, out, err = self.check('[alarms]\nstore = "dynamodb"\n'
                                  '[alarms.dynamodb]\ntable = "trailwarden-alarms"\n')
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(tomllib.loads(out)["alarms"]["dynamodb"]["table"], "trailwarden-alarms")
        self.assertNotIn("dynamodb", err.lower())
        rc, out, err = self.check('[alarms]\nstore = "dynamodb"\n')
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn('tw.toml:2:9: alarms.store = "dynamodb" needs [alarms.dynamodb] table', err)

    def test_quiet_prints_nothing_on_stdout(self):
        rc, out, err = run(["check-config", "-q"])
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(out, "")

    def test_secrets_are_redacted_and_env_resolved(self):
        cfg = textwrap.dedent("""\
            [source.sqs]
            queue_url = "${QUEUE_URL}"
            allowed_buckets = ["trail-bucket"]
            [[outputs]]
            type = "splunk_hec"
            name = "splunk"
            url = "https://splunk.example.com:8088"
            token = "${SPLUNK_HEC_TOKEN}"
            """)
        env = {"QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/trail",
               "SPLUNK_HEC_TOKEN": "9f1e3c1a-0000-4000-8000-5ec2e75ec2e7"}
        rc, out, err = self.check(cfg, env)
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn('queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"', out)
        self.assertIn('token = "<redacted>"', out)
        self.assertNotIn("5ec2e75ec2e7", out + err)
        self.assertNotIn("queue_url is not set", err)
        # The printed configuration is itself valid (secrets aside, it reads back).
        rc2, out2, err2 = self.check(out, env)
        self.assertEqual(rc2, EXIT_OK, err2)

    def test_inline_settings_without_the_route_and_bad_regions_are_reported(self):
        base = ('[source.sqs]\nqueue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"\n'
                'allowed_buckets = ["trail-bucket"]\n')
        # inline_accounts named, inline_events left off (as after an upgrade): a warning.
        rc, out, err = self.check(base + 'inline_accounts = ["111122223333"]\n', None, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("warning: source.sqs.inline_accounts/inline_regions/inline_events_via_sns "
                      "are set but source.sqs.inline_events is false", err)
        rc, out, err = self.check(base, None, "-q")
        self.assertNotIn("inline_events is false", err)
        # A region from the environment that is no region name: a warning naming it.
        rc, out, err = self.check(base.replace("sqs.eu-west-1.amazonaws.com", "queue.example"),
                                  {"AWS_REGION": "eu-west-1.evil.com"}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn('the AWS region "eu-west-1.evil.com" (from [aws] region, AWS_REGION', err)
        # ... and in [aws] region itself, an error with its position.
        rc, out, err = self.check(base + '[aws]\nregion = "localhost"\n', None, "-q")
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn('tw.toml:5:10: aws.region "localhost" is not an AWS region name', err)

    def test_sqs_region_and_endpoint_problems_are_reported(self):
        base = ('[source.sqs]\nqueue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"\n'
                'allowed_buckets = ["trail-bucket"]\n')
        # EKS: AWS_REGION is the cluster's; SQS is signed for the queue URL's region, said once.
        rc, out, err = self.check(base, {"AWS_REGION": "us-west-2"}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("warning: the queue URL names region eu-west-1, AWS_REGION says us-west-2: "
                      "SQS requests are signed for eu-west-1", err)
        rc, out, err = self.check(base, {"AWS_REGION": "eu-west-1"}, "-q")
        self.assertNotIn("the queue URL names region", err)
        # S3 has no FIPS endpoint in China: `run` would refuse, check-config says so.
        china = base.replace("sqs.eu-west-1.amazonaws.com", "sqs.cn-north-1.amazonaws.com.cn")
        rc, out, err = self.check(china + "[aws]\nuse_fips_endpoint = true\n",
                                  {"AWS_REGION": ""}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("s3 offers no FIPS endpoint in partition aws-cn (region cn-north-1): "
                      "`run` refuses to start with it", err)
        # A queue in another partition than the agent's region: `run` refuses, check-config says
        # so naming both.
        rc, out, err = self.check(base, {"AWS_REGION": "cn-north-1"}, "-q")
        self.assertIn("the queue URL https://sqs.eu-west-1.amazonaws.com/111122223333/trail names "
                      "region eu-west-1 of partition aws, but the agent's region cn-north-1 (from "
                      "AWS_REGION) is in partition aws-cn", err)
        self.assertIn("`run` refuses to start with it", err)
        # A variable that is neither true nor false, named.
        rc, out, err = self.check(base, {"AWS_USE_DUALSTACK_ENDPOINT": "maybe"}, "-q")
        self.assertIn('AWS_USE_DUALSTACK_ENDPOINT="maybe" is neither "true" nor "false"', err)
        # The new keys are in the effective configuration.
        rc, out, err = self.check(base)
        self.assertIn("use_fips_endpoint = false", out)
        self.assertIn("use_dualstack_endpoint = false", out)
        self.assertIn("ignore_configured_endpoint_urls = false", out)

    def test_vpc_endpoint_region_mismatch_is_reported(self):
        # AWS_REGION=us-east-1, queue and interface endpoints in eu-west-1: each endpoint's
        # region signs its service, and check-config says so once per service.
        base = ('[source.sqs]\nqueue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"\n'
                'allowed_buckets = ["trail-bucket"]\n[aws]\n'
                'sqs_endpoint_url = "https://vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com"\n')
        rc, out, err = self.check(base, {"AWS_REGION": "us-east-1"}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("warning: the SQS endpoint https://vpce-0abc-xyz.sqs.eu-west-1.vpce."
                      "amazonaws.com (from [aws] sqs_endpoint_url) is in region eu-west-1, "
                      "AWS_REGION says us-east-1: SQS requests are signed for eu-west-1", err)
        self.assertEqual(err.count("requests are signed for"), 1, err)
        s3 = base + 's3_endpoint_url = "https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com"\n'
        rc, out, err = self.check(s3, {"AWS_REGION": "us-east-1"}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn("AWS_REGION says us-east-1: S3 requests are signed for eu-west-1", err)
        # The endpoint's region is the configured one: nothing to say.
        rc, out, err = self.check(s3, {"AWS_REGION": "eu-west-1"}, "-q")
        self.assertNotIn("requests are signed for", err)

    def test_a_bad_cloudtrail_endpoint_is_reported(self):
        rc, out, err = self.check('[aws]\ncloudtrail_endpoint_url = "ftp://x"\n', {}, "-q")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertIn('the endpoint URL "ftp://x" from [aws] cloudtrail_endpoint_url: endpoint URL '
                      'scheme must be http or https: `verify` refuses to start with it', err)
        rc, out, err = self.check('[aws]\ncloudtrail_endpoint_url = "https://ct.example"\n', {}, "-q")
        self.assertNotIn("cloudtrail", err)

    def test_unset_variable_is_an_error_with_position(self):
        os.environ.pop("TW_TEST_UNSET_VAR", None)
        rc, out, err = self.check('[source.sqs]\nqueue_url = "${TW_TEST_UNSET_VAR}"\n')
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("tw.toml:2:13: source.sqs.queue_url: environment variable TW_TEST_UNSET_VAR "
                      "is not set", err)

    def test_config_errors_never_show_a_secret(self):
        # Each broken configuration holds the secret "S3cr3t" (or, where the parser quotes one
        # character or token of the value, that character); the error names the file, the
        # position and the key, never the value.
        hec = 'type = "splunk_hec"\nurl = "https://splunk.example.com:8088"\n'
        cases = [
            # interpolation: an unterminated or malformed reference
            (hec + 'token = "S3cr3t${Tok"\n', "S3cr3t", "tw.toml:4:9: outputs[0].token"),
            (hec + 'token = "S3cr3t${bad name}"\n', "S3cr3t", "tw.toml:4:9: outputs[0].token"),
            # TOML syntax errors inside the value, which the parser quotes
            (hec + 'token = "S3cr3t\\qTok"\n', "\\q", "tw.toml:4:17:"),
            (hec + 'token = trueS3cr3t\n', "'S'", "tw.toml:4:13:"),
            (hec + 'token = """S3cr3t\nmore\\q\n', "\\q", "tw.toml:5:"),
            ('type = "kafka"\nbrokers = ["127.0.0.1:1"]\ntopic = "t"\n[outputs.properties]\n'
             '"sasl.password" = "S3cr3t\\x"\n', "\\x", "tw.toml:6:"),
            # a secret from the environment in a key whose errors quote the value
            (hec + 'token = "abcd-efgh"\nformat = "${TW_TEST_API_TOKEN}"\n', "S3cr3t",
             "tw.toml:5:10:"),
        ]
        for text, secret, where in cases:
            with self.subTest(where=where, secret=secret):
                rc, out, err = self.check("[[outputs]]\n" + text,
                                          {"TW_TEST_API_TOKEN": "S3cr3tFromEnv"})
                self.assertEqual(rc, EXIT_USAGE, err)
                self.assertIn(where, err)
                self.assertNotIn(secret, err + out)

    def test_warns_about_secret_files_others_can_read(self):
        token = self.write("hec.token", "0000-token-file-secret\n")
        cfg = textwrap.dedent(f"""\
            [general]
            state_dir = "{self.tmp / 'state'}"
            [[outputs]]
            name = "from-file"
            type = "splunk_hec"
            url = "https://splunk.example.com:8088"
            token_file = "{token}"
            [[outputs]]
            name = "inline"
            type = "splunk_hec"
            url = "https://splunk.example.com:8088"
            token = "0000-inline-secret"
            """)
        path = self.write("tw.toml", cfg)
        os.chmod(token, 0o644)
        os.chmod(path, 0o604)
        p = subprocess.run([BIN, "-c", str(path), "check-config", "-q"], capture_output=True,
                           timeout=30)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, EXIT_OK, err)  # a warning, not an error
        self.assertIn(f"warning: {token} holds a secret (outputs[0].token_file) and is readable "
                      "by every user (mode 0644)", err)
        self.assertIn(f"warning: {path} holds a secret (inline secret at outputs[1].token) and is "
                      "readable by every user (mode 0604)", err)
        self.assertNotIn("0000-inline-secret", err)
        # Private files: no warning.
        os.chmod(token, 0o600)
        os.chmod(path, 0o600)
        p = subprocess.run([BIN, "-c", str(path), "check-config", "-q"], capture_output=True,
                           timeout=30)
        self.assertNotIn("holds a secret", p.stderr.decode())

    def test_output_keys_are_checked_without_connecting(self):
        # A Kafka output with an unknown key: found by check-config, with its position.
        cfg = textwrap.dedent("""\
            [[outputs]]
            type = "kafka"
            brokers = "127.0.0.1:1"
            topic = "alerts"
            acks_please = 1
            """)
        rc, out, err = self.check(cfg)
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("tw.toml:5:1", err)
        self.assertIn("acks_please", err)

    def test_bad_rule_selector_fails(self):
        rc, out, err = self.check('[rules]\nenable = ["no-such-rule"]\n')
        self.assertEqual(rc, EXIT_USAGE)
        self.assertIn("no-such-rule", err)

    def test_creates_nothing(self):
        state = self.tmp / "state"
        cfg = textwrap.dedent(f"""\
            [general]
            state_dir = "{state}"
            [[outputs]]
            type = "splunk_hec"
            url = "https://splunk.example.com:8088"
            token = "abc"
            ack = true
            [[outputs]]
            type = "file"
            path = "{self.tmp / 'alerts.ndjson'}"
            """)
        rc, out, err = self.check(cfg)
        self.assertEqual(rc, EXIT_OK, err)
        self.assertFalse(state.exists())
        self.assertFalse((self.tmp / "alerts.ndjson").exists())


class ReplayOutputFailureTest(CliTestCase):
    """replay against a real HEC receiver that stays busy: it gives up after --give-up-after,
    exits 3, and names the first input whose alerts were not delivered, so the user can replay
    from there."""

    def setUp(self):
        super().setUp()
        self.hec_log = open(self.tmp / "hec_receiver.log", "wb")
        self.hec, ready = common.start_hec_receiver(["--token", "tok"], stderr=self.hec_log)
        self.admin = f"http://127.0.0.1:{ready['admin_port']}"
        self.cfg = self.write("c.toml", textwrap.dedent(f"""\
            [[outputs]]
            type = "splunk_hec"
            name = "splunk"
            url = "http://127.0.0.1:{ready['port']}"
            token = "tok"
            retry_initial_ms = 100
            retry_max_ms = 400
            """))

    def tearDown(self):
        common.stop_process(self.hec)
        common.close_all(self.hec.stdout, self.hec_log)
        super().tearDown()

    def admin_post(self, path, body):
        req = urllib.request.Request(self.admin + path, data=json.dumps(body).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def indexed(self):
        with urllib.request.urlopen(self.admin + "/events", timeout=10) as r:
            return json.loads(r.read())["events"]

    def test_gives_up_on_a_busy_output_and_names_the_first_undelivered_input(self):
        inputs = self.tmp / "in"
        first = self.good_file("in/a.json")
        self.good_file("in/b.json")
        self.admin_post("/faults", {"busy": 1000000})
        rc, out, err = run(["-c", self.cfg, "replay", "-w", "1", "--give-up-after", "2", inputs],
                           timeout=120)
        self.assertEqual(rc, 3, err)
        self.assertRegex(err, r"output splunk: gave up after \d+ failed attempts in \d+ s: .*503")
        self.assertIn("4 alerts not delivered", err)
        self.assertIn(f"the alerts of {first} and of the inputs after it were not all delivered "
                      "(1 inputs not read)", err)
        self.assertEqual(self.indexed(), [])
        # Busy no more: the same command delivers everything.
        self.admin_post("/reset", {})
        rc, out, err = run(["-c", self.cfg, "replay", "-w", "1", "--give-up-after", "2", inputs],
                           timeout=120)
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual(len(self.indexed()), 8)

    def test_bad_give_up_after_value(self):
        for bad in ("-1", "x", "", "999999999"):
            rc, out, err = run(["replay", "--give-up-after", bad, CONFIG_FILE])
            self.assertEqual(rc, EXIT_USAGE, bad)
            self.assertIn("--give-up-after takes seconds", err)


# --------------------------------------------------------------------------------------------
# verify over a local copy (the S3 and CloudTrail paths, and the agreement with the AWS CLI, are
# tests/integration/test_verify.py)
# --------------------------------------------------------------------------------------------

SAMPLE_DIGEST = ("AWSLogs/730384926571/CloudTrail-Digest/us-east-1/2024/11/18/730384926571_"
                 "CloudTrail-Digest_us-east-1_management_us-east-1_20241118T010000Z.json.gz")
SAMPLE_LOG = ("AWSLogs/730384926571/CloudTrail/us-east-1/2024/11/18/730384926571_CloudTrail_"
              "us-east-1_20241118T0006Z_r5khfLanNjFCSCSS.json.gz")


class VerifyLocalTest(CliTestCase):
    """`trailwarden verify --local` on the signed sample digest: whole, then each file damaged."""

    def setUp(self):
        super().setUp()
        self.copy = self.tmp / "bucket"
        shutil.copytree(REPO / "samples" / "AWSLogs", self.copy / "AWSLogs")

    def verify(self, *extra, signatures=True):
        args = ["verify", "--local", self.copy, "--bucket", "example-cloudtrail-bucket",
                "--account", "730384926571", "--region", "us-east-1",
                "--start", "2024-11-18T00:00:00Z", "--end", "2024-11-18T01:00:00Z",
                "--public-keys", REPO / "samples" / "public-keys.json"]
        if signatures:
            args += ["--signatures", REPO / "samples" / "digest-signatures.json"]
        return run(args + list(extra))

    def test_the_sample_is_whole(self):
        rc, out, err = self.verify("-v")
        self.assertEqual(rc, EXIT_OK, out + err)
        self.assertIn(f"Digest file\ts3://example-cloudtrail-bucket/{SAMPLE_DIGEST}\tvalid", out)
        self.assertIn(f"Log file\ts3://example-cloudtrail-bucket/{SAMPLE_LOG}\tvalid", out)
        self.assertIn("1/1 digest files valid\n1/1 log files valid", out)

    def test_a_changed_log_file(self):
        log = self.copy / SAMPLE_LOG
        text = gzip.decompress(log.read_bytes()).replace(b"StopConfigurationRecorder",
                                                         b"StartConfigurationRecorder", 1)
        log.write_bytes(gzip.compress(text))
        rc, out, err = self.verify()
        self.assertEqual(rc, EXIT_FAILED, out + err)
        self.assertIn(f"Log file\ts3://example-cloudtrail-bucket/{SAMPLE_LOG}\t"
                      "INVALID: hash value doesn't match", out)

    def test_a_deleted_log_file(self):
        (self.copy / SAMPLE_LOG).unlink()
        rc, out, err = self.verify()
        self.assertEqual(rc, EXIT_FAILED, out + err)
        self.assertIn("INVALID: not found", out)
        self.assertIn("1 missing", out)

    def test_a_changed_digest(self):
        digest = self.copy / SAMPLE_DIGEST
        text = gzip.decompress(digest.read_bytes()).replace(b'"logFiles":[', b'"logFiles":[ ', 1)
        digest.write_bytes(gzip.compress(text))
        rc, out, err = self.verify()
        self.assertEqual(rc, EXIT_FAILED, out + err)
        self.assertIn("INVALID: signature verification failed", out)
        self.assertIn("1/1 not verified", out)  # its log file: an untrusted list

    def test_the_newest_digest_without_its_signature_is_not_verified(self):
        rc, out, err = self.verify(signatures=False)
        self.assertEqual(rc, EXIT_FAILED, out + err)
        self.assertIn("NOT VERIFIED: no signature to check", out)

    def test_no_digest_in_range(self):
        rc, out, err = run(["verify", "--local", self.copy, "--bucket", "example-cloudtrail-bucket",
                            "--account", "730384926571", "--region", "eu-west-1",
                            "--start", "2024-11-18T00:00:00Z", "--end", "2024-11-18T01:00:00Z",
                            "--public-keys", REPO / "samples" / "public-keys.json"])
        self.assertEqual(rc, EXIT_FAILED, out + err)
        self.assertIn("No digests found", out)

    def test_bad_arguments(self):
        base = ["verify", "--local", self.copy, "--bucket", "b", "--account", "730384926571",
                "--region", "us-east-1", "--public-keys", REPO / "samples" / "public-keys.json"]
        for args, message in [
            (base, "verify needs --start"),
            (base + ["--start", "yesterday"], "--start takes a time"),
            (base + ["--start", "2024-11-18", "--end", "2024-11-17"], "--start must be before --end"),
            (["verify", "--bucket", "b", "--account", "1", "--start", "2024-11-18"], "--account"),
            (base + ["--start", "2024-11-18", "--parallel", "0"], "--parallel takes a number"),
            (["verify", "--bucket", "b", "--account", "730384926571", "--region", "us-east-1",
              "--start", "2024-11-18", "--signatures", "x.json"], "--signatures is for a local copy"),
        ]:
            rc, out, err = run(args)
            self.assertEqual(rc, EXIT_USAGE, (args, out, err))
            self.assertIn(message, err)

    def test_a_keys_file_that_is_not_keys(self):
        bad = self.write("keys.json", '{"PublicKeyList": [{"Value": "%%%"}]}')
        rc, out, err = run(["verify", "--local", self.copy, "--bucket", "example-cloudtrail-bucket",
                            "--account", "730384926571", "--region", "us-east-1",
                            "--start", "2024-11-18", "--public-keys", bad])
        self.assertEqual(rc, EXIT_USAGE, out + err)
        self.assertIn("Value: missing or not base64", err)


# --------------------------------------------------------------------------------------------

def main():
    global BIN
    if len(sys.argv) < 2:
        print("usage: test_cli.py /path/to/trailwarden [unittest args...]", file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    if not os.access(BIN, os.X_OK):
        return common.cannot_run(f"test_cli.py: {BIN} is not an executable", file=sys.stderr)
    return common.run_unittest([sys.argv[0]] + sys.argv[2:], verbosity=1)


if __name__ == "__main__":
    sys.exit(main())
