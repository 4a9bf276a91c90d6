/*
 * loadgen: the load generator of `make bench` (issue 4). libcurl, one easy
 * handle per thread (keep-alive), N threads.
 *
 * Modes:
 *   post    POST --count requests to --path: one job each, or --batch jobs as
 *           a JSON array; closed loop (as fast as the answers come back), or
 *           open loop at --rate requests/s. In the open loop each request has
 *           a scheduled time, i/rate after the start, and its latency is
 *           measured from that time, not from when a thread got round to
 *           sending it: a server that stalls cannot hide the requests it held
 *           up (no coordinated omission).
 *           --wait S sends POST PATH?wait=S and expects finished jobs back;
 *           --poll falls back to polling GET /jobs/{id} when the answer holds
 *           an unfinished job (a coordinator without ?wait).
 *           --track: after the last send, waits until every created job has
 *           finished (GET /healthz counts), then reads each job back (GET
 *           /jobs/{id}) for its updated_at: submit-to-finish latency is
 *           updated_at minus the request's scheduled time, and throughput is
 *           the jobs over the span from the first send to the last updated_at.
 *   get     GET --path --count times; "{id}" in the path is replaced by ids
 *           from --ids-file, picked in a scrambled order.
 *   ready   polls GET --path every 5 ms until it answers 200; prints how long
 *           that took since --since-wall-ns (restart-to-serving).
 *   detect  polls GET /nodes and GET /jobs/{--job} every 10 ms after an agent
 *           was killed at --since-wall-ns: when --node turned UNHEALTHY, and
 *           when the job ran (RUNNING or COMPLETED) on another node.
 *
 * Output: "key=value" lines on stdout, for bench/run.sh; complete=0 when the
 * time budget (--max-seconds) ran out before the work was done. Diagnostics
 * go to stderr.
 *
 * Threads: the worker threads share one struct run; the next request index
 * is an atomic counter, every per-request slot is written by the one thread
 * that took that index, and the main thread reads them only after joining.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_http.h"
#include "bench_stats.h"
#include "clock.h"

#define MAX_THREADS 256
#define MAX_COUNT 10000000
#define ID_SIZE 32
#define URL_SIZE 512

enum mode { MODE_POST, MODE_GET, MODE_READY, MODE_DETECT };

/* What a tracked job turned out to be when read back. */
enum outcome { OUT_UNKNOWN, OUT_COMPLETED, OUT_FAILED, OUT_CANCELLED, OUT_UNFINISHED, OUT_MISSING };

struct options {
	enum mode mode;
	const char *base_url;
	const char *path;
	size_t threads;
	size_t count;
	double rate;          /* requests/s; 0: closed loop */
	double max_seconds;
	const char *type;
	const char *payload;
	size_t batch;         /* 0: one JSON object per request */
	int max_attempts;     /* 0: not sent */
	int wait;             /* -1: no ?wait */
	bool poll;
	bool track;
	const char *ids_file;
	const char *node;
	const char *job;
	int64_t since_wall_ns;
};

struct run {
	const struct options *o;
	char url[URL_SIZE];
	char *body;            /* the request body, the same for every request */
	size_t body_len;
	size_t jobs_per_request;
	char **ids;            /* get mode: the ids of --ids-file */
	size_t id_count;

	int64_t t0_ns;         /* monotonic start */
	int64_t t0_wall_ns;    /* the wall clock at t0_ns */
	int64_t deadline_ns;   /* monotonic */
	_Atomic size_t next;   /* next request index to take */
	atomic_bool out_of_time;

	/* One slot per request. */
	double *latency_ms;    /* NaN: not sent, or no answer */
	double *send_wall_ms;  /* scheduled time of the request, wall clock, ms */

	/* One slot per job created (post --track). */
	char (*job_ids)[ID_SIZE];
	enum outcome *outcome;
	int64_t *created_ms, *updated_ms;
	char (*node_ids)[ID_SIZE];
	size_t *todo;          /* the jobs (indices) the next fetch round reads */
	size_t todo_count;
	_Atomic size_t next_fetch;

