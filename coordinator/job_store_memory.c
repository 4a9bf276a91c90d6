/*
 * The in-memory job store: jobs in submission order in a growing array, two
 * open-addressing hash indexes (id -> position, idempotency key -> position),
 * and the nodes in registration order. Same semantics as the SQLite store;
 * nothing survives the process.
 *
 * Lock: memory_store.lock (a mutex) guards everything in struct memory_store:
 * the jobs and their attempts, both indexes, the counts and the nodes. It is
 * held only for the in-memory work of one operation and never while calling
 * out of this file. Strings the operation needs are copied before the lock is
 * taken, and whatever an operation must hand out is copied before it changes
 * anything, so that running out of memory leaves the store as it was.
 *
 * Ownership: each stored_job owns its job (strings and attempts); the arrays
 * own the stored_jobs and nodes. Callers get deep copies.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job_store.h"

#define INITIAL_CAP 1024

struct stored_job {
	uint64_t seq;   /* submission order, never reused: the list_page cursor */
	struct job job; /* attempts in job.attempts; has_attempts stays false here */
};

/* Slots hold a position in memory_store.jobs plus one; 0 is an empty slot. */
struct position_index {
	size_t *slots;
	size_t cap; /* a power of two, kept at most half full */
};

struct memory_store {
	pthread_mutex_t lock;
	struct stored_job **jobs; /* by seq; owned */
	size_t count;
	size_t cap;
	uint64_t last_seq;
	struct position_index by_id;
	struct position_index by_key; /* jobs with an idempotency key only */
	size_t counts[JOB_STATUS_COUNT];
	struct node *nodes; /* registration order; owned */
	size_t node_count;
	size_t node_cap;
};

/* ---- indexes ------------------------------------------------------------------------ */

typedef const char *(*name_of_fn)(const struct stored_job *sj);

static const char *id_of(const struct stored_job *sj)
{
	return sj->job.id;
}

static const char *key_of(const struct stored_job *sj)
{
	return sj->job.idempotency_key;
}

