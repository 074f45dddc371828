/* SPDX-License-Identifier: MIT */
/* resec-health: placeholder until its behaviour lands. */
#include <stdio.h>

#include "config.h"
#include "log.h"

static const char usage[] = "usage: resec-health [options]";

int main(int argc, char **argv)
{
	struct resec_config cfg;
	int first = config_main(&cfg, "resec-health", usage, argc, argv, CONFIG_PERMUTE, NULL, NULL, NULL);
	(void)first;
	log_error("not implemented yet");
	return EXIT_USAGE;
}
