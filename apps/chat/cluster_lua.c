/* iomux-chatd --cluster: the Lua scripts of the directory (cluster_dir.c
 * has the keys and runs them). Redis runs a script alone, so each is
 * atomic: a nick claim, a join's checks, a dead node's cleanup. They name
 * their keys at run time (no KEYS[]): one Redis, not Redis Cluster.
 */
#include "cluster_int.h"

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

const char *const net_scripts[NET_SCRIPTS] = {
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