static uint64_t hash_text(const char *text)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *text != '\0'; text++) {
		h ^= (unsigned char)*text;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The slot where name is, or the empty slot where it would go. */
static size_t index_slot(const struct memory_store *ms, const struct position_index *index,
			 name_of_fn name_of, const char *name)
{
	size_t mask = index->cap - 1;
	size_t slot = (size_t)hash_text(name) & mask;
	while (index->slots[slot] != 0 &&
	       strcmp(name_of(ms->jobs[index->slots[slot] - 1]), name) != 0)
		slot = (slot + 1) & mask;
	return slot;
}

static struct stored_job *find_in(const struct memory_store *ms, const struct position_index *index,
				  name_of_fn name_of, const char *name)
{
	size_t slot = index_slot(ms, index, name_of, name);
	return index->slots[slot] != 0 ? ms->jobs[index->slots[slot] - 1] : NULL;
}

static struct stored_job *find(const struct memory_store *ms, const char *id)
{
	return find_in(ms, &ms->by_id, id_of, id);
}

static void index_add(struct memory_store *ms, struct position_index *index, name_of_fn name_of,
		      size_t position)
{
	const char *name = name_of(ms->jobs[position]);
	if (name != NULL)
		index->slots[index_slot(ms, index, name_of, name)] = position + 1;
}

/* Refills index from ms->jobs (after positions moved); never allocates. */
static void index_refill(struct memory_store *ms, struct position_index *index, name_of_fn name_of)
{
	memset(index->slots, 0, index->cap * sizeof(*index->slots));
	for (size_t i = 0; i < ms->count; i++)
		index_add(ms, index, name_of, i);
}

/* Makes index hold at least entries at most half full. Returns 0, or -1 (unchanged). */
static int index_reserve(struct memory_store *ms, struct position_index *index, name_of_fn name_of,
			 size_t entries)
{
	size_t cap = index->cap ? index->cap : INITIAL_CAP;
	size_t *slots;

	while (entries * 2 > cap)
		cap *= 2;
	if (cap == index->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	free(index->slots);
	index->slots = slots;
	index->cap = cap;
	index_refill(ms, index, name_of);
	return 0;
}

/* Room for extra more jobs in the array and both indexes. Returns 0, or -1. */
static int reserve_jobs(struct memory_store *ms, size_t extra)
{
	size_t need = ms->count + extra;

	if (need > ms->cap) {
		size_t cap = ms->cap ? ms->cap : INITIAL_CAP;
		struct stored_job **bigger;
		while (cap < need)
			cap *= 2;
		bigger = realloc(ms->jobs, cap * sizeof(*bigger));
		if (bigger == NULL)
			return -1;
		ms->jobs = bigger;
		ms->cap = cap;
	}
	if (index_reserve(ms, &ms->by_id, id_of, need) != 0 ||
	    index_reserve(ms, &ms->by_key, key_of, need) != 0)
		return -1;
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------- */

static void stored_job_free(struct stored_job *sj)
{
	if (sj == NULL)
		return;
	job_clear(&sj->job);
	free(sj);
}

/* A deep copy of job without its attempts (as list and create hand them out). Returns 0 or -1. */
static int copy_without_attempts(struct job *out, const struct job *job)
{
	struct job shallow = *job;

	shallow.attempts = NULL;
	shallow.attempt_count = 0;
	shallow.has_attempts = false;
	return job_copy(out, &shallow);
}

/* A deep copy of job with every attempt (as get and cancel hand them out). Returns 0 or -1. */
static int copy_with_attempts(struct job *out, const struct job *job)
{
	if (job_copy(out, job) != 0)
		return -1;
	out->has_attempts = true;
	return 0;
}

/* strdup that keeps NULL; *failed is set if memory ran out. */
static char *dup_or_null(const char *text, bool *failed)
{
	char *copy;

	if (text == NULL)
		return NULL;
	copy = strdup(text);
	if (copy == NULL)
		*failed = true;
	return copy;
}

/* Moves job to status at now and keeps the per-status counts. Caller holds the lock. */
static void set_status(struct memory_store *ms, struct job *job, enum job_status status,
		       int64_t now)
{
	ms->counts[job->status]--;
	ms->counts[status]++;
	job->status = status;
	job->updated_at = now;
}

/* The attempt still RUNNING at the end of job's attempts, or NULL. */
static struct job_attempt *current_attempt(struct job *job)
{
	if (job->attempt_count == 0 ||
	    job->attempts[job->attempt_count - 1].status != ATTEMPT_RUNNING)
		return NULL;
	return &job->attempts[job->attempt_count - 1];
}

/* Closes the current attempt as status at now; takes error (freed if there is no attempt). */
static void close_attempt(struct job *job, enum attempt_status status, char *error, int64_t now)
{
	struct job_attempt *attempt = current_attempt(job);

	if (attempt == NULL) {
		free(error);
		return;
	}
	attempt->status = status;
	attempt->finished_at = now;
	free(attempt->error);
	attempt->error = error;
}

static void cut_node_id(char *dst, const char *node_id)
{
	/* As in the SQLite store, a node id is cut to what struct job holds. */
	size_t len = strnlen(node_id, MESH_ID_SIZE - 1);
	memcpy(dst, node_id, len);
	dst[len] = '\0';
}

/* ---- create ------------------------------------------------------------------------------ */

/* Where out[i] of a create comes from. */
struct resolution {
	const struct stored_job *existing; /* a stored job with the same key */
	size_t earlier; /* else an earlier element with the same key, or SIZE_MAX */
};

static bool same_content(const struct job *a, const struct job *b)
{
	return strcmp(a->type, b->type) == 0 && strcmp(a->payload, b->payload) == 0;
}

/* A new QUEUED record made from spec (not yet stored), or NULL if out of memory. */
static struct stored_job *record_from_spec(const struct job *spec)
{
	struct stored_job *sj = calloc(1, sizeof(*sj));
	bool failed = false;

	if (sj == NULL)
		return NULL;
	sj->job.type = dup_or_null(spec->type, &failed);
	sj->job.payload = dup_or_null(spec->payload, &failed);
	sj->job.idempotency_key = dup_or_null(spec->idempotency_key, &failed);
	if (failed) {
		stored_job_free(sj);
		return NULL;
	}
	sj->job.status = JOB_QUEUED;
	sj->job.priority = spec->priority;
	sj->job.timeout_ms = spec->timeout_ms;
	sj->job.max_attempts = spec->max_attempts;
	sj->job.retry_on_failure = spec->retry_on_failure;
	sj->job.backoff_base_ms = spec->backoff_base_ms;
	sj->job.backoff_cap_ms = spec->backoff_cap_ms;
	return sj;
}

/*
 * Decides, for each element, whether it is new, an earlier job with its key,
 * or a conflict. Returns the index of the first conflicting element, or
 * SIZE_MAX; *conflicting is the stored job it conflicts with (NULL if it
 * conflicts with an earlier element of the same batch). Caller holds the lock.
 */
static size_t resolve_keys(const struct memory_store *ms, const struct job *specs, size_t count,
			   struct resolution *res, const struct stored_job **conflicting)
{
	for (size_t i = 0; i < count; i++) {
		const char *key = specs[i].idempotency_key;
		const struct stored_job *sj;

		res[i].existing = NULL;
		res[i].earlier = SIZE_MAX;
		if (key == NULL)
			continue;
		sj = find_in(ms, &ms->by_key, key_of, key);
		if (sj != NULL) {
			if (!same_content(&sj->job, &specs[i])) {
				*conflicting = sj;
				return i;
			}
			res[i].existing = sj;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (specs[j].idempotency_key == NULL ||
			    strcmp(specs[j].idempotency_key, key) != 0)
				continue;
			/* The first element with this key is the one that makes the job. */
			if (!same_content(&specs[j], &specs[i])) {
				*conflicting = NULL;
				return i;
			}
			res[i].earlier = j;
			break;
		}
	}
	return SIZE_MAX;
}

static enum job_store_result memory_create(void *state, const struct job *specs, size_t count,
					   struct job *out, bool *existed)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_ERROR;
	struct stored_job **fresh = calloc(count, sizeof(*fresh)); /* NULL where not new */
	struct resolution *res = calloc(count, sizeof(*res));
	const struct stored_job *conflicting = NULL;
	size_t first_new = 0, conflict;
	int64_t now;

	if (fresh == NULL || res == NULL)
		goto out;
	/* Records for every element, before the lock; those that turn out not new are freed. */
	for (size_t i = 0; i < count; i++) {
		fresh[i] = record_from_spec(&specs[i]);
		if (fresh[i] == NULL)
			goto out;
	}

	pthread_mutex_lock(&ms->lock);
	if (reserve_jobs(ms, count) != 0)
		goto unlock;
	conflict = resolve_keys(ms, specs, count, res, &conflicting);
	if (conflict != SIZE_MAX) {
		/* Nothing is stored. The stored job in the way, if any, is handed out. */
		rc = JOB_STORE_CONFLICT;
		if (conflicting != NULL) {
			if (copy_without_attempts(&out[conflict], &conflicting->job) == 0)
				existed[conflict] = true;
			else
				rc = JOB_STORE_ERROR;
		}
		goto unlock;
	}

	/* Store the new ones; nothing below can fail but the copies handed out. */
	now = clock_wall_ms();
	first_new = ms->count;
	for (size_t i = 0; i < count; i++) {
		struct stored_job *sj = fresh[i];
		if (res[i].existing != NULL || res[i].earlier != SIZE_MAX)
			continue;
		do /* a clash with an old id is unlikely, but never allowed */
			mesh_new_id('j', sj->job.id, sizeof(sj->job.id));
		while (find(ms, sj->job.id) != NULL);
		sj->seq = ++ms->last_seq;
		sj->job.store_seq = sj->seq;
		sj->job.created_at = sj->job.updated_at = now;
		ms->jobs[ms->count] = sj;
		index_add(ms, &ms->by_id, id_of, ms->count);
		index_add(ms, &ms->by_key, key_of, ms->count);
		ms->count++;
		ms->counts[JOB_QUEUED]++;
	}
	rc = JOB_STORE_OK;
	for (size_t i = 0; i < count && rc == JOB_STORE_OK; i++) {
		const struct job *source = res[i].existing != NULL ? &res[i].existing->job
					   : res[i].earlier != SIZE_MAX
						   ? &fresh[res[i].earlier]->job
						   : &fresh[i]->job;
		existed[i] = source != &fresh[i]->job;
		if (copy_without_attempts(&out[i], source) != 0)
			rc = JOB_STORE_ERROR;
	}
	if (rc != JOB_STORE_OK) {
		/* Out of memory for the copies: take the new jobs back out. */
		ms->counts[JOB_QUEUED] -= ms->count - first_new;
		ms->count = first_new;
		index_refill(ms, &ms->by_id, id_of);
		index_refill(ms, &ms->by_key, key_of);
		goto unlock;
	}
	/* The stored ones now belong to the store. */
	for (size_t i = 0; i < count; i++) {
		if (res[i].existing == NULL && res[i].earlier == SIZE_MAX)
			fresh[i] = NULL;
	}
unlock:
	pthread_mutex_unlock(&ms->lock);
out:
	if (rc != JOB_STORE_OK) {
		for (size_t i = 0; i < count; i++) {
			if (rc != JOB_STORE_CONFLICT || !existed[i]) {
				job_clear(&out[i]);
				existed[i] = false;
			}
		}
	}
	for (size_t i = 0; fresh != NULL && i < count; i++)
		stored_job_free(fresh[i]);
	free(fresh);
	free(res);
	return rc;
}

/* ---- reads ------------------------------------------------------------------------------- */

static enum job_store_result memory_get(void *state, const char *id, struct job *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct stored_job *sj;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj != NULL)
		rc = copy_with_attempts(out, &sj->job) == 0 ? JOB_STORE_OK : JOB_STORE_ERROR;
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static bool matches(const struct job *job, const struct job_filter *filter)
{
	if (filter->by_status && job->status != filter->status)
		return false;
	if (filter->node_id != NULL && strcmp(job->node_id, filter->node_id) != 0)
		return false;
	if (filter->type != NULL && strcmp(job->type, filter->type) != 0)
		return false;
	return true;
}

static enum job_store_result memory_list(void *state, const struct job_filter *filter,
					 struct job_list *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_OK;

	out->items = calloc(filter->limit, sizeof(struct job));
	if (out->items == NULL)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	for (size_t i = 0; i < ms->count && out->count < filter->limit; i++) {
		if (!matches(&ms->jobs[i]->job, filter))
			continue;
		if (copy_without_attempts(&out->items[out->count], &ms->jobs[i]->job) != 0) {
			rc = JOB_STORE_ERROR;
			break;
		}
		out->count++;
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc != JOB_STORE_OK)
		job_list_clear(out);
	return rc;
}

/* The position of the first job with seq > after. Caller holds the lock. */
static size_t first_after(const struct memory_store *ms, uint64_t after)
{
	size_t low = 0, high = ms->count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;
		if (ms->jobs[mid]->seq <= after)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/* The cursor is the seq of the last job handed out: pruning never moves it. */
static enum job_store_result memory_list_page(void *state, enum job_status status,
					      uint64_t *cursor, size_t limit, struct job_list *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_OK;
	uint64_t last = *cursor;

	out->items = calloc(limit, sizeof(struct job));
	if (out->items == NULL)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	for (size_t i = first_after(ms, *cursor); i < ms->count && out->count < limit; i++) {
		if (ms->jobs[i]->job.status != status)
			continue;
		if (copy_without_attempts(&out->items[out->count], &ms->jobs[i]->job) != 0) {
			rc = JOB_STORE_ERROR;
			break;
		}
		last = ms->jobs[i]->seq;
		out->items[out->count].store_seq = last;
		out->count++;
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc != JOB_STORE_OK)
		job_list_clear(out);
	else
		*cursor = last;
	return rc;
}

/* ---- the life cycle -------------------------------------------------------------------- */

static enum job_store_result memory_mark_running(void *state, const char *id, const char *node_id,
						 int *attempt)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct stored_job *sj;

	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj != NULL && sj->job.status != JOB_QUEUED) {
		rc = JOB_STORE_CONFLICT;
	} else if (sj != NULL) {
		struct job *job = &sj->job;
		struct job_attempt *bigger =
			realloc(job->attempts, (job->attempt_count + 1) * sizeof(*bigger));
		if (bigger == NULL) {
			rc = JOB_STORE_ERROR;
		} else {
			int64_t now = clock_wall_ms();
			struct job_attempt *a = &bigger[job->attempt_count];

			job->attempts = bigger;
			memset(a, 0, sizeof(*a));
			a->number = job->attempt + 1;
			cut_node_id(a->node_id, node_id);
			a->started_at = now;
			a->status = ATTEMPT_RUNNING;
			job->attempt_count++;
			job->attempt = a->number;
			job->next_attempt_at = 0;
			cut_node_id(job->node_id, node_id);
			set_status(ms, job, JOB_RUNNING, now);
			*attempt = a->number;
			rc = JOB_STORE_OK;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static enum job_store_result memory_finish(void *state, const char *id, enum job_status status,
					   const char *result, const char *error,
					   enum attempt_status attempt_status)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	bool failed = false;
	char *result_copy = dup_or_null(result, &failed);
	char *error_copy = dup_or_null(error, &failed);
	char *attempt_error = dup_or_null(error, &failed);
	struct stored_job *sj;

	if (failed) {
		rc = JOB_STORE_ERROR;
		goto out;
	}
	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj != NULL && sj->job.status != JOB_RUNNING) {
		rc = JOB_STORE_CONFLICT;
	} else if (sj != NULL) {
		int64_t now = clock_wall_ms();
		free(sj->job.result);
		free(sj->job.error);
		sj->job.result = result_copy;
		sj->job.error = error_copy;
		close_attempt(&sj->job, attempt_status, attempt_error, now);
		result_copy = error_copy = attempt_error = NULL;
		set_status(ms, &sj->job, status, now);
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
out:
	free(result_copy);
	free(error_copy);
	free(attempt_error);
	return rc;
}

static enum job_store_result memory_retry(void *state, const char *id,
					  enum attempt_status attempt_status, const char *error,
					  int64_t next_attempt_at)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	bool failed = false;
	char *attempt_error = dup_or_null(error, &failed);
	struct stored_job *sj;

	if (failed)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj != NULL && sj->job.status != JOB_RUNNING) {
		rc = JOB_STORE_CONFLICT;
	} else if (sj != NULL) {
		int64_t now = clock_wall_ms();
		close_attempt(&sj->job, attempt_status, attempt_error, now);
		attempt_error = NULL;
		sj->job.node_id[0] = '\0';
		sj->job.next_attempt_at = next_attempt_at;
		set_status(ms, &sj->job, JOB_QUEUED, now);
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	free(attempt_error);
	return rc;
}

static enum job_store_result memory_requeue(void *state, const char *id)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct stored_job *sj;

	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj != NULL && sj->job.status != JOB_RUNNING) {
		rc = JOB_STORE_CONFLICT;
	} else if (sj != NULL) {
		struct job *job = &sj->job;
		/* The agent never ran it: the attempt did not happen. */
		if (current_attempt(job) != NULL) {
			job_attempt_clear(&job->attempts[--job->attempt_count]);
			job->attempt--;
		}
		job->node_id[0] = '\0';
		set_status(ms, job, JOB_QUEUED, clock_wall_ms());
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/*
 * The copy handed out is made before the change and then changed the same
 * way, so that running out of memory cannot leave a change half reported.
 */
static enum job_store_result memory_cancel(void *state, const char *id, const char *why,
					   enum job_status *was, struct job *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	bool failed = false;
	/* why goes to the job's error and to the attempt's, in the store and in the copy. */
	char *whys[4];
	struct stored_job *sj;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < 4; i++)
		whys[i] = dup_or_null(why, &failed);
	if (failed) {
		rc = JOB_STORE_ERROR;
		goto out;
	}
	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	if (sj == NULL)
		goto unlock;
	*was = sj->job.status;
	if (copy_with_attempts(out, &sj->job) != 0) {
		rc = JOB_STORE_ERROR;
	} else if (job_status_is_terminal(sj->job.status)) {
		rc = JOB_STORE_CONFLICT; /* out holds it unchanged */
	} else {
		int64_t now = clock_wall_ms();
		struct job *targets[2] = {&sj->job, out};
		for (size_t t = 0; t < 2; t++) {
			close_attempt(targets[t], ATTEMPT_CANCELLED, whys[2 * t], now);
			free(targets[t]->error);
			targets[t]->error = whys[2 * t + 1];
			whys[2 * t] = whys[2 * t + 1] = NULL;
		}
		set_status(ms, &sj->job, JOB_CANCELLED, now);
		out->status = JOB_CANCELLED;
		out->updated_at = now;
		rc = JOB_STORE_OK;
	}
unlock:
	pthread_mutex_unlock(&ms->lock);
out:
	for (size_t i = 0; i < 4; i++)
		free(whys[i]);
	if (rc == JOB_STORE_ERROR || rc == JOB_STORE_NOT_FOUND)
		job_clear(out);
	return rc;
}

/* ---- attempts ---------------------------------------------------------------------------- */

static enum job_store_result memory_note_late_result(void *state, const char *id, int number,
						     bool ok, const char *result, const char *error)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	bool failed = false;
	char *kept = ok ? dup_or_null(result, &failed) : dup_or_null(error, &failed);
	struct stored_job *sj;

	if (failed)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	sj = find(ms, id);
	for (size_t i = 0; sj != NULL && i < sj->job.attempt_count; i++) {
		struct job_attempt *a = &sj->job.attempts[i];
		if (a->number != number)
			continue;
		if (a->status != ATTEMPT_LOST) {
			rc = JOB_STORE_CONFLICT;
			break;
		}
		a->status = ATTEMPT_SUPERSEDED;
		free(a->result);
		free(a->error);
		a->result = ok ? kept : NULL;
		a->error = ok ? NULL : kept;
		kept = NULL;
		rc = JOB_STORE_OK;
		break;
	}
	pthread_mutex_unlock(&ms->lock);
	free(kept);
	return rc;
}

