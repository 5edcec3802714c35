/* store/schema.h -- the version of the store's schema (store/schema.c holds
 * one migration per version; included by store/store.h).
 */
#ifndef REDRESS_STORE_SCHEMA_H
#define REDRESS_STORE_SCHEMA_H

#define STORE_SCHEMA_VERSION 29

#endif
