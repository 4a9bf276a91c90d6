/*
 * meshctl: the command-line client of a Planetary Mesh coordinator.
 * main() parses the command line (options.c), then runs one command from
 * cmd_table (cmd_*.c) against the coordinator's HTTP API (api_client.c).
 * Exit statuses are listed in cmd.h and in --help.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "cmd.h"
#include "options.h"

int main(int argc, char *argv[])
{
	struct options options;
	struct cmd_context ctx = {.options = &options, .out = stdout, .err = stderr};
	char err[512];
	int rc;

	switch (options_parse(argc, argv, getenv("MESH_COORDINATOR"), &options, err, sizeof(err))) {
	case OPTIONS_HELP:
		options_print_help(stdout, options.command);
		return MESHCTL_EXIT_OK;
	case OPTIONS_VERSION:
		printf("meshctl %s\n", MESHCTL_VERSION);
		return MESHCTL_EXIT_OK;
	case OPTIONS_USAGE:
		if (argc > 1 || options.command != NULL)
			fprintf(stderr, "meshctl: %s\n", err);
		options_print_usage(stderr, options.command);
		return MESHCTL_EXIT_USAGE;
	case OPTIONS_RUN:
		break;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "meshctl: cannot initialise libcurl\n");
		return MESHCTL_EXIT_COORDINATOR;
	}
	ctx.api = api_client_new(options.coordinator);
	if (ctx.api == NULL) {
		fprintf(stderr, "meshctl: out of memory\n");
		rc = MESHCTL_EXIT_COORDINATOR;
	} else {
		rc = options.command->exec(&ctx);
	}
	api_client_free(ctx.api);
	curl_global_cleanup();

	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meshctl: cannot write to standard output: %s\n", strerror(errno));
		if (rc == MESHCTL_EXIT_OK)
			rc = MESHCTL_EXIT_COORDINATOR;
	}
	return rc;
}
