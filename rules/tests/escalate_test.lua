-- Tests of 60_escalate.lua and 70_automations.lua.

function test_legal_threat()
  local d = decide("escalate", { category = "product_quality", event = "legal_threat", level = 0, priority = "P3" })
  expect(d.priority, "P1", "priority")
  expect(d.level, "2", "level")
  expect(d.transfer, "supervisors", "transfer")
  expect(d.notify, "supervisors,legal", "notify")
end

function test_complaint()
  local d = decide("escalate", { category = "service_complaint", event = "complaint", level = 1 })
  expect(d.level, "2", "level")
  expect(d.transfer, "supervisors", "transfer")
end

function test_reopen_and_breach_raise_one_step()
  expect(decide("escalate", { category = "logistics", event = "reopen", priority = "P3" }).priority, "P2", "reopen")
  local d = decide("escalate", { category = "logistics", event = "breach", priority = "P2", level = 3 })
  expect(d.priority, "P1", "breach")
  expect(d.level, "3", "level stops at 3")
end

function test_warning_only_notifies()
  local d = decide("escalate", { category = "logistics", event = "warning" })
  expect(d.notify, "assignee", "notify")
  expect(d.priority, nil, "no priority change")
  expect(d.urgent, "false", "a warning on a P3 case waits for working time")
end

function test_p1_cases_and_breaches_are_urgent()
  expect(decide("escalate", { category = "product_quality", event = "warning", priority = "P1" }).urgent,
         "true", "warning on a P1 case")
  expect(decide("escalate", { category = "logistics", event = "breach", priority = "P4", level = 0 }).urgent,
         "true", "any breach")
  expect(decide("escalate", { category = "product_quality", event = "legal_threat", priority = "P3" }).urgent,
         "true", "raised to P1")
  expect(decide("escalate", { category = "service_complaint", event = "complaint", priority = "P2" }).urgent,
         "false", "a complaint on a P2 case")
  expect(decide("escalate", { category = "logistics", event = "reopen", priority = "P1" }).urgent,
         nil, "no notice, nothing to mark")
end

function test_follow_up_asks_for_a_survey()
  expect(decide("automations", { category = "logistics", timer = "follow_up_due" }).action, "survey", "action")
end

function test_pending_too_long()
  local d = decide("automations", { category = "logistics", timer = "pending_too_long", days = 3 })
  expect(d.action, "remind", "3 days")
  expect(d.after, "172800", "next reminder")
  expect(decide("automations", { category = "logistics", timer = "pending_too_long", days = 7 }).action,
         "close", "7 days")
end

function test_resolved_days()
  expect(decide("automations", { category = "logistics", timer = "resolved_days", days = 6 }).action, "none", "6")
  expect(decide("automations", { category = "logistics", timer = "resolved_days", days = 7 }).action, "close", "7")
end

function test_manual_escalation()
  local d = decide("escalate", { category = "logistics", event = "manual", level = 0 })
  expect(d.level, "1", "level")
  expect(d.transfer, "supervisors", "transfer")
end
