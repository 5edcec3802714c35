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
