-- wrk script of `python -m bench`: each request carries a token taken from a pool.
--   wrk ... -s bench/wrk/tokens.lua URL -- MODE POOL_FILE [SAVE_FILE]
-- POOL_FILE holds one token a line, loaded in init().  MODE:
--   introspect  POST token=<t>, the token goes back to the end of the pool (round robin);
--   userinfo    GET with Authorization: Bearer <t>, round robin too;
--   refresh     POST grant_type=refresh_token&refresh_token=<t>: the token is used up, and
--               response() pushes the new refresh_token of the answer, so each family rotates
--               and no token is ever sent twice (a reused one would revoke its family).
-- At the end the pool left is written to SAVE_FILE, for the next run.  Client authentication
-- and Content-Type come from wrk's -H.  Prints the same JSON line as static.lua, plus "lost":
-- refresh answers without a new token.

local threads = {}
bad, lost = 0, 0
pool, first, last = {}, 1, 0  -- a queue: take at first, put after last

function setup(thread)
   table.insert(threads, thread)
end

local function put(token)
   last = last + 1
   pool[last] = token
end

local function take()
   if first > last then
      return ""  -- empty pool: the request fails and is counted
   end
   local token = pool[first]
   pool[first] = nil
   first = first + 1
   return token
end

function init(args)
   mode, save_file = args[1], args[3]
   for line in io.lines(args[2]) do
      if #line > 0 then
         put(line)
      end
   end
end

function request()
   local token = take()
   if mode == "refresh" then
      return wrk.format("POST", nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
   end
   put(token)
   if mode == "introspect" then
      return wrk.format("POST", nil, nil, "token=" .. token)
   end
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   headers["Authorization"] = "Bearer " .. token
   return wrk.format("GET", nil, headers, nil)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      bad = bad + 1
   end
   if mode == "refresh" then
      local fresh = body and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
      if fresh then
         put(fresh)
      else
         lost = lost + 1
      end
   end
end

function done(summary, latency, requests)
   local non2xx, gone = 0, 0
   for _, thread in ipairs(threads) do
      non2xx = non2xx + thread:get("bad")
      gone = gone + thread:get("lost")
      local path = thread:get("save_file")
      if path then
         local left, from, to = thread:get("pool"), thread:get("first"), thread:get("last")
         local out = assert(io.open(path, "w"))
         for i = from, to do
            if left[i] then
               out:write(left[i], "\n")
            end
         end
         out:close()
      end
   end
   local e = summary.errors
   io.write(string.format(
      '{"bench": 1, "requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, '
      .. '"non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "lost": %d}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      non2xx, e.connect, e.read, e.write, e.timeout, gone))
end
