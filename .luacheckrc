-- .luacheckrc -- what luacheck knows of redress rule sets (rules/ and examples/*/):
-- the globals a rule set defines and the ones the host gives it (rules/README.md).
-- `make test` runs luacheck with it; `redressd --test-rules DIR` passes the same
-- names on luacheck's command line (core/rules/testing.c), so a set checks alike
-- wherever it lives.
std = "lua54"
-- What the sandbox does not offer: using one is an error at run time, so a warning here.
not_globals = { "print", "load", "loadstring", "dofile", "loadfile", "require", "package", "io", "debug",
                "coroutine", "rawset", "collectgarbage" }
-- What a rule set defines, and what the host reads from it.
globals = { "vocabulary", "defaults", "calendars", "automation_timers", "notification_calendar",
            "classify", "priority", "sla", "refund", "escalate", "automations", "assign",
            "incidents", "assignment", "refund_automation",
            -- the customer's side: threading, notices, macros, reopening
            "thread", "thread_match", "customer_notice", "customer_notice_calendar", "customer_notice_limit",
            "customer_notice_receipt", "macros", "default_language", "reopen_window" }
-- What the host gives the rules.
read_globals = { "redress", "plugins" }
-- Rule tests define test_* functions and call the runner's helpers.
files["**/tests/*_test.lua"] = {
  allow_defined_top = true,
  ignore = { "131" },          -- test_* functions are found by the runner, not called here
  read_globals = { "decide", "expect", "mock_recent", "mock_customer", "mock_plugin", "set_clock" },
}
max_line_length = 170
-- The shipped set shares these between its files (a table of an early file read by a later one).
files["rules/*.lua"] = {
  globals = { "faq", "question_words", "problem_words", "legal_keywords", "safety_keywords",
              "account_theft_keywords", "found_count", "case_words", "raise_priority", "priority_rank",
              "priority_names", "case_text", "count_matches", "matches", "notice_texts" },
}
files["rules/tests/*_test.lua"] = { read_globals = { "raise_priority", "case_text", "count_matches", "matches" } }
