-- wrk script for bench/issuance.sh: POST one JSON body, count responses by status.
-- Parameters come from the environment (wrk passes it to every thread's Lua state):
--   BENCH_BODY        file holding the JSON request body (required)
--   BENCH_TOKEN_FILE  file holding a bearer token (optional; adds Authorization)
--   BENCH_EXPECT      the status every response must have (e.g. 201 for moor, 200 for cfssl)
-- done() prints one line that issuance.sh parses:
--   BENCH good=N bad=N p50_us=N p99_us=N first_bad="..."

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

local body_path = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
wrk.method = "POST"
wrk.body = slurp(body_path)
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local token_path = os.getenv("BENCH_TOKEN_FILE")
if token_path and token_path ~= "" then
  local token = slurp(token_path):gsub("%s+", "")
  wrk.headers["Authorization"] = "Bearer " .. token
end
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good, bad, first_bad = 0, 0, ""
end

function response(status, headers, body)
  if status == expect then
    good = good + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = (tostring(status) .. " " .. string.sub(body or "", 1, 200)):gsub("%c", " ")
    end
  end
end

function done(summary, latency, requests)
  local g, b, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    if fb == "" then fb = t:get("first_bad") end
  end
  io.write(string.format("BENCH good=%d bad=%d p50_us=%d p99_us=%d first_bad=%q\n",
    g, b, latency:percentile(50), latency:percentile(99), fb))
end
