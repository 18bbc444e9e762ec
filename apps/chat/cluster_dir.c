/* iomux-chatd --cluster: the directory in Redis, its keys and scripts.
 *
 * Keys (names lower-cased, rfc1459; one Redis, one database):
 *
 *   chat:nodes          hash   node id -> its origin (id/incarnation)
 *   chat:hb:<node>      string the node's heartbeat, TTL 3 s, renewed 1/s
 *   chat:nn:<node>      set    the nicks the node holds
 *   chat:users          set    every nick
 *   chat:user:<nick>    hash   node srv nick user host real signon reg inv
 *                              away (srv: the node's --name)
 *   chat:uc:<nick>      set    the user's channels
 *   chat:chans          set    every channel
 *   chat:chan:<chan>    hash   name created modes limit key topic tby tat
 *   chat:mb:<chan>      hash   member nick -> "@Nick" (op) or "Nick"
 *   chat:inv:<chan>     set    nicks invited (+i)
 *
 * Every change that must be atomic is a Lua script (Redis runs each alone):
 * a nick claim (433 when another node holds it), a join (the +i +k +l
 * checks and the first member's op), the cleanup of a dead node (its users
 * leave every channel, their QUITs are published, exactly once: the first
 * node whose reaper sees the expired heartbeat does it all, and the node
 * is no longer listed for the next). The scripts name their keys at run
 * time (no KEYS[]): fine on one Redis, not on Redis Cluster.
 *
 * Writes that follow a local event (a part, a topic, a mode) are fire and
 * forget, in order on the command connection. While the link is down they
 * are dropped: the announce after the reconnect writes the whole local
 * state (NODE_CLEAR, then every user, channel and membership of this node).
 */
#include "cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the scripts ---------------------------------------------------------------- */

#define LUA_LEAVE                                                              \
  "local function leave(lc, ln)\n"                                             \
  "  redis.call('HDEL', 'chat:mb:'..lc, ln)\n"                                 \
  "  redis.call('SREM', 'chat:uc:'..ln, lc)\n"                                 \
  "  if redis.call('HLEN', 'chat:mb:'..lc) == 0 then\n"                        \
  "    redis.call('DEL', 'chat:chan:'..lc, 'chat:mb:'..lc, 'chat:inv:'..lc)\n" \
  "    redis.call('SREM', 'chat:chans', lc)\n"                                 \
  "  end\n"                                                                    \
  "end\n"

#define LUA_DROP_USER                                                          \
  LUA_LEAVE                                                                    \
  "local function drop_user(ln)\n"                                             \
  "  local chans = redis.call('SMEMBERS', 'chat:uc:'..ln)\n"                   \
  "  for _, lc in ipairs(chans) do leave(lc, ln) end\n"                        \
  "  local node = redis.call('HGET', 'chat:user:'..ln, 'node')\n"              \
  "  redis.call('DEL', 'chat:user:'..ln, 'chat:uc:'..ln)\n"                    \
  "  redis.call('SREM', 'chat:users', ln)\n"                                   \
  "  if node then redis.call('SREM', 'chat:nn:'..node, ln) end\n"              \
  "  return chans\n"                                                           \
  "end\n"

/* A node's users leave; with an origin, their QUITs are published as that
 * origin's (seqs far above its own: see cluster_bus.c, duplicates). */
#define LUA_CLEAR_NODE                                                         \
  LUA_DROP_USER                                                                \
  "local function clear_node(id, origin, reason)\n"                            \
  "  local seq = 1000000000000000\n"                                           \
  "  for _, ln in ipairs(redis.call('SMEMBERS', 'chat:nn:'..id)) do\n"         \
  "    local u = redis.call('HMGET', 'chat:user:'..ln, 'node', 'nick',\n"      \
  "                         'user', 'host', 'reg')\n"                          \
  "    if u[1] == id then\n"                                                   \
  "      local chans = drop_user(ln)\n"                                        \
  "      if origin and u[5] == '1' and #chans > 0 then\n"                      \
  "        seq = seq + 1\n"                                                    \
  "        local p = origin..' '..string.format('%d', seq)..' Q '..\n"         \
  "          table.concat(chans, ',')..'\\n:'..u[2]..'!'..u[3]..'@'..u[4]..\n" \
  "          ' QUIT :'..reason..'\\r\\n'\n"                                    \
  "        for _, lc in ipairs(chans) do\n"                                    \
  "          redis.call('PUBLISH', 'chat:c:'..lc, p)\n"                        \
  "        end\n"                                                              \
  "      end\n"                                                                \
  "    end\n"                                                                  \
  "  end\n"                                                                    \
  "  redis.call('DEL', 'chat:nn:'..id)\n"                                      \
  "  redis.call('HDEL', 'chat:nodes', id)\n"                                   \
  "end\n"

