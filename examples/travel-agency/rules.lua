-- An example rule set for a travel agency: cancellations refunded by tiers of
-- days before departure, changes, visas, delays.  Run it with
--   redressd --rules examples/travel-agency
-- and test it with
--   redressd --test-rules examples/travel-agency

vocabulary = {
  categories = { "cancellation", "change_booking", "visa", "delay_disruption", "complaint", "payment",
                 "general_inquiry" },
  queues = { "support", "bookings", "finance", "supervisors" },
  priorities = { "P1", "P2", "P3", "P4" },
  channels = { "phone", "email", "chat", "social", "web" },   -- optional, this is the default
}
defaults = { category = "general_inquiry", queue = "support", priority = "P3" }

local hour, day = 3600, 86400

local policy = {
  -- refund share by whole days before departure (checked from the top)
  cancellation_tiers = {
    { days = 30, percent = 100 },
    { days = 15, percent = 80 },
    { days = 7, percent = 50 },
  },
  -- fewer days than the last tier: no refund, except force majeure, reviewed
  force_majeure_words = { "illness", "ill", "hospital", "death", "died", "疾病", "住院", "去世" },
  urgent_departure = 48 * hour,     -- departing this soon: P1
  sla = { P1 = { 30 * 60, 4 * hour }, P2 = { 2 * hour, 24 * hour }, P3 = { 8 * hour, 3 * day },
          P4 = { day, 7 * day } },
}

local keywords = {
  { name = "cancellation", queue = "bookings", words = { "cancel", "cancellation", "取消" } },
  { name = "change_booking", queue = "bookings", words = { "change my booking", "change the date", "reschedule",
      "改签", "改期" } },
  { name = "visa", queue = "support", words = { "visa", "签证", "passport" } },
  { name = "delay_disruption", queue = "support", words = { "delayed", "delay", "missed connection", "strike",
      "延误", "航班取消" } },
  { name = "complaint", queue = "supervisors", words = { "complaint", "terrible", "投诉", "rude" } },
  { name = "payment", queue = "finance", words = { "charged", "payment", "invoice", "付款" } },
}

local function text_of(case)
  return string.lower((case.subject or "") .. " " .. (case.body or "") .. " " .. (case.refund_reason or ""))
end

local function has_any(text, words)
  for _, word in ipairs(words) do
    if string.find(text, word, 1, true) then return true end
  end
  return false
end

function classify(case)
  local text = text_of(case)
  for _, entry in ipairs(keywords) do
    if has_any(text, entry.words) then
      return { category = entry.name, queue = entry.queue, reason = "keywords of " .. entry.name }
    end
  end
  return { category = "general_inquiry", queue = "support", reason = "no keyword matched" }
end

function priority(case)
  if case.departure_at and case.departure_at - redress.now() <= policy.urgent_departure then
    return { priority = "P1", reason = "departure within 48 hours" }
  end
  if case.category == "delay_disruption" or case.category == "complaint" then
    return { priority = "P2", reason = case.category }
  end
  return { priority = "P3", reason = "standard" }
end

function sla(case)
  local target = policy.sla[case.priority or "P3"] or policy.sla.P3
  return { first_response = target[1], next_response = target[1], resolution = target[2], calendar = "always",
           reason = "targets for " .. (case.priority or "P3") }
end

-- Whole days from now until departure (a partial day does not count).
local function days_before(case)
  return (case.departure_at - redress.now()) // day
end

function refund(case)
  local amount, paid = case.refund_amount, case.amount
  if amount == nil or amount <= 0 then return { decision = "reject", reason = "no refund amount" } end
  if paid == nil then return { decision = "review", role = "finance", reason = "paid amount unknown" } end
  if amount > paid then return { decision = "reject", cap = paid, reason = "more than was paid" } end
  if case.booking_type == "flight" and case.refund_kind == "refund_only"
     and has_any(text_of(case), { "non-refundable", "不可退" }) then
    return { decision = "reject", cap = 0, reason = "non-refundable fare" }
  end
  if case.departure_at == nil then
    return { decision = "review", role = "supervisor", cap = paid, reason = "departure date unknown" }
  end
  local days = days_before(case)
  for _, tier in ipairs(policy.cancellation_tiers) do
    if days >= tier.days then
      local cap = paid * tier.percent // 100
      if amount > cap then
        return { decision = "reject", cap = cap,
                 reason = days .. " days before departure: at most " .. tier.percent .. "% is refunded" }
      end
      return { decision = "approve", cap = cap, reason = days .. " days before departure: " .. tier.percent .. "%" }
    end
  end
  if has_any(text_of(case), policy.force_majeure_words) then
    return { decision = "review", role = "supervisor", cap = paid, reason = "force majeure claimed, " .. days ..
             " days before departure" }
  end
  return { decision = "reject", cap = 0, reason = days .. " days before departure: no refund" }
end

function escalate(case)
  if case.event == "breach" or case.event == "complaint" then
    return { level = (case.level or 0) + 1, transfer = "supervisors", reason = case.event }
  end
  return { reason = "no action" }
end

function automations(case)
  if case.timer == "follow_up_due" then return { action = "survey", reason = "after the trip" } end
  if case.timer == "resolved_days" and (case.days or 0) >= 3 then return { action = "close", reason = "resolved" } end
  return { action = "none", reason = "nothing due" }
end
