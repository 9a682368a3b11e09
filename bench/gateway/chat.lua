-- gureum gateway-overhead benchmark: wrk script (driven by bench/gateway/run.py).
-- POSTs an OpenAI chat.completions body (or an embeddings body) and prints one JSON summary line.
-- env: WRK_KIND (chat | embeddings, default chat), WRK_PATH (default /v1/chat/completions, or
--      /v1/embeddings for WRK_KIND=embeddings), WRK_MODEL (gpt-mock / emb-mock), WRK_STREAM (0/1, chat only),
--      WRK_KEY (bearer token, optional), WRK_LABEL (free text copied into the JSON)
local kind   = os.getenv("WRK_KIND") or "chat"
local emb    = kind == "embeddings"
local path   = os.getenv("WRK_PATH") or (emb and "/v1/embeddings" or "/v1/chat/completions")
local model  = os.getenv("WRK_MODEL") or (emb and "emb-mock" or "gpt-mock")
local stream = (os.getenv("WRK_STREAM") or "0") == "1"
local key    = os.getenv("WRK_KEY")
local label  = os.getenv("WRK_LABEL") or ""

wrk.method = "POST"
wrk.path   = path
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
if emb then
  wrk.body = '{"model":"' .. model .. '","input":"Hello, how are you today? Please answer briefly."}'
else
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are a helpful assistant."},' ..
           '{"role":"user","content":"Hello, how are you today? Please answer briefly."}],"max_tokens":32' ..
           (stream and ',"stream":true' or '') .. '}'
end

-- non-2xx/3xx responses are counted by wrk itself (summary.errors.status); no response() hook,
-- which keeps wrk on its fast path.

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"lat_mean_ms":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    label, summary.requests, secs, summary.requests / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
