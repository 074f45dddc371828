/* SPDX-License-Identifier: MIT */
/* resec-role: placeholder until its behaviour lands. */
#include <stdio.h>

#include "config.h"
#include "log.h"

static const char usage[] = "usage: resec-role [options]";

int main(int argc, char **argv)
{
	struct resec_config cfg;
	int first = config_main(&cfg, "resec-role", usage, argc, argv, CONFIG_PERMUTE, NULL, NULL, NULL);
	(void)first;
	log_error("not implemented yet");
	return EXIT_USAGE;
}
