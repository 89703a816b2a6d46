-- introspect.lua — wrk script for POST /oauth/introspect (RFC 7662 / RFC 9701).
--
--   wrk -t1 -c32 -d10s -s tests/bench/introspect.lua http://127.0.0.1:8400 -- \
--       TOKEN 'Basic <base64 id:secret>' [application/token-introspection+jwt]
--
-- Every request introspects the same token as the same caller (a resource server); the
-- optional third argument becomes the Accept header (signed JWT responses). Non-2xx answers
-- are counted and printed at the end, so a misconfigured run (rate limit on, wrong secret)
-- is visible instead of being measured as fast errors.
local token, auth, accept

function init(args)
   token = args[1] or error("usage: -- TOKEN AUTHORIZATION [ACCEPT]")
   auth = args[2] or error("usage: -- TOKEN AUTHORIZATION [ACCEPT]")
   accept = args[3]
   local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = auth,
   }
   if accept then headers["Accept"] = accept end
   wrk.method = "POST"
   wrk.path = "/oauth/introspect"
   wrk.headers = headers
   wrk.body = "token=" .. token
   req = wrk.format()
end

function request()
   return req
end

non2xx = 0
function response(status, headers, body)
   if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
   io.write(string.format("non2xx(thread-local, last thread)=%d  p50=%.0fus p99=%.0fus\n",
                          non2xx, latency:percentile(50), latency:percentile(99)))
end