static const char *const scripts[NET_SCRIPTS] = {
    /* CLAIM: ln node Nick old user host real signon reg inv away srv -> 1,
     * or
     * 0 when another node holds the nick. A rename moves the memberships. */
    [NET_CLAIM] =
        "local ln, node, old = ARGV[1], ARGV[2], ARGV[4]\n"
        "local k = 'chat:user:'..ln\n"
        "local cur = redis.call('HGET', k, 'node')\n"
        "if cur and cur ~= node then return 0 end\n"
        "if old ~= '' and redis.call('HGET', 'chat:user:'..old, 'node') == "
        "node then\n"
        "  local chans = redis.call('SMEMBERS', 'chat:uc:'..old)\n"
        "  for _, lc in ipairs(chans) do\n"
        "    local v = redis.call('HGET', 'chat:mb:'..lc, old)\n"
        "    if v then\n"
        "      redis.call('HDEL', 'chat:mb:'..lc, old)\n"
        "      redis.call('HSET', 'chat:mb:'..lc, ln,\n"
        "        (string.sub(v, 1, 1) == '@' and '@' or '')..ARGV[3])\n"
        "    end\n"
        "  end\n"
        "  if old ~= ln then\n"
        "    if #chans > 0 then\n"
        "      redis.call('RENAME', 'chat:uc:'..old, 'chat:uc:'..ln)\n"
        "    end\n"
        "    redis.call('DEL', 'chat:user:'..old)\n"
        "    redis.call('SREM', 'chat:nn:'..node, old)\n"
        "    redis.call('SREM', 'chat:users', old)\n"
        "  end\n"
        "end\n"
        "redis.call('HSET', k, 'node', node, 'nick', ARGV[3], 'user', ARGV[5],\n"
        "  'host', ARGV[6], 'real', ARGV[7], 'signon', ARGV[8], 'reg', "
        "ARGV[9],\n"
        "  'inv', ARGV[10], 'away', ARGV[11], 'srv', ARGV[12])\n"
        "redis.call('SADD', 'chat:nn:'..node, ln)\n"
        "redis.call('SADD', 'chat:users', ln)\n"
        "return 1\n",
    /* RELEASE: ln node: the nick goes, if this node holds it. */
    [NET_RELEASE] = LUA_DROP_USER
        "if redis.call('HGET', 'chat:user:'..ARGV[1], 'node') == ARGV[2] then\n"
        "  drop_user(ARGV[1])\n"
        "end\n"
        "return 1\n",
    /* NODE_CLAIM: id origin ttl -> 1, or the origin of the live process
     * that holds the id (its heartbeat is there). What an earlier process
     * of this id left goes (its users QUIT, "node restarted"); this
     * process's own entries (a reconnect) go silently: the announce
     * writes them again. Then the heartbeat and chat:nodes are ours. */
    [NET_NODE_CLAIM] = LUA_CLEAR_NODE
        "local id, origin = ARGV[1], ARGV[2]\n"
        "local cur = redis.call('GET', 'chat:hb:'..id)\n"
        "if cur and cur ~= origin then return cur end\n"
        "local old = redis.call('HGET', 'chat:nodes', id)\n"
        "if old and old ~= origin then\n"
        "  clear_node(id, old, 'node restarted ('..id..')')\n"
        "else\n"
        "  clear_node(id, nil, '')\n"
        "end\n"
        "redis.call('SET', 'chat:hb:'..id, origin, 'PX', ARGV[3])\n"
        "redis.call('HSET', 'chat:nodes', id, origin)\n"
        "return 1\n",
    /* NODE_LEAVE: id origin: everything of the node goes, silently (its
     * users' QUITs went out already), if the id is still this process's. */
    [NET_NODE_LEAVE] = LUA_CLEAR_NODE
        "local cur = redis.call('GET', 'chat:hb:'..ARGV[1])\n"
        "if cur and cur ~= ARGV[2] then return 0 end\n"
        "clear_node(ARGV[1], nil, '')\n"
        "redis.call('DEL', 'chat:hb:'..ARGV[1])\n"
        "return 1\n",
    /* BEAT: id origin ttl -> 1 renewed; 0 expired (this node was
     * unreachable longer than the TTL: it may have been reaped); -1 the id
     * is another process's now. */
    [NET_BEAT] =
        "local cur = redis.call('GET', 'chat:hb:'..ARGV[1])\n"
        "if cur == ARGV[2] then\n"
        "  redis.call('PEXPIRE', 'chat:hb:'..ARGV[1], ARGV[3])\n"
        "  return 1\n"
        "end\n"
        "return cur and -1 or 0\n",
    /* REAP: self -> the ids of the nodes found dead and cleared. */
    [NET_REAP] = LUA_CLEAR_NODE
        "local gone = {}\n"
        "local nodes = redis.call('HGETALL', 'chat:nodes')\n"
        "for i = 1, #nodes, 2 do\n"
        "  local id = nodes[i]\n"
        "  if id ~= ARGV[1] and redis.call('EXISTS', 'chat:hb:'..id) == 0 "
        "then\n"
        "    clear_node(id, nodes[i + 1], 'node lost ('..id..')')\n"
        "    redis.call('PUBLISH', 'chat:ctl', '- 0 X gone '..id..'\\n')\n"
        "    table.insert(gone, id)\n"
        "  end\n"
        "end\n"
        "return gone\n",
    /* JOIN: lc ln Nick Chan key now -> {0, op, name, created, modes, limit,
     * key, topic, tby, tat, {members}} or {473|475|471}. */
    [NET_JOIN] =
        "local lc, ln = ARGV[1], ARGV[2]\n"
        "local ck, mk = 'chat:chan:'..lc, 'chat:mb:'..lc\n"
        "local created = 0\n"
        "if redis.call('EXISTS', ck) == 0 then\n"
        "  redis.call('HSET', ck, 'name', ARGV[4], 'created', ARGV[6],\n"
        "    'modes', '12', 'limit', '0', 'key', '')\n"
        "  redis.call('SADD', 'chat:chans', lc)\n"
        "  created = 1\n"
        "elseif redis.call('HEXISTS', mk, ln) == 0 then\n"
        "  local s = redis.call('HMGET', ck, 'modes', 'key', 'limit')\n"
        "  local modes = tonumber(s[1]) or 0\n"
        "  if modes % 2 == 1 and\n"
        "     redis.call('SISMEMBER', 'chat:inv:'..lc, ln) == 0 then\n"
        "    return {473}\n"
        "  end\n"
        "  if s[2] and s[2] ~= '' and s[2] ~= ARGV[5] then return {475} end\n"
        "  local limit = tonumber(s[3]) or 0\n"
        "  if limit > 0 and redis.call('HLEN', mk) >= limit then\n"
        "    return {471}\n"
        "  end\n"
        "end\n"
        "redis.call('SREM', 'chat:inv:'..lc, ln)\n"
        "if redis.call('HEXISTS', mk, ln) == 0 then\n"
        "  redis.call('HSET', mk, ln, (created == 1 and '@' or '')..ARGV[3])\n"
        "end\n"
        "redis.call('SADD', 'chat:uc:'..ln, lc)\n"
        "local st = redis.call('HMGET', ck, 'name', 'created', 'modes', "
        "'limit',\n"
        "  'key', 'topic', 'tby', 'tat')\n"
        "local op = string.sub(redis.call('HGET', mk, ln), 1, 1) == '@' "
        "and 1 or 0\n"
        "return {0, op, st[1] or '', st[2] or '0', st[3] or '12', "
        "st[4] or '0',\n"
        "  st[5] or '', st[6] or '', st[7] or '', st[8] or '0',\n"
        "  redis.call('HVALS', mk)}\n",
    /* PART: lc ln */
    [NET_PART] = LUA_LEAVE "leave(ARGV[1], ARGV[2])\nreturn 1\n",
    /* TOPIC: lc topic tby tat */
    [NET_TOPIC] =
        "if redis.call('EXISTS', 'chat:chan:'..ARGV[1]) == 1 then\n"
        "  redis.call('HSET', 'chat:chan:'..ARGV[1], 'topic', ARGV[2],\n"
        "    'tby', ARGV[3], 'tat', ARGV[4])\n"
        "end\n"
        "return 1\n",
    /* MODE: lc modes limit key [ln +|-]... */
    [NET_MODE] =
        "local ck, mk = 'chat:chan:'..ARGV[1], 'chat:mb:'..ARGV[1]\n"
        "if redis.call('EXISTS', ck) == 0 then return 0 end\n"
        "redis.call('HSET', ck, 'modes', ARGV[2], 'limit', ARGV[3], "
        "'key', ARGV[4])\n"
        "for i = 5, #ARGV - 1, 2 do\n"
        "  local v = redis.call('HGET', mk, ARGV[i])\n"
        "  if v then\n"
        "    if string.sub(v, 1, 1) == '@' then v = string.sub(v, 2) end\n"
        "    redis.call('HSET', mk, ARGV[i],\n"
        "      (ARGV[i + 1] == '+' and '@' or '')..v)\n"
        "  end\n"
        "end\n"
        "return 1\n",
    /* KICK: lc ln -> {0, Nick} or {401} or {441, Nick} */
    [NET_KICK] = LUA_LEAVE
        "local u = redis.call('HMGET', 'chat:user:'..ARGV[2], 'reg', 'nick')\n"
        "if u[1] ~= '1' then return {401} end\n"
        "if redis.call('HEXISTS', 'chat:mb:'..ARGV[1], ARGV[2]) == 0 then\n"
        "  return {441, u[2]}\n"
        "end\n"
        "leave(ARGV[1], ARGV[2])\n"
        "return {0, u[2]}\n",
    /* INVITE: lc ln -> {0, Nick, away} or {401} or {443, Nick} */
    [NET_INVITE] =
        "local u = redis.call('HMGET', 'chat:user:'..ARGV[2], 'reg', 'nick', "
        "'away')\n"
        "if u[1] ~= '1' then return {401} end\n"
        "if redis.call('HEXISTS', 'chat:mb:'..ARGV[1], ARGV[2]) == 1 then\n"
        "  return {443, u[2]}\n"
        "end\n"
        "redis.call('SADD', 'chat:inv:'..ARGV[1], ARGV[2])\n"
        "return {0, u[2], u[3] or ''}\n",
    /* PRIVMSG: ln head prefix suffix -> {1, Nick, away} or {0}: published
     * to the user as head..prefix..Nick..suffix. */
    [NET_PRIVMSG] =
        "local u = redis.call('HMGET', 'chat:user:'..ARGV[1], 'reg', 'nick', "
        "'away')\n"
        "if u[1] ~= '1' then return {0} end\n"
        "redis.call('PUBLISH', 'chat:u:'..ARGV[1], "
        "ARGV[2]..ARGV[3]..u[2]..ARGV[4])\n"
        "return {1, u[2], u[3] or ''}\n",
    /* CHANMSG: lc payload -> 0 sent, 401 no channel, 404 (+n or +m) */
    [NET_CHANMSG] =
        "local m = redis.call('HGET', 'chat:chan:'..ARGV[1], 'modes')\n"
        "if not m then return 401 end\n"
        "m = tonumber(m) or 0\n"
        "if m % 8 >= 4 or m % 4 >= 2 then return 404 end\n"
        "redis.call('PUBLISH', 'chat:c:'..ARGV[1], ARGV[2])\n"
        "return 0\n",
    /* NAMES: lc inside -> {name, "@Nick", ...} or {} */
    [NET_NAMES] =
        "local name = redis.call('HGET', 'chat:chan:'..ARGV[1], 'name')\n"
        "if not name then return {} end\n"
        "local out = {name}\n"
        "local all = redis.call('HGETALL', 'chat:mb:'..ARGV[1])\n"
        "for i = 1, #all, 2 do\n"
        "  if ARGV[2] == '1' or\n"
        "     redis.call('HGET', 'chat:user:'..all[i], 'inv') ~= '1' then\n"
        "    table.insert(out, all[i + 1])\n"
        "  end\n"
        "end\n"
        "return out\n",
    /* WHO_CHAN: lc inside -> {name, (nick user host srv real away op)...} */
    [NET_WHO_CHAN] =
        "local name = redis.call('HGET', 'chat:chan:'..ARGV[1], 'name')\n"
        "if not name then return {} end\n"
        "local out = {name}\n"
        "local all = redis.call('HGETALL', 'chat:mb:'..ARGV[1])\n"
        "for i = 1, #all, 2 do\n"
        "  local u = redis.call('HMGET', 'chat:user:'..all[i], 'nick', "
        "'user',\n"
        "    'host', 'srv', 'real', 'away', 'inv')\n"
        "  if u[1] and (ARGV[2] == '1' or u[7] ~= '1') then\n"
        "    for j = 1, 6 do table.insert(out, u[j] or '') end\n"
        "    table.insert(out, string.sub(all[i + 1], 1, 1) == '@' and '@' "
        "or '')\n"
        "  end\n"
        "end\n"
        "return out\n",
    /* WHO_ALL: -> {(nick user host srv real away inv)...}, at most 10,000
     * users looked at. */
    [NET_WHO_ALL] =
        "local out = {}\n"
        "local n = 0\n"
        "for _, ln in ipairs(redis.call('SMEMBERS', 'chat:users')) do\n"
        "  n = n + 1\n"
        "  if n > 10000 then break end\n"
        "  local u = redis.call('HMGET', 'chat:user:'..ln, 'nick', 'user', "
        "'host',\n"
        "    'srv', 'real', 'away', 'inv', 'reg')\n"
        "  if u[8] == '1' then\n"
        "    for j = 1, 7 do table.insert(out, u[j] or '') end\n"
        "  end\n"
        "end\n"
        "return out\n",
    /* WHOIS: ln -> {nick user host node real away signon srv,
     * "@#chan"...} */
    [NET_WHOIS] =
        "local u = redis.call('HMGET', 'chat:user:'..ARGV[1], 'nick', 'user',\n"
        "  'host', 'node', 'real', 'away', 'signon', 'srv', 'reg')\n"
        "if u[9] ~= '1' then return {} end\n"
        "local out = {}\n"
        "for j = 1, 8 do out[j] = u[j] or '' end\n"
        "for _, lc in ipairs(redis.call('SMEMBERS', 'chat:uc:'..ARGV[1])) do\n"
        "  local v = redis.call('HGET', 'chat:mb:'..lc, ARGV[1]) or ''\n"
        "  local name = redis.call('HGET', 'chat:chan:'..lc, 'name') or lc\n"
        "  table.insert(out, (string.sub(v, 1, 1) == '@' and '@' or '')..name)\n"
        "end\n"
        "return out\n",
    /* LIST: [lc...] -> {(name count modes limit key topic)...} */
    [NET_LIST] =
        "local chans = ARGV\n"
        "if #chans == 0 then chans = redis.call('SMEMBERS', 'chat:chans') "
        "end\n"
        "local out = {}\n"
        "for _, lc in ipairs(chans) do\n"
        "  local s = redis.call('HMGET', 'chat:chan:'..lc, 'name', 'modes',\n"
        "    'limit', 'key', 'topic')\n"
        "  if s[1] then\n"
        "    table.insert(out, s[1])\n"
        "    table.insert(out, tostring(redis.call('HLEN', 'chat:mb:'..lc)))\n"
        "    for j = 2, 5 do table.insert(out, s[j] or '') end\n"
        "  end\n"
        "end\n"
        "return out\n",
    /* CHAN_INFO: lc -> {name topic tby tat modes limit key created} or {} */
    [NET_CHAN_INFO] =
        "local s = redis.call('HMGET', 'chat:chan:'..ARGV[1], 'name', "
        "'topic',\n"
        "  'tby', 'tat', 'modes', 'limit', 'key', 'created')\n"
        "if not s[1] then return {} end\n"
        "for j = 1, 8 do s[j] = s[j] or '' end\n"
        "return s\n",
    /* MEMBERS_OF: lc ln... -> for each: Nick (a member), "!Nick" (a user,
     * not a member) or "" (no such user) */
    [NET_MEMBERS_OF] =
        "local out = {}\n"
        "for i = 2, #ARGV do\n"
        "  local v = redis.call('HGET', 'chat:mb:'..ARGV[1], ARGV[i])\n"
        "  if v then\n"
        "    if string.sub(v, 1, 1) == '@' then v = string.sub(v, 2) end\n"
        "  else\n"
        "    local u = redis.call('HMGET', 'chat:user:'..ARGV[i], 'reg', "
        "'nick')\n"
        "    v = u[1] == '1' and '!'..u[2] or ''\n"
        "  end\n"
        "  out[i - 1] = v\n"
        "end\n"
        "return out\n",
    /* RESTORE_CHAN: lc name created modes limit key topic tby tat [ln v]...
     * -> the channel's state in Redis (an existing one wins) */
    [NET_RESTORE_CHAN] =
        "local lc = ARGV[1]\n"
        "local ck, mk = 'chat:chan:'..lc, 'chat:mb:'..lc\n"
        "if redis.call('EXISTS', ck) == 0 then\n"
        "  redis.call('HSET', ck, 'name', ARGV[2], 'created', ARGV[3],\n"
        "    'modes', ARGV[4], 'limit', ARGV[5], 'key', ARGV[6],\n"
        "    'topic', ARGV[7], 'tby', ARGV[8], 'tat', ARGV[9])\n"
        "  redis.call('SADD', 'chat:chans', lc)\n"
        "end\n"
        "for i = 10, #ARGV - 1, 2 do\n"
        "  redis.call('HSET', mk, ARGV[i], ARGV[i + 1])\n"
        "  redis.call('SADD', 'chat:uc:'..ARGV[i], lc)\n"
        "end\n"
        "local s = redis.call('HMGET', ck, 'modes', 'limit', 'key', 'topic',\n"
        "  'tby', 'tat')\n"
        "for j = 1, 6 do s[j] = s[j] or '' end\n"
        "return s\n",
};