	atomic_size_t ok, errors, transport_errors, wait_finished, wait_unfinished, wait_expired,
		wait_busy, jobs_created;
	atomic_size_t by_status[600];
	char first_error[512];
	pthread_mutex_t first_error_lock;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t when)
{
	struct timespec ts = {.tv_sec = when / 1000000000, .tv_nsec = when % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Keeps the first error for stderr: one is enough to see what went wrong. status 0: no answer. */
static void note_error(struct run *r, const char *what, int status, const char *detail)
{
	pthread_mutex_lock(&r->first_error_lock);
	if (r->first_error[0] == '\0')
		snprintf(r->first_error, sizeof(r->first_error), "%s (HTTP %d): %.300s", what, status,
			 detail);
	pthread_mutex_unlock(&r->first_error_lock);
}

static const char *or_empty(const char *text)
{
	return text != NULL ? text : "";
}

static bool final_status(const char *status)
{
	return status != NULL && (strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0 ||
				  strcmp(status, "CANCELLED") == 0);
}

/* Keeps the id of a created job in slot k (post --track). */
static void keep_id(struct run *r, size_t k, json_t *job)
{
	const char *id = json_string_value(json_object_get(job, "id"));
	if (id == NULL || k >= r->o->count * r->jobs_per_request)
		return;
	snprintf(r->job_ids[k], ID_SIZE, "%s", id);
	atomic_fetch_add(&r->jobs_created, 1);
}

/*
 * Polls GET /jobs/{id} until the job has finished or the deadline passes
 * (--poll, for a coordinator that does not serve ?wait). 1 ms apart: often
 * enough to see a 1 ms job, seldom enough not to starve the server of CPU.
 */
static bool poll_until_finished(struct run *r, struct bench_http *h, const char *id)
{
	char url[URL_SIZE];
	int64_t give_up = mono_ns() + (int64_t)(r->o->wait > 0 ? r->o->wait : 5) * 1000000000;

	snprintf(url, sizeof(url), "%s/jobs/%s", r->o->base_url, id);
	for (int tries = 0; tries < 100000 && mono_ns() < give_up; tries++) {
		int status = bench_http_request(h, url, NULL, 0);
		if (status == 200) {
			json_t *job = json_loads(h->body, 0, NULL);
			bool done = final_status(json_string_value(json_object_get(job, "status")));
			json_decref(job);
			if (done)
				return true;
		}
		sleep_until_ns(mono_ns() + 1000000);
	}
	return false;
}

/*
 * Looks at a 2xx answer to POST /jobs: keeps the ids (--track), and for
 * --wait checks that the job has finished. Returns false if the answer is
 * not what the request asked for.
 */
static bool check_post_answer(struct run *r, struct bench_http *h, size_t i, int status)
{
	json_t *root;
	bool good = true;

	if (!r->o->track && r->o->wait < 0)
		return true; /* nothing to look at: keep the client's CPU for the server */
	root = json_loadb(h->body, h->len, 0, NULL);
	if (root == NULL) {
		note_error(r, "an answer that is not JSON", status, h->body);
		return false;
	}
	if (r->o->batch > 0) {
		if (!json_is_array(root) || json_array_size(root) != r->o->batch) {
			note_error(r, "not an array of the batch's jobs", status, h->body);
			good = false;
		} else if (r->o->track) {
			for (size_t k = 0; k < r->o->batch; k++)
				keep_id(r, i * r->o->batch + k, json_array_get(root, k));
		}
	} else {
		const char *job_status = json_string_value(json_object_get(root, "status"));
		const char *id = json_string_value(json_object_get(root, "id"));
		if (r->o->track)
			keep_id(r, i, root);
		if (r->o->wait >= 0) {
			if (status == 202) {
				atomic_fetch_add(&r->wait_expired, 1);
				good = false;
			} else if (final_status(job_status)) {
				atomic_fetch_add(&r->wait_finished, 1);
			} else {
				atomic_fetch_add(&r->wait_unfinished, 1);
				if (r->o->poll && id != NULL) {
					char copy[ID_SIZE];
					snprintf(copy, sizeof(copy), "%s", id);
					good = poll_until_finished(r, h, copy);
				} else {
					good = false;
				}
			}
		}
	}
	json_decref(root);
	return good;
}

static void *send_thread(void *arg)
{
	struct run *r = arg;
	const struct options *o = r->o;
	struct bench_http h;
	double interval_ns = o->rate > 0 ? 1e9 / o->rate : 0;
	char url[URL_SIZE];

	if (bench_http_init(&h, (long)((o->wait > 0 ? o->wait : 0) + 30) * 1000) != 0) {
		note_error(r, "out of memory", 0, "");
		return NULL;
	}
	for (size_t n = 0; n < o->count; n++) {
		size_t i = atomic_fetch_add(&r->next, 1);
		int64_t scheduled, done;
		const char *target = r->url;
		int status;
		bool good;

		if (i >= o->count)
			break;
		scheduled = interval_ns > 0 ? r->t0_ns + (int64_t)((double)i * interval_ns) : mono_ns();
		if (scheduled > r->deadline_ns || mono_ns() > r->deadline_ns) {
			atomic_store(&r->out_of_time, true);
			break;
		}
		if (interval_ns > 0)
			sleep_until_ns(scheduled);
		if (o->mode == MODE_GET && r->id_count > 0) {
			/* A scrambled but repeatable order over the ids: no cache-friendly sequence. */
			uint64_t k = (uint64_t)i * 0x9E3779B97F4A7C15ull;
			const char *id = r->ids[(k >> 17) % r->id_count];
			const char *mark = strstr(r->url, "{id}");
			snprintf(url, sizeof(url), "%.*s%s%s", (int)(mark - r->url), r->url, id, mark + 4);
			target = url;
		}
		r->send_wall_ms[i] = (double)(r->t0_wall_ns + (scheduled - r->t0_ns)) / 1e6;
		status = bench_http_request(&h, target, o->mode == MODE_POST ? r->body : NULL,
					    r->body_len);
		if (status == 0) {
			atomic_fetch_add(&r->transport_errors, 1);
			atomic_fetch_add(&r->errors, 1);
			note_error(r, "request failed", 0, h.error);
			continue;
		}
		atomic_fetch_add(&r->by_status[status < 600 ? status : 599], 1);
		if (status < 200 || status > 299) {
			if (status == 503)
				atomic_fetch_add(&r->wait_busy, 1);
			atomic_fetch_add(&r->errors, 1);
			note_error(r, "error answer", status, h.body);
			continue;
		}
		good = o->mode != MODE_POST || check_post_answer(r, &h, i, status);
		done = mono_ns();
		r->latency_ms[i] = (double)(done - scheduled) / 1e6;
		if (good)
			atomic_fetch_add(&r->ok, 1);
		else
			atomic_fetch_add(&r->errors, 1);
	}
	bench_http_cleanup(&h);
	return NULL;
}

/* GET /healthz: the number of finished jobs (COMPLETED + FAILED + CANCELLED), or -1. */
static long long finished_jobs(struct bench_http *h, const char *base_url)
{
	char url[URL_SIZE];
	json_t *root, *jobs;
	long long total = 0;

	snprintf(url, sizeof(url), "%s/healthz", base_url);
	if (bench_http_request(h, url, NULL, 0) != 200)
		return -1;
	root = json_loadb(h->body, h->len, 0, NULL);
	jobs = json_object_get(root, "jobs");
	if (!json_is_object(jobs)) {
		json_decref(root);
		return -1;
	}
	total = json_integer_value(json_object_get(jobs, "COMPLETED")) +
		json_integer_value(json_object_get(jobs, "FAILED")) +
		json_integer_value(json_object_get(jobs, "CANCELLED"));
	json_decref(root);
	return total;
}

static enum outcome outcome_of(const char *status)
{
	if (status == NULL)
		return OUT_UNKNOWN;
	if (strcmp(status, "COMPLETED") == 0)
		return OUT_COMPLETED;
	if (strcmp(status, "FAILED") == 0)
		return OUT_FAILED;
	if (strcmp(status, "CANCELLED") == 0)
		return OUT_CANCELLED;
	return OUT_UNFINISHED;
}

/* Reads back tracked jobs: GET /jobs/{id} for each, in parallel. */
static void *fetch_thread(void *arg)
{
	struct run *r = arg;
	struct bench_http h;
	char url[URL_SIZE];

	if (bench_http_init(&h, 30000) != 0)
		return NULL;
	for (size_t n = 0; n < r->todo_count; n++) {
		size_t t = atomic_fetch_add(&r->next_fetch, 1), k;
		json_t *job;
		int status;

		if (t >= r->todo_count || mono_ns() > r->deadline_ns)
			break;
		k = r->todo[t];
		snprintf(url, sizeof(url), "%s/jobs/%s", r->o->base_url, r->job_ids[k]);
		status = bench_http_request(&h, url, NULL, 0);
		if (status != 200) {
			r->outcome[k] = OUT_MISSING;
			continue;
		}
		job = json_loadb(h.body, h.len, 0, NULL);
		r->outcome[k] = outcome_of(json_string_value(json_object_get(job, "status")));
		if (clock_parse_rfc3339(or_empty(json_string_value(json_object_get(job, "created_at"))),
					&r->created_ms[k]) != 0 ||
		    clock_parse_rfc3339(or_empty(json_string_value(json_object_get(job, "updated_at"))),
					&r->updated_ms[k]) != 0)
			r->outcome[k] = OUT_UNKNOWN;
		snprintf(r->node_ids[k], ID_SIZE, "%s",
			 or_empty(json_string_value(json_object_get(job, "node_id"))));
		json_decref(job);
	}
	bench_http_cleanup(&h);
	return NULL;
}

static int compare_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* How many distinct nodes ran the completed jobs. Sorts node_ids in place. */
static size_t distinct_nodes(struct run *r, size_t total)
{
	size_t distinct = 0;

	qsort(r->node_ids, total, ID_SIZE, compare_id);
	for (size_t k = 0; k < total; k++) {
		if (r->node_ids[k][0] != '\0' && (k == 0 || strcmp(r->node_ids[k], r->node_ids[k - 1]) != 0))
			distinct++;
	}
	return distinct;
}

static bool run_threads(struct run *r, void *(*fn)(void *))
{
	pthread_t threads[MAX_THREADS];
	size_t started = 0;

	for (size_t t = 0; t < r->o->threads; t++) {
		if (pthread_create(&threads[t], NULL, fn, r) != 0)
			break;
		started++;
	}
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	return started == r->o->threads;
}

/* After the sends: wait for the jobs to finish, read them back, report. Returns true if complete. */
static bool track(struct run *r, long long finished_before)
{
	size_t total = r->o->count * r->jobs_per_request;
	size_t created = atomic_load(&r->jobs_created);
	size_t completed = 0, failed = 0, unfinished = 0, missing = 0;
	double first_send = INFINITY;
	int64_t last_update = 0;
	double *e2e = malloc(total * sizeof(double)), *server = malloc(total * sizeof(double));
	struct bench_http h;
	int64_t drain_start = mono_ns(), fetch_start;
	long long finished = -1;
	struct bench_summary s;
	bool complete = true;

	if (e2e == NULL || server == NULL || bench_http_init(&h, 5000) != 0) {
		free(e2e);
		free(server);
		return false;
	}
	/* Bounded by the deadline: 20 ms apart, so the poll itself costs the server little. */
	for (int polls = 0; polls < 1000000 && mono_ns() < r->deadline_ns; polls++) {
		finished = finished_jobs(&h, r->o->base_url);
		if (finished >= 0 && finished - finished_before >= (long long)created)
			break;
		sleep_until_ns(mono_ns() + 20000000);
	}
	bench_http_cleanup(&h);
	bench_kv("track_drain_s", "%.3f", (double)(mono_ns() - drain_start) / 1e9);
	if (finished < 0 || finished - finished_before < (long long)created) {
		bench_kv("track_unfinished_at_deadline", "%lld",
			 (long long)created - (finished < 0 ? 0 : finished - finished_before));
		complete = false;
	}
	/*
	 * Read every job back; then read again, 100 ms apart, those not finished
	 * yet (the counts of /healthz include jobs that were there before us),
	 * until none is left or the deadline passes.
	 */
	fetch_start = mono_ns();
	r->todo_count = 0;
	for (size_t k = 0; k < total; k++) {
		if (r->job_ids[k][0] != '\0') /* empty: its request failed, no job */
			r->todo[r->todo_count++] = k;
	}
	for (int round = 0; round < 100000 && r->todo_count > 0; round++) {
		size_t left = 0;
		if (round > 0)
			sleep_until_ns(mono_ns() + 100000000);
		if (mono_ns() > r->deadline_ns)
			break;
		atomic_store(&r->next_fetch, 0);
		run_threads(r, fetch_thread);
		for (size_t t = 0; t < r->todo_count; t++) {
			size_t k = r->todo[t];
			if (r->outcome[k] != OUT_COMPLETED && r->outcome[k] != OUT_FAILED &&
			    r->outcome[k] != OUT_CANCELLED)
				r->todo[left++] = k;
		}
		r->todo_count = left;
	}
	bench_kv("track_fetch_s", "%.3f", (double)(mono_ns() - fetch_start) / 1e9);
	if (r->todo_count > 0)
		complete = false;

	for (size_t k = 0; k < total; k++) {
		double sent = r->send_wall_ms[k / r->jobs_per_request];
		e2e[k] = NAN;
		server[k] = NAN;
		if (r->job_ids[k][0] == '\0')
			continue;
		if (sent < first_send)
			first_send = sent;
		switch (r->outcome[k]) {
		case OUT_COMPLETED:
			completed++;
			/*
			 * updated_at is cut to the millisecond: the real moment lies in
			 * [updated_at, updated_at + 1 ms), so take the middle.
			 */
			e2e[k] = fmax(0.0, (double)r->updated_ms[k] + 0.5 - sent);
			server[k] = (double)(r->updated_ms[k] - r->created_ms[k]);
			if (r->updated_ms[k] > last_update)
				last_update = r->updated_ms[k];
			break;
		case OUT_FAILED:
		case OUT_CANCELLED:
			failed++;
			break;
		case OUT_UNFINISHED:
			unfinished++;
			break;
		default:
			missing++;
			break;
		}
	}
	bench_kv("track_jobs", "%zu", created);
	bench_kv("track_completed", "%zu", completed);
	bench_kv("track_failed", "%zu", failed);
	bench_kv("track_unfinished", "%zu", unfinished);
	bench_kv("track_missing", "%zu", missing);
	if (completed > 0 && last_update > first_send)
		bench_kv("e2e_jobs_per_s", "%.1f", (double)completed / (((double)last_update - first_send) / 1000.0));
	s = bench_summarise(e2e, total);
	bench_print_summary("e2e", &s);
	s = bench_summarise(server, total);
	bench_print_summary("server", &s);
	bench_kv("nodes_used", "%zu", distinct_nodes(r, total));
	free(e2e);
	free(server);
	return complete && completed + failed == created && created == total;
}

static char *build_body(const struct options *o)
{
	json_t *root = NULL;
	char *text;
	size_t jobs = o->batch > 0 ? o->batch : 1;

	if (o->batch > 0)
		root = json_array();
	for (size_t k = 0; k < jobs; k++) {
		json_t *job = json_pack("{s:s, s:s}", "type", o->type, "payload", o->payload);
		if (job != NULL && o->max_attempts > 0)
			json_object_set_new(job, "max_attempts", json_integer(o->max_attempts));
		if (o->batch == 0)
			root = job;
		else
			json_array_append_new(root, job);
	}
	text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

/* Reads one id per line. Returns the count, or 0 on failure. */
static size_t read_ids(const char *file, char ***out)
{
	FILE *f = fopen(file, "r");
	char line[128];
	size_t count = 0, cap = 1024;
	char **ids = malloc(cap * sizeof(*ids));

	if (f == NULL || ids == NULL) {
		if (f != NULL)
			fclose(f);
		free(ids);
		return 0;
	}
	for (size_t n = 0; n < MAX_COUNT && fgets(line, sizeof(line), f) != NULL; n++) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (count == cap) {
			char **bigger = realloc(ids, cap * 2 * sizeof(*ids));
			if (bigger == NULL)
				break;
			ids = bigger;
			cap *= 2;
		}
		ids[count] = strdup(line);
		if (ids[count] != NULL)
			count++;
	}
	fclose(f);
	*out = ids;
	return count;
}

static void run_free(struct run *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->id_count; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->body);
	free(r->latency_ms);
	free(r->send_wall_ms);
	free(r->job_ids);
	free(r->node_ids);
	free(r->outcome);
	free(r->created_ms);
	free(r->updated_ms);
	free(r->todo);
	pthread_mutex_destroy(&r->first_error_lock);
	free(r);
}

static int mode_send(const struct options *o)
{
	struct run *r = calloc(1, sizeof(*r));
	size_t total;
	int64_t elapsed_ns;
	long long finished_before = 0;
	bool complete;
	struct bench_summary s;
	char key[32];
	int rc;

	if (r == NULL)
		return 1;
	r->o = o;
	pthread_mutex_init(&r->first_error_lock, NULL);
	rc = 1;
	r->jobs_per_request = o->batch > 0 ? o->batch : 1;
	total = o->count * r->jobs_per_request;
	if (o->wait >= 0)
		snprintf(r->url, sizeof(r->url), "%s%s%swait=%d", o->base_url, o->path,
			 strchr(o->path, '?') != NULL ? "&" : "?", o->wait);
	else
		snprintf(r->url, sizeof(r->url), "%s%s", o->base_url, o->path);
	if (o->mode == MODE_POST) {
		r->body = build_body(o);
		if (r->body == NULL) {
			fprintf(stderr, "loadgen: could not build the request body\n");
			goto out;
		}
		r->body_len = strlen(r->body);
	} else if (o->ids_file != NULL) {
		r->id_count = read_ids(o->ids_file, &r->ids);
		if (r->id_count == 0 || strstr(r->url, "{id}") == NULL) {
			fprintf(stderr, "loadgen: --ids-file needs ids and a path with {id}\n");
			goto out;
		}
	}
	r->latency_ms = malloc(o->count * sizeof(double));
	r->send_wall_ms = malloc(o->count * sizeof(double));
	if (o->track) {
		r->job_ids = calloc(total, ID_SIZE);
		r->node_ids = calloc(total, ID_SIZE);
		r->outcome = calloc(total, sizeof(*r->outcome));
		r->created_ms = calloc(total, sizeof(int64_t));
		r->updated_ms = calloc(total, sizeof(int64_t));
		r->todo = calloc(total, sizeof(size_t));
		if (r->todo == NULL || r->job_ids == NULL || r->node_ids == NULL || r->outcome == NULL ||
		    r->created_ms == NULL || r->updated_ms == NULL)
			goto out;
	}
	if (r->latency_ms == NULL || r->send_wall_ms == NULL)
		goto out;
	for (size_t i = 0; i < o->count; i++) {
		r->latency_ms[i] = NAN;
		r->send_wall_ms[i] = NAN;
	}
	if (o->track) {
		struct bench_http h;
		if (bench_http_init(&h, 5000) == 0) {
			finished_before = finished_jobs(&h, o->base_url);
			bench_http_cleanup(&h);
		}
		if (finished_before < 0) {
			fprintf(stderr, "loadgen: GET %s/healthz failed: cannot track jobs\n", o->base_url);
			goto out;
		}
	}

	r->t0_ns = mono_ns();
	r->t0_wall_ns = wall_ns();
	r->deadline_ns = r->t0_ns + (int64_t)(o->max_seconds * 1e9);
	run_threads(r, send_thread);
	elapsed_ns = mono_ns() - r->t0_ns;

	complete = !atomic_load(&r->out_of_time) && atomic_load(&r->next) >= o->count;
	bench_kv("requests", "%zu", o->count);
	bench_kv("sent", "%zu", atomic_load(&r->ok) + atomic_load(&r->errors));
	bench_kv("ok", "%zu", atomic_load(&r->ok));
	bench_kv("errors", "%zu", atomic_load(&r->errors));
	bench_kv("transport_errors", "%zu", atomic_load(&r->transport_errors));
	for (int status = 100; status < 600; status++) {
		size_t n = atomic_load(&r->by_status[status]);
		if (n > 0) {
			snprintf(key, sizeof(key), "status_%d", status);
			bench_kv(key, "%zu", n);
		}
	}
	bench_kv("elapsed_s", "%.3f", (double)elapsed_ns / 1e9);
	bench_kv("rps", "%.1f", (double)atomic_load(&r->ok) / ((double)elapsed_ns / 1e9));
	if (o->mode == MODE_POST)
		bench_kv("jobs_per_s", "%.1f",
			 (double)(atomic_load(&r->ok) * r->jobs_per_request) / ((double)elapsed_ns / 1e9));
	if (o->rate > 0)
		bench_kv("offered_rps", "%.1f", o->rate);
	if (o->wait >= 0) {
		bench_kv("wait_finished", "%zu", atomic_load(&r->wait_finished));
		bench_kv("wait_unfinished", "%zu", atomic_load(&r->wait_unfinished));
		bench_kv("wait_expired", "%zu", atomic_load(&r->wait_expired));
		bench_kv("wait_busy", "%zu", atomic_load(&r->wait_busy));
	}
	if (r->first_error[0] != '\0')
		fprintf(stderr, "loadgen: first error: %s\n", r->first_error);
	fflush(stdout);
	/* The summary sorts latency_ms in place; track() needs only send_wall_ms in request order. */
	s = bench_summarise(r->latency_ms, o->count);
	bench_print_summary("lat", &s);
	if (o->track)
		complete = track(r, finished_before) && complete;
	bench_kv("complete", "%d", complete ? 1 : 0);
	rc = 0;
out:
	run_free(r);
	return rc;
}

static int mode_ready(const struct options *o)
{
	struct bench_http h;
	char url[URL_SIZE];
	int64_t deadline = mono_ns() + (int64_t)(o->max_seconds * 1e9);
	int64_t since = o->since_wall_ns > 0 ? o->since_wall_ns : wall_ns();

	snprintf(url, sizeof(url), "%s%s", o->base_url, o->path);
	if (bench_http_init(&h, 2000) != 0)
		return 1;
	for (int polls = 0; polls < 10000000 && mono_ns() < deadline; polls++) {
		if (bench_http_request(&h, url, NULL, 0) == 200) {
			bench_kv("ready_s", "%.3f", (double)(wall_ns() - since) / 1e9);
			bench_kv("complete", "1");
			bench_http_cleanup(&h);
			return 0;
		}
		sleep_until_ns(mono_ns() + 5000000);
	}
	bench_http_cleanup(&h);
	bench_kv("complete", "0");
	return 0;
}

/* GET /nodes: the state of node_id ("" if not listed). */
static void node_state(struct bench_http *h, const char *base_url, const char *node_id, char *out,
		       size_t out_size)
{
	char url[URL_SIZE];
	json_t *root, *nodes;

	out[0] = '\0';
	snprintf(url, sizeof(url), "%s/nodes", base_url);
	if (bench_http_request(h, url, NULL, 0) != 200)
		return;
	root = json_loadb(h->body, h->len, 0, NULL);
	nodes = json_object_get(root, "nodes");
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		json_t *node = json_array_get(nodes, i);
		const char *id = json_string_value(json_object_get(node, "id"));
		if (id != NULL && strcmp(id, node_id) == 0)
			snprintf(out, out_size, "%s", or_empty(json_string_value(json_object_get(node, "state"))));
	}
	json_decref(root);
}

