#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Log lines: the unit program test_log, and its sample events checked by jq and python.

load test_helper

# logfmt_lines FILE PROG: how many lines of FILE start ts, level, prog=PROG, msg, in that order.
logfmt_lines() {
	grep -cE "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z level=(debug|info|warn|error) prog=$2 msg=" "$1"
}

# quoted_as_log_c FILE: FILE holds the emitters' quoting and escapes as common/log.c writes them.
quoted_as_log_c() {
	grep -qF 'msg="spaces and \"quotes\"" path="/a b/c" eq="a=b" empty=""' "$1" &&
		grep -qF 'nl="a\nb" cr="\r" tab="\t" bell="\u0007" esc="\u001b[0m" del="\u007f"' "$1"
}

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
	run -0 logfmt_lines "$BATS_TEST_TMPDIR/text.log" emit
	[ "$output" -eq 7 ]
	quoted_as_log_c "$BATS_TEST_TMPDIR/text.log"
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

# emit_resec FORMAT: scripts/resec's own log lines (its log functions, run
# alone under dash) for the values of the C checks above, on stderr.
emit_resec() {
	sed -n '/^log() {/,/^setup_logging() {/p' "$RESEC_ROOT/scripts/resec" | sed '$d' >"$BATS_TEST_TMPDIR/log.sh"
	grep -q '^log_value() {' "$BATS_TEST_TMPDIR/log.sh"
	# shellcheck disable=SC2016 # expanded by dash
	dash -c 'prog=resec log_rank=0 log_json=$1
		. "$2"
		log info stopping
		log info "spaces and \"quotes\"" path="/a b/c" eq=a=b empty=
		log warn control nl="$(printf "a\nb")" cr="$(printf "\r")" tab="$(printf "\t")" \
			bell="$(printf "\007")" esc="$(printf "\033[0m")" del="$(printf "\177")"
		log debug backslash bs="C:\\dir\\" json="{\"a\":[1,2]}"
		die_line "$(printf "two\nlines")"' sh "$1" "$BATS_TEST_TMPDIR/log.sh"
}

@test "scripts/resec logs in the programs' format: the same quoting and escapes" {
	emit_resec 0 2>"$BATS_TEST_TMPDIR/text.log"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/text.log")" -eq 5 ]
	run -0 logfmt_lines "$BATS_TEST_TMPDIR/text.log" resec
	[ "$output" -eq 4 ]
	grep -qF 'prog=resec msg=stopping' "$BATS_TEST_TMPDIR/text.log"
	quoted_as_log_c "$BATS_TEST_TMPDIR/text.log"
	grep -qF 'bs="C:\\dir\\" json="{\"a\":[1,2]}"' "$BATS_TEST_TMPDIR/text.log"
	[ "$(tail -n 1 "$BATS_TEST_TMPDIR/text.log")" = "resec: two?lines" ]
	emit_resec 1 2>"$BATS_TEST_TMPDIR/json.log"
	head -n 4 "$BATS_TEST_TMPDIR/json.log" >"$BATS_TEST_TMPDIR/events.json"
	jq -se 'map(select(.msg == "control"))[0] | .nl == "a\nb" and .tab == "\t" and .esc == "\u001b[0m" and .del == "\u007f"' \
		"$BATS_TEST_TMPDIR/events.json"
	jq -se 'map(select(.msg == "spaces and \"quotes\""))[0] | .path == "/a b/c" and .eq == "a=b" and .empty == ""' \
		"$BATS_TEST_TMPDIR/events.json"
	jq -se 'map(select(.msg == "backslash"))[0] | .bs == "C:\\dir\\" and .json == "{\"a\":[1,2]}"' "$BATS_TEST_TMPDIR/events.json"
	jq -se 'map(keys_unsorted[:4] == ["ts", "level", "prog", "msg"]) | all' "$BATS_TEST_TMPDIR/events.json"
}