int net_eval(chat_net *net, enum net_script s, redisCallbackFn *fn,
             void *data, int argc, const char **argv) {
  const char *stack[64 + 3], **all = stack;
  if (argc + 3 > (int)(sizeof stack / sizeof stack[0]) &&
      !(all = malloc(((size_t)argc + 3) * sizeof *all)))
    return -1;
  int sha = net->sha[s][0] != '\0';
  all[0] = sha ? "EVALSHA" : "EVAL";
  all[1] = sha ? net->sha[s] : scripts[s];
  all[2] = "0";
  for (int i = 0; i < argc; i++)
    all[3 + i] = argv[i];
  int rc = net_command(net, fn, data, argc + 3, all, NULL);
  if (all != stack)
    free(all);
  return rc;
}

static void on_loaded(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  redisReply *r = reply;
  char *sha = data;
  if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
    memcpy(sha, r->str, 41);
}

/* The SHA1s do not change (they are the scripts'), but a restarted Redis
 * has forgotten the scripts: each new connection loads them again, before
 * anything else, so an EVALSHA behind them always finds its script. */
void net_dir_load(chat_net *net) {
  for (int i = 0; i < NET_SCRIPTS; i++) {
    const char *argv[] = {"SCRIPT", "LOAD", scripts[i]};
    if (net->cmd)
      redisAsyncCommandArgv(net->cmd, on_loaded, net->sha[i], 3, argv, NULL);
  }
}

