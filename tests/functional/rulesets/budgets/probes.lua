-- A rule set that tries to outrun its budgets: every way Lua re-enters rule
-- code (message handlers, __close, metamethods, callbacks), the pattern
-- functions on long text, and library calls and instructions whose work
-- grows with their input.  Used by test_rule_budgets.py: each probe must end
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

-- Library functions whose work grows with their input, and instructions
-- that read a whole string or a whole run of values, on megabytes: each
-- loops (or makes one giant call) until a budget stops it.
local MB = 1 << 20
local function big(bytes, unit) return string.rep(unit or "a", bytes // #(unit or "a")) end
local function list(n, value) local t = {} for i = 1, n do t[i] = value or i end return t end
local function long_length() return setmetatable({}, { __len = function() return 1 << 50 end }) end
local library = {
  utf8_len = function() local s = big(3 * MB) while true do utf8.len(s) end end,
  upper = function() local s = big(3 * MB) while true do s:upper() end end,
  lower = function() local s = big(3 * MB, "A") while true do s:lower() end end,
  reverse = function() local s = big(3 * MB) while true do s:reverse() end end,
  rep = function() while true do string.rep("ab", 3 * MB // 2) end end,
  rep_empty = function() while true do string.rep("", math.maxinteger) end end,
  concat_op = function() local s = big(3 * MB) while true do local _ = s .. "b" end end,
  table_concat = function() local t = list(200000, "ab") while true do table.concat(t) end end,
  format_q = function() local s = big(MB, "a\n") while true do string.format("%q", s) end end,
  byte = function() local s = big(100000) while true do s:byte(1, -1) end end,
  sub = function() local s = big(3 * MB) while true do local _ = s:sub(2) end end,
  char = function() local t = list(100000, 65) while true do string.char(table.unpack(t)) end end,
  utf8_char = function() local t = list(100000, 228) while true do utf8.char(table.unpack(t)) end end,
  codepoint = function() local s = big(100000) while true do utf8.codepoint(s, 1, -1) end end,
  offset = function() local s = big(3 * MB) while true do utf8.offset(s, 3 * MB) end end,
  codes = function() local s = "\xC3" .. big(3 * MB, "\x80") while true do for _ in utf8.codes(s, true) do end end end,
  unpack = function() local t = list(100000) while true do table.unpack(t) end end,
  move = function() table.move({}, 1, 1 << 50, 2) end,
  insert = function() table.insert(long_length(), 1, "x") end,
  remove = function() table.remove(long_length(), 1) end,
  sort = function() local t = {} for i = 1, 300000 do t[i] = (i * 7919) % 300000 end while true do table.sort(t) end end,
  sort_strings = function() local s = big(MB) local t = list(1000, s) while true do table.sort(t) end end,
  tonumber = function() local s = big(3 * MB, "1") while true do tonumber(s) end end,
  date = function() local f = string.rep("%c", 100000) while true do os.date(f, 0) end end,
  packsize = function() local f = big(3 * MB, "b") while true do string.packsize(f) end end,
}
-- One instruction each, but a whole string or value run read by each.
local instructions = {
  equal = function() local a, b = big(3 * MB), big(3 * MB) while a == b do end end,
  less = function() local a, b = big(3 * MB), big(3 * MB) while not (a < b) do end end,
  as_number = function() local s = big(3 * MB, "1") while true do local _ = s + 0 end end,
  varargs = function()
    local function spin(...) while true do local _ = select("#", ...) end end
    spin(table.unpack(list(150000)))
  end,
}

-- redress.matcher: matches over megabytes and builds of big matchers, in
-- loops until a budget stops them; matchers kept until memory runs out.
local function numbered(n) local t = {} for i = 1, n do t[i] = string.format("%010d", i) end return t end
local matchers = {
  matcher_match = function()
    local m = redress.matcher{ g = { "needle", "x" } }
    local s = big(3 * MB)
    while true do m:match(s) end
  end,
  matcher_build = function() local t = numbered(6000) while true do redress.matcher{ g = t } end end,
  matcher_keep = function()
    local t, kept = numbered(6000), {}
    while true do kept[#kept + 1] = redress.matcher{ g = t } end
  end,
}

-- What rules do with a long body costs little of the budget.
local function ordinary(body)
  local words = {}
  for word in body:lower():gmatch("%a+") do words[#words + 1] = word end
  table.sort(words)
  local joined = table.concat(words, " ", 1, math.min(#words, 2000))
  local shout = body:upper():sub(1, 100):reverse()
  return tostring(utf8.len(body)) .. " " .. #joined .. " " .. #shout .. " " .. #string.format("%q", body:sub(1, 4096))
    .. " " .. select("#", body:byte(1, 2000)) .. " " .. #os.date("%Y-%m-%d %H:%M", 0)
end

-- os.date runs a long format a piece at a time: the same text as at once.
local function date_pieces()
  local unit = "%Y-%m-%d %H:%M:%S %a %b %Ey %Od !*t %% |"
  local same = true
  for _, prefix in ipairs({ "", "!" }) do
    local whole = os.date(prefix .. unit:rep(300), 86400 * 365)
    same = same and whole == os.date(prefix .. unit, 86400 * 365):rep(300)
  end
  -- "*t" gives a table, whatever follows a NUL after it
  same = same and type(os.date("!*t\0" .. unit:rep(300), 0)) == "table"
  return same and "same" or "different"
end

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
  if library[subject] then library[subject]() return { category = "ok", reason = "the probe returned" } end
  if matchers[subject] then matchers[subject]() return { category = "ok", reason = "the probe returned" } end
  if instructions[subject] then instructions[subject]() return { category = "ok", reason = "the probe returned" } end
  if subject == "ordinary" then return { category = "ok", reason = ordinary(case.body or "") } end
  if subject == "date_pieces" then return { category = "ok", reason = date_pieces() } end
  -- Customer text through CASE.OPEN: the pattern of the issue, on the body.
  if subject == "stall" then
    return { category = string.find(case.body or "", "a.-b.-c") and "ok" or "general_inquiry" }
  end
  return { category = "general_inquiry", reason = "nothing matched" }
end

function priority(case) return { priority = "P2" } end
