-- customer_notice: what the customer is told, in the case's language.
local T = 1790000000   -- 2026-09-21 22:13:20 in Beijing

function test_receipt_tells_the_expected_time_in_chinese_by_default()
  local d = decide("customer_notice", { event = "received", id = 42, eta = T + 3600, priority = "P3" })
  expect(d.text, "您好，我们已收到您的问题（工单号 42），客服将在 2026-09-21 23:13（北京时间）前回复您。", "text")
  expect(d.urgent, nil, "urgent")
end

function test_english_when_the_case_says_so()
  local d = decide("customer_notice", { event = "received", id = 7, eta = T, lang = "en-GB", priority = "P3" })
  expect(d.text, "Hello, we have received your request (case 7) and will reply by 2026-09-21 22:13 (Beijing time).",
         "text")
  expect(decide("customer_notice", { event = "resolved", id = 7, lang = "en" }).text,
         "Your request (case 7) has been resolved. If anything is still wrong, just reply to this message.", "text")
end

function test_refund_decisions_and_the_survey()
  expect(decide("customer_notice", { event = "refund_decided", decision = "approved", id = 3 }).text,
         "您的退款（工单号 3）已批准，将原路退回。", "approved")
  expect(decide("customer_notice", { event = "refund_decided", decision = "rejected", id = 3, lang = "en" }).text,
         "We are sorry: your refund request (case 3) was not approved; our reply says why.", "rejected")
  expect(decide("customer_notice", { event = "survey", id = 3 }).text, "请为本次服务（工单号 3）打分，1 到 5 分，感谢您的反馈！", "survey")
end

function test_a_paid_refund_says_the_amount_as_the_host_wrote_it()
  expect(decide("customer_notice", { event = "refund_paid", amount = "199.00 CNY", id = 3 }).text,
         "您的退款 199.00 CNY（工单号 3）已退回原支付账户，请注意查收。", "zh")
  expect(decide("customer_notice", { event = "refund_paid", amount = "12.50 CNY", id = 3, lang = "en" }).text,
         "Your refund of 12.50 CNY (case 3) has been paid back the way you paid.", "en")
end

function test_a_p1_case_is_told_at_once_and_other_events_say_nothing()
  expect(decide("customer_notice", { event = "escalated", id = 9, priority = "P1" }).urgent, "true", "urgent")
  expect(decide("customer_notice", { event = "assigned", id = 9 }).text, nil, "no notice")
end
