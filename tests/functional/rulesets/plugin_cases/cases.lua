-- A rule set whose rules call the case_actor test plugin's functions, which act
-- on cases through the plugin case API: used by test_plugins.py (case calls
-- nested in a case call, dry runs, a RESP3 client's reply).
vocabulary = { categories = { "general_inquiry", "ok", "wrong" }, queues = { "support" } }

local probes = {
  -- case 1's customer, read through case_get (while this case's own CASE.OPEN runs, or a dry run)
  lookup = function()
    local customer = plugins.case_actor.field(1, "customer")
    return { category = customer == "C-1" and "ok" or "wrong", reason = "customer " .. tostring(customer) }
  end,
  -- case_open from a rule: its intake runs the "lookup" probe, a plugin function inside a plugin function
  open = function()
    local r = plugins.case_actor.open("C-RULE", "lookup")
    return { category = "ok",
             reason = string.format("before=%s opened=%s error=%s", tostring(r.before), tostring(r.opened),
                                    tostring(r.error)) }
  end,
}

function classify(case)
  local probe = probes[case.subject or ""]
  if probe then return probe() end
  return { category = "general_inquiry" }
end
