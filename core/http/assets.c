/* assets.c -- the dashboard's files embedded with the assembler's .incbin
 * (see assets.h).  The Makefile makes this object depend on the files, so
 * editing a file rebuilds it; each is followed by a NUL so sizes are the
 * distance between the start and end labels.
 */
#include "http/assets.h"

#include <string.h>

#define EMBED(name, file)                                                                              \
    __asm__(".section .rodata\n.balign 16\n.global " #name "_start\n" #name "_start:\n.incbin \"" file \
            "\"\n.global " #name "_end\n" #name "_end:\n.byte 0\n.previous\n")

EMBED(redress_asset_index, "core/http/assets/index.html");
EMBED(redress_asset_js, "core/http/assets/app.js");
EMBED(redress_asset_css, "core/http/assets/app.css");

/* The labels above, as C sees them (declared here, defined by the .incbin
 * blocks: they are data, not functions). */
extern const char redress_asset_index_start[], redress_asset_index_end[];
extern const char redress_asset_js_start[], redress_asset_js_end[];
extern const char redress_asset_css_start[], redress_asset_css_end[];

const struct asset *assets_find(const char *path) {
    static struct asset assets[3];
    if (assets[0].path == NULL) {
        assets[0] = (struct asset){"/", "text/html; charset=utf-8", redress_asset_index_start,
                                   (size_t)(redress_asset_index_end - redress_asset_index_start)};
        assets[1] = (struct asset){"/app.js", "text/javascript; charset=utf-8", redress_asset_js_start,
                                   (size_t)(redress_asset_js_end - redress_asset_js_start)};
        assets[2] = (struct asset){"/app.css", "text/css; charset=utf-8", redress_asset_css_start,
                                   (size_t)(redress_asset_css_end - redress_asset_css_start)};
    }
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (strcmp(path, assets[i].path) == 0) return &assets[i];
    return NULL;
}
