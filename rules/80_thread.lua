-- 80_thread.lua: threading.  A new contact about the same order as an open
-- case of the same customer, opened within the last 48 hours, joins that
-- case instead of opening a duplicate -- whatever the channel (a chat after
-- an email about one parcel is one conversation).  A contact without an
-- order always opens its own case.

-- The host offers the hook only the customer's open cases of the contact's
-- order (an indexed lookup; no hook call when there is none).
thread_match = "order"

local thread_policy = {
  window = 48 * 3600,   -- seconds since the open case was opened
}

-- case.open_cases: the customer's open cases, newest first, each
-- { id, order, channel, state, created_at }.
function thread(case)
  if not case.order or not case.open_cases then return {} end
  local now = redress.now()
  for _, open in ipairs(case.open_cases) do
    if open.order == case.order and now - open.created_at <= thread_policy.window then
      return { join = open.id, reason = "same order " .. case.order .. " within 48 hours" }
    end
  end
  return {}
end
