-- 60_escalate.lua: what to do when a deadline is near or missed, the
-- customer complains, threatens legal action, or a case is reopened.

local policy = {
  max_level = 3,   -- escalation levels stop here
}

local function next_level(case)
  local level = (case.level or 0) + 1
  if level > policy.max_level then level = policy.max_level end
  return level
end

-- Urgent notices go out at once, even in quiet hours (notification_calendar):
-- any notice about a P1 case (its clock runs around the clock) and every
-- missed deadline.  The rest waits for working time.
local function urgent(case, priority)
  return case.event == "breach" or case.priority == "P1" or priority == "P1"
end

local function actions(case)
  local event = case.event
  if event == "legal_threat" then
    return { priority = "P1", level = math.max(2, next_level(case)), transfer = "supervisors",
             notify = { "supervisors", "legal" }, reason = "legal threat: supervisors and legal informed" }
  end
  if event == "complaint" then
    return { level = next_level(case), transfer = "supervisors", notify = { "supervisors" },
             reason = "complaint: handled by supervisors" }
  end
  if event == "reopen" then
    return { priority = raise_priority(case.priority or defaults.priority, 1), level = next_level(case),
             reason = "reopened: raised one step" }
  end
  if event == "breach" then
    return { priority = raise_priority(case.priority or defaults.priority, 1), level = next_level(case),
             notify = { "supervisors" }, reason = "deadline missed: raised one step, supervisors told" }
  end
  if event == "manual" then
    return { level = next_level(case), transfer = "supervisors", notify = { "supervisors" },
             reason = "an agent asked for escalation" }
  end
  if event == "warning" then
    return { notify = { "assignee" }, reason = "deadline near: assignee reminded" }
  end
  if event == "refund_overdue" then
    return { level = next_level(case), notify = { "supervisors", "finance" },
             reason = "a refund waits for review past its deadline" }
  end
  return { reason = "nothing to do for " .. tostring(event) }
end

function escalate(case)
  local decision = actions(case)
  if decision.notify then decision.urgent = urgent(case, decision.priority) end
  return decision
end
