function test_damaged_gold_chat()
  expect(decide("classify", { subject = "商品破损 damaged on arrival" }).category, "damaged", "category")
  -- base 2 + gold 1 + chat 1 = 4 -> P2
  expect(decide("priority", { subject = "商品破损 damaged on arrival", tier = "gold", channel = "chat", tags = "",
                              amount = 19900, category = "damaged" }).priority, "P2", "priority")
end
