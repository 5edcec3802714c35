-- The benchmark's rule set: the same classification and priority work as the
-- Redis peer script (tests/bench/classify.lua), as redress hooks, so that the
-- durable CASE.OPEN comparison runs equal policy code on both sides.

vocabulary = {
  categories = { "refund", "return", "damaged", "shipping", "payment", "account", "invoice", "warranty",
                 "complaint", "general" },
  queues = { "support" },
}
defaults = { category = "general", queue = "support", priority = "P4" }

local CATS = {
  { name = "refund",    base = 3, kw = { "退款", "refund", "退钱", "money back" } },
  { name = "return",    base = 2, kw = { "退货", "return", "换货", "exchange" } },
  { name = "damaged",   base = 2, kw = { "划痕", "破损", "damaged", "broken", "scratch" } },
  { name = "shipping",  base = 1, kw = { "物流", "快递", "delivery", "shipping", "未收到" } },
  { name = "payment",   base = 3, kw = { "支付", "扣款", "payment", "charged twice" } },
  { name = "account",   base = 1, kw = { "账号", "登录", "password", "login" } },
  { name = "invoice",   base = 0, kw = { "发票", "invoice" } },
  { name = "warranty",  base = 1, kw = { "保修", "维修", "warranty", "repair" } },
  { name = "complaint", base = 3, kw = { "投诉", "complaint", "差评" } },
}
local TIER = { vip = 2, gold = 1, silver = 0, standard = 0 }
local CHANNEL = { phone = 1, chat = 1, email = 0, web = 0, social = 1 }

local function score(case)
  local s = string.lower(case.subject or "")
  local best, bestscore, hits = "general", 0, 0
  for i = 1, #CATS do
    local cat = CATS[i]
    local n = 0
    for j = 1, #cat.kw do
      if string.find(s, cat.kw[j], 1, true) then n = n + 1 end
    end
    hits = hits + n
    if n > bestscore then best, bestscore = cat.name, n end
  end
  return best, hits
end

-- classify scans the keywords once; priority reads its result from the
-- category and the "many_keywords" tag instead of scanning again.
function classify(case)
  local best, hits = score(case)
  return { category = best, queue = "support", tags = hits >= 3 and { "many_keywords" } or nil,
           reason = "peer keywords" }
end

local BASE = {}
for i = 1, #CATS do BASE[CATS[i].name] = CATS[i].base end

function priority(case)
  local base = BASE[case.category] or 0
  local hits = string.find(case.tags or "", "many_keywords", 1, true) and 3 or 0
  local amount = case.amount or 0
  local pts = base + (TIER[case.tier] or 0) + (CHANNEL[case.channel] or 0)
  if amount >= 100000 then pts = pts + 2 elseif amount >= 20000 then pts = pts + 1 end
  if hits >= 3 then pts = pts + 1 end
  local prio
  if pts >= 6 then prio = "P1" elseif pts >= 4 then prio = "P2" elseif pts >= 2 then prio = "P3" else prio = "P4" end
  return { priority = prio, reason = "peer points " .. pts }
end
