/* test_case_merge.c -- the case module's merge on a real store: what is
 * copied and moved, the duplicate's end, case_merged_into following a chain
 * (what intake and CASE.MESSAGE route a merged case's messages with), and
 * case_is_internal. */
#include "case_fixture.h"
#include "check.h"
#include "domain/call.h"
#include "domain/case.h"
#include "lib/lifecycle.h"

#include <string.h>

TEST(case_merge_copies_messages_moves_links_and_closes_the_duplicate) {
    if (fx_open_store()) return;
    int64_t a = fx_create("support", NULL), b = fx_create("support", NULL), c = fx_create("support", NULL);
    struct case_row ra, rb, rc;
    LOAD_OR_END(a, &ra);
    LOAD_OR_END(b, &rb);
    LOAD_OR_END(c, &rc);
    fx_begin();
    CHECK_INT(case_message(&case_call, &ra, 0, "a note", 6, NULL), 0);
    CHECK_INT(case_link(&case_call, &ra, &rc), 0);
    fx_end(1);
    fx_begin();
    CHECK_INT(case_merge(&case_call, &ra, &rb, "dup", 3), 0);
    fx_end(1);
    CHECK_INT(ra.state, CASE_CLOSED);
    CHECK_STR(fx_query("SELECT state || '|' || resolution_code || '|' || merged_into FROM cases WHERE id = %lld", a),
              fx_text("closed|merged|%lld", b));
    CHECK_STR(fx_query("SELECT detail || '|' || merged_from FROM events WHERE case_id = %lld AND kind = 'note'", b),
              fx_text("a note|%lld", a));
    CHECK_INT(fx_query_int("SELECT count(*) FROM case_links WHERE case_id = %lld", b), 2);   /* c and a */
    CHECK_INT(fx_query_int("SELECT count(*) FROM case_links WHERE case_id = %lld", a), 1);   /* b only */
    int64_t survivor = 0;
    CHECK_INT(case_merged_into(&case_call, a, &survivor), 0);
    CHECK_INT(survivor, b);
    CHECK_INT(case_merged_into(&case_call, c, &survivor), 0);
    CHECK_INT(survivor, c);
    fx_begin();
    CHECK_INT(case_merge(&case_call, &rb, &rc, NULL, 0), 0);
    fx_end(1);
    CHECK_INT(case_merged_into(&case_call, a, &survivor), 0);
    CHECK_INT(survivor, c);                                  /* followed to the last survivor */
    CHECK_INT(case_merged_into(&case_call, 999, &survivor), -1);
    CHECK_INT(case_call.status, CALL_NOTFOUND);
    fx_reset_call();
    CHECK_INT(case_is_internal(&rc), 0);
    fx_begin();
    CHECK_INT(case_make_internal(&case_call, &rc, CASE_KIND_TASK, a), 0);
    fx_end(1);
    CHECK_INT(case_is_internal(&rc), 1);
    CHECK_STR(fx_last_event(c), fx_text("internal kind=task parent=%lld", a));
    fx_close_store();
}
