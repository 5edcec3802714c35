-- 00_vocabulary.lua: the names this rule set uses, its defaults, its calendars,
-- and small text helpers the other files share.  Files load in name order,
-- so everything here is visible to 10_faq.lua and later files.

vocabulary = {
  categories = {
    "product_quality",   -- broken, defective, damaged goods
    "logistics",         -- delivery late, lost, tracking
    "wrong_order",       -- wrong item, missing item
    "service_complaint", -- complaints about staff or service
    "price_dispute",     -- price drops, price protection, overcharge
    "account_security",  -- stolen account, suspicious login
    "technical_fault",   -- app or site errors
    "payment",           -- failed or double payments
    "refund_policy",     -- refund and return questions
    "general_inquiry",   -- everything else
  },
  queues = { "support", "logistics", "finance", "tech", "risk", "supervisors" },
  priorities = { "P1", "P2", "P3", "P4" },   -- P1 most urgent
  channels = { "phone", "email", "chat", "social", "web", "app", "wechat" },   -- where customers reach us
}

-- What applies when no rule decides (or a decision is refused).
defaults = { category = "general_inquiry", queue = "support", priority = "P3" }

-- How queues hand out their cases (see README.md, Assignment): every queue
-- is manual here -- agents CASE.CLAIM their work -- so intake reads nothing
-- about agents.  Name a queue "round_robin" or "least_loaded" to have it
-- handed to its online agents, at most `capacity` open cases each.
-- What resolving an incident (a spike's case, see 30_priority.lua) does to
-- the cases linked to it: each gets the incident's message as a reply and
-- is resolved with it.
incidents = { on_resolve = "resolve" }

assignment = {
  capacity = 8,
  queues = { support = "manual", logistics = "manual", finance = "manual", tech = "manual", risk = "manual",
             supervisors = "manual" },
}

-- Business calendars for deadlines (China time).  "always" (24x7) is built in.
calendars = {
  business_hours = {
    zone = "Asia/Shanghai",
    week = {
      mon = { "09:00-18:00" }, tue = { "09:00-18:00" }, wed = { "09:00-18:00" },
      thu = { "09:00-18:00" }, fri = { "09:00-18:00" }, sat = { "10:00-16:00" },
    },
    -- 2026 public holidays (元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆)
    holidays = {
      "2026-01-01", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
      "2026-04-05", "2026-05-01", "2026-05-02", "2026-06-19", "2026-09-25",
      "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
    },
  },
}

-- Customers are not written to at night (22:00-08:00 China time): their
-- quiet hours, every day (90_notices.lua names it customer_notice_calendar).
calendars.customer_hours = {
  zone = "Asia/Shanghai",
  week = {
    mon = { "08:00-22:00" }, tue = { "08:00-22:00" }, wed = { "08:00-22:00" }, thu = { "08:00-22:00" },
    fri = { "08:00-22:00" }, sat = { "08:00-22:00" }, sun = { "08:00-22:00" },
  },
}

-- Escalation notices go out in business hours only: one raised at night
-- waits for the next opening (the case's escalation itself happens at once).
notification_calendar = "business_hours"

-- The order of priorities, to raise or lower by steps.
priority_rank = { P1 = 1, P2 = 2, P3 = 3, P4 = 4 }
priority_names = { "P1", "P2", "P3", "P4" }

-- Raises a priority by `steps` (P3 raised by 1 is P2), never above P1.
-- (The two tables as locals: a global is reached through the sealed
-- environment's lookups on every call.)
local rank_of, name_of = priority_rank, priority_names
function raise_priority(priority, steps)
  local rank = (rank_of[priority] or 3) - (steps or 1)
  if rank < 1 then rank = 1 end
  if rank > 4 then rank = 4 end
  return name_of[rank]
end

-- The case's subject and body, as the keyword matchers read them: a
-- matcher ignores the case of English letters (Chinese has none), so the
-- text needs no lower-case copy.  (classify and priority give their
-- matchers the three pieces instead, m:match(case.subject or "", " ",
-- case.body or ""): the same text, without this joined copy per case.)
function case_words(case)
  return (case.subject or "") .. " " .. (case.body or "")
end

-- The case's subject and body in lower case, for rules that search it with
-- string.find (English matching ignores case; Chinese has no case).
function case_text(case)
  return string.lower(case_words(case))
end

-- How many keywords of `list` appear in `text` (plain search, no patterns).
-- Keyword lists searched on every case belong in a matcher instead
-- (redress.matcher, built once at load: one pass over the text for all of
-- them); this is for a list used now and then.
function count_matches(text, list)
  local n = 0
  for i = 1, #list do
    if string.find(text, list[i], 1, true) then n = n + 1 end
  end
  return n
end

-- The keywords of `list` found in `text` (for reasons).
function matches(text, list)
  local found = {}
  for _, keyword in ipairs(list) do
    if string.find(text, keyword, 1, true) then found[#found + 1] = keyword end
  end
  return found
end

-- How many keywords of group `group` a matcher's result holds (0 when none).
function found_count(found, group)
  local list = found[group]
  return list and #list or 0
end

-- Keywords that signal a legal threat or a safety risk, whatever the category.
legal_keywords = { "12315", "消费者协会", "消协", "起诉", "律师", "法院", "工商局", "市场监管",
                   "lawsuit", "lawyer", "sue ", "court", "legal action" }
safety_keywords = { "起火", "着火", "爆炸", "冒烟", "漏电", "触电", "烫伤", "受伤", "过敏",
                    "fire", "smoke", "explode", "exploded", "electric shock", "burn", "injury", "injured" }
account_theft_keywords = { "被盗", "盗号", "被黑", "异地登录", "hacked", "stolen account", "account stolen",
                           "someone logged in", "unauthorized login" }
