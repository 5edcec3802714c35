/* refund_cmd.h -- the REFUND.* commands.  For now a forwarding header: the
 * handlers are still declared beside the refund workflow (domain/refunds.h);
 * the command table includes this, so they move here without touching it. */
#ifndef REDRESS_REFUND_CMD_H
#define REDRESS_REFUND_CMD_H

#include "domain/refunds.h"

#endif
