-- wrk script for bench/rest-registry: identity registry REST API load.
--
--   wrk ... -s bench/wrk/registry.lua https://localhost:443 -- put TOKEN PREFIX
--       PUT /devices/{PREFIX}-{thread}-{n}: every request creates a new device
--       (a per-thread counter, the wrk thread number in the id, so ids never collide).
--   wrk ... -s bench/wrk/registry.lua https://localhost:443 -- get TOKEN COUNT
--       GET /devices/g-{i} round-robin over COUNT devices created beforehand
--       (each thread starts at a different offset).
--
-- done() prints one machine-readable line, "BENCH key=value ...", that the bench script
-- parses (latencies in microseconds; status_errors = responses that were not 2xx/3xx).

local API = "?api-version=2021-04-12"
local threads = {}
local thread_count = 0

function setup(thread)
    thread:set("tid", thread_count)
    thread_count = thread_count + 1
    table.insert(threads, thread)
end

local mode, token, prefix, count
local n = 0
local gets = {}

function init(args)
    mode, token = args[1], args[2]
    if mode == "put" then
        prefix = args[3] .. "-" .. tostring(tid)
    elseif mode == "get" then
        count = tonumber(args[3])
        -- Pre-format every GET so that Lua costs wrk as little as possible per request.
        local headers = {["Authorization"] = token}
        for i = 0, count - 1 do
            gets[i] = wrk.format("GET", "/devices/g-" .. i .. API, headers)
        end
        n = (tid * 97) % count
    else
        error("registry.lua: mode must be put or get")
    end
end

function request()
    if mode == "get" then
        local r = gets[n]
        n = (n + 1) % count
        return r
    end
    local id = prefix .. "-" .. n
    n = n + 1
    return wrk.format("PUT", "/devices/" .. id .. API, {
        ["Authorization"] = token,
        ["Content-Type"] = "application/json; charset=utf-8",
    }, '{"deviceId":"' .. id .. '"}')
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.status, e.connect, e.read, e.write, e.timeout))
end
