-- Tests of the helpers 00_vocabulary.lua shares with the other files, and
-- of the decisions the other test files leave out (so that the set's tests
-- run at least 90% of its lines: redressd --test-rules rules --coverage).

function test_case_text_is_subject_and_body_in_lower_case()
  expect(case_text({ subject = "Screen BROKEN", body = "Help" }), "screen broken help", "text")
  expect(case_text({}), " ", "an empty case")
end

function test_count_matches_and_matches_search_plainly()
  local text = case_text({ subject = "Parcel late (again)", body = "快递 still not here" })
  expect(count_matches(text, { "parcel", "快递", "missing", "(again)" }), 3, "count")
  local found = matches(text, { "parcel", "missing", "(again)" })
  expect(#found, 2, "found")
  expect(found[1], "parcel", "first")
  expect(found[2], "(again)", "second, a pattern character taken as it is")
end

function test_raise_priority_steps_and_bounds()
  expect(raise_priority("P3", 2), "P1", "two steps")
  expect(raise_priority("P2", -5), "P4", "lowered, never below P4")
  expect(raise_priority("nonsense"), "P2", "an unknown priority counts as P3")
end

function test_warning_reminds_the_assignee()
  local d = decide("escalate", { category = "logistics", event = "warning", deadline = "first_response",
                                 priority = "P3" })
  expect(d.notify, "assignee", "notify")
  expect(d.urgent, "false", "a warning waits for working time")
end

function test_unknown_timer_does_nothing()
  local d = decide("automations", { timer = "mystery", days = 3, state = "open" })
  expect(d.action, "none", "action")
  expect(d.reason, "unknown timer mystery", "reason")
end

function test_shipping_insurance_large_return_goes_to_review()
  set_clock(1767225600 + 30 * 86400)   -- long after delivery: no seven-day window
  local d = decide("refund", { category = "refund_policy", customer = "C-1", amount = 90000, refund_amount = 90000,
                               refund_kind = "return_refund", delivered_at = 1767225600, shipping_insurance = "yes" })
  expect(d.decision, "review", "decision")
  expect(d.role, "supervisor", "role")
  expect(d.cap, "90000", "cap")
end
