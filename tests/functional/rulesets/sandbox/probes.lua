-- A rule set that attacks its own sandbox: each probe reports whether the
-- attack worked ("escaped") or was stopped ("ok").  Used by test_rules.py.
vocabulary = { categories = { "general_inquiry", "ok", "escaped", "product_quality" },
               queues = { "support", "tech" } }

local probes = {
  io = function() return io ~= nil end,
  os_execute = function() return os.execute ~= nil end,
  os_getenv = function() return os.getenv ~= nil end,
  os_remove = function() return os.remove ~= nil end,
  require = function() return require ~= nil end,
  load = function() return load ~= nil end,
  loadstring = function() return loadstring ~= nil end,
  dofile = function() return dofile ~= nil end,
  loadfile = function() return loadfile ~= nil end,
  package = function() return package ~= nil end,
  debug = function() return debug ~= nil end,
  coroutine = function() return coroutine ~= nil end,
  print = function() return print ~= nil end,
  string_dump = function() return string.dump ~= nil end,
  rawset = function() return rawset ~= nil end,
  collectgarbage = function() return collectgarbage ~= nil end,
  string_metatable = function() return type(getmetatable("")) == "table" end,
  patch_string = function() string.lower = function() return "x" end; return true end,
  patch_math = function() math.floor = nil; return true end,
  set_global = function() leaked = 1; return true end,
  patch_hook = function() classify = nil; return true end,
  gc_metamethod = function() setmetatable({}, { __gc = function() end }); return true end,
  unseal_environment = function() setmetatable(_ENV, nil); return true end,
  redress_patch = function() redress.recent = nil; return true end,
  real_time = function() return os.time() ~= 1790000000 end,  -- must be the daemon's clock
}

function classify(case)
  local subject = case.subject or ""
  local probe = probes[subject]
  if probe then
    local ran, escaped = pcall(probe)
    return { category = (ran and escaped) and "escaped" or "ok", reason = tostring(escaped) }
  end
  if subject == "loop" then while true do end end
  if subject == "pcall_loop" then
    while true do pcall(function() while true do end end) end
  end
  if subject == "rep_bomb" then local s = string.rep("x", 1 << 30); return { category = "ok", reason = #s } end
  if subject == "memory" then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("y", 1000) .. i end
  end
  if subject == "recursion" then
    local function down(n) return down(n + 1) + 1 end
    down(1)
  end
  if subject == "pattern_bomb" then
    -- exponential backtracking: the matcher's steps count as instructions
    return { category = string.find(string.rep("a", 30000), string.rep("a*", 12) .. "b") and "escaped" or "ok" }
  end
  if subject == "pattern_bomb_method" then
    local text = string.rep("a", 30000)
    return { category = text:match(string.rep("a-", 12) .. "b") and "escaped" or "ok" }
  end
  if subject == "long_pattern" then
    return { category = string.find("x", string.rep("x?", 200)) and "ok" or "ok" }
  end
  if subject == "plain_find" then
    -- a plain find is not a pattern: any length, any characters
    return { category = string.find(string.rep("*", 1000) .. "b", string.rep("*", 300), 1, true) and "ok" or "escaped" }
  end
  if subject == "metamethod" then
    local t = setmetatable({}, { __index = function() error("boom from a metamethod") end })
    return { category = t.category }
  end
  if subject == "bad_category" then return { category = "nonsense" } end
  if subject == "bad_type" then return { category = 42 } end
  if subject == "not_a_table" then return "general_inquiry" end
  if subject == "bad_tag" then return { category = "ok", tags = { "has space" } } end
  if subject == "trap_table" then
    -- the host reads raw: this __index must never run
    return setmetatable({}, { __index = function() while true do end end })
  end
  if string.find(subject, "broken", 1, true) then
    return { category = "product_quality", queue = "tech", tags = { "damaged" }, faq = { "faq-1" },
             reason = "matched broken" }
  end
  if subject == "faq_invoice" then
    return { category = "general_inquiry", auto_reply = "Invoices are under Orders > Invoice.", resolve = true,
             reason = "faq hit" }
  end
  return { category = "general_inquiry", reason = "nothing matched" }
end

function priority(case)
  if case.subject == "bad_priority" then return { priority = "P9" } end
  if redress.recent("category:" .. case.category, 3600) >= 3 then
    return { priority = "P1", reason = "spike" }
  end
  return { priority = "P2", reason = "category " .. case.category }
end

function refund(case)
  if case.refund_reason == "negative_cap" then return { decision = "approve", cap = -1 } end
  return { decision = "review", role = "finance", cap = case.amount, reason = "all refunds reviewed" }
end
