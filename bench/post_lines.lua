-- wrk script: POST line i of the file BENCH_LINES as the form body of request i, so every
-- request carries its own client assertion (jti is single-use on both servers: a repeated
-- line would be refused as a replay). Counts every response that is not (HTTP 200 and a
-- body containing BENCH_EXPECT) as an error, like ../shared/bench/post_form.lua, and
-- reports how many requests found the file used up ("exhausted": the run needs more lines).
-- env: BENCH_LINES (file of form bodies, one a line), BENCH_EXPECT (substring)
-- Run with one thread (-t1): each thread would read the file from its first line.
local path = os.getenv("BENCH_LINES") or error("BENCH_LINES not set")
local expect = os.getenv("BENCH_EXPECT") or "access_token"
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  ok = 0; bad = 0; exhausted = 0; firstbad = ""
  lines = {}
  for line in io.lines(path) do lines[#lines + 1] = line end
  nextline = 1
end

function request()
  local body = lines[nextline]
  if body == nil then
    -- Used up: send the last line again (the server refuses it as a replay, so it counts
    -- as an error) rather than stop, and say so in the result.
    exhausted = exhausted + 1
    body = lines[#lines]
  else
    nextline = nextline + 1
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status == 200 and body and string.find(body, expect, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if firstbad == "" then firstbad = tostring(status) .. " " .. string.sub(body or "", 1, 160) end
  end
end

function done(summary, latency, requests)
  local ok_t, bad_t, ex_t, sample = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok_t = ok_t + t:get("ok"); bad_t = bad_t + t:get("bad"); ex_t = ex_t + t:get("exhausted")
    local fb = t:get("firstbad"); if sample == "" and fb ~= "" then sample = fb end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d secs=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f ok=%d bad=%d non2xx=%d sock_err=%d timeouts=%d exhausted=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, ok_t, bad_t, e.status, e.connect + e.read + e.write, e.timeout, ex_t))
  if sample ~= "" then io.write("FIRST_BAD " .. sample:gsub("\n", " ") .. "\n") end
end
