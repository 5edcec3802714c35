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

-- The decision for each priority of the policy, made once at load: the
-- host only reads what a hook returns, so every case of one priority can
-- be given the same table.
local decision_of = {}
for priority, target in pairs(policy) do
  decision_of[priority] = {
    first_response = target.first_response,
    next_response = target.first_response,
    resolution = target.resolution,
    calendar = target.calendar,
    reason = "targets for " .. priority,
  }
end

function sla(case)
  local made = decision_of[case.priority or defaults.priority]
  if made then return made end
  local target = policy[case.priority or defaults.priority] or policy[defaults.priority]
  return {
    first_response = target.first_response,
    next_response = target.first_response,   -- the same promise after each customer message
    resolution = target.resolution,
    calendar = target.calendar,
    reason = "targets for " .. tostring(case.priority or defaults.priority),
  }
end
