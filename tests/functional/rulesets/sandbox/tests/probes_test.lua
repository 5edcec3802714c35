function test_broken_is_product_quality()
  local d = decide("classify", { subject = "screen broken" })
  expect(d.category, "product_quality", "category")
  expect(d.tags, "damaged", "tags")
end
function test_spike_raises_priority()
  mock_recent("category:general_inquiry", 3)
  expect(decide("priority", { category = "general_inquiry" }).priority, "P1", "priority")
end
