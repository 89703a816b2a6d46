-- scenario.lua — the one wrk script of the benchmark (tests/bench/run.sh passes its arguments).
--
--   wrk ... -s scenario.lua URL -- method=POST path=/oauth/token pool=FILE mode=once \
--       body='grant_type=refresh_token&refresh_token=@T@' auth='Basic ...' strict=1
--
-- Arguments (key=value):
--   method, path   the request line (path may contain @T@)
--   body           the POST body (form-encoded; @T@ is replaced by the current pool entry)
--   auth           the Authorization header value (@T@ replaced too), e.g. "Bearer @T@"
--   cookie         a Cookie header value
--   xh             one more header, "Name: value" (e.g. X-Original-URI for forward-auth)
--   ctype          Content-Type of the body (default application/x-www-form-urlencoded)
--   pool           a file of tokens/codes, one per line; each wrk thread takes every
--                  nthreads-th line (disjoint slices), so no entry is sent by two threads
--   mode           "cycle": walk the slice round and round (reusable tokens)
--                  "once":  every entry is sent at most once (single-use codes, refresh
--                           tokens, tokens to revoke); when a thread's slice runs out it stops
--                           and reports it ("exhausted"): the figure is then a lower bound
--   strict=1       count every response that is not 2xx (defines response(), which costs the
--                  client some CPU; used by --quick, where speed does not matter)
-- done() prints one line that run.sh parses:
--   RESULT requests=… duration_us=… rps=… p50_us=… p99_us=… errors=… non2xx=… exhausted=…

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local method, path, body, headers
local pool, npool, pos = nil, 0, 0
local once = false
non2xx = 0
exhausted = 0
exhausted_after = 0
sent = 0
local t0 = 0

local function now_s()
   local p = io.popen("date +%s.%N")
   local v = tonumber(p:read("*l"))
   p:close()
   return v
end

function init(args)
   local o = { method = "GET", path = "/", ctype = "application/x-www-form-urlencoded",
               mode = "cycle" }
   for _, a in ipairs(args) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if k then o[k] = v end
   end
   method, path, body = o.method, o.path, o.body
   once = o.mode == "once"
   headers = {}
   if body then headers["Content-Type"] = o.ctype end
   if o.auth then headers["Authorization"] = o.auth end
   if o.cookie then headers["Cookie"] = o.cookie end
   if o.xh then
      local n, v = o.xh:match("^([^:]+):%s*(.*)$")
      if n then headers[n] = v end
   end
   local nthreads = tonumber(o.nthreads or "1")
   if o.pool then
      pool = {}
      local i = 0
      for line in io.lines(o.pool) do
         if line ~= "" then
            if i % nthreads == tid then
               npool = npool + 1
               pool[npool] = line
            end
            i = i + 1
         end
      end
      if npool == 0 then
         io.stderr:write("scenario.lua: thread " .. tid .. " got no entries from " .. o.pool .. "\n")
         os.exit(2)
      end
   end
   if o.strict == "1" then
      response = function(status, hdrs, b)
         if status < 200 or status > 299 then non2xx = non2xx + 1 end
      end
   end
   if once then t0 = now_s() end
end

local function subst(s, t)
   if not s then return nil end
   return (s:gsub("@T@", t))
end

function request()
   local t = ""
   if pool then
      pos = pos + 1
      if pos > npool then
         if once then
            if exhausted == 0 then
               exhausted = 1
               exhausted_after = now_s() - t0
               wrk.thread:stop()
            end
            pos = npool -- a used entry; this thread stops before its answer is read
         else
            pos = 1
         end
      end
      t = pool[pos]
   end
   sent = sent + 1
   local h = headers
   if headers["Authorization"] then
      h = {}
      for k, v in pairs(headers) do h[k] = v end
      h["Authorization"] = subst(headers["Authorization"], t)
   end
   return wrk.format(method, subst(path, t), h, subst(body, t))
end

function done(summary, latency, requests)
   local n2, ex, last = 0, 0, 0
   for _, th in ipairs(threads) do
      n2 = n2 + (tonumber(th:get("non2xx")) or 0)
      if (tonumber(th:get("exhausted")) or 0) > 0 then
         ex = ex + 1
         local a = tonumber(th:get("exhausted_after")) or 0
         if a > last then last = a end
      end
   end
   local e = summary.errors
   local errs = e.connect + e.read + e.write + e.timeout
   local dur = summary.duration
   if ex == #threads and last > 0 and last * 1e6 < dur then
      dur = last * 1e6 -- every thread ran out early: the rate over the time they ran
   end                 -- (when only some did, the full duration: a lower bound)
   io.write(string.format(
      "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%.1f p99_us=%.1f errors=%d status_errors=%d non2xx=%d exhausted=%d\n",
      summary.requests, summary.duration, summary.requests / (dur / 1e6),
      latency:percentile(50), latency:percentile(99), errs, e.status, n2, ex))
end
