-- A rule set that tries to outrun its budgets: every way Lua re-enters rule
-- code (message handlers, __close, metamethods, callbacks) and the pattern
-- functions on long text.  Used by test_rule_budgets.py: each probe must end
-- in a -RULE budget error, quickly, while the daemon keeps serving.
vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }

local function loop() while true do end end
local function looping_mt(name) return setmetatable({}, { [name] = loop }) end

local probes = {
  -- message handlers
  xpcall_handler_loops = function() xpcall(loop, loop) end,
  xpcall_handler_loops_on_plain_error = function() xpcall(function() error("plain") end, loop) end,
  xpcall_handler_pcalls_loop = function() xpcall(loop, function() pcall(loop); loop() end) end,
  xpcall_nested = function() xpcall(function() xpcall(loop, loop) end, loop) end,
  xpcall_in_handler = function() xpcall(error, function() xpcall(loop, loop); loop() end) end,
  xpcall_under_pcall = function() while true do pcall(xpcall, loop, loop) end end,
  xpcall_handler_rethrows = function() xpcall(loop, function(e) error(e) end) end,
  xpcall_handler_tostring_loops = function()
    xpcall(function() error(looping_mt("__tostring")) end, function(e) return tostring(e) end)
  end,
  xpcall_handler_builds_string = function() xpcall(loop, function() return string.rep("x", 1 << 40) end) end,
  -- to-be-closed variables
  close_loops = function() do local guard <close> = looping_mt("__close") end end,
  close_loops_while_unwinding = function() local guard <close> = looping_mt("__close"); loop() end,
  close_pcalls_loop = function()
    pcall(function()
      local guard <close> = setmetatable({}, { __close = function() pcall(loop); loop() end })
      error("unwind")
    end)
  end,
  -- metamethods
  index_loops = function() return looping_mt("__index").x end,
  newindex_loops = function() looping_mt("__newindex").x = 1 end,
  call_loops = function() looping_mt("__call")() end,
  eq_loops = function() local mt = { __eq = loop }; return setmetatable({}, mt) == setmetatable({}, mt) end,
  lt_loops = function() local mt = { __lt = loop }; return setmetatable({}, mt) < setmetatable({}, mt) end,
  le_loops = function() local mt = { __le = loop }; return setmetatable({}, mt) <= setmetatable({}, mt) end,
  concat_loops = function() return looping_mt("__concat") .. "x" end,
  len_loops = function() return #looping_mt("__len") end,
  tostring_loops = function() return tostring(looping_mt("__tostring")) end,
  -- library callbacks
  gsub_function_loops = function() return string.gsub("abc", "%w", loop) end,
  gsub_table_index_loops = function() return string.gsub("abc", "%w", looping_mt("__index")) end,
  gmatch_body_loops = function() for _ in string.gmatch("abc", ".") do loop() end end,
  sort_comparator_loops = function() table.sort({ 3, 2, 1, 5, 4 }, loop) end,
  -- a spent budget cannot be turned into an answer
  error_after_spent = function() pcall(loop); error("something else went wrong") end,
}

-- Tail calls: nothing of the rule runs after the stop, so no instruction
-- is left to raise it again; the host must not take the result.
local swallows = {
  swallow_tail_pcall = function() return pcall(loop) end,
  swallow_tail_xpcall = function() return xpcall(loop, function() return { category = "ok" } end) end,
  swallow_handler_decides = function() return select(2, xpcall(loop, function() return { category = "ok" } end)) end,
  -- the return closes `guard` after its value is ready: no instruction follows
  swallow_close_on_return = function()
    local guard <close> = setmetatable({}, { __close = function() return pcall(loop) end })
    return { category = "ok" }
  end,
}

local function pattern_probe(case)
  local text, pattern, fn = case.body or "", case.pattern, case.fn
  local result
  if fn == "find" then result = string.find(text, pattern)
  elseif fn == "match" then result = string.match(text, pattern)
  elseif fn == "method" then result = text:find(pattern)
  elseif fn == "gmatch" then
    result = 0
    for _ in string.gmatch(text, pattern) do result = result + 1 end
  elseif fn == "gsub" then result = select(2, string.gsub(text, pattern, "<%0>"))
  elseif fn == "gsub_function" then result = select(2, string.gsub(text, pattern, function(w) return w end))
  end
  return { category = "ok", reason = tostring(result) }
end

function classify(case)
  local subject = case.subject or ""
  if probes[subject] then
    probes[subject]()
    return { category = "ok", reason = "the probe returned" }
  end
  if swallows[subject] then return swallows[subject]() end
  if subject == "gc" then
    local ran, why = pcall(setmetatable, {}, { __gc = false })
    return { category = "ok", reason = ran and "accepted" or why }
  end
  if subject == "error_object_tostring" then error(looping_mt("__tostring")) end
  if subject == "pattern" then return pattern_probe(case) end
  -- Customer text through CASE.OPEN: the pattern of the issue, on the body.
  if subject == "stall" then
    return { category = string.find(case.body or "", "a.-b.-c") and "ok" or "general_inquiry" }
  end
  return { category = "general_inquiry", reason = "nothing matched" }
end

function priority(case) return { priority = "P2" } end
