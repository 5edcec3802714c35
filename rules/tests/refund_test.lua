-- Tests of 50_refund.lua.  Tests start at 2026-01-01T00:00:00Z (08:00 China time).

local jan1 = 1767225600               -- 2026-01-01T00:00:00Z
local day = 86400

local function refund(fields)
  fields.category = fields.category or "refund_policy"
  fields.customer = fields.customer or "C-1"
  return decide("refund", fields)
end

function test_seven_day_window_day_7_approved()
  -- delivered 2026-01-01 (China); day 7 is 2026-01-08 China time
  set_clock(jan1 + 7 * day)
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.decision, "approve", "decision")
  expect(d.cap, "4000", "cap")
end

function test_seven_day_window_day_8_not_no_reason()
  set_clock(jan1 + 8 * day)
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.decision, "approve", "small refunds are still approved")
  expect(d.reason, "small refund approved automatically", "but not as a no-reason return")
end

function test_day_8_large_goes_to_review()
  set_clock(jan1 + 8 * day)
  local d = refund({ amount = 59900, refund_amount = 59900, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.decision, "review", "decision")
  expect(d.role, "supervisor", "role")
end

function test_window_counts_china_days()
  -- delivered 2026-01-01 23:30 China (15:30Z); 2026-01-08 23:59 China is still day 7
  local delivered = jan1 + 15 * 3600 + 30 * 60
  set_clock(jan1 + 7 * day + 15 * 3600 + 59 * 60)
  local d = refund({ amount = 1000, refund_amount = 1000, refund_kind = "return_refund", delivered_at = delivered })
  expect(string.find(d.reason, "day 7", 1, true) ~= nil, true, "day 7: " .. d.reason)
  set_clock(jan1 + 7 * day + 16 * 3600)  -- 2026-01-09 00:00 China: day 8
  d = refund({ amount = 1000, refund_amount = 1000, refund_kind = "return_refund", delivered_at = delivered })
  expect(d.reason, "small refund approved automatically", "day 8")
end

function test_auto_approve_boundary()
  set_clock(jan1 + 2 * day)
  local at = refund({ amount = 5000, refund_amount = 5000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(at.decision, "approve", "exactly ¥50.00")
  local over = refund({ amount = 5001, refund_amount = 5001, refund_kind = "return_refund", delivered_at = jan1 })
  expect(over.decision, "review", "one fen over")
  expect(over.role, "supervisor", "role")
end

function test_thresholds_are_per_currency()
  set_clock(jan1 + 2 * day)
  -- ¥50.00 is approved at once; 5000 JPY (or 5.000 KWD) is not "¥50.00": the shipped
  -- thresholds name CNY only, so finance reviews a refund in any other currency.
  local cny = refund({ amount = 5000, refund_amount = 5000, refund_kind = "return_refund", delivered_at = jan1,
                       currency = "CNY" })
  expect(cny.decision, "approve", "CNY at the threshold")
  for _, currency in ipairs({ "JPY", "KWD", "USD" }) do
    local d = refund({ amount = 5000, refund_amount = 5000, refund_kind = "return_refund", delivered_at = jan1,
                       currency = currency })
    expect(d.decision, "review", currency .. " decision")
    expect(d.role, "finance", currency .. " role")
    expect(string.find(d.reason, "no refund thresholds in " .. currency .. ": finance reviews", 1, true) ~= nil, true,
           currency .. " reason: " .. d.reason)
  end
  -- Not delivered, small, in USD: reviewed too (no path approves outside the thresholds' currencies).
  local d = refund({ amount = 100, refund_amount = 100, refund_kind = "refund_only", currency = "USD" })
  expect(d.decision, "review", "USD not delivered")
end

function test_finance_reviews_large_refunds()
  set_clock(jan1 + 2 * day)
  local d = refund({ amount = 200001, refund_amount = 200001, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.role, "finance", "over ¥2000")
  d = refund({ amount = 200000, refund_amount = 200000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.role, "supervisor", "exactly ¥2000")
end

function test_refund_over_paid_is_rejected()
  local d = refund({ amount = 19900, refund_amount = 19901, refund_kind = "refund_only" })
  expect(d.decision, "reject", "decision")
  expect(d.cap, "19900", "cap")
end

function test_missing_amount_is_rejected()
  expect(refund({ amount = 19900, refund_kind = "refund_only" }).decision, "reject", "decision")
end

function test_not_delivered_refund_only()
  expect(refund({ amount = 3000, refund_amount = 3000, refund_kind = "refund_only" }).decision, "approve", "small")
  local d = refund({ amount = 30000, refund_amount = 30000, refund_kind = "refund_only" })
  expect(d.decision, "review", "large")
end

function test_excluded_goods_are_reviewed()
  set_clock(jan1 + 2 * day)
  local d = refund({ amount = 3000, refund_amount = 3000, refund_kind = "return_refund", delivered_at = jan1,
                     goods_type = "fresh" })
  expect(d.decision, "review", "fresh goods")
end

function test_shipping_insurance_is_mentioned()
  set_clock(jan1 + 3 * day)
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1,
                     shipping_insurance = "yes" })
  expect(d.decision, "approve", "decision")
  expect(string.find(d.reason, "运费险", 1, true) ~= nil, true, "reason names 运费险")
end

function test_repeat_requester_goes_to_risk_review()
  mock_customer("C-9", { cases = 5, open = 1 })
  local d = refund({ customer = "C-9", amount = 1000, refund_amount = 1000, refund_kind = "refund_only" })
  expect(d.decision, "review", "decision")
  expect(d.role, "supervisor", "role")
  expect(string.find(d.reason, "risk review", 1, true) ~= nil, true, "reason")
end

function test_recent_requests_go_to_risk_review()
  mock_recent("customer:C-7", 3)
  local d = refund({ customer = "C-7", amount = 1000, refund_amount = 1000, refund_kind = "refund_only" })
  expect(d.decision, "review", "three in 30 days")
  mock_recent("customer:C-7", 2)
  expect(refund({ customer = "C-7", amount = 1000, refund_amount = 1000, refund_kind = "refund_only" }).decision,
         "approve", "two in 30 days")
end

-- With the orders plugin, the order book says what the case does not.
function test_order_facts_from_the_orders_plugin()
  set_clock(jan1 + 3 * day)
  mock_plugin("orders", { get = function(id)
    if id ~= "O-9" then return nil end
    return { order_id = "O-9", paid_amount = 3000, currency = "CNY", delivered_at = jan1, shipping_insurance = true,
             items = { "mug" }, item_count = 1 }
  end })
  local d = refund({ order = "O-9", refund_amount = 3000, refund_kind = "return_refund" })
  expect(d.decision, "approve", "decision")
  expect(d.cap, "3000", "the paid amount comes from the order")
  expect(d.reason:find("七天无理由", 1, true) ~= nil, true, "delivery time from the order: inside the 7 days")
  expect(d.reason:find("运费险", 1, true) ~= nil, true, "shipping insurance from the order")
  -- more than the order's paid amount is refused
  d = refund({ order = "O-9", refund_amount = 3001, refund_kind = "return_refund" })
  expect(d.decision, "reject", "over the paid amount")
  -- an unknown order changes nothing: not delivered, so a cancellation
  d = refund({ order = "O-404", refund_amount = 1000, refund_kind = "refund_only" })
  expect(d.reason, "not delivered yet: order cancelled before delivery", "no order facts")
end

function test_without_the_orders_plugin_the_case_decides()
  set_clock(jan1 + 3 * day)
  local d = refund({ order = "O-9", refund_amount = 1000, refund_kind = "refund_only" })
  expect(d.reason, "not delivered yet: order cancelled before delivery", "plugins.orders is nil")
end

function test_reasons_are_built_from_the_policy()
  set_clock(jan1 + 3 * day)
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.reason, "七天无理由 7-day no-reason return (day 3)", "in the window")
  set_clock(jan1 + 20 * day)
  d = refund({ amount = 90000, refund_amount = 90000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.reason, "outside the 7-day no-reason window; supervisor reviews", "outside it")
  mock_recent("customer:C-1", 3)
  d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.reason, "risk review: repeat requester, 0 cases, 3 in 30 days", "repeat requester")
end

function test_returns_and_reviews_carry_their_deadlines()
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "return_refund", delivered_at = jan1 })
  expect(d.decision, "approve", "decision")
  expect(d.ship_within, tostring(7 * day), "ship within 7 days")
  expect(d.receive_within, tostring(10 * day), "receive within 10 days")
  expect(d.review_within, tostring(2 * day), "review within 2 days")
  expect(d.review_outcome, "approve", "review outcome")
  local only = refund({ amount = 4000, refund_amount = 4000, refund_kind = "refund_only" })
  expect(only.ship_within, nil, "no return for a refund_only")
  local rejected = refund({ amount = 100, refund_amount = 4000, refund_kind = "return_refund" })
  expect(rejected.decision, "reject", "over what was paid")
  expect(rejected.ship_within, nil, "no deadline for a rejection")
end

function test_an_exchange_is_a_return()
  local d = refund({ amount = 4000, refund_amount = 4000, refund_kind = "exchange", delivered_at = jan1 })
  expect(d.decision, "approve", "decision")
  expect(d.ship_within, tostring(7 * day), "the goods are shipped back within 7 days")
  expect(d.receive_within, tostring(10 * day), "and confirmed received within 10")
end

-- The thresholds hold for the order's refunds in all, not for each request.
function test_thresholds_count_what_the_order_already_has()
  local d = refund({ order = "O-1", amount = 100000, refund_amount = 3000, refund_kind = "refund_only",
                     order_refunded = 0, order_in_review = 0 })
  expect(d.decision, "approve", "the first ¥30.00")
  d = refund({ order = "O-1", amount = 100000, refund_amount = 3000, refund_kind = "refund_only",
               order_refunded = 8000 })
  expect(d.decision, "review", "¥30.00 more on an order that has ¥80.00 committed")
  expect(d.role, "supervisor", "role")
  expect(d.reason, "not delivered yet; order O-1 already has 80.00 refunded or in review; supervisor reviews", "reason")
  d = refund({ order = "O-1", amount = 100000, refund_amount = 1000, refund_kind = "refund_only",
               order_in_review = 9500 })
  expect(d.decision, "review", "a review waiting counts too")
  set_clock(jan1 + 2 * day)
  d = refund({ order = "O-1", amount = 300000, refund_amount = 20000, refund_kind = "return_refund",
               delivered_at = jan1, order_refunded = 150000, order_in_review = 40000 })
  expect(d.role, "finance", "¥2100.00 in all is over a supervisor's review")
  set_clock(jan1 + 20 * day)
  d = refund({ order = "O-1", amount = 100000, refund_amount = 1000, refund_kind = "refund_only",
               delivered_at = jan1, order_refunded = 4000 })
  expect(d.decision, "approve", "¥50.00 in all is still approved at once")
  expect(d.reason, "small refund approved automatically", "reason")
end