typedef struct id_claim {
  chat_net *net;
  void (*done)(chat_net *net, const char *holder);
} id_claim;

static void on_id(redisAsyncContext *ac, void *reply, void *data) {
  id_claim *a = data;
  redisReply *r = reply;
  if (r && a->net->cmd == ac) {
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
      a->done(a->net, NULL);
    else if (r->type == REDIS_REPLY_STRING)
      a->done(a->net, r->str);
    else
      a->done(a->net, r->type == REDIS_REPLY_ERROR ? r->str : "?");
  }
  free(a);
}

/* Before the link counts as up: the script text itself (EVAL), since the
 * loads may not have been answered yet. */
void net_dir_claim_node(chat_net *net,
                        void (*done)(chat_net *net, const char *holder)) {
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", NET_HEARTBEAT_MS);
  const char *argv[] = {"EVAL", scripts[NET_NODE_CLAIM], "0", net->node,
                        net->origin, ttl};
  id_claim *a = malloc(sizeof *a);
  if (!a)
    return;
  *a = (id_claim){net, done};
  if (!net->cmd ||
      redisAsyncCommandArgv(net->cmd, on_id, a, 6, argv, NULL) != REDIS_OK)
    free(a);
}

/* ---- writes after local events ---------------------------------------------- */

static void lower(char *dst, const char *src) {
  net_lower(dst, NET_NAME_MAX + 1, src);
}

