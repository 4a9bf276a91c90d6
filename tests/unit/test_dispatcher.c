/*
 * dispatcher: a job a request stored RUNNING and handed over with
 * dispatcher_run is not sent when a cancel or the loss of its node came
 * first, the job counts of dispatcher_counts include jobs still in the
 * inbox, the QUEUED jobs a store holds at start are taken up once each
 * although requests hand some of them over again meanwhile, and a job a
 * node refused (429) that the store could not put back is followed rather
 * than left RUNNING. A real
 * dispatcher thread over the memory store and a registry; the one node's
 * address is a socket of the test's that listens and never answers, so the
 * test sees whether anything was sent to the node at all.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "dispatcher_for_tests.h"
#include "job_store.h"
#include "job_waiters.h"
#include "node_registry.h"

struct mesh {
	struct job_store *store;
	struct node_registry *registry;
	struct dispatcher *dispatcher;
	char node_id[MESH_ID_SIZE];
	int node_socket; /* listens at the node's address */
};

/* A socket listening on 127.0.0.1 at a free port; its address into address. */
static int listen_somewhere(char *address, size_t address_size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(address, address_size, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

/* Whether the dispatcher connected to the node within ms. */
static bool node_was_contacted(struct mesh *m, int ms)
{
	struct pollfd pfd = {.fd = m->node_socket, .events = POLLIN};
	return poll(&pfd, 1, ms) == 1;
}

/* Starts the mesh over store (owned from now on; NULL: a new memory store). */
static void mesh_start_over(struct mesh *m, struct job_store *store)
{
	struct dispatcher_config config = dispatcher_config_for_tests();
	char *types[] = {"echo"};
	char address[64];
	struct node_registration registration = {
		.name = "silent", .address = address, .capacity = 1, .types = types, .type_count = 1};
	struct node node;
	char err[256] = "";
	bool created;

	memset(m, 0, sizeof(*m));
	m->node_socket = listen_somewhere(address, sizeof(address));
	m->store = store != NULL ? store : job_store_memory_new();
	m->registry = node_registry_new();
	ck_assert_ptr_nonnull(m->store);
	ck_assert_ptr_nonnull(m->registry);
	ck_assert_int_eq(node_registry_register(m->registry, &registration, &node, &created, err,
						sizeof(err)),
			 REGISTRY_OK);
	snprintf(m->node_id, sizeof(m->node_id), "%s", node.id);
	node_clear(&node);
	m->dispatcher = dispatcher_start(m->store, m->registry, &config, err, sizeof(err));
	ck_assert_msg(m->dispatcher != NULL, "%s", err);
}

static void mesh_start(struct mesh *m)
{
	mesh_start_over(m, NULL);
}

static void mesh_stop(struct mesh *m)
{
	dispatcher_stop(m->dispatcher);
	node_registry_free(m->registry);
	job_store_free(m->store);
	close(m->node_socket);
}

static int running_on_node(struct mesh *m)
{
	struct node node;
	int running;

	ck_assert_int_eq(node_registry_get(m->registry, m->node_id, &node), REGISTRY_OK);
	running = node.running;
	node_clear(&node);
	return running;
}

static size_t waiting_jobs(struct mesh *m)
{
	size_t waiting, in_flight;
	dispatcher_counts(m->dispatcher, &waiting, &in_flight);
	return waiting;
}

static size_t jobs_in_flight(struct mesh *m)
{
	size_t waiting, in_flight;
	dispatcher_counts(m->dispatcher, &waiting, &in_flight);
	return in_flight;
}

/* Takes the node's slot and stores an echo job RUNNING there, as POST /jobs?wait does. */
static void store_running(struct mesh *m, struct node_slot *slot, struct job *job, int *attempt)
{
	struct job spec = {.type = "echo", .payload = "x", .max_attempts = 1, .timeout_ms = 2000};
	enum scheduler_verdict verdict;

	ck_assert(node_registry_reserve(m->registry, "echo", slot, &verdict));
	ck_assert_str_eq(slot->node_id, m->node_id);
	ck_assert_int_eq(job_store_create_running(m->store, &spec, slot->node_id, job, attempt),
			 JOB_STORE_OK);
	ck_assert_int_eq(running_on_node(m), 1);
}

static enum job_status stored_status(struct mesh *m, const char *id, int *attempt)
{
	struct job job;
	enum job_status status;

	ck_assert_int_eq(job_store_get(m->store, id, &job), JOB_STORE_OK);
	status = job.status;
	*attempt = job.attempt;
	job_clear(&job);
	return status;
}

START_TEST(test_dispatcher_does_not_send_a_job_cancelled_before_its_run_event)
{
	struct mesh m;
	struct node_slot slot;
	struct job job, cancelled;
	enum job_status was;
	int attempt, stored_attempt;
	int64_t deadline;

	mesh_start(&m);
	store_running(&m, &slot, &job, &attempt);
	/* The cancel's event reaches the dispatcher before the request's EVENT_RUN. */
	ck_assert_int_eq(job_store_cancel(m.store, job.id, "cancelled by request", &was, &cancelled),
			 JOB_STORE_OK);
	job_clear(&cancelled);
	ck_assert_int_eq(dispatcher_cancel(m.dispatcher, job.id), 0);
	ck_assert_int_eq(dispatcher_run(m.dispatcher, &job, &slot, attempt), 0);
	ck_assert_ptr_null(slot.base_url); /* moved into the dispatcher */

	/* Nothing goes to the node; the slot comes back at once; nothing is in flight. */
	ck_assert_msg(!node_was_contacted(&m, 500), "a cancelled job was sent to its node");
	deadline = clock_monotonic_ms() + 5000;
	while (running_on_node(&m) != 0 && clock_monotonic_ms() < deadline)
		clock_sleep_ms(5);
	ck_assert_int_eq(running_on_node(&m), 0);
	ck_assert_uint_eq(jobs_in_flight(&m), 0);
	ck_assert_int_eq(running_on_node(&m), 0);
	ck_assert_int_eq(stored_status(&m, job.id, &stored_attempt), JOB_CANCELLED);
	job_clear(&job);
	mesh_stop(&m);
}
END_TEST

START_TEST(test_dispatcher_queues_a_stored_running_job_whose_node_was_lost_before_its_run_event)
{
	struct mesh m;
	struct node_slot slot;
	struct job job;
	int attempt, stored_attempt = -1;
	int64_t deadline;

	mesh_start(&m);
	store_running(&m, &slot, &job, &attempt);
	/* The node turns UNHEALTHY before the dispatcher handles the EVENT_RUN. */
	ck_assert_int_eq(node_registry_record_probe(m.registry, m.node_id, false, 1),
			 NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(dispatcher_run(m.dispatcher, &job, &slot, attempt), 0);

	/* Not sent: its attempt is undone and it waits for a node, its slot given back. */
	ck_assert_msg(!node_was_contacted(&m, 500), "a job was sent to an UNHEALTHY node");
	deadline = clock_monotonic_ms() + 5000;
	while (stored_status(&m, job.id, &stored_attempt) != JOB_QUEUED &&
	       clock_monotonic_ms() < deadline)
		clock_sleep_ms(5);
	ck_assert_int_eq(stored_status(&m, job.id, &stored_attempt), JOB_QUEUED);
	ck_assert_int_eq(stored_attempt, 0);
	ck_assert_int_eq(running_on_node(&m), 0);
	while (waiting_jobs(&m) != 1 && clock_monotonic_ms() < deadline)
		clock_sleep_ms(5);
	ck_assert_uint_eq(waiting_jobs(&m), 1);
	ck_assert_uint_eq(jobs_in_flight(&m), 0);
	job_clear(&job);
	mesh_stop(&m);
}
END_TEST

START_TEST(test_dispatcher_counts_a_job_as_waiting_from_the_moment_it_is_enqueued)
{
	struct mesh m;
	struct job spec = {.type = "nothing-runs-this", .payload = "x", .max_attempts = 1}, job;

	mesh_start(&m);
	ck_assert_uint_eq(waiting_jobs(&m), 0);
	ck_assert_int_eq(job_store_create(m.store, &spec, 1, &job, NULL), JOB_STORE_OK);
	ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &job), 0);
	/* Counted before the dispatcher thread has taken it from its inbox, and after. */
	ck_assert_uint_eq(waiting_jobs(&m), 1);
	clock_sleep_ms(200);
	ck_assert_uint_eq(waiting_jobs(&m), 1);
	job_clear(&job);
	mesh_stop(&m);
}
END_TEST

/* A memory store holding count QUEUED jobs no node takes; their ids into ids (may be NULL). */
static struct job_store *store_with_queued_jobs(size_t count, struct job *ids)
{
	struct job_store *store = job_store_memory_new();
	struct job spec = {.type = "nothing-runs-this", .payload = "x", .max_attempts = 1};
	struct job job;

	ck_assert_ptr_nonnull(store);
	for (size_t i = 0; i < count; i++) {
		ck_assert_int_eq(job_store_create(store, &spec, 1, &job, NULL), JOB_STORE_OK);
		if (ids != NULL)
			ids[i] = job;
		else
			job_clear(&job);
	}
	return store;
}

/* Waits until the dispatcher has read the whole store and counts expected jobs waiting. */
static bool settles_at(struct mesh *m, size_t expected)
{
	int64_t deadline = clock_monotonic_ms() + 10000;

	while (clock_monotonic_ms() < deadline) {
		if (!dispatcher_reading_store(m->dispatcher) && waiting_jobs(m) == expected)
			return true;
		clock_sleep_ms(5);
	}
	return false;
}

START_TEST(test_dispatcher_takes_up_the_stored_queue_once_although_requests_hand_it_over_too)
{
	enum { STORED = 20000, AGAIN = 100, NEW = 5 };
	struct job *stored = calloc(STORED, sizeof(*stored));
	struct job spec = {.type = "nothing-runs-this", .payload = "x", .max_attempts = 1}, job;
	struct mesh m;

	ck_assert_ptr_nonnull(stored);
	int64_t deadline;

	mesh_start_over(&m, store_with_queued_jobs(STORED, stored));
	ck_assert(dispatcher_reading_store(m.dispatcher));
	/*
	 * Twenty pages: once it has read the first, it is most likely still
	 * reading when jobs from pages it has read, and from pages it has not,
	 * are handed over again.
	 */
	deadline = clock_monotonic_ms() + 10000;
	while (waiting_jobs(&m) < 1000 && clock_monotonic_ms() < deadline)
		clock_sleep_ms(1);
	for (size_t i = 0; i < AGAIN; i++) {
		ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &stored[i]), 0);
		ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &stored[STORED - 1 - i]), 0);
	}
	for (int i = 0; i < NEW; i++) {
		ck_assert_int_eq(job_store_create(m.store, &spec, 1, &job, NULL), JOB_STORE_OK);
		ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &job), 0);
		job_clear(&job);
	}
	/* ... and after it has read the store, a job it read, handed over again. */
	ck_assert_msg(settles_at(&m, STORED + NEW), "waiting %zu, not %d", waiting_jobs(&m),
		      STORED + NEW);
	ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &stored[STORED - 1]), 0);
	ck_assert_msg(settles_at(&m, STORED + NEW), "waiting %zu, not %d", waiting_jobs(&m),
		      STORED + NEW);
	for (size_t i = 0; i < STORED; i++)
		job_clear(&stored[i]);
	free(stored);
	mesh_stop(&m);
}
END_TEST

