-- A rule set that calls plugin functions (the skeleton and probe test
-- plugins) and misuses them: used by test_plugins.py.
vocabulary = { categories = { "general_inquiry", "ok", "wrong" }, queues = { "support" } }

local probes = {
  greet = function() return plugins.skeleton.greet("rule") end,
  greet_long = function() return plugins.skeleton.greet(string.rep("x", 150)) end,
  facts = function()
    local f = plugins.skeleton.facts("two words")
    return f.text == "two words" and f.length == 9 and f.words[1] == "two" and f.words[2] == "words" and #f.words == 2
  end,
  echo = function()
    local r = plugins.probe.echo(7, 2.5, "s\0t", true, nil)
    return #r == 5 and r[1].type == "integer" and r[1].value == 7 and math.type(r[1].value) == "integer"
      and r[2].type == "number" and r[2].value == 2.5 and r[3].value == "s\0t" and r[4].value == true
      and r[5].type == "nil" and r[5].value == nil
  end,
  missing = function() return plugins.nosuch == nil and plugins.failing_init == nil end,
  pcall_fail = function() local ok, why = pcall(plugins.probe.fail); return not ok and why:find("on purpose") ~= nil end,
  table_arg = function() return plugins.probe.echo({}) end,
  function_arg = function() return plugins.probe.echo(print or tostring) end,
  many_args = function() return plugins.probe.echo(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17) end,
  deep = function() return plugins.probe.deep(100) end,
  deep_ok = function() local t = plugins.probe.deep(60); for _ = 1, 60 do t = t.x end; return t == 1 end,
  big = function() return plugins.probe.big(2000000) end,
  memory = function() local keep = {}; for i = 1, 100 do keep[i] = plugins.probe.big(1000000) end; return #keep end,
  spin = function() return plugins.probe.spin(400) end,
  loop = function() while true do plugins.skeleton.greet("x") end end,
  fail = function() return plugins.probe.fail() end,
  two = function() return plugins.probe.two() end,
  keep = function() return plugins.probe.keep() end,
  stale = function() return plugins.probe.stale() end,
  patch = function() plugins.skeleton.greet = nil; return true end,
  patch_namespace = function() plugins.extra = {}; return true end,
}

function classify(case)
  local subject = case.subject or ""
  local probe = probes[subject]
  if probe then
    local result = probe()
    if subject == "greet" or subject == "greet_long" then return { category = "ok", reason = result } end
    return { category = result == true and "ok" or "wrong", reason = tostring(result) }
  end
  return { category = "general_inquiry" }
end