int net_claim_args(chat_net *net, irc_client *c, const char *nick,
                   const char *old, const char **argv, char bufs[][32]) {
  /* bufs: [0] ln, [1] old ln, [2] signon */
  lower(bufs[0], nick);
  if (old && *old)
    lower(bufs[1], old);
  else
    bufs[1][0] = '\0';
  snprintf(bufs[2], 32, "%lld", (long long)c->signon);
  argv[0] = bufs[0];
  argv[1] = net->node;
  argv[2] = nick;
  argv[3] = bufs[1];
  argv[4] = c->user[0] ? c->user : "~";
  argv[5] = c->host;
  argv[6] = c->real;
  argv[7] = bufs[2];
  argv[8] = c->registered ? "1" : "0";
  argv[9] = c->invisible ? "1" : "0";
  argv[10] = c->away ? c->away : "";
  argv[11] = c->srv->opts->name;
  return 12;
}

void net_dir_user(chat_net *net, irc_client *c) {
  const char *argv[12];
  char bufs[3][32];
  int n = net_claim_args(net, c, c->nick, c->nick, argv, bufs);
  net_eval(net, NET_CLAIM, NULL, NULL, n, argv);
}

void net_dir_release(chat_net *net, const char *nick) {
  char ln[NET_NAME_MAX + 1];
  lower(ln, nick);
  const char *argv[] = {ln, net->node};
  net_eval(net, NET_RELEASE, NULL, NULL, 2, argv);
}

