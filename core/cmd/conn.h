/* conn.h -- the connection and test commands (see conn.c). */
#ifndef REDRESS_CONN_H
#define REDRESS_CONN_H

#include "cmd/request.h"

void ping_command(struct request *request);
void quit_command(struct request *request);
void hello_command(struct request *request);
void info_command(struct request *request);
void debug_clock_command(struct request *request);
void debug_store_command(struct request *request);
void events_subscribe_command(struct request *request);
void events_unsubscribe_command(struct request *request);

#endif
