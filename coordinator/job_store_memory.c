/*
 * The in-memory job store: jobs in submission order in a growing array, and
 * an open-addressing hash index from id to position.
 *
 * Lock: memory_store.lock (a mutex) guards everything in struct memory_store.
 * It is held only for the in-memory work of one operation and never while
 * calling out of this file.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job_store.h"

struct memory_store {
	pthread_mutex_t lock;
	struct job **jobs; /* submission order; owned */
	size_t count;
	size_t cap;
	size_t *index;     /* hash slots holding position + 1; 0 = empty */
	size_t index_cap;  /* a power of two, kept at most half full */
	size_t counts[JOB_STATUS_COUNT];
};

static uint64_t hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The slot where id is, or the empty slot where it would go. */
static size_t index_slot(const struct memory_store *ms, const char *id)
{
	size_t mask = ms->index_cap - 1;
	size_t slot = (size_t)hash_id(id) & mask;
	while (ms->index[slot] != 0 && strcmp(ms->jobs[ms->index[slot] - 1]->id, id) != 0)
		slot = (slot + 1) & mask;
	return slot;
}

static struct job *find(const struct memory_store *ms, const char *id)
{
	size_t slot = index_slot(ms, id);
	return ms->index[slot] != 0 ? ms->jobs[ms->index[slot] - 1] : NULL;
}

static int grow_index(struct memory_store *ms)
{
	size_t old_cap = ms->index_cap;
	size_t *old = ms->index;

	ms->index_cap = old_cap ? old_cap * 2 : 1024;
	ms->index = calloc(ms->index_cap, sizeof(size_t));
	if (ms->index == NULL) {
		ms->index = old;
		ms->index_cap = old_cap;
		return -1;
	}
	for (size_t i = 0; i < ms->count; i++)
		ms->index[index_slot(ms, ms->jobs[i]->id)] = i + 1;
	free(old);
	return 0;
}

static enum job_store_result memory_create(void *state, const char *type, const char *payload,
					   struct job *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_ERROR;
	struct job *job = calloc(1, sizeof(*job));

	memset(out, 0, sizeof(*out));
	if (job == NULL)
		return JOB_STORE_ERROR;
	job->type = strdup(type);
	job->payload = strdup(payload);
	if (job->type == NULL || job->payload == NULL)
		goto out;
	job->status = JOB_QUEUED;
	job->created_at = job->updated_at = clock_wall_ms();

	pthread_mutex_lock(&ms->lock);
	if ((ms->count + 1) * 2 > ms->index_cap && grow_index(ms) != 0)
		goto unlock;
	if (ms->count == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 1024;
		struct job **bigger = realloc(ms->jobs, cap * sizeof(*bigger));
		if (bigger == NULL)
			goto unlock;
		ms->jobs = bigger;
		ms->cap = cap;
	}
	do /* 48 random bits: a collision is unlikely, but never allowed */
		mesh_new_id('j', job->id, sizeof(job->id));
	while (find(ms, job->id) != NULL);
	if (job_copy(out, job) != 0)
		goto unlock;
	ms->jobs[ms->count] = job;
	ms->index[index_slot(ms, job->id)] = ms->count + 1;
	ms->count++;
	ms->counts[JOB_QUEUED]++;
	job = NULL;
	rc = JOB_STORE_OK;
unlock:
	pthread_mutex_unlock(&ms->lock);
out:
	if (job != NULL) {
		job_clear(job);
		free(job);
	}
	return rc;
}

