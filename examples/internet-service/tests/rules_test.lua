-- Tests of the internet-service example.

local jan1 = 1767225600
local day = 86400

function test_account_security()
  local d = decide("classify", { subject = "My account was hacked" })
  expect(d.category, "account_security", "category")
  expect(d.queue, "security", "queue")
  expect(decide("priority", { category = "account_security" }).priority, "P1", "priority")
end

function test_login()
  local d = decide("classify", { subject = "I can't log in with SSO" })
  expect(d.category, "login", "category")
  expect(d.queue, "support", "queue")
end

function test_payment_deduction()
  expect(decide("classify", { subject = "I was charged twice this month" }).category, "payment_deduction", "category")
  expect(decide("classify", { subject = "subscription renewal" }).queue, "billing", "queue")
end

function test_outage_single_report_is_p2()
  local d = decide("classify", { subject = "The dashboard is down, 503 errors" })
  expect(d.category, "outage", "category")
  expect(d.queue, "sre", "queue")
  expect(d.tags, nil, "no incident yet")
  expect(decide("priority", { category = "outage" }).priority, "P2", "priority")
end

function test_outage_spike_is_an_incident()
  mock_recent("category:outage", 5)
  expect(decide("classify", { subject = "site down" }).tags, "incident", "tags")
  local d = decide("priority", { category = "outage" })
  expect(d.priority, "P1", "priority")
  expect(d.reason, "incident: 5 outage reports in 15 minutes", "reason")
end

function test_four_reports_are_not_an_incident()
  mock_recent("category:outage", 4)
  expect(decide("priority", { category = "outage" }).priority, "P2", "priority")
end

function test_bug_and_feature_request()
  expect(decide("classify", { subject = "bug: broken button on settings" }).category, "bug", "bug")
  expect(decide("classify", { subject = "Feature request: please add dark mode" }).category, "feature_request", "fr")
  expect(decide("priority", { category = "feature_request" }).priority, "P4", "priority")
end

function test_general_inquiry()
  expect(decide("classify", { subject = "hello" }).category, "general_inquiry", "category")
end

function test_enterprise_raises_priority()
  expect(decide("priority", { category = "bug", tier = "enterprise" }).priority, "P2", "enterprise bug")
  expect(decide("priority", { category = "bug", tier = "pro" }).priority, "P3", "pro bug")
  expect(decide("priority", { category = "login", tier = "enterprise" }).priority, "P1", "enterprise login")
end

function test_sla_by_plan()
  local d = decide("sla", { category = "bug", tier = "enterprise" })
  expect(d.first_response, "3600", "enterprise first response")
  expect(d.calendar, "always", "enterprise calendar")
  d = decide("sla", { category = "bug", tier = "pro" })
  expect(d.first_response, "14400", "pro")
  expect(d.calendar, "office", "pro calendar")
  expect(decide("sla", { category = "bug" }).resolution, "432000", "free resolution")
end

function test_duplicate_charge_refunded()
  local d = decide("refund", { category = "payment_deduction", subject = "charged twice", amount = 2900,
                               refund_amount = 2900 })
  expect(d.decision, "approve", "decision")
  expect(d.cap, "2900", "cap")
end

function test_renewal_within_14_days()
  set_clock(jan1 + 14 * day)
  local d = decide("refund", { category = "payment_deduction", subject = "unwanted renewal", amount = 9900,
                               refund_amount = 9900, paid_at = jan1 })
  expect(d.decision, "approve", "day 14")
  set_clock(jan1 + 14 * day + 1)
  d = decide("refund", { category = "payment_deduction", subject = "unwanted renewal", amount = 9900,
                         refund_amount = 9900, paid_at = jan1 })
  expect(d.decision, "review", "day 14 and a second")
  expect(d.role, "supervisor", "role")
end

function test_large_refund_to_finance()
  local d = decide("refund", { category = "payment_deduction", subject = "refund please", amount = 90000,
                               refund_amount = 60000 })
  expect(d.role, "finance", "role")
end

function test_refund_over_charge_rejected()
  expect(decide("refund", { category = "payment_deduction", amount = 100, refund_amount = 101 }).decision,
         "reject", "decision")
end

function test_escalation_and_automations()
  expect(decide("escalate", { category = "bug", event = "breach", level = 1 }).level, "2", "breach level")
  expect(decide("escalate", { category = "bug", event = "complaint" }).transfer, "support", "complaint")
  expect(decide("automations", { category = "bug", timer = "pending_too_long", days = 5 }).action, "close", "close")
  expect(decide("automations", { category = "bug", timer = "pending_too_long", days = 4 }).action, "none", "wait")
  expect(decide("automations", { category = "bug", timer = "follow_up_due" }).action, "survey", "survey")
end
