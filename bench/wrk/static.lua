-- wrk script of `python -m bench`: the same request again and again.
--   wrk ... -s bench/wrk/static.lua URL -- METHOD [BODY]
-- Headers (Authorization, Content-Type) come from wrk's -H.  Prints one JSON line at the end:
-- requests, seconds, p50/p99 (ms) and errors, a non-2xx answer counted as an error.

local threads = {}
bad = 0  -- global: done() reads it from each thread

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local method, body = args[1] or "GET", args[2]
   req = wrk.format(method, nil, nil, body)
end

function request()
   return req
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local non2xx = 0
   for _, thread in ipairs(threads) do
      non2xx = non2xx + thread:get("bad")
   end
   local e = summary.errors
   io.write(string.format(
      '{"bench": 1, "requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, '
      .. '"non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      non2xx, e.connect, e.read, e.write, e.timeout))
end
