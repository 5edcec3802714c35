/* start_checks.h -- the checks a start makes before the store opens
 * (net/start_checks.c).  Each returns 0, or -1 having said why. */
#ifndef REDRESS_START_CHECKS_H
#define REDRESS_START_CHECKS_H

#include "lib/config.h"

/* RLIMIT_NOFILE against max_clients and the rest (may lower max_clients). */
int start_fit_descriptor_limit(struct config *config);
/* A file a setting names can be read (what: its role in the message). */
int start_check_readable(const char *what, const char *setting, const char *path);
/* Warns when others may look into the data directory; sets its private
 * files back to 0600. */
void start_check_data_directory_mode(const char *path);
/* Each TCP port the config names is free to listen on. */
int start_check_ports(const struct config *config);
/* The data directory's lock (one daemon per directory). */
int start_lock_data_directory(const char *data);

#endif