static int mode_detect(const struct options *o)
{
	struct bench_http h;
	char url[URL_SIZE], state[32];
	int64_t deadline = mono_ns() + (int64_t)(o->max_seconds * 1e9);
	double unhealthy_s = -1, rerun_s = -1;

	if (o->node == NULL || o->job == NULL || o->since_wall_ns <= 0) {
		fprintf(stderr, "loadgen: detect needs --node, --job and --since-wall-ns\n");
		return 2;
	}
	if (bench_http_init(&h, 2000) != 0)
		return 1;
	snprintf(url, sizeof(url), "%s/jobs/%s", o->base_url, o->job);
	for (int polls = 0; polls < 10000000 && mono_ns() < deadline; polls++) {
		double now_s = (double)(wall_ns() - o->since_wall_ns) / 1e9;
		if (unhealthy_s < 0) {
			node_state(&h, o->base_url, o->node, state, sizeof(state));
			if (strcmp(state, "UNHEALTHY") == 0)
				unhealthy_s = now_s;
		}
		if (rerun_s < 0 && bench_http_request(&h, url, NULL, 0) == 200) {
			json_t *job = json_loadb(h.body, h.len, 0, NULL);
			const char *status = json_string_value(json_object_get(job, "status"));
			const char *node = json_string_value(json_object_get(job, "node_id"));
			if (status != NULL && node != NULL && strcmp(node, o->node) != 0 &&
			    (strcmp(status, "RUNNING") == 0 || strcmp(status, "COMPLETED") == 0)) {
				rerun_s = now_s;
				bench_kv("detect_rerun_status", "%s", status);
				bench_kv("detect_rerun_node", "%s", node);
				bench_kv("detect_rerun_attempt", "%" JSON_INTEGER_FORMAT,
					 json_integer_value(json_object_get(job, "attempt")));
			} else if (status != NULL && strcmp(status, "FAILED") == 0) {
				bench_kv("detect_job_failed", "1");
				json_decref(job);
				break;
			}
			json_decref(job);
		}
		if (unhealthy_s >= 0 && rerun_s >= 0)
			break;
		sleep_until_ns(mono_ns() + 10000000);
	}
	bench_http_cleanup(&h);
	if (unhealthy_s >= 0)
		bench_kv("detect_unhealthy_s", "%.3f", unhealthy_s);
	if (rerun_s >= 0)
		bench_kv("detect_rerun_s", "%.3f", rerun_s);
	bench_kv("complete", "%d", unhealthy_s >= 0 && rerun_s >= 0);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: loadgen --url http://127.0.0.1:PORT [--mode post|get|ready|detect] [OPTION]...\n"
		"  --path PATH          request path (default /jobs for post, /healthz otherwise)\n"
		"  --threads N          client threads, one keep-alive connection each (default 8)\n"
		"  --count N            requests (default 1000)\n"
		"  --rate R             open loop at R requests/s; 0: closed loop (default 0)\n"
		"  --max-seconds S      time budget; past it, stop and print complete=0 (default 60)\n"
		"  --type T --payload P the jobs posted (default echo, \"bench\")\n"
		"  --max-attempts N     sent with each job\n"
		"  --batch B            post B jobs per request as a JSON array\n"
		"  --wait S             POST PATH?wait=S; answers must hold finished jobs\n"
		"  --poll               without ?wait support, poll GET /jobs/{id} until finished\n"
		"  --track              wait for every created job to finish, read each back\n"
		"  --ids-file F         get: ids for {id} in PATH\n"
		"  --node ID --job ID   detect: the killed node and its job\n"
		"  --since-wall-ns T    ready/detect: measure from this wall-clock time (date +%%s%%N)\n");
}

