-- wrk script: each connection waits WRK_DELAY_MS milliseconds before each request, so the
-- offered load is about connections * 1000 / WRK_DELAY_MS requests/s instead of as many as
-- the server can take. wrk's latency counts from the request's send, so it is the latency at
-- that load, not the queueing of a saturated server.
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "1")

function delay()
  return delay_ms
end
