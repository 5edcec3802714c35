-- 50_refund.lua: may this refund be paid?  approve / review (by whom) / reject.
-- The host enforces what no rule can change: amounts > 0, never more than
-- what was paid in total, no refund paid twice, approval limits per role.
-- This file decides policy inside those limits.

local day = 86400

local policy = {
  no_reason_days = 7,           -- 七天无理由: 7 days counted from the day after delivery
  china_offset = 8 * 3600,      -- days are counted in China time (UTC+8)
  excluded_goods = { custom = true, fresh = true, digital = true, newspaper = true },  -- 第六条
  -- The amounts, per currency, in its minor units (digits: its decimals, for the reasons' text):
  -- refunds up to `auto` are approved at once, up to `supervisor` a supervisor reviews, above
  -- that finance.  A refund in a currency not listed here is never approved by these rules:
  -- finance reviews it (add a line to take one in).  A case that names no currency (RULES.EVAL
  -- without one, the rule tests) is in `currency`.
  thresholds = {
    CNY = { auto = 5000, supervisor = 200000, digits = 2 },   -- ¥50.00 and ¥2000.00
  },
  currency = "CNY",
  repeat_cases = 5,             -- a customer with this many cases ...
  repeat_recent = 3,            -- ... or this many in the last 30 days goes to risk review (a supervisor)
  repeat_window = 30 * day,
}

-- The reasons below are built from `policy`, never written beside it: change
-- no_reason_days from 7 to 15 and the reason says 十五天无理由 / 15-day.
local numerals = { "一", "二", "三", "四", "五", "六", "七", "八", "九" }

-- A whole number 1..99 in Chinese numerals (7 -> 七, 15 -> 十五, 30 -> 三十).
local function chinese_number(n)
  if n < 10 then return numerals[n] or tostring(n) end
  if n > 99 then return tostring(n) end
  local tens, ones = n // 10, n % 10
  return (tens > 1 and numerals[tens] or "") .. "十" .. (ones > 0 and numerals[ones] or "")
end

local no_reason_text = chinese_number(policy.no_reason_days) .. "天无理由 " .. policy.no_reason_days ..
    "-day no-reason return"
local repeat_window_text = "in " .. policy.repeat_window // day .. " days"

-- The local (China) calendar day number of an instant.
local function china_day(instant)
  return (instant + policy.china_offset) // day
end

-- The thresholds of the refund's currency, or nil when policy names none.
local function thresholds_of(case)
  return policy.thresholds[case.currency or policy.currency]
end

-- Review by the role whose limit covers the amount (finance for a currency
-- without thresholds: nothing here says what is small in it).
local function review_for(case, amount, why)
  local limits = thresholds_of(case)
  if limits == nil then
    return { decision = "review", role = "finance",
             reason = why .. "; no refund thresholds in " .. (case.currency or "?") .. ": finance reviews" }
  end
  local role = amount <= limits.supervisor and "supervisor" or "finance"
  return { decision = "review", role = role, reason = why .. "; " .. role .. " reviews" }
end

-- Minor units as a decimal with the currency's digits ("12345" -> "123.45").
local function decimal(minor, digits)
  if digits == 0 then return tostring(minor) end
  local unit = 1
  for _ = 1, digits do unit = unit * 10 end
  return string.format("%d.%0" .. digits .. "d", minor // unit, minor % unit)
end

-- The thresholds hold for the order's refunds in all: what the host says the
-- order already has committed (approved, executing, paid) or waiting in review,
-- plus this request.  Split into small refunds, a large one is judged as large.
-- Approved (with approved_why) up to the currency's `auto` threshold in all, else
-- reviewed by the role whose limit covers the total (review_why, naming what was there).
local function approve_or_review(case, amount, approved_why, review_why)
  local before = (case.order_refunded or 0) + (case.order_in_review or 0)
  local total = amount + before
  local limits = thresholds_of(case)
  if limits == nil then return review_for(case, total, review_why) end
  if total <= limits.auto then
    return { decision = "approve", reason = approved_why }
  end
  if before > 0 then
    review_why = review_why .. "; order " .. (case.order or "?") .. " already has " .. decimal(before, limits.digits) ..
        " refunded or in review"
  end
  return review_for(case, total, review_why)
end

-- With the orders plugin loaded (plugins = orders), the order book fills in
-- what the case does not say: what was paid, when it was delivered, and
-- whether it has shipping insurance.  Without it the case's fields decide.
local function with_order_facts(case)
  local facts = { refund_amount = case.refund_amount, amount = case.amount, customer = case.customer,
                  delivered_at = case.delivered_at, refund_kind = case.refund_kind, goods_type = case.goods_type,
                  shipping_insurance = case.shipping_insurance, order = case.order, currency = case.currency,
                  order_refunded = case.order_refunded, order_in_review = case.order_in_review }
  local orders = plugins.orders
  local order = orders and case.order and orders.get(case.order)
  if order then
    if facts.amount == nil and (case.currency == nil or case.currency == order.currency) then
      facts.amount = order.paid_amount
    end
    facts.delivered_at = facts.delivered_at or order.delivered_at
    if facts.shipping_insurance == nil and order.shipping_insurance ~= nil then
      facts.shipping_insurance = order.shipping_insurance and "yes" or "no"
    end
  end
  return facts
end

local function decide_refund(case)
  case = with_order_facts(case)
  local amount, paid = case.refund_amount, case.amount
  if amount == nil or amount <= 0 then
    return { decision = "reject", reason = "no refund amount given" }
  end
  if paid ~= nil and amount > paid then
    return { decision = "reject", cap = paid, reason = "refund is more than what was paid" }
  end
  local cap = paid

  -- Repeat requesters go to risk review before anything is approved.
  local history = redress.customer(case.customer or "")
  local recent = redress.recent("customer:" .. (case.customer or ""), policy.repeat_window)
  if (history.cases or 0) >= policy.repeat_cases or recent >= policy.repeat_recent then
    return { decision = "review", role = "supervisor", cap = cap,
             reason = "risk review: repeat requester, " .. (history.cases or 0) .. " cases, " .. recent ..
                      " " .. repeat_window_text }
  end

  -- Not delivered yet: cancelling before shipment is refunded.
  if case.delivered_at == nil and case.refund_kind == "refund_only" then
    local d = approve_or_review(case, amount, "not delivered yet: order cancelled before delivery", "not delivered yet")
    d.cap = cap
    return d
  end

  -- Seven-day no-reason return: the 7 days start the day after delivery.
  if case.delivered_at ~= nil and case.refund_kind ~= "refund_only" then
    local days_since = china_day(redress.now()) - china_day(case.delivered_at)
    local in_window = days_since >= 0 and days_since <= policy.no_reason_days
    local excluded = policy.excluded_goods[case.goods_type or ""]
    if in_window and not excluded then
      local why = no_reason_text .. " (day " .. days_since .. ")"
      if case.shipping_insurance == "yes" then why = why .. "; 运费险 shipping insurance pays the return freight" end
      local d = approve_or_review(case, amount, why, why)
      d.cap = cap
      return d
    end
    if in_window and excluded then
      local before = (case.order_refunded or 0) + (case.order_in_review or 0)
      local d = review_for(case, amount + before, "goods type " .. case.goods_type .. " is excluded from no-reason returns")
      d.cap = cap
      return d
    end
  end

  if case.shipping_insurance == "yes" and case.refund_kind == "return_refund" then
    local why = "运费险 shipping insurance covers the return freight"
    local d = approve_or_review(case, amount, why, why)
    d.cap = cap
    return d
  end

  local d = approve_or_review(case, amount, "small refund approved automatically",
                              "outside the " .. policy.no_reason_days .. "-day no-reason window")
  d.cap = cap
  return d
end

-- Deadlines (platform practice), in days of clock time:
--   a return's (return_refund, exchange) goods must be shipped back within 7 days, or the refund closes;
--   the merchant confirms receipt within 10 days, or the refund is approved automatically;
--   a refund waiting for review is decided after 2 days: approved automatically.
-- An automatic approval is made by refund_automation.actor, and only up to its
-- approve_limit in the refund's currency (¥200.00) for the order's refunds in
-- all (the host counts what the order has committed): above it, or in a
-- currency the table does not name, the refund stays in review, overdue, and
-- the case is escalated (event refund_overdue).
local deadlines = { ship = 7 * day, receive = 10 * day, review = 2 * day }
refund_automation = { actor = "auto-approval", approve_limit = { CNY = 20000 } }

-- The kinds that take the goods back: an exchange is a return too (the host
-- pays nothing of it before the goods are received).
local returns_goods = { return_refund = true, exchange = true }

function refund(case)
  local d = decide_refund(case)
  if d.decision == "reject" then return d end
  if returns_goods[case.refund_kind] then
    d.ship_within, d.receive_within = deadlines.ship, deadlines.receive
  end
  d.review_within, d.review_outcome = deadlines.review, "approve"
  return d
end
