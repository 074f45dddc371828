/* SPDX-License-Identifier: MIT */
/* fuzz_config_args: config_parse_args over an argv split from the input on NUL bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cli_option opts[] = {
	{ "timeout", 't', 1, 1 },
	{ "once", 'o', 0, 2 },
	{ "service", 0, 1, 3 },
	{ NULL, 0, 0, 0 },
};

/* Accepts everything but a value starting with "!", to reach the error path. */
static int handler(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	(void)ctx;
	(void)id;
	if (value != NULL && value[0] == '!') {
		strncpy(err, "handler refused", errlen - 1);
		err[errlen - 1] = '\0';
		return -1;
	}
	return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
	return (x > y) - (x < y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAXARGS = 64 };
	char *argv[MAXARGS + 1], *orig[MAXARGS + 1];
	char err[512];
	struct resec_config c;
	if (size < 1 || size > 4096)
		return 0;
	int mode = data[0] & 1 ? CONFIG_STOP_AT_OPERAND : CONFIG_PERMUTE;
	char *buf = malloc(size);
	if (buf == NULL)
		return 0;
	/* data[1..] split on NUL; the last piece ends at the end of the input. */
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	int argc = 0;
	argv[argc++] = (char *)"fuzz";
	for (size_t i = 0; i < size - 1 && argc < MAXARGS; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;
	memcpy(orig, argv, sizeof(argv));

	config_defaults(&c);
	err[0] = '\0';
	int first = config_parse_args(&c, argc, argv, mode, opts, handler, NULL, err, sizeof(err));
	if (first >= 0) {
		if (first < 1 || first > argc || argv[0] != orig[0])
			abort();
		/* Operands are moved, never lost or duplicated: argv stays a permutation. */
		qsort(argv + 1, (size_t)argc - 1, sizeof(char *), cmp_ptr);
		qsort(orig + 1, (size_t)argc - 1, sizeof(char *), cmp_ptr);
		if (memcmp(argv, orig, sizeof(char *) * (size_t)argc) != 0)
			abort();
		/* No file reads from fuzzed paths (one could be a FIFO). */
		c.consul_token_file[0] = '\0';
		err[0] = '\0';
		if (config_finish(&c, err, sizeof(err)) != 0 && err[0] == '\0')
			abort();
	} else if (first == -1) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL || strchr(err, '\n') != NULL)
			abort();
	} else if (first != -2 && first != -3) {
		abort();
	}
	free(buf);
	return 0;
}
