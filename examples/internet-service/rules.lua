-- An example rule set for an internet service (SaaS): accounts, logins,
-- payment deductions, outages.  Run it with
--   redressd --rules examples/internet-service
-- and test it with
--   redressd --test-rules examples/internet-service

vocabulary = {
  categories = { "account_security", "login", "payment_deduction", "outage", "bug", "feature_request",
                 "general_inquiry" },
  queues = { "support", "billing", "security", "sre", "product" },
  priorities = { "P1", "P2", "P3", "P4" },
  channels = { "phone", "email", "chat", "social", "web" },   -- optional, this is the default
}
defaults = { category = "general_inquiry", queue = "support", priority = "P3" }

calendars = {
  office = {
    zone = "Europe/Berlin",
    week = { mon = { "08:00-18:00" }, tue = { "08:00-18:00" }, wed = { "08:00-18:00" },
             thu = { "08:00-18:00" }, fri = { "08:00-17:00" } },
    holidays = { "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25", "2026-12-26" },
  },
}

local minute, hour, day = 60, 3600, 86400

local policy = {
  outage_window = 15 * minute,   -- reports of an outage within this window ...
  outage_spike = 5,              -- ... at this count make an incident: P1
  refund_window_days = 14,       -- an unused renewal charged less than 14 days ago is refunded
  billing_review_max = 50000,    -- minor units: above this, finance reviews instead of billing
  -- first response / resolution by plan
  sla = {
    enterprise = { first = 1 * hour, resolution = 8 * hour, calendar = "always" },
    pro = { first = 4 * hour, resolution = 2 * day, calendar = "office" },
    free = { first = 24 * hour, resolution = 5 * day, calendar = "office" },
  },
}

local keywords = {
  { name = "account_security", queue = "security", words = { "hacked", "suspicious login", "2fa", "two-factor",
      "password reset", "compromised", "被盗" } },
  { name = "outage", queue = "sre", words = { "down", "outage", "500", "502", "503", "cannot connect",
      "not loading", "timeout", "宕机" } },
  { name = "payment_deduction", queue = "billing", words = { "charged twice", "double charge", "unexpected charge",
      "renewal", "subscription", "cancel my plan", "扣费", "扣款" } },
  { name = "login", queue = "support", words = { "can't log in", "cannot log in", "locked out", "sso",
      "login", "sign in", "登录" } },
  { name = "bug", queue = "product", words = { "bug", "broken button", "error message", "crash", "wrong result" } },
  { name = "feature_request", queue = "product", words = { "feature request", "would be nice", "please add",
      "could you add", "建议" } },
}

local function text_of(case)
  return string.lower((case.subject or "") .. " " .. (case.body or ""))
end

local function count_matches(text, words)
  local n = 0
  for _, word in ipairs(words) do
    if string.find(text, word, 1, true) then n = n + 1 end
  end
  return n
end

function classify(case)
  local text = text_of(case)
  local best, hits = nil, 0
  for _, entry in ipairs(keywords) do
    local n = count_matches(text, entry.words)
    if n > hits then best, hits = entry, n end
  end
  if best == nil then
    return { category = "general_inquiry", queue = "support", reason = "no keyword matched" }
  end
  local tags = {}
  if best.name == "outage" and redress.recent("category:outage", policy.outage_window) >= policy.outage_spike then
    tags[1] = "incident"
  end
  return { category = best.name, queue = best.queue, tags = tags, reason = hits .. " keyword(s) of " .. best.name }
end

function priority(case)
  local plan = case.tier or "free"
  if case.category == "outage" then
    local reports = redress.recent("category:outage", policy.outage_window)
    if reports >= policy.outage_spike then
      return { priority = "P1", reason = "incident: " .. reports .. " outage reports in 15 minutes" }
    end
    return { priority = "P2", reason = "outage report" }
  end
  if case.category == "account_security" then return { priority = "P1", reason = "account at risk" } end
  local base = ({ payment_deduction = "P2", login = "P2", bug = "P3", feature_request = "P4" })[case.category] or "P3"
  if plan == "enterprise" and base ~= "P1" then
    local raised = ({ P2 = "P1", P3 = "P2", P4 = "P3" })[base]
    return { priority = raised, reason = "enterprise plan raises " .. base }
  end
  return { priority = base, reason = case.category .. " on the " .. plan .. " plan" }
end

function sla(case)
  local target = policy.sla[case.tier or "free"] or policy.sla.free
  return { first_response = target.first, next_response = target.first, resolution = target.resolution,
           calendar = target.calendar, reason = "plan " .. (case.tier or "free") }
end

function refund(case)
  local amount, paid = case.refund_amount, case.amount
  if amount == nil or amount <= 0 then return { decision = "reject", reason = "no refund amount" } end
  if paid and amount > paid then return { decision = "reject", cap = paid, reason = "more than was charged" } end
  local text = text_of(case) .. " " .. string.lower(case.refund_reason or "")
  if string.find(text, "charged twice", 1, true) or string.find(text, "double charge", 1, true) then
    return { decision = "approve", cap = paid, reason = "duplicate charge" }
  end
  if case.paid_at and (redress.now() - case.paid_at) <= policy.refund_window_days * day
     and string.find(text, "renewal", 1, true) then
    return { decision = "approve", cap = paid, reason = "renewal refunded within 14 days" }
  end
  local role = amount <= policy.billing_review_max and "supervisor" or "finance"
  return { decision = "review", role = role, cap = paid, reason = "outside automatic refund rules" }
end

function escalate(case)
  if case.event == "breach" then
    return { level = (case.level or 0) + 1, notify = { "support-leads" }, reason = "SLA breached" }
  end
  if case.event == "legal_threat" or case.event == "complaint" then
    return { level = (case.level or 0) + 1, transfer = "support", notify = { "support-leads" }, reason = case.event }
  end
  return { reason = "no action" }
end

function automations(case)
  if case.timer == "pending_too_long" and (case.days or 0) >= 5 then
    return { action = "close", reason = "no answer for 5 days" }
  end
  if case.timer == "follow_up_due" then return { action = "survey", reason = "ask for feedback" } end
  return { action = "none", reason = "nothing due" }
end
