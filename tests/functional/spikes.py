"""spikes.py -- what the incident tests share: a rule set in which a spike of outage cases (two within the
hour, tag app, queue support) opens an incident, scanner cases (tag scanner, queue tech) too when asked,
and the cases of a spike opened one at a time on the test clock.

    with RuleFolder(spike_rules()) as rules, Daemon(rules=rules) as d:
        ids = opens(d.client(), 5)
"""

T0 = 1795138200            # Thursday 2026-11-19 09:30 in Shanghai

OUTAGE_RULES = """
vocabulary = { categories = { "general", "outage" }, queues = { "support", "tech" } }
defaults = { category = "general", queue = "support", priority = "P3" }
incidents = { on_resolve = "%(on_resolve)s" }
function classify(case)
  if (case.subject or ""):find("outage", 1, true) then return { category = "outage", queue = "support", tags = { "app" } } end
  return { category = "general" }
end
function priority(case)
  if case.category == "outage" and redress.recent("tag:app", 3600) >= 2 then
    return { priority = "%(priority)s", incident = "tag:app", incident_window = 3600, reason = "outage spike" }
  end
  return { priority = "P3" }
end
function sla(case) return { first_response = 3600, resolution = 86400 } end
"""

# A second file: scanner cases spike too, in queue tech (P2); the channels the HTTP tests write on.
SCANNER_RULES = """
vocabulary.categories[#vocabulary.categories + 1] = "scanner"
vocabulary.channels = { "web", "email", "chat" }
local outage_classify, outage_priority = classify, priority
function classify(case)
  if (case.subject or ""):find("scanner", 1, true) then return { category = "scanner", queue = "tech", tags = { "scanner" } } end
  return outage_classify(case)
end
function priority(case)
  if case.category == "scanner" and redress.recent("tag:scanner", 3600) >= 2 then
    return { priority = "P2", incident = "tag:scanner", incident_window = 3600, reason = "scanner spike" }
  end
  return outage_priority(case)
end
"""


def spike_rules(priority="P1", on_resolve="notify", scanner=False):
    """The rule files' texts (for RuleFolder): an outage spike raises its cases to `priority`; resolving an
    incident resolves its cases or only tells them (`on_resolve`, "notify" the default); with `scanner`,
    scanner cases spike too."""
    outage = OUTAGE_RULES % {"priority": priority, "on_resolve": on_resolve}
    return (outage, SCANNER_RULES) if scanner else (outage,)


def opens(c, n, step=60, subject="app outage", customer="C"):
    """n cases (customers CUSTOMER-0, -1, ...), the clock moved `step` seconds before each; their ids.  One
    at a time, not pipelined: the spike counts learn of a case once its batch commits, as in real traffic."""
    ids = []
    for i in range(n):
        c.call("DEBUG.CLOCK", "ADVANCE", step)
        ids.append(c.call("CASE.OPEN", "customer", "%s-%d" % (customer, i), "subject", subject, "channel", "web"))
        assert isinstance(ids[-1], int), ids[-1]
    return ids