void net_dir_part(chat_net *net, const char *chan, const char *nick) {
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  lower(lc, chan);
  lower(ln, nick);
  const char *argv[] = {lc, ln};
  net_eval(net, NET_PART, NULL, NULL, 2, argv);
}

void net_dir_topic(chat_net *net, irc_channel *ch) {
  char lc[NET_NAME_MAX + 1], at[32];
  lower(lc, ch->name);
  snprintf(at, sizeof at, "%lld", (long long)ch->topic_at);
  const char *argv[] = {lc, ch->topic ? ch->topic : "",
                        ch->topic_by ? ch->topic_by : "", at};
  net_eval(net, NET_TOPIC, NULL, NULL, 4, argv);
}

/* ops: "+nick,-nick" */
void net_dir_mode(chat_net *net, irc_channel *ch, const char *ops) {
  char lc[NET_NAME_MAX + 1], modes[16], limit[16], list[IRC_LINE];
  char lns[IRC_MODES * 2][NET_NAME_MAX + 1];
  const char *argv[4 + IRC_MODES * 4];
  lower(lc, ch->name);
  snprintf(modes, sizeof modes, "%u", ch->modes);
  snprintf(limit, sizeof limit, "%u", ch->limit);
  snprintf(list, sizeof list, "%s", ops);
  int n = 0;
  argv[n++] = lc;
  argv[n++] = modes;
  argv[n++] = limit;
  argv[n++] = ch->key ? ch->key : "";
  int k = 0;
  for (char *op = strtok(list, ","); op && k < IRC_MODES * 2;
       op = strtok(NULL, ","), k++) {
    lower(lns[k], op + 1);
    argv[n++] = lns[k];
    argv[n++] = op[0] == '+' ? "+" : "-";
  }
  net_eval(net, NET_MODE, NULL, NULL, n, argv);
}

