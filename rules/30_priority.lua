-- 30_priority.lua: how urgent is the case?  P1 (urgent) .. P4 (low), from
-- the category, the impact (amount, customer tier, how many customers report
-- the same thing) and the urgency (safety, legal threats, account theft).

local policy = {
  -- starting priority per category
  base = {
    account_security = "P2", payment = "P2", product_quality = "P3", logistics = "P3",
    wrong_order = "P3", service_complaint = "P2", price_dispute = "P3", technical_fault = "P3",
    refund_policy = "P3", general_inquiry = "P4",
  },
  -- minor units of each currency: ¥1000.00 and more raises one step (an amount in a currency
  -- not listed is not judged large or small: add a line to take one in); a case that names
  -- no currency (RULES.EVAL without one, the rule tests) is in `currency`
  large_amount = { CNY = 100000 },
  currency = "CNY",
  vip_tiers = { vip = true, gold = true },  -- these tiers raise one step
  -- A spike: many cases of the same fault in a short window compared with
  -- the usual rate of that fault.  The cases of a spike are gathered in one
  -- incident (the key below) and raised to P1.
  spike_window = 600,           -- seconds: the last 10 minutes...
  spike_baseline = 7 * 86400,   -- ...against the usual rate over the week before
  spike_factor = 5,             -- at least five times the usual count for such a window
  spike_minimum = 10,           -- and never fewer than this many
  -- Categories that name no fault: many of them at once is a busy hour, not
  -- an incident (the catch-all of questions that matched nothing).
  no_spike = { general_inquiry = true },
}

-- How many cases of key the window holds, and how many it usually holds;
-- a spike when the count is both above the minimum and factor times usual.
local recent, max = redress.recent, math.max   -- read per case: locals, not lookups through the sealed globals
local function spike_of(key)
  local count = recent(key, policy.spike_window)
  local week = recent(key, policy.spike_baseline)
  local usual = max(week - count, 0) * policy.spike_window / (policy.spike_baseline - policy.spike_window)
  local spike = count >= policy.spike_minimum and count >= policy.spike_factor * usual
  return spike, count, usual
end

-- The urgent keywords, in one matcher built once at load.
local urgent = redress.matcher{ safety = safety_keywords, legal = legal_keywords,
                                account_theft = account_theft_keywords }

-- The spike counter's key per category ("category:logistics"), made once.
local spike_key = {}
for _, category in ipairs(vocabulary.categories) do spike_key[category] = "category:" .. category end

-- Globals read on every case, looked up once here (sealed after load).
local tostring, concat, format = tostring, table.concat, string.format
local defaults, raise_priority, priority_rank = defaults, raise_priority, priority_rank

function priority(case)
  local found = urgent:match(case.subject or "", " ", case.body or "")   -- case_words(case), in pieces

  -- Urgency first: these are P1 whatever else is true.
  if found.safety then
    return { priority = "P1", reason = "safety risk reported" }
  end
  if found.legal then
    return { priority = "P1", reason = "legal threat (12315 / consumer association / lawsuit)" }
  end
  if case.category == "account_security" and found.account_theft then
    return { priority = "P1", reason = "account theft reported" }
  end

  -- The fault's key: its category (a rule set may use a tag classify sets,
  -- e.g. a product or a text signature: "tag:sku-123").
  local key = spike_key[case.category] or ("category:" .. tostring(case.category))
  local spike, similar, usual = false, 0, 0
  if not policy.no_spike[case.category] then spike, similar, usual = spike_of(key) end
  if spike then
    return { priority = "P1", incident = key, incident_window = policy.spike_window,
             reason = format("spike: %d similar cases in the last 10 minutes (usually %.1f)", similar, usual) }
  end

  -- (The reasons are made after the spike's early return, which needs none.)
  local result = policy.base[case.category] or defaults.priority
  local reasons = { "category " .. tostring(case.category) .. " starts at " .. result }
  local large = policy.large_amount[case.currency or policy.currency]
  if large and (case.amount or 0) >= large then
    result = raise_priority(result, 1)
    reasons[#reasons + 1] = "large amount"
  end
  if case.tier and policy.vip_tiers[case.tier] then
    result = raise_priority(result, 1)
    reasons[#reasons + 1] = case.tier .. " customer"
  end
  if case.category == "service_complaint" and priority_rank[result] > 2 then
    result = "P2"
    reasons[#reasons + 1] = "complaints are at least P2"
  end
  return { priority = result, reason = concat(reasons, "; ") }
end
