/*
 * The dispatcher settings the unit tests that start a real dispatcher share:
 * short timeouts so that a test that goes wrong fails in seconds.
 */
#ifndef MESH_TEST_DISPATCHER_FOR_TESTS_H
#define MESH_TEST_DISPATCHER_FOR_TESTS_H

#include "dispatcher.h"

static inline struct dispatcher_config dispatcher_config_for_tests(void)
{
	return (struct dispatcher_config){
		.connect_timeout_ms = 200,
		.default_timeout_ms = 2000,
		.timeout_grace_ms = 500,
		.retry_base_ms = 100,
		.retry_cap_ms = 1000,
		.lost_after_ms = 1000,
		.priority_aging_ms = 30000,
		.response_limit = 64 * 1024,
	};
}

#endif