/* ---- the announce ------------------------------------------------------------------ */

typedef struct announce {
  chat_net *net;
  void (*done)(chat_net *net);
} announce;

/* A claim of the announce came back 0: while the link was down another
 * node's user took the nick. The local one goes (as ircds do on a nick
 * collision). */
static void on_reclaim(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  char *nick = data;
  redisReply *r = reply;
  chat_net *net = NULL;
  (void)net;
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
    irc_server *srv = ((chat_net *)ac->data)->srv;
    irc_client *c = chat_names_get(&srv->nicks, nick);
    if (c)
      irc_drop(c, "Nick collision");
  }
  free(nick);
}

/* RESTORE_CHAN's answer: Redis's state of the channel (another node's,
 * if it came back first) becomes the local copy's. */
static void on_restored(redisAsyncContext *ac, void *reply, void *data) {
  char *name = data;
  redisReply *r = reply;
  irc_server *srv = ((chat_net *)ac->data)->srv;
  irc_channel *ch = irc_chan_find(srv, name);
  free(name);
  if (!ch || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 6)
    return;
  ch->modes = (unsigned)strtoul(net_str(r, 0), NULL, 10);
  ch->limit = (uint32_t)strtoul(net_str(r, 1), NULL, 10);
  free(ch->key);
  ch->key = *net_str(r, 2) ? strdup(net_str(r, 2)) : NULL;
  free(ch->topic);
  free(ch->topic_by);
  ch->topic = *net_str(r, 3) ? strdup(net_str(r, 3)) : NULL;
  ch->topic_by = ch->topic ? strdup(net_str(r, 4)) : NULL;
  ch->topic_at = (time_t)strtoll(net_str(r, 5), NULL, 10);
}