static int parse_number(const char *flag, const char *text, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "loadgen: %s must be a number from %g to %g (got '%s')\n", flag, lo, hi, text);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_URL = 256, O_MODE, O_PATH, O_THREADS, O_COUNT, O_RATE, O_MAX_SECONDS, O_TYPE,
	       O_PAYLOAD, O_BATCH, O_WAIT, O_POLL, O_TRACK, O_IDS, O_NODE, O_JOB, O_SINCE,
	       O_MAX_ATTEMPTS, O_HELP };
	static const struct option longopts[] = {
		{"url", required_argument, NULL, O_URL},
		{"mode", required_argument, NULL, O_MODE},
		{"path", required_argument, NULL, O_PATH},
		{"threads", required_argument, NULL, O_THREADS},
		{"count", required_argument, NULL, O_COUNT},
		{"rate", required_argument, NULL, O_RATE},
		{"max-seconds", required_argument, NULL, O_MAX_SECONDS},
		{"type", required_argument, NULL, O_TYPE},
		{"payload", required_argument, NULL, O_PAYLOAD},
		{"batch", required_argument, NULL, O_BATCH},
		{"wait", required_argument, NULL, O_WAIT},
		{"poll", no_argument, NULL, O_POLL},
		{"track", no_argument, NULL, O_TRACK},
		{"ids-file", required_argument, NULL, O_IDS},
		{"node", required_argument, NULL, O_NODE},
		{"job", required_argument, NULL, O_JOB},
		{"since-wall-ns", required_argument, NULL, O_SINCE},
		{"max-attempts", required_argument, NULL, O_MAX_ATTEMPTS},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	struct options o = {.mode = MODE_POST, .threads = 8, .count = 1000, .max_seconds = 60,
			    .type = "echo", .payload = "bench", .wait = -1};
	int opt, rc;
	double v;

	for (int n = 0; n < argc * 2 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1; n++) {
		switch (opt) {
		case O_URL: o.base_url = optarg; break;
		case O_MODE:
			if (strcmp(optarg, "post") == 0) o.mode = MODE_POST;
			else if (strcmp(optarg, "get") == 0) o.mode = MODE_GET;
			else if (strcmp(optarg, "ready") == 0) o.mode = MODE_READY;
			else if (strcmp(optarg, "detect") == 0) o.mode = MODE_DETECT;
			else { fprintf(stderr, "loadgen: unknown --mode '%s'\n", optarg); return 2; }
			break;
		case O_PATH: o.path = optarg; break;
		case O_THREADS:
			if (parse_number("--threads", optarg, 1, MAX_THREADS, &v) != 0) return 2;
			o.threads = (size_t)v;
			break;
		case O_COUNT:
			if (parse_number("--count", optarg, 1, MAX_COUNT, &v) != 0) return 2;
			o.count = (size_t)v;
			break;
		case O_RATE:
			if (parse_number("--rate", optarg, 0, 1e7, &v) != 0) return 2;
			o.rate = v;
			break;
		case O_MAX_SECONDS:
			if (parse_number("--max-seconds", optarg, 0.1, 86400, &v) != 0) return 2;
			o.max_seconds = v;
			break;
		case O_TYPE: o.type = optarg; break;
		case O_PAYLOAD: o.payload = optarg; break;
		case O_BATCH:
			if (parse_number("--batch", optarg, 1, 100000, &v) != 0) return 2;
			o.batch = (size_t)v;
			break;
		case O_WAIT:
			if (parse_number("--wait", optarg, 0, 3600, &v) != 0) return 2;
			o.wait = (int)v;
			break;
		case O_POLL: o.poll = true; break;
		case O_TRACK: o.track = true; break;
		case O_IDS: o.ids_file = optarg; break;
		case O_NODE: o.node = optarg; break;
		case O_JOB: o.job = optarg; break;
		case O_SINCE:
			if (parse_number("--since-wall-ns", optarg, 1, 9.2e18, &v) != 0) return 2;
			o.since_wall_ns = (int64_t)v;
			break;
		case O_MAX_ATTEMPTS:
			if (parse_number("--max-attempts", optarg, 1, 100, &v) != 0) return 2;
			o.max_attempts = (int)v;
			break;
		case 'h':
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.base_url == NULL) {
		usage(stderr);
		return 2;
	}
	if (o.path == NULL)
		o.path = o.mode == MODE_POST ? "/jobs" : "/healthz";
	if (o.threads > o.count && (o.mode == MODE_POST || o.mode == MODE_GET))
		o.threads = o.count;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "loadgen: curl_global_init failed\n");
		return 1;
	}
	switch (o.mode) {
	case MODE_READY: rc = mode_ready(&o); break;
	case MODE_DETECT: rc = mode_detect(&o); break;
	default: rc = mode_send(&o); break;
	}
	curl_global_cleanup();
	return rc;
}