static enum job_store_result memory_get(void *state, const char *id, struct job *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct job *job;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ms->lock);
	job = find(ms, id);
	if (job != NULL)
		rc = job_copy(out, job) == 0 ? JOB_STORE_OK : JOB_STORE_ERROR;
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
		if (!matches(ms->jobs[i], filter))
			continue;
		if (job_copy(&out->items[out->count], ms->jobs[i]) != 0) {
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

/* Moves job to status and updates the per-status counts. Caller holds the lock. */
static void set_status(struct memory_store *ms, struct job *job, enum job_status status)
{
	ms->counts[job->status]--;
	ms->counts[status]++;
	job->status = status;
	job->updated_at = clock_wall_ms();
}

static enum job_store_result memory_mark_running(void *state, const char *id, const char *node_id)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct job *job;

	pthread_mutex_lock(&ms->lock);
	job = find(ms, id);
	if (job != NULL && job->status != JOB_QUEUED) {
		rc = JOB_STORE_CONFLICT;
	} else if (job != NULL) {
		strncpy(job->node_id, node_id, sizeof(job->node_id) - 1);
		set_status(ms, job, JOB_RUNNING);
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static enum job_store_result memory_finish(void *state, const char *id, enum job_status status,
					   const char *result, const char *error)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	char *result_copy = result ? strdup(result) : NULL;
	char *error_copy = error ? strdup(error) : NULL;
	struct job *job;

	if ((result != NULL && result_copy == NULL) || (error != NULL && error_copy == NULL)) {
		free(result_copy);
		free(error_copy);
		return JOB_STORE_ERROR;
	}
	pthread_mutex_lock(&ms->lock);
	job = find(ms, id);
	if (job != NULL && job->status != JOB_RUNNING) {
		rc = JOB_STORE_CONFLICT;
	} else if (job != NULL) {
		free(job->result);
		free(job->error);
		job->result = result_copy;
		job->error = error_copy;
		result_copy = error_copy = NULL;
		set_status(ms, job, status);
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	free(result_copy);
	free(error_copy);
	return rc;
}

static enum job_store_result memory_requeue(void *state, const char *id)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_NOT_FOUND;
	struct job *job;

	pthread_mutex_lock(&ms->lock);
	job = find(ms, id);
	if (job != NULL && job->status != JOB_RUNNING) {
		rc = JOB_STORE_CONFLICT;
	} else if (job != NULL) {
		job->node_id[0] = '\0';
		set_status(ms, job, JOB_QUEUED);
		rc = JOB_STORE_OK;
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* The cursor is a position in ms->jobs plus one: jobs are never removed, so it stays valid. */
static enum job_store_result memory_list_page(void *state, enum job_status status,
					      uint64_t *cursor, size_t limit, struct job_list *out)
{
	struct memory_store *ms = state;
	enum job_store_result rc = JOB_STORE_OK;
	size_t i;

	out->items = calloc(limit, sizeof(struct job));
	if (out->items == NULL)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ms->lock);
	i = *cursor < ms->count ? (size_t)*cursor : ms->count;
	for (; i < ms->count && out->count < limit; i++) {
		if (ms->jobs[i]->status != status)
			continue;
		if (job_copy(&out->items[out->count], ms->jobs[i]) != 0) {
			rc = JOB_STORE_ERROR;
			break;
		}
		out->count++;
	}
	pthread_mutex_unlock(&ms->lock);
	if (rc != JOB_STORE_OK)
		job_list_clear(out);
	else
		*cursor = i;
	return rc;
}

static void memory_count_by_status(void *state, size_t counts[JOB_STATUS_COUNT])
{
	struct memory_store *ms = state;
	pthread_mutex_lock(&ms->lock);
	memcpy(counts, ms->counts, sizeof(ms->counts));
	pthread_mutex_unlock(&ms->lock);
}

static void memory_destroy(void *state)
{
	struct memory_store *ms = state;
	for (size_t i = 0; i < ms->count; i++) {
		job_clear(ms->jobs[i]);
		free(ms->jobs[i]);
	}
	free(ms->jobs);
	free(ms->index);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

static const struct job_store_ops memory_ops = {
	.create = memory_create,
	.get = memory_get,
	.list = memory_list,
	.mark_running = memory_mark_running,
	.finish = memory_finish,
	.requeue = memory_requeue,
	.count_by_status = memory_count_by_status,
	.destroy = memory_destroy,
	.list_page = memory_list_page,
};

struct job_store *job_store_memory_new(void)
{
	struct job_store *store = calloc(1, sizeof(*store));
	struct memory_store *ms = calloc(1, sizeof(*ms));

	if (store == NULL || ms == NULL || grow_index(ms) != 0) {
		free(store);
		if (ms != NULL)
			free(ms->index);
		free(ms);
		return NULL;
	}
	pthread_mutex_init(&ms->lock, NULL);
	store->ops = &memory_ops;
	store->state = ms;
	return store;
}
