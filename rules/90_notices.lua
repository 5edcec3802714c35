-- 90_notices.lua: what the customer is told, and when (the customer_notice hook).
-- Texts in Chinese and English, chosen by the case's lang (Chinese unless it
-- says English).  Notices wait out the customers' quiet hours and at most
-- five go to one customer in an hour -- except urgent ones (a P1 case).

customer_notice_calendar = "customer_hours"
-- The receipt at intake is the macro `receipt` (95_macros.lua) filled in by
-- the host: no hook call per new case.  It goes at once (the customer has
-- just written); the hook below still says it for a case without an
-- expected time, and for RULES.EVAL.
customer_notice_receipt = "receipt"
customer_notice_limit = { count = 5, seconds = 3600 }

local BEIJING = 8 * 3600

-- An instant as the customer reads it: local time in China.
local function local_time(t)
  return os.date("!%Y-%m-%d %H:%M", t + BEIJING)
end

notice_texts = {
  received_no_eta = {
    zh = "您好，我们已收到您的问题（工单号 %d），会尽快回复您。",
    en = "Hello, we have received your request (case %d) and will reply as soon as we can.",
  },
  waiting = {
    zh = "为了继续处理您的问题（工单号 %d），我们需要您的回复，请查看我们的消息。",
    en = "To go on with your request (case %d) we need a reply from you: please see our message.",
  },
  transferred = {
    zh = "您的问题（工单号 %d）已转交给专门的团队处理。",
    en = "Your request (case %d) has been passed to the team that handles it.",
  },
  escalated = {
    zh = "您的问题（工单号 %d）已升级，主管将亲自跟进。",
    en = "Your request (case %d) has been escalated: a supervisor is following it.",
  },
  refund_approved = {
    zh = "您的退款（工单号 %d）已批准，将原路退回。",
    en = "Your refund (case %d) has been approved and will be paid back the way you paid.",
  },
  refund_paid = {   -- %s: the amount as the host writes it ("199.00 CNY")
    zh = "您的退款 %s（工单号 %d）已退回原支付账户，请注意查收。",
    en = "Your refund of %s (case %d) has been paid back the way you paid.",
  },
  refund_review = {
    zh = "您的退款申请（工单号 %d）正在审核中，我们会尽快告诉您结果。",
    en = "Your refund request (case %d) is being reviewed; we will tell you the outcome soon.",
  },
  refund_rejected = {
    zh = "很抱歉，您的退款申请（工单号 %d）未通过，原因请查看客服的回复。",
    en = "We are sorry: your refund request (case %d) was not approved; our reply says why.",
  },
  resolved = {
    zh = "您的问题（工单号 %d）已处理完毕。如仍有疑问，请直接回复本消息。",
    en = "Your request (case %d) has been resolved. If anything is still wrong, just reply to this message.",
  },
  survey = {
    zh = "请为本次服务（工单号 %d）打分，1 到 5 分，感谢您的反馈！",
    en = "Please rate our service on case %d from 1 to 5. Thank you!",
  },
}

local function language(case)
  local lang = string.lower(case.lang or "")
  if string.sub(lang, 1, 2) == "en" then return "en" end
  return "zh"
end

function customer_notice(case)
  local key = case.event
  if key == "received" and not case.eta then key = "received_no_eta" end
  if key == "refund_decided" then key = "refund_" .. (case.decision or "review") end
  local lang = language(case)
  local text
  if key == "received" then   -- the receipt macro's text, as the host fills it in
    text = string.gsub(macros.receipt[lang], "{(%a+)}", { case = tostring(case.id), eta = local_time(case.eta) })
  else
    local texts = notice_texts[key]
    if not texts then return {} end
    if key == "refund_paid" then
      text = string.format(texts[lang], case.amount or "", case.id)
    else
      text = string.format(texts[lang], case.id)
    end
  end
  return { text = text, urgent = case.priority == "P1",
           reason = case.event .. " (" .. lang .. ")" }
end
