-- Benchmark rule set (tests/bench/plugins.sh): classify greets the customer
-- either through the skeleton plugin's Lua function or in plain Lua, so the
-- two RULES.EVAL runs differ only by the plugin call.
vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }

function classify(case)
  local greeting
  if case.subject == "plugin" then
    greeting = plugins.skeleton.greet(case.customer)
  else
    greeting = "hello, " .. case.customer
  end
  return { category = "general_inquiry", reason = greeting }
end
