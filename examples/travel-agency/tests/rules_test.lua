-- Tests of the travel-agency example.  The clock starts at 2026-01-01T00:00:00Z.

local now = 1767225600
local day = 86400

local function cancel(days_before, amount, refund_amount, extra)
  local case = { category = "cancellation", amount = amount, refund_amount = refund_amount,
                 departure_at = now + days_before * day, refund_kind = "refund_only", booking_type = "package" }
  for k, v in pairs(extra or {}) do case[k] = v end
  return decide("refund", case)
end

function test_classify()
  expect(decide("classify", { subject = "I need to cancel my trip" }).category, "cancellation", "cancel")
  expect(decide("classify", { subject = "我想改签" }).category, "change_booking", "改签")
  expect(decide("classify", { subject = "visa documents" }).queue, "support", "visa")
  expect(decide("classify", { subject = "flight delayed 5 hours" }).category, "delay_disruption", "delay")
  expect(decide("classify", { subject = "complaint about the guide" }).queue, "supervisors", "complaint")
  expect(decide("classify", { subject = "hello" }).category, "general_inquiry", "general")
end

function test_thirty_days_full_refund()
  local d = cancel(30, 100000, 100000)
  expect(d.decision, "approve", "decision")
  expect(d.cap, "100000", "cap")
end

function test_twenty_nine_days_eighty_percent()
  local d = cancel(29, 100000, 80000)
  expect(d.decision, "approve", "decision")
  expect(d.cap, "80000", "cap")
  expect(cancel(29, 100000, 80001).decision, "reject", "over the cap")
end

function test_fifteen_and_fourteen_days()
  expect(cancel(15, 100000, 1).cap, "80000", "15 days")
  expect(cancel(14, 100000, 1).cap, "50000", "14 days")
end

function test_seven_and_six_days()
  expect(cancel(7, 100000, 50000).decision, "approve", "7 days")
  local d = cancel(6, 100000, 1000)
  expect(d.decision, "reject", "6 days")
  expect(d.cap, "0", "cap")
end

function test_partial_day_does_not_count()
  -- 29 days and 23 hours before departure is 29 whole days: 80%
  set_clock(now + 3600)
  expect(cancel(30, 100000, 1).cap, "80000", "cap")
end

function test_force_majeure_is_reviewed()
  local d = cancel(3, 100000, 100000, { refund_reason = "hospital stay, illness" })
  expect(d.decision, "review", "decision")
  expect(d.role, "supervisor", "role")
end

function test_non_refundable_flight()
  local d = decide("refund", { category = "cancellation", amount = 50000, refund_amount = 50000,
                               departure_at = now + 60 * day, booking_type = "flight", refund_kind = "refund_only",
                               refund_reason = "non-refundable fare" })
  expect(d.decision, "reject", "decision")
end

function test_refund_over_paid()
  expect(cancel(40, 1000, 1001).decision, "reject", "decision")
end

function test_urgent_departure_is_p1()
  expect(decide("priority", { category = "change_booking", departure_at = now + 47 * 3600 }).priority, "P1", "47 h")
  expect(decide("priority", { category = "change_booking", departure_at = now + 49 * 3600 }).priority, "P3", "49 h")
end

function test_sla()
  expect(decide("sla", { priority = "P1" }).first_response, "1800", "P1")
  expect(decide("sla", { priority = "P2" }).resolution, "86400", "P2")
end

function test_escalate_and_automations()
  expect(decide("escalate", { category = "complaint", event = "complaint" }).transfer, "supervisors", "complaint")
  expect(decide("automations", { category = "visa", timer = "resolved_days", days = 3 }).action, "close", "close")
  expect(decide("automations", { category = "visa", timer = "follow_up_due" }).action, "survey", "survey")
end
