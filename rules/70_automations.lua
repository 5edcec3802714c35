-- 70_automations.lua: what timers do (follow-up, waiting too long, resolved for days).

local day = 86400

-- When each timer fires, counted from the change that arms it.
automation_timers = {
  follow_up_due = 1 * day,      -- a day after resolution: ask how it went
  pending_too_long = 2 * day,   -- waiting on the customer: first reminder after 2 days
  resolved_days = 7 * day,      -- resolved and not reopened: close after 7 days
}

-- A customer's message within this long after resolution reopens the case;
-- later (or once it is closed) it opens a new case linked to the old one.
reopen_window = 3 * day

local policy = {
  pending_close_days = 7,    -- waiting on the customer this long: close
  resolved_close_days = 7,   -- resolved this long without reopening: close
  remind_after = 2 * day,    -- next reminder while waiting
}

function automations(case)
  local timer, days = case.timer, case.days or 0
  if timer == "follow_up_due" then
    return { action = "survey", reason = "follow-up: ask for a satisfaction score" }
  end
  if timer == "pending_too_long" then
    if days >= policy.pending_close_days then
      return { action = "close", reason = "no answer from the customer for " .. days .. " days" }
    end
    return { action = "remind", after = policy.remind_after, reason = "reminder after " .. days .. " days" }
  end
  if timer == "resolved_days" then
    if days >= policy.resolved_close_days then
      return { action = "close", reason = "resolved " .. days .. " days ago" }
    end
    return { action = "none", reason = "resolved " .. days .. " days ago: not yet" }
  end
  return { action = "none", reason = "unknown timer " .. tostring(timer) }
end
