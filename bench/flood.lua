-- wrk script: a flood of wrong secrets for a real client, each different, so that every
-- one would need an argon2 verification. env: FLOOD_CLIENT_ID, FLOOD_SECRET_ID.
local cid = os.getenv("FLOOD_CLIENT_ID") or error("FLOOD_CLIENT_ID not set")
local sid = os.getenv("FLOOD_SECRET_ID") or error("FLOOD_SECRET_ID not set")
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local counter = 0

local function b64(data)
  local b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((data:gsub(".", function(x)
    local r, byte = "", x:byte()
    for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end

function request()
  counter = counter + 1
  local chars = {}
  for i = 1, 43 do
    local n = math.random(1, #alphabet)
    chars[i] = alphabet:sub(n, n)
  end
  local secret = "apwcs_" .. sid .. "_" .. table.concat(chars)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. b64(cid .. ":" .. secret),
  }
  return wrk.format("POST", nil, headers, "grant_type=client_credentials")
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
refused, busy, other = 0, 0, 0
function response(status, headers, body)
  if status == 401 then refused = refused + 1
  elseif status == 503 then busy = busy + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local r, b, o = 0, 0, 0
  for _, t in ipairs(threads) do r = r + t:get("refused"); b = b + t:get("busy"); o = o + t:get("other") end
  io.write(string.format("FLOOD requests=%d rps=%.1f 401=%d 503=%d other=%d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), r, b, o))
end
