function test_plugin_and_lua_greet_alike()
  mock_plugin("skeleton", { greet = function(name) return "hello, " .. name end })
  local a = decide("classify", { subject = "plugin", customer = "C-1" })
  local b = decide("classify", { subject = "lua", customer = "C-1" })
  expect(a.category, "general_inquiry", "category")
  expect(a.reason, b.reason, "same greeting")
end
