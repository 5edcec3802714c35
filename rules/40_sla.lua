-- 40_sla.lua: the service-level targets of a case, per priority.
-- Times are seconds of the named calendar's working time; P1 runs around
-- the clock ("always"), the others in business hours (00_vocabulary.lua).

local minute, hour, day = 60, 3600, 86400

local policy = {
  P1 = { first_response = 15 * minute, resolution = 4 * hour, calendar = "always" },
  P2 = { first_response = 1 * hour, resolution = 24 * hour, calendar = "business_hours" },
  P3 = { first_response = 4 * hour, resolution = 72 * hour, calendar = "business_hours" },
  P4 = { first_response = 24 * hour, resolution = 7 * day, calendar = "business_hours" },
}

-- A task another department does for a case (CASE.TASK, case.kind == "task")
-- has no customer to answer: only a resolution target, its case's priority's.
local task_policy = {
  P1 = { resolution = 2 * hour, calendar = "always" },
  P2 = { resolution = 8 * hour, calendar = "business_hours" },
  P3 = { resolution = 24 * hour, calendar = "business_hours" },
  P4 = { resolution = 3 * day, calendar = "business_hours" },
}

-- The decision for each priority of the policy, made the first time that
-- priority is seen and kept: the host only reads what a hook returns, so
-- every case of one priority can be given the same table.
local decision_of = {}

function sla(case)
  if case.kind == "task" then
    local target = task_policy[case.priority or defaults.priority] or task_policy[defaults.priority]
    return { resolution = target.resolution, calendar = target.calendar,
             reason = "task targets for " .. tostring(case.priority or defaults.priority) }
  end
  local priority = case.priority or defaults.priority
  local made = decision_of[priority]
  if made then return made end
  local target = policy[priority] or policy[defaults.priority]
  made = {
    first_response = target.first_response,
    next_response = target.first_response,   -- the same promise after each customer message
    resolution = target.resolution,
    calendar = target.calendar,
    reason = "targets for " .. tostring(priority),
  }
  if policy[priority] then decision_of[priority] = made end
  return made
end
