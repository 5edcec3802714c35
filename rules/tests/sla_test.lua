-- Tests of 40_sla.lua.

function test_p1_runs_around_the_clock()
  local d = decide("sla", { priority = "P1" })
  expect(d.first_response, "900", "first response")
  expect(d.resolution, "14400", "resolution")
  expect(d.calendar, "always", "calendar")
end

function test_p3_in_business_hours()
  local d = decide("sla", { priority = "P3" })
  expect(d.first_response, "14400", "first response")
  expect(d.next_response, "14400", "next response")
  expect(d.resolution, "259200", "resolution")
  expect(d.calendar, "business_hours", "calendar")
end

function test_p4_and_default()
  expect(decide("sla", { priority = "P4" }).resolution, "604800", "P4 resolution")
  expect(decide("sla", {}).first_response, "14400", "no priority: the default P3")
end

-- The business_hours calendar (00_vocabulary.lua) through the host's helpers.
function test_business_hours_calendar()
  local friday_1730 = 1795167000       -- 2026-11-20 17:30 China time
  -- 30 minutes on Friday, then Saturday 10:00-10:30
  expect(redress.business_add("business_hours", friday_1730, 3600), 1795228200, "Friday 17:30 + 1 h")
  expect(redress.is_business_time("business_hours", friday_1730), true, "Friday 17:30")
  expect(redress.is_business_time("business_hours", 1795262400), false, "Saturday 20:00")
  -- National Day: 2026-09-30 17:00 + 2 h -> 2026-10-08 10:00
  expect(redress.business_add("business_hours", 1790758800, 7200), 1791424800, "over the holidays")
  expect(redress.business_between("business_hours", 1790758800, 1791424800), 7200, "between")
  expect(redress.business_add("always", friday_1730, 3600), friday_1730 + 3600, "always")
end

function test_unknown_calendar_is_an_error()
  local ok, message = pcall(redress.business_add, "lunar", 0, 60)
  expect(ok, false, "unknown calendar")
  expect(string.find(message, "unknown calendar 'lunar'", 1, true) ~= nil, true, message)
end

function test_a_task_has_only_a_resolution_target_of_its_priority()
  local d = decide("sla", { kind = "task", priority = "P1", queue = "finance" })
  expect(d.resolution, "7200", "P1 task resolution")
  expect(d.first_response, nil, "no first response for a task")
  expect(d.calendar, "always", "P1 task calendar")
  expect(decide("sla", { kind = "task", priority = "P3" }).resolution, "86400", "P3 task resolution")
end