static void announce_chan(chat_net *net, irc_channel *ch) {
  size_t n = 9 + 2 * (size_t)ch->nmembers;
  const char **argv = malloc(n * sizeof *argv);
  char (*vals)[IRC_NICKLEN + 2] = malloc(ch->nmembers * sizeof *vals + 1);
  char (*lns)[NET_NAME_MAX + 1] = malloc(ch->nmembers * sizeof *lns + 1);
  char *name = strdup(ch->name);
  char lc[NET_NAME_MAX + 1], created[32], modes[16], limit[16], at[32];
  if (!argv || !vals || !lns || !name)
    goto out;
  lower(lc, ch->name);
  snprintf(created, sizeof created, "%lld", (long long)ch->created);
  snprintf(modes, sizeof modes, "%u", ch->modes);
  snprintf(limit, sizeof limit, "%u", ch->limit);
  snprintf(at, sizeof at, "%lld", (long long)ch->topic_at);
  const char *fixed[] = {lc, ch->name, created, modes, limit,
                         ch->key ? ch->key : "", ch->topic ? ch->topic : "",
                         ch->topic_by ? ch->topic_by : "", at};
  memcpy(argv, fixed, sizeof fixed);
  size_t k = 9;
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    irc_member *m = ch->members[i];
    lower(lns[i], m->cl->nick);
    snprintf(vals[i], sizeof vals[i], "%s%s", m->op ? "@" : "", m->cl->nick);
    argv[k++] = lns[i];
    argv[k++] = vals[i];
  }
  if (net_eval(net, NET_RESTORE_CHAN, on_restored, name, (int)k, argv) == 0)
    name = NULL;
out:
  free(name);
  free(argv);
  free(vals);
  free(lns);
}

static void on_announced(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  announce *a = data;
  if (reply && a->net->cmd == ac)
    a->done(a->net);
  free(a);
}

void net_dir_announce(chat_net *net, void (*done)(chat_net *net)) {
  irc_server *srv = net->srv;
  for (irc_client *c = srv->clients.next; c != &srv->clients; c = c->next) {
    if (!c->nick[0] || c->phase != IRC_ACTIVE)
      continue;
    const char *argv[12];
    char bufs[3][32];
    int n = net_claim_args(net, c, c->nick, "", argv, bufs);
    char *nick = strdup(c->nick);
    if (nick && net_eval(net, NET_CLAIM, on_reclaim, nick, n, argv) < 0)
      free(nick);
  }
  size_t pos = 0;
  irc_channel *ch;
  while ((ch = chat_names_next(&srv->chans, &pos)))
    announce_chan(net, ch);
  announce *a = malloc(sizeof *a);
  const char *ping[] = {"PING"};
  if (a) {
    *a = (announce){net, done};
    if (net_command(net, on_announced, a, 1, ping, NULL) < 0)
      free(a);
  }
}

/* ---- the tick, the leave ------------------------------------------------------------ */

static void on_reaped(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || r->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t i = 0; i < r->elements; i++) {
    fprintf(stderr, "iomux-chatd: cluster %s: node %s lost (heartbeat "
                    "expired): its users have quit\n",
            net->node, net_str(r, i));
    net_bus_forget_node(net, net_str(r, i));
  }
}

/* The heartbeat's answer: anything but "renewed" means this node's place
 * in the directory is not certain any more: it goes through the whole
 * (re)connect, which claims the id again and announces everything. */
static void on_beat(redisAsyncContext *ac, void *reply, void *data) {
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || net->cmd != ac || r->type != REDIS_REPLY_INTEGER ||
      r->integer == 1)
    return;
  fprintf(stderr, "iomux-chatd: cluster %s: %s: connecting again\n",
          net->node,
          r->integer == 0 ? "the heartbeat had expired (Redis was out of "
                            "reach too long: this node may have been reaped)"
                          : "another process has taken this node id");
  net_link_lost(net, NULL);
}

void net_dir_tick(chat_net *net, int reap) {
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", NET_HEARTBEAT_MS);
  const char *beat[] = {net->node, net->origin, ttl};
  net_eval(net, NET_BEAT, on_beat, net, 3, beat);
  if (reap) {
    const char *argv[] = {net->node};
    net_eval(net, NET_REAP, on_reaped, net, 1, argv);
  }
}

void net_dir_leave(chat_net *net) {
  const char *argv[] = {net->node, net->origin};
  net_eval(net, NET_NODE_LEAVE, NULL, NULL, 2, argv);
}
