-- Tests of 30_priority.lua.

local function priority_of(case)
  return decide("priority", case).priority
end

function test_category_defaults()
  expect(priority_of({ category = "general_inquiry", subject = "hello" }), "P4", "general")
  expect(priority_of({ category = "logistics", subject = "parcel late" }), "P3", "logistics")
  expect(priority_of({ category = "payment", subject = "charged twice" }), "P2", "payment")
end

function test_safety_is_p1()
  local d = decide("priority", { category = "product_quality", subject = "充电宝爆炸了" })
  expect(d.priority, "P1", "priority")
  expect(d.reason, "safety risk reported", "reason")
end

function test_legal_threats_are_p1()
  expect(priority_of({ category = "product_quality", subject = "再不处理我去消协投诉" }), "P1", "消协")
  expect(priority_of({ category = "logistics", subject = "我要打12315" }), "P1", "12315")
  expect(priority_of({ category = "refund_policy", subject = "I will file a lawsuit" }), "P1", "lawsuit")
end

function test_account_theft_is_p1()
  expect(priority_of({ category = "account_security", subject = "账号被盗" }), "P1", "priority")
end

function test_large_amount_raises_one_step()
  expect(priority_of({ category = "logistics", subject = "parcel late", amount = 100000 }), "P2", "at ¥1000")
  expect(priority_of({ category = "logistics", subject = "parcel late", amount = 99999 }), "P3", "one fen under")
  expect(priority_of({ category = "logistics", subject = "parcel late", amount = 100000, currency = "CNY" }), "P2",
         "CNY named")
  -- 1000.00 KWD is not ¥1000.00, nor 100000 JPY: the threshold names CNY only.
  expect(priority_of({ category = "logistics", subject = "parcel late", amount = 100000, currency = "KWD" }), "P3",
         "KWD not judged")
  expect(priority_of({ category = "logistics", subject = "parcel late", amount = 100000, currency = "JPY" }), "P3",
         "JPY not judged")
end

function test_gold_and_vip_raise_one_step()
  expect(priority_of({ category = "logistics", subject = "parcel late", tier = "gold" }), "P2", "gold")
  expect(priority_of({ category = "logistics", subject = "parcel late", tier = "standard" }), "P3", "standard")
  expect(priority_of({ category = "logistics", subject = "parcel late", tier = "vip", amount = 200000 }),
         "P1", "vip and large")
end

function test_spike_raises_to_p1_and_names_its_incident()
  mock_recent("category:product_quality", 10)
  local d = decide("priority", { category = "product_quality", subject = "the same fault again" })
  expect(d.priority, "P1", "priority")
  expect(d.incident, "category:product_quality", "incident key")
  expect(d.incident_window, "600", "incident window")
  expect(d.reason, "spike: 10 similar cases in the last 10 minutes (usually 0.0)", "reason")
end

function test_a_spike_is_measured_against_the_usual_rate()
  -- 30 in 10 minutes where a week holds about 10 per 10 minutes (10000 + the 30): not five times usual.
  mock_recent("category:logistics", 30, 600)
  mock_recent("category:logistics", 10030, 7 * 86400)
  expect(priority_of({ category = "logistics", subject = "parcel late" }), "P3", "busy but usual")
  -- The same 30 where a week holds 2 an hour (336): a spike.
  mock_recent("category:logistics", 366, 7 * 86400)
  local d = decide("priority", { category = "logistics", subject = "parcel late" })
  expect(d.priority, "P1", "spike over a quiet baseline")
  expect(d.incident, "category:logistics", "incident")
end

function test_many_general_inquiries_are_not_a_spike()
  -- The catch-all names no fault: fifty questions in ten minutes on a quiet week stay P4.
  mock_recent("category:general_inquiry", 50)
  local d = decide("priority", { category = "general_inquiry", subject = "hello" })
  expect(d.priority, "P4", "priority")
  expect(d.incident, nil, "no incident")
end

function test_nine_similar_cases_are_not_a_spike()
  mock_recent("category:product_quality", 9)
  expect(priority_of({ category = "product_quality", subject = "fault" }), "P3", "priority")
end

function test_complaints_are_at_least_p2()
  expect(priority_of({ category = "service_complaint", subject = "rude agent" }), "P2", "priority")
end

function test_priority_never_above_p1()
  expect(raise_priority("P1", 3), "P1", "raise P1")
  expect(raise_priority("P4", 1), "P3", "raise P4")
end
