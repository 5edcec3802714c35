/* json.h -- a command's RESP reply read back as JSON (libjansson).
 *
 * Owns: reading the RESP2 reply the command adapters wrote (simple string,
 * error, integer, bulk, nil, array) into jansson values, and the shapes the
 * HTTP API gives them: a flat field/value array becomes an object, texts
 * that are counts, ids or instants become numbers, "deadline:KIND" pairs
 * and "sla:P1" pairs become nested objects with their logfmt values read
 * into fields.  Pure: no I/O, no store, no libevent.
 * Never: decides what a caller may see (the commands did, before a byte
 * of the reply was written).
 */
#ifndef REDRESS_HTTP_JSON_H
#define REDRESS_HTTP_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Deepest array nesting read back (the adapters write two levels). */
#define JSON_RESP_DEPTH 8

/* Reads one RESP value from data (len bytes): a new reference, or NULL
 * when the reply is malformed.  An error reply "-CODE message" becomes
 * {"error": CODE, "message": message} with *is_error set. */
json_t *json_from_resp(const char *data, size_t len, int *is_error);

/* A flat [field, value, ...] array as an object (see above); a new
 * reference.  Anything else is returned with one more reference. */
json_t *json_pairs_object(json_t *pairs);

/* Each element of an array of flat pair arrays as an object; a new array. */
json_t *json_rows(json_t *rows);

/* A JSON string of len bytes, invalid UTF-8 bytes replaced by U+FFFD. */
json_t *json_text(const char *text, size_t len);

#endif
