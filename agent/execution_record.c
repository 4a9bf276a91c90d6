/*
 * execution_record: a hash index of (job id, attempt) over nodes, plus a
 * doubly linked list of the FINISHED nodes in the order they finished (oldest
 * first), from which both bounds drop. The hash is of the job id alone, so
 * every attempt of a job is in one bucket and "the newest attempt" is one
 * bucket walk.
 *
 * Lock: rec->lock guards everything in struct execution_record and every node
 * reachable from it; rec->finished_cond is broadcast when a node becomes
 * FINISHED. Only max_finished, max_age_ms, buckets (the array, not
 * its contents) and bucket_count are fixed after execution_record_new.
 */
#include "execution_record.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deadline.h"

struct record_node {
	struct record_node *hash_next;
	struct record_node *older, *newer; /* the finish-order list; FINISHED nodes only */
	char job_id[MESH_ID_SIZE];
	int attempt;
	enum execution_state state;
	int64_t started_ms, finished_ms;
	int http_status;
	char *body;
};

struct execution_record {
	pthread_mutex_t lock;
	pthread_cond_t finished_cond;
	size_t max_finished;
	int64_t max_age_ms;
	struct record_node **buckets;
	size_t bucket_count; /* a power of two */
	struct record_node *oldest, *newest;
	size_t running, finished;
};

/* FNV-1a. */
static size_t bucket_of(const struct execution_record *rec, const char *job_id)
{
	uint64_t hash = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)job_id; *p != '\0'; p++) {
		hash ^= *p;
		hash *= 1099511628211ULL;
	}
	return (size_t)(hash & (rec->bucket_count - 1));
}

/* The node of attempt of job_id, or with attempt 0 the one of its newest attempt; NULL if none. */
static struct record_node *find(const struct execution_record *rec, const char *job_id, int attempt)
{
	struct record_node *found = NULL;

	for (struct record_node *n = rec->buckets[bucket_of(rec, job_id)]; n != NULL; n = n->hash_next) {
		if (strcmp(n->job_id, job_id) != 0)
			continue;
		if (n->attempt == attempt)
			return n;
		if (attempt == 0 && (found == NULL || n->attempt > found->attempt))
			found = n;
	}
	return found;
}

static void node_free(struct record_node *n)
{
	if (n == NULL)
		return;
	free(n->body);
	free(n);
}

/* Unlinks the oldest finished node from the list and the index, and frees it. */
static void drop_oldest(struct execution_record *rec)
{
	struct record_node *victim = rec->oldest;
	struct record_node **link = &rec->buckets[bucket_of(rec, victim->job_id)];

	while (*link != victim)
		link = &(*link)->hash_next;
	*link = victim->hash_next;
	rec->oldest = victim->newer;
	if (rec->oldest != NULL)
		rec->oldest->older = NULL;
	else
		rec->newest = NULL;
	rec->finished--;
	node_free(victim);
}

/* Drops finished records past either bound. Lock held. */
static void enforce_bounds(struct execution_record *rec, int64_t now_ms)
{
	while (rec->oldest != NULL && (rec->finished > rec->max_finished ||
				       now_ms - rec->oldest->finished_ms >= rec->max_age_ms))
		drop_oldest(rec);
}

/* Copies n into out. Lock held. Returns false if out of memory copying the body. */
static bool copy_out(const struct record_node *n, struct execution_record_entry *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->job_id, n->job_id, sizeof(out->job_id));
	out->attempt = n->attempt;
	out->state = n->state;
	out->started_ms = n->started_ms;
	out->finished_ms = n->finished_ms;
	out->http_status = n->http_status;
	if (n->body != NULL) {
		out->body = strdup(n->body);
		if (out->body == NULL) {
			memset(out, 0, sizeof(*out));
			return false;
		}
	}
	return true;
}

struct execution_record *execution_record_new(size_t max_finished, int64_t max_age_ms)
{
	struct execution_record *rec;
	size_t buckets = 16;

	if (max_finished < 1 || max_age_ms < 1)
		return NULL;
	/* About one record per bucket at the count bound; 65536 buckets at most. */
	while (buckets < max_finished && buckets < 65536)
		buckets *= 2;
	rec = calloc(1, sizeof(*rec));
	if (rec == NULL)
		return NULL;
	rec->buckets = calloc(buckets, sizeof(*rec->buckets));
	if (rec->buckets == NULL || pthread_mutex_init(&rec->lock, NULL) != 0) {
		free(rec->buckets);
		free(rec);
		return NULL;
	}
	if (deadline_cond_init(&rec->finished_cond) != 0) {
		pthread_mutex_destroy(&rec->lock);
		free(rec->buckets);
		free(rec);
		return NULL;
	}
	rec->bucket_count = buckets;
	rec->max_finished = max_finished;
	rec->max_age_ms = max_age_ms;
	return rec;
}

