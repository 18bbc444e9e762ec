#!/bin/bash
# chat.weechat: WeeChat (weechat-headless, the real client, no terminal)
# against iomux-chatd. A scripted client, bob, joins #t first (so bob is
# its operator); WeeChat connects, registers and auto-joins #t; bob makes
# wee an operator; WeeChat sets the topic and says a line; bob must see
# the topic and the line from wee, then answers; WeeChat's own log must
# show the names (bob, op), the mode and the answer, and no error from the
# server.
# WeeChat then quits, and bob must see it leave.
#
# usage: chat_weechat.sh IOMUX_CHATD   (exit 77, skipped, without WeeChat)
set -u
chatd=$1
weechat=$(command -v weechat-headless) || {
  echo "weechat-headless not found (scripts/deps.sh installs it)"
  exit 77
}
tmp=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL $*"
  for f in "$tmp"/home/logs/*.weechatlog; do
    [ -f "$f" ] && sed "s|^|    ${f##*/}: |" "$f"
  done
  exit 1
}

"$chatd" --port 0 </dev/null >"$tmp/chatd.out" 2>&1 &
pids=$!
for _ in $(seq 100); do
  port=$(grep -o '[0-9]*$' "$tmp/chatd.out" | head -n 1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "no port line from iomux-chatd"

# bob: IRC by hand over bash's /dev/tcp. expect PATTERN: read lines (and
# answer PINGs) until one matches, for 15 s at most.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
expect() {
  local line
  while IFS= read -r -t 15 line <&3; do
    line=${line%$'\r'}
    case $line in
    PING*) printf 'PONG %s\r\n' "${line#PING }" >&3 ;;
    $1) return 0 ;;
    esac
  done
  fail "bob: nothing like '$1' within 15 s"
}
printf 'NICK bob\r\nUSER bob 0 * :bob\r\nJOIN #t\r\n' >&3
expect ":bob!* JOIN #t"

"$weechat" --dir "$tmp/home" -r "/server add iom 127.0.0.1/$port -notls \
-nicks=wee -autojoin=#t; /connect iom; \
/wait 2 /command -buffer irc.iom.#t * /topic set by weechat; \
/wait 3 /msg -server iom #t hello from weechat; /wait 7 /quit bye" </dev/null >"$tmp/weechat.out" 2>&1 &
pids="$pids $!"

expect ":wee!* JOIN #t"
printf 'MODE #t +o wee\r\n' >&3
expect ":wee!* TOPIC #t :set by weechat"
expect ":wee!* PRIVMSG #t :hello from weechat"
printf 'PRIVMSG #t :hi weechat from bob\r\n' >&3
expect ":wee!* QUIT *"
wait "${pids##* }" || fail "weechat-headless exited with status $?"

log=$tmp/home/logs/irc.iom.#t.weechatlog
grep -q 'Channel #t: 2 nicks (1 op, 1 normal)' "$log" ||
  fail "WeeChat's NAMES of #t was not bob (op) and itself"
grep -q 'Mode #t \[+o wee\] by bob' "$log" ||
  fail "WeeChat did not see bob make it an operator"
grep -q $'bob\thi weechat from bob' "$log" ||
  fail "WeeChat did not get bob's line"
if grep -q "You're not channel operator" "$log"; then
  fail "the topic was refused"
fi
# Numeric errors (4xx/5xx) are logged by WeeChat with the server's text.
if grep -Eq 'Unknown command|not enough parameters|Erroneous|No such' \
  "$tmp/home/logs/irc.server.iom.weechatlog"; then
  fail "the server refused something WeeChat sent"
fi
echo "ok   WeeChat joined, set the topic, talked and quit; bob and WeeChat" \
  "each saw the other"
