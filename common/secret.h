/* SPDX-License-Identifier: MIT */
/* secret: a value that must never reach a log, argv or an error message. */
#ifndef RESEC_SECRET_H
#define RESEC_SECRET_H

#include <stddef.h>

/*
 * The value is only reachable through secret_value(), which the Consul and
 * Redis clients call where the secret goes on the wire. The log module takes
 * no struct secret, so a secret cannot be logged by passing the struct.
 */
struct secret {
	char value_[1024];
	size_t len_;
};

/* Store s (truncated at 1023 bytes); NULL or "" clears. */
void secret_set(struct secret *sec, const char *s);

/* The plain value, for the wire only. */
const char *secret_value(const struct secret *sec);

/* 1 when a value is set. */
int secret_is_set(const struct secret *sec);

/* Overwrite the value with zeros. */
void secret_clear(struct secret *sec);

#endif
