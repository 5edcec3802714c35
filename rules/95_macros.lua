-- 95_macros.lua: canned replies agents send with CASE.REPLY id MACRO name.
-- Each has a Chinese and an English text; the case's lang chooses (its first
-- two letters), else default_language.  Placeholders: {customer}, {order},
-- {case}, {subject}, {eta} (the earliest running deadline, Beijing time).

default_language = "zh"

macros = {
  apology_delay = {
    zh = "{customer} 您好，很抱歉您的订单 {order} 配送延误。我们已催促快递，会在 {eta} 前给您答复。",
    en = "Dear {customer}, we are sorry your order {order} is late. We have chased the courier and will update you by {eta}.",
  },
  need_photos = {
    zh = "您好，为了尽快处理您的问题（工单号 {case}），请上传商品破损处的照片。",
    en = "To handle your request (case {case}) quickly, please send us photos of the damage.",
  },
  refund_on_its_way = {
    zh = "您好，订单 {order} 的退款已经发起，将原路退回，一般 1 到 7 个工作日到账。",
    en = "The refund for order {order} is on its way back to how you paid; it usually arrives within 1 to 7 working days.",
  },
  -- The receipt at intake (customer_notice_receipt in 90_notices.lua): the
  -- case number and the first-response due in Beijing time.
  receipt = {
    zh = "您好，我们已收到您的问题（工单号 {case}），客服将在 {eta}（北京时间）前回复您。",
    en = "Hello, we have received your request (case {case}) and will reply by {eta} (Beijing time).",
  },
  closing = {
    zh = "感谢您的耐心，如还有其他问题，请随时联系我们。",
    en = "Thank you for your patience. If there is anything else, we are here to help.",
  },
}