void execution_record_free(struct execution_record *rec)
{
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->bucket_count; i++) {
		struct record_node *n = rec->buckets[i];
		while (n != NULL) {
			struct record_node *next = n->hash_next;
			node_free(n);
			n = next;
		}
	}
	free(rec->buckets);
	pthread_cond_destroy(&rec->finished_cond);
	pthread_mutex_destroy(&rec->lock);
	free(rec);
}

enum execution_record_begin execution_record_begin(struct execution_record *rec, const char *job_id,
						   int attempt, int64_t now_ms,
						   struct execution_record_entry *existing)
{
	enum execution_record_begin result = EXECUTION_RECORD_NOMEM;
	struct record_node *n, *fresh = NULL;
	size_t len = strlen(job_id), bucket;

	if (existing != NULL)
		memset(existing, 0, sizeof(*existing));
	if (len == 0 || len >= MESH_ID_SIZE || attempt < 1)
		return EXECUTION_RECORD_NOMEM;
	/* Allocated outside the lock; freed unused if the id is known. */
	fresh = calloc(1, sizeof(*fresh));
	if (fresh == NULL)
		return EXECUTION_RECORD_NOMEM;
	memcpy(fresh->job_id, job_id, len + 1);
	fresh->attempt = attempt;
	fresh->state = EXECUTION_RUNNING;
	fresh->started_ms = now_ms;

	pthread_mutex_lock(&rec->lock);
	enforce_bounds(rec, now_ms);
	n = find(rec, job_id, attempt);
	if (n != NULL) {
		if (existing == NULL || copy_out(n, existing))
			result = EXECUTION_RECORD_KNOWN;
		goto out;
	}
	bucket = bucket_of(rec, job_id);
	fresh->hash_next = rec->buckets[bucket];
	rec->buckets[bucket] = fresh;
	fresh = NULL;
	rec->running++;
	result = EXECUTION_RECORD_BEGUN;
out:
	pthread_mutex_unlock(&rec->lock);
	node_free(fresh);
	return result;
}

int execution_record_finish(struct execution_record *rec, const char *job_id, int attempt,
			    int64_t now_ms, int http_status, const char *body)
{
	char *copy = body != NULL ? strdup(body) : NULL;
	struct record_node *n;
	int rc = -1;

	pthread_mutex_lock(&rec->lock);
	n = attempt >= 1 ? find(rec, job_id, attempt) : NULL;
	if (n == NULL || n->state != EXECUTION_RUNNING)
		goto out;
	n->state = EXECUTION_FINISHED;
	n->finished_ms = now_ms;
	n->http_status = copy != NULL ? http_status : 500;
	n->body = copy;
	copy = NULL;
	n->older = rec->newest;
	n->newer = NULL;
	if (rec->newest != NULL)
		rec->newest->newer = n;
	else
		rec->oldest = n;
	rec->newest = n;
	rec->running--;
	rec->finished++;
	/* Bounded by count at once; by age from now on (this one is not expired yet unless max_age has passed). */
	enforce_bounds(rec, now_ms);
	pthread_cond_broadcast(&rec->finished_cond);
	rc = 0;
out:
	pthread_mutex_unlock(&rec->lock);
	free(copy);
	return rc;
}

bool execution_record_wait_finished(struct execution_record *rec, const char *job_id, int attempt,
				    long timeout_ms)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct record_node *n;

	pthread_mutex_lock(&rec->lock);
	/* Looked up afresh after each wake-up: the node may have been dropped meanwhile. */
	while ((n = find(rec, job_id, attempt)) != NULL && n->state == EXECUTION_RUNNING &&
	       !deadline_cond_wait(&rec->finished_cond, &rec->lock, deadline))
		;
	n = find(rec, job_id, attempt);
	pthread_mutex_unlock(&rec->lock);
	return n == NULL || n->state != EXECUTION_RUNNING;
}

bool execution_record_get(struct execution_record *rec, const char *job_id, int attempt,
			  int64_t now_ms, struct execution_record_entry *out)
{
	struct record_node *n;
	bool found = false;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&rec->lock);
	enforce_bounds(rec, now_ms);
	n = find(rec, job_id, attempt);
	if (n != NULL)
		found = copy_out(n, out);
	pthread_mutex_unlock(&rec->lock);
	return found;
}

void execution_record_counts(struct execution_record *rec, int64_t now_ms, size_t *running,
			     size_t *finished)
{
	pthread_mutex_lock(&rec->lock);
	enforce_bounds(rec, now_ms);
	if (running != NULL)
		*running = rec->running;
	if (finished != NULL)
		*finished = rec->finished;
	pthread_mutex_unlock(&rec->lock);
}

void execution_record_entry_clear(struct execution_record_entry *entry)
{
	free(entry->body);
	memset(entry, 0, sizeof(*entry));
}
