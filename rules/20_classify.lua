-- 20_classify.lua: what is this case about?  Category, queue, tags, FAQ
-- suggestions, and an automatic answer for a plain question.

-- Keywords per category, Chinese and English (English is matched in lower
-- case).  The category with the most matches wins; ties go to the earlier
-- entry in this list, so more specific categories come first.
local categories = {
  { name = "account_security", keywords = account_theft_keywords },
  { name = "payment", keywords = { "扣款", "重复扣", "扣了两次", "支付失败", "付款失败", "多扣",
      "charged twice", "double charge", "payment failed", "card declined", "charged" } },
  { name = "wrong_order", keywords = { "发错", "错发", "少发", "漏发", "不是我买的", "wrong item",
      "wrong size", "wrong colour", "wrong color", "missing item", "not what i ordered" } },
  { name = "product_quality", keywords = { "破损", "坏了", "碎了", "划痕", "质量问题", "瑕疵", "故障",
      "不能用", "damaged", "broken", "defective", "cracked", "scratch", "faulty", "stopped working" } },
  { name = "logistics", keywords = { "快递", "物流", "没收到", "未收到", "配送", "丢件", "派送", "发货",
      "delivery", "parcel", "tracking", "shipping", "courier", "not received", "never arrived", "late" } },
  { name = "price_dispute", keywords = { "降价", "价保", "差价", "价格", "多收", "price drop",
      "price protection", "price difference", "overcharged" } },
  { name = "technical_fault", keywords = { "闪退", "打不开", "报错", "无法登录", "页面", "系统错误",
      "app crash", "crash", "error", "bug", "cannot log in", "can't log in", "website" } },
  { name = "service_complaint", keywords = { "投诉", "态度差", "态度恶劣", "客服不理", "差评",
      "complaint", "complain", "rude", "unprofessional", "terrible service" } },
  { name = "refund_policy", keywords = { "退款", "退货", "七天无理由", "7天无理由", "退钱", "换货",
      "refund", "return", "money back", "exchange" } },
}

local queue_of = {
  product_quality = "support", logistics = "logistics", wrong_order = "logistics",
  service_complaint = "supervisors", price_dispute = "finance", account_security = "risk",
  technical_fault = "tech", payment = "finance", refund_policy = "finance", general_inquiry = "support",
}

local policy = {
  max_faq = 3,   -- FAQ articles suggested at most
}

local damaged_keywords = { "破损", "碎了", "damaged", "cracked" }

-- Every keyword list classify looks at, in one matcher built once at load:
-- a case's text is read once for all of them.  Group names: the category's
-- ("category:logistics"), the FAQ article's ("faq:faq-tracking"), and the
-- lists' (legal, safety, damaged, question, problem).
local groups = { legal = legal_keywords, safety = safety_keywords, damaged = damaged_keywords,
                 question = question_words, problem = problem_words }
local category_group, faq_group = {}, {}
-- From a group name back to its place: a case's text matches few groups,
-- so classify walks the groups found, not every category and article.
local category_at, faq_at = {}, {}
for i, category in ipairs(categories) do
  category_group[i] = "category:" .. category.name
  groups[category_group[i]] = category.keywords
  category_at[category_group[i]] = i
end
for i, article in ipairs(faq) do
  faq_group[i] = "faq:" .. article.id
  assert(groups[faq_group[i]] == nil, "two FAQ articles with the id " .. article.id)
  groups[faq_group[i]] = article.keywords
  faq_at[faq_group[i]] = i
end
local keywords = redress.matcher(groups)

-- Globals read on every case, looked up once here: the globals are sealed
-- after load, so these stay what the names hold.
local pairs, sort, concat, min, faq = pairs, table.sort, table.concat, math.min, faq

-- More hits first; ties: the earlier article.  Defined once, not per case.
local function better_article(a, b)
  if a.hits ~= b.hits then return a.hits > b.hits end
  return a.at < b.at
end

-- The FAQ articles found (hits_of: { {at, hits}, ... }, gathered by
-- classify's walk of the groups found), best first (ties: the earlier
-- article), at most policy.max_faq.
local function suggest_faq(hits_of)
  if #hits_of > 1 then sort(hits_of, better_article) end
  local ids = {}
  for i = 1, min(#hits_of, policy.max_faq) do ids[i] = faq[hits_of[i].at].id end
  return ids, hits_of[1] and faq[hits_of[1].at]
end

-- "matched: k1, k2, ...": one or two keywords (most cases) joined in one
-- concatenation, more through table.concat.
local function matched(list)
  local n = #list
  if n == 1 then return "matched: " .. list[1] end
  if n == 2 then return "matched: " .. list[1] .. ", " .. list[2] end
  return "matched: " .. concat(list, ", ")
end

function classify(case)
  -- The text case_words(case) joins, given in its three pieces: the
  -- matcher reads them as one, without the joined copy.
  local found = keywords:match(case.subject or "", " ", case.body or "")
  -- The category with the most keywords found; ties go to the earlier one.
  -- The same walk gathers the FAQ articles found.
  local best, best_hits, best_group, best_at = "general_inquiry", 0, nil, nil
  local hits_of = {}
  for group, list in pairs(found) do
    local at = category_at[group]
    if at then
      if #list > best_hits or (#list == best_hits and at < best_at) then
        best, best_hits, best_group, best_at = categories[at].name, #list, group, at
      end
    else
      at = faq_at[group]
      if at then hits_of[#hits_of + 1] = { at = at, hits = #list } end
    end
  end

  local tags = {}
  local legal = found.legal ~= nil
  local safety = found.safety ~= nil
  if legal then tags[#tags + 1] = "legal_threat" end
  if safety then tags[#tags + 1] = "safety" end
  if best == "account_security" then tags[#tags + 1] = "account_theft" end
  if best == "product_quality" and found.damaged then
    tags[#tags + 1] = "damaged"
  end

  -- A legal threat goes to supervisors whatever the topic.
  local queue = queue_of[best]
  if legal then queue = "supervisors" end

  -- What escalates the moment the case opens: the escalate hook gets this
  -- event (a legal threat first, then a complaint about the service).
  local escalate
  if legal then escalate = "legal_threat"
  elseif best == "service_complaint" then escalate = "complaint" end

  local faq_ids, top_article = suggest_faq(hits_of)
  local decision = {
    category = best, queue = queue, tags = tags, faq = faq_ids, escalate = escalate,
    reason = best_group and matched(found[best_group]) or "no keyword matched",
  }

  -- A plain question with a known answer is answered and resolved at once;
  -- never when the text describes a problem, a threat or a risk.
  local question = found.question ~= nil
  local problem = found.problem ~= nil or legal or safety
  if question and not problem and top_article and top_article.answer then
    decision.auto_reply = top_article.answer
    decision.resolve = true
    decision.reason = decision.reason .. "; answered from " .. top_article.id
  end
  return decision
end
