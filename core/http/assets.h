/* assets.h -- the dashboard's files, built into the binary.
 *
 * Owns: the page, its script and its style sheet (core/http/assets/),
 * embedded at build time, and which path names each.  Nothing is read
 * from disk at run time and nothing comes from another site: the page
 * works with no network but the daemon's.  Only these exact paths exist,
 * so no path can reach outside them.
 */
#ifndef REDRESS_HTTP_ASSETS_H
#define REDRESS_HTTP_ASSETS_H

#include <stddef.h>

struct asset {
    const char *path;          /* "/", "/app.js", "/app.css" */
    const char *content_type;
    const char *data;
    size_t size;
};

/* The asset at exactly that path, or NULL. */
const struct asset *assets_find(const char *path);

#endif