struct lost_entry {
	struct lost_attempt lost;
	int64_t started_at;
	size_t order; /* submission order, then attempt number: breaks ties */
};

static int compare_lost(const void *a, const void *b)
{
	const struct lost_entry *x = a, *y = b;

	if (x->started_at != y->started_at)
		return x->started_at < y->started_at ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Oldest first: by started_at, then submission order, then number (the SQLite store's order). */
static enum job_store_result memory_list_lost_attempts(void *state, const char *node_id,
						       struct lost_attempt **out, size_t *count)
{
	struct memory_store *ms = state;
	struct lost_entry *entries = NULL;
	size_t n = 0, cap = 0;
	enum job_store_result rc = JOB_STORE_OK;

	pthread_mutex_lock(&ms->lock);
	for (size_t i = 0; i < ms->count && rc == JOB_STORE_OK; i++) {
		const struct job *job = &ms->jobs[i]->job;
		for (size_t k = 0; k < job->attempt_count; k++) {
			const struct job_attempt *a = &job->attempts[k];
			if (a->status != ATTEMPT_LOST || strcmp(a->node_id, node_id) != 0)
				continue;
			if (n == cap) {
				size_t bigger_cap = cap ? cap * 2 : 16;
				struct lost_entry *bigger =
					realloc(entries, bigger_cap * sizeof(*bigger));
				if (bigger == NULL) {
					rc = JOB_STORE_ERROR;
					break;
				}
				entries = bigger;
				cap = bigger_cap;
			}
			memset(&entries[n], 0, sizeof(entries[n]));
			memcpy(entries[n].lost.job_id, job->id, sizeof(job->id));
			entries[n].lost.number = a->number;
			entries[n].started_at = a->started_at;
			entries[n].order = n;
			n++;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc == JOB_STORE_OK && n > 0) {
		qsort(entries, n, sizeof(*entries), compare_lost);
		*out = malloc(n * sizeof(**out));
		if (*out == NULL) {
			rc = JOB_STORE_ERROR;
		} else {
			for (size_t i = 0; i < n; i++)
				(*out)[i] = entries[i].lost;
			*count = n;
		}
	}
	free(entries);
	return rc;
}

/* ---- prune -------------------------------------------------------------------------------- */

struct prune_candidate {
	int64_t updated_at;
	uint64_t seq;
	size_t position;
};

static int compare_candidates(const void *a, const void *b)
{
	const struct prune_candidate *x = a, *y = b;

	if (x->updated_at != y->updated_at)
		return x->updated_at < y->updated_at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int compare_positions(const void *a, const void *b)
{
	const struct prune_candidate *x = a, *y = b;
	return x->position < y->position ? -1 : x->position > y->position;
}

/* Oldest first: by updated_at, then submission order (the SQLite store's order). */
static enum job_store_result memory_prune(void *state, int64_t finished_before, size_t limit,
					  size_t *deleted)
{
	struct memory_store *ms = state;
	struct prune_candidate *candidates = NULL;
	size_t n = 0, kept = 0, next_victim = 0;
	enum job_store_result rc = JOB_STORE_OK;

	pthread_mutex_lock(&ms->lock);
	for (size_t i = 0; i < ms->count; i++) {
		const struct job *job = &ms->jobs[i]->job;
		if (job_status_is_terminal(job->status) && job->updated_at < finished_before)
			n++;
	}
	if (n == 0)
		goto unlock;
	candidates = malloc(n * sizeof(*candidates));
	if (candidates == NULL) {
		rc = JOB_STORE_ERROR;
		goto unlock;
	}
	n = 0;
	for (size_t i = 0; i < ms->count; i++) {
		const struct job *job = &ms->jobs[i]->job;
		if (job_status_is_terminal(job->status) && job->updated_at < finished_before)
			candidates[n++] =
				(struct prune_candidate){job->updated_at, ms->jobs[i]->seq, i};
	}
	qsort(candidates, n, sizeof(*candidates), compare_candidates);
	if (n > limit)
		n = limit;
	/* The victims in array order, then one pass that keeps the rest in place. */
	qsort(candidates, n, sizeof(*candidates), compare_positions);
	for (size_t i = 0; i < ms->count; i++) {
		if (next_victim < n && candidates[next_victim].position == i) {
			ms->counts[ms->jobs[i]->job.status]--;
			stored_job_free(ms->jobs[i]);
			next_victim++;
			continue;
		}
		ms->jobs[kept++] = ms->jobs[i];
	}
	ms->count = kept;
	index_refill(ms, &ms->by_id, id_of);
	index_refill(ms, &ms->by_key, key_of);
	*deleted = n;
unlock:
	pthread_mutex_unlock(&ms->lock);
	free(candidates);
	return rc;
}

static void memory_count_by_status(void *state, size_t counts[JOB_STATUS_COUNT])
{
	struct memory_store *ms = state;
	pthread_mutex_lock(&ms->lock);
	memcpy(counts, ms->counts, sizeof(ms->counts));
	pthread_mutex_unlock(&ms->lock);
}

/* ---- nodes ----------------------------------------------------------------------------- */

/* A deep copy of the durable half of node (see job_store.h); the live half is zero. */
static int copy_durable_node(struct node *out, const struct node *node)
{
	struct node shallow = *node;

	shallow.base_url = NULL;
	shallow.state = NODE_HEALTHY;
	shallow.running = 0;
	shallow.last_seen = 0;
	return node_copy(out, &shallow);
}

/* The position of node id, or node_count. Caller holds the lock. */
static size_t node_position(const struct memory_store *ms, const char *id)
{
	size_t i = 0;
	while (i < ms->node_count && strcmp(ms->nodes[i].id, id) != 0)
		i++;
	return i;
}

static enum job_store_result memory_put_node(void *state, const struct node *node)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_OK;
	struct node copy;
	size_t i;

	if (copy_durable_node(&copy, node) != 0)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	i = node_position(ms, node->id);
	if (i < ms->node_count) {
		/* Replaced in place: a node that registers again keeps its place. */
		node_clear(&ms->nodes[i]);
		ms->nodes[i] = copy;
	} else if (ms->node_count == ms->node_cap) {
		size_t cap = ms->node_cap ? ms->node_cap * 2 : 16;
		struct node *bigger = realloc(ms->nodes, cap * sizeof(*bigger));
		if (bigger == NULL) {
			rc = JOB_STORE_ERROR;
		} else {
			ms->nodes = bigger;
			ms->node_cap = cap;
			ms->nodes[ms->node_count++] = copy;
		}
	} else {
		ms->nodes[ms->node_count++] = copy;
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc != JOB_STORE_OK)
		node_clear(&copy);
	return rc;
}

static enum job_store_result memory_delete_node(void *state, const char *id)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct node gone;
	size_t i;

	memset(&gone, 0, sizeof(gone));
	pthread_mutex_lock(&ms->lock);
	i = node_position(ms, id);
	if (i < ms->node_count) {
		gone = ms->nodes[i];
		memmove(&ms->nodes[i], &ms->nodes[i + 1],
			(ms->node_count - i - 1) * sizeof(*ms->nodes));
		ms->node_count--;
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	node_clear(&gone);
	return rc;
}

static enum job_store_result memory_load_nodes(void *state, struct node **out, size_t *count)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_OK;
	struct node *nodes = NULL;
	size_t n = 0;

	pthread_mutex_lock(&ms->lock);
	if (ms->node_count > 0) {
		nodes = calloc(ms->node_count, sizeof(*nodes));
		if (nodes == NULL)
			rc = JOB_STORE_ERROR;
		for (; rc == JOB_STORE_OK && n < ms->node_count; n++) {
			if (copy_durable_node(&nodes[n], &ms->nodes[n]) != 0)
				rc = JOB_STORE_ERROR;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc != JOB_STORE_OK) {
		for (size_t i = 0; nodes != NULL && i < n; i++)
			node_clear(&nodes[i]);
		free(nodes);
		return rc;
	}
	*out = nodes;
	*count = n;
	return JOB_STORE_OK;
}

/* ---- life of the store ------------------------------------------------------------------ */

static void memory_destroy(void *state)
{
	struct memory_store *ms = state;
	for (size_t i = 0; i < ms->count; i++)
		stored_job_free(ms->jobs[i]);
	for (size_t i = 0; i < ms->node_count; i++)
		node_clear(&ms->nodes[i]);
	free(ms->nodes);
	free(ms->jobs);
	free(ms->by_id.slots);
	free(ms->by_key.slots);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

static const struct job_store_ops memory_ops = {
	.create = memory_create,
	.get = memory_get,
	.list = memory_list,
	.list_page = memory_list_page,
	.mark_running = memory_mark_running,
	.finish = memory_finish,
	.retry = memory_retry,
	.requeue = memory_requeue,
	.cancel = memory_cancel,
	.note_late_result = memory_note_late_result,
	.list_lost_attempts = memory_list_lost_attempts,
	.prune = memory_prune,
	.count_by_status = memory_count_by_status,
	.put_node = memory_put_node,
	.delete_node = memory_delete_node,
	.load_nodes = memory_load_nodes,
	.destroy = memory_destroy,
};

struct job_store *job_store_memory_new(void)
{
	struct job_store *store = calloc(1, sizeof(*store));
	struct memory_store *ms = calloc(1, sizeof(*ms));

	if (store == NULL || ms == NULL || reserve_jobs(ms, 1) != 0) {
		free(store);
		if (ms != NULL) {
			free(ms->jobs);
			free(ms->by_id.slots);
			free(ms->by_key.slots);
		}
		free(ms);
		return NULL;
	}
	pthread_mutex_init(&ms->lock, NULL);
	store->ops = &memory_ops;
	store->state = ms;
	return store;
}
