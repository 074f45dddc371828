#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Log lines: the unit program test_log, and its sample events checked by jq and python.

load test_helper

UNIT="$RESEC_BUILD/unit/test_log"

setup() {
	[ -x "$UNIT" ] || skip "build the unit programs first (make units)"
}

@test "log unit tests pass (test_log)" {
	run -0 "$UNIT"
	run ! grep -q '^not ok' <<<"$output"
}

@test "LOG_FORMAT=json: every line is one valid JSON object (python)" {
	"$UNIT" --emit json 2>"$BATS_TEST_TMPDIR/json.log"
	run -0 python3 -c '
import json, sys
n = 0
for raw in open(sys.argv[1], "rb"):
    obj = json.loads(raw.decode("utf-8"))
    assert isinstance(obj, dict), obj
    assert list(obj)[:4] == ["ts", "level", "prog", "msg"], list(obj)
    n += 1
assert n == 7, n
' "$BATS_TEST_TMPDIR/json.log"
}

@test "LOG_FORMAT=json: values survive escaping (jq)" {
	"$UNIT" --emit json 2>"$BATS_TEST_TMPDIR/json.log"
	[ "$(jq -s length "$BATS_TEST_TMPDIR/json.log")" -eq 7 ]
	jq -se 'map(select(.msg == "control"))[0] | .nl == "a\nb" and .tab == "\t" and .esc == "\u001b[0m" and .del == "\u007f"' \
		"$BATS_TEST_TMPDIR/json.log"
	jq -se 'map(select(.msg == "spaces and \"quotes\""))[0] | .path == "/a b/c" and .eq == "a=b" and .empty == ""' \
		"$BATS_TEST_TMPDIR/json.log"
	jq -se 'map(select(.msg == "backslash"))[0] | .bs == "C:\\dir\\" and .json == "{\"a\":[1,2]}"' "$BATS_TEST_TMPDIR/json.log"
	jq -se 'map(select(.msg == "unicode"))[0] | .ok == "café € 😀" and .bad == "\ufffd\ufffd"' "$BATS_TEST_TMPDIR/json.log"
	jq -se 'map(select(.msg == "long"))[0] | (.big | length) > 3000' "$BATS_TEST_TMPDIR/json.log"
}

@test "logfmt: every line has ts, level, prog, msg in order, one line per event" {
	"$UNIT" --emit text 2>"$BATS_TEST_TMPDIR/text.log"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/text.log")" -eq 7 ]
	run -0 grep -cE '^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z level=(debug|info|warn|error) prog=emit msg=' \
		"$BATS_TEST_TMPDIR/text.log"
	[ "$output" -eq 7 ]
	grep -qF 'msg="spaces and \"quotes\"" path="/a b/c" eq="a=b" empty=""' "$BATS_TEST_TMPDIR/text.log"
	grep -qF 'nl="a\nb" cr="\r" tab="\t" bell="\u0007" esc="\u001b[0m" del="\u007f"' "$BATS_TEST_TMPDIR/text.log"
}

@test "logfmt values parse back (python logfmt reader)" {
	"$UNIT" --emit text 2>"$BATS_TEST_TMPDIR/text.log"
	run -0 python3 -c '
import json, re, sys
pair = re.compile(r"([^\s=]+)=(\"(?:[^\"\\]|\\.)*\"|[^\s\"=]*)(?:\s|$)")
for raw in open(sys.argv[1], "rb"):
    line = raw.decode("utf-8").rstrip("\n")
    pos, kv = 0, {}
    while pos < len(line):
        m = pair.match(line, pos)
        assert m, (line, pos)
        v = m.group(2)
        kv[m.group(1)] = json.loads(v) if v.startswith("\"") else v
        pos = m.end()
    if kv["msg"] == "control":
        assert kv["nl"] == "a\nb" and kv["esc"] == "\x1b[0m", kv
    if kv["msg"] == "unicode":
        assert kv["ok"] == "café € 😀" and kv["bad"] == "\ufffd\ufffd", kv
' "$BATS_TEST_TMPDIR/text.log"
}

@test "LOG_LEVEL filters a real program's lines, case-insensitive" {
	# A warning comes from SSL_VERIFY junk, once logging is set up.
	CONSUL_HTTP_SSL_VERIFY=x LOG_LEVEL=error run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" != *"level=warn"* ]]
	CONSUL_HTTP_SSL_VERIFY=x LOG_LEVEL=WaRn run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *"level=warn"* ]]
	CONSUL_HTTP_SSL_VERIFY=x LOG_FORMAT=JSON run -64 --separate-stderr "$RESEC_ROLE"
	jq -e '.level == "warn"' <<<"$(head -n 1 <<<"$stderr")"
}