START_TEST(test_dispatcher_does_not_queue_twice_a_job_put_back_while_it_reads_the_store)
{
	enum { STORED = 20000 };
	struct mesh m;
	struct node_slot slot;
	struct job job;
	int attempt;

	mesh_start_over(&m, store_with_queued_jobs(STORED, NULL));
	/*
	 * Stored after the backlog, so a page still to be read shows it once it
	 * is QUEUED again: its node is lost before the dispatcher sends it.
	 */
	store_running(&m, &slot, &job, &attempt);
	ck_assert_int_eq(node_registry_record_probe(m.registry, m.node_id, false, 1),
			 NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(dispatcher_run(m.dispatcher, &job, &slot, attempt), 0);
	ck_assert_msg(settles_at(&m, STORED + 1), "waiting %zu, not %d", waiting_jobs(&m),
		      STORED + 1);
	job_clear(&job);
	mesh_stop(&m);
}
END_TEST

/*
 * A node that answers every POST /execute with 429 (full) and every GET
 * /executions/... with 404 (it never took the job), on the mesh's node
 * socket, one request per connection, counting what it was asked.
 */
struct full_node {
	int listen_fd;
	pthread_t thread;
	atomic_int executes, follows;
	atomic_bool stop;
};

static void answer(int fd, const char *status_line)
{
	char reply[256];
	int n = snprintf(reply, sizeof(reply),
			 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
			 "Connection: close\r\n\r\n{\"error\":\"full!\"}",
			 status_line);
	if (write(fd, reply, (size_t)n) != n)
		return; /* the test sees what the dispatcher does next */
}

static void *full_node_main(void *arg)
{
	struct full_node *node = arg;

	while (!atomic_load(&node->stop)) {
		struct pollfd pfd = {.fd = node->listen_fd, .events = POLLIN};
		char request[16384] = "";
		size_t got = 0;
		int fd;

		if (poll(&pfd, 1, 50) != 1 || (fd = accept(node->listen_fd, NULL, NULL)) < 0)
			continue;
		/* The head, and whatever of the body came with it: enough to answer. */
		for (int tries = 0; tries < 40 && strstr(request, "\r\n\r\n") == NULL; tries++) {
			struct pollfd in = {.fd = fd, .events = POLLIN};
			ssize_t n;
			if (poll(&in, 1, 50) != 1 || (n = read(fd, request + got, sizeof(request) - 1 - got)) <= 0)
				break;
			got += (size_t)n;
			request[got] = '\0';
		}
		request[got] = '\0';
		if (strncmp(request, "POST /execute", 13) == 0) {
			atomic_fetch_add(&node->executes, 1);
			answer(fd, "429 Too Many Requests");
		} else {
			if (strncmp(request, "GET /executions/", 16) == 0)
				atomic_fetch_add(&node->follows, 1);
			answer(fd, "404 Not Found");
		}
		close(fd);
	}
	return NULL;
}

/* requeue of the wrapped store: fails once, as a full disk would, then is the store's own. */
static enum job_store_result (*real_requeue)(void *state, const char *id);
static atomic_int requeue_failures_left;

static enum job_store_result requeue_failing_once(void *state, const char *id)
{
	if (atomic_fetch_sub(&requeue_failures_left, 1) > 0)
		return JOB_STORE_ERROR;
	return real_requeue(state, id);
}

START_TEST(test_dispatcher_follows_a_job_the_store_could_not_put_back_after_a_429)
{
	static struct job_store_ops failing_ops;
	const struct job_store_ops *own_ops;
	struct full_node node = {0};
	struct job spec = {.type = "echo", .payload = "x", .max_attempts = 1, .timeout_ms = 2000},
		   job;
	struct mesh m;
	int64_t deadline;

	mesh_start(&m);
	own_ops = m.store->ops;
	failing_ops = *own_ops;
	real_requeue = own_ops->requeue;
	failing_ops.requeue = requeue_failing_once;
	atomic_store(&requeue_failures_left, 1);
	m.store->ops = &failing_ops;
	node.listen_fd = m.node_socket;
	ck_assert_int_eq(pthread_create(&node.thread, NULL, full_node_main, &node), 0);

	ck_assert_int_eq(job_store_create(m.store, &spec, 1, &job, NULL), JOB_STORE_OK);
	ck_assert_int_eq(dispatcher_enqueue(m.dispatcher, &job), 0);
	/*
	 * The node refuses it (429) and the store cannot put it back: instead of
	 * leaving it RUNNING with nobody following it, the dispatcher asks the
	 * node, hears it never took it (404), puts it back, and sends it again.
	 */
	deadline = clock_monotonic_ms() + 10000;
	while ((atomic_load(&node.follows) < 1 || atomic_load(&node.executes) < 2) &&
	       clock_monotonic_ms() < deadline)
		clock_sleep_ms(5);
	ck_assert_int_ge(atomic_load(&node.follows), 1);
	ck_assert_int_ge(atomic_load(&node.executes), 2);

	dispatcher_stop(m.dispatcher);
	m.dispatcher = NULL;
	atomic_store(&node.stop, true);
	pthread_join(node.thread, NULL);
	m.store->ops = own_ops;
	job_clear(&job);
	mesh_stop(&m);
}
END_TEST

static Suite *dispatcher_suite(void)
{
	Suite *suite = suite_create("dispatcher");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_dispatcher_does_not_send_a_job_cancelled_before_its_run_event);
	tcase_add_test(tc,
		       test_dispatcher_queues_a_stored_running_job_whose_node_was_lost_before_its_run_event);
	tcase_add_test(tc, test_dispatcher_counts_a_job_as_waiting_from_the_moment_it_is_enqueued);
	tcase_add_test(tc,
		       test_dispatcher_takes_up_the_stored_queue_once_although_requests_hand_it_over_too);
	tcase_add_test(tc, test_dispatcher_does_not_queue_twice_a_job_put_back_while_it_reads_the_store);
	tcase_add_test(tc, test_dispatcher_follows_a_job_the_store_could_not_put_back_after_a_429);
	suite_add_tcase(suite, tc);
	return suite;
}

CHECK_MAIN(dispatcher_suite)
