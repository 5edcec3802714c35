-- thread: the same customer's contact about the same order joins its open case within 48 hours.
local T = 1790000000

local function open(id, order, age)
  return { id = id, order = order, channel = "email", category = "logistics", state = "open",
           created_at = T - age, subject = "parcel late" }
end

function test_same_order_within_48_hours_joins_the_newest_open_case()
  set_clock(T)
  local d = decide("thread", { order = "O-1", channel = "chat", subject = "where is it",
                               open_cases = { open(9, "O-2", 60), open(7, "O-1", 3600), open(5, "O-1", 7200) } })
  expect(d.join, "7", "join")
end

function test_another_order_opens_a_case_of_its_own()
  set_clock(T)
  local d = decide("thread", { order = "O-3", subject = "x", open_cases = { open(7, "O-1", 60) } })
  expect(d.join, nil, "join")
end

function test_after_48_hours_a_new_case_opens()
  set_clock(T)
  local d = decide("thread", { order = "O-1", subject = "x", open_cases = { open(7, "O-1", 48 * 3600 + 1) } })
  expect(d.join, nil, "join")
  expect(decide("thread", { order = "O-1", subject = "x", open_cases = { open(7, "O-1", 48 * 3600) } }).join, "7",
         "join at exactly 48 hours")
end

function test_a_contact_without_an_order_is_never_joined()
  set_clock(T)
  expect(decide("thread", { subject = "x", open_cases = { open(7, "O-1", 60) } }).join, nil, "join")
  expect(decide("thread", { order = "O-1", subject = "x" }).join, nil, "no open cases")
end
